//! The checks after the ensemble's: the session timeout the servers grant, security, the HA
//! root's ACL, the Flink cluster's layout (leaders, contenders and their liveness endpoints,
//! jobs), `high-availability.storageDir` and every pointer's file, and the Flink settings
//! that slow a recovery down.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::json;

use super::{Check, DoctorOptions, Status};
use crate::flink::{ClusterView, FlinkConfig};
use crate::{Client, LivenessOptions};

/// Runs the checks that need a session, then the Flink ones.
pub(super) async fn run(o: &DoctorOptions) -> Vec<Check> {
    let mut out = Vec::new();
    let mut options = o.client.clone();
    options.liveness = LivenessOptions::disabled();
    options.metrics = Default::default();
    options.connection_timeout = options.connection_timeout.min(o.timeout * 3);
    options.retry = crate::RetryPolicy {
        max_retries: 0,
        ..options.retry
    };
    // The first session may wait for its whole session timeout: bounded here.
    let limit = o.timeout * 4;
    let connected = tokio::time::timeout(limit, Client::connect(options))
        .await
        .unwrap_or_else(|_| {
            Err(crate::Error::new(
                crate::ErrorKind::Timeout,
                format!("none within {limit:?}"),
            ))
        });
    let client = match connected {
        Ok(c) => c,
        Err(e) => {
            out.push(
                Check::new("session", Status::Fail, format!("no session: {e}")).fix(
                    "the other checks need a session: fix the ensemble or the connection \
                     settings first",
                ),
            );
            return out;
        }
    };
    out.push(session_timeout(o, &client));
    out.push(super::settings::check(o, client.session_timeout()).await);
    out.push(security(o));
    let root = match &o.flink {
        Some(f) => f.cluster_root().ok(),
        None => None,
    };
    match &root {
        Some(root) => out.push(acl(o, &client, root).await),
        None => out.push(Check::new(
            "acl",
            Status::Skipped,
            "no HA root to check without a Flink configuration (--flink-conf)",
        )),
    }
    if let Some(f) = &o.flink {
        out.extend(flink_checks(o, f, &client).await);
        out.push(flink_settings(f));
    }
    client.close().await;
    out
}

/// Asked-for against negotiated session timeout, and what it means for the lease.
fn session_timeout(o: &DoctorOptions, client: &Client) -> Check {
    let asked = o.client.session_timeout;
    let Some(got) = client.session_timeout() else {
        return Check::new("session-timeout", Status::Skipped, "no session open");
    };
    let details = json!({ "requested_ms": asked.as_millis() as u64, "negotiated_ms": got.as_millis() as u64 });
    let s = |d: Duration| format!("{:.1} s", d.as_secs_f64());
    if got < asked {
        Check::new(
            "session-timeout",
            Status::Fail,
            format!("asked for {}, the servers granted {}", s(asked), s(got)),
        )
        .fix(format!(
            "the servers cap sessions at maxSessionTimeout (by default 20 x tickTime): leases \
             and failover times follow the {} granted, not the {} configured. Raise \
             maxSessionTimeout on every server, or set \
             high-availability.zookeeper.client.session-timeout to at most {}",
            s(got),
            s(asked),
            s(got)
        ))
        .details(details)
    } else if got > asked {
        Check::new(
            "session-timeout",
            Status::Warn,
            format!("asked for {}, the servers granted {}", s(asked), s(got)),
        )
        .fix(format!(
            "the servers' minSessionTimeout (by default 2 x tickTime) raised it: a JobManager \
             that dies without the liveness link is replaced only after {}",
            s(got)
        ))
        .details(details)
    } else {
        Check::new(
            "session-timeout",
            Status::Ok,
            format!(
                "{} granted as asked: a leader cut off from ZooKeeper stops within its lease \
                 (at most {}); a crashed one is replaced at once by the liveness link, or after {} \
                 without it",
                s(got),
                s(got),
                s(got)
            ),
        )
        .details(details)
    }
}

