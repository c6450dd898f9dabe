//! hutch's commands: each one's clap arguments beside its handler. A
//! handler asks the engine, prints what it got, and returns the exit
//! status; it never decides anything the engine knows.

mod about;
mod attach;
mod build;
mod commit;
mod copy;
mod events;
mod exec;
mod export;
mod image;
mod inspect;
mod lifecycle;
mod login;
mod logs;
pub mod machine;
mod network;
mod port;
mod prune;
mod ps;
mod pull;
mod run;
pub mod service;
mod stats;
pub mod system;
mod volume;

use clap::{Parser, Subcommand};
use engine::Engine;

#[derive(Parser)]
#[command(
    name = "hutch",
    version,
    about = "Linux containers in a lightweight VM"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// `--machine`: which machine a container command acts in.
#[derive(clap::Args, Clone)]
pub struct MachineArg {
    /// The machine
    #[arg(long, default_value = "default")]
    pub machine: String,
}

/// docker's `network` and `volume` commands exit 1 on an error (only
/// `run` and `create` use 125): the status, the error reported.
fn error_exits_1(result: anyhow::Result<i32>) -> i32 {
    result.unwrap_or_else(|e| {
        eprintln!("hutch: {e:#}");
        1
    })
}

/// `--label KEY=VALUE` values as pairs.
fn labels(labels: &[String]) -> Vec<(String, String)> {
    labels
        .iter()
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap_or((l, ""));
            (k.to_string(), v.to_string())
        })
        .collect()
}

/// A listing's `-q` and the machine (networks, volumes).
#[derive(clap::Args)]
pub struct ListArgs {
    /// Only print identifiers (network IDs, volume names)
    #[arg(short, long)]
    pub quiet: bool,
    #[command(flatten)]
    pub machine: MachineArg,
}

/// Names (or ids) to act on, and the machine.
#[derive(clap::Args)]
pub struct NamesArgs {
    #[arg(required = true)]
    pub names: Vec<String>,
    #[command(flatten)]
    pub machine: MachineArg,
}

#[derive(Subcommand)]
pub enum Command {
    /// Manage machines (the VMs containers run in)
    #[command(subcommand)]
    Machine(machine::MachineCommand),
    /// Manage images
    #[command(subcommand)]
    Image(image::ImageCommand),
    /// Manage container networks
    #[command(subcommand)]
    Network(network::NetworkCommand),
    /// Manage volumes
    #[command(subcommand)]
    Volume(volume::VolumeCommand),
    /// List images
    Images(image::ListArgs),
    /// Create a one-layer image from a rootfs tarball (`-` for stdin)
    Import(image::ImportArgs),
    /// Give an image another name
    Tag(image::TagArgs),
    /// Pull an image from a registry (plain HTTP for registries on localhost)
    Pull(pull::PullArgs),
    /// Log in to a registry (default: Docker Hub); credentials go to $HUTCH_HOME/config.json
    Login(login::LoginArgs),
    /// Forget a registry's credentials
    Logout(login::LogoutArgs),
    /// Load images from a `docker save` archive or an OCI image-layout tar
    Load(image::LoadArgs),
    /// Save images to a tar that `docker load` and skopeo accept
    Save(image::SaveArgs),
    /// Remove images (layers no other image uses are deleted)
    Rmi(image::ImagesArgs),
    /// Disk usage
    #[command(subcommand)]
    System(system::SystemCommand),
    /// Run a command in a new container
    Run(run::RunArgs),
    /// Create a container without starting it; prints its id
    Create(run::CreateArgs),
    /// Start stopped or created containers
    Start(lifecycle::StartArgs),
    /// Stop running containers (SIGTERM, then SIGKILL after the timeout)
    Stop(lifecycle::StopArgs),
    /// Send a signal to running containers
    Kill(lifecycle::KillArgs),
    /// Block until containers stop, then print their exit codes
    Wait(lifecycle::ContainersArgs),
    /// Show a container's output
    Logs(logs::LogsArgs),
    /// Show containers' details as JSON
    Inspect(inspect::InspectArgs),
    /// Run a command in a running container
    Exec(exec::ExecArgs),
    /// List containers
    Ps(ps::PsArgs),
    /// List a container's published ports, or the host address of one
    Port(port::PortArgs),
    /// Remove containers
    Rm(lifecycle::RmArgs),
    /// Show hutch's version and the machine's
    Version(MachineArg),
    /// Show the machine's containers, images and resources
    Info(MachineArg),
    /// Stop (if running) and start containers again
    Restart(lifecycle::StopArgs),
    /// Freeze every process of running containers
    Pause(lifecycle::ContainersArgs),
    /// Thaw paused containers
    Unpause(lifecycle::ContainersArgs),
    /// Give a container another name
    Rename(lifecycle::RenameArgs),
    /// Attach to a running container's input and output (exits with its status)
    Attach(attach::AttachArgs),
    /// Print container events (create, start, die, destroy) as they happen
    Events(events::EventsArgs),
    /// Show a running container's processes
    Top(stats::TopArgs),
    /// Show running containers' CPU, memory, network and process figures, live
    Stats(stats::StatsArgs),
    /// Copy files between a container and the host (`-` for a tar on stdin or stdout)
    Cp(copy::CpArgs),
    /// Make a new image of a container's changes on top of its image
    Commit(commit::CommitArgs),
    /// List what a container added (A), changed (C) and deleted (D) in its image's files
    Diff(commit::DiffArgs),
    /// Show how an image was made, newest step first
    History(image::HistoryArgs),
    /// Write a container's filesystem (without its volumes) as a tar
    Export(export::ExportArgs),
    /// Build an image from a Dockerfile (docker's classic builder)
    Build(build::BuildArgs),
    /// Manage the build cache
    #[command(subcommand)]
    Builder(build::BuilderCommand),
    #[command(subcommand)]
    Container(lifecycle::ContainerCommand),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell)
    Completion(about::CompletionArgs),
    /// Write man pages for hutch and each of its commands
    Man(about::ManArgs),
    /// Print the DOCKER_HOST line that points docker's clients at `hutch system service`
    DockerEnv(service::DockerEnvArgs),
}

