//! Bind mounts on the host side: a host path is made absolute and real,
//! made when `-v` names a missing directory (docker), refused when
//! `--mount` does, and refused outside the machine's shares (Docker
//! Desktop's "mounts denied"), before anything is sent to the machine.

use super::error::ContainerError;
use crate::machine::error::name_flag;
use crate::machine::shares;
use protocol::MountRequest;
use std::path::{Component, Path, PathBuf};

/// Resolves every bind mount of `mounts` in place against `shares`.
pub fn resolve(
    mounts: &mut [MountRequest],
    shares: &[PathBuf],
    machine: &str,
) -> Result<(), ContainerError> {
    for mount in mounts.iter_mut() {
        if let MountRequest::Bind { source, create, .. } = mount {
            *source = resolve_one(source, *create, shares, machine)?
                .to_string_lossy()
                .into_owned();
        }
    }
    Ok(())
}

fn resolve_one(
    source: &str,
    create: bool,
    shares: &[PathBuf],
    machine: &str,
) -> Result<PathBuf, ContainerError> {
    let path = normalize(Path::new(source));
    // The share check comes before anything is made: nothing is created
    // outside a share.
    let real = real_path_of_possibly_missing(&path)?;
    if shares::containing(shares, &real).is_none() {
        return Err(mounts_denied(source, shares, machine));
    }
    if !real.exists() {
        if !create {
            return Err(ContainerError::InvalidRequest(format!(
                "invalid mount config for type \"bind\": bind source path does not exist: {source}"
            )));
        }
        std::fs::create_dir_all(&real).map_err(|e| {
            ContainerError::InvalidRequest(format!(
                "creating the bind source {}: {e}",
                real.display()
            ))
        })?;
    }
    Ok(real)
}

/// `..` and `.` taken out lexically (as docker does to a `-v` path).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for part in path.components() {
        match part {
            Component::Normal(name) => out.push(name),
            Component::ParentDir => {
                out.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

/// The real path of `path`: symlinks resolved as far as it exists, the
/// missing rest appended.
fn real_path_of_possibly_missing(path: &Path) -> Result<PathBuf, ContainerError> {
    let mut existing = path.to_path_buf();
    let mut missing = Vec::new();
    loop {
        match std::fs::canonicalize(&existing) {
            Ok(real) => {
                return Ok(missing.iter().rev().fold(real, |p, name| p.join(name)));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let Some(name) = existing.file_name().map(|n| n.to_os_string()) else {
                    return Ok(path.to_path_buf());
                };
                missing.push(name);
                existing.pop();
            }
            Err(e) => {
                return Err(ContainerError::InvalidRequest(format!(
                    "the bind source {}: {e}",
                    path.display()
                )))
            }
        }
    }
}

fn mounts_denied(source: &str, shares: &[PathBuf], machine: &str) -> ContainerError {
    let list: Vec<String> = shares.iter().map(|s| s.display().to_string()).collect();
    let name = name_flag(machine);
    ContainerError::MountsDenied(format!(
        "mounts denied: {source} is not shared with machine '{machine}' (its shares: {}); share it with 'hutch machine stop{name} && hutch machine start{name} --share DIR'",
        if list.is_empty() { "none".to_string() } else { list.join(", ") }
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bind(source: &str, create: bool) -> MountRequest {
        MountRequest::Bind {
            source: source.into(),
            target: "/t".into(),
            read_only: false,
            create,
        }
    }

    #[test]
    fn sources_are_made_real_and_checked_against_the_shares() {
        let root = std::env::temp_dir().join(format!("hutch-binds-{}", std::process::id()));
        std::fs::create_dir_all(root.join("share/dir")).unwrap();
        std::fs::create_dir_all(root.join("outside")).unwrap();
        let share = std::fs::canonicalize(root.join("share")).unwrap();
        std::os::unix::fs::symlink(root.join("outside"), share.join("escape")).unwrap();
        let shares = vec![share.clone()];
        let at = |rel: &str| format!("{}/{rel}", root.display());

        let mut mounts = vec![
            bind(&at("share/x/../dir"), false),
            bind(&at("share/new/sub"), true),
        ];
        resolve(&mut mounts, &shares, "default").unwrap();
        assert_eq!(mounts[0], bind(&share.join("dir").to_string_lossy(), false));
        assert!(
            share.join("new/sub").is_dir(),
            "-v makes a missing directory"
        );

        for (source, create, says) in [
            (at("outside"), true, "mounts denied"),
            (at("share/escape"), true, "mounts denied"),
            (at("share/../outside/new"), true, "mounts denied"),
            (at("share/missing"), false, "does not exist"),
        ] {
            let err = resolve(&mut [bind(&source, create)], &shares, "default")
                .unwrap_err()
                .to_string();
            assert!(err.contains(says), "{source}: {err}");
        }
        assert!(
            !root.join("outside/new").exists(),
            "nothing made outside a share"
        );
        std::fs::remove_dir_all(&root).unwrap();
    }
}
