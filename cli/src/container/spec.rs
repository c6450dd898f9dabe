//! The OCI runtime spec for a container, from the image's config and the
//! flags, with docker's defaults: its capability set, masked and read-only
//! paths, namespaces and open-file limit.

use anyhow::{bail, Result};
use oci_spec::image::ImageConfiguration;
use oci_spec::runtime::Spec;
use serde_json::{json, Value};

/// What `hutch run` / `create` were asked for.
#[derive(Default)]
pub struct Flags {
    pub command: Vec<String>,
    pub entrypoint: Option<String>,
    pub env: Vec<String>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    pub hostname: Option<String>,
    pub memory: Option<u64>,
    pub cpus: Option<f64>,
    pub pids_limit: Option<i64>,
    /// A user namespace of its own (`--userns private`).
    pub private_users: bool,
}

const DOCKER_CAPABILITIES: [&str; 14] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];
const MASKED_PATHS: [&str; 11] = [
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];
const READONLY_PATHS: [&str; 5] = [
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];
const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
const CPU_PERIOD: u64 = 100_000;
/// `--userns private`: the container's ids 0-65535 are these of the machine.
const USERNS_FIRST_ID: u32 = 100_000;
const USERNS_IDS: u32 = 65_536;

/// The command: `--entrypoint` or the image's, then the given arguments or
/// the image's Cmd (docker drops the image's Cmd when the entrypoint is set).
fn command(image: &ImageConfiguration, flags: &Flags) -> Vec<String> {
    let config = image.config().as_ref();
    let entrypoint = match &flags.entrypoint {
        Some(e) if e.is_empty() => Vec::new(),
        Some(e) => vec![e.clone()],
        None => config
            .and_then(|c| c.entrypoint().clone())
            .unwrap_or_default(),
    };
    let args = if !flags.command.is_empty() {
        flags.command.clone()
    } else if flags.entrypoint.is_some() {
        Vec::new()
    } else {
        config.and_then(|c| c.cmd().clone()).unwrap_or_default()
    };
    entrypoint.into_iter().chain(args).collect()
}

/// `-e` entries as `KEY=value`: `-e KEY` takes our value of KEY, or is
/// dropped when we have none (as docker does).
pub fn resolve_env(entries: &[String]) -> Vec<String> {
    entries
        .iter()
        .filter_map(|entry| match entry.split_once('=') {
            Some(_) => Some(entry.clone()),
            None => std::env::var(entry).ok().map(|v| format!("{entry}={v}")),
        })
        .collect()
}

/// The image's environment with `-e` on top.
fn environment(image: &ImageConfiguration, flags: &Flags) -> Vec<String> {
    let mut env: Vec<String> = image
        .config()
        .as_ref()
        .and_then(|c| c.env().clone())
        .unwrap_or_default();
    for entry in resolve_env(&flags.env) {
        let key = entry.split('=').next().unwrap_or_default().to_string();
        env.retain(|e| e.split('=').next() != Some(key.as_str()));
        env.push(entry);
    }
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        env.insert(0, DEFAULT_PATH.to_string());
    }
    env
}

/// The `-u` to resolve in the container (flag, else the image's User).
pub fn user(image: &ImageConfiguration, flags: &Flags) -> Option<String> {
    flags
        .user
        .clone()
        .or_else(|| image.config().as_ref().and_then(|c| c.user().clone()))
        .filter(|u| !u.is_empty())
}

