//! ZooKeeper's AdminServer (HTTP, `/commands/<name>`, JSON answers): the test kit's health
//! checks on TLS-only ensembles, which have no plain client port for four-letter words.
//!
//! Field names as ZooKeeper 3.9.5 answers them: `srvr` has `server_stats.server_state`
//! (`leader`, `follower`, `observer`, `standalone`); `connections` has `connections` and
//! `secure_connections`, arrays of objects with a numeric `session_id`; `watches` has
//! `session_id_to_watched_paths`, an object from the decimal session id to paths. These
//! commands answer `"error": "This ZooKeeper instance is not currently serving requests"`
//! while the server does not serve (`monitor` would fail with an HTTP 500 and a stack trace
//! in the server's log instead).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use serde_json::Value;

use crate::four_letter::Mode;

/// Runs AdminServer command `command` on `addr` and returns its JSON answer.
pub fn command(addr: SocketAddr, command: &str, timeout: Duration) -> std::io::Result<Value> {
    let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    write!(
        stream,
        "GET /commands/{command} HTTP/1.0\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, body)| body)
        .ok_or_else(|| std::io::Error::other(format!("no HTTP answer from {addr}: {text:?}")))?;
    serde_json::from_str(body).map_err(|e| {
        std::io::Error::other(format!(
            "AdminServer {addr} /commands/{command}: not JSON ({e}): {body:?}"
        ))
    })
}

/// The role a server reports in `srvr`, or `None` while it is not serving.
pub fn mode(addr: SocketAddr, timeout: Duration) -> Option<Mode> {
    let answer = command(addr, "srvr", timeout).ok()?;
    if !answer["error"].is_null() {
        return None;
    }
    answer["server_stats"]["server_state"]
        .as_str()
        .and_then(Mode::parse)
}

/// Session ids of the clients connected to the server (plain and TLS connections).
pub fn sessions(addr: SocketAddr, timeout: Duration) -> Vec<i64> {
    let Ok(answer) = command(addr, "connections", timeout) else {
        return Vec::new();
    };
    ["connections", "secure_connections"]
        .iter()
        .filter_map(|k| answer[*k].as_array())
        .flatten()
        .filter_map(|c| {
            c["session_id"]
                .as_i64()
                .or_else(|| c["session_id"].as_u64().map(|v| v as i64))
        })
        .filter(|&sid| sid != 0)
        .collect()
}

/// The paths session `session_id` watches on the server.
pub fn watched_paths(
    addr: SocketAddr,
    session_id: i64,
    timeout: Duration,
) -> std::io::Result<Vec<String>> {
    let answer = command(addr, "watches", timeout)?;
    if let Some(error) = answer["error"].as_str() {
        return Err(std::io::Error::other(format!(
            "AdminServer {addr} /commands/watches: {error}"
        )));
    }
    let key = (session_id as u64).to_string();
    let signed = session_id.to_string();
    let map = &answer["session_id_to_watched_paths"];
    let paths = map.get(&key).or_else(|| map.get(&signed));
    Ok(paths
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|p| p.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default())
}
