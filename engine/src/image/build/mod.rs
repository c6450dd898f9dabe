//! `build`: docker's classic Dockerfile builder. Each instruction makes an
//! image on its parent's: RUN runs in a container in the machine whose
//! writable layer is committed; COPY and ADD unpack a tar of their sources
//! into a container and commit that; the rest change only the config (an
//! `empty_layer` history entry, no new layer). Every step's image goes in
//! the store's build cache under a key of its parent, its instruction after
//! expansion and the content hash of what it copies, so a rebuild reuses
//! each step whose key is unchanged.

mod context;
mod copy;
mod dockerfile;
mod download;
mod expand;
mod ignore;
mod run;
mod stage;

use super::commit::{layer_descriptors, store_image};
use super::error::ImageError;
use super::lookup::find;
use super::manifest::{self, Image};
use super::reference::{ImageName, Reference};
use super::store::{Digest, Store};
use crate::time::rfc3339_now;
use crate::Engine;
pub use context::unpack_context;
use context::Context;
use dockerfile::Dockerfile;
use serde_json::{json, Value};
use stage::StageState;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use tokio::sync::mpsc::UnboundedSender;

/// What `build` is asked for.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// The context directory; none when the Dockerfile came alone (`-`).
    pub context: Option<PathBuf>,
    /// The Dockerfile's text.
    pub dockerfile: String,
    /// Names for the result (`-t`).
    pub tags: Vec<Reference>,
    /// `--build-arg NAME=value`; a name alone takes the value from our
    /// environment, as docker's CLI does before sending.
    pub build_args: BTreeMap<String, String>,
    /// `--target`: build up to and including this stage.
    pub target: Option<String>,
    /// `--label`: labels for the image, set by a last LABEL step.
    pub labels: BTreeMap<String, String>,
    pub no_cache: bool,
    /// Names this build's step containers (`ID-N`): see
    /// [`Engine::remove_build_containers`]. Make one with [`new_build_id`].
    pub build_id: String,
}

/// An id for a build no other has.
pub fn new_build_id() -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    format!("build-{ms}-{}", unique())
}

/// The build's progress: docker's `Step N/M` lines and each RUN's output.
pub type BuildOutput = UnboundedSender<String>;

/// Build args every RUN sees without an ARG for them, kept out of the
/// image's history and the cache key (docker's predefined ARGs).
const PROXY_ARGS: [&str; 8] = [
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
];

/// The first 12 hex digits of an id, as docker prints them.
fn short_id(digest: &Digest) -> String {
    digest.hex()[..12].to_string()
}

/// docker's default PATH, which a build FROM scratch starts with.
const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The config of an image FROM scratch.
fn scratch_config() -> Value {
    let architecture = match std::env::consts::ARCH {
        "aarch64" => "arm64",
        _ => "amd64",
    };
    json!({
        "architecture": architecture,
        "os": "linux",
        "config": { "Env": [DEFAULT_PATH] },
        "rootfs": { "type": "layers", "diff_ids": [] },
        "history": [],
    })
}

/// What a finished stage left, for later FROM and COPY --from.
#[derive(Clone)]
struct Built {
    image: Option<Image>,
    config: Value,
}

/// One build under way.
struct Build<'a> {
    engine: &'a Engine,
    machine: &'a str,
    options: &'a BuildOptions,
    context: Context,
    out: &'a BuildOutput,
    store: Store,
    step: usize,
    steps: usize,
    /// Finished stages, by index and by name.
    stages: Vec<Built>,
    names: BTreeMap<String, usize>,
    /// The build args some ARG declared (the rest are reported unused).
    used_args: BTreeSet<String>,
    /// Where ADD's URLs are fetched to, and what was fetched (removed
    /// when the build ends).
    scratch_dir: PathBuf,
    downloads: Vec<download::Download>,
    /// Names the step containers: `ID-N`, N counting those made so far.
    id: String,
    containers: std::sync::atomic::AtomicUsize,
}

impl Drop for Build<'_> {
    fn drop(&mut self) {
        self.downloads.clear();
        let _ = std::fs::remove_dir(&self.scratch_dir);
    }
}

impl Build<'_> {
    fn say(&self, text: String) {
        let _ = self.out.send(text);
    }

    /// Prints the step's header.
    fn begin_step(&mut self, text: &str) {
        self.step += 1;
        self.say(format!("Step {}/{} : {text}\n", self.step, self.steps));
    }

    /// Looks `key` up in the cache; a hit becomes the stage's image.
    fn cached(&self, key: &str) -> Result<Option<Image>, ImageError> {
        if self.options.no_cache {
            return Ok(None);
        }
        let Some(manifest) = self.store.cached_step(key)? else {
            return Ok(None);
        };
        Ok(manifest::load(&self.store, &manifest).ok())
    }

    /// Stores a step that changed only the config: the parent's layers
    /// under `config`, cached under `key`.
    async fn store_config_step(
        &self,
        stage: &StageState,
        config: &Value,
        key: &str,
    ) -> crate::Result<Image> {
        let lock = self.store.lock_async().await?;
        let layers = layer_descriptors(stage.image.as_ref());
        let manifest = store_image(&self.store, layers, config)?;
        self.store.cache_step(&lock, key, &manifest)?;
        Ok(manifest::load(&self.store, &manifest)?)
    }

    /// The image FROM names: an earlier stage, scratch, or one in the
    /// store (pulled when it is not, as docker does).
    async fn base(&mut self, from: &str) -> crate::Result<Built> {
        if let Some(index) = self.names.get(&from.to_lowercase()) {
            return Ok(self.stages[*index].clone());
        }
        if from == "scratch" {
            return Ok(Built {
                image: None,
                config: scratch_config(),
            });
        }
        let image = self
            .engine
            .image_for_build(from)
            .await
            .map_err(|e| ImageError::Invalid(format!("FROM {from}: {e}")))?;
        let config = image.raw_config(&self.store)?;
        Ok(Built {
            image: Some(image),
            config,
        })
    }
}

