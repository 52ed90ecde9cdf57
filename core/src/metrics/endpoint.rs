//! A small HTTP endpoint serving [`openmetrics_text`] at `GET /metrics`, for Prometheus to
//! scrape. One per address in a process: clients asking for the same address share it, and
//! it closes with the last of them.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::openmetrics_text;
use crate::error::{Error, ErrorKind, Result};
use crate::runtime;

/// Longest request head read (a scraper's is a few hundred bytes).
const MAX_HEAD: usize = 8 * 1024;
/// How long a connection may take to send its request.
const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// The content type of OpenMetrics text, which Prometheus asks for first.
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// A running metrics endpoint; it stops when dropped.
#[derive(Debug)]
pub struct MetricsEndpoint {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl MetricsEndpoint {
    /// Binds `addr` (port 0 picks a free port) and serves every live client's metrics at
    /// `GET /metrics` on zkha's runtime. A bind failure names the address.
    pub fn start(addr: SocketAddr) -> Result<MetricsEndpoint> {
        let listener = std::net::TcpListener::bind(addr)
            .and_then(|l| l.set_nonblocking(true).map(|_| l))
            .map_err(|e| {
                Error::new(
                    ErrorKind::Io,
                    format!("cannot serve metrics on {addr}: {e} (metrics address or port)"),
                )
            })?;
        let addr = listener.local_addr()?;
        let task = runtime::spawn(async move {
            let listener = match TcpListener::from_std(listener) {
                Ok(l) => l,
                Err(e) => {
                    tracing::error!(target: "zkha::metrics", %addr, error = %e, "metrics endpoint failed");
                    return;
                }
            };
            loop {
                match listener.accept().await {
                    Ok((stream, _)) => {
                        runtime::spawn(serve(stream));
                    }
                    Err(e) => {
                        tracing::warn!(target: "zkha::metrics", %addr, error = %e, "accepting a metrics connection");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
        });
        tracing::info!(target: "zkha::metrics", %addr, "serving metrics at /metrics");
        Ok(MetricsEndpoint { addr, task })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for MetricsEndpoint {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Endpoints by the address they were asked for (port 0 is never shared).
static SHARED: Mutex<Option<HashMap<SocketAddr, Weak<MetricsEndpoint>>>> = Mutex::new(None);

/// The endpoint for `addr` (or the first port of `addr.port()..=end` free or already served
/// by this process), started if no live client has it yet.
pub(crate) fn shared_endpoint(addr: SocketAddr, end: Option<u16>) -> Result<Arc<MetricsEndpoint>> {
    if addr.port() == 0 {
        return Ok(Arc::new(MetricsEndpoint::start(addr)?));
    }
    let mut shared = SHARED.lock().unwrap_or_else(|p| p.into_inner());
    let map = shared.get_or_insert_with(HashMap::new);
    map.retain(|_, e| e.strong_count() > 0);
    if let Some(e) = map.get(&addr).and_then(Weak::upgrade) {
        return Ok(e);
    }
    let last = end.unwrap_or(addr.port()).max(addr.port());
    let mut first_error = None;
    for port in addr.port()..=last {
        let at = SocketAddr::new(addr.ip(), port);
        match MetricsEndpoint::start(at) {
            Ok(e) => {
                let e = Arc::new(e);
                map.insert(addr, Arc::downgrade(&e));
                return Ok(e);
            }
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    Err(match (first_error, end) {
        (Some(e), Some(end)) if end > addr.port() => Error::new(
            ErrorKind::Io,
            format!(
                "cannot serve metrics on any port of {}-{end} at {}: {e}",
                addr.port(),
                addr.ip()
            ),
        ),
        (Some(e), _) => e,
        (None, _) => Error::invalid("empty metrics port range"),
    })
}

/// Answers one HTTP/1.x request and closes the connection.
async fn serve(mut stream: TcpStream) {
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    let read = tokio::time::timeout(READ_TIMEOUT, async {
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = stream.read(&mut buf).await?;
            if n == 0 || head.len() + n > MAX_HEAD {
                return Err(std::io::ErrorKind::InvalidData.into());
            }
            head.extend_from_slice(&buf[..n]);
        }
        Ok::<_, std::io::Error>(())
    })
    .await;
    if !matches!(read, Ok(Ok(()))) {
        return;
    }
    let line = head.split(|&b| b == b'\r').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut parts = line.split(' ');
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    let (status, content_type, body) = match (method, path) {
        ("GET" | "HEAD", "/metrics") => ("200 OK", CONTENT_TYPE, openmetrics_text()),
        ("GET" | "HEAD", _) => (
            "404 Not Found",
            "text/plain; charset=utf-8",
            "zkha serves its metrics at /metrics\n".to_string(),
        ),
        _ => (
            "405 Method Not Allowed",
            "text/plain; charset=utf-8",
            "only GET\n".to_string(),
        ),
    };
    let mut response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if method != "HEAD" {
        response.extend_from_slice(body.as_bytes());
    }
    let _ = stream.write_all(&response).await;
    let _ = stream.shutdown().await;
}
