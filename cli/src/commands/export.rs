//! `hutch export`: a container's filesystem as a tar, to a file or to
//! standard output.

use super::MachineArg;
use anyhow::{bail, Context};
use engine::Engine;
use std::io::IsTerminal;
use std::path::Path;
use tokio::io::AsyncWrite;

#[derive(clap::Args)]
pub struct ExportArgs {
    /// Write to this file (made whole or not at all) instead of standard output
    #[arg(short, long)]
    output: Option<String>,
    container: String,
    #[command(flatten)]
    machine: MachineArg,
}

pub async fn run(engine: &Engine, a: ExportArgs) -> anyhow::Result<i32> {
    let machine = a.machine.machine.as_str();
    let Some(output) = a.output else {
        if std::io::stdout().is_terminal() {
            bail!("refusing to write a tar to a terminal: use -o FILE or redirect the output");
        }
        let mut stdout = tokio::io::stdout();
        export_to(engine, machine, &a.container, &mut stdout).await?;
        return Ok(0);
    };
    // Written beside the file and renamed into place once whole.
    let output = Path::new(&output);
    let partial = output.with_file_name(format!(
        ".{}.partial",
        output.file_name().unwrap_or_default().to_string_lossy()
    ));
    let mut file = tokio::fs::File::create(&partial)
        .await
        .with_context(|| format!("creating {}", partial.display()))?;
    let exported = async {
        export_to(engine, machine, &a.container, &mut file).await?;
        file.sync_all().await?;
        tokio::fs::rename(&partial, output)
            .await
            .with_context(|| format!("writing {}", output.display()))
    }
    .await;
    if exported.is_err() {
        let _ = tokio::fs::remove_file(&partial).await;
    }
    exported?;
    Ok(0)
}

async fn export_to(
    engine: &Engine,
    machine: &str,
    container: &str,
    to: &mut (impl AsyncWrite + Unpin),
) -> anyhow::Result<()> {
    let mut reader = engine.export_container(machine, container).await?;
    Ok(reader.copy_to(to).await?)
}
