//! The ensemble: every server probed on its own (the `srvr` four-letter word on a plain port,
//! else the AdminServer, and a session over the client protocol), then judged together:
//! servers down, an even-sized or degraded ensemble, zxid lag, latency, outstanding requests.

use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{Check, DoctorOptions, Status};
use crate::options::parse_connect_string;
use crate::{Client, ClientOptions, LivenessOptions, RetryPolicy};

/// What one server told.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ServerProbe {
    /// `host:port` from the connect string.
    pub server: String,
    /// A session could be opened on this server alone (it serves clients).
    pub serving: bool,
    /// How long opening that session took, in ms.
    pub session_ms: Option<u64>,
    /// Where mode, zxid and latency came from: `srvr` (four-letter word), `admin`
    /// (AdminServer), or none.
    pub stats_from: Option<&'static str>,
    /// `leader`, `follower`, `observer` or `standalone`.
    pub mode: Option<String>,
    /// The last zxid it processed.
    pub zxid: Option<i64>,
    /// Average request latency, ms.
    pub latency_avg_ms: Option<f64>,
    /// Maximum request latency, ms.
    pub latency_max_ms: Option<f64>,
    /// Requests queued and not yet answered.
    pub outstanding: Option<u64>,
    /// The ZooKeeper version.
    pub version: Option<String>,
    /// Why it could not be reached or read.
    pub error: Option<String>,
    /// What could not be read, and why.
    pub notes: Vec<String>,
}

/// Probes server `host:port`: its statistics from `srvr` (plain ports only) or `admin`
/// (`host:port` of its AdminServer), and a session over the client protocol with `client`'s
/// security.
pub async fn probe_server(
    host: &str,
    port: u16,
    admin: Option<&str>,
    client: &ClientOptions,
    timeout: Duration,
) -> ServerProbe {
    let server = server_addr(host, port);
    let mut p = ServerProbe {
        server: server.clone(),
        ..ServerProbe::default()
    };
    if client.tls.is_none() {
        match four_letter(&server, "srvr", timeout).await {
            Ok(text) if text.contains("not in the whitelist") => p
                .notes
                .push("srvr is not whitelisted (4lw.commands.whitelist)".into()),
            Ok(text) => {
                srvr_text(&text, &mut p);
                p.stats_from = Some("srvr");
            }
            Err(e) => p.error = Some(format!("{server}: {e}")),
        }
    } else {
        p.notes
            .push("TLS-only client port: no four-letter words there".into());
    }
    if p.stats_from.is_none() {
        match admin {
            Some(a) => match admin_srvr(a, timeout).await {
                Ok(v) => {
                    admin_json(&v, &mut p);
                    p.stats_from = Some("admin");
                }
                Err(e) => p.notes.push(format!("AdminServer {a}: {e}")),
            },
            None => p.notes.push(
                "mode, zxid and latency unknown: give the AdminServer's address (--admin)".into(),
            ),
        }
    }
    let mut one = client.clone();
    one.connect_string = server.clone();
    one.connection_timeout = timeout;
    one.retry = RetryPolicy {
        max_retries: 0,
        ..one.retry
    };
    one.liveness = LivenessOptions::disabled();
    one.metrics = Default::default();
    let t = Instant::now();
    match tokio::time::timeout(timeout * 2, Client::connect(one)).await {
        Ok(Ok(c)) => {
            p.serving = true;
            p.session_ms = Some(t.elapsed().as_millis() as u64);
            p.error = None;
            c.close().await;
        }
        Ok(Err(e)) => {
            p.error.get_or_insert(format!("{server}: no session: {e}"));
        }
        Err(_) => {
            p.error
                .get_or_insert(format!("{server}: no session within {:?}", timeout * 2));
        }
    }
    p
}

