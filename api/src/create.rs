//! docker's container create body (`Config` with its `HostConfig`) as the
//! engine's [`CreateRequest`]: the same request `hutch run`'s flags make.

use crate::error::{ApiError, ApiResult};
use bollard_stubs::models::{ContainerCreateBody, HostConfig, Mount, MountTypeEnum};
use engine::container::{mounts, ports, seccomp, CreateRequest, Flags, PortBinding};
use engine::image::ImageName;
use engine::volume::MountRequest;

pub fn request(body: ContainerCreateBody, name: Option<String>) -> ApiResult<CreateRequest> {
    let image: ImageName = body
        .image
        .as_deref()
        .filter(|i| !i.is_empty())
        .ok_or_else(|| ApiError::bad_request("Image is required: name the image to run"))?
        .parse()
        .map_err(|e| ApiError::bad_request(format!("invalid image name: {e}")))?;
    let host = body.host_config.clone().unwrap_or_default();
    let (entrypoint, command) = command(&body);
    let (seccomp, no_new_privileges) =
        seccomp::security_options(host.security_opt.as_deref().unwrap_or_default())
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let network = match host.network_mode.as_deref() {
        None | Some("" | "default") => "bridge".to_string(),
        Some(mode) => mode.to_string(),
    };
    let aliases = body
        .networking_config
        .as_ref()
        .and_then(|n| n.endpoints_config.as_ref())
        .and_then(|e| e.get(&network))
        .and_then(|e| e.aliases.clone())
        .unwrap_or_default();
    Ok(CreateRequest {
        image,
        flags: Flags {
            command,
            entrypoint,
            env: body.env.clone().unwrap_or_default(),
            workdir: body.working_dir.clone().filter(|w| !w.is_empty()),
            user: body.user.clone().filter(|u| !u.is_empty()),
            hostname: body.hostname.clone().filter(|h| !h.is_empty()),
            memory: host.memory.filter(|m| *m > 0).map(|m| m as u64),
            cpus: cpus(&host),
            pids_limit: host.pids_limit.filter(|p| *p != 0),
            private_users: host.userns_mode.as_deref() == Some("private"),
            labels: body
                .labels
                .clone()
                .unwrap_or_default()
                .into_iter()
                .collect(),
            cap_add: host.cap_add.clone().unwrap_or_default(),
            cap_drop: host.cap_drop.clone().unwrap_or_default(),
            privileged: host.privileged.unwrap_or(false),
            seccomp,
            no_new_privileges,
        },
        name: name.filter(|n| !n.is_empty()),
        auto_remove: host.auto_remove.unwrap_or(false),
        stdin: body.open_stdin.unwrap_or(false),
        tty: body.tty.unwrap_or(false),
        network,
        aliases,
        extra_hosts: host.extra_hosts.clone().unwrap_or_default(),
        dns: dns(&host)?,
        mounts: mounts(&body, &host)?,
        volumes_from: host.volumes_from.clone().unwrap_or_default(),
        ports: port_bindings(&host)?,
        publish_all: host.publish_all_ports.unwrap_or(false),
    })
}

/// docker's Entrypoint is a list: its first word is the program, the rest
/// go before the command's arguments.
fn command(body: &ContainerCreateBody) -> (Option<String>, Vec<String>) {
    let cmd = body.cmd.clone().unwrap_or_default();
    match body.entrypoint.as_deref() {
        None => (None, cmd),
        Some([]) => (Some(String::new()), cmd),
        Some([first, rest @ ..]) => (Some(first.clone()), [rest, &cmd].concat()),
    }
}

fn cpus(host: &HostConfig) -> Option<f64> {
    if let Some(nano) = host.nano_cpus.filter(|n| *n > 0) {
        return Some(nano as f64 / 1e9);
    }
    match (host.cpu_quota, host.cpu_period) {
        (Some(quota), Some(period)) if quota > 0 && period > 0 => {
            Some(quota as f64 / period as f64)
        }
        _ => None,
    }
}

fn dns(host: &HostConfig) -> ApiResult<Vec<std::net::Ipv4Addr>> {
    host.dns
        .iter()
        .flatten()
        .map(|d| {
            d.parse()
                .map_err(|_| ApiError::bad_request(format!("Dns {d:?} is not an IPv4 address")))
        })
        .collect()
}

/// `Binds` (`-v`), `Mounts` (`--mount`), `Tmpfs` and the anonymous
/// `Volumes` of the config.
fn mounts(body: &ContainerCreateBody, host: &HostConfig) -> ApiResult<Vec<MountRequest>> {
    let bad = |e: engine::container::ContainerError| ApiError::bad_request(e.to_string());
    let mut all = Vec::new();
    for bind in host.binds.iter().flatten() {
        all.push(mounts::parse_volume(bind).map_err(bad)?);
    }
    for mount in host.mounts.iter().flatten() {
        all.push(mount_request(mount)?);
    }
    for (target, options) in host.tmpfs.iter().flatten() {
        let spec = match options.is_empty() {
            true => target.clone(),
            false => format!("{target}:{options}"),
        };
        all.push(mounts::parse_tmpfs(&spec).map_err(bad)?);
    }
    for target in body.volumes.iter().flatten() {
        if !all.iter().any(|m| m.target() == target) {
            all.push(mounts::parse_volume(target).map_err(bad)?);
        }
    }
    Ok(all)
}

