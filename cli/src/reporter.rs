//! How the CLI shows what the engine reports: notices on stderr, pull
//! progress as docker draws it (see `progress`), results on stdout.

use crate::progress::Board;
use crate::units::human_size;
use engine::{Event, PullEvent, Reporter};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// How often a live pull display is redrawn.
const REDRAW: Duration = Duration::from_millis(100);

/// The display of a pull under way.
struct PullDisplay {
    board: Arc<Board>,
    /// Redraws a live display while layers download.
    ticker: Option<JoinHandle<()>>,
}

#[derive(Default)]
pub struct Printer {
    pull: Mutex<Option<PullDisplay>>,
}

impl Printer {
    fn with_pull(&self, f: impl FnOnce(&mut PullDisplay)) {
        let mut pull = self.pull.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(display) = pull.as_mut() {
            f(display);
        }
    }

    /// Draws a pull's display one last time, once its redrawing stopped;
    /// before anything else is printed after a pull, failed or not.
    pub fn finish_pull(&self) {
        let display = self.pull.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(PullDisplay { board, ticker }) = display {
            board.settle();
            if let Some(ticker) = ticker {
                let _ = ticker.join();
            }
            board.draw();
        }
    }

    fn pull(&self, event: PullEvent) {
        match event {
            PullEvent::Started { tag, repository } => {
                outln!("{tag}: Pulling from {repository}");
                let display = PullDisplay {
                    board: Board::new(),
                    ticker: None,
                };
                *self.pull.lock().unwrap_or_else(|p| p.into_inner()) = Some(display);
            }
            PullEvent::LayerHeld { id } => self.with_pull(|d| d.board.held(&id)),
            PullEvent::LayerDownloading {
                id,
                total,
                received,
            } => self.with_pull(|d| {
                d.board.downloading(&id, total, received);
                if d.board.is_live() && d.ticker.is_none() {
                    d.ticker = Some(redraw_until_settled(d.board.clone()));
                }
            }),
            PullEvent::LayerDone { id } => self.with_pull(|d| d.board.finish(&id, "Pull complete")),
            PullEvent::LayerFailed { id } => self.with_pull(|d| d.board.finish(&id, "Failed")),
            PullEvent::Finished {
                digest,
                up_to_date,
                name,
            } => {
                self.finish_pull();
                outln!("Digest: {digest}");
                match up_to_date {
                    true => outln!("Status: Image is up to date for {name}"),
                    false => outln!("Status: Downloaded newer image for {name}"),
                }
            }
        }
    }
}

/// Redraws the board on a thread of its own until every layer is done.
fn redraw_until_settled(board: Arc<Board>) -> JoinHandle<()> {
    std::thread::spawn(move || {
        while !board.settled() {
            board.draw();
            std::thread::sleep(REDRAW);
        }
    })
}

impl Reporter for Printer {
    fn report(&self, event: Event) {
        match event {
            Event::MachineStarting { machine } => eprintln!("starting machine '{machine}'"),
            Event::BackendNotice { message } => eprintln!("hutch: {message}"),
            Event::Warning { message } => eprintln!("WARNING: {message}"),
            Event::ImageNotFoundLocally { name } => {
                eprintln!("Unable to find image '{name}' locally")
            }
            Event::Pull(pull) => self.pull(pull),
            Event::LayerCopying { diff_id, bytes } => eprintln!(
                "{}: copying into the machine ({})",
                diff_id.short(),
                human_size(bytes)
            ),
            Event::Retrying {
                what,
                error,
                attempt,
                of,
            } => eprintln!("{what}: {error}; retrying ({attempt}/{of})"),
        }
    }
}
