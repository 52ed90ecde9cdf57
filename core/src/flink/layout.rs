//! Flink's znode layout under `<path.root>/<cluster-id>` (built-in ZooKeeper HA).

use crate::path;

/// The leader components Flink elects and publishes.
pub const COMPONENTS: [&str; 3] = ["dispatcher", "resource_manager", "rest_server"];

/// Paths of one Flink cluster, relative to the ZooKeeper root (include the namespace).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlinkLayout {
    /// `<path.root>/<cluster-id>`, e.g. `/flink/default`.
    pub root: String,
    /// The directory of submitted jobs under the root: `execution-plans` (Flink 2.x), or
    /// what `high-availability.zookeeper.path.execution-plans` / `.path.jobgraphs` name
    /// (`jobgraphs` is Flink 1.20's default).
    pub plans: String,
    /// Whether the configuration named `plans` (else a reader also looks in `jobgraphs`,
    /// where a Flink 1.20 cluster keeps them by default).
    pub plans_named: bool,
}

impl FlinkLayout {
    /// The layout rooted at `root` (already normalised, e.g. `/flink/default`).
    pub fn new(root: impl Into<String>) -> FlinkLayout {
        FlinkLayout {
            root: root.into(),
            plans: "execution-plans".into(),
            plans_named: false,
        }
    }

    /// The same layout with the submitted jobs under `plans` (e.g. `jobgraphs`).
    pub fn with_plans(mut self, plans: impl Into<String>) -> FlinkLayout {
        self.plans = plans.into().trim_matches('/').to_string();
        self.plans_named = true;
        self
    }

    fn at(&self, rel: &str) -> String {
        if self.root.is_empty() {
            format!("/{rel}")
        } else {
            path::join(&self.root, rel)
        }
    }

    /// `leader/latch`: the one latch all JobManagers contend on.
    pub fn latch(&self) -> String {
        self.at("leader/latch")
    }

    /// `leader/<component>/connection_info`.
    pub fn connection_info(&self, component: &str) -> String {
        self.at(&format!("leader/{component}/connection_info"))
    }

    /// `leader/job-<jobid>/connection_info` (the JobMaster of one job).
    pub fn job_connection_info(&self, job_id: &str) -> String {
        self.connection_info(&format!("job-{job_id}"))
    }

    /// The submitted jobs: `execution-plans` (Flink 2.x; `jobgraphs` in 1.20, see
    /// [`FlinkLayout::plans`]).
    pub fn execution_plans(&self) -> String {
        self.at(&self.plans)
    }

    /// Where a reader looks for submitted jobs: the named directory, or without a name both
    /// `execution-plans` (Flink 2.x) and `jobgraphs` (Flink 1.20's default), since the
    /// configuration alone does not tell the Flink version.
    pub fn plan_dirs(&self) -> Vec<String> {
        if self.plans_named {
            vec![self.execution_plans()]
        } else {
            vec![self.execution_plans(), self.at("jobgraphs")]
        }
    }

    /// `jobs/<jobid>/checkpoints`.
    pub fn checkpoints(&self, job_id: &str) -> String {
        self.at(&format!("jobs/{job_id}/checkpoints"))
    }

    /// `jobs/<jobid>/checkpoint_id_counter`.
    pub fn checkpoint_id_counter(&self, job_id: &str) -> String {
        self.at(&format!("jobs/{job_id}/checkpoint_id_counter"))
    }

    /// The znode name of checkpoint `id` (`%019d`).
    pub fn checkpoint_name(id: i64) -> String {
        format!("{id:019}")
    }
}
