//! `tag`: another name for an image.

use super::lookup::find;
use super::reference::{ImageName, Reference};
use crate::{Engine, Result};

impl Engine {
    pub fn tag(&self, source: &ImageName, target: &Reference) -> Result<()> {
        let store = self.store()?;
        let (_, image) = find(&store, source)?;
        let lock = store.lock()?;
        Ok(store.set_tag(&lock, &target.full(), &image.manifest_digest)?)
    }
}
