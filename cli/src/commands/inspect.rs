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
    print_each(&a.containers, async |name| {
        let details = engine.inspect_container(machine, name).await?;
        Ok(ContainerInspect::from(&details))
    })
    .await
}

/// docker's inspect: one JSON array of what was found; each name that
/// was not is reported, and the status is then 1.
pub(super) async fn print_each<T: serde::Serialize>(
    names: &[String],
    find: impl AsyncFn(&str) -> Result<T, engine::Error>,
) -> anyhow::Result<i32> {
    let mut shown = Vec::new();
    let mut failed = false;
    for name in names {
        match find(name).await {
            Ok(found) => shown.push(found),
            Err(e) => {
                eprintln!("hutch: {:#}", anyhow::Error::from(e));
                failed = true;
            }
        }
    }
    outln!("{}", serde_json::to_string_pretty(&shown)?);
    Ok(i32::from(failed))
}
