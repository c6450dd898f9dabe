//! What the engine reports while it works, for front ends to show as they
//! like (the CLI prints lines and progress bars; the API service streams
//! JSON). The engine itself never prints.

use protocol::Digest;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

#[derive(Debug, Clone)]
pub enum Event {
    /// A machine is being started because an operation needs it.
    MachineStarting {
        machine: String,
    },
    /// The backend choice fell back or was forced past a failed probe.
    BackendNotice {
        message: String,
    },
    /// The image is not in the store; it will be pulled.
    ImageNotFoundLocally {
        name: String,
    },
    Pull(PullEvent),
    /// A layer is being copied into a machine's layer cache.
    LayerCopying {
        diff_id: Digest,
        bytes: u64,
    },
    /// A request was taken with part of it ignored, as docker does.
    Warning {
        message: String,
    },
    /// Something failed and is being retried.
    Retrying {
        what: String,
        error: String,
        attempt: u32,
        of: u32,
    },
}

/// A pull's progress, layer by layer, as docker shows it.
#[derive(Debug, Clone)]
pub enum PullEvent {
    /// The manifest is in hand: `tag` (or digest) of `repository`.
    Started {
        tag: String,
        repository: String,
    },
    /// A layer the store already holds.
    LayerHeld {
        id: String,
    },
    /// A layer download began; `received` counts its bytes as they arrive.
    LayerDownloading {
        id: String,
        total: u64,
        received: Arc<AtomicU64>,
    },
    LayerDone {
        id: String,
    },
    LayerFailed {
        id: String,
    },
    /// The image is stored and named.
    Finished {
        digest: Digest,
        up_to_date: bool,
        name: String,
    },
}

/// Receives the engine's events; it may be called from any task.
pub trait Reporter: Send + Sync {
    fn report(&self, event: Event);
}

/// A reporter that drops everything (tests, and callers that only want
/// the result).
pub struct Quiet;

impl Reporter for Quiet {
    fn report(&self, _: Event) {}
}
