//! Logging in to a registry: the credentials are checked with the
//! registry before they are saved, as docker does. Asking the user for
//! them is the front end's business.

use super::credentials::{self, registry_of_key, Credentials};
use super::error::RegistryError;
use super::failure::{self, Failure, RegistryFailure};
use super::{explain, shown, Transport};
use crate::home::Home;
use crate::image::reference::DEFAULT_REGISTRY;

/// The registry a login names (`None`: Docker Hub), as credentials key it.
pub fn registry_named(server: Option<&str>) -> Result<String, RegistryError> {
    let registry = server.map_or(DEFAULT_REGISTRY.to_string(), registry_of_key);
    if registry.is_empty() {
        return Err(RegistryError::Invalid(format!(
            "no registry in {:?}; give a host like registry.example.com:5000",
            server.unwrap_or_default()
        )));
    }
    Ok(registry)
}

/// Checks `credentials` with `registry` and saves them; `insecure` allows
/// plain HTTP or an unverifiable certificate.
pub async fn login(
    home: &Home,
    registry: &str,
    credentials: &Credentials,
    insecure: bool,
) -> Result<(), RegistryError> {
    if credentials.username.is_empty() || credentials.username.contains(':') {
        return Err(RegistryError::Invalid(
            "the username must not be empty or contain ':'".into(),
        ));
    }
    if credentials.password.is_empty() {
        return Err(RegistryError::Invalid(
            "the password must not be empty".into(),
        ));
    }
    let transport = Transport::choose(registry, insecure).await;
    if let Err(e) = check(registry, transport, credentials).await {
        if e.failure == Failure::Denied {
            let message = format!(
                "{} refused the login for {:?}: incorrect username or password",
                shown(registry),
                credentials.username
            );
            return Err(RegistryError::Failed { message, source: e });
        }
        return Err(explain(e, registry, "logging in", false));
    }
    credentials::save(home, registry, credentials)
}

/// Forgets `registry`'s credentials; false if hutch had none.
pub fn logout(home: &Home, registry: &str) -> Result<bool, RegistryError> {
    credentials::remove(home, registry)
}

/// Asks the registry whether the credentials are good: `/v2/` with them
/// (Basic), or the token service it names (Bearer).
async fn check(
    registry: &str,
    transport: Transport,
    credentials: &Credentials,
) -> Result<(), RegistryFailure> {
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
        401 | 403 => Err(RegistryFailure::new(
            Failure::Denied,
            "incorrect username or password",
        )),
        code => Err(unexpected(&url, code)),
    }
}

fn unexpected(url: &str, status: u16) -> RegistryFailure {
    let failure = match failure::of_status(status) {
        // /v2/ missing means this is no registry, not that an image is missing.
        Failure::NotFound => Failure::Other,
        other => other,
    };
    RegistryFailure::new(failure, format!("{url} answered HTTP {status}"))
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
