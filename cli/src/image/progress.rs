//! Per-layer pull progress as docker shows it: on a terminal, one line per
//! layer redrawn in place (`Downloading [====>   ] 12MB/45MB`); otherwise
//! only each layer's final state, so logs stay readable.

use crate::units::human_size;
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicU64, Ordering};
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
}

impl Board {
    pub fn new() -> Arc<Board> {
        Arc::new(Board {
            lines: Mutex::new(Vec::new()),
            drawn: Mutex::new(0),
            live: std::io::stdout().is_terminal(),
        })
    }

    /// A layer already held: shown finished.
    pub fn held(&self, id: &str) {
        self.push(id, 0, Some("Already exists"));
    }

    /// A layer to download; the counter receives the bytes as they arrive.
    pub fn downloading(&self, id: &str, total: u64) -> Arc<AtomicU64> {
        self.push(id, total, None)
    }

    fn push(&self, id: &str, total: u64, status: Option<&'static str>) -> Arc<AtomicU64> {
        let done = Arc::new(AtomicU64::new(0));
        self.lines.lock().unwrap().push(Line {
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
        done
    }

    pub fn finish(&self, id: &str, status: &'static str) {
        if let Some(line) = self.lines.lock().unwrap().iter_mut().find(|l| l.id == id) {
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
        let lines = self.lines.lock().unwrap();
        let mut drawn = self.drawn.lock().unwrap();
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
