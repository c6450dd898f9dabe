//! Reaching a registry: which scheme it speaks, whose credentials go with
//! the requests, and what its failures mean. Shared by `pull` and `login`.

pub mod credentials;
pub mod error;
pub mod failure;
pub mod login;

pub use error::RegistryError;

use crate::image::reference::DEFAULT_REGISTRY;
use failure::{Failure, RegistryFailure};
use std::time::Duration;

/// Long enough for a slow registry, short enough that a wrong address does
/// not look like a hang.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// Registries on this machine speak plain HTTP, as docker allows.
pub fn is_local(registry: &str) -> bool {
    let host = match registry.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(v6),
        None => registry.split(':').next().unwrap_or(registry),
    };
    host == "localhost" || host.starts_with("127.") || host == "::1"
}

/// The host that serves the API: Docker Hub's differs from its image names.
pub fn api_host(registry: &str) -> &str {
    if registry == DEFAULT_REGISTRY {
        "index.docker.io"
    } else {
        registry
    }
}

/// How requests reach a registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Https,
    /// `--insecure` and the registry speaks TLS: its certificate is not checked.
    HttpsUnverified,
    Http,
}

impl Transport {
    /// HTTPS with verified certificates, except on loopback (plain HTTP).
    /// With `insecure`, docker's rule for insecure registries: HTTPS without
    /// certificate checks if the registry answers it, else plain HTTP.
    pub async fn choose(registry: &str, insecure: bool) -> Transport {
        if is_local(registry) {
            return Transport::Http;
        }
        if !insecure {
            return Transport::Https;
        }
        let probe = match Transport::HttpsUnverified.http_client() {
            Ok(client) => {
                client
                    .get(Transport::HttpsUnverified.api_base(registry))
                    .send()
                    .await
            }
            Err(_) => return Transport::Http,
        };
        match probe {
            Ok(_) => Transport::HttpsUnverified,
            Err(_) => Transport::Http,
        }
    }

    pub fn api_base(self, registry: &str) -> String {
        let scheme = match self {
            Transport::Http => "http",
            Transport::Https | Transport::HttpsUnverified => "https",
        };
        format!("{scheme}://{}/v2/", api_host(registry))
    }

    /// A client for the distribution API (`pull`).
    pub fn oci_client(self) -> oci_client::Client {
        use oci_client::client::{ClientConfig, ClientProtocol};
        oci_client::Client::new(ClientConfig {
            protocol: match self {
                Transport::Http => ClientProtocol::Http,
                Transport::Https | Transport::HttpsUnverified => ClientProtocol::Https,
            },
            accept_invalid_certificates: self == Transport::HttpsUnverified,
            connect_timeout: Some(CONNECT_TIMEOUT),
            ..Default::default()
        })
    }

    /// A plain HTTP client for what the distribution client does not do
    /// (checking credentials at login, probing for TLS).
    pub fn http_client(self) -> Result<reqwest::Client, RegistryFailure> {
        reqwest::Client::builder()
            .danger_accept_invalid_certs(self == Transport::HttpsUnverified)
            .connect_timeout(CONNECT_TIMEOUT)
            .user_agent(concat!("hutch/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| RegistryFailure::new(Failure::Other, e))
    }
}

/// How a registry is named in messages.
pub fn shown(registry: &str) -> &str {
    if registry == DEFAULT_REGISTRY {
        "Docker Hub"
    } else {
        registry
    }
}

/// Turns a failure talking to `registry` about `subject` into what it
/// means for the user and what to do.
pub fn explain(
    e: RegistryFailure,
    registry: &str,
    subject: &str,
    logged_in: bool,
) -> RegistryError {
    let name = shown(registry);
    let plain_http_hint = if is_local(registry) || registry == DEFAULT_REGISTRY {
        ""
    } else {
        " A registry that serves plain HTTP needs --insecure."
    };
    let message = match e.failure {
        Failure::NotFound => format!("{subject} not found in {name}"),
        Failure::Denied if logged_in => format!(
            "{name} refused access to {subject} with the stored credentials \
             (is the name right? log in again with `hutch login {registry}`)"
        ),
        Failure::Denied => format!(
            "{name} refused access to {subject} (is the name right? \
             if it needs a login: `hutch login {registry}`)"
        ),
        Failure::Unreachable => format!(
            "cannot reach the registry {name}. Is it running, and is the name right?{plain_http_hint}"
        ),
        Failure::Untrusted => format!(
            "cannot verify the TLS certificate of {name}; if you trust this registry, use --insecure"
        ),
        Failure::ServerError(code) => format!(
            "the registry {name} failed (HTTP {code}) while serving {subject}; try again later"
        ),
        Failure::BadContent | Failure::Other => format!("{subject} from {name}"),
    };
    RegistryError::Failed { message, source: e }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_names_are_local() {
        for local in [
            "localhost:5000",
            "127.0.0.1:5000",
            "127.1.2.3",
            "[::1]:5000",
            "localhost",
        ] {
            assert!(is_local(local), "{local}");
        }
        for remote in [
            "docker.io",
            "localhost.example:5000",
            "10.0.0.1:5000",
            "[fd00::2]:5000",
        ] {
            assert!(!is_local(remote), "{remote}");
        }
    }
}
