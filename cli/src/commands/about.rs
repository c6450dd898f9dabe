//! `hutch version`, `hutch info` and `hutch completion`: what hutch and
//! its machine are, as docker's `version` and `info` show a daemon.

use super::MachineArg;
use crate::units::human_size;
use engine::container::ContainerState;
use engine::machine::MachineStatus;
use engine::Engine;

#[derive(clap::Args)]
pub struct ManArgs {
    /// The directory to write hutch.1 and a page per command into
    #[arg(long)]
    dir: std::path::PathBuf,
}

#[derive(clap::Args)]
pub struct CompletionArgs {
    /// The shell to complete for
    shell: clap_complete::Shell,
}

/// `hutch version`: the client, and the machine that serves it.
pub async fn version(engine: &Engine, a: MachineArg) -> anyhow::Result<i32> {
    outln!("Client: hutch");
    outln!(" Version:      {}", env!("CARGO_PKG_VERSION"));
    outln!(
        " API version:  {} (hutch system service)",
        hutch_api::API_VERSION
    );
    outln!(
        " OS/Arch:      {}/{}",
        std::env::consts::OS,
        std::env::consts::ARCH
    );
    outln!();
    match engine.machine_status(&a.machine).await? {
        MachineStatus::Running { monitor, guest } => {
            outln!("Server: machine {:?}", a.machine);
            outln!(" Kernel:       {}", guest.kernel);
            outln!(
                " Backend:      {} (accel {})",
                monitor.machine.backend,
                monitor.machine.accel
            );
            outln!(" OS/Arch:      linux/{}", std::env::consts::ARCH);
        }
        MachineStatus::Stopped { .. } => {
            outln!(
                "Server: machine {:?} is not running (hutch machine start)",
                a.machine
            );
        }
    }
    Ok(0)
}

/// `hutch info`: the machine's containers, images and resources.
pub async fn info(engine: &Engine, a: MachineArg) -> anyhow::Result<i32> {
    let machine = &a.machine;
    let containers = engine.list_containers(machine).await?;
    let count = |state| containers.iter().filter(|c| c.state == state).count();
    let mut images: Vec<_> = engine.images()?.into_iter().map(|i| i.id).collect();
    images.sort();
    images.dedup();
    outln!("Containers: {}", containers.len());
    outln!(" Running: {}", count(ContainerState::Running));
    outln!(
        " Stopped: {}",
        containers.len() - count(ContainerState::Running)
    );
    outln!("Images: {}", images.len());
    outln!("Server Version: {}", env!("CARGO_PKG_VERSION"));
    outln!("Storage Driver: overlay2 (on the machine's disk)");
    outln!("Cgroup Version: 2");
    if let MachineStatus::Running { monitor, guest } = engine.machine_status(machine).await? {
        outln!("Kernel Version: {}", guest.kernel);
        outln!("Operating System: hutch machine {machine:?}");
        outln!("OSType: linux");
        outln!("Architecture: {}", std::env::consts::ARCH);
        outln!("CPUs: {}", guest.cpus);
        outln!("Total Memory: {}", human_size(guest.memory_bytes));
        outln!(
            "Backend: {} (accel {})",
            monitor.machine.backend,
            monitor.machine.accel
        );
        for share in &monitor.machine.shares {
            outln!("Shared Directory: {}", share.display());
        }
    }
    outln!("Hutch Root Dir: {}", engine.home().root().display());
    Ok(0)
}

/// `hutch completion SHELL`: a completion script, from hutch's own
/// command line definition.
pub fn completion(a: CompletionArgs) -> anyhow::Result<i32> {
    use clap::CommandFactory;
    let mut command = super::Cli::command();
    clap_complete::generate(a.shell, &mut command, "hutch", &mut std::io::stdout());
    Ok(0)
}

/// `hutch man --dir DIR`: man pages (hutch.1, hutch-run.1, ...) from the
/// same definitions as `--help`.
pub fn man(a: ManArgs) -> anyhow::Result<i32> {
    use clap::CommandFactory;
    std::fs::create_dir_all(&a.dir)?;
    let command = super::Cli::command();
    write_pages(&command, "hutch", &a.dir)?;
    Ok(0)
}

fn write_pages(command: &clap::Command, name: &str, dir: &std::path::Path) -> anyhow::Result<()> {
    let page = command.clone().name(name.to_string());
    let mut roff = Vec::new();
    clap_mangen::Man::new(page).render(&mut roff)?;
    std::fs::write(dir.join(format!("{name}.1")), roff)?;
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        write_pages(sub, &format!("{name}-{}", sub.get_name()), dir)?;
    }
    Ok(())
}
