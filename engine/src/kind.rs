//! What kind of failure an error is, for front ends to act on: the CLI
//! turns kinds into docker's exit codes, the API service into HTTP
//! statuses. Every module's error enum says its kind.

/// The kinds of failure a front end tells apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// What was named does not exist: an image, a container, a machine's files.
    NotFound,
    /// The request itself is wrong: a malformed name, flag value or archive.
    InvalidInput,
    /// The request clashes with the current state: a name in use, a
    /// container running, a machine already running.
    Conflict,
    /// The machine is not running, or its agent cannot be reached.
    MachineNotRunning,
    /// A registry refused the credentials or the access.
    Denied,
    /// Something hutch depends on failed or could not be reached: a
    /// registry, QEMU, the hypervisor.
    Unavailable,
    /// The container's command does not exist (docker's 127).
    CommandNotFound,
    /// The container's command exists but cannot be run (docker's 126).
    CommandNotExecutable,
    /// hutch itself, the disk, or the machine failed.
    Internal,
}
