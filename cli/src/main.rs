//! `hutch`: Linux containers in a lightweight VM.

// First, so that every module below has `outln!`.
#[macro_use]
mod output;
mod agent;
mod attach;
mod container;
mod image;
mod machine;
mod paths;
mod registry;
mod system;
mod terminal;
mod units;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::time::Duration;

/// docker's status for a failure of the tool itself.
const EXIT_HUTCH_FAILED: i32 = 125;

#[derive(Parser)]
#[command(
    name = "hutch",
    version,
    about = "Linux containers in a lightweight VM"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Manage machines (the VMs containers run in)
    #[command(subcommand)]
    Machine(MachineCommand),
    /// Manage images
    #[command(subcommand)]
    Image(ImageCommand),
    /// List images
    Images(ListArgs),
    /// Create a one-layer image from a rootfs tarball (`-` for stdin)
    Import(ImportArgs),
    /// Give an image another name
    Tag(TagArgs),
    /// Pull an image from a registry (plain HTTP for registries on localhost)
    Pull {
        image: String,
        /// Allow a registry with plain HTTP or an unverifiable TLS certificate
        #[arg(long)]
        insecure: bool,
    },
    /// Log in to a registry (default: Docker Hub); credentials go to $HUTCH_HOME/config.json
    Login(LoginArgs),
    /// Forget a registry's credentials
    Logout {
        /// Registry host (default: Docker Hub)
        server: Option<String>,
    },
    /// Load images from a `docker save` archive or an OCI image-layout tar
    Load {
        /// Archive to read (default: standard input)
        #[arg(short, long)]
        input: Option<String>,
    },
    /// Save images to a tar that `docker load` and skopeo accept
    Save {
        #[arg(short, long)]
        output: String,
        #[arg(required = true)]
        images: Vec<String>,
    },
    /// Remove images (layers no other image uses are deleted)
    Rmi(ImagesArgs),
    /// Disk usage
    #[command(subcommand)]
    System(SystemCommand),
    /// Run a command in a new container
    Run {
        /// Run in the background and print the container's id
        #[arg(short, long)]
        detach: bool,
        #[command(flatten)]
        args: CreateArgs,
    },
    /// Create a container without starting it; prints its id
    Create(CreateArgs),
    /// Start stopped or created containers
    Start {
        /// Attach the container's output (and exit with its status)
        #[arg(short, long)]
        attach: bool,
        /// Attach stdin as well
        #[arg(short, long)]
        interactive: bool,
        #[arg(required = true)]
        containers: Vec<String>,
        #[arg(long, default_value = "default")]
        machine: String,
    },
    /// Stop running containers (SIGTERM, then SIGKILL after the timeout)
    Stop {
        /// Seconds to wait before killing
        #[arg(short, long, default_value_t = 10)]
        time: u32,
        #[arg(required = true)]
        containers: Vec<String>,
        #[arg(long, default_value = "default")]
        machine: String,
    },
    /// Send a signal to running containers
    Kill {
        /// Signal by name or number
        #[arg(short, long, default_value = "KILL", value_parser = container::signal::parse)]
        signal: i32,
        #[arg(required = true)]
        containers: Vec<String>,
        #[arg(long, default_value = "default")]
        machine: String,
    },
    /// Block until containers stop, then print their exit codes
    Wait {
        #[arg(required = true)]
        containers: Vec<String>,
        #[arg(long, default_value = "default")]
        machine: String,
    },
    /// Show a container's output
    Logs {
        /// Keep following new output while the container runs
        #[arg(short, long)]
        follow: bool,
        /// Only the last N lines
        #[arg(short = 'n', long)]
        tail: Option<u64>,
        /// Prefix each line with when it was written
        #[arg(short, long)]
        timestamps: bool,
        container: String,
        #[arg(long, default_value = "default")]
        machine: String,
    },
    /// Show containers' details as JSON
    Inspect {
        #[arg(required = true)]
        containers: Vec<String>,
        #[arg(long, default_value = "default")]
        machine: String,
    },
    /// Run a command in a running container
    Exec {
        /// Keep stdin open and send it to the command
        #[arg(short, long)]
        interactive: bool,
        /// Give the command a terminal
        #[arg(short, long)]
        tty: bool,
        #[command(flatten)]
        process: ProcessArgs,
        #[arg(long, default_value = "default")]
        machine: String,
        container: String,
        #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
        command: Vec<String>,
    },
    /// List containers
    Ps {
        /// Show all containers (default shows just running)
        #[arg(short, long)]
        all: bool,
        /// Only show container IDs
        #[arg(short, long)]
        quiet: bool,
        #[arg(long, default_value = "default")]
        machine: String,
    },
    /// Remove containers
    Rm {
        /// Kill a running container first
        #[arg(short, long)]
        force: bool,
        #[arg(required = true)]
        containers: Vec<String>,
        #[arg(long, default_value = "default")]
        machine: String,
    },
}

