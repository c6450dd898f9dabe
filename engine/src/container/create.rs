//! `create`: the image's layers into the machine, then a container record
//! there; nothing runs yet.

use super::{spec, CreateRequest};
use crate::{Engine, Result};
use protocol::ContainerCreate;

impl Engine {
    /// Creates the container in `machine` (started if needed); its id.
    pub async fn create_container(&self, machine: &str, request: &CreateRequest) -> Result<String> {
        let mut client = self.connect_or_start(machine).await?;
        let prepared = self.prepare_image(&request.image, &mut client).await?;
        let create = ContainerCreate {
            name: request.name.clone(),
            image: request.image.to_string(),
            image_id: prepared.image_id,
            user: spec::user(&prepared.config, &request.flags),
            spec: Box::new(spec::build(&prepared.config, &request.flags, request.tty)?),
            diff_ids: prepared.diff_ids,
            stdin: request.stdin,
            tty: request.tty,
            auto_remove: request.auto_remove,
        };
        Ok(client.create_container(create).await?)
    }
}
