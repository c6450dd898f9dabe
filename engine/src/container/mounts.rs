//! docker's `-v`, `--mount` and `--tmpfs`: the volumes and tmpfs a
//! container gets. Host directories (`-v /host:/ctr`, `type=bind`) need
//! the machine to share host files (virtio-fs), which hutch does not do
//! yet: they are refused with that said.

use super::error::ContainerError;
use crate::units::parse_size;
use protocol::MountRequest;

fn invalid(flag: &str, spec: &str, why: &str) -> ContainerError {
    ContainerError::InvalidRequest(format!("invalid {flag} {spec:?}: {why}"))
}

fn absolute(flag: &str, spec: &str, path: &str) -> Result<String, ContainerError> {
    match path.starts_with('/') {
        true => Ok(path.to_string()),
        false => Err(invalid(
            flag,
            spec,
            &format!("the container path {path:?} must be absolute"),
        )),
    }
}

fn no_host_directories(flag: &str, spec: &str) -> ContainerError {
    invalid(
        flag,
        spec,
        "host directories cannot be mounted yet (the machine does not share host files); use a named volume (-v NAME:/path) instead",
    )
}

/// `-v /path` (anonymous), `-v NAME:/path[:ro|:rw]`.
pub fn parse_volume(spec: &str) -> Result<MountRequest, ContainerError> {
    const FLAG: &str = "-v";
    let parts: Vec<&str> = spec.split(':').collect();
    let (source, target, options) = match parts[..] {
        [target] => (None, target, None),
        [source, target] => (Some(source), target, None),
        [source, target, options] => (Some(source), target, Some(options)),
        _ => return Err(invalid(FLAG, spec, "use [NAME:]/PATH[:ro|:rw]")),
    };
    if source.is_some_and(|s| s.starts_with('/') || s.starts_with('.') || s.starts_with('~')) {
        return Err(no_host_directories(FLAG, spec));
    }
    let mut read_only = false;
    for option in options.into_iter().flat_map(|o| o.split(',')) {
        match option {
            "ro" => read_only = true,
            "rw" => read_only = false,
            // SELinux labels and Docker Desktop's consistency hints mean
            // nothing here.
            "z" | "Z" | "cached" | "delegated" | "consistent" => {}
            other => {
                return Err(invalid(
                    FLAG,
                    spec,
                    &format!("unknown option {other:?} (ro or rw)"),
                ))
            }
        }
    }
    if source == Some("") {
        return Err(invalid(FLAG, spec, "the volume name is empty"));
    }
    Ok(MountRequest::Volume {
        name: source.map(String::from),
        target: absolute(FLAG, spec, target)?,
        read_only,
    })
}

/// `--tmpfs /path[:size=64m,mode=1777,...]`.
pub fn parse_tmpfs(spec: &str) -> Result<MountRequest, ContainerError> {
    const FLAG: &str = "--tmpfs";
    let (target, options) = spec.split_once(':').unwrap_or((spec, ""));
    let (mut size_bytes, mut mode) = (None, None);
    for option in options.split(',').filter(|o| !o.is_empty()) {
        match option.split_once('=') {
            Some(("size", size)) => {
                size_bytes = Some(parse_size(size).map_err(|e| invalid(FLAG, spec, &e))?)
            }
            Some(("mode", m)) => mode = Some(parse_mode(FLAG, spec, m)?),
            None if matches!(
                option,
                "rw" | "nosuid" | "nodev" | "noexec" | "exec" | "suid" | "dev"
            ) => {}
            _ => {
                return Err(invalid(
                    FLAG,
                    spec,
                    &format!("unknown option {option:?} (size=, mode=)"),
                ))
            }
        }
    }
    Ok(MountRequest::Tmpfs {
        target: absolute(FLAG, spec, target)?,
        size_bytes,
        mode,
    })
}

fn parse_mode(flag: &str, spec: &str, text: &str) -> Result<u32, ContainerError> {
    u32::from_str_radix(text, 8)
        .ok()
        .filter(|m| *m <= 0o7777)
        .ok_or_else(|| invalid(flag, spec, &format!("{text:?} is not an octal mode")))
}

