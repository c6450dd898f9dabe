//! The agent's own messages: on its stderr, which is the machine's console
//! (the host keeps it as `console.log`).

pub fn log(msg: &str) {
    eprintln!("hutch-agent: {msg}");
}

/// Logs and parks forever: PID 1 exiting would panic the kernel and lose the
/// message with it.
pub fn fatal(msg: &str) -> ! {
    log(&format!("fatal: {msg}"));
    loop {
        std::thread::park();
    }
}
