//! `hutch commit` (a container's changes become an image on top of its
//! own) and `hutch diff` (what it changed).

use super::MachineArg;
use engine::container::ChangeKind;
use engine::image::{CommitOptions, Reference};
use engine::Engine;

#[derive(clap::Args)]
pub struct CommitArgs {
    /// Commit message (the history entry's comment)
    #[arg(short, long)]
    message: Option<String>,
    /// Author (e.g. "Jane Doe <jane@example.com>")
    #[arg(short, long)]
    author: Option<String>,
    /// A Dockerfile instruction for the new image's config: CMD,
    /// ENTRYPOINT, ENV, EXPOSE, LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR
    #[arg(short, long = "change", value_name = "INSTRUCTION")]
    changes: Vec<String>,
    /// Pause the container while its changes are read. Always on: hutch
    /// never reads a layer while it changes
    #[arg(short, long, default_value_t = true, action = clap::ArgAction::Set)]
    pause: bool,
    container: String,
    /// The new image's name (REPOSITORY[:TAG]); without one it is kept
    /// as <none> (see `image prune`)
    reference: Option<Reference>,
    #[command(flatten)]
    machine: MachineArg,
}

#[derive(clap::Args)]
pub struct DiffArgs {
    container: String,
    #[command(flatten)]
    machine: MachineArg,
}

/// Prints the new image's id.
pub async fn commit(engine: &Engine, a: CommitArgs) -> anyhow::Result<i32> {
    if !a.pause {
        anyhow::bail!(
            "--pause=false is not supported: hutch pauses the container while it reads its changes"
        );
    }
    let options = CommitOptions {
        reference: a.reference,
        message: a.message,
        author: a.author,
        changes: a.changes,
    };
    let id = engine
        .commit_container(&a.machine.machine, &a.container, &options)
        .await?;
    outln!("{id}");
    Ok(0)
}

/// docker's lines: `A /added`, `C /changed`, `D /deleted`.
pub async fn diff(engine: &Engine, a: DiffArgs) -> anyhow::Result<i32> {
    for change in engine
        .container_changes(&a.machine.machine, &a.container)
        .await?
    {
        let letter = match change.kind {
            ChangeKind::Added => 'A',
            ChangeKind::Changed => 'C',
            ChangeKind::Deleted => 'D',
        };
        outln!("{letter} {}", change.path);
    }
    Ok(0)
}
