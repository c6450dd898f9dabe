//! A container's mounts: volumes from the machine's disk (named ones,
//! anonymous ones, an image's `VOLUME`s, those of `--volumes-from`) and
//! tmpfs, resolved when it is created and added to its runtime spec.

use super::record::Record;
use super::{Container, Containers};
use oci_spec::runtime::{Mount, MountBuilder};
use protocol::{AgentError, ErrorKind, MountInfo, MountRequest, VolumeCreate, VolumeInfo};
use std::path::Path;
use std::sync::Arc;

fn bad(message: String) -> AgentError {
    AgentError::new(ErrorKind::BadRequest, message)
}

/// The runtime spec's mount for one of the container's mounts.
fn spec_mount(mount: &MountInfo, request: Option<&MountRequest>) -> Result<Mount, AgentError> {
    let mut options = vec!["nosuid".to_string(), "nodev".into()];
    let builder = MountBuilder::default().destination(&mount.destination);
    let builder = match request {
        Some(MountRequest::Tmpfs {
            size_bytes, mode, ..
        }) => {
            options.push(format!("mode={:o}", mode.unwrap_or(0o1777)));
            options.extend(size_bytes.map(|s| format!("size={s}")));
            builder.typ("tmpfs").source("tmpfs")
        }
        _ => {
            options.extend(["rbind".to_string(), "rprivate".into()]);
            builder.typ("bind").source(&mount.source)
        }
    };
    options.push(if mount.read_only { "ro" } else { "rw" }.into());
    builder
        .options(options)
        .build()
        .map_err(|e| AgentError::new(ErrorKind::Internal, e.to_string()))
}

/// A bind mount's source, resolved inside the machine, which must still lie
/// in one of its shares: a symlink there (one a container made, say) must
/// not hand a container the machine's own files.
fn shared_source(source: &str) -> Result<String, AgentError> {
    let path = Path::new(source);
    let real = std::fs::canonicalize(path).map_err(|e| {
        AgentError::new(
            ErrorKind::NotFound,
            format!("bind source {source} in the machine: {e}"),
        )
    })?;
    match crate::shares::containing(&real) {
        Some(_) => Ok(real.to_string_lossy().into_owned()),
        None => Err(bad(format!(
            "bind source {source} is not in one of the machine's shares"
        ))),
    }
}

impl Containers {
    /// The volume mounts of the containers `--volumes-from` names
    /// (`NAME[:ro|:rw]`).
    pub(super) fn volumes_from(&self, sources: &[String]) -> Result<Vec<MountInfo>, AgentError> {
        let mut mounts = Vec::new();
        for source in sources {
            let (key, read_only) = match source.rsplit_once(':') {
                Some((key, "ro")) => (key, Some(true)),
                Some((key, "rw")) => (key, Some(false)),
                _ => (source.as_str(), None),
            };
            let other = self.find(key)?;
            let record = other.lock();
            for m in record.mounts.iter().filter(|m| m.kind == "volume") {
                mounts.push(MountInfo {
                    read_only: read_only.unwrap_or(m.read_only),
                    ..m.clone()
                });
            }
        }
        Ok(mounts)
    }

    /// The new container's mounts (volumes made where missing) and the
    /// spec's mounts for them: `requested` ones, `inherited` ones from
    /// `--volumes-from`, and an anonymous volume for each of the image's
    /// `VOLUME`s that neither covers.
    pub(super) fn resolve_mounts(
        &self,
        requested: &[MountRequest],
        inherited: Vec<MountInfo>,
        image_volumes: &[String],
    ) -> Result<(Vec<MountInfo>, Vec<Mount>), AgentError> {
        let mut targets: Vec<String> = Vec::new();
        let asked = requested.iter().map(MountRequest::target);
        for target in asked.chain(inherited.iter().map(|m| m.destination.as_str())) {
            if !target.starts_with('/') {
                return Err(bad(format!(
                    "invalid mount target {target:?}: it must be an absolute path"
                )));
            }
            if targets.iter().any(|t| t == target) {
                return Err(bad(format!("duplicate mount point: {target}")));
            }
            targets.push(target.to_string());
        }
        let mut mounts = Vec::new();
        let mut specs = Vec::new();
        for m in inherited {
            specs.push(spec_mount(&m, None)?);
            mounts.push(m);
        }
        let uncovered = image_volumes
            .iter()
            .filter(|t| !targets.contains(t))
            .map(|target| MountRequest::Volume {
                name: None,
                target: target.clone(),
                read_only: false,
            });
        let requests: Vec<MountRequest> = requested.iter().cloned().chain(uncovered).collect();
        for request in &requests {
            let mount = match request {
                MountRequest::Volume {
                    name,
                    target,
                    read_only,
                } => {
                    let volume = self.volumes.for_mount(name.as_deref())?;
                    MountInfo {
                        kind: "volume".into(),
                        source: self
                            .volumes
                            .data(&volume.name)
                            .to_string_lossy()
                            .into_owned(),
                        name: Some(volume.name),
                        destination: target.clone(),
                        read_only: *read_only,
                    }
                }
                MountRequest::Bind {
                    source,
                    target,
                    read_only,
                    ..
                } => MountInfo {
                    kind: "bind".into(),
                    name: None,
                    source: shared_source(source)?,
                    destination: target.clone(),
                    read_only: *read_only,
                },
                MountRequest::Tmpfs { target, .. } => MountInfo {
                    kind: "tmpfs".into(),
                    name: None,
                    source: String::new(),
                    destination: target.clone(),
                    read_only: false,
                },
            };
            specs.push(spec_mount(&mount, Some(request))?);
            mounts.push(mount);
        }
        Ok((mounts, specs))
    }

