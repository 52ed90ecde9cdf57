//! Task attempts as a TaskManager's log tells them: when each was received (deployed) and when
//! it ended, by subtask, to see whether an attempt of an old JobMaster still ran after the new
//! JobMaster's attempt of the same subtask was deployed.
//!
//! Flink logs `Received task <name> (<graph>_<vertex>_<subtask>_<attempt>), deploy into slot
//! ...` on deployment and `<name> (<id>) switched from <a> to <CANCELED|FAILED|FINISHED>.` at
//! the end; `<graph>` is the execution graph's id, new for every JobMaster.

use std::collections::BTreeMap;
use std::path::Path;

use crate::logs;

/// One task attempt on a TaskManager.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// The execution graph's id (one per JobMaster).
    pub graph: String,
    /// `<vertex>_<subtask>`: the same subtask across graphs.
    pub subtask: String,
    /// The task's name.
    pub name: String,
    /// When the TaskManager received it (epoch ms).
    pub received_ms: u64,
    /// When it reached a terminal state (epoch ms), if it did.
    pub ended_ms: Option<u64>,
}

/// The task's name and attempt id in `<name> (<id>)...` after `after`: the first
/// parenthesized token of four `_`-separated parts (names have parentheses too: `(1/1)`).
fn attempt_id(text: &str, after: &str) -> Option<(String, String)> {
    let rest = text.split_once(after)?.1;
    rest.match_indices(" (").find_map(|(open, _)| {
        let id = rest[open + 2..].split(')').next()?;
        let parts: Vec<&str> = id.split('_').collect();
        (parts.len() == 4
            && parts
                .iter()
                .all(|p| p.bytes().all(|b| b.is_ascii_alphanumeric()) && !p.is_empty()))
        .then(|| (id.to_string(), rest[..open].to_string()))
    })
}

/// Every task attempt the TaskManager log at `path` tells of, in order of deployment.
pub fn attempts(path: &Path) -> Vec<Attempt> {
    let mut by_id: BTreeMap<String, Attempt> = BTreeMap::new();
    let mut order = Vec::new();
    for l in logs::events(path) {
        if l.text.contains("Received task ") {
            if let Some((id, name)) = attempt_id(&l.text, "Received task ") {
                let parts: Vec<&str> = id.split('_').collect();
                order.push(id.clone());
                by_id.insert(
                    id.clone(),
                    Attempt {
                        graph: parts[0].to_string(),
                        subtask: format!("{}_{}", parts[1], parts[2]),
                        name,
                        received_ms: l.epoch_ms,
                        ended_ms: None,
                    },
                );
            }
        } else if [" to CANCELED", " to FAILED", " to FINISHED"]
            .iter()
            .any(|s| l.text.contains(s) && l.text.contains(" switched from "))
        {
            if let Some((id, _)) = attempt_id(&l.text, "Task - ") {
                if let Some(a) = by_id.get_mut(&id) {
                    a.ended_ms.get_or_insert(l.epoch_ms);
                }
            }
        }
    }
    order
        .into_iter()
        .filter_map(|id| by_id.remove(&id))
        .collect()
}

/// For a JobMaster change at `at_ms`: per subtask, how long the last attempt deployed before
/// `at_ms` still ran after the first attempt of another execution graph deployed at or after
/// it (positive: both ran at once for that many ms; negative: the old one had ended that long
/// before; `None` for the old one: it never ended in the log). Subtasks without both
/// attempts are left out.
pub fn overlaps(attempts: &[Attempt], at_ms: u64) -> Vec<(String, Option<i64>)> {
    let mut out = Vec::new();
    let subtasks: std::collections::BTreeSet<&str> =
        attempts.iter().map(|a| a.subtask.as_str()).collect();
    for s in subtasks {
        let old = attempts
            .iter()
            .rfind(|a| a.subtask == s && a.received_ms < at_ms);
        let Some(old) = old else { continue };
        let new = attempts
            .iter()
            .find(|a| a.subtask == s && a.received_ms >= at_ms && a.graph != old.graph);
        let Some(new) = new else { continue };
        out.push((
            format!("{} ({s})", old.name),
            old.ended_ms.map(|end| end as i64 - new.received_ms as i64),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = "\
1796000001000 00:00:01.000 INFO  [d-5] TaskExecutor - Received task Source: src (1/1)#0 (aaaa_v1_0_0), deploy into slot with allocation id x.
1796000001001 00:00:01.001 INFO  [Source: src (1/1)#0] Task - Source: src (1/1)#0 (aaaa_v1_0_0) switched from CREATED to DEPLOYING.
1796000002000 00:00:02.000 INFO  [d-5] TaskExecutor - Received task Source: src (1/1)#0 (bbbb_v1_0_0), deploy into slot with allocation id y.
1796000002050 00:00:02.050 INFO  [Source: src (1/1)#0] Task - Source: src (1/1)#0 (aaaa_v1_0_0) switched from RUNNING to CANCELED due to CancelTaskException.
1796000003000 00:00:03.000 INFO  [d-5] TaskExecutor - Received task sink (1/1)#0 (bbbb_v2_0_0), deploy into slot with allocation id y.
";

    #[test]
    fn reads_attempts_and_their_overlap_from_a_task_managers_log() {
        let dir = std::env::temp_dir().join(format!("zkha-tasks-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("tm.log");
        std::fs::write(&path, LOG).unwrap();
        let a = attempts(&path);
        assert_eq!(a.len(), 3);
        assert_eq!(a[0].graph, "aaaa");
        assert_eq!(a[0].subtask, "v1_0");
        assert_eq!(a[0].name, "Source: src (1/1)#0");
        assert_eq!(a[0].ended_ms, Some(1_796_000_002_050));
        assert_eq!(a[1].ended_ms, None);
        // The old source attempt ran on for 50 ms after the new one was deployed; the sink
        // has no attempt before the change.
        assert_eq!(
            overlaps(&a, 1_796_000_001_500),
            vec![("Source: src (1/1)#0 (v1_0)".to_string(), Some(50))]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
