//! `hutch network`: create, list, inspect and remove container networks,
//! and connect containers to them, as docker's commands do.

use super::{ListArgs, MachineArg, NamesArgs};
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
    Inspect(NamesArgs),
    /// Remove networks
    #[command(visible_alias = "remove")]
    Rm(NamesArgs),
    /// Connect a container to a network
    Connect(ConnectArgs),
    /// Disconnect a container from a network
    Disconnect(DisconnectArgs),
    /// Remove the networks no container belongs to, after a confirmation
    Prune(super::prune::NetworkPruneArgs),
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

pub async fn run(engine: &Engine, command: NetworkCommand) -> anyhow::Result<i32> {
    Ok(super::error_exits_1(act(engine, command).await))
}

async fn act(engine: &Engine, command: NetworkCommand) -> anyhow::Result<i32> {
    match command {
        NetworkCommand::Create(a) => {
            let create = NetworkCreate {
                name: a.name,
                subnet: a.subnet,
                labels: super::labels(&a.labels),
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
            return super::inspect::print_each(&a.names, async |name| {
                let network = engine.inspect_network(machine, name).await?;
                Ok(NetworkInspect::from(&network))
            })
            .await;
        }
        NetworkCommand::Rm(a) => {
            let machine = &a.machine.machine;
            // docker's: each one named, removed or reported, the rest go on.
            return super::for_each(engine, machine, &a.names, async |name| {
                engine.remove_network(machine, name).await?;
                Ok(name.to_string())
            })
            .await;
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
        NetworkCommand::Prune(a) => return super::prune::network(engine, a).await,
    }
    Ok(0)
}
