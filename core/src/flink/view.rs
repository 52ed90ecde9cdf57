//! A read-only view of one Flink cluster's HA data in ZooKeeper — leaders, jobs, checkpoints,
//! checkpoint counters — as Flink's built-in ZooKeeper HA or zkha's plugin wrote it (same
//! znodes, same bytes). One implementation for the CLI, Python and C.

use serde::Serialize;

use super::{connection_info, state_handle, FlinkLayout};
use crate::error::{ErrorKind, Result};
use crate::{Client, CounterFormat};

/// A published leader: the component's address (a pekko RPC URL, or the REST URL for
/// `rest_server`) and the leader session id of its grant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Leader {
    /// The component (`dispatcher`, `resource_manager`, `rest_server`, `job-<id>`).
    pub component: String,
    /// Its address.
    pub address: String,
    /// The leader session id (a UUID).
    pub leader_session_id: String,
}

/// A completed checkpoint's pointer: the id, and where Flink wrote its `completedCheckpoint`
/// metadata file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Checkpoint {
    /// The checkpoint id.
    pub id: i64,
    /// The metadata file's URI, if the handle is a file.
    pub location: Option<String>,
    /// The stored state's size in bytes, if recorded.
    pub state_size: Option<i64>,
    /// The wrapped handle's Java class.
    pub handle_class: String,
    /// The pointer's znode.
    pub znode: String,
}

/// One job in [`ClusterStatus`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobStatus {
    /// Its JobMaster's published leader.
    pub leader: Option<Leader>,
    /// Its latest retained checkpoint.
    pub latest_checkpoint: Option<Checkpoint>,
    /// Its checkpoint-id counter (the next checkpoint id).
    pub checkpoint_counter: Option<i64>,
    /// Why its checkpoints could not be read (a corrupt or vanished pointer), if so.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Everything [`ClusterView::status`] reads, as plain data (JSON via serde).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClusterStatus {
    /// The cluster's root.
    pub root: String,
    /// Each component's published leader, in [`super::layout::COMPONENTS`] order.
    pub leaders: std::collections::BTreeMap<String, Option<Leader>>,
    /// Each job's status, by job id.
    pub jobs: std::collections::BTreeMap<String, JobStatus>,
}

/// The view: a client and a cluster's layout. Cheap to clone.
#[derive(Clone)]
pub struct ClusterView {
    client: Client,
    layout: FlinkLayout,
}

impl ClusterView {
    /// The cluster laid out by `layout`, read through `client`.
    pub fn new(client: Client, layout: FlinkLayout) -> ClusterView {
        ClusterView { client, layout }
    }

    /// The layout read.
    pub fn layout(&self) -> &FlinkLayout {
        &self.layout
    }

    /// The client it reads through.
    pub fn client(&self) -> &Client {
        &self.client
    }

    async fn leader_at(&self, component: &str, path: &str) -> Result<Option<Leader>> {
        match self.client.get_data(path).await? {
            Some((data, _)) if !data.is_empty() => {
                let (address, session) = connection_info::decode(&data)?;
                Ok(Some(Leader {
                    component: component.to_string(),
                    address,
                    leader_session_id: session.to_string(),
                }))
            }
            _ => Ok(None),
        }
    }

    /// The published leader of `component` (None: none published).
    pub async fn leader(&self, component: &str) -> Result<Option<Leader>> {
        let path = self.layout.connection_info(component);
        self.leader_at(component, &path).await
    }

    /// The published leader of every component, in [`super::layout::COMPONENTS`] order.
    pub async fn leaders(&self) -> Result<Vec<(String, Option<Leader>)>> {
        let mut out = Vec::new();
        for c in super::layout::COMPONENTS {
            out.push((c.to_string(), self.leader(c).await?));
        }
        Ok(out)
    }

    /// The JobMaster leader of one job (`leader/job-<id>/connection_info`).
    pub async fn job_leader(&self, job_id: &str) -> Result<Option<Leader>> {
        let path = self.layout.job_connection_info(job_id);
        self.leader_at(&format!("job-{job_id}"), &path).await
    }

