//! What a registry failure means, decided once from the error's type: it
//! drives both the retry decision and the message the user reads (see
//! `explain`).

use oci_client::errors::{OciDistributionError, OciErrorCode};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    NotFound,
    Denied,
    /// The bytes are wrong (digest mismatch) or could not be stored.
    BadContent,
    Unreachable,
    /// The TLS certificate could not be verified.
    Untrusted,
    /// The registry answered with a 5xx status.
    ServerError(u16),
    Other,
}

/// A registry failure as it happened, with its meaning attached.
#[derive(Debug, thiserror::Error)]
#[error("{detail}")]
pub struct RegistryFailure {
    pub failure: Failure,
    detail: String,
}

impl RegistryFailure {
    pub fn new(failure: Failure, detail: impl std::fmt::Display) -> RegistryFailure {
        RegistryFailure {
            failure,
            detail: detail.to_string(),
        }
    }

    /// Failures a retry cannot fix: the registry said no, or the bytes are wrong.
    pub fn is_permanent(&self) -> bool {
        matches!(
            self.failure,
            Failure::NotFound | Failure::Denied | Failure::BadContent | Failure::Untrusted
        )
    }
}

impl From<OciDistributionError> for RegistryFailure {
    fn from(e: OciDistributionError) -> RegistryFailure {
        use OciDistributionError as E;
        let failure = match &e {
            E::ImageManifestNotFoundError(_) => Failure::NotFound,
            E::UnauthorizedError { .. } | E::AuthenticationFailure(_) => Failure::Denied,
            E::RegistryError { envelope, .. } => envelope
                .errors
                .first()
                .map(|error| of_code(&error.code))
                .unwrap_or(Failure::Other),
            E::ServerError { code, .. } => of_status(*code),
            E::RequestError(r) => of_request(r),
            E::DigestError(_) => Failure::BadContent,
            _ => Failure::Other,
        };
        let detail = match &e {
            E::RequestError(r) => error_chain(r),
            _ => e.to_string(),
        };
        RegistryFailure::new(failure, detail)
    }
}

impl From<reqwest::Error> for RegistryFailure {
    fn from(e: reqwest::Error) -> RegistryFailure {
        RegistryFailure::new(of_request(&e), error_chain(&e))
    }
}

fn of_code(code: &OciErrorCode) -> Failure {
    use OciErrorCode as C;
    match code {
        C::ManifestUnknown | C::NameUnknown | C::BlobUnknown | C::NotFound => Failure::NotFound,
        C::Unauthorized | C::Denied => Failure::Denied,
        C::Toomanyrequests => Failure::ServerError(429),
        _ => Failure::Other,
    }
}

pub fn of_status(code: u16) -> Failure {
    match code {
        404 => Failure::NotFound,
        401 | 403 => Failure::Denied,
        429 | 500..=599 => Failure::ServerError(code),
        _ => Failure::Other,
    }
}

fn of_request(e: &reqwest::Error) -> Failure {
    if error_chain(e).contains("certificate") {
        Failure::Untrusted
    } else if e.is_connect() || e.is_timeout() {
        Failure::Unreachable
    } else if let Some(status) = e.status() {
        of_status(status.as_u16())
    } else {
        Failure::Other
    }
}

/// reqwest keeps the useful part (refused, TLS alert) in its sources.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_have_meanings() {
        assert_eq!(of_status(404), Failure::NotFound);
        assert_eq!(of_status(401), Failure::Denied);
        assert_eq!(of_status(503), Failure::ServerError(503));
        assert_eq!(of_status(418), Failure::Other);
    }

    #[test]
    fn refusals_and_bad_bytes_are_not_retried() {
        assert!(RegistryFailure::new(Failure::Denied, "401").is_permanent());
        assert!(RegistryFailure::new(Failure::BadContent, "digest").is_permanent());
        assert!(!RegistryFailure::new(Failure::ServerError(503), "busy").is_permanent());
        assert!(!RegistryFailure::new(Failure::Unreachable, "refused").is_permanent());
    }
}
