//! docker's error responses: `{"message": ...}` with the status its
//! clients act on (404 sends the CLI to pull a missing image, 409 is a
//! conflict, 400 a bad parameter).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use engine::ErrorKind;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, message)
    }
}

/// The status docker gives each kind of failure.
fn status_of(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        // docker answers a command that cannot run with 400; its CLI reads
        // 126/127 from the message.
        ErrorKind::InvalidInput | ErrorKind::CommandNotFound | ErrorKind::CommandNotExecutable => {
            StatusCode::BAD_REQUEST
        }
        ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::Denied => StatusCode::FORBIDDEN,
        ErrorKind::MachineNotRunning | ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// An engine error, its "not found" told in docker's words for what was
/// looked up (clients match those words: docker-py's `ImageNotFound`).
pub fn not_found_as(message: String) -> impl FnOnce(engine::Error) -> ApiError {
    move |e| match e.kind() {
        ErrorKind::NotFound => ApiError::not_found(message),
        _ => e.into(),
    }
}

/// docker's words for an image that is not here.
pub fn no_such_image(name: &impl std::fmt::Display) -> impl FnOnce(engine::Error) -> ApiError {
    not_found_as(format!("No such image: {name}"))
}

/// An error and its causes on one line, as docker's messages read.
pub fn message_of(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.contains(&text) {
            message = format!("{message}: {text}");
        }
        source = cause.source();
    }
    message
}

impl From<engine::Error> for ApiError {
    fn from(e: engine::Error) -> ApiError {
        ApiError::new(status_of(e.kind()), message_of(&e))
    }
}

impl From<engine::machine::MachineError> for ApiError {
    fn from(e: engine::machine::MachineError) -> ApiError {
        engine::Error::from(e).into()
    }
}

impl From<axum::extract::rejection::BytesRejection> for ApiError {
    fn from(e: axum::extract::rejection::BytesRejection) -> ApiError {
        ApiError::new(e.status(), e.body_text())
    }
}

impl From<axum::extract::rejection::QueryRejection> for ApiError {
    fn from(e: axum::extract::rejection::QueryRejection) -> ApiError {
        ApiError::bad_request(e.body_text())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = bollard_stubs::models::ErrorResponse {
            message: self.message,
        };
        (self.status, Json(body)).into_response()
    }
}

/// A JSON body, or docker's 400 saying what is wrong with it.
pub fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> ApiResult<T> {
    if body.is_empty() {
        return serde_json::from_slice(b"{}")
            .map_err(|e| ApiError::bad_request(format!("a JSON body is required: {e}")));
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("invalid JSON in the request body: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    struct Body {
        #[serde(rename = "Name")]
        _name: Option<String>,
    }

    #[test]
    fn malformed_json_is_a_bad_request_with_a_message() {
        let e = parse_json::<Body>(b"{\"Name\": ").unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert!(e.message.contains("invalid JSON"), "{}", e.message);
        assert!(parse_json::<Body>(b"").is_ok());
    }
}
