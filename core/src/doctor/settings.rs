//! Server settings that bear on the lease: `tickTime` and `syncLimit`, from the `conf`
//! four-letter word where it is whitelisted (tickTime alone from the AdminServer, which does
//! not show syncLimit), against the negotiated session timeout.

use std::time::Duration;

use serde_json::json;

use super::ensemble::{admin_for, admin_get, four_letter, server_addr};
use super::{Check, DoctorOptions, Status};
use crate::options::parse_connect_string;

/// One server's `tickTime` and `syncLimit`, as far as it tells.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
struct Settings {
    tick_ms: Option<u64>,
    sync_limit: Option<u64>,
    /// A standalone server (its `conf` has no quorum settings).
    standalone: bool,
}

/// Reads `tickTime=` and `syncLimit=` from `conf`'s text (a quorum member's also has
/// `electionAlg=`; a standalone server's has neither).
fn conf_text(text: &str) -> Settings {
    let mut s = Settings::default();
    let mut quorum = false;
    for line in text.lines() {
        match line.split_once('=') {
            Some(("tickTime", v)) => s.tick_ms = v.trim().parse().ok(),
            Some(("syncLimit", v)) => s.sync_limit = v.trim().parse().ok(),
            Some(("electionAlg", _)) => quorum = true,
            _ => {}
        }
    }
    s.standalone = s.tick_ms.is_some() && !quorum && s.sync_limit.is_none();
    s
}

/// What each server tells, and what could not be read.
async fn read(o: &DoctorOptions) -> (Vec<(String, Settings)>, Vec<String>) {
    let Ok(cs) = parse_connect_string(&o.client.connect_string) else {
        return (Vec::new(), vec!["connect string not readable".into()]);
    };
    let mut found = Vec::new();
    let mut notes = Vec::new();
    for (i, (host, port)) in cs.hosts.iter().enumerate() {
        let server = server_addr(host, *port);
        if o.client.tls.is_none() {
            match four_letter(&server, "conf", o.timeout).await {
                Ok(text) if text.contains("not in the whitelist") => {
                    notes.push(format!("{server}: conf is not whitelisted"))
                }
                Ok(text) => {
                    found.push((server, conf_text(&text)));
                    continue;
                }
                Err(e) => notes.push(format!("{server}: conf: {e}")),
            }
        }
        if let Some(admin) = admin_for(&o.admin, i, host) {
            match admin_get(&admin, "conf", o.timeout).await {
                Ok(v) => {
                    let s = Settings {
                        tick_ms: v["tick_time"].as_u64(),
                        ..Settings::default()
                    };
                    found.push((server, s));
                }
                Err(e) => notes.push(format!("{server}: AdminServer {admin} conf: {e}")),
            }
        }
    }
    (found, notes)
}

/// `syncLimit x tickTime` against the negotiated session timeout `t`.
pub(super) async fn check(o: &DoctorOptions, t: Option<Duration>) -> Check {
    let (found, notes) = read(o).await;
    let details = json!({
        "servers": found.iter().map(|(s, v)| json!({
            "server": s, "tick_ms": v.tick_ms, "sync_limit": v.sync_limit,
            "standalone": v.standalone,
        })).collect::<Vec<_>>(),
        "notes": notes,
    });
    if !found.is_empty() && found.iter().all(|(_, s)| s.standalone) {
        return Check::new(
            "server-settings",
            Status::Ok,
            "standalone server: no followers to fall behind (syncLimit does not apply)",
        )
        .details(details);
    }
    let window = found
        .iter()
        .filter_map(|(_, s)| Some(Duration::from_millis(s.tick_ms? * s.sync_limit?)))
        .max();
    let tick = found.iter().filter_map(|(_, s)| s.tick_ms).max();
    let secs = |d: Duration| format!("{:.1} s", d.as_secs_f64());
    let (Some(window), Some(t)) = (window, t) else {
        return Check::new(
            "server-settings",
            Status::Skipped,
            match tick {
                Some(tick) => format!(
                    "tickTime {tick} ms; syncLimit unknown ({})",
                    notes.join("; ")
                ),
                None => format!("tickTime and syncLimit unknown ({})", notes.join("; ")),
            },
        )
        .fix(
            "whitelist conf (4lw.commands.whitelist=srvr,conf) to compare syncLimit x \
             tickTime with the session timeout",
        )
        .details(details);
    };
    let what = format!(
        "syncLimit x tickTime = {} (a follower cut off from the leader keeps serving that \
         long), session timeout {}",
        secs(window),
        secs(t)
    );
    let c = if window >= t {
        Check::new("server-settings", Status::Warn, what).fix(format!(
            "a client on a cut-off follower looks connected for up to {} while the leader \
             expires its session after {}: zkha's lease (renewed through the leader) still \
             stops a cut-off zkha leader in time, but Flink's built-in HA (during a switch) \
             and other Curator clients can act on an expired session. Keep syncLimit x \
             tickTime below the session timeout (lower syncLimit, or raise the timeout)",
            secs(window),
            secs(t)
        ))
    } else {
        Check::new("server-settings", Status::Ok, what)
    };
    c.details(details)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_tick_and_sync_limit_from_conf() {
        let text = "clientPort=2181\ntickTime=2000\nmaxSessionTimeout=40000\ninitLimit=10\n\
                    syncLimit=5\nelectionAlg=3\n";
        assert_eq!(
            conf_text(text),
            Settings {
                tick_ms: Some(2000),
                sync_limit: Some(5),
                standalone: false,
            }
        );
        assert!(conf_text("clientPort=2181\ntickTime=100\nserverId=0\n").standalone);
        assert_eq!(conf_text("nothing"), Settings::default());
    }
}