/// `host:port` of a connect-string entry (`[host]:port` for an IPv6 address).
pub(super) fn server_addr(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Sends `request` to `addr` and reads the answer until the server closes, within `timeout`.
async fn ask(addr: &str, request: &[u8], timeout: Duration) -> std::io::Result<String> {
    tokio::time::timeout(timeout, async {
        let mut s = TcpStream::connect(addr).await?;
        s.write_all(request).await?;
        let mut out = Vec::new();
        s.read_to_end(&mut out).await?;
        Ok(String::from_utf8_lossy(&out).into_owned())
    })
    .await
    .unwrap_or_else(|_| Err(std::io::ErrorKind::TimedOut.into()))
}

/// Sends a four-letter word and reads the answer.
pub(super) async fn four_letter(
    server: &str,
    word: &str,
    timeout: Duration,
) -> std::io::Result<String> {
    ask(server, word.as_bytes(), timeout).await
}

/// Reads `srvr`'s text: `Latency min/avg/max: 0/0.2/5`, `Outstanding: 0`, `Zxid: 0x...`,
/// `Mode: follower`, `Zookeeper version: 3.9.5-..., built on ...`.
fn srvr_text(text: &str, p: &mut ServerProbe) {
    for line in text.lines() {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let v = v.trim();
        match k.trim() {
            "Mode" => p.mode = Some(v.to_string()),
            "Zxid" => {
                p.zxid = i64::from_str_radix(v.trim_start_matches("0x"), 16).ok();
            }
            "Outstanding" => p.outstanding = v.parse().ok(),
            "Zookeeper version" => {
                p.version = v.split(',').next().map(|s| s.trim().to_string());
            }
            "Latency min/avg/max" => {
                let parts: Vec<f64> = v.split('/').filter_map(|x| x.parse().ok()).collect();
                if parts.len() == 3 {
                    p.latency_avg_ms = Some(parts[1]);
                    p.latency_max_ms = Some(parts[2]);
                }
            }
            _ => {}
        }
    }
}

/// `GET /commands/srvr` from an AdminServer.
async fn admin_srvr(addr: &str, timeout: Duration) -> std::io::Result<serde_json::Value> {
    admin_get(addr, "srvr", timeout).await
}

/// `GET <path>` over plain HTTP/1.0 from `addr` (`host:port`) within `timeout`: the status
/// line and the body parsed as JSON.
pub(super) async fn http_get_json(
    addr: &str,
    path: &str,
    timeout: Duration,
) -> std::io::Result<(String, serde_json::Value)> {
    let request = format!(
        "GET {path} HTTP/1.0\r\nHost: {addr}\r\nAccept: application/json\r\n\
         Connection: close\r\n\r\n"
    );
    let text = ask(addr, request.as_bytes(), timeout).await?;
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no HTTP answer"))?;
    let status = head.lines().next().unwrap_or_default().to_string();
    let json = serde_json::from_str(body)
        .map_err(|e| std::io::Error::other(format!("{status}: not JSON: {e}")))?;
    Ok((status, json))
}

/// `GET /commands/<command>` from an AdminServer, as JSON (its errors are JSON too).
pub(super) async fn admin_get(
    addr: &str,
    command: &str,
    timeout: Duration,
) -> std::io::Result<serde_json::Value> {
    Ok(
        http_get_json(addr, &format!("/commands/{command}"), timeout)
            .await?
            .1,
    )
}

/// Reads the AdminServer's `srvr` JSON (`server_stats`: `server_state`,
/// `last_processed_zxid`, `avg_latency`, `max_latency`, `outstanding_requests`, `version`).
fn admin_json(v: &serde_json::Value, p: &mut ServerProbe) {
    if let Some(e) = v["error"].as_str() {
        p.notes.push(format!("AdminServer: {e}"));
        return;
    }
    let s = &v["server_stats"];
    p.mode = s["server_state"].as_str().map(str::to_string);
    p.zxid = s["last_processed_zxid"].as_i64();
    p.latency_avg_ms = s["avg_latency"].as_f64();
    p.latency_max_ms = s["max_latency"].as_f64();
    p.outstanding = s["outstanding_requests"].as_u64();
    p.version = s["version"]
        .as_str()
        .and_then(|x| x.split(',').next())
        .map(|x| x.trim().to_string());
}

/// The AdminServer address for server `i` of `host`: an entry per server, or one `:port` for
/// every server.
pub(super) fn admin_for(admin: &[String], i: usize, host: &str) -> Option<String> {
    match admin {
        [] => None,
        [one] if one.starts_with(':') => Some(format!("{host}{one}")),
        list => list.get(i).cloned(),
    }
}

/// Voting members and observers from `/zookeeper/config` (`server.N=host:q:e[:role];client`),
/// if readable.
async fn membership(client: &Client) -> Option<(usize, usize)> {
    let (data, _) = client.get_data("/zookeeper/config").await.ok()??;
    let text = String::from_utf8_lossy(&data);
    let servers: Vec<&str> = text.lines().filter(|l| l.starts_with("server.")).collect();
    if servers.is_empty() {
        return None;
    }
    let observers = servers.iter().filter(|l| l.contains(":observer")).count();
    Some((servers.len() - observers, observers))
}

/// Probes every server and judges the ensemble.
pub(super) async fn checks(o: &DoctorOptions) -> Vec<Check> {
    let cs = match parse_connect_string(&o.client.connect_string) {
        Ok(cs) => cs,
        Err(e) => {
            return vec![Check::new("ensemble", Status::Fail, e.to_string())
                .fix("high-availability.zookeeper.quorum: host:port,host:port,...")]
        }
    };
    let probes = futures_join(
        cs.hosts
            .iter()
            .enumerate()
            .map(|(i, (h, port))| {
                let admin = admin_for(&o.admin, i, h);
                let client = o.client.clone();
                let (h, port, timeout) = (h.clone(), *port, o.timeout);
                async move { probe_server(&h, port, admin.as_deref(), &client, timeout).await }
            })
            .collect(),
    )
    .await;
    let mut out = Vec::new();
    let serving: Vec<&ServerProbe> = probes.iter().filter(|p| p.serving).collect();
    let details = serde_json::to_value(&probes).unwrap_or_default();

    // Membership: the servers' own view if a session can read it, else the connect string.
    let mut members = None;
    if let Some(p) = serving.first() {
        let mut one = o.client.clone();
        one.connect_string = p.server.clone();
        one.liveness = LivenessOptions::disabled();
        one.metrics = Default::default();
        if let Ok(c) = Client::connect(one).await {
            members = membership(&c).await;
            c.close().await;
        }
    }
    let (voters, observers, from) = match members {
        Some((v, obs)) => (v, obs, "/zookeeper/config"),
        None => (cs.hosts.len(), 0, "the connect string"),
    };

    let down: Vec<String> = probes
        .iter()
        .filter(|p| !p.serving)
        .map(|p| p.error.clone().unwrap_or_else(|| p.server.clone()))
        .collect();
    let leaders = probes
        .iter()
        .filter(|p| matches!(p.mode.as_deref(), Some("leader" | "standalone")))
        .count();
    let modes_known = probes.iter().filter(|p| p.mode.is_some()).count();
    let summary = format!(
        "{} of {} servers in the connect string serve; {voters} voting member(s){} (from {from}){}",
        serving.len(),
        probes.len(),
        if observers > 0 {
            format!(" and {observers} observer(s)")
        } else {
            String::new()
        },
        if modes_known > 0 {
            format!(", {leaders} leader")
        } else {
            String::new()
        }
    );
    let check = if serving.is_empty() {
        Check::new("ensemble", Status::Fail, summary).fix(format!(
            "no server serves: {}; check high-availability.zookeeper.quorum, the servers and \
             the network (and TLS/SASL settings, which every server of a secured ensemble \
             requires)",
            down.join("; ")
        ))
    } else if !down.is_empty() {
        Check::new("ensemble", Status::Fail, summary).fix(format!(
            "down or unreachable: {}; the ensemble is degraded: {} more failure(s) and it \
             loses its quorum. Bring the server(s) back",
            down.join("; "),
            (serving.len()).saturating_sub(voters / 2 + 1)
        ))
    } else if voters % 2 == 0 {
        Check::new("ensemble", Status::Fail, summary).fix(format!(
            "an ensemble of {voters} voting servers needs {} for a quorum and so tolerates no \
             more failures than one of {}: a split between two halves stops it (a split-brain \
             risk for anything that acts without a quorum). Run an odd number: 3 or 5 voting \
             servers (add observers for more read capacity)",
            voters / 2 + 1,
            voters - 1
        ))
    } else if modes_known == probes.len() && leaders != 1 {
        Check::new("ensemble", Status::Fail, summary).fix(
            "not exactly one leader among the servers: an election is running or the ensemble \
             is split; check the servers' logs",
        )
    } else {
        Check::new("ensemble", Status::Ok, summary)
    };
    out.push(check.details(details));

    // What the servers' statistics say, where they could be read.
    let with_stats: Vec<&ServerProbe> = probes.iter().filter(|p| p.stats_from.is_some()).collect();
    if with_stats.is_empty() {
        let why: Vec<String> = probes.iter().flat_map(|p| p.notes.clone()).collect();
        let mut why = why;
        why.dedup();
        out.push(
            Check::new(
                "server-stats",
                Status::Skipped,
                "zxid lag, latency and outstanding requests not read",
            )
            .fix(format!(
                "{}; the AdminServer (admin.serverPort, 8080 by default) answers srvr over \
                 HTTP whatever the four-letter-word whitelist",
                why.join("; ")
            )),
        );
    } else {
        out.push(stats_check(&with_stats, probes.len()));
    }
    out
}

/// zxid lag, latency and outstanding requests.
fn stats_check(with_stats: &[&ServerProbe], all: usize) -> Check {
    let zxids: Vec<i64> = with_stats.iter().filter_map(|p| p.zxid).collect();
    let lag = match (zxids.iter().max(), zxids.iter().min()) {
        (Some(max), Some(min)) => max - min,
        _ => 0,
    };
    let epochs: std::collections::BTreeSet<i64> = zxids.iter().map(|z| z >> 32).collect();
    let worst_avg = with_stats
        .iter()
        .filter_map(|p| p.latency_avg_ms)
        .fold(0.0, f64::max);
    let outstanding = with_stats
        .iter()
        .filter_map(|p| p.outstanding)
        .max()
        .unwrap_or(0);
    let summary = format!(
        "{} of {all} servers read: zxid lag {lag}, average latency up to {worst_avg} ms, \
         outstanding requests up to {outstanding}",
        with_stats.len()
    );
    let mut problems = Vec::new();
    if epochs.len() > 1 {
        problems.push(format!(
            "servers are in different epochs ({epochs:?}): one has not synced with the current \
             leader"
        ));
    } else if lag > 10_000 {
        problems.push(format!(
            "a server is {lag} transactions behind: slow disk or network to it"
        ));
    }
    if worst_avg > 10.0 {
        problems.push(format!(
            "average latency {worst_avg} ms: leader grants and checkpoint pointers wait on it \
             (fsync on a slow disk? dataLogDir on its own disk, no swapping)"
        ));
    }
    if outstanding > 100 {
        problems.push(format!(
            "{outstanding} requests queued on a server: it does not keep up"
        ));
    }
    if problems.is_empty() {
        Check::new("server-stats", Status::Ok, summary)
    } else {
        Check::new("server-stats", Status::Warn, summary).fix(problems.join("; "))
    }
}

/// Awaits every future, concurrently.
async fn futures_join<T: Send + 'static>(
    fs: Vec<impl std::future::Future<Output = T> + Send + 'static>,
) -> Vec<T> {
    let handles: Vec<_> = fs.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        if let Ok(v) = h.await {
            out.push(v);
        }
    }
    out
}
