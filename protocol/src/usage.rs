//! What a container is doing: its processes (`top`) and its resource
//! figures from its cgroup and network namespace (`stats`).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One process of a container, as `ps -ef` tells it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessEntry {
    /// The machine's pid.
    pub pid: u32,
    pub ppid: u32,
    /// The machine's uid.
    pub uid: u32,
    /// `pts/N`, or none.
    pub tty: Option<String>,
    pub started_ms: u64,
    /// User and system CPU time.
    pub cpu_ms: u64,
    /// Its command line, or `[name]` when it has none.
    pub command: String,
}

/// A container's figures at one moment; rates come from two of them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageSample {
    pub read_ms: u64,
    /// CPU time of the container's cgroup (`cpu.stat`).
    pub cpu_usage_us: u64,
    pub cpu_user_us: u64,
    pub cpu_system_us: u64,
    /// CPU time of the whole machine, all CPUs, idle included (`/proc/stat`).
    pub machine_cpu_us: u64,
    pub online_cpus: u32,
    /// `memory.current`.
    pub memory_usage: u64,
    /// `memory.max`, or the machine's memory when unlimited.
    pub memory_limit: u64,
    /// `memory.stat`.
    pub memory_stat: BTreeMap<String, u64>,
    pub pids: u64,
    pub pids_limit: Option<u64>,
    /// Per interface of its network namespace (loopback left out).
    pub networks: BTreeMap<String, InterfaceCounters>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InterfaceCounters {
    pub rx_bytes: u64,
    pub rx_packets: u64,
    pub rx_errors: u64,
    pub rx_dropped: u64,
    pub tx_bytes: u64,
    pub tx_packets: u64,
    pub tx_errors: u64,
    pub tx_dropped: u64,
}
