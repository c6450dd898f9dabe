//! Images on the host: a content-addressed store (blobs by digest, names
//! to manifests), what the store holds and how images get in and out of it
//! (pull, import, load, save), and delivery of their layers into machines.

pub mod archive;
mod build;
mod commit;
mod config_changes;
pub mod deliver;
pub mod error;
mod history;
pub mod import;
pub mod index;
mod list;
pub mod lookup;
pub mod manifest;
mod mount;
mod prune;
pub mod pull;
pub mod reference;
mod remove;
pub mod store;
mod tag;

pub use build::{new_build_id, unpack_context, BuildOptions, BuildOutput};
pub use commit::CommitOptions;
pub use error::ImageError;
pub use history::HistoryStep;
pub use list::{ImageDetails, ImageSummary};
pub use lookup::{all_diff_ids, collect_garbage, find};
pub use manifest::Image;
pub use prune::ImagePrune;
pub use reference::{ImageName, Reference, ReferenceError};
pub use remove::{Removal, Removed};