/// `--mount type=volume|tmpfs,source=...,target=...[,readonly]` (and
/// docker's other spellings: src, destination, dst, ro, tmpfs-size,
/// tmpfs-mode).
pub fn parse_mount(spec: &str) -> Result<MountRequest, ContainerError> {
    const FLAG: &str = "--mount";
    let (mut kind, mut source, mut target) = ("volume", None, None);
    let (mut read_only, mut size_bytes, mut mode) = (false, None, None);
    for field in spec.split(',') {
        let (key, value) = field.split_once('=').unwrap_or((field, ""));
        match (key, value) {
            ("type", kind_name) => kind = kind_name,
            ("source" | "src", v) => source = Some(v),
            ("target" | "destination" | "dst", v) => target = Some(v),
            ("readonly" | "ro", "" | "true" | "1") => read_only = true,
            ("readonly" | "ro", "false" | "0") => read_only = false,
            ("tmpfs-size", v) => {
                size_bytes = Some(parse_size(v).map_err(|e| invalid(FLAG, spec, &e))?)
            }
            ("tmpfs-mode", v) => mode = Some(parse_mode(FLAG, spec, v)?),
            ("volume-nocopy" | "consistency", _) => {}
            _ => return Err(invalid(FLAG, spec, &format!("unknown field {field:?}"))),
        }
    }
    let target = absolute(
        FLAG,
        spec,
        target.ok_or_else(|| invalid(FLAG, spec, "target= is required"))?,
    )?;
    match kind {
        "volume" => Ok(MountRequest::Volume {
            name: source.filter(|s| !s.is_empty()).map(String::from),
            target,
            read_only,
        }),
        "tmpfs" => Ok(MountRequest::Tmpfs {
            target,
            size_bytes,
            mode,
        }),
        "bind" => Err(no_host_directories(FLAG, spec)),
        other => Err(invalid(
            FLAG,
            spec,
            &format!("unknown type {other:?} (volume or tmpfs)"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn volume(name: Option<&str>, target: &str, read_only: bool) -> MountRequest {
        MountRequest::Volume {
            name: name.map(String::from),
            target: target.into(),
            read_only,
        }
    }

    #[test]
    fn docker_forms() {
        assert_eq!(parse_volume("/data").unwrap(), volume(None, "/data", false));
        assert_eq!(
            parse_volume("db:/var/lib/db").unwrap(),
            volume(Some("db"), "/var/lib/db", false)
        );
        assert_eq!(
            parse_volume("db:/d:ro").unwrap(),
            volume(Some("db"), "/d", true)
        );
        assert_eq!(
            parse_volume("db:/d:rw,z").unwrap(),
            volume(Some("db"), "/d", false)
        );
        assert_eq!(
            parse_mount("type=volume,source=db,target=/d,readonly").unwrap(),
            volume(Some("db"), "/d", true)
        );
        assert_eq!(parse_mount("dst=/d").unwrap(), volume(None, "/d", false));
        assert_eq!(
            parse_tmpfs("/run:size=1m,mode=700,noexec").unwrap(),
            MountRequest::Tmpfs {
                target: "/run".into(),
                size_bytes: Some(1 << 20),
                mode: Some(0o700)
            }
        );
        assert_eq!(
            parse_mount("type=tmpfs,target=/t,tmpfs-size=64k").unwrap(),
            MountRequest::Tmpfs {
                target: "/t".into(),
                size_bytes: Some(64 << 10),
                mode: None
            }
        );
    }

    #[test]
    fn malformed_and_unsupported_values_say_why() {
        for (result, says) in [
            (parse_volume("db:rel"), "must be absolute"),
            (
                parse_volume("/host:/ctr"),
                "host directories cannot be mounted yet",
            ),
            (parse_volume("./src:/app"), "host directories"),
            (parse_volume("db:/d:bogus"), "unknown option"),
            (parse_volume("a:b:c:d"), "[NAME:]/PATH"),
            (parse_volume(":/d"), "name is empty"),
            (
                parse_mount("type=bind,source=/tmp,target=/t"),
                "host directories",
            ),
            (parse_mount("type=volume,source=db"), "target= is required"),
            (parse_mount("type=npipe,target=/t"), "unknown type"),
            (parse_mount("target=/t,color=red"), "unknown field"),
            (parse_tmpfs("/t:size=lots"), "invalid size"),
            (parse_tmpfs("/t:mode=999"), "octal"),
            (parse_tmpfs("t"), "must be absolute"),
        ] {
            let e = result.unwrap_err().to_string();
            assert!(e.contains(says), "{e}");
        }
    }
}
