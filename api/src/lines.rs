//! docker's progress responses (pull, build): a 200 whose body is one
//! JSON object a line, sent as each arrives, until every sender is gone.

use axum::body::{Body, Bytes};
use axum::http::header::CONTENT_TYPE;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;
use tokio::sync::mpsc::UnboundedReceiver;

pub fn json_lines<T: Serialize + Send + 'static>(receiver: UnboundedReceiver<T>) -> Response {
    let body = futures_util::stream::unfold(receiver, |mut receiver| async move {
        let item = receiver.recv().await?;
        let mut line = serde_json::to_vec(&item).unwrap_or_default();
        line.push(b'\n');
        Some((
            Ok::<_, std::convert::Infallible>(Bytes::from(line)),
            receiver,
        ))
    });
    Response::builder()
        .status(StatusCode::OK)
        .header(CONTENT_TYPE, "application/json")
        .body(Body::from_stream(body))
        .expect("static headers are valid")
}
