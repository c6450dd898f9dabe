//! `hutch cp`: files between the host and a container, with docker's
//! rules for where they land (into an existing directory; as the
//! destination's name otherwise; a source ending in `/.` copies a
//! directory's contents). Paths in the container resolve inside its root;
//! what comes out is written on the host only below the destination.

use super::MachineArg;
use anyhow::{anyhow, bail, Context};
use engine::container::{is_missing_path, CopyOptions, PathStat};
use engine::Engine;
use std::fs;
use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};
use tokio_util::io::SyncIoBridge;

/// Bytes in flight between the network side and the tar side.
const PIPE_BYTES: usize = 256 << 10;

#[derive(clap::Args)]
pub struct CpArgs {
    /// CONTAINER:SRC_PATH, a host path, or - (a tar read from stdin)
    src: String,
    /// CONTAINER:DEST_PATH, a host path, or - (a tar written to stdout)
    dest: String,
    /// Archive mode: keep owners (uid/gid) rather than give the copy to
    /// the container's root, or to you on the host
    #[arg(short, long)]
    archive: bool,
    /// Copy what a symlink given as the source points to
    #[arg(short = 'L', long)]
    follow_link: bool,
    #[command(flatten)]
    machine: MachineArg,
}

/// One side of a copy.
#[derive(Debug, PartialEq, Eq)]
enum Place<'a> {
    Host(&'a str),
    Container { name: &'a str, path: String },
}

/// docker's reading: `NAME:PATH` is in a container unless the argument
/// starts like a host path (`/`, `.`) or is `-`.
fn place(arg: &str) -> Place<'_> {
    if arg == "-" || arg.starts_with('/') || arg.starts_with('.') {
        return Place::Host(arg);
    }
    match arg.split_once(':') {
        Some((name, path)) if !name.is_empty() => Place::Container {
            name,
            path: if path.starts_with('/') {
                path.to_string()
            } else {
                format!("/{path}")
            },
        },
        _ => Place::Host(arg),
    }
}

/// `hutch cp SRC DEST`.
pub async fn run(engine: &Engine, a: CpArgs) -> anyhow::Result<i32> {
    let machine = a.machine.machine.as_str();
    match (place(&a.src), place(&a.dest)) {
        (Place::Container { name, path }, Place::Host(dest)) => {
            copy_out(engine, machine, name, path, dest, &a).await?
        }
        (Place::Host(src), Place::Container { name, path }) => {
            copy_in(engine, machine, src, name, path, &a).await?
        }
        (Place::Container { .. }, Place::Container { .. }) => {
            bail!("copying between containers is not supported: copy to the host, then on")
        }
        (Place::Host(_), Place::Host(_)) => {
            bail!("one of SRC and DEST must be CONTAINER:PATH")
        }
    }
    Ok(0)
}

/// A path's last component, for naming what is copied.
fn base_name(path: &str) -> Option<String> {
    Path::new(path)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
}

async fn copy_out(
    engine: &Engine,
    machine: &str,
    container: &str,
    mut path: String,
    dest: &str,
    a: &CpArgs,
) -> anyhow::Result<()> {
    // `-L`: the link's target, named as the link.
    let mut named_as = None;
    if a.follow_link {
        let stat = engine.stat_in_container(machine, container, &path).await?;
        if stat.is_symlink() {
            named_as = Some(stat.name);
            path = stat.link_target;
        }
    }
    let (stat, mut reader) = engine
        .copy_from_container(machine, container, &path)
        .await?;
    if dest == "-" {
        reader.copy_to(&mut tokio::io::stdout()).await?;
        return Ok(());
    }
    let plan = Landing::on_host(&stat, named_as, Path::new(dest))?;
    let keep_owners = a.archive;
    let (mut pipe, tar) = tokio::io::duplex(PIPE_BYTES);
    let extract =
        tokio::task::spawn_blocking(move || plan.extract(SyncIoBridge::new(tar), keep_owners));
    let pumped = reader.copy_to(&mut pipe).await;
    drop(pipe);
    // The extractor's error explains a broken pipe better than the pipe.
    extract.await??;
    Ok(pumped?)
}

/// Where a tar out of a container lands on the host: its top entry,
/// `from`, becomes `dir/to` (`to` is `.` to merge into `dir` itself).
#[derive(Debug, PartialEq, Eq)]
struct Landing {
    dir: PathBuf,
    from: String,
    to: String,
}

