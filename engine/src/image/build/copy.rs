//! COPY and ADD: sources from the context (or, with `--from`, from an
//! earlier stage or an image) placed at the destination as docker does: a
//! directory's contents go into it, several sources or a trailing `/` make
//! it a directory, ADD unpacks a local tar. The tar is written on the host
//! while it streams into a container of the parent image, whose layer is
//! then committed; FROM scratch, the tar is the layer.

use super::context::{absolute, clean, join, write_tar, Item, Picked, Rename, Stamp, TarSource};
use super::dockerfile::CopySpec;
use super::stage::StageState;
use super::Build;
use crate::container::{is_missing_path, CopyOptions, PathStat};
use crate::image::commit::{Finish, Keep};
use crate::image::import::store_layer;
use crate::image::manifest::{self, Image};
use crate::image::store::Store;
use crate::image::ImageError;
use serde_json::json;
use std::io::Read;
use std::os::fd::OwnedFd;

/// Where copied things go: the directory that exists already (`anchor`)
/// and the path from it to the destination directory.
struct Place {
    anchor: String,
    below: Vec<String>,
    /// The one file's new name when the destination names a file.
    file_name: Option<String>,
}

impl Place {
    /// `name` as it goes in the tar (relative to the anchor).
    fn name(&self, name: &str) -> String {
        let mut parts = self.below.clone();
        parts.extend(
            name.split('/')
                .filter(|p| !p.is_empty())
                .map(str::to_string),
        );
        parts.join("/")
    }

    /// The directories the copy makes first.
    fn new_dirs(&self) -> Vec<Item> {
        (1..=self.below.len())
            .map(|n| Item::NewDir {
                name: self.below[..n].join("/"),
            })
            .collect()
    }
}

/// The last component of `/`-separated `path`.
fn base_name(path: &str) -> &str {
    path.trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or_default()
}

/// Whether a file is a tar ADD unpacks: a tar, plain or compressed with
/// gzip or zstd. A compressed file that holds no tar is copied as it is,
/// as docker does; xz and bzip2 tars are refused rather than copied whole.
fn is_archive(path: &std::path::Path) -> Result<bool, ImageError> {
    let read = |what: &str| ImageError::io(format!("reading {what} {}", path.display()));
    let file = std::fs::File::open(path).map_err(read("the source"))?;
    let mut head = Vec::with_capacity(512);
    protocol::compression::decompressed(file)
        .and_then(|r| r.take(512).read_to_end(&mut head))
        .map_err(read("the source"))?;
    if head.get(257..262) == Some(b"ustar") {
        return Ok(true);
    }
    let is_xz = head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]);
    if is_xz || head.starts_with(b"BZh") {
        return Err(ImageError::Invalid(format!(
            "ADD {}: xz and bzip2 archives are not unpacked by hutch; give a plain, gzip or zstd tar, or unpack it with RUN",
            path.file_name().unwrap_or_default().to_string_lossy()
        )));
    }
    Ok(false)
}

fn is_url(source: &str) -> bool {
    source.starts_with("http://") || source.starts_with("https://")
}

/// `--chmod`'s octal mode.
fn parse_mode(text: &str) -> Result<u32, ImageError> {
    u32::from_str_radix(text, 8)
        .ok()
        .filter(|m| *m <= 0o7777)
        .ok_or_else(|| {
            ImageError::Invalid(format!("--chmod={text}: give an octal mode such as 0644"))
        })
}

/// A `user[:group]` of names or ids as ids, names looked up in the
/// image's `/etc/passwd` and `/etc/group` (`files` reads one). Without a
/// group, the user's name (or id) is taken as the group's, as docker does.
async fn resolve_owner<F, Fut>(chown: &str, files: F) -> crate::Result<(u64, u64)>
where
    F: Fn(&'static str) -> Fut,
    Fut: std::future::Future<Output = crate::Result<String>>,
{
    let (user, group) = chown.split_once(':').unwrap_or((chown, chown));
    let lookup = |table: &str, name: &str| -> Option<u64> {
        table.lines().find_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            (fields.first() == Some(&name)).then(|| fields.get(2)?.parse().ok())?
        })
    };
    let uid = match user.parse() {
        Ok(uid) => uid,
        Err(_) => lookup(&files("/etc/passwd").await?, user).ok_or_else(|| {
            ImageError::Invalid(format!(
                "--chown={chown}: no user {user} in the image's /etc/passwd"
            ))
        })?,
    };
    let gid = match group.parse() {
        Ok(gid) => gid,
        Err(_) => lookup(&files("/etc/group").await?, group).ok_or_else(|| {
            ImageError::Invalid(format!(
                "--chown={chown}: no group {group} in the image's /etc/group; name one after a colon"
            ))
        })?,
    };
    Ok((uid, gid))
}