    pub fn create_volume(&self, request: VolumeCreate) -> Result<VolumeInfo, AgentError> {
        let volume = self.volumes.create(request)?;
        Ok(self
            .volumes
            .info(&volume, users_of(&self.lock(), &volume.name)))
    }

    pub fn list_volumes(&self) -> Vec<VolumeInfo> {
        let all = self.lock();
        let volumes = self.volumes.list();
        volumes
            .iter()
            .map(|v| self.volumes.info(v, users_of(&all, &v.name)))
            .collect()
    }

    pub fn inspect_volume(&self, name: &str) -> Result<VolumeInfo, AgentError> {
        let volume = self.volumes.get(name)?;
        Ok(self.volumes.info(&volume, users_of(&self.lock(), name)))
    }

    /// Removes a volume no container uses.
    pub fn remove_volume(&self, name: &str) -> Result<(), AgentError> {
        let all = self.lock();
        let users = users_of(&all, name);
        if !users.is_empty() {
            return Err(AgentError::new(
                ErrorKind::Conflict,
                format!(
                    "volume {name} is in use by {}; remove those containers first",
                    users.join(", ")
                ),
            ));
        }
        self.volumes.remove(name)
    }

    /// Removes the volumes no container uses: anonymous ones, or all with
    /// `all`; their names.
    pub fn prune_volumes(&self, all_unused: bool) -> Vec<String> {
        let all = self.lock();
        let mut removed = Vec::new();
        for volume in self.volumes.list() {
            if (volume.anonymous || all_unused)
                && users_of(&all, &volume.name).is_empty()
                && self.volumes.remove(&volume.name).is_ok()
            {
                removed.push(volume.name);
            }
        }
        removed
    }

    /// After `container` is gone from `all`: its anonymous volumes that no
    /// other container uses (`rm -v`, `--rm`).
    pub(super) fn remove_anonymous_volumes(&self, all: &[Arc<Container>], container: &Container) {
        let names: Vec<String> = container
            .lock()
            .mounts
            .iter()
            .filter_map(|m| m.name.clone())
            .collect();
        for name in names {
            let anonymous = self.volumes.get(&name).is_ok_and(|v| v.anonymous);
            if anonymous && users_of(all, &name).is_empty() {
                let _ = self.volumes.remove(&name);
            }
        }
    }
}

fn users_of(all: &[Arc<Container>], name: &str) -> Vec<String> {
    all.iter()
        .filter_map(|c| {
            let record = c.lock();
            record
                .mounts
                .iter()
                .any(|m| m.name.as_deref() == Some(name))
                .then(|| record.info.name.clone())
        })
        .collect()
}

impl Container {
    /// Before a start, with its root mounted: a volume's first mount takes
    /// the image's files at its mount point.
    pub(super) fn initialize_volumes(
        &self,
        record: &Record,
        owner: Option<(u32, u32)>,
    ) -> Result<(), AgentError> {
        for m in record.mounts.iter().filter(|m| m.kind == "volume") {
            let Some(name) = &m.name else { continue };
            let from = super::mounts::resolve_in(&self.rootfs(), Path::new(&m.destination))
                .map_err(|e| bad(format!("finding {} in the image: {e}", m.destination)))?;
            self.volumes.initialize(name, &from, owner)?;
        }
        Ok(())
    }
}
