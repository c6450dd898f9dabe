//! `image mount`: an image's root assembled read-only in a machine.

use super::lookup::find;
use super::reference::ImageName;
use crate::{Engine, Result};

impl Engine {
    /// Sends the layers the machine lacks (starting it if needed), then has
    /// the agent assemble the image's root; its path in the machine.
    pub async fn mount_image(&self, name: &ImageName, machine: &str) -> Result<String> {
        let mut client = self.connect_or_start(machine).await?;
        let prepared = self.prepare_image(name, &mut client).await?;
        Ok(client
            .mount_image(prepared.image_id, prepared.diff_ids)
            .await?)
    }

    pub async fn unmount_image(&self, name: &ImageName, machine: &str) -> Result<()> {
        let store = self.store()?;
        let (_, image) = find(&store, name)?;
        let mut client = self.connect_running(machine).await?;
        Ok(client.unmount_image(image.config_digest).await?)
    }
}