impl Engine {
    /// Finds an image a build names, pulling it when it is not in the store.
    async fn image_for_build(&self, name: &str) -> crate::Result<Image> {
        let image_name: ImageName = name.parse().map_err(ImageError::from)?;
        let store = self.store()?;
        if let Ok((_, image)) = find(&store, &image_name) {
            return Ok(image);
        }
        let Some(reference) = image_name.reference() else {
            return Err(ImageError::NoSuchImage(name.to_string()).into());
        };
        self.pull(reference, false).await?;
        Ok(find(&store, &image_name)?.1)
    }

    /// Builds the image `options` describe in `machine`, its progress sent
    /// to `out`; the new image's id.
    pub async fn build(
        &self,
        machine: &str,
        options: &BuildOptions,
        out: &BuildOutput,
    ) -> crate::Result<Digest> {
        let mut file = dockerfile::parse(&options.dockerfile)?;
        let last = last_stage(&file, options.target.as_deref())?;
        if !options.labels.is_empty() {
            file.stages[last]
                .steps
                .push(dockerfile::label_step(&options.labels));
        }
        let mut build = Build {
            engine: self,
            machine,
            options,
            context: Context::open(options.context.clone())?,
            out,
            store: self.store()?,
            step: 0,
            steps: file.stages[..=last].iter().map(|s| s.steps.len() + 1).sum(),
            stages: Vec::new(),
            names: BTreeMap::new(),
            used_args: BTreeSet::new(),
            scratch_dir: self
                .home()
                .root()
                .join(format!("build-downloads-{}", unique())),
            downloads: Vec::new(),
            id: match options.build_id.is_empty() {
                true => new_build_id(),
                false => options.build_id.clone(),
            },
            containers: Default::default(),
        };
        for (index, stage) in file.stages[..=last].iter().enumerate() {
            let built = build.stage(&file, stage).await?;
            if let Some(name) = &stage.name {
                build.names.insert(name.clone(), index);
            }
            build.stages.push(built);
        }
        let unused: Vec<&str> = options
            .build_args
            .keys()
            .filter(|k| !build.used_args.contains(*k) && !PROXY_ARGS.contains(&k.as_str()))
            .map(String::as_str)
            .collect();
        if !unused.is_empty() {
            build.say(format!(
                "[Warning] One or more build-args [{}] were not consumed\n",
                unused.join(" ")
            ));
        }
        let Some(image) = build.stages.pop().and_then(|b| b.image) else {
            return Err(ImageError::Invalid(
                "No image was generated. Is your Dockerfile empty? (a FROM scratch stage needs a step)"
                    .into(),
            )
            .into());
        };
        let id = image.config_digest.clone();
        build.say(format!("Successfully built {}\n", short_id(&id)));
        let lock = build.store.lock_async().await?;
        let named = !build.store.tags_of(&image.manifest_digest)?.is_empty();
        if options.tags.is_empty() && !named {
            // docker shows an unnamed build as <none>.
            build.store.keep_untagged(&lock, &image.manifest_digest)?;
        }
        for tag in &options.tags {
            build
                .store
                .set_tag(&lock, &tag.full(), &image.manifest_digest)?;
            build.say(format!("Successfully tagged {}\n", tag.short()));
        }
        Ok(id)
    }

    /// Removes the step containers an interrupted build `build_id` left
    /// in `machine` (a finished build leaves none); how many.
    pub async fn remove_build_containers(
        &self,
        machine: &str,
        build_id: &str,
    ) -> crate::Result<usize> {
        let prefix = format!("{build_id}-");
        let mut removed = 0;
        for container in self.list_containers(machine).await? {
            if container.name.starts_with(&prefix) {
                self.remove_container(machine, &container.id, true, true)
                    .await?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Empties the build cache and removes what only it kept; the steps
    /// it held and the bytes freed.
    pub async fn prune_build_cache(&self) -> crate::Result<(usize, u64)> {
        let store = self.store()?;
        let lock = store.lock_async().await?;
        let steps = store.clear_build_cache(&lock)?;
        let freed = super::collect_garbage(&store, &lock)?;
        Ok((steps, freed))
    }
}

/// The index of the last stage to build: `target`'s, or the file's last.
fn last_stage(file: &Dockerfile, target: Option<&str>) -> Result<usize, ImageError> {
    let Some(target) = target else {
        return Ok(file.stages.len() - 1);
    };
    file.stages
        .iter()
        .position(|s| s.name.as_deref() == Some(&target.to_lowercase()))
        .ok_or_else(|| {
            ImageError::Invalid(format!(
                "failed to reach build target {target} in Dockerfile: name a stage given with FROM ... AS {target}"
            ))
        })
}

/// A name no other build running now has.
fn unique() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{}-{n}", std::process::id())
}

/// A history entry made now.
fn history_entry(created_by: String, empty_layer: bool) -> Value {
    let mut entry = json!({ "created": rfc3339_now(), "created_by": created_by });
    if empty_layer {
        entry["empty_layer"] = json!(true);
    }
    entry
}
