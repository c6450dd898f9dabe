//! docker's `-v`, `--mount` and `--tmpfs`: the host directories, volumes
//! and tmpfs a container gets. Parsing only; a bind mount's host path is
//! checked against the machine's shares by [`super::binds`].

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

/// A host path as given: absolute, or relative to the current directory
/// when it starts with `.` (as docker's CLI takes `-v ./src:/app`).
fn host_path(flag: &str, spec: &str, source: &str) -> Result<String, ContainerError> {
    if source.starts_with('/') {
        return Ok(source.to_string());
    }
    if source.starts_with('.') {
        let cwd = std::env::current_dir()
            .map_err(|e| invalid(flag, spec, &format!("the current directory: {e}")))?;
        return Ok(cwd.join(source).to_string_lossy().into_owned());
    }
    Err(invalid(
        flag,
        spec,
        &format!("the host path {source:?} must be absolute (or start with ./)"),
    ))
}

/// `-v /path` (anonymous), `-v NAME:/path[:ro|:rw]`, `-v
/// /host/path:/path[:ro|:rw]` (made on the host when missing).
pub fn parse_volume(spec: &str) -> Result<MountRequest, ContainerError> {
    const FLAG: &str = "-v";
    let parts: Vec<&str> = spec.split(':').collect();
    let (source, target, options) = match parts[..] {
        [target] => (None, target, None),
        [source, target] => (Some(source), target, None),
        [source, target, options] => (Some(source), target, Some(options)),
        _ => return Err(invalid(FLAG, spec, "use [NAME:]/PATH[:ro|:rw]")),
    };
    if source.is_some_and(|s| s.starts_with('~')) {
        return Err(invalid(
            FLAG,
            spec,
            "'~' is not expanded here: give the absolute path (e.g. \"$HOME/...\")",
        ));
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
    if let Some(source) = source.filter(|s| s.starts_with('/') || s.starts_with('.')) {
        return Ok(MountRequest::Bind {
            source: host_path(FLAG, spec, source)?,
            target: absolute(FLAG, spec, target)?,
            read_only,
            create: true,
        });
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

/// `--mount type=volume|bind|tmpfs,source=...,target=...[,readonly]` (and
/// docker's other spellings: src, destination, dst, ro, tmpfs-size,
/// tmpfs-mode). A bind mount's missing source is an error, not made.
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
            // Propagation stays private: a share's mounts come from the host.
            ("volume-nocopy" | "consistency" | "bind-propagation" | "bind-nonrecursive", _) => {}
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
        "bind" => Ok(MountRequest::Bind {
            source: host_path(
                FLAG,
                spec,
                source
                    .filter(|s| !s.is_empty())
                    .ok_or_else(|| invalid(FLAG, spec, "a bind mount needs source="))?,
            )?,
            target,
            read_only,
            create: false,
        }),
        other => Err(invalid(
            FLAG,
            spec,
            &format!("unknown type {other:?} (volume, bind or tmpfs)"),
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
    fn host_directories() {
        assert_eq!(
            parse_volume("/src:/app:ro").unwrap(),
            MountRequest::Bind {
                source: "/src".into(),
                target: "/app".into(),
                read_only: true,
                create: true
            }
        );
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(
            parse_volume("./src:/app").unwrap(),
            MountRequest::Bind {
                source: cwd.join("./src").to_string_lossy().into_owned(),
                target: "/app".into(),
                read_only: false,
                create: true
            }
        );
        assert_eq!(
            parse_mount("type=bind,src=/s,dst=/d,readonly,bind-propagation=rprivate").unwrap(),
            MountRequest::Bind {
                source: "/s".into(),
                target: "/d".into(),
                read_only: true,
                create: false
            }
        );
    }

    #[test]
    fn malformed_and_unsupported_values_say_why() {
        for (result, says) in [
            (parse_volume("db:rel"), "must be absolute"),
            (parse_volume("~/src:/app"), "absolute path"),
            (parse_volume("/src:rel"), "must be absolute"),
            (parse_volume("db:/d:bogus"), "unknown option"),
            (parse_volume("a:b:c:d"), "[NAME:]/PATH"),
            (parse_volume(":/d"), "name is empty"),
            (parse_mount("type=bind,target=/t"), "needs source="),
            (
                parse_mount("type=bind,source=rel,target=/t"),
                "must be absolute",
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
