//! A real registry (Debian's docker-registry) on loopback, and image
//! fixtures pushed to it with skopeo: for the pull tests and benchmarks.

use sha2::{Digest, Sha256};
use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub struct Registry {
    child: Child,
    name: String,
    port: u16,
    log: PathBuf,
}

/// The login a registry started `with_login` takes.
pub const LOGIN: (&str, &str) = ("hutch", "s3cret-pass");
/// LOGIN as the registry's htpasswd file holds it; it takes bcrypt only
/// (`htpasswd -nbB hutch s3cret-pass`).
const LOGIN_HTPASSWD: &str = "hutch:$2b$05$wZev7Y9qhJlSBKcm4gWbJOuzneqhNwIqRoifEfTH4Bhk7LUQwO/ey";

#[derive(Default)]
pub struct RegistryOptions {
    /// The name to reach it by and the address it listens on (default 127.0.0.1).
    pub host: Option<(String, IpAddr)>,
    /// Requires LOGIN (HTTP basic auth).
    pub login: bool,
    /// Serves HTTPS with a self-signed certificate.
    pub tls: bool,
}

impl Registry {
    pub fn start(dir: &Path) -> Registry {
        Registry::start_with(dir, RegistryOptions::default())
    }

    pub fn start_with(dir: &Path, options: RegistryOptions) -> Registry {
        std::fs::create_dir_all(dir).unwrap();
        let (name, address) = options
            .host
            .unwrap_or_else(|| ("127.0.0.1".into(), IpAddr::from([127, 0, 0, 1])));
        let port = TcpListener::bind((address, 0))
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut config = format!(
            "version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {}\n",
            dir.join("registry-data").display(),
            SocketAddr::new(address, port)
        );
        if options.tls {
            let (cert, key) = self_signed_certificate(dir, &name);
            config += &format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                cert.display(),
                key.display()
            );
        }
        if options.login {
            let htpasswd = dir.join("htpasswd");
            std::fs::write(&htpasswd, format!("{LOGIN_HTPASSWD}\n")).unwrap();
            config += &format!(
                "auth:\n  htpasswd:\n    realm: hutch-test\n    path: {}\n",
                htpasswd.display()
            );
        }
        let config_file = dir.join("registry.yml");
        std::fs::write(&config_file, config).unwrap();
        let log = dir.join("registry.log");
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config_file)
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(Stdio::from(
                std::fs::File::options().append(true).open(&log).unwrap(),
            ))
            .spawn()
            .expect("docker-registry is installed (./install.sh)");
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect((address, port)).is_err() {
            assert!(Instant::now() < deadline, "the registry did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Registry {
            child,
            name,
            port,
            log,
        }
    }

    pub fn host(&self) -> String {
        format!("{}:{}", self.name, self.port)
    }

    /// How many times a blob was downloaded (GET), per the registry's log.
    pub fn blob_gets(&self, digest: &str) -> usize {
        let log = std::fs::read_to_string(&self.log).unwrap();
        log.lines()
            .filter(|l| {
                l.contains("response completed")
                    && l.contains("http.request.method=GET")
                    && l.contains(&format!("/blobs/{digest}"))
            })
            .count()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn self_signed_certificate(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let out = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .arg("-subj")
        .arg(format!("/CN={name}"))
        .arg("-addext")
        .arg(format!("subjectAltName=DNS:{name}"))
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl is installed (./install.sh)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (cert, key)
}

/// This machine's own name and the address it resolves to: a registry
/// that is not on `localhost` to hutch (which trusts only loopback names)
/// while still on this machine.
pub fn own_host_name() -> (String, IpAddr) {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_string();
    let address = (name.as_str(), 0)
        .to_socket_addrs()
        .unwrap_or_else(|e| panic!("this machine's name {name} does not resolve: {e}"))
        .map(|a| a.ip())
        .find(IpAddr::is_ipv4)
        .unwrap_or_else(|| panic!("this machine's name {name} has no IPv4 address"));
    (name, address)
}

/// A server on loopback that answers every request with 500, as a broken
/// registry does; counts the requests.
pub struct BrokenRegistry {
    pub port: u16,
    pub requests: Arc<AtomicUsize>,
}

impl BrokenRegistry {
    pub fn start() -> BrokenRegistry {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(AtomicUsize::new(0));
        let counter = requests.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                counter.fetch_add(1, Ordering::SeqCst);
                let mut reader = BufReader::new(&stream);
                let mut line = String::new();
                // The request head ends with an empty line.
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                let _ = (&stream).write_all(
                    b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
            }
        });
        BrokenRegistry { port, requests }
    }

    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

fn curl(args: &[&str]) -> Vec<u8> {
    let out = Command::new("curl")
        .arg("-sSf")
        .args(args)
        .output()
        .expect("curl is installed");
    assert!(
        out.status.success(),
        "curl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Uploads a blob over the distribution API; returns its digest.
pub fn upload_blob(host: &str, repository: &str, bytes: &[u8], work: &Path) -> String {
    let digest = sha256(bytes);
    let head = curl(&[
        "-X",
        "POST",
        "-D",
        "-",
        "-o",
        "/dev/null",
        &format!("http://{host}/v2/{repository}/blobs/uploads/"),
    ]);
    let head = String::from_utf8(head).unwrap();
    let location = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("location")
                .then(|| v.trim().to_string())
        })
        .expect("an upload location");
    let location = if location.starts_with('/') {
        format!("http://{host}{location}")
    } else {
        location
    };
    let separator = if location.contains('?') { '&' } else { '?' };
    let file = work.join(format!("blob-{}", &digest[7..19]));
    std::fs::write(&file, bytes).unwrap();
    curl(&[
        "-X",
        "PUT",
        "-H",
        "Content-Type: application/octet-stream",
        "--data-binary",
        &format!("@{}", file.display()),
        &format!("{location}{separator}digest={digest}"),
    ]);
    digest
}