/// Where the copy's files come from.
enum Origin {
    Context(Vec<Picked>),
    /// Paths read out of an earlier stage's image or another image: what
    /// each is, and its tar.
    Image(Vec<(PathStat, Vec<u8>)>),
}

impl Origin {
    /// How many things it copies.
    fn count(&self) -> usize {
        match self {
            Origin::Context(picked) => picked.len(),
            Origin::Image(read) => read.len(),
        }
    }

    /// Whether it is one directory (or one archive ADD unpacks), whose
    /// contents go into the destination.
    fn is_one_dir(&self) -> bool {
        match self {
            Origin::Context(picked) => picked.len() == 1 && (picked[0].is_dir || picked[0].unpack),
            Origin::Image(read) => read.len() == 1 && read[0].0.is_dir(),
        }
    }
}

impl Build<'_> {
    pub(super) async fn copy_step(
        &mut self,
        state: &StageState,
        spec: &CopySpec,
        text: &str,
    ) -> crate::Result<Image> {
        let sources: Vec<String> = spec.sources.iter().map(|s| state.expand(s)).collect();
        let dest = state.expand(&spec.dest);
        let chown = spec.chown.as_ref().map(|c| state.expand(c));
        let mode = spec.chmod.as_deref().map(parse_mode).transpose()?;
        if !spec.add && sources.iter().any(|s| is_url(s)) {
            return Err(ImageError::Invalid(format!(
                "{text}: COPY takes files of the context; ADD fetches URLs"
            ))
            .into());
        }
        let (from_image, picked) = match &spec.from {
            Some(from) => (
                Some(self.copy_source(&state.expand(from)).await?),
                Vec::new(),
            ),
            None => {
                let mut picked = Vec::new();
                for source in &sources {
                    if is_url(source) {
                        // Fetched files are copied as they are.
                        picked.push(self.fetch(source).await?);
                        continue;
                    }
                    for mut found in self.context.pick(source)? {
                        found.unpack = spec.add && !found.is_dir && is_archive(&found.path)?;
                        picked.push(found);
                    }
                }
                (None, picked)
            }
        };
        let read = match &from_image {
            Some(image) => image.manifest_digest.as_str().to_string(),
            None => self.context.hash(&picked)?,
        };
        let verb = if spec.add { "ADD" } else { "COPY" };
        let key = state.key(&json!([verb, sources, dest, chown, mode, read]));
        if let Some(image) = self.cached(&key)? {
            self.say(" ---> Using cache\n".into());
            return Ok(image);
        }
        // `dir/`, `dir/.` and `.` name a directory, whatever is there.
        let names_dir = dest.ends_with('/') || dest.ends_with("/.") || dest == ".";
        let dest = absolute(&state.workdir(), &dest);
        let origin = match from_image {
            Some(image) => Origin::Image(self.read_from_image(&image, &sources).await?),
            None => Origin::Context(picked),
        };
        // Several sources (named, or a pattern's matches) go into a
        // directory; so does one directory's (or archive's) content.
        let into_dir = names_dir || origin.count() > 1 || origin.is_one_dir();
        let created_by = format!("/bin/sh -c #(nop) {verb} {} in {dest} ", sources.join(" "));
        let config = state.next_config(created_by, false);
        let Some(parent) = state
            .image
            .as_ref()
            .filter(|i| !i.manifest.layers().is_empty())
        else {
            // FROM scratch: nothing is there, so the tar is the layer.
            let place = place_in_nothing(&dest, into_dir);
            let stamp = Stamp {
                owner: chown.as_deref().map(numeric_owner).transpose()?,
                mode,
            };
            let items = self.items(origin, &place).await?;
            return self.store_tar_layer(items, stamp, config, key).await;
        };
        let container = self
            .engine
            .create_copy_container(
                self.machine,
                &self.step_container(parent, vec!["true".into()], Some(state), vec![])?,
            )
            .await?;
        let made = async {
            let place = self.place(&container, &dest, into_dir).await?;
            let owner = match &chown {
                Some(chown) => {
                    Some(resolve_owner(chown, |path| self.read_text(&container, path)).await?)
                }
                None => None,
            };
            let items = self.items(origin, &place).await?;
            self.copy_in(&container, &place.anchor, items, Stamp { owner, mode })
                .await?;
            self.commit_step(&container, parent, config, key).await
        }
        .await;
        self.discard(&container, made).await
    }

    /// Fetches ADD's `url` for this build.
    async fn fetch(&mut self, url: &str) -> crate::Result<Picked> {
        let local = format!("add-{}", self.downloads.len());
        let download = super::download::fetch(url, &self.scratch_dir, &local).await?;
        let picked = Picked {
            rel: download.name.clone(),
            path: download.path.clone(),
            is_dir: false,
            unpack: false,
        };
        self.downloads.push(download);
        Ok(picked)
    }

    /// The image `--from` names: a stage by name or index, or an image.
    async fn copy_source(&mut self, from: &str) -> crate::Result<Image> {
        let index = match from.parse::<usize>() {
            Ok(index) => Some(index),
            Err(_) => self.names.get(&from.to_lowercase()).copied(),
        };
        let built = match index {
            Some(index) => self
                .stages
                .get(index)
                .ok_or_else(|| {
                    ImageError::Invalid(format!(
                        "COPY --from={from}: there is no earlier stage {index}"
                    ))
                })?
                .image
                .clone(),
            None => Some(self.engine.image_for_build(from).await.map_err(|e| {
                ImageError::Invalid(format!(
                    "COPY --from={from}: no stage is named {from} before this one, and the image {from} is not at hand: {e}"
                ))
            })?),
        };
        built.ok_or_else(|| {
            ImageError::Invalid(format!("COPY --from={from}: that stage has no files")).into()
        })
    }

    /// Where `dest` is in `container`: a directory, or a file's name in
    /// one; and the deepest directory on the way that exists.
    async fn place(&self, container: &str, dest: &str, is_dir: bool) -> crate::Result<Place> {
        let mut is_dir = is_dir;
        if !is_dir {
            match self
                .engine
                .stat_in_container(self.machine, container, dest)
                .await
            {
                Ok(stat) => is_dir = stat.is_dir(),
                Err(e) if is_missing_path(&e) => {}
                Err(e) => return Err(e),
            }
        }
        let (dir, file_name) = split_dest(dest, is_dir);
        let mut anchor: Vec<&str> = dir.split('/').filter(|p| !p.is_empty()).collect();
        let mut below = Vec::new();
        while !anchor.is_empty() {
            let path = format!("/{}", anchor.join("/"));
            match self
                .engine
                .stat_in_container(self.machine, container, &path)
                .await
            {
                Ok(_) => break,
                Err(e) if is_missing_path(&e) => {
                    below.insert(0, anchor.pop().expect("not empty").to_string())
                }
                Err(e) => return Err(e),
            }
        }
        Ok(Place {
            anchor: format!("/{}", anchor.join("/")),
            below,
            file_name,
        })
    }

    /// A small file of `container`'s as text.
    async fn read_text(&self, container: &str, path: &'static str) -> crate::Result<String> {
        let (_, mut reader) = self
            .engine
            .copy_from_container(self.machine, container, path)
            .await?;
        let mut tar = Vec::new();
        reader.copy_to(&mut tar).await?;
        let mut archive = tar::Archive::new(tar.as_slice());
        let mut text = String::new();
        if let Some(entry) = archive.entries().ok().and_then(|mut e| e.next()) {
            entry
                .and_then(|mut e| e.read_to_string(&mut text))
                .map_err(ImageError::io(format!("reading {path} of the image")))?;
        }
        Ok(text)
    }

    /// What the copy places, named relative to `place`'s anchor.
    async fn items(&self, origin: Origin, place: &Place) -> crate::Result<Vec<Item>> {
        let mut items = place.new_dirs();
        match origin {
            Origin::Context(picked) => {
                for source in &picked {
                    if source.is_dir {
                        let prefix = match source.rel.is_empty() {
                            true => String::new(),
                            false => format!("{}/", source.rel),
                        };
                        for (rel, path, _) in self.context.walk(&source.path, &source.rel)? {
                            let inside = rel.strip_prefix(&prefix).unwrap_or(&rel);
                            items.push(Item::Host {
                                name: place.name(inside),
                                path,
                            });
                        }
                    } else if source.unpack {
                        let below = place.name("");
                        items.push(Item::Tar {
                            tar: TarSource::File(source.path.clone()),
                            rename: Box::new(move |name| {
                                let name = clean(name)?;
                                (!name.is_empty()).then(|| join(&below, &name))
                            }),
                            keep_owners: true,
                        });
                    } else {
                        let name = place
                            .file_name
                            .clone()
                            .unwrap_or_else(|| base_name(&source.rel).to_string());
                        items.push(Item::Host {
                            name: place.name(&name),
                            path: source.path.clone(),
                        });
                    }
                }
            }
            Origin::Image(read) => {
                for (stat, tar) in read {
                    items.push(Item::Tar {
                        tar: TarSource::Bytes(tar),
                        rename: renamer(&stat, place),
                        keep_owners: false,
                    });
                }
            }
        }
        Ok(items)
    }

    /// `paths` of `image`, read through a container of it (removed after).
    async fn read_from_image(
        &self,
        image: &Image,
        paths: &[String],
    ) -> crate::Result<Vec<(PathStat, Vec<u8>)>> {
        let request = self.step_container(image, vec!["true".into()], None, vec![])?;
        let source = self
            .engine
            .create_copy_container(self.machine, &request)
            .await?;
        let read = async {
            let mut read = Vec::new();
            for path in paths {
                if path.contains(['*', '?', '[']) {
                    return Err(ImageError::Invalid(format!(
                        "COPY --from: {path}: name paths, not patterns, when copying from a stage"
                    ))
                    .into());
                }
                let (stat, mut reader) = self
                    .engine
                    .copy_from_container(self.machine, &source, path)
                    .await?;
                let mut tar = Vec::new();
                reader.copy_to(&mut tar).await?;
                read.push((stat, tar));
            }
            Ok::<_, crate::Error>(read)
        }
        .await;
        self.discard(&source, read).await
    }

    /// Streams the tar of `items` into `container` at `anchor`.
    async fn copy_in(
        &self,
        container: &str,
        anchor: &str,
        items: Vec<Item>,
        stamp: Stamp,
    ) -> crate::Result<()> {
        let (reader, writer) =
            std::io::pipe().map_err(ImageError::io("making a pipe for the copy"))?;
        let writing = tokio::task::spawn_blocking(move || write_tar(writer, items, stamp));
        let receiver = tokio::net::unix::pipe::Receiver::from_owned_fd(OwnedFd::from(reader))
            .map_err(ImageError::io("reading the copy's pipe"))?;
        let options = CopyOptions {
            copy_owner: true,
            keep_kinds: false,
        };
        let copied = self
            .engine
            .copy_to_container(self.machine, container, anchor, options, receiver)
            .await;
        let written = writing
            .await
            .map_err(|e| ImageError::Invalid(format!("writing the copy: {e}")))?;
        let reading = ImageError::io("reading the files to copy");
        match (copied, written) {
            (Ok(()), Ok(())) => Ok(()),
            // A file that could not be read says more than the short tar
            // the machine then got; a closed pipe is the machine's doing.
            (_, Err(e)) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(reading(e).into()),
            (Err(e), _) => Err(e),
            (Ok(()), Err(e)) => Err(reading(e).into()),
        }
    }

    /// FROM scratch: stores the tar of `items` as the first layer.
    async fn store_tar_layer(
        &self,
        items: Vec<Item>,
        stamp: Stamp,
        config: serde_json::Value,
        key: String,
    ) -> crate::Result<Image> {
        let store = Store::at(self.store.root().to_path_buf());
        let finish = Finish {
            store: Store::at(self.store.root().to_path_buf()),
            lock: self.store.lock_async().await?,
            layers: Vec::new(),
            config,
            keep: Keep::BuildStep(key),
        };
        let manifest = tokio::task::spawn_blocking(move || {
            let (mut reader, writer) =
                std::io::pipe().map_err(ImageError::io("making a pipe for the layer"))?;
            let writing = std::thread::spawn(move || write_tar(writer, items, stamp));
            let stored = store_layer(&store, &mut reader, "the copied files");
            drop(reader);
            let written = writing
                .join()
                .map_err(|_| ImageError::Invalid("writing the layer failed".into()))?;
            let stored = stored.and_then(|s| {
                written.map_err(ImageError::io("reading the files to copy"))?;
                Ok(s)
            });
            finish.run(stored.map_err(Into::into))
        })
        .await
        .map_err(|e| ImageError::Invalid(format!("storing the layer: {e}")))??;
        Ok(manifest::load(&self.store, &manifest)?)
    }
}

