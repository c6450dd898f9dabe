//! The host image store under `$HUTCH_HOME/store`: blobs by sha256 and
//! references (name:tag → manifest digest).
//!
//! A blob is written to `tmp/`, hashed as it streams, fsynced, checked
//! against the digest it should have, and only then renamed into `blobs/`:
//! a process killed at any point leaves no half blob visible. Reference
//! changes and garbage collection hold an exclusive flock on `lock`, so
//! concurrent hutch processes do not lose each other's updates.

use crate::home::{ensure_dir, replace_file, HomeError};
use crate::kind::ErrorKind;
pub use protocol::Digest;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{self, Write};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Home(#[from] HomeError),
    #[error("{what}")]
    Io { what: String, source: io::Error },
    #[error("content digest mismatch: expected {expected}, got {actual}; nothing was stored")]
    DigestMismatch { expected: Digest, actual: Digest },
    #[error("blob {digest} is missing from the store")]
    MissingBlob { digest: Digest, source: io::Error },
    #[error("the store's refs.json is corrupt")]
    CorruptRefs(#[source] serde_json::Error),
}

impl StoreError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            StoreError::Home(e) => e.kind(),
            StoreError::DigestMismatch { .. } => ErrorKind::InvalidInput,
            _ => ErrorKind::Internal,
        }
    }

    /// An I/O failure while doing `what`.
    pub fn io(what: impl Into<String>) -> impl FnOnce(io::Error) -> StoreError {
        let what = what.into();
        move |source| StoreError::Io { what, source }
    }
}

type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Hashes everything written through it.
pub struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    pub written: u64,
}

impl<W: Write> HashingWriter<W> {
    pub fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hasher: Sha256::new(),
            written: 0,
        }
    }

    pub fn finish(self) -> (W, Digest, u64) {
        let digest = Digest::from_hash(self.hasher.finalize().into());
        (self.inner, digest, self.written)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Refs {
    /// Full reference (e.g. `docker.io/library/alpine:latest`) → manifest digest.
    tags: BTreeMap<String, Digest>,
    /// Manifests kept without a name (docker's dangling images: a commit
    /// given no name).
    #[serde(default)]
    untagged: BTreeSet<Digest>,
    /// The build cache: a build step's key (its parent, instruction and
    /// sources) → the image that step made.
    #[serde(default)]
    build_cache: BTreeMap<String, Digest>,
}

pub struct Store {
    root: PathBuf,
}

/// A blob being written to a temp file in the store. Nothing is visible
/// until `commit` has fsynced it and checked its digest; dropped without a
/// commit (an error on the way), the temp file is removed.
pub struct BlobWriter<'a> {
    store: &'a Store,
    out: Option<HashingWriter<File>>,
    tmp: PathBuf,
}

impl BlobWriter<'_> {
    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.out.as_ref().map_or(0, |o| o.written)
    }

    /// Makes the blob visible under its digest, which must be `expected`
    /// when one is given.
    pub fn commit(mut self, expected: Option<&Digest>) -> Result<Digest> {
        let out = self.out.take().ok_or_else(|| StoreError::Io {
            what: "committing a blob".into(),
            source: io::Error::other("blob already committed"),
        })?;
        let (file, actual, _) = out.finish();
        file.sync_all()
            .map_err(StoreError::io("syncing a blob to disk"))?;
        if let Some(want) = expected {
            if *want != actual {
                return Err(StoreError::DigestMismatch {
                    expected: want.clone(),
                    actual,
                });
            }
        }
        std::fs::rename(&self.tmp, self.store.blob_path(&actual))
            .map_err(StoreError::io("moving a blob into the store"))?;
        Ok(actual)
    }
}

impl Write for BlobWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match &mut self.out {
            Some(out) => out.write(buf),
            None => Err(std::io::Error::other("blob already committed")),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.out.as_mut().map_or(Ok(()), |o| o.flush())
    }
}

impl Drop for BlobWriter<'_> {
    fn drop(&mut self) {
        // After a successful commit the temp name no longer exists.
        let _ = std::fs::remove_file(&self.tmp);
    }
}

