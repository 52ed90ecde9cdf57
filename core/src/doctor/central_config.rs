//! The cluster's central configuration in ZooKeeper (`zkha flink config`): processes still
//! running an older version that differs for them, a configuration file behind the current
//! version, a store whose `current` is gone.

use serde_json::json;

use super::{Check, Status};
use crate::error::{Error, ErrorKind};
use crate::flink::config_store::{ConfigStore, HOST_KEY, ROLE_KEY, VERSION_KEY};
use crate::flink::FlinkConfig;
use crate::session::Client;

const NAME: &str = "central-config";

/// A failed read of the store: skipped when the doctor's identity may not read it (the
/// store may be the pushers' under a creator ACL; HA does not need it), failed otherwise.
fn unreadable(store: &ConfigStore, what: &str, e: &Error) -> Check {
    if e.kind() == ErrorKind::NoAuth {
        return Check::new(
            NAME,
            Status::Skipped,
            format!("may not read {what} of {}: {e}", store.path()),
        )
        .fix(
            "run the doctor with an identity that has READ on the store (the pushers' or the \
             JobManagers', as its ACL names)",
        );
    }
    Check::new(
        NAME,
        Status::Fail,
        format!("cannot read {what} of {}: {e}", store.path()),
    )
}

/// The `central-config` check of the cluster `f` describes.
pub(super) async fn check(f: &FlinkConfig, client: &Client) -> Check {
    let store = match ConfigStore::of_cluster(client.clone(), f) {
        Ok(s) => s,
        Err(e) => return Check::new(NAME, Status::Skipped, e.to_string()),
    };
    let current = match store.current().await {
        Ok(c) => c,
        Err(e) => return unreadable(&store, "the current version", &e),
    };
    let Some(current) = current else {
        let kept = match store.history().await {
            Ok(k) => k,
            Err(e) => return unreadable(&store, "the kept versions", &e),
        };
        return match kept.first() {
            None => Check::new(
                NAME,
                Status::Ok,
                format!(
                    "not used ({} holds no configuration; `zkha flink config push` puts one there)",
                    store.path()
                ),
            ),
            Some(newest) => Check::new(
                NAME,
                Status::Fail,
                format!(
                    "{}/current is gone while versions up to {} are kept: `zkha flink config \
                     pull` finds no configuration, so a process whose entry point pulls cannot \
                     start",
                    store.path(),
                    newest.version
                ),
            )
            .fix(format!(
                "make a kept version current again: zkha flink config rollback {}",
                newest.version
            )),
        };
    };
    let processes = match store.status().await {
        Ok(p) => p,
        Err(e) => return unreadable(&store, "the running versions", &e),
    };
    let mut problems = Vec::new();
    let mut fixes = Vec::new();
    // The configuration file given: a pulled one carries its version, role and host.
    match f.get(VERSION_KEY).map(|v| (v, v.trim().parse::<u64>())) {
        None => {}
        Some((v, Err(_))) => problems.push(format!(
            "{}: {VERSION_KEY} {v:?} is not a version: the plugin publishes nothing",
            f.source()
        )),
        Some((_, Ok(v))) if v > current.version => problems.push(format!(
            "{} is version {v}, newer than the current {} (was the store made again?)",
            f.source(),
            current.version
        )),
        Some((_, Ok(v))) if v < current.version => {
            let changed = store
                .diff_versions(v, current.version, f.get(ROLE_KEY), f.get(HOST_KEY))
                .await;
            let keys = match &changed {
                Ok(c) if c.is_empty() => None,
                Ok(c) => Some(
                    c.iter()
                        .map(|k| k.key.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                ),
                Err(_) => Some("its version is no longer kept".to_string()),
            };
            if let Some(keys) = keys {
                problems.push(format!(
                    "{} is version {v}, the current one is {} ({keys})",
                    f.source(),
                    current.version
                ));
                fixes.push("pull it again (zkha flink config pull) before the next start");
            }
        }
        Some(_) => {}
    }
    // Processes behind in a key that applies to them (a push of another role's overlay
    // makes a process older, not different), or ahead of the current version.
    let behind: Vec<_> = processes
        .iter()
        .filter(|p| p.stale && (!p.known || !p.differs.is_empty()))
        .collect();
    let ahead: Vec<_> = processes
        .iter()
        .filter(|p| p.running.version > current.version)
        .collect();
    let name = |p: &crate::flink::config_store::ProcessStatus| {
        format!(
            "{} {}:{} on version {}",
            p.running.role, p.running.host, p.running.pid, p.running.version
        )
    };
    if !behind.is_empty() {
        let names: Vec<String> = behind
            .iter()
            .map(|p| {
                let keys: Vec<&str> = p.differs.iter().map(|d| d.key.as_str()).collect();
                format!(
                    "{} ({})",
                    name(p),
                    if p.known {
                        format!("differs in {}", keys.join(", "))
                    } else {
                        "its version is no longer kept".to_string()
                    }
                )
            })
            .collect();
        problems.push(format!(
            "{} of {} process(es) run an older configuration: {}",
            behind.len(),
            processes.len(),
            names.join("; ")
        ));
        fixes.push(
            "restart them with the current version (their entry point pulls it; `zkha flink \
             config status` lists them)",
        );
    }
    if !ahead.is_empty() {
        let names: Vec<String> = ahead.iter().map(|p| name(p)).collect();
        problems.push(format!(
            "{} run a version newer than the current {} (was the store made again?)",
            names.join("; "),
            current.version
        ));
        fixes.push("restart them so that they pull the current version");
    }
    let details = json!({
        "store": store.path(),
        "current": current.version,
        "processes": processes.len(),
        "behind": behind.len(),
        "ahead": ahead.len(),
        "file_version": f.get(VERSION_KEY),
    });
    if !problems.is_empty() {
        return Check::new(NAME, Status::Warn, problems.join("; "))
            .fix(fixes.join("\n"))
            .details(details);
    }
    let summary = if processes.is_empty() {
        format!(
            "version {} is current; no process published its version (only processes started \
             from a pulled file do)",
            current.version
        )
    } else {
        format!(
            "version {} is current; {} process(es) published theirs, none behind in a key that \
             applies to it",
            current.version,
            processes.len()
        )
    };
    Check::new(NAME, Status::Ok, summary).details(details)
}
