//! A minimal HTTP/1.1 endpoint for Prometheus: `GET /metrics` answers the
//! OpenMetrics text, anything else a short 404. One tokio task accepts,
//! one task per connection answers; a slow or silent client is dropped
//! after a few seconds and never holds up the event loop.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::Metrics;

/// The longest request head we read; Prometheus sends a few hundred bytes.
const MAX_HEAD: usize = 8 * 1024;
const CLIENT_TIMEOUT: Duration = Duration::from_secs(5);
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// A bound listener, not yet serving: binding first makes a taken port an
/// error at start, before any tracing.
pub struct Server {
    listener: TcpListener,
}

pub async fn bind(addr: SocketAddr) -> Result<Server> {
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("--metrics: cannot listen on {addr}"))?;
    Ok(Server { listener })
}

impl Server {
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }

    /// Serve `metrics` on a task of the current runtime until it ends.
    pub fn spawn(self, metrics: Arc<Metrics>) {
        tokio::spawn(async move {
            loop {
                let Ok((conn, _)) = self.listener.accept().await else {
                    // Out of fds, say: wait rather than spin.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                };
                let m = metrics.clone();
                tokio::spawn(async move {
                    let _ = tokio::time::timeout(CLIENT_TIMEOUT, answer(conn, &m)).await;
                });
            }
        });
    }
}

/// The request's method and path, once its head has arrived.
fn request_line(head: &[u8]) -> Option<(&str, &str)> {
    let line = head.split(|&b| b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?.trim_end();
    let mut parts = line.split(' ');
    Some((parts.next()?, parts.next()?))
}

/// The bytes of a whole response.
pub(super) fn response(method: &str, path: &str, metrics: &Metrics) -> Vec<u8> {
    let path = path.split('?').next().unwrap_or(path);
    let (status, ctype, body) = match (method, path) {
        ("GET" | "HEAD", "/metrics") => ("200 OK", CONTENT_TYPE, metrics.encode()),
        ("GET" | "HEAD", "/") => (
            "200 OK",
            "text/plain; charset=utf-8",
            "tracer: metrics at /metrics\n".to_string(),
        ),
        _ => (
            "404 Not Found",
            "text/plain; charset=utf-8",
            "not found: metrics are at /metrics\n".to_string(),
        ),
    };
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if method != "HEAD" {
        out.extend_from_slice(body.as_bytes());
    }
    out
}

async fn answer(mut conn: TcpStream, metrics: &Metrics) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = conn.read(&mut buf).await?;
        if n == 0 || head.len() + n > MAX_HEAD {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
    }
    let out = match request_line(&head) {
        Some((method, path)) => response(method, path, metrics),
        None => {
            b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec()
        }
    };
    conn.write_all(&out).await?;
    conn.shutdown().await
}
