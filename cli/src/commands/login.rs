//! `hutch login` / `hutch logout`: asking for what was not given, then the
//! engine checks the credentials with the registry and keeps them.

use crate::terminal;
use anyhow::bail;
use engine::registry::credentials::Credentials;
use engine::registry::login::{self, registry_named};
use engine::Engine;
use std::io::Read;

#[derive(clap::Args)]
pub struct LoginArgs {
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
pub struct LogoutArgs {
    /// Registry host (default: Docker Hub)
    server: Option<String>,
}

fn password(a: &LoginArgs) -> anyhow::Result<String> {
    match (&a.password, a.password_stdin) {
        (Some(_), true) => bail!("--password and --password-stdin are mutually exclusive"),
        (None, true) => {
            let mut text = String::new();
            std::io::stdin().read_to_string(&mut text)?;
            Ok(text.trim_end_matches(['\r', '\n']).to_string())
        }
        (Some(p), false) => {
            eprintln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
            Ok(p.clone())
        }
        (None, false) => terminal::prompt("Password", true),
    }
}

pub async fn login(engine: &Engine, a: LoginArgs) -> anyhow::Result<i32> {
    let registry = registry_named(a.server.as_deref())?;
    let username = match &a.username {
        Some(u) => u.clone(),
        None => terminal::prompt("Username", false)?,
    };
    let credentials = Credentials {
        username,
        password: password(&a)?,
    };
    login::login(engine.home(), &registry, &credentials, a.insecure).await?;
    outln!("Login Succeeded");
    Ok(0)
}

pub fn logout(engine: &Engine, a: LogoutArgs) -> anyhow::Result<i32> {
    let registry = registry_named(a.server.as_deref())?;
    if login::logout(engine.home(), &registry)? {
        outln!("Removing login credentials for {registry}");
    } else {
        outln!("Not logged in to {registry}");
    }
    Ok(0)
}
