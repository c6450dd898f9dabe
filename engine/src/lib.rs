//! hutch's engine: images, registries, machines and containers, as a
//! library that front ends (the `hutch` CLI, the Docker API service, the
//! machine's monitor) call. It returns data and typed errors, reports
//! progress through a [`Reporter`], and prints nothing.

pub mod agent;
pub mod container;
pub mod error;
pub mod events;
pub mod home;
pub mod image;
mod kind;
pub mod machine;
pub mod network;
pub mod registry;
pub mod signal;
pub mod system;
pub mod time;
pub mod units;
pub mod volume;

pub use error::{Error, ErrorKind, Result};
pub use events::{Event, PullEvent, Reporter};
pub use home::Home;

use std::sync::Arc;

/// The engine: where hutch keeps things, and who hears of progress.
#[derive(Clone)]
pub struct Engine {
    home: Home,
    reporter: Arc<dyn Reporter>,
}

impl Engine {
    pub fn new(home: Home, reporter: Arc<dyn Reporter>) -> Engine {
        Engine { home, reporter }
    }

    pub fn home(&self) -> &Home {
        &self.home
    }

    fn report(&self, event: Event) {
        self.reporter.report(event);
    }
}
