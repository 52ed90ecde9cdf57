//! Central configuration on a running cluster (`zkha flink config`): the kit's JobManager
//! configuration pushed as the store's base, a JobManager restarted from a `config.yaml`
//! pulled out of ZooKeeper (as a container's or systemd unit's entry point would), and the
//! store's status of it. Shared by the `central_config` test and `make demo`.

use std::time::{Duration, Instant};

use zkha::flink::config_store::{
    ConfigDocument, ConfigStore, Format, Part, ProcessStatus, PushOptions,
};
use zkha::flink::FlinkConfig;

use crate::cluster::Cluster;
use crate::error::{Error, Result};

/// Pushes JobManager `jm`'s configuration file as the base of the cluster's store (a new
/// version, by `author` with `note`); returns the store and the new document.
pub fn push_kit_config(
    cluster: &Cluster,
    jm: usize,
    author: &str,
    note: &str,
) -> Result<(ConfigStore, ConfigDocument)> {
    let file = cluster.jm_config_dir(jm).join("config.yaml");
    let base = std::fs::read_to_string(&file)?;
    let config = FlinkConfig::parse_yaml(&base, &file.display().to_string())?;
    let store = ConfigStore::of_cluster(cluster.zk().clone(), &config)?;
    let doc = push(&store, Part::Base, &base, author, note)?;
    Ok((store, doc))
}

/// Pushes `text` as `part` of `store` (blocking).
pub fn push(
    store: &ConfigStore,
    part: Part,
    text: &str,
    author: &str,
    note: &str,
) -> Result<ConfigDocument> {
    let (s, text, options) = (
        store.clone(),
        text.to_string(),
        PushOptions::new(author, note),
    );
    Ok(zkha::runtime::block_on(async move {
        s.push(&part, &text, Format::ConfigYaml, &options).await
    })?)
}

/// Pulls JobManager `jm`'s configuration (role `jobmanager`, host `jm<n>`) into its
/// configuration directory and starts it again from it (SIGTERM first); waits until it runs
/// as a contender. Returns the version it started with.
pub fn restart_from_pulled(cluster: &mut Cluster, store: &ConfigStore, jm: usize) -> Result<u64> {
    let host = format!("jm{}", jm + 1);
    let s = store.clone();
    let (doc, text) =
        zkha::runtime::block_on(async move { s.pull(Some("jobmanager"), Some(&host)).await })?;
    cluster.term_jm(jm)?;
    cluster.wait_jm_exit(jm, Duration::from_secs(60))?;
    std::fs::write(cluster.jm_config_dir(jm).join("config.yaml"), text)?;
    cluster.restart_jm(jm)?;
    cluster.wait_standby(jm, Duration::from_secs(120))?;
    Ok(doc.version)
}

/// The store's status of JobManager `jm` (its current pid) once it shows with `version`.
pub fn status_of(
    cluster: &Cluster,
    store: &ConfigStore,
    jm: usize,
    version: u64,
) -> Result<ProcessStatus> {
    let pid = cluster
        .jm_pid(jm)
        .ok_or_else(|| Error::new(format!("JobManager {} is not running", jm + 1)))?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let s = store.clone();
        let all = zkha::runtime::block_on(async move { s.status().await })?;
        if let Some(p) = all
            .into_iter()
            .find(|p| p.running.pid == pid && p.running.version == version)
        {
            return Ok(p);
        }
        if Instant::now() > deadline {
            return Err(Error::new(format!(
                "JobManager {} (pid {pid}) did not publish version {version}",
                jm + 1
            )));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}
