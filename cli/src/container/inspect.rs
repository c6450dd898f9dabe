//! `hutch inspect`: containers' details in docker's JSON shape (the
//! fields that apply to hutch).

use crate::image::time::format_rfc3339_ms;
use anyhow::{bail, Result};
use protocol::{ContainerDetails, ContainerState, Request, Response};
use serde_json::{json, Value};

/// docker's zero time, for events that have not happened.
const NEVER: &str = "0001-01-01T00:00:00Z";

pub async fn inspect(machine: &str, containers: &[String]) -> Result<i32> {
    let (_, mut client) = crate::machine::connect_running(machine).await?;
    let mut shown = Vec::new();
    let mut failed = false;
    for name in containers {
        let request = Request::InspectContainer {
            container: name.clone(),
        };
        match client.request(request).await {
            Ok(Response::ContainerDetails(details)) => shown.push(docker_json(&details)?),
            Ok(other) => bail!("unexpected reply to inspect: {other:?}"),
            Err(e) => {
                eprintln!("hutch: {e:#}");
                failed = true;
            }
        }
    }
    outln!("{}", serde_json::to_string_pretty(&shown)?);
    Ok(if failed { 1 } else { 0 })
}

fn time(ms: Option<u64>) -> String {
    ms.map_or_else(|| NEVER.to_string(), format_rfc3339_ms)
}

fn docker_json(d: &ContainerDetails) -> Result<Value> {
    let spec = serde_json::to_value(&d.spec)?;
    let info = &d.info;
    let process = &spec["process"];
    let resources = &spec["linux"]["resources"];
    let status = match info.state {
        ContainerState::Created => "created",
        ContainerState::Running => "running",
        ContainerState::Exited => "exited",
    };
    let nano_cpus = match (
        resources["cpu"]["quota"].as_i64(),
        resources["cpu"]["period"].as_u64(),
    ) {
        (Some(quota), Some(period)) if quota > 0 && period > 0 => {
            quota as u64 * 1_000_000_000 / period
        }
        _ => 0,
    };
    Ok(json!({
        "Id": info.id,
        "Created": time(Some(info.created_ms)),
        "Path": info.command.first(),
        "Args": info.command.get(1..).unwrap_or_default(),
        "State": {
            "Status": status,
            "Running": info.state == ContainerState::Running,
            "Paused": false,
            "OOMKilled": info.oom_killed,
            "Dead": false,
            "Pid": info.pid.unwrap_or(0),
            "ExitCode": info.exit_code.unwrap_or(0),
            "StartedAt": time(info.started_ms),
            "FinishedAt": time(info.finished_ms),
        },
        "Image": d.image_id,
        "Name": format!("/{}", info.name),
        "Config": {
            "Hostname": spec["hostname"],
            "User": d.user.clone().unwrap_or_default(),
            "Tty": d.tty,
            "OpenStdin": d.stdin,
            "Env": process["env"],
            "Cmd": info.command,
            "Image": info.image,
            "WorkingDir": process["cwd"],
        },
        "HostConfig": {
            "AutoRemove": d.auto_remove,
            "Memory": resources["memory"]["limit"].as_i64().unwrap_or(0),
            "NanoCpus": nano_cpus,
            "PidsLimit": resources["pids"]["limit"].as_i64().unwrap_or(0),
        },
    }))
}
