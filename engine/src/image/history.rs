//! `history`: how an image came to be, one row per step of its config's
//! history, newest first, each step that made a layer with its size.

use super::error::ImageError;
use super::list::shown_name;
use super::lookup::find;
use super::reference::ImageName;
use super::store::Digest;
use crate::Engine;
use serde::Serialize;

/// One step, as docker's `history` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct HistoryStep {
    /// The image this step made: known for the newest step only (the
    /// others' images are not kept), as docker shows `<missing>`.
    pub id: Option<Digest>,
    pub created: Option<String>,
    pub created_by: String,
    /// Unpacked bytes of the layer the step made; 0 for config-only steps.
    pub size: u64,
    pub comment: String,
    /// The image's names, on the newest step.
    pub tags: Vec<String>,
}

impl Engine {
    pub fn image_history(&self, name: &ImageName) -> Result<Vec<HistoryStep>, ImageError> {
        let store = self.store()?;
        let (_, image) = find(&store, name)?;
        let layers = image.layers()?;
        let mut sizes = layers
            .iter()
            .map(|l| store.unpacked_size(&l.blob).unwrap_or(l.size));
        let history = image.config.history().clone().unwrap_or_default();
        let mut steps: Vec<HistoryStep> = history
            .iter()
            .map(|h| HistoryStep {
                id: None,
                created: h.created().clone(),
                created_by: h.created_by().clone().unwrap_or_default(),
                size: match h.empty_layer() {
                    Some(true) => 0,
                    _ => sizes.next().unwrap_or(0),
                },
                comment: h.comment().clone().unwrap_or_default(),
                tags: Vec::new(),
            })
            .collect();
        // An image made without a history still has its layers.
        if history.is_empty() {
            steps = sizes
                .map(|size| HistoryStep {
                    id: None,
                    created: None,
                    created_by: String::new(),
                    size,
                    comment: String::new(),
                    tags: Vec::new(),
                })
                .collect();
        }
        steps.reverse();
        if let Some(newest) = steps.first_mut() {
            newest.id = Some(image.config_digest.clone());
            newest.tags = store
                .tags_of(&image.manifest_digest)?
                .iter()
                .map(|t| shown_name(t))
                .collect();
        }
        Ok(steps)
    }
}
