//! docker's exit statuses, and which one an error gives.

use engine::ErrorKind;

/// hutch itself failed.
pub const HUTCH_FAILED: i32 = 125;
/// The command to run does not exist.
pub const NOT_FOUND: i32 = 127;
/// The command exists but cannot be run.
pub const NOT_EXECUTABLE: i32 = 126;

/// The status for an error that ends hutch. Errors that are the user's
/// command's (127, 126) are turned into statuses where they happen.
pub fn status_of(_: &anyhow::Error) -> i32 {
    HUTCH_FAILED
}

/// For a failed start: docker's 127 or 126 when the command cannot run,
/// with the reason printed; any other error stays an error.
pub fn cannot_run(e: engine::Error) -> Result<i32, engine::Error> {
    let status = match e.kind() {
        ErrorKind::CommandNotFound => NOT_FOUND,
        ErrorKind::CommandNotExecutable => NOT_EXECUTABLE,
        _ => return Err(e),
    };
    eprintln!("hutch: {e}");
    Ok(status)
}
