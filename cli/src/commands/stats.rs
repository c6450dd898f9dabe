//! `hutch top` (a container's processes, as `ps -ef` shows them) and
//! `hutch stats` (live CPU, memory, network and process figures).

use super::MachineArg;
use crate::output::table;
use crate::units::{binary_size, human_size};
use engine::container::{
    cpu_percent, memory_used, top_row, ContainerInfo, ContainerState, UsageSample, TOP_TITLES,
};
use engine::Engine;
use std::io::Write;
use std::time::Duration;

/// Between the two readings a rate is worked out from, as docker waits.
const INTERVAL: Duration = Duration::from_secs(1);

#[derive(clap::Args)]
pub struct TopArgs {
    container: String,
    #[command(flatten)]
    machine: MachineArg,
}

/// `hutch top CONTAINER`.
pub async fn top(engine: &Engine, a: TopArgs) -> anyhow::Result<i32> {
    let processes = engine
        .container_top(&a.machine.machine, &a.container)
        .await?;
    let now = engine::time::now_ms();
    let mut rows = vec![TOP_TITLES.iter().map(|t| t.to_string()).collect()];
    rows.extend(processes.iter().map(|p| top_row(p, now)));
    outln!("{}", table(&rows).trim_end());
    Ok(0)
}

#[derive(clap::Args)]
pub struct StatsArgs {
    /// Containers to watch (default: every running one)
    containers: Vec<String>,
    /// Print one reading and exit rather than refresh every second
    #[arg(long)]
    no_stream: bool,
    #[command(flatten)]
    machine: MachineArg,
}

/// One watched container and its last reading.
struct Watched {
    info: ContainerInfo,
    last: Option<UsageSample>,
}

const STATS_TITLES: [&str; 7] = [
    "CONTAINER ID",
    "NAME",
    "CPU %",
    "MEM USAGE / LIMIT",
    "MEM %",
    "NET I/O",
    "PIDS",
];

fn stats_row(info: &ContainerInfo, before: &UsageSample, now: &UsageSample) -> Vec<String> {
    let used = memory_used(now);
    let memory_percent = if now.memory_limit > 0 {
        used as f64 / now.memory_limit as f64 * 100.0
    } else {
        0.0
    };
    let (rx, tx) = now
        .networks
        .values()
        .fold((0, 0), |(rx, tx), n| (rx + n.rx_bytes, tx + n.tx_bytes));
    vec![
        info.id.chars().take(12).collect(),
        info.name.clone(),
        format!("{:.2}%", cpu_percent(before, now)),
        format!("{} / {}", binary_size(used), binary_size(now.memory_limit)),
        format!("{memory_percent:.2}%"),
        format!("{} / {}", human_size(rx), human_size(tx)),
        now.pids.to_string(),
    ]
}

/// `hutch stats [--no-stream] [CONTAINER...]`.
pub async fn stats(engine: &Engine, a: StatsArgs) -> anyhow::Result<i32> {
    let machine = a.machine.machine.as_str();
    let named = !a.containers.is_empty();
    let mut watched = Vec::new();
    if named {
        for key in &a.containers {
            let info = engine.inspect_container(machine, key).await?.info;
            watched.push(Watched { info, last: None });
        }
    } else {
        for info in engine.list_containers(machine).await? {
            if info.state == ContainerState::Running {
                watched.push(Watched { info, last: None });
            }
        }
    }
    loop {
        let mut rows = vec![STATS_TITLES.iter().map(|t| t.to_string()).collect()];
        for w in &mut watched {
            let now = match engine.container_stats(machine, &w.info.id).await {
                Ok(now) => now,
                // One that stopped while watched drops out of the table;
                // one asked for by name is an error, as with docker.
                Err(e) if named => return Err(e.into()),
                Err(_) => {
                    w.last = None;
                    continue;
                }
            };
            if let Some(before) = &w.last {
                rows.push(stats_row(&w.info, before, &now));
            }
            w.last = Some(now);
        }
        if rows.len() > 1 || watched.iter().all(|w| w.last.is_none()) {
            let mut out = std::io::stdout().lock();
            if !a.no_stream {
                // Clear the screen and draw from its top, as docker does.
                write!(out, "\x1b[2J\x1b[H")?;
            }
            write!(out, "{}", table(&rows))?;
            out.flush()?;
            if a.no_stream {
                return Ok(0);
            }
        }
        watched.retain(|w| w.last.is_some());
        if watched.is_empty() && named {
            return Ok(0);
        }
        tokio::time::sleep(INTERVAL).await;
    }
}
