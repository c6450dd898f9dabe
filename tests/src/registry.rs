//! A real registry (Debian's docker-registry) on loopback, and image
//! fixtures pushed to it with skopeo: for the pull tests and benchmarks.

use sha2::{Digest, Sha256};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Registry {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Registry {
    pub fn start(dir: &Path) -> Registry {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let config = dir.join("registry.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
                dir.join("registry-data").display()
            ),
        )
        .unwrap();
        let log = dir.join("registry.log");
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(Stdio::from(
                std::fs::File::options().append(true).open(&log).unwrap(),
            ))
            .spawn()
            .expect("docker-registry is installed (./install.sh)");
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "the registry did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Registry { child, port, log }
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
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
        "architecture": "amd64", "os": "linux", "config": {},
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
    let out = Command::new("skopeo")
        .args(["copy", "-q", "--dest-tls-verify=false"])
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
