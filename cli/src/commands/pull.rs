//! `hutch pull`: progress comes through the reporter (see `reporter.rs`).

use engine::image::Reference;
use engine::Engine;

#[derive(clap::Args)]
pub struct PullArgs {
    image: Reference,
    /// Allow a registry with plain HTTP or an unverifiable TLS certificate
    #[arg(long)]
    insecure: bool,
}

pub async fn run(engine: &Engine, a: PullArgs) -> anyhow::Result<i32> {
    engine.pull(&a.image, a.insecure).await?;
    Ok(0)
}
