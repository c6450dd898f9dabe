//! The unpacker on real tars in temporary directories (run as root, as the
//! agent does: ownership, device nodes and trusted xattrs need it).

use super::{unpack, UnpackError, Unpacking};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let p = std::env::temp_dir().join(format!(
            "hutch-unpack-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(p.join("layer")).unwrap();
        TempDir(p)
    }
    fn layer(&self) -> PathBuf {
        self.0.join("layer")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// A tar built entry by entry.
struct Tar(tar::Builder<Vec<u8>>);

impl Tar {
    fn new() -> Self {
        Tar(tar::Builder::new(Vec::new()))
    }
    fn header(kind: tar::EntryType, mode: u32) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_mtime(1_000_000);
        h.set_size(0);
        h
    }
    /// Writes the name into the raw header, bypassing the builder's own
    /// path checks, as a hostile layer would.
    fn raw(mut self, mut h: tar::Header, name: &str, data: &[u8]) -> Self {
        let bytes = name.as_bytes();
        h.as_old_mut().name[..bytes.len()].copy_from_slice(bytes);
        h.set_size(data.len() as u64);
        h.set_cksum();
        self.0.append(&h, data).unwrap();
        self
    }
    fn file(self, name: &str, data: &[u8], mode: u32, uid: u64) -> Self {
        let mut h = Self::header(tar::EntryType::Regular, mode);
        h.set_uid(uid);
        h.set_gid(uid);
        self.raw(h, name, data)
    }
    fn dir(self, name: &str) -> Self {
        self.raw(Self::header(tar::EntryType::Directory, 0o755), name, b"")
    }
    fn link(self, kind: tar::EntryType, name: &str, target: &str) -> Self {
        let mut h = Self::header(kind, 0o777);
        h.set_link_name(target).unwrap();
        self.raw(h, name, b"")
    }
    fn bytes(self) -> Vec<u8> {
        self.0.into_inner().unwrap()
    }
}

fn unpack_into(dir: &TempDir, tar: Vec<u8>) -> Result<super::Unpacked, UnpackError> {
    unpack(&tar[..], &dir.layer(), &Unpacking::LAYER)
}

#[test]
fn files_links_and_metadata_survive() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let d = TempDir::new();
    let mut t = Tar::new()
        .dir("etc/")
        .file("etc/motd", b"hello", 0o4755, 1000)
        .link(tar::EntryType::Symlink, "etc/link", "/etc/motd")
        .link(tar::EntryType::Link, "etc/hard", "etc/motd");
    let mut fifo = Tar::header(tar::EntryType::Fifo, 0o600);
    fifo.set_uid(0);
    t = t.raw(fifo, "run/fifo", b"");
    let mut dev = Tar::header(tar::EntryType::Char, 0o666);
    dev.set_device_major(1).unwrap();
    dev.set_device_minor(3).unwrap();
    t = t.raw(dev, "dev/null", b"");
    let stats = unpack_into(&d, t.bytes()).unwrap();
    assert_eq!(stats.file_bytes, 5);
    let root = d.layer();
    let motd = std::fs::metadata(root.join("etc/motd")).unwrap();
    assert_eq!(std::fs::read(root.join("etc/motd")).unwrap(), b"hello");
    assert_eq!((motd.uid(), motd.gid()), (1000, 1000));
    assert_eq!(motd.mode() & 0o7777, 0o4755);
    assert_eq!(motd.mtime(), 1_000_000);
    assert_eq!(motd.nlink(), 2);
    assert_eq!(
        std::fs::read_link(root.join("etc/link")).unwrap(),
        Path::new("/etc/motd")
    );
    assert!(std::fs::symlink_metadata(root.join("run/fifo"))
        .unwrap()
        .file_type()
        .is_fifo());
    let null = std::fs::symlink_metadata(root.join("dev/null")).unwrap();
    assert!(null.file_type().is_char_device());
    assert_eq!(null.rdev(), libc::makedev(1, 3));
    assert_eq!(
        std::fs::metadata(root.join("etc")).unwrap().mtime(),
        1_000_000
    );
}

#[test]
fn whiteouts_become_overlay_whiteouts() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let d = TempDir::new();
    let t = Tar::new()
        .file("etc/.wh.gone", b"", 0o644, 0)
        .file("var/cache/.wh..wh..opq", b"", 0o644, 0)
        .file(".wh..wh.plnk", b"", 0o644, 0);
    unpack_into(&d, t.bytes()).unwrap();
    let root = d.layer();
    let gone = std::fs::symlink_metadata(root.join("etc/gone")).unwrap();
    assert!(gone.file_type().is_char_device());
    assert_eq!(gone.rdev(), 0);
    let mut value = [0u8; 4];
    let path = std::ffi::CString::new(root.join("var/cache").to_str().unwrap()).unwrap();
    // SAFETY: valid path, name and buffer.
    let n = unsafe {
        libc::lgetxattr(
            path.as_ptr(),
            c"trusted.overlay.opaque".as_ptr(),
            value.as_mut_ptr() as *mut libc::c_void,
            value.len(),
        )
    };
    assert_eq!(n, 1);
    assert_eq!(value[0], b'y');
    assert!(!root.join(".wh..wh.plnk").exists());
    assert!(!root.join("var/cache/.wh..wh..opq").exists());
}

