//! The OCI runtime spec for a container, from the image's config and the
//! flags, with docker's defaults: its capability set, masked and read-only
//! paths, namespaces and open-file limit. Built with oci-spec's typed
//! builders; it crosses to the agent as that typed value.

use super::error::ContainerError;
use oci_spec::image::ImageConfiguration;
use oci_spec::runtime::{
    Capabilities, Capability, LinuxBuilder, LinuxCapabilitiesBuilder, LinuxCpuBuilder,
    LinuxDeviceCgroupBuilder, LinuxIdMappingBuilder, LinuxMemoryBuilder, LinuxNamespaceBuilder,
    LinuxNamespaceType, LinuxPidsBuilder, LinuxResourcesBuilder, PosixRlimitBuilder,
    PosixRlimitType, ProcessBuilder, RootBuilder, Spec, UserBuilder,
};

/// What `run` / `create` were asked for, as the front end parsed it.
#[derive(Debug, Clone, Default)]
pub struct Flags {
    pub command: Vec<String>,
    pub entrypoint: Option<String>,
    /// `KEY=value` entries, over the image's.
    pub env: Vec<String>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    pub hostname: Option<String>,
    pub memory: Option<u64>,
    pub cpus: Option<f64>,
    pub pids_limit: Option<i64>,
    /// A user namespace of its own (`--userns private`).
    pub private_users: bool,
    /// `--label KEY=VALUE`: kept as the spec's annotations.
    pub labels: std::collections::BTreeMap<String, String>,
    /// `--cap-add` and `--cap-drop`: capability names (`NET_ADMIN` or
    /// `CAP_NET_ADMIN`, any case) or `ALL`.
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    /// `--privileged`: every capability, /proc and /sys unmasked, no
    /// seccomp profile.
    pub privileged: bool,
    /// `--security-opt seccomp=...`.
    pub seccomp: super::seccomp::SeccompChoice,
    /// `--security-opt no-new-privileges`.
    pub no_new_privileges: bool,
}

