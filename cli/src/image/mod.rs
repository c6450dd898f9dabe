//! Images on the host: the store and the commands over it (`import`,
//! `images`, `tag`, `rmi`, `image inspect`).

pub mod archive;
pub mod deliver;
pub mod import;
pub mod index;
pub mod manifest;
pub mod progress;
pub mod pull;
pub mod reference;
pub mod store;
pub mod time;

use anyhow::{bail, Context, Result};
use manifest::Image;
use reference::Reference;
use store::{Digest, Store};

fn open_store() -> Result<Store> {
    Store::open(&crate::paths::hutch_home()?)
}

/// Finds an image by reference (`alpine`, `app:v2`) or by image id (a
/// prefix of at least 4 hex digits of the config digest, as docker allows).
fn find(store: &Store, name: &str) -> Result<(Option<String>, Image)> {
    if let Ok(r) = Reference::parse(name) {
        if let Some(d) = store.resolve(&r.full())? {
            return Ok((Some(r.full()), manifest::load(store, &d)?));
        }
    }
    let id = name.strip_prefix("sha256:").unwrap_or(name);
    if id.len() >= 4 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
        let mut found: Option<Image> = None;
        for d in store.tags()?.values() {
            let image = manifest::load(store, d)?;
            if image.config_digest.hex().starts_with(id) {
                if found
                    .as_ref()
                    .is_some_and(|f| f.config_digest != image.config_digest)
                {
                    bail!("image id {id} is ambiguous; give more digits");
                }
                found = Some(image);
            }
        }
        if let Some(image) = found {
            return Ok((None, image));
        }
    }
    bail!("no such image: {name} (see 'hutch images')")
}

pub fn import(path: &str, name: &str) -> Result<()> {
    let reference = Reference::parse(name)?;
    let store = open_store()?;
    let input: Box<dyn std::io::Read> = if path == "-" {
        Box::new(std::io::stdin())
    } else {
        Box::new(std::fs::File::open(path).with_context(|| format!("opening {path}"))?)
    };
    // Held throughout: a concurrent rmi's garbage collection must not take
    // blobs that are stored but not yet tagged.
    let lock = store.lock()?;
    let manifest = match import::import(&store, input, path) {
        Ok(m) => m,
        Err(e) => {
            store.collect_garbage(&lock)?;
            return Err(e);
        }
    };
    store.set_tag(&lock, &reference.full(), &manifest)?;
    let image = manifest::load(&store, &manifest)?;
    outln!("{}", image.config_digest);
    Ok(())
}

/// A stored full reference as docker shows it.
fn short_name(full: &str) -> String {
    Reference::parse(full)
        .map(|r| r.short())
        .unwrap_or_else(|_| full.to_string())
}

pub fn load(input: Option<&str>) -> Result<()> {
    let store = open_store()?;
    let (reader, name): (Box<dyn std::io::Read>, &str) = match input {
        None | Some("-") => (Box::new(std::io::stdin()), "standard input"),
        Some(p) => (
            Box::new(std::fs::File::open(p).with_context(|| format!("opening {p}"))?),
            p,
        ),
    };
    let lock = store.lock()?;
    match archive::load(&store, &lock, reader, name) {
        Ok(names) => {
            for n in names {
                outln!("Loaded image: {n}");
            }
            Ok(())
        }
        Err(e) => {
            // Whatever this load stored and did not name goes again.
            store.collect_garbage(&lock)?;
            Err(e)
        }
    }
}

pub fn save(names: &[String], output: &str) -> Result<()> {
    let store = open_store()?;
    let mut images = Vec::new();
    for name in names {
        let (full, image) = find(&store, name)?;
        let Some(full) = full else {
            bail!("save needs an image name, not an id: {name}");
        };
        images.push((Reference::parse(&full)?, image));
    }
    archive::save(&store, &images, std::path::Path::new(output))
}

pub async fn pull(name: &str, insecure: bool) -> Result<()> {
    let store = open_store()?;
    let lock = store.lock()?;
    // On failure, finished blobs stay for a rerun to reuse.
    pull::pull(&store, &lock, name, insecure).await.map(|_| ())
}

pub fn images(quiet: bool, digests: bool) -> Result<()> {
    let store = open_store()?;
    let mut rows = Vec::new();
    for (full, digest) in store.tags()? {
        let image = manifest::load(&store, &digest)?;
        let (repo, tag) = match Reference::parse(&full) {
            Ok(r) => (r.short_repository(), r.shown_tag().to_string()),
            Err(_) => (full.clone(), String::new()),
        };
        rows.push((repo, tag, image));
    }
    if quiet {
        let mut seen = std::collections::BTreeSet::new();
        for (_, _, image) in &rows {
            if seen.insert(image.config_digest.clone()) {
                outln!("{}", &image.config_digest.hex()[..12]);
            }
        }
        return Ok(());
    }
    let header_digest = if digests {
        format!("{:<72} ", "DIGEST")
    } else {
        String::new()
    };
    outln!(
        "{:<40} {:<12} {header_digest}{:<14} {:<24} SIZE",
        "REPOSITORY",
        "TAG",
        "IMAGE ID",
        "CREATED"
    );
    for (repo, tag, image) in rows {
        let created = image
            .config
            .created()
            .as_deref()
            .map(time::ago)
            .unwrap_or_else(|| "N/A".into());
        let digest = if digests {
            format!("{:<72} ", image.manifest_digest)
        } else {
            String::new()
        };
        outln!(
            "{repo:<40} {tag:<12} {digest}{:<14} {created:<24} {}",
            &image.config_digest.hex()[..12],
            crate::units::human_size(image.size(&store))
        );
    }
    Ok(())
}