/// Publishes a manifest (or index) as `repository:reference`.
pub fn put_manifest(
    host: &str,
    repository: &str,
    reference: &str,
    manifest: &serde_json::Value,
    work: &Path,
) -> Vec<u8> {
    let bytes = serde_json::to_vec(manifest).unwrap();
    let file = work.join(format!("manifest-{}", &sha256(&bytes)[7..19]));
    std::fs::write(&file, &bytes).unwrap();
    let media_type = manifest["mediaType"].as_str().expect("a mediaType");
    curl(&[
        "-X",
        "PUT",
        "-H",
        &format!("Content-Type: {media_type}"),
        "--data-binary",
        &format!("@{}", file.display()),
        &format!("http://{host}/v2/{repository}/manifests/{reference}"),
    ]);
    bytes
}

/// A manifest as the registry serves it to a docker v2 client.
pub fn get_manifest(host: &str, repository: &str, reference: &str) -> Vec<u8> {
    curl(&[
        "-H",
        "Accept: application/vnd.docker.distribution.manifest.v2+json",
        &format!("http://{host}/v2/{repository}/manifests/{reference}"),
    ])
}

pub fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

pub fn tar_of(dir: &Path, out: &Path) -> Vec<u8> {
    let ok = Command::new("tar")
        .arg("-C")
        .arg(dir)
        .arg("-cf")
        .arg(out)
        .arg(".")
        .status()
        .unwrap();
    assert!(ok.success());
    std::fs::read(out).unwrap()
}

/// A docker-archive with the given layers (uncompressed tars), named `name`.
pub fn docker_archive(work: &Path, name: &str, layers: &[&Path]) -> PathBuf {
    docker_archive_with_config(work, name, layers, serde_json::json!({}))
}

/// As [`docker_archive`], the image's runtime `config` (Env, ExposedPorts, ...) given.
pub fn docker_archive_with_config(
    work: &Path,
    name: &str,
    layers: &[&Path],
    runtime_config: serde_json::Value,
) -> PathBuf {
    let dir = work.join(format!("archive-{}", name.replace([':', '/'], "-")));
    std::fs::create_dir_all(&dir).unwrap();
    let mut diff_ids = Vec::new();
    let mut names = Vec::new();
    for (i, layer) in layers.iter().enumerate() {
        let bytes = std::fs::read(layer).unwrap();
        diff_ids.push(sha256(&bytes));
        let file = format!("layer{i}.tar");
        std::fs::write(dir.join(&file), bytes).unwrap();
        names.push(file);
    }
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux", "config": runtime_config,
        "rootfs": { "type": "layers", "diff_ids": diff_ids },
    });
    std::fs::write(
        dir.join("config.json"),
        serde_json::to_vec(&config).unwrap(),
    )
    .unwrap();
    let manifest =
        serde_json::json!([{ "Config": "config.json", "RepoTags": [name], "Layers": names }]);
    std::fs::write(
        dir.join("manifest.json"),
        serde_json::to_vec(&manifest).unwrap(),
    )
    .unwrap();
    let out = work.join(format!("{}.tar", name.replace([':', '/'], "-")));
    tar_of(&dir, &out);
    out
}

pub fn push(archive: &Path, dest: &str) {
    push_as(archive, dest, None)
}

/// Pushes with a login, for registries that require one.
pub fn push_as(archive: &Path, dest: &str, login: Option<(&str, &str)>) {
    let mut skopeo = Command::new("skopeo");
    skopeo.args(["copy", "-q", "--dest-tls-verify=false"]);
    if let Some((user, password)) = login {
        skopeo.arg(format!("--dest-creds={user}:{password}"));
    }
    let out = skopeo
        .arg(format!("docker-archive:{}", archive.display()))
        .arg(format!("docker://{dest}"))
        .output()
        .expect("skopeo is installed");
    assert!(
        out.status.success(),
        "push {dest}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn random_layer(work: &Path, name: &str, mib: usize) -> PathBuf {
    let root = work.join(name);
    std::fs::create_dir_all(&root).unwrap();
    // Seeded by the name, so differently named layers differ.
    let seed = Sha256::digest(name.as_bytes());
    let mut state = u64::from_le_bytes(seed[..8].try_into().unwrap()) | 1;
    let data: Vec<u8> = (0..mib << 20)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    std::fs::write(root.join("data.bin"), data).unwrap();
    let out = work.join(format!("{name}.tar"));
    tar_of(&root, &out);
    out
}

/// A layer tar written entry by entry with raw names, bypassing the checks
/// a well-behaved tar tool makes, as a hostile image would.
pub fn raw_layer(out: &Path, entries: &[RawEntry]) -> PathBuf {
    let mut builder = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_gnu();
        let (kind, data, link) = match e {
            RawEntry::File(_, data) => (tar::EntryType::Regular, data.as_bytes(), None),
            RawEntry::Symlink(_, target) => (tar::EntryType::Symlink, &b""[..], Some(*target)),
        };
        let name = match e {
            RawEntry::File(n, _) | RawEntry::Symlink(n, _) => n.as_bytes(),
        };
        h.set_entry_type(kind);
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        h.as_old_mut().name[..name.len()].copy_from_slice(name);
        if let Some(target) = link {
            h.set_link_name(target).unwrap();
        }
        h.set_cksum();
        builder.append(&h, data).unwrap();
    }
    std::fs::write(out, builder.into_inner().unwrap()).unwrap();
    out.to_path_buf()
}

pub enum RawEntry<'a> {
    File(&'a str, &'a str),
    Symlink(&'a str, &'a str),
}