/// TLS, SASL and addAuth in use.
fn security(o: &DoctorOptions) -> Check {
    let c = &o.client;
    let tls = c.tls.is_some();
    let client_cert = c.tls.as_ref().is_some_and(|t| t.identity.is_some());
    let sasl = match &c.sasl {
        Some(crate::Sasl::Kerberos(_)) => Some("Kerberos (GSSAPI)"),
        Some(_) => Some("DIGEST-MD5"),
        None => None,
    };
    let summary = format!(
        "TLS: {}; SASL: {}; addAuth credentials: {}; ACL of new znodes: {:?}",
        if tls {
            if client_cert {
                "yes, with a client certificate"
            } else {
                "yes"
            }
        } else {
            "no"
        },
        sasl.unwrap_or("no"),
        c.auth.len(),
        c.acl
    );
    if !tls && sasl.is_none() && c.auth.is_empty() {
        Check::new("security", Status::Warn, summary).fix(
            "plain, unauthenticated connections: anyone who reaches the ensemble can read and \
             change the HA data. docs/security.md: TLS (secureClientPort), SASL, \
             high-availability.zookeeper.client.acl: creator",
        )
    } else {
        Check::new("security", Status::Ok, summary)
    }
}

/// Whether anyone may delete what is below the HA root. (DELETE on the root's parent, often a
/// shared `/flink` made open, matters only once the root is empty: its children cannot go
/// without DELETE on the root; it is shown in the details.)
async fn acl(o: &DoctorOptions, client: &Client, root: &str) -> Check {
    let parent = crate::path::parent(root).to_string();
    let mut open = Vec::new();
    let mut seen = serde_json::Map::new();
    for (path, judged) in [(&parent, false), (&root.to_string(), true)] {
        match client.get_acl(path).await {
            Ok(Some(entries)) => {
                seen.insert(
                    path.clone(),
                    json!(entries
                        .iter()
                        .map(|e| format!("{}:{}:{}", e.scheme, e.id, perms(e.perms)))
                        .collect::<Vec<_>>()),
                );
                if judged
                    && entries
                        .iter()
                        .any(|e| e.scheme == "world" && e.id == "anyone" && e.perms & 8 != 0)
                {
                    open.push(format!("world:anyone may delete below {path}"));
                }
            }
            Ok(None) => {}
            Err(e) => {
                return Check::new(
                    "acl",
                    Status::Skipped,
                    format!("cannot read the ACL of {path}: {e}"),
                )
                .fix("the doctor's identity needs READ on the HA root and its parent")
            }
        }
    }
    if !seen.contains_key(root) {
        return Check::new(
            "acl",
            Status::Ok,
            format!("{root} does not exist yet (no HA data)"),
        );
    }
    let details = serde_json::Value::Object(seen);
    if open.is_empty() {
        return Check::new(
            "acl",
            Status::Ok,
            format!("only authenticated identities may delete the HA data under {root}"),
        )
        .details(details);
    }
    let identified = o.client.sasl.is_some()
        || !o.client.auth.is_empty()
        || o.client.tls.as_ref().is_some_and(|t| t.identity.is_some());
    let fix = format!(
        "{}: any client can remove leaders, jobs and checkpoint pointers. Use \
         high-availability.zookeeper.client.acl: creator with SASL or a TLS client \
         certificate, and setAcl the existing znodes to that identity (e.g. \
         setAcl -R {root} sasl:flink:cdrwa)",
        open.join("; ")
    );
    // On an ensemble without identities an open ACL is all there can be.
    let status = if identified {
        Status::Fail
    } else {
        Status::Warn
    };
    Check::new(
        "acl",
        status,
        format!("the HA data under {root} is open to everyone"),
    )
    .fix(fix)
    .details(details)
}

