//! Standard output for listings, ids and reports. When its reader goes away
//! early (`hutch ps | head -1`) hutch stops quietly with 141 (128 + SIGPIPE),
//! as Unix tools do, where `println!` would panic. SIGPIPE itself stays
//! ignored: a machine's socket closing under us must be an error we report.

use std::io::Write;

/// Writes one line to stdout; see the module comment for a closed pipe.
pub fn line(args: std::fmt::Arguments) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(args).and_then(|()| out.write_all(b"\n")) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(128 + libc::SIGPIPE);
        }
        eprintln!("hutch: writing to standard output: {e}");
        std::process::exit(crate::exit::HUTCH_FAILED);
    }
}

/// `println!` for hutch's output: see [`line`].
macro_rules! outln {
    () => {
        $crate::output::line(format_args!(""))
    };
    ($($arg:tt)*) => {
        $crate::output::line(format_args!($($arg)*))
    };
}

/// Rows as aligned columns, three spaces apart as docker's tables are;
/// the last column is not padded.
pub fn table(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|cell| cell.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut text = String::new();
    for row in rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            line.push_str(cell);
            if c + 1 < row.len() {
                let pad = widths[c] - cell.chars().count() + 3;
                line.extend(std::iter::repeat_n(' ', pad));
            }
        }
        text.push_str(line.trim_end());
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    #[test]
    fn columns_line_up() {
        let rows = vec![
            vec!["PID".to_string(), "CMD".to_string()],
            vec!["12345".to_string(), "sleep 600".to_string()],
        ];
        assert_eq!(super::table(&rows), "PID     CMD\n12345   sleep 600\n");
    }
}
