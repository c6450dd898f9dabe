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
