//! `hutch run` and `hutch create`: a container from an image and flags.

use super::MachineArg;
use crate::attach::{self, Mode};
use crate::exit;
use crate::units;
use engine::container::{mounts, ports, seccomp, CreateRequest, Flags, PortBinding};
use engine::image::ImageName;
use engine::machine::MachineError;
use engine::volume::MountRequest;
use engine::Engine;

/// How a process in a container runs: `run`, `create` and `exec` share these.
#[derive(clap::Args)]
pub struct ProcessArgs {
    /// Set environment variables (KEY=value, or KEY to pass ours)
    #[arg(short, long)]
    pub env: Vec<String>,
    /// Working directory inside the container
    #[arg(short, long)]
    pub workdir: Option<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>])
    #[arg(short, long)]
    pub user: Option<String>,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Userns {
    Host,
    Private,
}

/// What `run` and `create` share.
#[derive(clap::Args)]
pub struct CreateArgs {
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
    /// Add a Linux capability (e.g. NET_ADMIN, or ALL)
    #[arg(long = "cap-add", value_name = "CAPABILITY")]
    cap_add: Vec<String>,
    /// Drop a Linux capability (e.g. CHOWN, or ALL)
    #[arg(long = "cap-drop", value_name = "CAPABILITY")]
    cap_drop: Vec<String>,
    /// Give the container every capability and an unmasked /proc and /sys
    /// (the machine's kernel stays between it and the host)
    #[arg(long)]
    privileged: bool,
    /// Security options: seccomp=unconfined, seccomp=PROFILE.json (docker's
    /// format), no-new-privileges
    #[arg(long = "security-opt", value_name = "OPTION")]
    security_opts: Vec<String>,
    /// User namespace: `host` (the container's root is the machine's) or
    /// `private` (its ids are 100000-165535 of the machine)
    #[arg(long, value_enum, default_value_t = Userns::Host)]
    userns: Userns,
    /// Network: bridge (the default: its own address, the machine's
    /// uplink beyond), none (loopback only), host (the machine's) or a
    /// network made with `hutch network create`
    #[arg(long, visible_alias = "net", default_value = "bridge")]
    network: String,
    /// Another name for the container on a user-defined network
    #[arg(long = "network-alias", visible_alias = "net-alias")]
    network_aliases: Vec<String>,
    /// Add a line to /etc/hosts: NAME:ADDRESS (ADDRESS may be host-gateway)
    #[arg(long = "add-host")]
    extra_hosts: Vec<String>,
    /// DNS server for the container (IPv4 address)
    #[arg(long)]
    dns: Vec<std::net::Ipv4Addr>,
    /// A volume: NAME:/PATH[:ro|:rw] (created on first use), or /PATH for
    /// an anonymous one
    #[arg(short = 'v', long = "volume", value_parser = parse_volume)]
    volumes: Vec<MountRequest>,
    /// A mount: type=volume|tmpfs,source=NAME,target=/PATH[,readonly]
    #[arg(long = "mount", value_parser = parse_mount)]
    mounts: Vec<MountRequest>,
    /// A tmpfs: /PATH[:size=64m,mode=1777]
    #[arg(long = "tmpfs", value_parser = parse_tmpfs)]
    tmpfs: Vec<MountRequest>,
    /// Mount every volume of a container: NAME[:ro|:rw]
    #[arg(long = "volumes-from")]
    volumes_from: Vec<String>,
    /// Publish container ports on the host: [IP:][HOSTPORT:]PORT[/PROTOCOL],
    /// ports may be ranges (A-B); no host port means any free one
    #[arg(short = 'p', long = "publish", value_parser = parse_publish)]
    publish: Vec<Vec<PortBinding>>,
    /// Publish every port the image exposes on a free host port
    #[arg(short = 'P', long)]
    publish_all: bool,
    /// Set metadata on the container (KEY=VALUE)
    #[arg(short, long = "label")]
    labels: Vec<String>,
    /// The machine to run in (started if it is not running)
    #[command(flatten)]
    machine: MachineArg,
    image: ImageName,
    /// Command and arguments (default: the image's)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

#[derive(clap::Args)]
pub struct RunArgs {
    /// Run in the background and print the container's id
    #[arg(short, long)]
    detach: bool,
    #[command(flatten)]
    args: CreateArgs,
}

fn parse_volume(text: &str) -> Result<MountRequest, String> {
    mounts::parse_volume(text).map_err(|e| e.to_string())
}

fn parse_mount(text: &str) -> Result<MountRequest, String> {
    mounts::parse_mount(text).map_err(|e| e.to_string())
}

fn parse_tmpfs(text: &str) -> Result<MountRequest, String> {
    mounts::parse_tmpfs(text).map_err(|e| e.to_string())
}

fn parse_publish(text: &str) -> Result<Vec<PortBinding>, String> {
    ports::parse_publish(text).map_err(|e| e.to_string())
}

fn parse_memory(text: &str) -> Result<u64, String> {
    let bytes = units::parse_size(text).map_err(|e| e.to_string())?;
    if bytes < 6 << 20 {
        return Err("the minimum memory limit is 6m".into());
    }
    Ok(bytes)
}

/// `-e` entries as `KEY=value`: `-e KEY` takes our value of KEY, or is
/// dropped when we have none (as docker does).
pub fn resolve_env(entries: &[String]) -> Vec<String> {
    entries
        .iter()
        .filter_map(|entry| match entry.split_once('=') {
            Some(_) => Some(entry.clone()),
            None => std::env::var(entry).ok().map(|v| format!("{entry}={v}")),
        })
        .collect()
}

/// `--security-opt` as the engine takes it: a `seccomp=` profile file's
/// contents in place of its path, as docker's CLI sends them.
fn security_options(options: &[String]) -> anyhow::Result<Vec<String>> {
    options
        .iter()
        .map(|option| match option.split_once(['=', ':']) {
            Some(("seccomp", path))
                if !matches!(path, "unconfined" | "builtin") && !path.starts_with('{') =>
            {
                let profile = std::fs::read_to_string(path).map_err(|e| {
                    anyhow::anyhow!("--security-opt {option}: cannot read the profile: {e}")
                })?;
                Ok(format!("seccomp={profile}"))
            }
            _ => Ok(option.clone()),
        })
        .collect()
}

impl CreateArgs {
    fn request(&self) -> anyhow::Result<CreateRequest> {
        let (seccomp, no_new_privileges) =
            seccomp::security_options(&security_options(&self.security_opts)?)?;
        Ok(CreateRequest {
            image: self.image.clone(),
            flags: Flags {
                command: self.command.clone(),
                entrypoint: self.entrypoint.clone(),
                env: resolve_env(&self.process.env),
                workdir: self.process.workdir.clone(),
                user: self.process.user.clone(),
                hostname: self.hostname.clone(),
                memory: self.memory,
                cpus: self.cpus,
                pids_limit: self.pids_limit,
                private_users: self.userns == Userns::Private,
                labels: super::labels(&self.labels).into_iter().collect(),
                cap_add: self.cap_add.clone(),
                cap_drop: self.cap_drop.clone(),
                privileged: self.privileged,
                seccomp,
                no_new_privileges,
            },
            name: self.name.clone(),
            auto_remove: self.rm,
            stdin: self.interactive,
            tty: self.tty,
            network: self.network.clone(),
            aliases: self.network_aliases.clone(),
            extra_hosts: self.extra_hosts.clone(),
            dns: self.dns.clone(),
            mounts: [&self.volumes[..], &self.mounts, &self.tmpfs].concat(),
            volumes_from: self.volumes_from.clone(),
            ports: self.publish.concat(),
            publish_all: self.publish_all,
        })
    }
}

/// `hutch create`: prints the new container's id.
pub async fn create(engine: &Engine, a: CreateArgs) -> anyhow::Result<i32> {
    let id = engine
        .create_container(&a.machine.machine, &a.request()?)
        .await?;
    outln!("{id}");
    Ok(0)
}

/// `hutch run`: create, then start detached (printing the id) or attached
/// until it exits; docker's exit status.
pub async fn run(engine: &Engine, r: RunArgs) -> anyhow::Result<i32> {
    let a = r.args;
    let mode = Mode {
        stdin: a.interactive,
        tty: a.tty,
        detach_keys: None,
    };
    // Detached, our stdin is not attached: no terminal needed (docker's
    // `run -d -it` from a script).
    if !r.detach {
        attach::check_terminal(&mode)?;
    }
    let machine = &a.machine.machine;
    let id = engine.create_container(machine, &a.request()?).await?;
    let status = if r.detach {
        match engine.start_container(machine, &id).await {
            Ok(_) => {
                outln!("{id}");
                Ok(0)
            }
            Err(e) => exit::cannot_run(e).map_err(anyhow::Error::from),
        }
    } else {
        match engine.attach_container(machine, &id, mode.stdin).await {
            Ok(process) => attach::run_to_exit(process, mode, Some((engine, machine, &id))).await,
            Err(e) => Err(e.into()),
        }
    };
    // A container that never ran is not removed by the machine on exit;
    // one whose ports were taken is not left behind either.
    let never_ran = match &status {
        Ok(code) => *code == exit::NOT_FOUND || *code == exit::NOT_EXECUTABLE,
        Err(_) => true,
    };
    let ports_taken = status.as_ref().is_err_and(|e| {
        matches!(
            e.downcast_ref::<engine::Error>(),
            Some(engine::Error::Machine(MachineError::PortUnavailable(_)))
        )
    });
    if (a.rm || ports_taken) && never_ran {
        let _ = engine.remove_container(machine, &id, true, true).await;
    }
    status
}
