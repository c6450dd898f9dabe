//! `hutch port`: where a container's ports are published, as docker
//! prints it (`80/tcp -> 0.0.0.0:8080`).

use super::MachineArg;
use engine::container::PortProtocol;
use engine::Engine;

#[derive(clap::Args)]
pub struct PortArgs {
    container: String,
    /// Only this container port: PORT[/PROTOCOL] (tcp when not given)
    #[arg(value_parser = parse_private_port)]
    port: Option<(u16, PortProtocol)>,
    #[command(flatten)]
    machine: MachineArg,
}

fn parse_private_port(text: &str) -> Result<(u16, PortProtocol), String> {
    let (port, protocol) = text.split_once('/').unwrap_or((text, "tcp"));
    let protocol = match protocol {
        "tcp" => PortProtocol::Tcp,
        "udp" => PortProtocol::Udp,
        other => return Err(format!("unknown protocol {other:?} (tcp or udp)")),
    };
    let port = port
        .parse()
        .map_err(|_| format!("{port:?} is not a port (1-65535)"))?;
    Ok((port, protocol))
}

pub async fn run(engine: &Engine, a: PortArgs) -> anyhow::Result<i32> {
    let details = engine
        .inspect_container(&a.machine.machine, &a.container)
        .await?;
    let mut ports = details.info.ports;
    ports.sort_by_key(|b| (b.container_port, b.protocol));
    match a.port {
        None => {
            for b in &ports {
                outln!(
                    "{}/{} -> {}",
                    b.container_port,
                    b.protocol,
                    b.host_address()
                );
            }
        }
        Some((port, protocol)) => {
            let matching: Vec<_> = ports
                .iter()
                .filter(|b| b.container_port == port && b.protocol == protocol)
                .collect();
            if matching.is_empty() {
                eprintln!(
                    "hutch: no public port '{port}/{protocol}' published for {}",
                    a.container
                );
                return Ok(1);
            }
            for b in matching {
                outln!("{}", b.host_address());
            }
        }
    }
    Ok(0)
}
