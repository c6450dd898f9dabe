//! `hutch login` / `hutch logout`: credentials are checked against the
//! registry before they are saved, as docker does.

use super::credentials::{self, registry_of_key, Credentials};
use super::failure::{self, Failure, RegistryError};
use super::{explain, shown, Transport};
use crate::image::reference::DEFAULT_REGISTRY;
use anyhow::{bail, Result};
use std::io::Read;

pub struct LoginOptions {
    pub server: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub password_stdin: bool,
    pub insecure: bool,
}

fn registry_named(server: Option<&str>) -> Result<String> {
    let registry = server.map_or(DEFAULT_REGISTRY.to_string(), registry_of_key);
    if registry.is_empty() {
        bail!(
            "no registry in {:?}; give a host like registry.example.com:5000",
            server.unwrap_or_default()
        );
    }
    Ok(registry)
}

fn password(o: &LoginOptions) -> Result<String> {
    match (&o.password, o.password_stdin) {
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
        (None, false) => crate::terminal::prompt("Password", true),
    }
}

pub async fn login(o: LoginOptions) -> Result<()> {
    let registry = registry_named(o.server.as_deref())?;
    let username = match &o.username {
        Some(u) => u.clone(),
        None => crate::terminal::prompt("Username", false)?,
    };
    if username.is_empty() || username.contains(':') {
        bail!("the username must not be empty or contain ':'");
    }
    let password = password(&o)?;
    if password.is_empty() {
        bail!("the password must not be empty");
    }
    let credentials = Credentials { username, password };
    let transport = Transport::choose(&registry, o.insecure).await;
    if let Err(e) = check(&registry, transport, &credentials).await {
        if e.failure == Failure::Denied {
            bail!(
                "{} refused the login for {:?}: incorrect username or password",
                shown(&registry),
                credentials.username
            );
        }
        return Err(explain(e.into(), &registry, "logging in", false));
    }
    credentials::save(&registry, &credentials)?;
    outln!("Login Succeeded");
    Ok(())
}

pub fn logout(server: Option<&str>) -> Result<()> {
    let registry = registry_named(server)?;
    if credentials::remove(&registry)? {
        outln!("Removing login credentials for {registry}");
    } else {
        outln!("Not logged in to {registry}");
    }
    Ok(())
}

/// Asks the registry whether the credentials are good: `/v2/` with them
/// (Basic), or the token service it names (Bearer).
async fn check(
    registry: &str,
    transport: Transport,
    credentials: &Credentials,
) -> Result<(), RegistryError> {
    let client = transport.http_client()?;
    let base = transport.api_base(registry);
    let anonymous = client.get(&base).send().await?;
    let status = anonymous.status().as_u16();
    if anonymous.status().is_success() {
        // An open registry: nothing to check the credentials against.
        return Ok(());
    }
    if status != 401 {
        return Err(unexpected(&base, status));
    }
    let challenge = anonymous
        .headers()
        .get(reqwest::header::WWW_AUTHENTICATE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let (user, pass) = (&credentials.username, Some(&credentials.password));
    let (url, answer) = match Challenge::parse(challenge) {
        Challenge::Bearer { realm, service } => {
            let mut query = vec![("account", user.as_str())];
            if let Some(service) = &service {
                query.push(("service", service));
            }
            let answer = client
                .get(&realm)
                .query(&query)
                .basic_auth(user, pass)
                .send()
                .await?;
            (realm, answer)
        }
        Challenge::Basic => {
            let answer = client.get(&base).basic_auth(user, pass).send().await?;
            (base, answer)
        }
    };
    match answer.status().as_u16() {
        200..=299 => Ok(()),
        401 | 403 => Err(RegistryError::new(
            Failure::Denied,
            "incorrect username or password",
        )),
        code => Err(unexpected(&url, code)),
    }
}

fn unexpected(url: &str, status: u16) -> RegistryError {
    let failure = match failure::of_status(status) {
        // /v2/ missing means this is no registry, not that an image is missing.
        Failure::NotFound => Failure::Other,
        other => other,
    };
    RegistryError::new(failure, format!("{url} answered HTTP {status}"))
}

/// A `WWW-Authenticate` challenge, as far as login needs it.
#[derive(Debug, PartialEq, Eq)]
enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
    },
}

impl Challenge {
    /// `Bearer realm="https://auth.example/token",service="registry"`; any
    /// challenge that is not a usable Bearer one is answered with Basic.
    fn parse(header: &str) -> Challenge {
        let (scheme, params) = header.trim().split_once(' ').unwrap_or((header, ""));
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Challenge::Basic;
        }
        let params = auth_params(params);
        let get = |key: &str| {
            params
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| v.clone())
        };
        match get("realm") {
            Some(realm) => Challenge::Bearer {
                realm,
                service: get("service"),
            },
            None => Challenge::Basic,
        }
    }
}

/// `a="x, y",b=z` → [(a, "x, y"), (b, z)]: commas inside quotes are kept.
fn auth_params(text: &str) -> Vec<(String, String)> {
    let mut params = Vec::new();
    let mut rest = text.trim();
    while let Some((key, after)) = rest.split_once('=') {
        let after = after.trim_start();
        let (value, remainder) = match after.strip_prefix('"') {
            Some(quoted) => {
                let end = quoted.find('"').unwrap_or(quoted.len());
                (&quoted[..end], quoted.get(end + 1..).unwrap_or(""))
            }
            None => after.split_once(',').map_or((after, ""), |(v, r)| (v, r)),
        };
        params.push((key.trim().to_string(), value.to_string()));
        rest = remainder.trim_start_matches([',', ' ']);
    }
    params
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_challenges_name_their_token_service() {
        assert_eq!(
            Challenge::parse(
                r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io""#
            ),
            Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
            }
        );
        assert_eq!(
            Challenge::parse(r#"Bearer realm="https://a/t?x=1,2", scope="repository:a:pull""#),
            Challenge::Bearer {
                realm: "https://a/t?x=1,2".into(),
                service: None
            }
        );
        assert_eq!(
            Challenge::parse(r#"Basic realm="hutch-test""#),
            Challenge::Basic
        );
        assert_eq!(Challenge::parse("Bearer"), Challenge::Basic);
        assert_eq!(
            auth_params("a=1, b=\"two\""),
            vec![("a".into(), "1".into()), ("b".into(), "two".into())]
        );
    }

    #[test]
    fn servers_are_named_like_docker_names_them() {
        assert_eq!(registry_named(None).unwrap(), "docker.io");
        assert_eq!(
            registry_named(Some("https://index.docker.io/v1/")).unwrap(),
            "docker.io"
        );
        assert_eq!(
            registry_named(Some("localhost:5000")).unwrap(),
            "localhost:5000"
        );
        assert!(registry_named(Some("https://")).is_err());
    }
}