const DOCKER_CAPABILITIES: [Capability; 14] = [
    Capability::Chown,
    Capability::DacOverride,
    Capability::Fsetid,
    Capability::Fowner,
    Capability::Mknod,
    Capability::NetRaw,
    Capability::Setgid,
    Capability::Setuid,
    Capability::Setfcap,
    Capability::Setpcap,
    Capability::NetBindService,
    Capability::SysChroot,
    Capability::Kill,
    Capability::AuditWrite,
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
/// docker's open-file limit for containers.
const NOFILE: u64 = 1_048_576;
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

/// The image's environment with `-e` on top; with a terminal, docker's
/// `TERM=xterm` unless one is given.
fn environment(image: &ImageConfiguration, flags: &Flags, tty: bool) -> Vec<String> {
    let mut env: Vec<String> = image
        .config()
        .as_ref()
        .and_then(|c| c.env().clone())
        .unwrap_or_default();
    for entry in &flags.env {
        let key = entry.split('=').next().unwrap_or_default();
        env.retain(|e| e.split('=').next() != Some(key));
        env.push(entry.clone());
    }
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        env.insert(0, DEFAULT_PATH.to_string());
    }
    if tty && !env.iter().any(|e| e.starts_with("TERM=")) {
        env.push("TERM=xterm".to_string());
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

fn working_dir(image: &ImageConfiguration, flags: &Flags) -> Result<String, ContainerError> {
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
        return Err(ContainerError::InvalidRequest(format!(
            "the working directory {cwd:?} must be an absolute path"
        )));
    }
    Ok(cwd)
}

fn strings(paths: &[&str]) -> Vec<String> {
    paths.iter().map(|p| p.to_string()).collect()
}

/// The spec; with `host_network` the container shares the machine's
/// network namespace (`--network host`).
pub fn build(
    image: &ImageConfiguration,
    flags: &Flags,
    tty: bool,
    host_network: bool,
) -> Result<Spec, ContainerError> {
    let args = command(image, flags);
    if args.is_empty() {
        return Err(ContainerError::InvalidRequest(
            "no command given and the image has none (give one after the image name)".into(),
        ));
    }
    let caps = capability_set(flags)?;
    let seccomp = match flags.privileged {
        true => None,
        false => flags.seccomp.profile(&caps)?,
    };
    let capabilities = LinuxCapabilitiesBuilder::default()
        .bounding(caps.clone())
        .effective(caps.clone())
        .permitted(caps)
        .inheritable(Capabilities::new())
        .ambient(Capabilities::new())
        .build()?;
    let nofile = PosixRlimitBuilder::default()
        .typ(PosixRlimitType::RlimitNofile)
        .hard(NOFILE)
        .soft(NOFILE)
        .build()?;
    let process = ProcessBuilder::default()
        .terminal(tty)
        .user(UserBuilder::default().uid(0u32).gid(0u32).build()?)
        .args(args)
        .env(environment(image, flags, tty))
        .cwd(working_dir(image, flags)?)
        .capabilities(capabilities)
        .rlimits(vec![nofile])
        .no_new_privileges(flags.no_new_privileges)
        .build()?;

    let mut namespaces = vec![
        LinuxNamespaceType::Pid,
        LinuxNamespaceType::Ipc,
        LinuxNamespaceType::Uts,
        LinuxNamespaceType::Mount,
        LinuxNamespaceType::Cgroup,
    ];
    if !host_network {
        namespaces.push(LinuxNamespaceType::Network);
    }
    if flags.private_users {
        namespaces.push(LinuxNamespaceType::User);
    }
    let namespaces = namespaces
        .into_iter()
        .map(|typ| LinuxNamespaceBuilder::default().typ(typ).build())
        .collect::<Result<Vec<_>, _>>()?;
    // Set either way: the builder's own default is a list of its own.
    let (masked, readonly) = match flags.privileged {
        true => (Vec::new(), Vec::new()),
        false => (strings(&MASKED_PATHS), strings(&READONLY_PATHS)),
    };
    let mut linux = LinuxBuilder::default()
        .namespaces(namespaces)
        .masked_paths(masked)
        .readonly_paths(readonly)
        .resources(resources(flags)?);
    if let Some(seccomp) = seccomp {
        linux = linux.seccomp(seccomp);
    }
    if flags.private_users {
        let map = LinuxIdMappingBuilder::default()
            .container_id(0u32)
            .host_id(USERNS_FIRST_ID)
            .size(USERNS_IDS)
            .build()?;
        linux = linux.uid_mappings(vec![map]).gid_mappings(vec![map]);
    }
    // Spec::default() brings the standard mounts (/proc, /dev, /sys...).
    let mut spec = Spec::default();
    spec.set_process(Some(process));
    spec.set_hostname(Some(flags.hostname.clone().unwrap_or_default()));
    spec.set_root(Some(
        RootBuilder::default()
            .path("rootfs")
            .readonly(false)
            .build()?,
    ));
    spec.set_linux(Some(linux.build()?));
    if !flags.labels.is_empty() {
        spec.set_annotations(Some(flags.labels.clone().into_iter().collect()));
    }
    Ok(spec)
}

/// A capability as `--cap-add`/`--cap-drop` name it.
pub(super) fn capability(name: &str) -> Result<Capability, ContainerError> {
    let upper = name.to_uppercase();
    let bare = upper.strip_prefix("CAP_").unwrap_or(&upper);
    bare.parse().map_err(|_| {
        ContainerError::InvalidRequest(format!(
            "unknown capability {name:?}: give a name such as NET_ADMIN or SYS_PTRACE, or ALL"
        ))
    })
}

/// Every capability the kernel has.
fn all_capabilities() -> Capabilities {
    protocol::CAPABILITY_NAMES
        .iter()
        .filter_map(|name| name.parse().ok())
        .collect()
}

fn is_all(name: &str) -> bool {
    name.eq_ignore_ascii_case("ALL")
}

/// The capabilities `names` name, ALL aside.
fn named(names: &[String]) -> Result<Capabilities, ContainerError> {
    names
        .iter()
        .filter(|n| !is_all(n))
        .map(|n| capability(n))
        .collect()
}

/// The container's capabilities: docker's default set, `--cap-drop`'s
/// taken out and `--cap-add`'s put in (an add wins over a drop of the
/// same); ALL on either side as docker reads it; everything with
/// `--privileged`.
fn capability_set(flags: &Flags) -> Result<Capabilities, ContainerError> {
    let (adds, drops) = (named(&flags.cap_add)?, named(&flags.cap_drop)?);
    if flags.privileged || flags.cap_add.iter().any(|n| is_all(n)) {
        let all = all_capabilities();
        return Ok(match flags.privileged {
            true => all,
            false => all.difference(&drops).copied().collect(),
        });
    }
    let mut caps: Capabilities = match flags.cap_drop.iter().any(|n| is_all(n)) {
        true => Capabilities::new(),
        false => DOCKER_CAPABILITIES.into_iter().collect(),
    };
    caps.retain(|c| !drops.contains(c));
    caps.extend(adds);
    Ok(caps)
}

/// cgroup limits: memory.max, cpu.max, pids.max; and the device rule:
/// every device with `--privileged`, else only those of the container's
/// /dev (the agent enforces it: see its mounts' `all_devices`).
fn resources(flags: &Flags) -> Result<oci_spec::runtime::LinuxResources, ContainerError> {
    let devices = LinuxDeviceCgroupBuilder::default()
        .allow(flags.privileged)
        .access("rwm")
        .build()?;
    let mut resources = LinuxResourcesBuilder::default().devices(vec![devices]);
    if let Some(bytes) = flags.memory {
        let limit = i64::try_from(bytes)
            .map_err(|_| ContainerError::InvalidRequest("the memory limit is too large".into()))?;
        resources = resources.memory(LinuxMemoryBuilder::default().limit(limit).build()?);
    }
    if let Some(cpus) = flags.cpus {
        if cpus <= 0.0 || !cpus.is_finite() {
            return Err(ContainerError::InvalidRequest(
                "--cpus must be more than 0".into(),
            ));
        }
        let quota = (cpus * CPU_PERIOD as f64) as i64;
        let cpu = LinuxCpuBuilder::default()
            .quota(quota)
            .period(CPU_PERIOD)
            .build()?;
        resources = resources.cpu(cpu);
    }
    if let Some(limit) = flags.pids_limit {
        resources = resources.pids(LinuxPidsBuilder::default().limit(limit).build()?);
    }
    Ok(resources.build()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn image(config: Value) -> ImageConfiguration {
        serde_json::from_value(json!({
            "architecture": "amd64", "os": "linux", "config": config,
            "rootfs": { "type": "layers", "diff_ids": [] },
        }))
        .unwrap()
    }

    #[test]
    fn capabilities_are_dockers_with_adds_and_drops() {
        let set = |add: &[&str], drop: &[&str], privileged: bool| {
            capability_set(&Flags {
                cap_add: add.iter().map(|s| s.to_string()).collect(),
                cap_drop: drop.iter().map(|s| s.to_string()).collect(),
                privileged,
                ..Default::default()
            })
        };
        assert_eq!(
            set(&[], &[], false).unwrap().len(),
            DOCKER_CAPABILITIES.len()
        );
        let added = set(&["net_admin", "CAP_SYS_PTRACE"], &["chown"], false).unwrap();
        assert!(added.contains(&Capability::NetAdmin) && added.contains(&Capability::SysPtrace));
        assert!(!added.contains(&Capability::Chown));
        let only = set(&["CHOWN"], &["ALL"], false).unwrap();
        assert_eq!(only, [Capability::Chown].into_iter().collect());
        let all_but = set(&["ALL"], &["SYS_ADMIN"], false).unwrap();
        assert_eq!(all_but.len(), protocol::CAPABILITY_NAMES.len() - 1);
        assert_eq!(
            set(&[], &[], true).unwrap().len(),
            protocol::CAPABILITY_NAMES.len()
        );
        let err = set(&["FLY"], &[], false).unwrap_err().to_string();
        assert!(err.contains("unknown capability \"FLY\""), "{err}");
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
        let spec = serde_json::to_value(build(&img, &flags, false, false).unwrap()).unwrap();
        let env = spec["process"]["env"].as_array().unwrap();
        assert!(env.contains(&json!("A=flag")) && env.contains(&json!("B=2")));
        assert!(!env.contains(&json!("A=image")));
        assert_eq!(spec["process"]["cwd"], "/srv");
        assert_eq!(spec["process"]["noNewPrivileges"], false);
        assert_eq!(spec["hostname"], "h1");
        assert_eq!(spec["linux"]["resources"]["memory"]["limit"], 64 << 20);
        assert_eq!(spec["linux"]["resources"]["cpu"]["quota"], 50_000);
        assert_eq!(spec["linux"]["resources"]["pids"]["limit"], 100);
        let caps = &spec["process"]["capabilities"];
        assert_eq!(caps["bounding"].as_array().unwrap().len(), 14);
        assert_eq!(caps["inheritable"], json!([]), "docker gives none");
        assert_eq!(spec["process"]["rlimits"][0]["hard"], 1_048_576);
        assert!(
            spec["mounts"].as_array().unwrap().len() > 3,
            "standard mounts"
        );
        assert!(
            build(&image(json!({})), &Flags::default(), false, false).is_err(),
            "no command"
        );
        let private = Flags {
            private_users: true,
            ..flags
        };
        let spec = serde_json::to_value(build(&img, &private, true, false).unwrap()).unwrap();
        assert_eq!(spec["linux"]["namespaces"].as_array().unwrap().len(), 7);
        let host =
            serde_json::to_value(build(&img, &Flags::default(), false, true).unwrap()).unwrap();
        let namespaces = host["linux"]["namespaces"].as_array().unwrap();
        assert!(
            !namespaces.contains(&json!({ "type": "network" })),
            "--network host"
        );
        assert_eq!(spec["linux"]["uidMappings"][0]["hostID"], 100_000);
        assert_eq!(spec["process"]["terminal"], true);
    }

    #[test]
    fn bad_values_are_refused() {
        let img = image(json!({ "Cmd": ["sh"] }));
        for flags in [
            Flags {
                cpus: Some(0.0),
                ..Default::default()
            },
            Flags {
                workdir: Some("relative".into()),
                ..Default::default()
            },
        ] {
            assert!(build(&img, &flags, false, false).is_err());
        }
    }
}
