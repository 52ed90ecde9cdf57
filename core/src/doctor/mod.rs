//! `zkha doctor`: checks a ZooKeeper ensemble and a Flink cluster's HA setup as zkha relies on
//! them, each check saying what it found and, when it fails, what to change. One
//! implementation for the CLI (Python's `zkha doctor`), C (`zkha_doctor_json`) and Rust.
//!
//! It works against an ensemble as it ships: four-letter words beyond `srvr` are usually not
//! whitelisted, and TLS-only ensembles have no plain port; it uses what is there (`srvr`, the
//! AdminServer's HTTP commands, the client protocol) and says what it could not check.

mod central_config;
mod checks;
mod ensemble;
mod jobs;
mod settings;
mod storage;

use std::time::Duration;

use serde::Serialize;

use crate::flink::FlinkConfig;
use crate::{ClientOptions, Result};

pub use ensemble::{probe_server, ServerProbe};

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// As it should be.
    Ok,
    /// Works, but weaker or slower than it could be; says what to change.
    Warn,
    /// Broken or unsafe; says what to change. The doctor exits non-zero.
    Fail,
    /// Could not be checked from here; says why and how to check it.
    Skipped,
}

/// One check's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// Its name (`ensemble`, `session-timeout`, `acl`, ...).
    pub name: &'static str,
    /// How it came out.
    pub status: Status,
    /// What was found, one line.
    pub summary: String,
    /// What to change (for `warn` and `fail`), or how to check it (for `skipped`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
    /// What was read, as data.
    #[serde(skip_serializing_if = "serde_json::Value::is_null")]
    pub details: serde_json::Value,
}

impl Check {
    fn new(name: &'static str, status: Status, summary: impl Into<String>) -> Check {
        Check {
            name,
            status,
            summary: summary.into(),
            fix: None,
            details: serde_json::Value::Null,
        }
    }

    fn fix(mut self, fix: impl Into<String>) -> Check {
        self.fix = Some(fix.into());
        self
    }

    fn details(mut self, details: serde_json::Value) -> Check {
        self.details = details;
        self
    }
}

/// Every check's outcome, in the order run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The checks.
    pub checks: Vec<Check>,
}

impl Report {
    /// The check named `name`, if it ran.
    pub fn check(&self, name: &str) -> Option<&Check> {
        self.checks.iter().find(|c| c.name == name)
    }

    /// True if no check failed (warnings and skipped checks pass).
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.status != Status::Fail)
    }

    /// The report as JSON: `{"passed": bool, "checks": [{name, status, summary, fix?,
    /// details?}]}`.
    pub fn to_json(&self) -> String {
        serde_json::json!({ "passed": self.passed(), "checks": self.checks }).to_string()
    }

    /// The report for a terminal: one line per check, its fix indented below.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for c in &self.checks {
            let tag = match c.status {
                Status::Ok => "ok  ",
                Status::Warn => "WARN",
                Status::Fail => "FAIL",
                Status::Skipped => "skip",
            };
            out.push_str(&format!("[{tag}] {:<17} {}\n", c.name, c.summary));
            if let Some(fix) = &c.fix {
                for line in fix.lines() {
                    out.push_str(&format!("       {:<17} -> {line}\n", ""));
                }
            }
        }
        let failed = self
            .checks
            .iter()
            .filter(|c| c.status == Status::Fail)
            .count();
        out.push_str(&match failed {
            0 => "doctor: every check passed\n".to_string(),
            n => format!("doctor: {n} check(s) failed\n"),
        });
        out
    }
}

/// What the doctor checks.
#[derive(Debug, Clone)]
pub struct DoctorOptions {
    /// How to reach the ensemble (its security included) and the session timeout asked for.
    pub client: ClientOptions,
    /// The Flink configuration, for the cluster's layout, storage and Flink settings.
    pub flink: Option<FlinkConfig>,
    /// AdminServer addresses (`host:port`), one per server in connect-string order, or one
    /// port (`:8080`) for every server: for mode, zxid and latency where no plain port
    /// answers `srvr` (TLS-only ensembles).
    pub admin: Vec<String>,
    /// How long one probe may take.
    pub timeout: Duration,
    /// A Flink installation (its `lib/`, `plugins/` and the zkha jar) through whose file
    /// systems `high-availability.storageDir` and the pointers' files on anything but the
    /// local file system (s3://, hdfs://, ...) are checked, with `java` from `JAVA_HOME` or
    /// `PATH`. Default: `FLINK_HOME`, else the directory above the configuration's `conf/`.
    pub flink_home: Option<std::path::PathBuf>,
    /// Checks local paths through Flink's file systems too (as the JobManager sees them).
    pub via_flink: bool,
}

impl DoctorOptions {
    /// Checks of the ensemble at `client.connect_string` (no Flink cluster).
    pub fn new(client: ClientOptions) -> DoctorOptions {
        DoctorOptions {
            client,
            flink: None,
            admin: Vec::new(),
            timeout: Duration::from_secs(3),
            flink_home: None,
            via_flink: false,
        }
    }

    /// Checks of the ensemble and the Flink cluster a Flink configuration describes.
    pub fn from_flink_config(config: FlinkConfig) -> Result<DoctorOptions> {
        let client = config.client_options()?;
        Ok(DoctorOptions {
            flink: Some(config),
            ..DoctorOptions::new(client)
        })
    }
}

/// Runs every check. Never fails as a whole: a check that cannot run says so in the report.
pub async fn run(options: &DoctorOptions) -> Report {
    let mut checks = ensemble::checks(options).await;
    checks.extend(checks::run(options).await);
    Report { checks }
}
