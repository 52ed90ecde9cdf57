//! ZooKeeper's four-letter-word admin commands (`srvr`, `ruok`, `mntr`) over plain TCP.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// A server's role as reported by `srvr`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// The quorum leader.
    Leader,
    /// A follower of the quorum leader.
    Follower,
    /// An observer.
    Observer,
    /// A single server running alone.
    Standalone,
}

impl Mode {
    /// Parses the `Mode:` value of `srvr`.
    pub fn parse(s: &str) -> Option<Mode> {
        match s.trim() {
            "leader" => Some(Mode::Leader),
            "follower" => Some(Mode::Follower),
            "observer" => Some(Mode::Observer),
            "standalone" => Some(Mode::Standalone),
            _ => None,
        }
    }

    /// True for the server that orders writes (leader, or a standalone server).
    pub fn is_leader(self) -> bool {
        matches!(self, Mode::Leader | Mode::Standalone)
    }
}

/// Sends a four-letter word to `addr` and returns the whole answer.
pub fn send(addr: SocketAddr, word: &str, timeout: Duration) -> std::io::Result<String> {
    let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    stream.write_all(word.as_bytes())?;
    let mut out = String::new();
    stream.read_to_string(&mut out)?;
    Ok(out)
}

/// The `Mode:` a server reports in `srvr`, or `None` while it is not serving.
pub fn mode(addr: SocketAddr, timeout: Duration) -> Option<Mode> {
    let answer = send(addr, "srvr", timeout).ok()?;
    answer
        .lines()
        .find_map(|line| line.strip_prefix("Mode:"))
        .and_then(Mode::parse)
}

/// The numeric values of `mntr` (`zk_packets_received`, `zk_watch_count`, ...); empty while
/// the server does not answer.
pub fn mntr(addr: SocketAddr, timeout: Duration) -> std::collections::BTreeMap<String, i64> {
    let Ok(text) = send(addr, "mntr", timeout) else {
        return Default::default();
    };
    text.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once('\t')?;
            Some((k.to_string(), v.trim().parse().ok()?))
        })
        .collect()
}

/// The last zxid a server applied (`srvr`'s `Zxid:`), or `None` while it does not serve.
/// Its low 32 bits count the transactions of the current leader's epoch.
pub fn zxid(addr: SocketAddr, timeout: Duration) -> Option<i64> {
    let answer = send(addr, "srvr", timeout).ok()?;
    let hex = answer
        .lines()
        .find_map(|line| line.strip_prefix("Zxid: 0x"))?;
    i64::from_str_radix(hex.trim(), 16).ok()
}

/// Session ids of the clients connected to the server at `addr` (from `cons`).
pub fn sessions(addr: SocketAddr, timeout: Duration) -> Vec<i64> {
    let Ok(answer) = send(addr, "cons", timeout) else {
        return Vec::new();
    };
    answer
        .split("sid=0x")
        .skip(1)
        .filter_map(|rest| {
            let hex: String = rest.chars().take_while(char::is_ascii_hexdigit).collect();
            u64::from_str_radix(&hex, 16).ok().map(|v| v as i64)
        })
        .collect()
}

/// The paths session `session_id` watches on server `addr` (`wchp`; the command must be
/// whitelisted, as in the test kit's ensembles).
pub fn watched_paths(
    addr: SocketAddr,
    session_id: i64,
    timeout: Duration,
) -> std::io::Result<Vec<String>> {
    let answer = send(addr, "wchp", timeout)?;
    let mut paths = Vec::new();
    let mut path = None;
    for line in answer.lines() {
        match line.strip_prefix('\t') {
            Some(sid) => {
                let hex = sid.trim().trim_start_matches("0x");
                if u64::from_str_radix(hex, 16).is_ok_and(|v| v as i64 == session_id) {
                    paths.extend(path.clone());
                }
            }
            None => path = Some(line.trim().to_string()),
        }
    }
    Ok(paths)
}
