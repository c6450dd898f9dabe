//! `hutch build` (an image from a Dockerfile, docker's classic builder)
//! and `hutch builder prune` (its cache).

use super::MachineArg;
use anyhow::Context as _;
use engine::image::{new_build_id, BuildOptions, Reference};
use engine::Engine;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

#[derive(clap::Args)]
pub struct BuildArgs {
    /// Name and optionally a tag for the image (NAME[:TAG]); repeatable
    #[arg(short, long = "tag", value_name = "NAME")]
    tags: Vec<Reference>,
    /// The Dockerfile (default: CONTEXT/Dockerfile; `-` reads it from stdin)
    #[arg(short, long, value_name = "FILE")]
    file: Option<PathBuf>,
    /// A build-time variable for an ARG (NAME=value, or NAME to take our
    /// environment's)
    #[arg(long = "build-arg", value_name = "NAME=VALUE")]
    build_args: Vec<String>,
    /// Build up to and including this stage
    #[arg(long)]
    target: Option<String>,
    /// A label for the image (KEY=VALUE); repeatable
    #[arg(long = "label", value_name = "KEY=VALUE")]
    labels: Vec<String>,
    /// Run every step, using no cached one
    #[arg(long)]
    no_cache: bool,
    /// Print only the image id
    #[arg(short, long)]
    quiet: bool,
    /// The build context: a directory, or `-` for a Dockerfile on stdin
    /// and no context
    context: String,
    #[command(flatten)]
    machine: MachineArg,
}

#[derive(clap::Subcommand)]
pub enum BuilderCommand {
    /// Remove the build cache (the images of cached build steps)
    Prune {
        /// Do not ask for confirmation
        #[arg(short, long)]
        force: bool,
        /// Remove all of it (hutch's cache is all one kind: every step's
        /// image, which nothing else names)
        #[arg(short, long)]
        all: bool,
    },
}

/// `NAME=value` pairs; a bare NAME takes our environment's value and is
/// dropped when it has none, as docker's CLI does.
fn build_args(given: &[String]) -> BTreeMap<String, String> {
    given
        .iter()
        .filter_map(|arg| match arg.split_once('=') {
            Some((name, value)) => Some((name.to_string(), value.to_string())),
            None => std::env::var(arg).ok().map(|value| (arg.clone(), value)),
        })
        .collect()
}

/// The Dockerfile's text and the context directory.
fn inputs(a: &BuildArgs) -> anyhow::Result<(String, Option<PathBuf>)> {
    let read_stdin = || -> anyhow::Result<String> {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading the Dockerfile from standard input")?;
        Ok(text)
    };
    if a.context == "-" {
        return Ok((read_stdin()?, None));
    }
    let context = Path::new(&a.context);
    if !context.is_dir() {
        anyhow::bail!(
            "unable to prepare context: path {:?} not found or not a directory: give the directory your Dockerfile's COPY sources are in",
            a.context
        );
    }
    let file = a.file.clone().unwrap_or_else(|| context.join("Dockerfile"));
    let text = match file.to_str() {
        Some("-") => read_stdin()?,
        _ => std::fs::read_to_string(&file).with_context(|| {
            format!(
                "cannot read the Dockerfile {}: create it, or name another with -f",
                file.display()
            )
        })?,
    };
    Ok((text, Some(context.to_path_buf())))
}

/// Builds; prints docker's classic progress (or with -q only the id).
pub async fn build(engine: &Engine, a: BuildArgs) -> anyhow::Result<i32> {
    let (dockerfile, context) = inputs(&a)?;
    let options = BuildOptions {
        context,
        dockerfile,
        tags: a.tags.clone(),
        build_args: build_args(&a.build_args),
        target: a.target.clone(),
        labels: super::labels(&a.labels).into_iter().collect(),
        no_cache: a.no_cache,
        build_id: new_build_id(),
    };
    let (out, mut progress) = tokio::sync::mpsc::unbounded_channel::<String>();
    let quiet = a.quiet;
    let printer = tokio::spawn(async move {
        let mut stdout = std::io::stdout();
        while let Some(text) = progress.recv().await {
            if !quiet {
                let _ = stdout.write_all(text.as_bytes());
                let _ = stdout.flush();
            }
        }
    });
    let machine = a.machine.machine.as_str();
    let built = tokio::select! {
        built = engine.build(machine, &options, &out) => built,
        // Interrupted: the step under way stops with its container.
        _ = tokio::signal::ctrl_c() => {
            // (The step's output relays hold the printer open until its
            // container goes.)
            printer.abort();
            engine.remove_build_containers(machine, &options.build_id).await?;
            eprintln!("hutch: the build was interrupted");
            return Ok(130);
        }
    };
    drop(out);
    let _ = printer.await;
    let id = built?;
    if quiet {
        outln!("{id}");
    }
    Ok(0)
}

pub async fn builder(engine: &Engine, command: BuilderCommand) -> anyhow::Result<i32> {
    match command {
        BuilderCommand::Prune { force, .. } => {
            if !force && !super::lifecycle::confirmed("This will remove all the build cache.")? {
                return Ok(1);
            }
            let (steps, freed) = engine.prune_build_cache().await?;
            outln!("Deleted build cache objects: {steps}");
            outln!("Total reclaimed space: {}", crate::units::human_size(freed));
            Ok(0)
        }
    }
}
