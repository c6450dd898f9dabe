//! Per-layer pull progress as docker shows it: on a terminal, one line per
//! layer redrawn in place (`Downloading [====>   ] 12MB/45MB`); otherwise
//! only each layer's final state, so logs stay readable.

use crate::units::human_size;
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

const BAR_WIDTH: usize = 50;

struct Line {
    id: String,
    total: u64,
    done: Arc<AtomicU64>,
    status: Option<&'static str>,
}

/// All layers' lines; shared between the downloads and the redraw ticker.
pub struct Board {
    lines: Mutex<Vec<Line>>,
    /// Lines drawn so far (the cursor is below them).
    drawn: Mutex<usize>,
    live: bool,
    ended: AtomicBool,
}

impl Board {
    pub fn new() -> Arc<Board> {
        Arc::new(Board {
            lines: Mutex::new(Vec::new()),
            drawn: Mutex::new(0),
            live: std::io::stdout().is_terminal(),
            ended: AtomicBool::new(false),
        })
    }

    /// A layer already held: shown finished.
    pub fn held(&self, id: &str) {
        self.push(id, 0, Some("Already exists"), Arc::default());
    }

    /// A layer being downloaded; `done` counts its bytes as they arrive.
    pub fn downloading(&self, id: &str, total: u64, done: Arc<AtomicU64>) {
        self.push(id, total, None, done);
    }

    fn push(&self, id: &str, total: u64, status: Option<&'static str>, done: Arc<AtomicU64>) {
        self.lock_lines().push(Line {
            id: id.to_string(),
            total,
            done: done.clone(),
            status,
        });
        if !self.live {
            if let Some(status) = status {
                outln!("{id}: {status}");
            }
        }
    }

    /// A panic elsewhere must not stop the display: take the lines as they are.
    fn lock_lines(&self) -> std::sync::MutexGuard<'_, Vec<Line>> {
        self.lines.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether a terminal shows the lines redrawn in place.
    pub fn is_live(&self) -> bool {
        self.live
    }

    /// Whether every line has its final state (or the pull ended).
    pub fn settled(&self) -> bool {
        self.ended.load(Ordering::Relaxed) || self.lock_lines().iter().all(|l| l.status.is_some())
    }

    /// The pull ended, whatever state its lines are in.
    pub fn settle(&self) {
        self.ended.store(true, Ordering::Relaxed);
    }

    pub fn finish(&self, id: &str, status: &'static str) {
        if let Some(line) = self.lock_lines().iter_mut().find(|l| l.id == id) {
            line.status = Some(status);
        }
        if !self.live {
            outln!("{id}: {status}");
        }
    }

    /// Redraws every line in place (terminal only).
    pub fn draw(&self) {
        if !self.live {
            return;
        }
        let lines = self.lock_lines();
        let mut drawn = self.drawn.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = String::new();
        if *drawn > 0 {
            out += &format!("\x1b[{}A", *drawn);
        }
        for line in lines.iter() {
            out += "\x1b[2K";
            out += &render(line);
            out += "\n";
        }
        *drawn = lines.len();
        let mut stdout = std::io::stdout().lock();
        let _ = stdout.write_all(out.as_bytes());
        let _ = stdout.flush();
    }
}

fn render(line: &Line) -> String {
    if let Some(status) = line.status {
        return format!("{}: {status}", line.id);
    }
    let done = line.done.load(Ordering::Relaxed).min(line.total);
    format!(
        "{}: Downloading {} {}/{}",
        line.id,
        bar(done, line.total),
        human_size(done),
        human_size(line.total)
    )
}

/// `[=====>      ]`, BAR_WIDTH wide.
fn bar(done: u64, total: u64) -> String {
    let filled = (done as u128 * BAR_WIDTH as u128 / total.max(1) as u128) as usize;
    let head = if filled < BAR_WIDTH { ">" } else { "" };
    let filled = filled.min(BAR_WIDTH);
    format!(
        "[{}{head}{}]",
        "=".repeat(filled),
        " ".repeat(BAR_WIDTH - filled - head.len())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_fill_with_the_bytes() {
        assert_eq!(bar(0, 100), format!("[>{}]", " ".repeat(49)));
        assert_eq!(
            bar(50, 100),
            format!("[{}>{}]", "=".repeat(25), " ".repeat(24))
        );
        assert_eq!(bar(100, 100), format!("[{}]", "=".repeat(50)));
        assert_eq!(bar(0, 0), format!("[>{}]", " ".repeat(49)));
    }

    #[test]
    fn lines_show_bytes_then_the_final_state() {
        let line = Line {
            id: "abc".into(),
            total: 2_000_000,
            done: Arc::new(AtomicU64::new(1_000_000)),
            status: None,
        };
        assert!(render(&line).ends_with("] 1MB/2MB"), "{}", render(&line));
        let line = Line {
            status: Some("Pull complete"),
            ..line
        };
        assert_eq!(render(&line), "abc: Pull complete");
    }
}