pub fn build(image: &ImageConfiguration, flags: &Flags, tty: bool) -> Result<Spec> {
    let args = command(image, flags);
    if args.is_empty() {
        bail!("no command given and the image has none (give one after the image name)");
    }
    let cwd = flags
        .workdir
        .clone()
        .or_else(|| {
            image
                .config()
                .as_ref()
                .and_then(|c| c.working_dir().clone())
        })
        .filter(|w| !w.is_empty())
        .unwrap_or_else(|| "/".into());
    if !cwd.starts_with('/') {
        bail!("the working directory {cwd:?} must be an absolute path");
    }
    let mut spec = serde_json::to_value(Spec::default())?;
    let caps = json!(DOCKER_CAPABILITIES);
    spec["process"] = json!({
        "terminal": tty,
        "user": { "uid": 0, "gid": 0 },
        "args": args,
        "env": environment(image, flags),
        "cwd": cwd,
        "capabilities": { "bounding": caps, "effective": caps, "permitted": caps },
        "rlimits": [{ "type": "RLIMIT_NOFILE", "hard": 1_048_576u64, "soft": 1_048_576u64 }],
        "noNewPrivileges": false,
    });
    spec["hostname"] = json!(flags.hostname.clone().unwrap_or_default());
    spec["root"] = json!({ "path": "rootfs", "readonly": false });
    let mut namespaces: Vec<Value> = ["pid", "network", "ipc", "uts", "mount", "cgroup"]
        .iter()
        .map(|t| json!({ "type": t }))
        .collect();
    if flags.private_users {
        namespaces.push(json!({ "type": "user" }));
    }
    let mut resources = json!({});
    if let Some(bytes) = flags.memory {
        resources["memory"] = json!({ "limit": bytes });
    }
    if let Some(cpus) = flags.cpus {
        if cpus <= 0.0 {
            bail!("--cpus must be more than 0");
        }
        resources["cpu"] =
            json!({ "quota": (cpus * CPU_PERIOD as f64) as i64, "period": CPU_PERIOD });
    }
    if let Some(limit) = flags.pids_limit {
        resources["pids"] = json!({ "limit": limit });
    }
    spec["linux"] = json!({
        "namespaces": namespaces,
        "maskedPaths": MASKED_PATHS,
        "readonlyPaths": READONLY_PATHS,
        "resources": resources,
    });
    if flags.private_users {
        let map = json!([{ "containerID": 0, "hostID": USERNS_FIRST_ID, "size": USERNS_IDS }]);
        spec["linux"]["uidMappings"] = map.clone();
        spec["linux"]["gidMappings"] = map;
    }
    Ok(serde_json::from_value(spec)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(config: Value) -> ImageConfiguration {
        serde_json::from_value(json!({
            "architecture": "amd64", "os": "linux", "config": config,
            "rootfs": { "type": "layers", "diff_ids": [] },
        }))
        .unwrap()
    }

    #[test]
    fn commands_combine_like_docker() {
        let img = image(json!({ "Entrypoint": ["/ep"], "Cmd": ["a", "b"] }));
        let run = |cmd: &[&str], ep: Option<&str>| {
            command(
                &img,
                &Flags {
                    command: cmd.iter().map(|s| s.to_string()).collect(),
                    entrypoint: ep.map(str::to_string),
                    ..Default::default()
                },
            )
        };
        assert_eq!(run(&[], None), ["/ep", "a", "b"]);
        assert_eq!(run(&["x"], None), ["/ep", "x"]);
        assert_eq!(run(&[], Some("sh")), ["sh"]);
        assert_eq!(run(&["-c", "true"], Some("sh")), ["sh", "-c", "true"]);
    }

    #[test]
    fn flags_land_in_the_spec() {
        let img = image(json!({ "Env": ["A=image", "B=2"], "Cmd": ["sh"], "WorkingDir": "/srv" }));
        let flags = Flags {
            env: vec!["A=flag".into()],
            memory: Some(64 << 20),
            cpus: Some(0.5),
            pids_limit: Some(100),
            hostname: Some("h1".into()),
            ..Default::default()
        };
        let spec = serde_json::to_value(build(&img, &flags, false).unwrap()).unwrap();
        let env = spec["process"]["env"].as_array().unwrap();
        assert!(env.contains(&json!("A=flag")) && env.contains(&json!("B=2")));
        assert!(!env.contains(&json!("A=image")));
        assert_eq!(spec["process"]["cwd"], "/srv");
        assert_eq!(spec["hostname"], "h1");
        assert_eq!(spec["linux"]["resources"]["memory"]["limit"], 64 << 20);
        assert_eq!(spec["linux"]["resources"]["cpu"]["quota"], 50_000);
        assert_eq!(spec["linux"]["resources"]["pids"]["limit"], 100);
        assert_eq!(
            spec["process"]["capabilities"]["bounding"]
                .as_array()
                .unwrap()
                .len(),
            14
        );
        assert!(
            build(&image(json!({})), &Flags::default(), false).is_err(),
            "no command"
        );
        let private = Flags {
            private_users: true,
            ..flags
        };
        let spec = serde_json::to_value(build(&img, &private, true).unwrap()).unwrap();
        assert_eq!(spec["linux"]["namespaces"].as_array().unwrap().len(), 7);
        assert_eq!(spec["linux"]["uidMappings"][0]["hostID"], 100_000);
        assert_eq!(spec["process"]["terminal"], true);
    }
}
