//! Containers: created from an image and flags into a machine (the agent
//! keeps their records and logs on the machine's disk), started detached
//! or with their stdio attached, signalled, stopped, waited for, listed,
//! inspected, their logs read, commands executed in them, and files
//! copied in and out.

mod binds;
mod copy;
mod create;
mod detach;
pub mod error;
mod exec;
mod inspect;
mod lifecycle;
mod logs;
pub mod mounts;
pub mod ports;
mod process;
mod publish;
pub mod seccomp;
pub mod spec;
mod usage;
mod watch;

pub use copy::{is_missing_path, ArchiveReader, CopyOptions, PathStat};
pub use detach::{copy_input, DetachKeys, InputEnd};
pub use exec::ExecOptions;
pub use inspect::{labels, status_text, ContainerInspect};
pub use logs::LogReader;
pub use process::{Process, Resizer};
/// What the agent reports of containers, as front ends see them.
pub use protocol::{
    Change, ChangeKind, ContainerAction, ContainerDetails, ContainerEvent, ContainerInfo,
    ContainerState, ExitStatus, LogEntry, PortBinding, PortProtocol, StdioStream,
};
pub use spec::Flags;
pub use usage::{cpu_percent, memory_used, top_row, ProcessEntry, UsageSample, TOP_TITLES};
pub use watch::{label_matches, ContainerWatch, LifecycleEvent};

pub use error::ContainerError;

use crate::image::ImageName;

/// What `run` and `create` ask for.
#[derive(Debug, Clone)]
pub struct CreateRequest {
    pub image: ImageName,
    pub flags: Flags,
    pub name: Option<String>,
    /// Removed by the machine once it exits (`--rm`).
    pub auto_remove: bool,
    /// A stdin stream will attach (`-i`).
    pub stdin: bool,
    /// A terminal in the machine (`-t`).
    pub tty: bool,
    /// `bridge` (the default), `none`, `host` or a user-defined network.
    pub network: String,
    /// `--network-alias`: more names on a user-defined network.
    pub aliases: Vec<String>,
    /// `--add-host NAME:ADDRESS` entries.
    pub extra_hosts: Vec<String>,
    /// `--dns` servers.
    pub dns: Vec<std::net::Ipv4Addr>,
    /// `-v`, `--mount`, `--tmpfs`.
    pub mounts: Vec<protocol::MountRequest>,
    /// `--volumes-from CONTAINER[:ro|:rw]`.
    pub volumes_from: Vec<String>,
    /// `-p`: host ports to publish it on whenever it starts.
    pub ports: Vec<PortBinding>,
    /// `-P`: also every port the image exposes, on any free host port.
    pub publish_all: bool,
}
