//! How hutch reaches registries: logins, `--insecure`, and registries that
//! fail or serve what is not an image. Each failure is a clear error and
//! leaves nothing in the store.

use hutch_tests::registry::{
    docker_archive, own_host_name, push, push_as, put_manifest, random_layer, sha256, upload_blob,
    BrokenRegistry, Registry, RegistryOptions, LOGIN,
};
use hutch_tests::Hutch;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::process::{Output, Stdio};

fn login(h: &Hutch, host: &str, password: &str) -> Output {
    let mut child = h
        .cmd(&["login", host, "-u", LOGIN.0, "--password-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
    child.wait_with_output().unwrap()
}

fn assert_nothing_stored(h: &Hutch) {
    assert_eq!(h.ok(&["images", "-q"]), "", "no image");
    let blobs = h.home.join("store/blobs/sha256");
    let count = std::fs::read_dir(&blobs).map_or(0, |d| d.count());
    assert_eq!(count, 0, "no blob in {}", blobs.display());
}

#[test]
fn login_is_checked_saved_and_used_by_pull_and_logout_forgets_it() {
    let h = Hutch::new("registry-login");
    let work = h.home.join("work");
    let registry = Registry::start_with(
        &work,
        RegistryOptions {
            login: true,
            ..Default::default()
        },
    );
    let host = registry.host();
    let layer = random_layer(&work, "private", 1);
    push_as(
        &docker_archive(&work, "private:1", &[&layer]),
        &format!("{host}/private:1"),
        Some(LOGIN),
    );
    let image = format!("{host}/private:1");

    h.fails(&["pull", &image], &format!("hutch login {host}"));
    assert_nothing_stored(&h);

    let config = h.home.join("config.json");
    let out = login(&h, &host, "wrong");
    assert_eq!(out.status.code(), Some(125));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("incorrect username or password"), "{err}");
    assert!(!config.exists(), "a refused login is not saved");

    let out = login(&h, &host, LOGIN.1);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "Login Succeeded\n");
    let mode = std::fs::metadata(&config).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "credentials are private");
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&config).unwrap()).unwrap();
    assert!(saved["auths"][&host]["auth"].is_string(), "{saved}");

    let out = h.ok(&["pull", &image]);
    assert!(out.contains("Pull complete"), "{out}");

    // Stored credentials the registry no longer takes say so.
    std::fs::write(
        &config,
        serde_json::json!({"auths": {&host: {"auth": "aHV0Y2g6c3RhbGU="}}}).to_string(),
    )
    .unwrap();
    h.ok(&["rmi", &image]);
    h.fails(&["pull", &image], "with the stored credentials");

    assert_eq!(
        h.ok(&["logout", &host]),
        format!("Removing login credentials for {host}\n")
    );
    assert_eq!(
        h.ok(&["logout", &host]),
        format!("Not logged in to {host}\n")
    );
    h.fails(&["pull", &image], "if it needs a login");

    // A `docker login` (docker's own config file) works too.
    let docker_config = h.home.join("docker-config");
    std::fs::create_dir_all(&docker_config).unwrap();
    let auth = "aHV0Y2g6czNjcmV0LXBhc3M="; // base64("hutch:s3cret-pass")
    std::fs::write(
        docker_config.join("config.json"),
        serde_json::json!({"auths": {format!("http://{host}"): {"auth": auth}}}).to_string(),
    )
    .unwrap();
    h.ok(&["pull", &image]);
}

#[test]
fn insecure_reaches_plain_http_and_self_signed_registries_on_other_names() {
    let h = Hutch::new("registry-insecure");
    let (name, address) = own_host_name();
    for tls in [false, true] {
        let work = h.home.join(format!("work-{tls}"));
        let registry = Registry::start_with(
            &work,
            RegistryOptions {
                host: Some((name.clone(), address)),
                tls,
                ..Default::default()
            },
        );
        let host = registry.host();
        let layer = random_layer(&work, "insecure", 1);
        push(
            &docker_archive(&work, "insecure:1", &[&layer]),
            &format!("{host}/insecure:1"),
        );
        let image = format!("{host}/insecure:1");
        let expected = if tls {
            "cannot verify the TLS certificate"
        } else {
            "A registry that serves plain HTTP needs --insecure"
        };
        let err = h.fails(&["pull", &image], expected);
        assert!(err.contains("--insecure"), "{err}");
        assert_nothing_stored(&h);

        let out = h.ok(&["pull", "--insecure", &image]);
        assert!(out.contains("Pull complete"), "{out}");
        h.ok(&["rmi", &image]);
    }
}

#[test]
fn a_failing_registry_is_retried_then_reported() {
    let h = Hutch::new("registry-500");
    let broken = BrokenRegistry::start();
    let err = h.fails(
        &["pull", &format!("127.0.0.1:{}/app:1", broken.port)],
        "failed (HTTP 500)",
    );
    assert!(err.contains("try again later"), "{err}");
    assert!(err.contains("retrying (2/2)"), "retried: {err}");
    assert!(broken.requests() >= 3, "{} requests", broken.requests());
    assert_nothing_stored(&h);
}

#[test]
fn what_is_not_a_runnable_image_is_refused_before_download() {
    let h = Hutch::new("registry-media");
    let work = h.home.join("work");
    let registry = Registry::start(&work);
    let host = registry.host();
    let layer = std::fs::read(random_layer(&work, "odd", 1)).unwrap();
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "linux", "config": {},
        "rootfs": { "type": "layers", "diff_ids": [sha256(&layer)] },
    }))
    .unwrap();
    let config_digest = upload_blob(&host, "odd", &config, &work);
    let layer_digest = upload_blob(&host, "odd", &layer, &work);
    let manifest = |config_type: &str, layer_type: &str| {
        serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": { "mediaType": config_type, "digest": config_digest, "size": config.len() },
            "layers": [{ "mediaType": layer_type, "digest": layer_digest, "size": layer.len() }],
        })
    };
    let oci_config = "application/vnd.oci.image.config.v1+json";
    let cases = [
        (
            "unknown-layer",
            manifest(oci_config, "application/vnd.example.thing"),
            "has media type \"application/vnd.example.thing\", which hutch cannot unpack",
        ),
        (
            "chart",
            manifest(
                "application/vnd.cncf.helm.config.v1+json",
                "application/vnd.oci.image.layer.v1.tar",
            ),
            "this is not a container image",
        ),
    ];
    for (tag, manifest, expected) in cases {
        put_manifest(&host, "odd", tag, &manifest, &work);
        let err = h.fails(&["pull", &format!("{host}/odd:{tag}")], expected);
        assert!(err.contains("nothing was stored"), "{err}");
        assert_nothing_stored(&h);
        assert_eq!(
            registry.blob_gets(&layer_digest),
            0,
            "the layer was not fetched"
        );
    }
    // The same blobs as a proper image pull fine.
    put_manifest(
        &host,
        "odd",
        "fine",
        &manifest(oci_config, "application/vnd.oci.image.layer.v1.tar"),
        &work,
    );
    h.ok(&["pull", &format!("{host}/odd:fine")]);
}
