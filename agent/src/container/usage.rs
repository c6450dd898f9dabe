//! `top` and `stats` of a running container: its processes (those in its
//! cgroup, execs included) from `/proc`, and its figures from its cgroup's
//! files, the machine's `/proc/stat` and its network namespace.

use super::cgroup::Cgroup;
use super::Container;
use protocol::{AgentError, ErrorKind, InterfaceCounters, ProcessEntry, UsageSample};
use std::collections::BTreeMap;

fn unreadable(what: &str, e: std::io::Error) -> AgentError {
    AgentError::new(ErrorKind::Internal, format!("reading {what}: {e}"))
}

/// Clock ticks per second, as `/proc` counts CPU time and start times.
fn ticks_per_second() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 {
        ticks as u64
    } else {
        100
    }
}

/// `key value` lines (`cpu.stat`, `memory.stat`) as a map.
fn key_values(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((k.to_string(), v.trim().parse().ok()?))
        })
        .collect()
}

/// A limit file's value; `max` is none.
fn limit(text: &str) -> Option<u64> {
    text.trim().parse().ok()
}

/// `pts/N` for a pseudo-terminal's device number, as ps names it.
fn tty_name(tty_nr: u64) -> Option<String> {
    if tty_nr == 0 {
        return None;
    }
    let major = (tty_nr >> 8) & 0xfff;
    let minor = (tty_nr & 0xff) | ((tty_nr >> 12) & 0xfff00);
    Some(match major {
        136..=143 => format!("pts/{}", (major - 136) * 256 + minor),
        _ => format!("tty{minor}"),
    })
}

/// One process from `/proc`; `None` once it is gone.
fn process(pid: u32, boot_ms: u64, ticks: u64) -> Option<ProcessEntry> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The name may hold spaces and parentheses: fields follow the last ')'.
    let (head, rest) = stat.rsplit_once(')')?;
    let name = head.split_once('(')?.1;
    let fields: Vec<u64> = rest
        .split_whitespace()
        .skip(1)
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    let field = |i: usize| fields.get(i).copied().unwrap_or(0);
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0);
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let args: Vec<String> = cmdline
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    Some(ProcessEntry {
        pid,
        ppid: field(0) as u32,
        uid,
        tty: tty_name(field(3)),
        started_ms: boot_ms + field(18) * 1000 / ticks,
        cpu_ms: (field(10) + field(11)) * 1000 / ticks,
        command: if args.is_empty() {
            format!("[{name}]")
        } else {
            args.join(" ")
        },
    })
}

/// The machine's boot time, from `/proc/stat`'s `btime`.
fn boot_ms(proc_stat: &str) -> u64 {
    proc_stat
        .lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or(0)
        * 1000
}

/// All CPUs' time, idle included, from `/proc/stat`'s `cpu` line (its
/// first seven fields, as docker sums them: steal and guest left out);
/// and how many CPUs it counts.
fn machine_cpu(proc_stat: &str, ticks: u64) -> (u64, u32) {
    let total: u64 = proc_stat
        .lines()
        .find_map(|l| l.strip_prefix("cpu "))
        .map(|l| {
            l.split_whitespace()
                .take(7)
                .filter_map(|v| v.parse::<u64>().ok())
                .sum()
        })
        .unwrap_or(0);
    let cpus = proc_stat
        .lines()
        .filter(|l| l.starts_with("cpu") && l.as_bytes().get(3).is_some_and(u8::is_ascii_digit))
        .count();
    (total * 1_000_000 / ticks, cpus as u32)
}

/// `/proc/PID/net/dev`: the counters of each interface but loopback.
fn interfaces(net_dev: &str) -> BTreeMap<String, InterfaceCounters> {
    net_dev
        .lines()
        .skip(2)
        .filter_map(|l| {
            let (name, counters) = l.split_once(':')?;
            let name = name.trim();
            let v: Vec<u64> = counters
                .split_whitespace()
                .map(|c| c.parse().unwrap_or(0))
                .collect();
            (name != "lo" && v.len() >= 12).then(|| {
                let counters = InterfaceCounters {
                    rx_bytes: v[0],
                    rx_packets: v[1],
                    rx_errors: v[2],
                    rx_dropped: v[3],
                    tx_bytes: v[8],
                    tx_packets: v[9],
                    tx_errors: v[10],
                    tx_dropped: v[11],
                };
                (name.to_string(), counters)
            })
        })
        .collect()
}

