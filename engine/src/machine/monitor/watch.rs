//! Host file changes told to the machine: the agent connects (vsock to
//! the host's [`WATCH_PORT`], a Unix socket `<vsock>_<port>` here) with the
//! host directories its container bind-mounts; host-side inotify (through
//! `notify`, which also speaks FSEvents and ReadDirectoryChangesW) reports
//! what changes under them, and the agent sets each path's times in the
//! machine to the host's, which wakes watchers in the container (virtio-fs
//! alone tells the guest nothing). Metadata-only changes are not passed
//! on: the agent's own touches come back as those, and must not loop.

use notify::event::{EventKind, ModifyKind};
use notify::{RecursiveMode, Watcher};
use protocol::{read_frame, write_frame, HostChange, WatchEvents, WatchRequest, WATCH_PORT};
use std::collections::BTreeSet;
use std::io::Read;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long changes are gathered before they go to the machine: an editor's
/// save is several events.
const GATHER: Duration = Duration::from_millis(30);

/// The Unix socket where guest connections to the watch port arrive.
pub fn socket_path(vsock: &Path) -> PathBuf {
    let mut path = vsock.as_os_str().to_owned();
    path.push(format!("_{WATCH_PORT}"));
    PathBuf::from(path)
}

/// Listens for the agent's watch requests on its own thread.
pub fn serve(vsock: &Path, shares: Vec<PathBuf>) -> std::io::Result<()> {
    let path = socket_path(vsock);
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path)?;
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let shares = shares.clone();
            std::thread::spawn(move || {
                if let Err(e) = serve_one(stream, &shares) {
                    tracing::debug!("a watch ended: {e}");
                }
            });
        }
    });
    Ok(())
}

fn is_content_change(kind: &EventKind) -> bool {
    match kind {
        EventKind::Create(_) | EventKind::Remove(_) => true,
        EventKind::Modify(ModifyKind::Metadata(_)) => false,
        EventKind::Modify(_) => true,
        EventKind::Access(_) | EventKind::Any | EventKind::Other => false,
    }
}

/// `path` as it is on the host now; None once it is gone.
fn host_change(path: &Path) -> Option<HostChange> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::symlink_metadata(path).ok()?;
    Some(HostChange {
        path: path.to_string_lossy().into_owned(),
        atime: (meta.atime(), meta.atime_nsec()),
        mtime: (meta.mtime(), meta.mtime_nsec()),
    })
}

fn serve_one(stream: UnixStream, shares: &[PathBuf]) -> Result<(), String> {
    let mut reader = stream.try_clone().map_err(|e| e.to_string())?;
    let request: WatchRequest = read_frame(&mut reader)
        .map_err(|e| e.to_string())?
        .ok_or("the agent closed before asking")?;
    // Some(path) for a change, None once the agent has gone.
    let (tx, rx) = mpsc::channel::<Option<PathBuf>>();
    let changes = tx.clone();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let event = event.ok().filter(|e| is_content_change(&e.kind));
        for path in event.into_iter().flat_map(|e| e.paths) {
            let _ = changes.send(Some(path));
        }
    })
    .map_err(|e| e.to_string())?;
    for dir in &request.dirs {
        // Only what the machine may see anyway: inside a share.
        let Ok(real) = std::fs::canonicalize(dir) else {
            continue;
        };
        if crate::machine::shares::containing(shares, &real).is_some() {
            watcher
                .watch(&real, RecursiveMode::Recursive)
                .map_err(|e| format!("watching {}: {e}", real.display()))?;
        }
    }
    std::thread::spawn(move || {
        let _ = reader.read(&mut [0u8; 1]);
        let _ = tx.send(None);
    });
    let mut writer = stream;
    while let Ok(Some(first)) = rx.recv() {
        let mut batch = BTreeSet::from([first]);
        let until = Instant::now() + GATHER;
        loop {
            match rx.recv_timeout(until.saturating_duration_since(Instant::now())) {
                Ok(Some(path)) => {
                    batch.insert(path);
                }
                Ok(None) | Err(mpsc::RecvTimeoutError::Disconnected) => return Ok(()),
                Err(mpsc::RecvTimeoutError::Timeout) => break,
            }
        }
        // A directory's listing changed with each of its entries.
        let dirs: Vec<PathBuf> = batch
            .iter()
            .filter_map(|p| p.parent().map(Path::to_path_buf))
            .collect();
        batch.extend(dirs);
        let changed = batch.iter().filter_map(|p| host_change(p)).collect();
        write_frame(&mut writer, &WatchEvents { changed }).map_err(|e| e.to_string())?;
    }
    Ok(())
}
