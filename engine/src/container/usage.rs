//! `top` and `stats`: a running container's processes as `ps -ef` shows
//! them, and its resource figures, with the rates docker's clients show
//! worked out once here for every front end.

use crate::time::format_rfc3339_ms;
use crate::{Engine, Result};
pub use protocol::{ProcessEntry, UsageSample};

/// The columns of docker's default `top` (`ps -ef`).
pub const TOP_TITLES: [&str; 8] = ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"];

const DAY_MS: u64 = 24 * 3600 * 1000;

/// One `ps -ef` row of `p`, as of `now_ms`.
pub fn top_row(p: &ProcessEntry, now_ms: u64) -> Vec<String> {
    let alive_ms = now_ms.saturating_sub(p.started_ms).max(1);
    let cpu_percent = (p.cpu_ms * 100 / alive_ms).min(99);
    // `2026-12-02T03:04:05.000Z`: the time of day today, the date before.
    let started = format_rfc3339_ms(p.started_ms);
    let stime = if alive_ms < DAY_MS {
        started[11..16].to_string()
    } else {
        started[5..10].to_string()
    };
    let cpu_s = p.cpu_ms / 1000;
    vec![
        p.uid.to_string(),
        p.pid.to_string(),
        p.ppid.to_string(),
        cpu_percent.to_string(),
        stime,
        p.tty.clone().unwrap_or_else(|| "?".into()),
        format!(
            "{:02}:{:02}:{:02}",
            cpu_s / 3600,
            cpu_s / 60 % 60,
            cpu_s % 60
        ),
        p.command.clone(),
    ]
}

/// docker's CPU %: the container's share of the machine's CPU time
/// between two samples, times the CPUs (100% is one CPU busy).
pub fn cpu_percent(before: &UsageSample, now: &UsageSample) -> f64 {
    let container = now.cpu_usage_us.saturating_sub(before.cpu_usage_us) as f64;
    let machine = now.machine_cpu_us.saturating_sub(before.machine_cpu_us) as f64;
    if machine <= 0.0 {
        return 0.0;
    }
    container / machine * f64::from(now.online_cpus.max(1)) * 100.0
}

/// docker's memory figure for cgroup v2: usage less the inactive page
/// cache, which the kernel gives back under pressure.
pub fn memory_used(sample: &UsageSample) -> u64 {
    let cache = sample
        .memory_stat
        .get("inactive_file")
        .copied()
        .unwrap_or(0);
    sample.memory_usage.saturating_sub(cache)
}

impl Engine {
    /// The processes of running `container`, by pid.
    pub async fn container_top(&self, machine: &str, container: &str) -> Result<Vec<ProcessEntry>> {
        let mut client = self.connect_running(machine).await?;
        Ok(client.container_top(container).await?)
    }

    /// The figures of running `container` now.
    pub async fn container_stats(&self, machine: &str, container: &str) -> Result<UsageSample> {
        let mut client = self.connect_running(machine).await?;
        Ok(client.container_stats(container).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_and_rates_read_as_docker_shows_them() {
        let p = ProcessEntry {
            pid: 42,
            ppid: 1,
            uid: 0,
            tty: None,
            started_ms: 1_000_000,
            cpu_ms: 3_723_000,
            command: "sleep 600".into(),
        };
        let row = top_row(&p, 1_000_000 + 7_446_000);
        assert_eq!(
            row,
            ["0", "42", "1", "50", "00:16", "?", "01:02:03", "sleep 600"]
        );
        let before = UsageSample {
            cpu_usage_us: 1_000_000,
            machine_cpu_us: 10_000_000,
            online_cpus: 2,
            ..UsageSample::default()
        };
        let now = UsageSample {
            cpu_usage_us: 2_000_000,
            machine_cpu_us: 14_000_000,
            online_cpus: 2,
            memory_usage: 100,
            memory_stat: [("inactive_file".to_string(), 30)].into(),
            ..UsageSample::default()
        };
        assert_eq!(cpu_percent(&before, &now), 50.0);
        assert_eq!(memory_used(&now), 70);
    }
}