/// How a process in a container runs: `run`, `create` and `exec` share these.
#[derive(clap::Args)]
struct ProcessArgs {
    /// Set environment variables (KEY=value, or KEY to pass ours)
    #[arg(short, long)]
    env: Vec<String>,
    /// Working directory inside the container
    #[arg(short, long)]
    workdir: Option<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>])
    #[arg(short, long)]
    user: Option<String>,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Userns {
    Host,
    Private,
}

/// What `run` and `create` share.
#[derive(clap::Args)]
struct CreateArgs {
    /// Remove the container when it exits
    #[arg(long)]
    rm: bool,
    /// Keep stdin open and send it to the container
    #[arg(short, long)]
    interactive: bool,
    /// Give the container a terminal
    #[arg(short, long)]
    tty: bool,
    /// Assign a name to the container
    #[arg(long)]
    name: Option<String>,
    #[command(flatten)]
    process: ProcessArgs,
    /// Container host name
    #[arg(long)]
    hostname: Option<String>,
    /// Overwrite the image's entrypoint
    #[arg(long)]
    entrypoint: Option<String>,
    /// Memory limit (e.g. 64m)
    #[arg(short, long, value_parser = parse_memory)]
    memory: Option<u64>,
    /// Number of CPUs (e.g. 0.5)
    #[arg(long)]
    cpus: Option<f64>,
    /// Tune container pids limit (-1 for unlimited)
    #[arg(long)]
    pids_limit: Option<i64>,
    /// User namespace: `host` (the container's root is the machine's) or
    /// `private` (its ids are 100000-165535 of the machine)
    #[arg(long, value_enum, default_value_t = Userns::Host)]
    userns: Userns,
    /// The machine to run in (started if it is not running)
    #[arg(long, default_value = "default")]
    machine: String,
    image: String,
    /// Command and arguments (default: the image's)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

impl CreateArgs {
    fn into_options(self) -> container::CreateOptions {
        container::CreateOptions {
            image: self.image,
            flags: container::spec::Flags {
                command: self.command,
                entrypoint: self.entrypoint,
                env: self.process.env,
                workdir: self.process.workdir,
                user: self.process.user,
                hostname: self.hostname,
                memory: self.memory,
                cpus: self.cpus,
                pids_limit: self.pids_limit,
                private_users: self.userns == Userns::Private,
            },
            name: self.name,
            remove: self.rm,
            interactive: self.interactive,
            tty: self.tty,
            machine: self.machine,
        }
    }
}

fn parse_memory(text: &str) -> Result<u64, String> {
    let bytes = units::parse_size(text).map_err(|e| e.to_string())?;
    if bytes < 6 << 20 {
        return Err("the minimum memory limit is 6m".into());
    }
    Ok(bytes)
}

#[derive(clap::Args)]
struct ListArgs {
    /// Only show image IDs
    #[arg(short, long)]
    quiet: bool,
    /// Show manifest digests
    #[arg(long)]
    digests: bool,
}

#[derive(clap::Args)]
struct LoginArgs {
    /// Registry host (default: Docker Hub)
    server: Option<String>,
    #[arg(short, long)]
    username: Option<String>,
    #[arg(short, long)]
    password: Option<String>,
    /// Read the password from standard input
    #[arg(long)]
    password_stdin: bool,
    /// Allow a registry with plain HTTP or an unverifiable TLS certificate
    #[arg(long)]
    insecure: bool,
}

#[derive(clap::Args)]
struct ImportArgs {
    /// Rootfs tarball, plain or gzipped (`-` for standard input)
    file: String,
    reference: String,
}

#[derive(clap::Args)]
struct TagArgs {
    source: String,
    target: String,
}

#[derive(clap::Args)]
struct ImagesArgs {
    #[arg(required = true)]
    images: Vec<String>,
}

#[derive(Subcommand)]
enum ImageCommand {
    /// Show images' details as JSON
    Inspect(ImagesArgs),
    /// List images
    Ls(ListArgs),
    /// Create a one-layer image from a rootfs tarball (`-` for stdin)
    Import(ImportArgs),
    /// Give an image another name
    Tag(TagArgs),
    /// Remove images
    Rm(ImagesArgs),
    /// Assemble an image's root filesystem (read-only) in the machine and print its path there
    Mount(MountArgs),
    /// Undo `image mount`
    Unmount(MountArgs),
}

#[derive(clap::Args)]
struct MountArgs {
    image: String,
    /// The machine (started if it is not running)
    #[arg(long, default_value = "default")]
    machine: String,
}

#[derive(Subcommand)]
enum SystemCommand {
    /// Show images, layers, shared and unique bytes, host store and machine disk usage
    Df,
}

#[derive(Subcommand)]
enum MachineCommand {
    /// Boot a machine in the background and wait until its agent answers
    Start {
        #[arg(long, default_value = "default")]
        name: String,
        /// Machine backend
        #[arg(long, value_enum, default_value_t = machine::BackendChoice::Auto)]
        backend: machine::BackendChoice,
        #[arg(long, default_value_t = machine::DEFAULT_CPUS, value_parser = clap::value_parser!(u32).range(1..=64))]
        cpus: u32,
        /// Memory in MiB
        #[arg(long, default_value_t = machine::DEFAULT_MEMORY_MIB, value_parser = clap::value_parser!(u32).range(64..=65536))]
        memory: u32,
        /// Size of the layer-cache disk, used when the disk is created (sparse: it takes host space only as it fills)
        #[arg(long, default_value = "16g", value_parser = parse_disk_size)]
        disk_size: u64,
        /// Seconds to wait for the agent
        #[arg(long, default_value_t = 120)]
        timeout: u64,
    },
    /// Show state, backend, uptime, vCPUs, memory and kernel
    Status {
        #[arg(long, default_value = "default")]
        name: String,
    },
    /// Run a command in the machine (not in a container)
    Exec {
        #[arg(long, default_value = "default")]
        name: String,
        /// Forward stdin
        #[arg(short, long)]
        interactive: bool,
        /// Set environment variables (KEY=VALUE)
        #[arg(short, long = "env")]
        env: Vec<String>,
        /// Working directory in the guest
        #[arg(short, long)]
        workdir: Option<String>,
        #[arg(required = true, trailing_var_arg = true)]
        command: Vec<String>,
    },
    /// Power the machine off (killed if it does not stop in time)
    Stop {
        #[arg(long, default_value = "default")]
        name: String,
        /// Seconds to wait for a clean power-off
        #[arg(short, long, default_value_t = 20)]
        time: u64,
    },
    #[command(name = "_monitor", hide = true)]
    Monitor {
        #[arg(long)]
        name: String,
        #[arg(long)]
        cpus: u32,
        #[arg(long)]
        memory: u32,
        #[arg(long)]
        disk_size: u64,
        #[arg(long)]
        kernel: PathBuf,
        #[arg(long)]
        initramfs: PathBuf,
        #[arg(long, value_enum)]
        backend: machine::Backend,
        #[arg(long)]
        kvm: bool,
        #[arg(long)]
        accel_reason: String,
    },
}

/// Disk sizes: docker-style units, at least 64 MiB, whole sectors.
fn parse_disk_size(text: &str) -> Result<u64, String> {
    let bytes = units::parse_size(text).map_err(|e| e.to_string())?;
    if bytes < 64 << 20 {
        return Err("the disk must be at least 64m".into());
    }
    Ok(bytes / 512 * 512)
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("HUTCH_LOG"))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let code = match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("hutch: {e:#}");
            EXIT_HUTCH_FAILED
        }
    };
    std::process::exit(code);
}