/// `crwda` letters of permission bits.
fn perms(bits: u32) -> String {
    [(4, 'c'), (1, 'r'), (2, 'w'), (8, 'd'), (16, 'a')]
        .iter()
        .filter(|(b, _)| bits & b != 0)
        .map(|(_, c)| *c)
        .collect()
}

/// The Flink cluster's layout, storage and pointers.
async fn flink_checks(o: &DoctorOptions, f: &FlinkConfig, client: &Client) -> Vec<Check> {
    let mut out = Vec::new();
    let layout = match f.layout() {
        Ok(l) => l,
        Err(e) => {
            out.push(Check::new("layout", Status::Fail, e.to_string()));
            return out;
        }
    };
    let view = ClusterView::new(client.clone(), layout.clone());
    out.push(leaders(client, &view, &layout).await);
    out.push(contenders(client, &layout).await);
    // The jobs in ZooKeeper, read once for the jobs and pointer checks.
    let jobs = view.jobs().await;
    out.push(super::jobs::check(o, &view, &jobs).await);
    out.extend(super::storage::checks(o, f, client, &view, &jobs).await);
    out.push(super::central_config::check(f, client).await);
    out
}

/// Each component's leader and since when; components led from different hosts.
async fn leaders(client: &Client, view: &ClusterView, layout: &crate::flink::FlinkLayout) -> Check {
    let leaders = match view.leaders().await {
        Ok(l) => l,
        Err(e) => return Check::new("leaders", Status::Fail, format!("cannot read: {e}")),
    };
    let mut hosts = BTreeSet::new();
    let mut lines = Vec::new();
    let mut details = serde_json::Map::new();
    for (component, leader) in &leaders {
        match leader {
            Some(l) => {
                let since = client
                    .exists(&layout.connection_info(component))
                    .await
                    .ok()
                    .flatten()
                    .map(|s| s.mtime);
                hosts.insert(host_of(&l.address));
                lines.push(format!("{component} {}", l.address));
                details.insert(
                    component.clone(),
                    json!({ "address": l.address, "leader_session_id": l.leader_session_id, "since_epoch_ms": since }),
                );
            }
            None => {
                details.insert(component.clone(), serde_json::Value::Null);
            }
        }
    }
    let details = serde_json::Value::Object(details);
    if lines.is_empty() {
        return Check::new("leaders", Status::Warn, "no component has a published leader")
            .fix("no JobManager leads this cluster id: is the cluster running, with this high-availability.cluster-id and path.root?")
            .details(details);
    }
    if hosts.len() > 1 {
        return Check::new(
            "leaders",
            Status::Fail,
            format!(
                "components led from {} hosts: {}",
                hosts.len(),
                lines.join(", ")
            ),
        )
        .fix(
            "two clusters share one cluster id (the /default trap): give each Flink cluster \
             its own high-availability.cluster-id",
        )
        .details(details);
    }
    Check::new("leaders", Status::Ok, lines.join(", ")).details(details)
}

/// The host of a pekko/akka RPC URL (`pekko.tcp://flink@host:port/user/...`) or a REST URL.
fn host_of(address: &str) -> String {
    let rest = address
        .split_once('@')
        .map(|(_, r)| r)
        .unwrap_or_else(|| address.split_once("://").map(|(_, r)| r).unwrap_or(address));
    let hostport = rest.split('/').next().unwrap_or(rest);
    match hostport.rsplit_once(':') {
        Some((h, _)) => h.to_string(),
        None => hostport.to_string(),
    }
}

