//! A small blocking client for Flink's REST API: what an operator reads (cluster overview, jobs,
//! checkpoints, metrics) and job submission (jar upload and run).

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::error::{Error, Result};

/// Flink's REST endpoint of one JobManager.
#[derive(Debug, Clone)]
pub struct Rest {
    base: String,
    agent: ureq::Agent,
}

/// One line of `/jobs/overview`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobSummary {
    /// The job id (32 hex digits).
    pub id: String,
    /// The job name.
    pub name: String,
    /// `RUNNING`, `INITIALIZING`, `SUSPENDED`, ...
    pub state: String,
    /// Tasks running / total.
    pub tasks_running: u64,
    /// Total tasks.
    pub tasks_total: u64,
}

/// `/jobs/<id>/checkpoints`: what an operator checks about checkpoints.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Checkpoints {
    /// The latest completed checkpoint id.
    pub latest_completed: Option<u64>,
    /// The checkpoint this run of the job was restored from.
    pub latest_restored: Option<u64>,
    /// Completed checkpoints counted by this JobMaster.
    pub completed: u64,
    /// Failed checkpoints counted by this JobMaster.
    pub failed: u64,
}

/// `/overview`: the cluster as the leading JobManager sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overview {
    /// Registered TaskManagers.
    pub taskmanagers: u64,
    /// Slots in total.
    pub slots_total: u64,
    /// Free slots.
    pub slots_available: u64,
    /// Running jobs.
    pub jobs_running: u64,
}

impl Rest {
    /// The endpoint at `http://127.0.0.1:<port>`.
    pub fn new(port: u16) -> Rest {
        Rest {
            base: format!("http://127.0.0.1:{port}"),
            agent: ureq::AgentBuilder::new()
                .timeout_connect(Duration::from_millis(500))
                .timeout(Duration::from_secs(5))
                .build(),
        }
    }

    /// The base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// GET `path` as JSON.
    pub fn get(&self, path: &str) -> Result<Value> {
        let url = format!("{}{path}", self.base);
        json("GET", &url, self.agent.get(&url).call())
    }

    /// Whether the endpoint answers at all.
    pub fn is_up(&self) -> bool {
        self.get("/config").is_ok()
    }

    /// `/overview`.
    pub fn overview(&self) -> Result<Overview> {
        let v = self.get("/overview")?;
        Ok(Overview {
            taskmanagers: v["taskmanagers"].as_u64().unwrap_or(0),
            slots_total: v["slots-total"].as_u64().unwrap_or(0),
            slots_available: v["slots-available"].as_u64().unwrap_or(0),
            jobs_running: v["jobs-running"].as_u64().unwrap_or(0),
        })
    }

    /// `/jobs/overview`.
    pub fn jobs(&self) -> Result<Vec<JobSummary>> {
        let v = self.get("/jobs/overview")?;
        let jobs = v["jobs"].as_array().ok_or_else(|| {
            Error::new(format!("{}/jobs/overview: no jobs array: {v}", self.base))
        })?;
        Ok(jobs
            .iter()
            .map(|j| JobSummary {
                id: j["jid"].as_str().unwrap_or_default().to_string(),
                name: j["name"].as_str().unwrap_or_default().to_string(),
                state: j["state"].as_str().unwrap_or_default().to_string(),
                tasks_running: j["tasks"]["running"].as_u64().unwrap_or(0),
                tasks_total: j["tasks"]["total"].as_u64().unwrap_or(0),
            })
            .collect())
    }

    /// `/jobs/<id>/checkpoints`.
    pub fn checkpoints(&self, job: &str) -> Result<Checkpoints> {
        let v = self.get(&format!("/jobs/{job}/checkpoints"))?;
        Ok(Checkpoints {
            latest_completed: v["latest"]["completed"]["id"].as_u64(),
            latest_restored: v["latest"]["restored"]["id"].as_u64(),
            completed: v["counts"]["completed"].as_u64().unwrap_or(0),
            failed: v["counts"]["failed"].as_u64().unwrap_or(0),
        })
    }

    /// A job metric (`numRestarts`, ...) as a number.
    pub fn job_metric(&self, job: &str, metric: &str) -> Result<Option<f64>> {
        let v = self.get(&format!("/jobs/{job}/metrics?get={metric}"))?;
        Ok(v.as_array()
            .and_then(|a| a.iter().find(|m| m["id"] == metric))
            .and_then(|m| m["value"].as_str())
            .and_then(|s| s.parse().ok()))
    }

    /// The number of entries in the job's exception history (`/jobs/<id>/exceptions`): each is a
    /// failure that made Flink restart tasks.
    pub fn exception_count(&self, job: &str) -> Result<usize> {
        let v = self.get(&format!("/jobs/{job}/exceptions"))?;
        Ok(v["exceptionHistory"]["entries"]
            .as_array()
            .map_or(0, |a| a.len()))
    }

    /// Uploads a jar (`POST /jars/upload`, multipart) and returns its id for [`Rest::run_jar`].
    pub fn upload_jar(&self, jar: &Path) -> Result<String> {
        let bytes = std::fs::read(jar)?;
        let name = jar
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("job.jar");
        let boundary = "----zkha-e2e-7f3a9c2b5d";
        let mut body = Vec::with_capacity(bytes.len() + 512);
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"jarfile\"; filename=\"{name}\"\r\n\
                 Content-Type: application/x-java-archive\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(&bytes);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let url = format!("{}/jars/upload", self.base);
        let r = self
            .agent
            .post(&url)
            .set(
                "Content-Type",
                &format!("multipart/form-data; boundary={boundary}"),
            )
            .send_bytes(&body);
        let v = json("POST", &url, r)?;
        let file = v["filename"]
            .as_str()
            .ok_or_else(|| Error::new(format!("POST {url}: no filename in {v}")))?;
        Ok(file.rsplit('/').next().unwrap_or(file).to_string())
    }

    /// Runs an uploaded jar (`POST /jars/<id>/run`) with program arguments; returns the job id.
    pub fn run_jar(&self, jar_id: &str, args: &[String]) -> Result<String> {
        let url = format!("{}/jars/{jar_id}/run", self.base);
        let r = ureq::AgentBuilder::new()
            .timeout(Duration::from_secs(60))
            .build()
            .post(&url)
            .send_json(serde_json::json!({ "programArgsList": args }));
        let v = json("POST", &url, r)?;
        v["jobid"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| Error::new(format!("POST {url}: no jobid in {v}")))
    }
}

/// The JSON body of a response, or an error naming the request and Flink's answer.
fn json(
    method: &str,
    url: &str,
    response: std::result::Result<ureq::Response, ureq::Error>,
) -> Result<Value> {
    match response {
        Ok(r) => r
            .into_json()
            .map_err(|e| Error::new(format!("{method} {url}: unreadable JSON: {e}"))),
        Err(ureq::Error::Status(code, r)) => Err(Error::new(format!(
            "{method} {url}: HTTP {code}: {}",
            r.into_string().unwrap_or_default()
        ))),
        Err(e) => Err(Error::new(format!("{method} {url}: {e}"))),
    }
}