fn run(cli: Cli) -> anyhow::Result<i32> {
    let cmd = match cli.command {
        Command::Machine(cmd) => cmd,
        Command::Image(cmd) => return run_image(cmd).map(|_| 0),
        Command::Images(a) => return run_image(ImageCommand::Ls(a)).map(|_| 0),
        Command::Import(a) => return run_image(ImageCommand::Import(a)).map(|_| 0),
        Command::Tag(a) => return run_image(ImageCommand::Tag(a)).map(|_| 0),
        Command::Rmi(a) => return run_image(ImageCommand::Rm(a)).map(|_| 0),
        Command::Pull { image, insecure } => {
            return block_on(image::pull(&image, insecure)).map(|_| 0)
        }
        Command::Login(a) => {
            return block_on(registry::login::login(registry::login::LoginOptions {
                server: a.server,
                username: a.username,
                password: a.password,
                password_stdin: a.password_stdin,
                insecure: a.insecure,
            }))
            .map(|_| 0)
        }
        Command::Logout { server } => return registry::login::logout(server.as_deref()).map(|_| 0),
        Command::Run { detach, args } => {
            return block_on(container::run(args.into_options(), detach))
        }
        Command::Create(args) => return block_on(container::create(args.into_options())),
        Command::Start {
            attach,
            interactive,
            containers,
            machine,
        } => {
            return block_on(container::lifecycle::start(
                &machine,
                &containers,
                attach || interactive,
                interactive,
            ))
        }
        Command::Stop {
            time,
            containers,
            machine,
        } => return block_on(container::lifecycle::stop(&machine, &containers, time)),
        Command::Kill {
            signal,
            containers,
            machine,
        } => return block_on(container::lifecycle::kill(&machine, &containers, signal)),
        Command::Wait {
            containers,
            machine,
        } => return block_on(container::lifecycle::wait(&machine, &containers)),
        Command::Logs {
            follow,
            tail,
            timestamps,
            container,
            machine,
        } => {
            return block_on(container::logs::logs(container::logs::LogsOptions {
                container,
                follow,
                tail,
                timestamps,
                machine,
            }))
            .map(|_| 0)
        }
        Command::Inspect {
            containers,
            machine,
        } => return block_on(container::inspect::inspect(&machine, &containers)),
        Command::Exec {
            interactive,
            tty,
            process: ProcessArgs { env, workdir, user },
            machine,
            container,
            command,
        } => {
            return block_on(container::exec::exec(container::exec::ExecOptions {
                container,
                args: command,
                env,
                workdir,
                user,
                interactive,
                tty,
                machine,
            }))
        }
        Command::Ps {
            all,
            quiet,
            machine,
        } => return block_on(container::ps::ps(&machine, all, quiet)).map(|_| 0),
        Command::Rm {
            force,
            containers,
            machine,
        } => return block_on(container::lifecycle::rm(&machine, &containers, force)),
        Command::System(SystemCommand::Df) => return block_on(system::df()).map(|_| 0),
        Command::Load { input } => return image::load(input.as_deref()).map(|_| 0),
        Command::Save { output, images } => return image::save(&images, &output).map(|_| 0),
    };
    if let MachineCommand::Monitor {
        name,
        backend,
        cpus,
        memory,
        disk_size,
        kernel,
        initramfs,
        kvm,
        accel_reason,
    } = cmd
    {
        // The monitor is synchronous: threads for devices and vCPUs.
        machine::monitor::run(machine::monitor::MonitorArgs {
            name,
            backend,
            cpus,
            memory_mib: memory,
            disk_size,
            kvm,
            accel_reason,
            kernel,
            initramfs,
        })?;
        return Ok(0);
    }
    // Everything else talks to agents: async, on one thread.
    block_on(async move {
        match cmd {
            MachineCommand::Start {
                name,
                backend,
                cpus,
                memory,
                disk_size,
                timeout,
            } => {
                machine::start(machine::StartOptions {
                    name,
                    backend,
                    cpus,
                    memory_mib: memory,
                    disk_size,
                    timeout: Duration::from_secs(timeout),
                })
                .await?;
                Ok(0)
            }
            MachineCommand::Status { name } => machine::status(&name).await.map(|_| 0),
            MachineCommand::Exec {
                name,
                interactive,
                env,
                workdir,
                command,
            } => {
                machine::exec::exec(machine::exec::ExecOptions {
                    name,
                    args: command,
                    env,
                    workdir,
                    interactive,
                })
                .await
            }
            MachineCommand::Stop { name, time } => machine::stop(&name, Duration::from_secs(time))
                .await
                .map(|_| 0),
            // Ran above, before any runtime existed.
            MachineCommand::Monitor { .. } => Ok(0),
        }
    })
}

/// Runs async work on a single-threaded runtime.
fn block_on<T>(work: impl std::future::Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let result = runtime.block_on(work);
    // A read of our stdin may still be blocked in a worker thread (a
    // terminal sends no EOF); waiting for it would hang the exit.
    runtime.shutdown_background();
    result
}

fn run_image(cmd: ImageCommand) -> anyhow::Result<()> {
    match cmd {
        ImageCommand::Inspect(a) => image::inspect(&a.images),
        ImageCommand::Ls(a) => image::images(a.quiet, a.digests),
        ImageCommand::Import(a) => image::import(&a.file, &a.reference),
        ImageCommand::Tag(a) => image::tag(&a.source, &a.target),
        ImageCommand::Rm(a) => image::rmi(&a.images),
        ImageCommand::Mount(a) => block_on(image::mount(&a.image, &a.machine)),
        ImageCommand::Unmount(a) => block_on(image::unmount(&a.image, &a.machine)),
    }
}