impl Command {
    /// Runs the command; the exit status.
    pub async fn run(self, engine: &Engine) -> anyhow::Result<i32> {
        match self {
            Command::Machine(c) => machine::run(engine, c).await,
            Command::Image(c) => image::run(engine, c).await,
            Command::Images(a) => image::run(engine, image::ImageCommand::Ls(a)).await,
            Command::Import(a) => image::run(engine, image::ImageCommand::Import(a)).await,
            Command::Tag(a) => image::run(engine, image::ImageCommand::Tag(a)).await,
            Command::Rmi(a) => image::run(engine, image::ImageCommand::Rm(a)).await,
            Command::Load(a) => image::load(engine, a),
            Command::Save(a) => image::save(engine, a),
            Command::Pull(a) => pull::run(engine, a).await,
            Command::Login(a) => login::login(engine, a).await,
            Command::Logout(a) => login::logout(engine, a),
            Command::System(c) => system::run(engine, c).await,
            Command::Run(a) => run::run(engine, a).await,
            Command::Create(a) => run::create(engine, a).await,
            Command::Start(a) => lifecycle::start(engine, a).await,
            Command::Stop(a) => lifecycle::stop(engine, a).await,
            Command::Kill(a) => lifecycle::kill(engine, a).await,
            Command::Wait(a) => lifecycle::wait(engine, a).await,
            Command::Rm(a) => lifecycle::rm(engine, a).await,
            Command::Logs(a) => logs::run(engine, a).await,
            Command::Inspect(a) => inspect::run(engine, a).await,
            Command::Exec(a) => exec::run(engine, a).await,
            Command::Ps(a) => ps::run(engine, a).await,
            Command::Port(a) => port::run(engine, a).await,
            Command::Network(c) => network::run(engine, c).await,
            Command::Volume(c) => volume::run(engine, c).await,
            Command::DockerEnv(a) => service::docker_env(engine, a),
            Command::Version(a) => about::version(engine, a).await,
            Command::Info(a) => about::info(engine, a).await,
            Command::Restart(a) => lifecycle::restart(engine, a).await,
            Command::Pause(a) => lifecycle::pause(engine, a, true).await,
            Command::Unpause(a) => lifecycle::pause(engine, a, false).await,
            Command::Rename(a) => Ok(error_exits_1(lifecycle::rename(engine, a).await)),
            Command::Attach(a) => Ok(error_exits_1(attach::run(engine, a).await)),
            Command::Events(a) => Ok(error_exits_1(events::run(engine, a).await)),
            Command::Top(a) => Ok(error_exits_1(stats::top(engine, a).await)),
            Command::Stats(a) => Ok(error_exits_1(stats::stats(engine, a).await)),
            Command::Cp(a) => Ok(error_exits_1(copy::run(engine, a).await)),
            Command::Commit(a) => Ok(error_exits_1(commit::commit(engine, a).await)),
            Command::Diff(a) => Ok(error_exits_1(commit::diff(engine, a).await)),
            Command::History(a) => Ok(error_exits_1(image::history(engine, a))),
            Command::Export(a) => Ok(error_exits_1(export::run(engine, a).await)),
            Command::Build(a) => Ok(error_exits_1(build::build(engine, a).await)),
            Command::Builder(c) => Ok(error_exits_1(build::builder(engine, c).await)),
            Command::Container(c) => lifecycle::container(engine, c).await,
            Command::Completion(a) => about::completion(a),
            Command::Man(a) => about::man(a),
        }
    }
}

/// Runs `action` for each named container of `machine`, docker-style:
/// each success prints what `action` returns, each failure an error; 1 if
/// any failed. A machine that is not running fails the whole command.
async fn for_each<F>(
    engine: &Engine,
    machine: &str,
    containers: &[String],
    mut action: F,
) -> anyhow::Result<i32>
where
    F: AsyncFnMut(&str) -> engine::Result<String>,
{
    engine.connect_running(machine).await?;
    let mut failed = false;
    for name in containers {
        match action(name).await {
            Ok(line) => outln!("{line}"),
            Err(e) => {
                eprintln!("hutch: {:#}", anyhow::Error::from(e));
                failed = true;
            }
        }
    }
    Ok(if failed { 1 } else { 0 })
}