/// How the entries of a tar read out of a container are named in the
/// copy: a directory's contents go into the destination directory, not
/// the directory itself; a file takes the destination's name if it has
/// one.
fn renamer(stat: &PathStat, place: &Place) -> Rename {
    let top = stat.name.clone();
    let below = place.name("");
    match stat.is_dir() {
        true => Box::new(move |name| {
            let name = clean(name)?;
            let inside = name.strip_prefix(&format!("{top}/"))?;
            Some(join(&below, inside))
        }),
        false => {
            let new_name = place.file_name.clone().unwrap_or_else(|| top.clone());
            Box::new(move |name| (clean(name)? == top).then(|| join(&below, &new_name)))
        }
    }
}

/// The destination directory and, for one file, its new name.
fn split_dest(dest: &str, is_dir: bool) -> (String, Option<String>) {
    match is_dir {
        true => (dest.to_string(), None),
        false => {
            let trimmed = dest.trim_end_matches('/');
            let (dir, name) = trimmed.rsplit_once('/').unwrap_or(("", trimmed));
            (dir.to_string(), Some(name.to_string()))
        }
    }
}

/// Where `dest` is in an image with no files: every directory is new.
fn place_in_nothing(dest: &str, is_dir: bool) -> Place {
    let (dir, file_name) = split_dest(dest, is_dir);
    Place {
        anchor: "/".into(),
        below: dir
            .split('/')
            .filter(|p| !p.is_empty())
            .map(str::to_string)
            .collect(),
        file_name,
    }
}

