//! `hutch`: Linux containers in a lightweight VM. This binary is a front
//! end: it parses arguments, asks the engine, prints, and picks the exit
//! status.

// First, so that every module below has `outln!`.
#[macro_use]
mod output;
mod attach;
mod commands;
mod exit;
mod progress;
mod reporter;
mod terminal;
mod time;
mod units;

use clap::Parser;
use commands::machine::MachineCommand;
use commands::system::SystemCommand;
use commands::{Cli, Command};
use engine::{Engine, Home};
use std::sync::Arc;

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("HUTCH_LOG"))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::try_parse().unwrap_or_else(|e| {
        // docker ends usage errors with 125 too; help and version with 0.
        let _ = e.print();
        std::process::exit(if e.use_stderr() {
            exit::HUTCH_FAILED
        } else {
            0
        })
    });
    let printer = Arc::new(reporter::Printer::default());
    let status = match run(cli, printer.clone()) {
        Ok(status) => status,
        Err(e) => {
            printer.finish_pull();
            eprintln!("hutch: {e:#}");
            exit::status_of(&e)
        }
    };
    std::process::exit(status);
}

fn run(cli: Cli, printer: Arc<reporter::Printer>) -> anyhow::Result<i32> {
    let engine = Engine::new(Home::from_env()?, printer);
    if let Command::Machine(MachineCommand::Monitor(args)) = &cli.command {
        // The monitor is synchronous (threads for devices and vCPUs).
        return commands::machine::monitor(&engine, args);
    }
    if let Command::Machine(MachineCommand::Share(args)) = &cli.command {
        // The sandboxed file server forks: before any runtime's threads.
        return commands::machine::share(args);
    }
    if let Command::System(SystemCommand::Service(args)) = &cli.command {
        return commands::service::serve(&engine, args);
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let result = runtime.block_on(cli.command.run(&engine));
    // A read of our stdin may still be blocked in a worker thread (a
    // terminal sends no EOF); waiting for it would hang the exit.
    runtime.shutdown_background();
    result
}