impl Landing {
    fn on_host(stat: &PathStat, named_as: Option<String>, dest: &Path) -> anyhow::Result<Landing> {
        let from = match stat.name.as_str() {
            "/" => ".".to_string(),
            name => one_name(name)?,
        };
        let shown = match named_as {
            Some(name) => one_name(&name)?,
            None => from.clone(),
        };
        let dest_text = dest.to_string_lossy();
        match fs::metadata(dest) {
            Ok(m) if m.is_dir() => Ok(Landing {
                dir: dest.to_path_buf(),
                to: shown,
                from,
            }),
            Ok(_) if stat.is_dir() => bail!("cannot copy a directory to a file: {dest_text}"),
            Ok(_) => Ok(Landing {
                dir: parent_of(dest),
                to: base_name(&dest_text).context("no file name in the destination")?,
                from,
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if dest_text.ends_with('/') {
                    bail!("the directory {dest_text} does not exist: create it first, or leave out the trailing /");
                }
                let dir = parent_of(dest);
                if !dir.is_dir() {
                    bail!("the directory {} does not exist", dir.display());
                }
                Ok(Landing {
                    dir,
                    to: base_name(&dest_text).context("no file name in the destination")?,
                    from,
                })
            }
            Err(e) => Err(e).with_context(|| format!("looking at {dest_text}")),
        }
    }

    /// An entry's path under `dir`, or `None` for the top of a merge.
    fn target(&self, entry: &Path) -> anyhow::Result<Option<PathBuf>> {
        let mut parts = Vec::new();
        for c in entry.components() {
            match c {
                Component::Normal(p) => parts.push(p.to_os_string()),
                Component::CurDir | Component::RootDir => {}
                _ => bail!("unsafe entry in the copy: {}", entry.display()),
            }
        }
        if self.from != "." {
            if parts.first().is_none_or(|p| *p != *self.from) {
                bail!("unexpected entry in the copy: {}", entry.display());
            }
            parts.remove(0);
        }
        let mut rel = PathBuf::new();
        if self.to != "." {
            rel.push(&self.to);
        }
        rel.extend(parts);
        Ok((!rel.as_os_str().is_empty()).then(|| self.dir.join(rel)))
    }

    fn extract(&self, tar: impl Read, keep_owners: bool) -> anyhow::Result<()> {
        let mut archive = tar::Archive::new(tar);
        archive.set_preserve_permissions(true);
        archive.set_preserve_ownerships(keep_owners);
        for entry in archive.entries()? {
            let mut entry = entry?;
            let name = entry.path()?.into_owned();
            if entry.header().entry_type().is_hard_link() {
                bail!("unexpected hard link in the copy: {}", name.display());
            }
            let Some(target) = self.target(&name)? else {
                continue;
            };
            real_parents(&self.dir, &target)?;
            entry
                .unpack(&target)
                .with_context(|| format!("writing {}", target.display()))?;
        }
        Ok(())
    }
}

/// A name the machine gave the copy: one file name (or `.`), never a
/// path that could lead above the destination.
fn one_name(name: &str) -> anyhow::Result<String> {
    if name == "." || !(name.is_empty() || name == ".." || name.contains('/')) {
        return Ok(name.to_string());
    }
    bail!("the machine named the copy {name:?}, which is not a file name")
}

fn parent_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Every directory between `base` and `target` is a real one (created
/// if missing): an entry is never written through a symlink the copy
/// itself brought.
fn real_parents(base: &Path, target: &Path) -> anyhow::Result<()> {
    let rel = target.strip_prefix(base).unwrap_or(target);
    let mut dir = base.to_path_buf();
    let parents: Vec<_> = rel
        .parent()
        .into_iter()
        .flat_map(Path::components)
        .collect();
    for part in parents {
        dir.push(part);
        match fs::symlink_metadata(&dir) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => bail!(
                "refusing to write through {}: it is not a directory",
                dir.display()
            ),
            Err(_) => {
                fs::create_dir(&dir).with_context(|| format!("creating {}", dir.display()))?
            }
        }
    }
    Ok(())
}

async fn copy_in(
    engine: &Engine,
    machine: &str,
    src: &str,
    container: &str,
    path: String,
    a: &CpArgs,
) -> anyhow::Result<()> {
    let options = CopyOptions {
        copy_owner: a.archive,
        keep_kinds: true,
    };
    if src == "-" {
        let stdin = tokio::io::stdin();
        return Ok(engine
            .copy_to_container(machine, container, &path, options, stdin)
            .await?);
    }
    let source = if a.follow_link {
        fs::canonicalize(src).with_context(|| format!("no such file or directory: {src}"))?
    } else {
        PathBuf::from(src)
    };
    let meta = fs::symlink_metadata(&source)
        .with_context(|| format!("no such file or directory: {src}"))?;
    let contents = src.ends_with("/.") || src == ".";
    if contents && !meta.is_dir() {
        bail!("{src} is not a directory");
    }
    let found = destination(engine, machine, container, path).await?;
    let (into, name) = match found {
        Destination::Directory(dir) => {
            let name = if contents {
                ".".to_string()
            } else {
                base_name(src).ok_or_else(|| anyhow!("no file name in {src}"))?
            };
            (dir, name)
        }
        Destination::File(path) if meta.is_dir() => {
            bail!("cannot copy a directory to a file: {path}")
        }
        Destination::Missing(path) if path.ends_with('/') && !meta.is_dir() => {
            bail!("the directory {path} does not exist in {container}: create it first, or leave out the trailing /")
        }
        Destination::File(path) | Destination::Missing(path) => {
            let parent = Path::new(&path)
                .parent()
                .map_or("/".to_string(), |p| p.to_string_lossy().into_owned());
            let name = base_name(&path).ok_or_else(|| anyhow!("no file name in {path}"))?;
            (parent, name)
        }
    };
    let (pipe, tar) = tokio::io::duplex(PIPE_BYTES);
    let build = tokio::task::spawn_blocking(move || {
        let mut builder = tar::Builder::new(SyncIoBridge::new(pipe));
        builder.follow_symlinks(false);
        if meta.is_dir() {
            builder.append_dir_all(&name, &source)?;
        } else {
            builder.append_path_with_name(&source, &name)?;
        }
        builder.into_inner()?.flush()
    });
    let sent = engine
        .copy_to_container(machine, container, &into, options, tar)
        .await;
    let built = build.await?;
    // The machine's refusal explains a broken pipe better than the pipe.
    sent?;
    built.with_context(|| format!("reading {src}"))
}

/// What a copy's destination in the container is.
enum Destination {
    Directory(String),
    File(String),
    Missing(String),
}

/// The destination, a symlink there taken to its target as docker does.
async fn destination(
    engine: &Engine,
    machine: &str,
    container: &str,
    mut path: String,
) -> anyhow::Result<Destination> {
    let mut stat = engine.stat_in_container(machine, container, &path).await;
    let link_target = stat
        .as_ref()
        .ok()
        .filter(|s| s.is_symlink())
        .map(|s| s.link_target.clone());
    if let Some(target) = link_target {
        path = target;
        stat = engine.stat_in_container(machine, container, &path).await;
    }
    match stat {
        Ok(s) if s.is_dir() => Ok(Destination::Directory(path)),
        Ok(_) => Ok(Destination::File(path)),
        Err(e) if is_missing_path(&e) => Ok(Destination::Missing(path)),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_name_a_container_or_the_host_as_docker_reads_them() {
        assert_eq!(
            place("web:etc/motd"),
            Place::Container {
                name: "web",
                path: "/etc/motd".into()
            }
        );
        assert_eq!(place("./web:1"), Place::Host("./web:1"));
        assert_eq!(place("/tmp/a:b"), Place::Host("/tmp/a:b"));
        assert_eq!(place("-"), Place::Host("-"));
        assert_eq!(place("plain"), Place::Host("plain"));
    }

    #[test]
    fn entries_land_renamed_under_the_destination_and_never_above_it() {
        let renamed = Landing {
            dir: PathBuf::from("/dst"),
            from: "app".into(),
            to: "copy".into(),
        };
        let at = |l: &Landing, p: &str| l.target(Path::new(p)).unwrap();
        assert_eq!(
            at(&renamed, "app/x/y"),
            Some(PathBuf::from("/dst/copy/x/y"))
        );
        assert!(renamed.target(Path::new("other/x")).is_err());
        assert!(renamed.target(Path::new("app/../../etc")).is_err());
        let merged = Landing {
            dir: PathBuf::from("/dst"),
            from: ".".into(),
            to: ".".into(),
        };
        assert_eq!(at(&merged, "./"), None);
        assert_eq!(at(&merged, "./x"), Some(PathBuf::from("/dst/x")));
        assert!(one_name("../..").is_err() && one_name("/x").is_err() && one_name("").is_err());
        assert_eq!(one_name("app.conf").unwrap(), "app.conf");
    }
}