/// `--chown` given as ids (an image with no files has no names).
fn numeric_owner(chown: &str) -> Result<(u64, u64), ImageError> {
    let (user, group) = chown.split_once(':').unwrap_or((chown, chown));
    match (user.parse(), group.parse()) {
        (Ok(uid), Ok(gid)) => Ok((uid, gid)),
        _ => Err(ImageError::Invalid(format!(
            "--chown={chown}: a stage FROM scratch has no /etc/passwd; give numeric ids"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_are_placed_as_docker_places_them() {
        assert_eq!(split_dest("/app/", true), ("/app/".into(), None));
        assert_eq!(
            split_dest("/app/run.sh", false),
            ("/app".into(), Some("run.sh".into()))
        );
        let place = place_in_nothing("/usr/local/bin/tool", false);
        assert_eq!(place.below, ["usr", "local", "bin"]);
        assert_eq!(place.name("tool"), "usr/local/bin/tool");
        assert_eq!(base_name("src/dir/"), "dir");
        assert_eq!(absolute("/app", "."), "/app");
        assert_eq!(absolute("/app", "./x/../y"), "/app/y");
        assert_eq!(absolute("/app", "../../etc/"), "/etc");
        assert_eq!(absolute("/", "/"), "/");
    }

    #[test]
    fn owners_are_ids_or_names_from_the_image() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let files = |path: &'static str| async move {
            Ok(match path {
                "/etc/passwd" => {
                    "root:x:0:0::/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\nstaff:x:7:7::/:/bin/sh\n"
                }
                _ => "root:x:0:\nstaff:x:50:\n",
            }
            .to_string())
        };
        assert_eq!(rt.block_on(resolve_owner("7:8", files)).unwrap(), (7, 8));
        assert_eq!(
            rt.block_on(resolve_owner("1000", files)).unwrap(),
            (1000, 1000)
        );
        assert_eq!(
            rt.block_on(resolve_owner("staff", files)).unwrap(),
            (7, 50),
            "the group named as the user"
        );
        assert!(
            rt.block_on(resolve_owner("app", files)).is_err(),
            "no group app"
        );
        assert_eq!(
            rt.block_on(resolve_owner("app:staff", files)).unwrap(),
            (1000, 50)
        );
        assert!(rt.block_on(resolve_owner("ghost", files)).is_err());
    }
}
