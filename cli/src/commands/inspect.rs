//! `hutch inspect`: containers' details in docker's JSON shape.

use super::MachineArg;
use engine::container::ContainerInspect;
use engine::Engine;

#[derive(clap::Args)]
pub struct InspectArgs {
    #[arg(required = true)]
    containers: Vec<String>,
    #[command(flatten)]
    machine: MachineArg,
}

pub async fn run(engine: &Engine, a: InspectArgs) -> anyhow::Result<i32> {
    let machine = &a.machine.machine;
    engine.connect_running(machine).await?;
    let mut shown = Vec::new();
    let mut failed = false;
    for name in &a.containers {
        match engine.inspect_container(machine, name).await {
            Ok(details) => shown.push(ContainerInspect::from(&details)),
            Err(e) => {
                eprintln!("hutch: {:#}", anyhow::Error::from(e));
                failed = true;
            }
        }
    }
    outln!("{}", serde_json::to_string_pretty(&shown)?);
    Ok(if failed { 1 } else { 0 })
}