#[test]
fn parent_dir_entries_are_refused() {
    let d = TempDir::new();
    let t = Tar::new().file("../../etc/passwd", b"root::0:0::/:/bin/sh\n", 0o644, 0);
    let err = unpack_into(&d, t.bytes()).unwrap_err();
    assert!(matches!(err, UnpackError::Unsafe { .. }), "{err}");
    assert!(err.to_string().contains("../../etc/passwd"));
    assert!(!d.0.join("etc").exists());
}

#[test]
fn absolute_names_stay_inside() {
    let d = TempDir::new();
    let t = Tar::new().file("/abs/file", b"x", 0o644, 0);
    unpack_into(&d, t.bytes()).unwrap();
    assert!(d.layer().join("abs/file").is_file());
}

#[test]
fn writing_through_a_symlink_is_refused() {
    let d = TempDir::new();
    let outside = d.0.join("outside");
    std::fs::create_dir(&outside).unwrap();
    let t = Tar::new()
        .link(tar::EntryType::Symlink, "evil", outside.to_str().unwrap())
        .file("evil/planted", b"x", 0o644, 0);
    let err = unpack_into(&d, t.bytes()).unwrap_err();
    assert!(err.to_string().contains("symlink evil"), "{err}");
    assert!(!outside.join("planted").exists());
}

#[test]
fn hard_links_out_of_the_layer_are_refused() {
    let d = TempDir::new();
    let t = Tar::new().link(tar::EntryType::Link, "passwd", "../../etc/passwd");
    assert!(matches!(
        unpack_into(&d, t.bytes()).unwrap_err(),
        UnpackError::Unsafe { .. }
    ));
    let t = Tar::new().link(tar::EntryType::Link, "x", "not/here");
    assert!(unpack_into(&d, t.bytes()).is_err());
}

#[test]
fn later_entries_replace_earlier_ones() {
    let d = TempDir::new();
    let t = Tar::new()
        .file("a", b"file first", 0o644, 0)
        .dir("a/")
        .file("a/b", b"inside", 0o644, 0)
        .file("c", b"old", 0o644, 0)
        .file("c", b"new", 0o644, 0);
    unpack_into(&d, t.bytes()).unwrap();
    assert_eq!(std::fs::read(d.layer().join("a/b")).unwrap(), b"inside");
    assert_eq!(std::fs::read(d.layer().join("c")).unwrap(), b"new");
}

#[test]
fn a_truncated_tar_is_an_error() {
    let d = TempDir::new();
    let bytes = Tar::new().file("big", &[7u8; 10_000], 0o644, 0).bytes();
    let err = unpack_into(&d, bytes[..3000].to_vec()).unwrap_err();
    assert!(matches!(err, UnpackError::Corrupt(_)), "{err}");
}

/// How `cp` unpacks into a container: its root's owner, kinds kept.
fn copy_into(dir: &TempDir, tar: Vec<u8>) -> Result<super::Unpacked, UnpackError> {
    let how = Unpacking {
        whiteouts: false,
        owner: &|_, _| (0, 0),
        keep_kinds: true,
        refuse: &|target| {
            target
                .ends_with("mnt/vol/x")
                .then(|| "a volume is mounted there".to_string())
        },
    };
    unpack(&tar[..], &dir.layer(), &how)
}

#[test]
fn a_copy_keeps_whiteout_names_as_files_and_gives_them_to_the_owner() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let d = TempDir::new();
    let t = Tar::new().file("etc/.wh.kept", b"plain", 0o640, 1000);
    copy_into(&d, t.bytes()).unwrap();
    let kept = std::fs::symlink_metadata(d.layer().join("etc/.wh.kept")).unwrap();
    assert!(kept.is_file());
    assert_eq!((kept.uid(), kept.mode() & 0o777), (0, 0o640));
}

#[test]
fn a_copy_never_swaps_a_directory_for_a_file() {
    let d = TempDir::new();
    std::fs::create_dir(d.layer().join("conf")).unwrap();
    std::fs::write(d.layer().join("conf/keep"), b"x").unwrap();
    let t = Tar::new().file("conf", b"a file now", 0o644, 0);
    let err = copy_into(&d, t.bytes()).unwrap_err();
    assert!(err.to_string().contains("replace a directory"), "{err}");
    assert!(d.layer().join("conf/keep").is_file());
    std::fs::write(d.layer().join("plain"), b"x").unwrap();
    let t = Tar::new().dir("plain/");
    let err = copy_into(&d, t.bytes()).unwrap_err();
    assert!(err.to_string().contains("replace a non-directory"), "{err}");
}

#[test]
fn a_copy_refuses_what_its_check_refuses() {
    let d = TempDir::new();
    let t = Tar::new()
        .file("mnt/ok", b"x", 0o644, 0)
        .file("mnt/vol/x", b"x", 0o644, 0);
    let err = copy_into(&d, t.bytes()).unwrap_err();
    assert!(
        err.to_string().contains("a volume is mounted there"),
        "{err}"
    );
    assert!(!d.layer().join("mnt/vol/x").exists());
}
