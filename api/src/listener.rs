//! The service's socket: only its owner may connect (mode 0600, as
//! podman's), and a second service on the same path is refused rather
//! than stealing the first one's socket.

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use tokio::net::UnixListener;

#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    #[error("{0} is in use by a running service; stop it, or pass another --socket")]
    InUse(PathBuf),
    #[error("{0} exists and is not a socket; pass another --socket (nothing was removed)")]
    NotASocket(PathBuf),
    #[error("cannot listen on {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Listens on `path`, replacing a socket left by a service that is gone.
pub fn bind(path: &Path) -> Result<UnixListener, ListenError> {
    let io = |source| ListenError::Io {
        path: path.to_path_buf(),
        source,
    };
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !meta.file_type().is_socket() {
            return Err(ListenError::NotASocket(path.to_path_buf()));
        }
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(ListenError::InUse(path.to_path_buf()));
        }
        std::fs::remove_file(path).map_err(io)?;
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    // Bound in a private directory first and renamed into place, so the
    // socket is never reachable before its mode is 0600.
    let staging = tempfile_dir(path).map_err(io)?;
    let staged = staging.join("s");
    let bound = std::os::unix::net::UnixListener::bind(&staged).map_err(io)?;
    std::fs::set_permissions(&staged, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
    std::fs::rename(&staged, path).map_err(io)?;
    let _ = std::fs::remove_dir(&staging);
    bound.set_nonblocking(true).map_err(io)?;
    UnixListener::from_std(bound).map_err(io)
}

/// A 0700 directory beside `path`.
fn tempfile_dir(path: &Path) -> std::io::Result<PathBuf> {
    let dir = path.with_extension(format!("staging-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir(&dir)?;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn owner_only_and_one_service_per_path() {
        let dir = std::env::temp_dir().join(format!("hutch-api-listen-{}", std::process::id()));
        let path = dir.join("docker.sock");
        let listener = bind(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(matches!(bind(&path), Err(ListenError::InUse(_))));
        drop(listener);
        // A socket nobody serves is replaced; any other file is kept.
        bind(&path).unwrap();
        let file = dir.join("notes.txt");
        std::fs::write(&file, "mine").unwrap();
        assert!(matches!(bind(&file), Err(ListenError::NotASocket(_))));
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "mine");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