pub fn tag(source: &str, target: &str) -> Result<()> {
    let store = open_store()?;
    let target = Reference::parse(target)?;
    let (_, image) = find(&store, source)?;
    let lock = store.lock()?;
    store.set_tag(&lock, &target.full(), &image.manifest_digest)
}

/// Removes references; blobs no remaining image uses are deleted.
pub fn rmi(names: &[String]) -> Result<()> {
    let store = open_store()?;
    let lock = store.lock()?;
    for name in names {
        let (reference, image) = find(&store, name)?;
        let tags: Vec<String> = match reference {
            Some(r) => vec![r],
            None => store.tags_of(&image.manifest_digest)?,
        };
        for t in &tags {
            store.remove_tag(&lock, t)?;
            outln!("Untagged: {}", short_name(t));
        }
        if store.tags_of(&image.manifest_digest)?.is_empty() {
            outln!("Deleted: {}", image.config_digest);
        }
    }
    store.collect_garbage(&lock)?;
    prune_machines(&store)
}

pub fn inspect(names: &[String]) -> Result<()> {
    let store = open_store()?;
    let mut out = Vec::new();
    for name in names {
        let (_, image) = find(&store, name)?;
        let tags: Vec<String> = store
            .tags_of(&image.manifest_digest)?
            .iter()
            .map(|t| short_name(t))
            .collect();
        let layers: Vec<String> = image
            .manifest
            .layers()
            .iter()
            .map(|l| l.digest().to_string())
            .collect();
        out.push(serde_json::json!({
            "Id": image.config_digest.as_str(),
            "RepoTags": tags,
            "ManifestDigest": image.manifest_digest.as_str(),
            "Created": image.config.created(),
            "Architecture": image.config.architecture().to_string(),
            "Os": image.config.os().to_string(),
            "Size": image.size(&store),
            "StoredSize": image.stored_size(),
            "Config": image.config.config(),
            "RootFS": { "Type": "layers", "DiffIDs": image.config.rootfs().diff_ids(), "Layers": layers },
        }));
    }
    outln!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}

/// An image whose layers are all in a machine's cache.
pub struct Prepared {
    pub image_id: Digest,
    pub diff_ids: Vec<Digest>,
    pub config: oci_spec::image::ImageConfiguration,
}

/// Finds the image (pulling it if it is not in the store and can be
/// pulled, as `docker run` does) and sends the layers the machine lacks.
pub async fn prepare_for_machine(
    name: &str,
    uds: &std::path::Path,
    client: &mut crate::agent::AgentClient,
) -> Result<Prepared> {
    let store = open_store()?;
    if find(&store, name).is_err() && Reference::parse(name).is_ok() {
        eprintln!("Unable to find image '{name}' locally");
        pull(name, false).await?;
    }
    // Held while layers are sent, so no rmi removes one mid-way.
    let _lock = store.lock()?;
    let (_, image) = find(&store, name)?;
    deliver::deliver(uds, client, &store, &image).await?;
    let diff_ids = deliver::layers(&image)?
        .into_iter()
        .map(|l| l.diff_id)
        .collect();
    Ok(Prepared {
        image_id: image.config_digest,
        diff_ids,
        config: image.config,
    })
}

/// `hutch image mount`: sends the layers the machine lacks, then has the
/// agent assemble the image's root filesystem; prints its path there.
pub async fn mount(name: &str, machine: &str) -> Result<()> {
    let (paths, mut client) = crate::machine::connect_or_start(machine).await?;
    let prepared = prepare_for_machine(name, &paths.vsock(), &mut client).await?;
    let request = protocol::Request::MountImage {
        image_id: prepared.image_id,
        diff_ids: prepared.diff_ids,
    };
    match client.request(request).await? {
        protocol::Response::Mounted { path } => outln!("{path}"),
        other => bail!("unexpected reply to mount: {other:?}"),
    }
    Ok(())
}

pub async fn unmount(name: &str, machine: &str) -> Result<()> {
    let store = open_store()?;
    let (_, image) = find(&store, name)?;
    let (_, mut client) = crate::machine::connect_running(machine).await?;
    let request = protocol::Request::UnmountImage {
        image_id: image.config_digest,
    };
    client.request(request).await?;
    Ok(())
}

/// Every diff id of every image in the store: what machines keep cached.
fn all_diff_ids(store: &Store) -> Result<Vec<Digest>> {
    let mut ids = std::collections::BTreeSet::new();
    for digest in store.tags()?.values() {
        let image = manifest::load(store, digest)?;
        for id in image.config.rootfs().diff_ids() {
            ids.insert(id.parse()?);
        }
    }
    Ok(ids.into_iter().collect())
}

/// Drops cached layers no image refers to any more from running machines,
/// which gives their disk space back to the host. A machine that cannot be
/// reached is told next time; the host store is already right.
fn prune_machines(store: &Store) -> Result<()> {
    let machines = crate::machine::running_machines()?;
    if machines.is_empty() {
        return Ok(());
    }
    let keep = all_diff_ids(store)?;
    crate::block_on(async {
        for name in machines {
            let pruned = async {
                let (_, mut client) = crate::machine::connect_running(&name).await?;
                let request = protocol::Request::PruneLayers { keep: keep.clone() };
                client.request(request).await
            };
            match pruned.await {
                Ok(protocol::Response::Pruned { removed }) if !removed.is_empty() => {
                    outln!(
                        "Removed {} cached layers from machine '{name}'",
                        removed.len()
                    )
                }
                Ok(_) => {}
                Err(e) => eprintln!("hutch: warning: machine '{name}' keeps unused layers: {e:#}"),
            }
        }
        Ok(())
    })
}
