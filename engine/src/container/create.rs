//! `create`: the image's layers into the machine, then a container record
//! there; nothing runs yet.

use super::{binds, ports, spec, CreateRequest};
use crate::events::Event;
use crate::{Engine, Result};
use oci_spec::image::ImageConfiguration;
use protocol::{ContainerCreate, PortBinding};

impl Engine {
    /// Creates the container in `machine` (started if needed); its id.
    pub async fn create_container(&self, machine: &str, request: &CreateRequest) -> Result<String> {
        self.create(machine, request, true).await
    }

    /// A container that only has files copied in or out (a build's COPY):
    /// without the image's VOLUMEs, whose anonymous volumes would stand
    /// over the paths it copies (docker's build writes there too).
    pub(crate) async fn create_copy_container(
        &self,
        machine: &str,
        request: &CreateRequest,
    ) -> Result<String> {
        self.create(machine, request, false).await
    }

    async fn create(
        &self,
        machine: &str,
        request: &CreateRequest,
        with_image_volumes: bool,
    ) -> Result<String> {
        let mut client = self.connect_or_start(machine).await?;
        let mut mounts = request.mounts.clone();
        let shares = self.machine_shares(machine)?;
        binds::resolve(&mut mounts, &shares, machine)?;
        let prepared = self.prepare_image(&request.image, &mut client).await?;
        let create = ContainerCreate {
            name: request.name.clone(),
            image: request.image.to_string(),
            image_id: prepared.image_id,
            user: spec::user(&prepared.config, &request.flags),
            spec: Box::new(spec::build(
                &prepared.config,
                &request.flags,
                request.tty,
                request.network == "host",
            )?),
            diff_ids: prepared.diff_ids,
            stdin: request.stdin,
            tty: request.tty,
            auto_remove: request.auto_remove,
            network: request.network.clone(),
            aliases: request.aliases.clone(),
            extra_hosts: request.extra_hosts.clone(),
            dns: request.dns.clone(),
            ports: self.ports_to_publish(request, &prepared.config),
            mounts,
            volumes_from: request.volumes_from.clone(),
            image_volumes: match with_image_volumes {
                true => image_volumes(&prepared.config),
                false => Vec::new(),
            },
        };
        Ok(client.create_container(create).await?)
    }
}

/// The image's `VOLUME`s (each becomes an anonymous volume in the
/// machine unless a mount covers it).
fn image_volumes(image: &ImageConfiguration) -> Vec<String> {
    let volumes = image.config().as_ref().and_then(|c| c.volumes().clone());
    volumes.unwrap_or_default()
}

impl Engine {
    /// `-p`, plus the image's exposed ports with `-P`. Only containers on
    /// a network of their own can be published; docker warns and goes on.
    fn ports_to_publish(
        &self,
        request: &CreateRequest,
        image: &ImageConfiguration,
    ) -> Vec<PortBinding> {
        let mut ports = request.ports.clone();
        if request.publish_all {
            let exposed = image
                .config()
                .as_ref()
                .and_then(|c| c.exposed_ports().clone());
            ports.extend(ports::publish_exposed(&exposed.unwrap_or_default()));
        }
        if !ports.is_empty() && matches!(request.network.as_str(), "host" | "none") {
            self.report(Event::Warning {
                message: format!(
                    "published ports are discarded when using the {} network",
                    request.network
                ),
            });
            ports.clear();
        }
        ports
    }
}
