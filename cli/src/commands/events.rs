//! `hutch events`: container lifecycle events from now on, one line each
//! as docker prints them, until interrupted or the machine stops.

use super::MachineArg;
use anyhow::bail;
use engine::time::format_rfc3339_ms;
use engine::Engine;
use std::collections::HashMap;

/// The filters `events` understands (docker's, for containers).
const FILTER_KEYS: [&str; 5] = ["container", "event", "image", "label", "type"];

#[derive(clap::Args)]
pub struct EventsArgs {
    /// KEY=VALUE, repeatable: container (name or id), event (create,
    /// start, die, destroy), image, label (KEY or KEY=VALUE), type
    #[arg(short, long = "filter")]
    filters: Vec<String>,
    #[command(flatten)]
    machine: MachineArg,
}

fn parse_filters(given: &[String]) -> anyhow::Result<HashMap<String, Vec<String>>> {
    let mut filters: HashMap<String, Vec<String>> = HashMap::new();
    for filter in given {
        let Some((key, value)) = filter.split_once('=') else {
            bail!("invalid filter {filter:?}: KEY=VALUE, e.g. event=die");
        };
        if !FILTER_KEYS.contains(&key) {
            bail!(
                "invalid filter {key:?}: the keys are {}",
                FILTER_KEYS.join(", ")
            );
        }
        filters
            .entry(key.to_string())
            .or_default()
            .push(value.to_string());
    }
    Ok(filters)
}

pub async fn run(engine: &Engine, a: EventsArgs) -> anyhow::Result<i32> {
    let filters = parse_filters(&a.filters)?;
    let mut watch = engine.watch_containers(&a.machine.machine).await?;
    // The stream ends with the machine.
    while let Ok(event) = watch.next().await {
        if !event.matches(&filters) {
            continue;
        }
        let attributes: Vec<String> = event
            .attributes
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        outln!(
            "{} container {} {} ({})",
            format_rfc3339_ms((event.time_ns / 1_000_000) as u64),
            event.action_name(),
            event.id,
            attributes.join(", ")
        );
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_are_docker_s_keys_with_values() {
        let given = ["event=die".to_string(), "event=start".to_string()];
        assert_eq!(parse_filters(&given).unwrap()["event"], ["die", "start"]);
        assert!(parse_filters(&["die".to_string()]).is_err());
        assert!(parse_filters(&["volume=x".to_string()]).is_err());
    }
}