/// The latch's contenders and whether their liveness endpoints answer.
async fn contenders(client: &Client, layout: &crate::flink::FlinkLayout) -> Check {
    let latch = layout.latch();
    let all = match client.contenders(&latch).await {
        Ok(c) => c,
        Err(e) => {
            return Check::new(
                "contenders",
                Status::Fail,
                format!("cannot read {latch}: {e}"),
            )
        }
    };
    if all.is_empty() {
        return Check::new(
            "contenders",
            Status::Warn,
            format!("no contender in {latch}"),
        )
        .fix("no JobManager contends for leadership: is the cluster running?");
    }
    let mut silent = Vec::new();
    let mut curator = 0;
    let mut rows = Vec::new();
    for c in &all {
        let endpoint = crate::liveness::peer_of(&c.node).map(|p| p.addr);
        let answers = match &endpoint {
            Some(addr) => Some(
                tokio::time::timeout(
                    Duration::from_secs(2),
                    tokio::net::TcpStream::connect(addr.as_str()),
                )
                .await
                .is_ok_and(|r| r.is_ok()),
            ),
            None => {
                curator += 1;
                None
            }
        };
        if answers == Some(false) {
            silent.push(format!(
                "{} ({})",
                endpoint.clone().unwrap_or_default(),
                c.node
            ));
        }
        rows.push(json!({
            "node": c.node,
            "participant": String::from_utf8_lossy(&c.data),
            "session": format!("0x{:x}", c.stat.ephemeral_owner),
            "liveness_endpoint": endpoint,
            "answers": answers,
        }));
    }
    let summary = format!(
        "{} contender(s){}",
        all.len(),
        if curator > 0 {
            format!(", {curator} of them Flink built-in (Curator) JobManagers without a liveness endpoint")
        } else {
            String::new()
        }
    );
    let check = if silent.is_empty() {
        Check::new("contenders", Status::Ok, summary)
    } else {
        Check::new("contenders", Status::Warn, summary).fix(format!(
            "liveness endpoint(s) not answering from here: {}. If the standby cannot reach them \
             either, a crashed leader is replaced only after the session timeout: open \
             high-availability.zkha.liveness.port between JobManagers (or set \
             high-availability.zkha.liveness.advertise behind NAT)",
            silent.join(", ")
        ))
    };
    check.details(json!(rows))
}

/// Flink settings that make a recovery slower than zkha's failover.
fn flink_settings(f: &FlinkConfig) -> Check {
    let mut slow = Vec::new();
    let ms = |key: &str, default_ms: u64| -> Option<u64> {
        match f.get(key) {
            None => Some(default_ms),
            Some(v) => crate::flink::config::parse_duration(v)
                .ok()
                .map(|d| d.as_millis() as u64),
        }
    };
    if let Some(t) = ms("heartbeat.timeout", 50_000) {
        if t > 30_000 {
            slow.push(format!(
                "heartbeat.timeout {} s: a TaskManager lost together with the leader's host is \
                 noticed only then, and the job waits for its slots (zkha hands leadership over \
                 in well under a second); 15-30 s is common",
                t / 1000
            ));
        }
    }
    for key in [
        "restart-strategy.fixed-delay.delay",
        "restart-strategy.exponential-delay.initial-backoff",
        "restart-strategy.failure-rate.delay",
    ] {
        if let Some(v) = f.get(key) {
            if let Ok(d) = crate::flink::config::parse_duration(v) {
                if d > Duration::from_secs(10) {
                    slow.push(format!("{key} {v}: every restart waits that long first"));
                }
            }
        }
    }
    if slow.is_empty() {
        Check::new(
            "flink-settings",
            Status::Ok,
            "heartbeat and restart delays do not slow a recovery down",
        )
    } else {
        Check::new(
            "flink-settings",
            Status::Warn,
            "Flink settings make a recovery slower than the failover",
        )
        .fix(slow.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_of_rpc_and_rest_addresses() {
        assert_eq!(
            host_of("pekko.tcp://flink@10.0.0.5:6123/user/rpc/dispatcher_1"),
            "10.0.0.5"
        );
        assert_eq!(host_of("http://jm-1.example:8081"), "jm-1.example");
        assert_eq!(host_of("akka.tcp://flink@[::1]:6123/user/x"), "[::1]");
    }

    #[test]
    fn permission_letters() {
        assert_eq!(perms(31), "crwda");
        assert_eq!(perms(1), "r");
    }
}