/// The machine's memory, for a container without a limit.
fn machine_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .unwrap_or(0)
        * 1024
}

impl Container {
    fn running_cgroup(&self) -> Result<(u32, Cgroup), AgentError> {
        let record = self.lock();
        let pid = record.running_pid()?;
        Ok((pid, Cgroup::open(&record.info.id)))
    }

    /// Its processes, first by pid.
    pub fn processes(&self) -> Result<Vec<ProcessEntry>, AgentError> {
        let (_, cgroup) = self.running_cgroup()?;
        let procs = cgroup
            .read("cgroup.procs")
            .map_err(|e| unreadable("the container's processes", e))?;
        let proc_stat =
            std::fs::read_to_string("/proc/stat").map_err(|e| unreadable("/proc/stat", e))?;
        let (boot, ticks) = (boot_ms(&proc_stat), ticks_per_second());
        let mut entries: Vec<ProcessEntry> = procs
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .filter_map(|pid| process(pid, boot, ticks))
            .collect();
        entries.sort_by_key(|p| p.pid);
        Ok(entries)
    }

    /// Its figures now.
    pub fn usage(&self) -> Result<UsageSample, AgentError> {
        let (pid, cgroup) = self.running_cgroup()?;
        let read = |file: &str| {
            cgroup
                .read(file)
                .map_err(|e| unreadable(&format!("the container's {file}"), e))
        };
        let cpu = key_values(&read("cpu.stat")?);
        let proc_stat =
            std::fs::read_to_string("/proc/stat").map_err(|e| unreadable("/proc/stat", e))?;
        let (machine_cpu_us, online_cpus) = machine_cpu(&proc_stat, ticks_per_second());
        let net_dev = std::fs::read_to_string(format!("/proc/{pid}/net/dev")).unwrap_or_default();
        Ok(UsageSample {
            read_ms: super::now_ms(),
            cpu_usage_us: cpu.get("usage_usec").copied().unwrap_or(0),
            cpu_user_us: cpu.get("user_usec").copied().unwrap_or(0),
            cpu_system_us: cpu.get("system_usec").copied().unwrap_or(0),
            machine_cpu_us,
            online_cpus,
            memory_usage: limit(&read("memory.current")?).unwrap_or(0),
            memory_limit: limit(&read("memory.max")?).unwrap_or_else(machine_memory),
            memory_stat: key_values(&read("memory.stat")?),
            pids: limit(&read("pids.current")?).unwrap_or(0),
            pids_limit: limit(&read("pids.max")?),
            networks: interfaces(&net_dev),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_files_read_as_ps_and_docker_read_them() {
        assert_eq!(tty_name(0), None);
        assert_eq!(tty_name((136 << 8) | 3), Some("pts/3".into()));
        let stat = "cpu  100 0 50 850 0 0 0 0 0 0\ncpu0 50 0 25 425 0 0 0 0 0 0\ncpu1 50 0 25 425 0 0 0 0 0 0\nbtime 1700000000\n";
        assert_eq!(machine_cpu(stat, 100), (10_000_000, 2));
        assert_eq!(boot_ms(stat), 1_700_000_000_000);
        let dev = "Inter-|   Receive\n face |bytes\n    lo: 5 1 0 0 0 0 0 0 5 1 0 0 0 0 0 0\n  eth0: 1000 10 1 2 0 0 0 0 2000 20 3 4 0 0 0 0\n";
        let nets = interfaces(dev);
        assert_eq!(nets.len(), 1);
        assert_eq!(
            (
                nets["eth0"].rx_bytes,
                nets["eth0"].tx_packets,
                nets["eth0"].tx_dropped
            ),
            (1000, 20, 4)
        );
        assert_eq!(limit("max\n"), None);
        assert_eq!(limit("104857600\n"), Some(104_857_600));
        assert_eq!(
            key_values("usage_usec 42\nuser_usec 40\n")["usage_usec"],
            42
        );
    }

    #[test]
    fn this_process_reads_back() {
        let me = process(std::process::id(), 0, ticks_per_second()).unwrap();
        assert_eq!(me.pid, std::process::id());
        // SAFETY: getppid has no preconditions.
        assert_eq!(me.ppid as i32, unsafe { libc::getppid() });
        assert!(!me.command.is_empty());
    }
}