fn mount_request(mount: &Mount) -> ApiResult<MountRequest> {
    let target = mount
        .target
        .clone()
        .filter(|t| t.starts_with('/'))
        .ok_or_else(|| ApiError::bad_request("a mount's Target must be an absolute path"))?;
    let source = mount.source.clone().filter(|s| !s.is_empty());
    let read_only = mount.read_only.unwrap_or(false);
    Ok(match mount.typ {
        Some(MountTypeEnum::BIND) => MountRequest::Bind {
            source: source.filter(|s| s.starts_with('/')).ok_or_else(|| {
                ApiError::bad_request("a bind mount's Source must be an absolute host path")
            })?,
            target,
            read_only,
            create: false,
        },
        Some(MountTypeEnum::TMPFS) => {
            let options = mount.tmpfs_options.as_ref();
            MountRequest::Tmpfs {
                target,
                size_bytes: options.and_then(|o| o.size_bytes).map(|s| s as u64),
                mode: options.and_then(|o| o.mode).map(|m| m as u32),
            }
        }
        None | Some(MountTypeEnum::VOLUME | MountTypeEnum::EMPTY) => MountRequest::Volume {
            name: source,
            target,
            read_only,
        },
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "mount type {other} is not supported (bind, volume or tmpfs)"
            )))
        }
    })
}

/// `PortBindings` (`{"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}`) in
/// `-p`'s syntax, parsed as `-p` is.
fn port_bindings(host: &HostConfig) -> ApiResult<Vec<PortBinding>> {
    let mut all = Vec::new();
    for (port, bindings) in host.port_bindings.iter().flatten() {
        let default = vec![Default::default()];
        for binding in bindings.as_ref().unwrap_or(&default) {
            let ip = binding.host_ip.as_deref().unwrap_or_default();
            let host_port = binding.host_port.as_deref().unwrap_or_default();
            let spec = match (ip, host_port) {
                ("", "") => port.clone(),
                ("", h) => format!("{h}:{port}"),
                (ip, h) => format!("{ip}:{h}:{port}"),
            };
            let parsed = ports::parse_publish(&spec)
                .map_err(|e| ApiError::bad_request(format!("PortBindings: {e}")))?;
            all.extend(parsed);
        }
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(json: &str) -> ContainerCreateBody {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn docker_run_flags_arrive_as_the_cli_makes_them() {
        let request = request(
            body(
                r#"{"Image":"busybox","Cmd":["echo","hi"],"Env":["A=1"],"Tty":true,
                "OpenStdin":true,"WorkingDir":"/tmp","User":"1:2",
                "Volumes":{"/anon":{}},
                "HostConfig":{"AutoRemove":true,"Memory":67108864,"NanoCpus":500000000,
                  "Binds":["/srv:/data:ro"],"Tmpfs":{"/run":"size=1m"},
                  "PortBindings":{"80/tcp":[{"HostIp":"127.0.0.1","HostPort":"8080"}]},
                  "NetworkMode":"default"}}"#,
            ),
            Some("web".into()),
        )
        .unwrap();
        assert_eq!(request.flags.command, ["echo", "hi"]);
        assert_eq!(request.flags.memory, Some(64 << 20));
        assert_eq!(request.flags.cpus, Some(0.5));
        assert_eq!(request.flags.user.as_deref(), Some("1:2"));
        assert!(request.auto_remove && request.tty && request.stdin);
        assert_eq!(request.network, "bridge");
        assert_eq!(request.name.as_deref(), Some("web"));
        let targets: Vec<_> = request.mounts.iter().map(|m| m.target()).collect();
        assert_eq!(targets, ["/data", "/run", "/anon"]);
        assert_eq!(request.ports.len(), 1);
        assert_eq!(request.ports[0].host_port, 8080);
    }

    #[test]
    fn an_entrypoint_list_keeps_its_words() {
        let r = request(
            body(r#"{"Image":"busybox","Entrypoint":["sh","-c"],"Cmd":["echo hi"]}"#),
            None,
        )
        .unwrap();
        assert_eq!(r.flags.entrypoint.as_deref(), Some("sh"));
        assert_eq!(r.flags.command, ["-c", "echo hi"]);
    }

    #[test]
    fn bad_values_are_bad_requests() {
        for json in [
            r#"{}"#,
            r#"{"Image":"UPPER"}"#,
            r#"{"Image":"busybox","HostConfig":{"Dns":["x"]}}"#,
            r#"{"Image":"busybox","HostConfig":{"Binds":["relative:/x:zz"]}}"#,
            r#"{"Image":"busybox","HostConfig":{"Mounts":[{"Type":"bind","Source":"rel","Target":"/x"}]}}"#,
        ] {
            let e = request(body(json), None).unwrap_err();
            assert_eq!(e.status, axum::http::StatusCode::BAD_REQUEST, "{json}");
        }
    }
}