    /// Ids of the jobs with a stored execution plan (submitted, not yet globally terminated),
    /// sorted.
    pub async fn jobs(&self) -> Result<Vec<String>> {
        let mut jobs = Vec::new();
        for dir in self.layout.plan_dirs() {
            jobs.extend(self.client.get_children(&dir).await?.unwrap_or_default());
        }
        jobs.sort();
        jobs.dedup();
        Ok(jobs)
    }

    /// A job's submitted execution plan (job graph on Flink 1.20), if stored: its znode and
    /// the file it points to.
    pub async fn execution_plan_at(
        &self,
        job_id: &str,
    ) -> Result<Option<(String, Option<String>)>> {
        for dir in self.layout.plan_dirs() {
            let path = format!("{dir}/{job_id}");
            if let Some((data, _)) = self.client.get_data(&path).await? {
                let file = if data.is_empty() {
                    None
                } else {
                    state_handle::decode(&data)?.file_path
                };
                return Ok(Some((path, file)));
            }
        }
        Ok(None)
    }

    /// Where a job's submitted execution plan is stored.
    pub async fn execution_plan(&self, job_id: &str) -> Result<Option<String>> {
        Ok(self
            .execution_plan_at(job_id)
            .await?
            .and_then(|(_, file)| file))
    }

    /// The job's retained completed checkpoints, oldest first. `Corrupt` names a pointer
    /// that is not Flink's; one removed while read (subsumed) is left out.
    pub async fn checkpoints(&self, job_id: &str) -> Result<Vec<Checkpoint>> {
        let root = self.layout.checkpoints(job_id);
        let mut out = Vec::new();
        for name in self.client.get_children(&root).await?.unwrap_or_default() {
            let Ok(id) = name.parse::<i64>() else {
                continue; // not a checkpoint node
            };
            let znode = format!("{root}/{name}");
            let Some((data, _)) = self.client.get_data(&znode).await? else {
                continue;
            };
            let p = state_handle::decode(&data).map_err(|e| e.context(&znode))?;
            out.push(Checkpoint {
                id,
                location: p.file_path,
                state_size: p.state_size,
                handle_class: p.handle_class,
                znode,
            });
        }
        out.sort_by_key(|c| c.id);
        Ok(out)
    }

    /// The job's latest retained checkpoint.
    pub async fn latest_checkpoint(&self, job_id: &str) -> Result<Option<Checkpoint>> {
        Ok(self.checkpoints(job_id).await?.pop())
    }

    /// The job's checkpoint-id counter (the next checkpoint id), or None if absent.
    pub async fn checkpoint_counter(&self, job_id: &str) -> Result<Option<i64>> {
        let path = self.layout.checkpoint_id_counter(job_id);
        match self.client.get_data(&path).await? {
            Some((data, _)) => Ok(Some(CounterFormat::Int32.decode(&data, &path)?)),
            None => Ok(None),
        }
    }

    /// Leaders, jobs and each job's leader, latest checkpoint and counter. A job whose
    /// checkpoints cannot be read (`Corrupt`, or `NoNode` as they change) carries the error
    /// instead of failing the whole status.
    pub async fn status(&self) -> Result<ClusterStatus> {
        let mut jobs = std::collections::BTreeMap::new();
        for j in self.jobs().await? {
            let (latest_checkpoint, error) = match self.latest_checkpoint(&j).await {
                Ok(l) => (l, None),
                Err(e) if matches!(e.kind(), ErrorKind::Corrupt | ErrorKind::NoNode) => {
                    (None, Some(e.to_string()))
                }
                Err(e) => return Err(e),
            };
            let status = JobStatus {
                leader: self.job_leader(&j).await?,
                latest_checkpoint,
                checkpoint_counter: self.checkpoint_counter(&j).await?,
                error,
            };
            jobs.insert(j, status);
        }
        Ok(ClusterStatus {
            root: self.layout.root.clone(),
            leaders: self.leaders().await?.into_iter().collect(),
            jobs,
        })
    }
}

impl ClusterStatus {
    /// The status as JSON text (what `zkha flink status --json` prints).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }
}
