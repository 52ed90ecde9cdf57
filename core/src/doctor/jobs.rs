//! The jobs in ZooKeeper against the jobs the leading dispatcher knows (Flink's REST API at
//! the address the REST endpoint's leader published): a job id that the leader does not know
//! belongs to another cluster on the same cluster id (the `/default` trap), is still being
//! recovered, or was left behind.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::json;

use super::ensemble::http_get_json;
use super::{Check, DoctorOptions, Status};
use crate::flink::ClusterView;

/// `GET <base>/jobs` over plain HTTP: the job ids it lists.
async fn rest_jobs(base: &str, timeout: Duration) -> Result<BTreeSet<String>, String> {
    let rest = base
        .strip_prefix("http://")
        .ok_or_else(|| format!("{base}: only plain http is read from here"))?;
    let (authority, prefix) = match rest.split_once('/') {
        Some((a, p)) => (a, format!("/{}", p.trim_end_matches('/'))),
        None => (rest, String::new()),
    };
    let (status, v) = http_get_json(authority, &format!("{prefix}/jobs"), timeout)
        .await
        .map_err(|e| format!("{base}/jobs: {e}"))?;
    if !status.starts_with("HTTP/1.1 200") && !status.starts_with("HTTP/1.0 200") {
        return Err(format!("{base}/jobs: {status}"));
    }
    Ok(v["jobs"]
        .as_array()
        .ok_or_else(|| format!("{base}/jobs: no job list"))?
        .iter()
        .filter_map(|j| j["id"].as_str().map(str::to_string))
        .collect())
}

/// Every job in ZooKeeper (`jobs`, as listed) is one the leading dispatcher knows.
pub(super) async fn check(
    o: &DoctorOptions,
    view: &ClusterView,
    jobs: &crate::Result<Vec<String>>,
) -> Check {
    let stored: BTreeSet<String> = match jobs {
        Ok(j) => j.iter().cloned().collect(),
        Err(e) => return Check::new("jobs", Status::Fail, format!("cannot list jobs: {e}")),
    };
    let rest = match view.leader("rest_server").await {
        Ok(Some(l)) => l.address,
        Ok(None) => {
            return Check::new(
                "jobs",
                Status::Skipped,
                format!(
                    "{} job(s) in ZooKeeper; no REST endpoint leads to ask which it runs",
                    stored.len()
                ),
            )
        }
        Err(e) => return Check::new("jobs", Status::Fail, format!("cannot read: {e}")),
    };
    let known = match rest_jobs(&rest, o.timeout).await {
        Ok(k) => k,
        Err(e) => {
            return Check::new(
                "jobs",
                Status::Skipped,
                format!(
                    "{} job(s) in ZooKeeper; the leader's REST endpoint did not tell: {e}",
                    stored.len()
                ),
            )
            .fix("run the doctor where the JobManagers' REST endpoint is reachable")
        }
    };
    let unknown: Vec<&String> = stored.difference(&known).collect();
    let details = json!({ "in_zookeeper": stored, "known_to_leader": known, "rest": rest });
    if unknown.is_empty() {
        return Check::new(
            "jobs",
            Status::Ok,
            format!(
                "{} job(s) in ZooKeeper, each known to the leading dispatcher ({rest})",
                stored.len()
            ),
        )
        .details(details);
    }
    Check::new(
        "jobs",
        Status::Warn,
        format!(
            "{} of {} job(s) in ZooKeeper unknown to the leading dispatcher ({rest}): {}",
            unknown.len(),
            stored.len(),
            unknown
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    )
    .fix(
        "another Flink cluster stores its jobs under this cluster id (the /default trap: give \
         each cluster its own high-availability.cluster-id), a job is still being recovered \
         (check again in a minute), or a finished job was left behind",
    )
    .details(details)
}
