//! The cluster's central configuration in ZooKeeper (`zkha flink config`): processes still
//! running an older version, a configuration file older than the current version, a store
//! whose `current` is gone.

use serde_json::json;

use super::{Check, Status};
use crate::flink::config_store::{ConfigStore, VERSION_KEY};
use crate::flink::FlinkConfig;
use crate::session::Client;

const NAME: &str = "central-config";

/// The `central-config` check of the cluster `f` describes.
pub(super) async fn check(f: &FlinkConfig, client: &Client) -> Check {
    let store = match ConfigStore::of_cluster(client.clone(), f) {
        Ok(s) => s,
        Err(e) => return Check::new(NAME, Status::Skipped, e.to_string()),
    };
    let current = match store.current().await {
        Ok(c) => c,
        Err(e) => {
            return Check::new(
                NAME,
                Status::Fail,
                format!("cannot read {}: {e}", store.path()),
            )
        }
    };
    let Some(current) = current else {
        let kept = store.history().await.unwrap_or_default();
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
                Status::Warn,
                format!(
                    "{}/current is gone while versions up to {} are kept: a pull fails",
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
        Err(e) => {
            return Check::new(
                NAME,
                Status::Fail,
                format!("cannot read the running versions: {e}"),
            )
        }
    };
    let mut problems = Vec::new();
    let mut fixes = Vec::new();
    let local = f
        .get(VERSION_KEY)
        .and_then(|v| v.trim().parse::<u64>().ok());
    if let Some(v) = local.filter(|v| *v < current.version) {
        problems.push(format!(
            "{} is version {v}, the current one is {}",
            f.source(),
            current.version
        ));
        fixes.push("pull it again (zkha flink config pull) before the next start".to_string());
    }
    let stale: Vec<_> = processes.iter().filter(|p| p.stale).collect();
    if !stale.is_empty() {
        let names: Vec<String> = stale
            .iter()
            .map(|p| {
                let keys: Vec<&str> = p.differs.iter().map(|d| d.key.as_str()).collect();
                format!(
                    "{} {}:{} on version {} ({})",
                    p.running.role,
                    p.running.host,
                    p.running.pid,
                    p.running.version,
                    if p.known {
                        format!("differs in {}", keys.join(", "))
                    } else {
                        "its version is no longer kept".to_string()
                    }
                )
            })
            .collect();
        problems.push(format!(
            "{} of {} process(es) run an older version: {}",
            stale.len(),
            processes.len(),
            names.join("; ")
        ));
        fixes.push(
            "restart them with the current version (their entry point pulls it; \
             `zkha flink config status` lists them)"
                .to_string(),
        );
    }
    let details = json!({
        "store": store.path(),
        "current": current.version,
        "processes": processes.len(),
        "stale": stale.len(),
        "file_version": local,
    });
    if problems.is_empty() {
        Check::new(
            NAME,
            Status::Ok,
            format!(
                "version {} is current; {} process(es) run it",
                current.version,
                processes.len()
            ),
        )
        .details(details)
    } else {
        Check::new(NAME, Status::Warn, problems.join("; "))
            .fix(fixes.join("\n"))
            .details(details)
    }
}
