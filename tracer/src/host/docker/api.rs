//! The Docker Engine API over its unix socket: one `GET`, one connection
//! (HTTP/1.1 through hyper; the engine answers in JSON).

use std::path::Path;

use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use hyper::{Request, StatusCode, header};
use hyper_util::rt::TokioIo;
use tokio::net::UnixStream;

/// No answer of the engine that we ask for is near this large.
const MAX_BODY: usize = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("cannot connect: {0}")]
    Connect(#[source] std::io::Error),
    #[error("{0}")]
    Http(#[from] hyper::Error),
    #[error("bad request: {0}")]
    Request(#[from] hyper::http::Error),
    #[error("reading the answer: {0}")]
    Body(String),
    #[error("HTTP {status}: {text}")]
    Status { status: StatusCode, text: String },
    #[error("unexpected JSON: {0}")]
    Json(#[from] serde_json::Error),
}

impl ApiError {
    /// The engine answered, but has no such object (a container already removed).
    pub fn not_found(&self) -> bool {
        matches!(self, ApiError::Status { status, .. } if *status == StatusCode::NOT_FOUND)
    }
}

/// `GET path` (e.g. `/v1.41/containers/<id>/json`) on the engine at
/// `socket`; the body of a 2xx answer.
pub async fn get(socket: &Path, path: &str) -> Result<Bytes, ApiError> {
    let stream = UnixStream::connect(socket)
        .await
        .map_err(ApiError::Connect)?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    // The connection's I/O runs beside the request; it ends with it.
    tokio::spawn(conn);
    let req = Request::get(path)
        .header(header::HOST, "docker")
        .body(Empty::<Bytes>::new())?;
    let res = sender.send_request(req).await?;
    let status = res.status();
    let body = Limited::new(res.into_body(), MAX_BODY)
        .collect()
        .await
        .map_err(|e| ApiError::Body(e.to_string()))?
        .to_bytes();
    if !status.is_success() {
        let text = String::from_utf8_lossy(&body).trim().to_string();
        return Err(ApiError::Status { status, text });
    }
    Ok(body)
}

/// `GET path`, the body as JSON.
pub async fn get_json<T: serde::de::DeserializeOwned>(
    socket: &Path,
    path: &str,
) -> Result<T, ApiError> {
    let body = get(socket, path).await?;
    Ok(serde_json::from_slice(&body)?)
}