/// Holds the store's exclusive lock until dropped.
pub struct StoreLock(#[allow(dead_code)] File);

impl Store {
    /// The store at `root` (`<home>/store`), created if needed.
    pub fn open(root: PathBuf) -> Result<Store> {
        for dir in ["blobs/sha256", "tmp", "unpacked"] {
            ensure_dir(&root.join(dir))?;
        }
        let store = Store { root };
        store.remove_orphaned_temp_files();
        Ok(store)
    }

    /// Temp files are named `<pid>-<n>`; those of processes that died (a
    /// killed pull or load) are never going to be committed.
    fn remove_orphaned_temp_files(&self) {
        let Ok(entries) = std::fs::read_dir(self.root.join("tmp")) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(pid) = name.split('-').next().and_then(|p| p.parse::<i32>().ok()) else {
                continue;
            };
            // SAFETY: kill(2) with signal 0 only checks whether the pid exists.
            let gone = unsafe { libc::kill(pid, 0) } != 0
                && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH);
            if gone {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }

    /// The store at an already-created root (for tasks that outlive a borrow).
    pub fn at(root: PathBuf) -> Store {
        Store { root }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn lock(&self) -> Result<StoreLock> {
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.root.join("lock"))
            .map_err(StoreError::io("opening the store lock"))?;
        // SAFETY: flock(2) on an fd we own; blocks until other hutch processes are done.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(StoreError::io("locking the image store")(
                io::Error::last_os_error(),
            ));
        }
        Ok(StoreLock(file))
    }

    /// [`Store::lock`] for async callers: the wait for another holder
    /// (another process, or another request of the API service) happens
    /// on a blocking thread, so no runtime worker is held up by it.
    pub async fn lock_async(&self) -> Result<StoreLock> {
        let store = Store::at(self.root.clone());
        tokio::task::spawn_blocking(move || store.lock())
            .await
            .map_err(|e| StoreError::io("locking the image store")(io::Error::other(e)))?
    }

    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root.join("blobs/sha256").join(digest.hex())
    }

    pub fn read_blob(&self, digest: &Digest) -> Result<Vec<u8>> {
        std::fs::read(self.blob_path(digest)).map_err(|source| StoreError::MissingBlob {
            digest: digest.clone(),
            source,
        })
    }

    /// A temp file in the store, on the same filesystem as the blobs.
    fn temp_file(&self) -> Result<(File, PathBuf)> {
        static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = self
            .root
            .join("tmp")
            .join(format!("{}-{n}", std::process::id()));
        let file =
            File::create(&path).map_err(StoreError::io(format!("creating {}", path.display())))?;
        Ok((file, path))
    }

    /// A new blob, hashed as it is written; it becomes visible on `commit`.
    pub fn blob_writer(&self) -> Result<BlobWriter<'_>> {
        let (file, tmp) = self.temp_file()?;
        Ok(BlobWriter {
            store: self,
            out: Some(HashingWriter::new(file)),
            tmp,
        })
    }

    /// Stores `bytes` as a blob.
    pub fn put_bytes(&self, bytes: &[u8], expected: Option<&Digest>) -> Result<Digest> {
        let mut blob = self.blob_writer()?;
        blob.write_all(bytes)
            .map_err(StoreError::io("writing a blob"))?;
        blob.commit(expected)
    }

    fn refs_path(&self) -> PathBuf {
        self.root.join("refs.json")
    }

    fn load_refs(&self) -> Result<Refs> {
        match std::fs::read(self.refs_path()) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(StoreError::CorruptRefs),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Refs::default()),
            Err(e) => Err(StoreError::io("reading refs.json")(e)),
        }
    }

    fn save_refs(&self, refs: &Refs) -> Result<()> {
        let (mut file, tmp) = self.temp_file()?;
        let bytes = serde_json::to_vec_pretty(refs).map_err(StoreError::CorruptRefs)?;
        file.write_all(&bytes)
            .and_then(|()| file.sync_all())
            .and_then(|()| std::fs::rename(&tmp, self.refs_path()))
            .map_err(StoreError::io("saving refs.json"))
    }

    /// All references, sorted.
    pub fn tags(&self) -> Result<BTreeMap<String, Digest>> {
        Ok(self.load_refs()?.tags)
    }

    /// The references that name manifest `digest`, sorted.
    pub fn tags_of(&self, digest: &Digest) -> Result<Vec<String>> {
        Ok(self
            .load_refs()?
            .tags
            .into_iter()
            .filter(|(_, d)| d == digest)
            .map(|(t, _)| t)
            .collect())
    }

    pub fn resolve(&self, reference: &str) -> Result<Option<Digest>> {
        Ok(self.load_refs()?.tags.get(reference).cloned())
    }

    /// Names `manifest` `reference`; a named image is no longer dangling.
    pub fn set_tag(&self, _lock: &StoreLock, reference: &str, manifest: &Digest) -> Result<()> {
        let mut refs = self.load_refs()?;
        refs.tags.insert(reference.to_string(), manifest.clone());
        refs.untagged.remove(manifest);
        self.save_refs(&refs)
    }

    /// Keeps `manifest` without a name.
    pub fn keep_untagged(&self, _lock: &StoreLock, manifest: &Digest) -> Result<()> {
        let mut refs = self.load_refs()?;
        refs.untagged.insert(manifest.clone());
        self.save_refs(&refs)
    }

    /// Stops keeping `manifest` without a name (it goes with the next
    /// garbage collection unless a name holds it).
    pub fn forget_untagged(&self, _lock: &StoreLock, manifest: &Digest) -> Result<()> {
        let mut refs = self.load_refs()?;
        if refs.untagged.remove(manifest) {
            self.save_refs(&refs)?;
        }
        Ok(())
    }

    /// The manifests kept without a name.
    pub fn untagged(&self) -> Result<BTreeSet<Digest>> {
        Ok(self.load_refs()?.untagged)
    }

    /// Every manifest the store keeps: named, unnamed or cached by builds.
    pub fn kept(&self) -> Result<BTreeSet<Digest>> {
        let refs = self.load_refs()?;
        Ok(refs
            .tags
            .into_values()
            .chain(refs.untagged)
            .chain(refs.build_cache.into_values())
            .collect())
    }

    /// The image a build step with `key` made before, if cached.
    pub fn cached_step(&self, key: &str) -> Result<Option<Digest>> {
        Ok(self.load_refs()?.build_cache.get(key).cloned())
    }

    /// Caches `manifest` as what the build step with `key` makes.
    pub fn cache_step(&self, _lock: &StoreLock, key: &str, manifest: &Digest) -> Result<()> {
        let mut refs = self.load_refs()?;
        refs.build_cache.insert(key.to_string(), manifest.clone());
        self.save_refs(&refs)
    }

    /// Empties the build cache; how many steps it held.
    pub fn clear_build_cache(&self, _lock: &StoreLock) -> Result<usize> {
        let mut refs = self.load_refs()?;
        let steps = std::mem::take(&mut refs.build_cache).len();
        self.save_refs(&refs)?;
        Ok(steps)
    }

    /// Removes a reference; returns the digest it pointed at.
    pub fn remove_tag(&self, _lock: &StoreLock, reference: &str) -> Result<Option<Digest>> {
        let mut refs = self.load_refs()?;
        let old = refs.tags.remove(reference);
        self.save_refs(&refs)?;
        Ok(old)
    }

    fn unpacked_size_path(&self, layer: &Digest) -> PathBuf {
        self.root.join("unpacked").join(layer.hex())
    }

    /// Notes how many bytes a layer blob unpacks to (the size docker shows);
    /// learnt for free while its diff id is checked.
    pub fn record_unpacked_size(&self, layer: &Digest, bytes: u64) -> Result<()> {
        let path = self.unpacked_size_path(layer);
        replace_file(&path, bytes.to_string().as_bytes(), 0o644)
            .map_err(StoreError::io(format!("writing {}", path.display())))
    }

    pub fn unpacked_size(&self, layer: &Digest) -> Option<u64> {
        std::fs::read_to_string(self.unpacked_size_path(layer))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// Deletes every blob not in `live`; returns the bytes freed. The
    /// caller works out what is live (see `image::collect_garbage`).
    pub fn remove_blobs_except(&self, _lock: &StoreLock, live: &BTreeSet<Digest>) -> Result<u64> {
        let dir = self.root.join("blobs/sha256");
        let entries = std::fs::read_dir(&dir).map_err(StoreError::io("listing the store"))?;
        let mut freed = 0;
        for entry in entries {
            let entry = entry.map_err(StoreError::io("listing the store"))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let Ok(digest) = format!("sha256:{name}").parse::<Digest>() else {
                continue;
            };
            if !live.contains(&digest) {
                freed += entry.metadata().map(|m| m.len()).unwrap_or(0);
                std::fs::remove_file(entry.path())
                    .map_err(StoreError::io(format!("removing blob {digest}")))?;
                let _ = std::fs::remove_file(self.unpacked_size_path(&digest));
            }
        }
        Ok(freed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_store(name: &str) -> (Store, PathBuf) {
        let home = std::env::temp_dir().join(format!("hutch-store-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&home);
        (Store::open(home.join("store")).unwrap(), home)
    }

    #[test]
    fn blobs_are_content_addressed_and_verified() {
        let (store, home) = temp_store("blobs");
        let d = store.put_bytes(b"hello", None).unwrap();
        assert_eq!(
            d.as_str(),
            "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        assert_eq!(store.read_blob(&d).unwrap(), b"hello");
        let wrong = Digest::of(b"other");
        let err = store.put_bytes(b"hello!", Some(&wrong)).unwrap_err();
        assert!(err.to_string().contains("digest mismatch"), "{err}");
        assert!(
            !store.blob_path(&Digest::of(b"hello!")).exists(),
            "a mismatching blob is not kept"
        );
        assert_eq!(
            std::fs::read_dir(home.join("store/tmp")).unwrap().count(),
            0,
            "no temp files left"
        );
        let _ = std::fs::remove_dir_all(home);
    }
}
