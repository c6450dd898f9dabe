//! `hutch network`: create, list, inspect and remove container networks,
//! and connect containers to them, as docker's commands do.

use super::MachineArg;
use engine::network::{NetworkCreate, NetworkInspect};
use engine::Engine;

#[derive(clap::Subcommand)]
pub enum NetworkCommand {
    /// Create a network (a bridge in the machine whose containers find
    /// each other by name)
    Create(CreateArgs),
    /// List networks
    #[command(visible_alias = "list")]
    Ls(ListArgs),
    /// Show networks in docker's JSON shape
    Inspect(InspectArgs),
    /// Remove networks
    #[command(visible_alias = "remove")]
    Rm(RemoveArgs),
    /// Connect a container to a network
    Connect(ConnectArgs),
    /// Disconnect a container from a network
    Disconnect(DisconnectArgs),
}

#[derive(clap::Args)]
pub struct CreateArgs {
    name: String,
    /// Subnet in CIDR form inside 172.16.0.0/12 (default: a free /16)
    #[arg(long)]
    subnet: Option<String>,
    /// Driver (only `bridge`)
    #[arg(short, long, default_value = "bridge", value_parser = ["bridge"])]
    driver: String,
    /// Set metadata on the network: KEY=VALUE
    #[arg(long = "label")]
    labels: Vec<String>,
    #[command(flatten)]
    machine: MachineArg,
}

#[derive(clap::Args)]
pub struct ListArgs {
    /// Only show network IDs
    #[arg(short, long)]
    quiet: bool,
    #[command(flatten)]
    machine: MachineArg,
}

#[derive(clap::Args)]
pub struct InspectArgs {
    #[arg(required = true)]
    networks: Vec<String>,
    #[command(flatten)]
    machine: MachineArg,
}

#[derive(clap::Args)]
pub struct RemoveArgs {
    #[arg(required = true)]
    networks: Vec<String>,
    #[command(flatten)]
    machine: MachineArg,
}

#[derive(clap::Args)]
pub struct ConnectArgs {
    network: String,
    container: String,
    /// Another name for the container on this network
    #[arg(long = "alias")]
    aliases: Vec<String>,
    #[command(flatten)]
    machine: MachineArg,
}

#[derive(clap::Args)]
pub struct DisconnectArgs {
    network: String,
    container: String,
    #[command(flatten)]
    machine: MachineArg,
}

/// docker's network commands exit 1 on an error (only `run` and
/// `create` use 125).
pub async fn run(engine: &Engine, command: NetworkCommand) -> anyhow::Result<i32> {
    Ok(act(engine, command).await.unwrap_or_else(|e| {
        eprintln!("hutch: {e:#}");
        1
    }))
}

async fn act(engine: &Engine, command: NetworkCommand) -> anyhow::Result<i32> {
    match command {
        NetworkCommand::Create(a) => {
            let labels = a
                .labels
                .iter()
                .map(|l| {
                    let (k, v) = l.split_once('=').unwrap_or((l, ""));
                    (k.to_string(), v.to_string())
                })
                .collect();
            let create = NetworkCreate {
                name: a.name,
                subnet: a.subnet,
                labels,
            };
            let network = engine.create_network(&a.machine.machine, create).await?;
            outln!("{}", network.id);
        }
        NetworkCommand::Ls(a) => {
            let networks = engine.list_networks(&a.machine.machine).await?;
            if !a.quiet {
                outln!("{:<14} {:<20} {:<10} SCOPE", "NETWORK ID", "NAME", "DRIVER");
            }
            for n in &networks {
                let id = &n.id[..12];
                if a.quiet {
                    outln!("{id}");
                } else {
                    outln!("{id:<14} {:<20} {:<10} local", n.name, n.driver.name());
                }
            }
        }
        NetworkCommand::Inspect(a) => {
            let machine = &a.machine.machine;
            engine.connect_running(machine).await?;
            return super::inspect::print_each(&a.networks, async |name| {
                let network = engine.inspect_network(machine, name).await?;
                Ok(NetworkInspect::from(&network))
            })
            .await;
        }
        NetworkCommand::Rm(a) => {
            let machine = &a.machine.machine;
            engine.connect_running(machine).await?;
            let mut failed = false;
            // docker's: each one named, removed or reported, the rest go on.
            for name in &a.networks {
                match engine.remove_network(machine, name).await {
                    Ok(()) => outln!("{name}"),
                    Err(e) => {
                        eprintln!("hutch: {:#}", anyhow::Error::from(e));
                        failed = true;
                    }
                }
            }
            return Ok(i32::from(failed));
        }
        NetworkCommand::Connect(a) => {
            engine
                .connect_network(&a.machine.machine, &a.network, &a.container, a.aliases)
                .await?;
        }
        NetworkCommand::Disconnect(a) => {
            engine
                .disconnect_network(&a.machine.machine, &a.network, &a.container)
                .await?;
        }
    }
    Ok(0)
}
