//! A standalone Flink cluster on 127.0.0.1 — a session cluster, or an application cluster
//! running the test job — JobManagers and TaskManagers as plain
//! `java -cp '<flink lib>/*:<zkha plugin>'` processes, each with its own config directory, free
//! ports and log file, on zkha or on Flink's built-in ZooKeeper HA.
//!
//! Every JVM is started with [`zkha_testkit::spawn::spawn_tied`], so it dies with the process
//! that started it (test, demo, benchmark), also on a panic, an abort or Ctrl-C. Dropping a
//! [`Cluster`] kills what still runs; during a panic, or with `ZKHA_KEEP_LOGS=1`, the run
//! directory is kept and the tails of every log are printed.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use zkha::{Client, ClientOptions, RetryPolicy};
use zkha_testkit::spawn;

use crate::dist::Artifacts;
use crate::error::{Error, Result};
use crate::logs;
use crate::rest::{Checkpoints, JobSummary, Rest};
use crate::secured::Security;

/// Which high-availability services the cluster runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ha {
    /// zkha's plugin: `high-availability.type: io.zkha.flink.ZkhaHaServicesFactory`.
    Zkha,
    /// Flink's own: `high-availability.type: zookeeper`.
    BuiltIn,
}

impl Ha {
    /// The value of `high-availability.type`.
    pub fn type_value(self) -> &'static str {
        match self {
            Ha::Zkha => "io.zkha.flink.ZkhaHaServicesFactory",
            Ha::BuiltIn => "zookeeper",
        }
    }

    /// A short name for output.
    pub fn name(self) -> &'static str {
        match self {
            Ha::Zkha => "zkha",
            Ha::BuiltIn => "built-in ZooKeeper HA",
        }
    }
}

/// An application cluster: every JobManager runs Flink's
/// `StandaloneApplicationClusterEntryPoint` with the test job (`io.zkha.e2e.CountingJob`, its jar
/// on every process's class path) under a fixed job id; the cluster shuts down when the job is
/// done.
#[derive(Debug, Clone)]
pub struct Application {
    /// The fixed job id (32 hex digits).
    pub job_id: String,
    /// The job's arguments.
    pub args: Vec<String>,
}

/// How a cluster is set up.
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    /// The HA services.
    pub ha: Ha,
    /// `Some`: an application cluster running the test job; `None` (default): a session cluster.
    pub application: Option<Application>,
    /// JobManagers (default 2: a leader and a standby).
    pub job_managers: usize,
    /// TaskManagers (default 1, two slots each).
    pub task_managers: usize,
    /// The ZooKeeper connect string (also what the kit reads leaders with).
    pub quorum: String,
    /// Per-JobManager connect strings (e.g. through a [`zkha_testkit::FaultProxy`]); `None`
    /// entries, or a short list, fall back to `quorum`.
    pub jm_quorums: Vec<Option<String>>,
    /// The TaskManagers' connect string (e.g. through a proxy that counts their requests);
    /// `None`: `quorum`.
    pub tm_quorum: Option<String>,
    /// `high-availability.zookeeper.client.session-timeout` (default 4 s).
    pub session_timeout: Duration,
    /// `high-availability.zookeeper.path.root` (default `/flink`).
    pub zk_root: String,
    /// `high-availability.cluster-id` (default `/e2e-<unique>`).
    pub cluster_id: String,
    /// Where `high-availability.storageDir` (`<dir>/ha`) and the checkpoints (`<dir>/checkpoints`)
    /// live; default: inside the run directory. Give the same directory to a second cluster to
    /// take over the first one's jobs.
    pub storage_dir: Option<PathBuf>,
    /// More `key: value` lines for every process's config.
    pub extra_config: Vec<(String, String)>,
    /// More `key: value` lines for JobManager i's config (entry i; a short list: none).
    pub jm_extra_config: Vec<Vec<(String, String)>>,
    /// More JVM options for JobManager i (entry i; a short list: none).
    pub jm_jvm_args: Vec<Vec<String>>,
    /// A secured ensemble: every JVM's ZooKeeper client properties, the Flink keys, and the
    /// kit client's TLS and SASL ([`crate::secured`]); `None`: a plain ensemble.
    pub security: Option<Security>,
    /// How long [`Cluster::start`] waits for the REST endpoints, a leader and the TaskManagers.
    pub start_timeout: Duration,
}

impl ClusterOptions {
    /// Defaults for `ha` against the ensemble at `quorum`.
    pub fn new(ha: Ha, quorum: impl Into<String>) -> ClusterOptions {
        ClusterOptions {
            ha,
            application: None,
            job_managers: 2,
            task_managers: 1,
            quorum: quorum.into(),
            jm_quorums: Vec::new(),
            tm_quorum: None,
            session_timeout: Duration::from_secs(4),
            zk_root: "/flink".into(),
            cluster_id: format!("/e2e-{}", unique()),
            storage_dir: None,
            extra_config: Vec::new(),
            jm_extra_config: Vec::new(),
            jm_jvm_args: Vec::new(),
            security: None,
            start_timeout: Duration::from_secs(180),
        }
    }

    /// The cluster's ZooKeeper root, `<zk_root>/<cluster_id>`.
    pub fn cluster_root(&self) -> String {
        format!(
            "/{}/{}",
            self.zk_root.trim_matches('/'),
            self.cluster_id.trim_matches('/')
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    JobManager,
    TaskManager,
}

#[derive(Debug)]
struct Proc {
    role: Role,
    name: String,
    dir: PathBuf,
    rest_port: u16,
    child: Option<Child>,
    starts: u32,
}

impl Proc {
    fn log(&self) -> PathBuf {
        self.dir.join(format!("{}.log", self.name))
    }
    fn out(&self) -> PathBuf {
        self.dir.join(format!("{}.out", self.name))
    }
    fn running(&mut self) -> bool {
        match &mut self.child {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }
}

/// The leader as ZooKeeper names it (`leader/rest_server/connection_info`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leader {
    /// Index of the leading JobManager (0-based).
    pub jm: usize,
    /// Its REST address.
    pub address: String,
    /// The leader session id it published.
    pub session: String,
}

/// A running Flink session cluster.
pub struct Cluster {
    artifacts: Artifacts,
    options: ClusterOptions,
    dir: PathBuf,
    storage: PathBuf,
    jms: Vec<Proc>,
    tms: Vec<Proc>,
    zk: Client,
    keep: bool,
}

/// JVM memory of a JobManager: heap, metaspace, direct (`jobmanager.memory.process.size` 1024m).
const JM_JVM: [&str; 4] = [
    "-Xmx448m",
    "-Xms128m",
    "-XX:MaxMetaspaceSize=256m",
    "-XX:MaxDirectMemorySize=128m",
];
/// JVM memory of a TaskManager, matching the fine-grained sizes in its config.
const TM_JVM: [&str; 4] = [
    "-Xmx384m",
    "-Xms128m",
    "-XX:MaxMetaspaceSize=192m",
    "-XX:MaxDirectMemorySize=192m",
];
/// A TaskManager's memory, set component by component as Flink's start scripts would
/// (`TaskManagerRunner` started without them requires every component).
const TM_MEMORY: [(&str, &str); 11] = [
    ("taskmanager.cpu.cores", "2"),
    ("taskmanager.memory.framework.heap.size", "128m"),
    ("taskmanager.memory.task.heap.size", "256m"),
    ("taskmanager.memory.framework.off-heap.size", "128m"),
    ("taskmanager.memory.task.off-heap.size", "0m"),
    ("taskmanager.memory.network.min", "64m"),
    ("taskmanager.memory.network.max", "64m"),
    ("taskmanager.memory.managed.size", "128m"),
    ("taskmanager.memory.jvm-metaspace.size", "192m"),
    ("taskmanager.memory.jvm-overhead.min", "192m"),
    ("taskmanager.memory.jvm-overhead.max", "192m"),
];

impl Cluster {
    /// Writes the configs, starts every process and waits until each JobManager's REST
    /// endpoint answers, one of them leads and every TaskManager has registered.
    pub fn start(artifacts: &Artifacts, options: ClusterOptions) -> Result<Cluster> {
        let base = std::env::var_os("ZKHA_TESTKIT_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| std::env::temp_dir().join("zkha-testkit"));
        let dir = base.join(format!("flink-{}-{}", std::process::id(), unique()));
        fs::create_dir_all(&dir)?;
        // The test kit removes run directories whose owner process is gone.
        fs::write(dir.join("owner.pid"), std::process::id().to_string())?;
        let storage = options
            .storage_dir
            .clone()
            .unwrap_or_else(|| dir.join("storage"));
        fs::create_dir_all(storage.join("ha"))?;
        fs::create_dir_all(storage.join("checkpoints"))?;
        // The plugin jar is copied so a rebuild during the run cannot change a running cluster.
        fs::create_dir_all(dir.join("lib"))?;
        fs::copy(&artifacts.plugin_jar, dir.join("lib/zkha-flink.jar"))?;
        if options.application.is_some() {
            fs::copy(&artifacts.job_jar, dir.join("lib/zkha-e2e-job.jar"))?;
        }
        fs::write(dir.join("log4j2.properties"), log4j_config())?;

        // The test's own observer: its reads ride out the ZooKeeper server kills the tests
        // make (retried through the reconnect to another server).
        let mut observer = ClientOptions::new(options.quorum.clone())
            .session_timeout(Duration::from_secs(10))
            .retry(RetryPolicy {
                max_retries: 10,
                base_wait: Duration::from_millis(100),
                max_wait: Duration::from_secs(1),
            });
        if let Some(s) = &options.security {
            observer = s.client_options(observer);
        }
        let zk = Client::connect_blocking(observer)?;
        let mut cluster = Cluster {
            artifacts: artifacts.clone(),
            dir,
            storage,
            jms: Vec::new(),
            tms: Vec::new(),
            zk,
            keep: false,
            options,
        };
        let mut held = Vec::new();
        for i in 0..cluster.options.job_managers {
            let (rpc, rest, blob) = (
                zkha_testkit::ports::free_port(&mut held)?,
                zkha_testkit::ports::free_port(&mut held)?,
                zkha_testkit::ports::free_port(&mut held)?,
            );
            let name = format!("jm{}", i + 1);
            let pdir = cluster.dir.join(&name);
            fs::create_dir_all(&pdir)?;
            let quorum = cluster
                .options
                .jm_quorums
                .get(i)
                .cloned()
                .flatten()
                .unwrap_or_else(|| cluster.options.quorum.clone());
            let mut cfg = cluster.common_config(&quorum, &pdir);
            for (k, v) in [
                ("jobmanager.rpc.address", "127.0.0.1".to_string()),
                ("jobmanager.bind-host", "127.0.0.1".into()),
                ("jobmanager.rpc.port", rpc.to_string()),
                ("high-availability.jobmanager.port", rpc.to_string()),
                ("rest.address", "127.0.0.1".into()),
                ("rest.bind-address", "127.0.0.1".into()),
                ("rest.port", rest.to_string()),
                ("rest.bind-port", rest.to_string()),
                ("blob.server.port", blob.to_string()),
                ("jobmanager.memory.process.size", "1024m".into()),
                ("web.upload.dir", pdir.join("upload").display().to_string()),
            ] {
                cfg.push((k.to_string(), v));
            }
            cfg.extend(
                cluster
                    .options
                    .jm_extra_config
                    .get(i)
                    .cloned()
                    .unwrap_or_default(),
            );
            write_config(&pdir, &cfg, &cluster.options.extra_config)?;
            cluster.jms.push(Proc {
                role: Role::JobManager,
                name,
                dir: pdir,
                rest_port: rest,
                child: None,
                starts: 0,
            });
        }
        for i in 0..cluster.options.task_managers {
            let name = format!("tm{}", i + 1);
            let pdir = cluster.dir.join(&name);
            fs::create_dir_all(&pdir)?;
            let quorum = (cluster.options.tm_quorum.clone())
                .unwrap_or_else(|| cluster.options.quorum.clone());
            let mut cfg = cluster.common_config(&quorum, &pdir);
            for (k, v) in [
                ("taskmanager.host", "127.0.0.1".to_string()),
                ("taskmanager.bind-host", "127.0.0.1".into()),
                ("taskmanager.rpc.port", "0".into()),
                ("taskmanager.data.port", "0".into()),
                ("taskmanager.resource-id", name.clone()),
            ] {
                cfg.push((k.to_string(), v));
            }
            for (k, v) in TM_MEMORY {
                cfg.push((k.to_string(), v.to_string()));
            }
            write_config(&pdir, &cfg, &cluster.options.extra_config)?;
            cluster.tms.push(Proc {
                role: Role::TaskManager,
                name,
                dir: pdir,
                rest_port: 0,
                child: None,
                starts: 0,
            });
        }
        drop(held);
        for i in 0..cluster.jms.len() {
            cluster.launch(Role::JobManager, i)?;
        }
        for i in 0..cluster.tms.len() {
            cluster.launch(Role::TaskManager, i)?;
        }
        let timeout = cluster.options.start_timeout;
        cluster.wait_ready(timeout)?;
        Ok(cluster)
    }

    fn common_config(&self, quorum: &str, pdir: &Path) -> Vec<(String, String)> {
        let o = &self.options;
        let security = o.security.iter().flat_map(|s| s.flink_config.clone());
        let mut cfg = vec![
            ("high-availability.type".into(), o.ha.type_value().into()),
            ("high-availability.zookeeper.quorum".into(), quorum.into()),
            (
                "high-availability.zookeeper.path.root".into(),
                o.zk_root.clone(),
            ),
            ("high-availability.cluster-id".into(), o.cluster_id.clone()),
            (
                "high-availability.storageDir".into(),
                format!("file://{}", self.storage.join("ha").display()),
            ),
            (
                "high-availability.zookeeper.client.session-timeout".into(),
                format!("{} ms", o.session_timeout.as_millis()),
            ),
            (
                "execution.checkpointing.dir".into(),
                format!("file://{}", self.storage.join("checkpoints").display()),
            ),
            ("execution.checkpointing.interval".into(), "500 ms".into()),
            ("taskmanager.numberOfTaskSlots".into(), "2".into()),
            ("parallelism.default".into(), "1".into()),
            // REST answers from caches that live 3 s by default; the kit reads state as it is.
            ("web.refresh-interval".into(), "500 ms".into()),
            (
                "rest.cache.checkpoint-statistics.timeout".into(),
                "100 ms".into(),
            ),
            ("heartbeat.interval".into(), "2000".into()),
            ("heartbeat.timeout".into(), "10000".into()),
            ("io.tmp.dirs".into(), pdir.join("tmp").display().to_string()),
        ];
        cfg.extend(security);
        cfg
    }

    fn proc_mut(&mut self, role: Role, i: usize) -> Result<&mut Proc> {
        let list = match role {
            Role::JobManager => &mut self.jms,
            Role::TaskManager => &mut self.tms,
        };
        let n = list.len();
        list.get_mut(i)
            .ok_or_else(|| Error::new(format!("no {role:?} {i} (the cluster has {n})")))
    }

    fn launch(&mut self, role: Role, i: usize) -> Result<()> {
        let a = self.artifacts.clone();
        let mut classpath = format!(
            "{}/*:{}",
            a.flink_lib.display(),
            self.dir.join("lib/zkha-flink.jar").display()
        );
        let application = self.options.application.clone();
        if application.is_some() {
            // The job's classes come from the class path on JobManagers and TaskManagers alike,
            // as from usrlib/ in Flink's images.
            classpath.push_str(&format!(
                ":{}",
                self.dir.join("lib/zkha-e2e-job.jar").display()
            ));
        }
        let log4j = self.dir.join("log4j2.properties");
        let mut properties: Vec<String> = self
            .options
            .security
            .iter()
            .flat_map(|s| s.jvm_properties.iter().map(|(k, v)| format!("-D{k}={v}")))
            .collect();
        if role == Role::JobManager {
            properties.extend(self.options.jm_jvm_args.get(i).cloned().unwrap_or_default());
        }
        let p = self.proc_mut(role, i)?;
        if p.running() {
            return Err(Error::new(format!("{} is running", p.name)));
        }
        let (main, jvm) = match role {
            Role::JobManager if application.is_some() => (
                "org.apache.flink.container.entrypoint.StandaloneApplicationClusterEntryPoint",
                JM_JVM,
            ),
            Role::JobManager => (
                "org.apache.flink.runtime.entrypoint.StandaloneSessionClusterEntrypoint",
                JM_JVM,
            ),
            Role::TaskManager => (
                "org.apache.flink.runtime.taskexecutor.TaskManagerRunner",
                TM_JVM,
            ),
        };
        let out = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p.out())?;
        let mut cmd = Command::new(&a.java);
        cmd.args(&a.java_opts)
            .args(jvm)
            // Two cores: the serial collector and the C1 compiler start a JVM faster and
            // leave more CPU to the others.
            .args(["-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"])
            .arg(format!("-Dlog.file={}", p.log().display()))
            .arg(format!("-Dlog4j.configurationFile={}", log4j.display()))
            .arg(format!("-Dzkha.e2e.process={}", p.name))
            .args(&properties)
            .arg("-cp")
            .arg(classpath)
            .arg(main)
            .arg("--configDir")
            .arg(&p.dir);
        if let (Role::JobManager, Some(app)) = (role, &application) {
            cmd.args(["--job-classname", "io.zkha.e2e.CountingJob", "--job-id"])
                .arg(&app.job_id)
                .args(&app.args);
        }
        cmd.current_dir(&p.dir)
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out);
        let child = spawn::spawn_tied(cmd)
            .map_err(|e| Error::new(format!("cannot start {}: {e}", p.name)))?;
        p.child = Some(child);
        p.starts += 1;
        Ok(())
    }

    fn wait_ready(&mut self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            self.check_alive()?;
            let rest_up = self
                .jms
                .iter_mut()
                .all(|p| !p.running() || Rest::new(p.rest_port).is_up());
            if rest_up {
                if let Ok(Some(leader)) = self.leader() {
                    let tms = Rest::new(self.jms[leader.jm].rest_port)
                        .overview()
                        .map(|o| o.taskmanagers)
                        .unwrap_or(0);
                    if tms as usize >= self.tms.len() {
                        return Ok(());
                    }
                }
            }
            if Instant::now() >= deadline {
                self.keep = true;
                return Err(Error::new(format!(
                    "the Flink cluster was not ready within {timeout:?} (REST endpoints up: {rest_up}, leader: {:?}).\n{}",
                    self.leader().ok().flatten(),
                    self.report()
                )));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Fails, with the log tail, if a process that was started has exited.
    pub fn check_alive(&mut self) -> Result<()> {
        for p in self.jms.iter_mut().chain(self.tms.iter_mut()) {
            if let Some(c) = p.child.as_mut() {
                if let Ok(Some(status)) = c.try_wait() {
                    p.child = None;
                    self.keep = true;
                    let (log, out) = (p.log(), p.out());
                    return Err(Error::new(format!(
                        "{} exited ({status}); log {}:\n{}\n{}:\n{}",
                        p.name,
                        log.display(),
                        logs::tail(&log, 40),
                        out.display(),
                        logs::tail(&out, 10)
                    )));
                }
            }
        }
        Ok(())
    }

    /// The run directory (configs, logs, and the storage unless given).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The options the cluster runs with.
    pub fn options(&self) -> &ClusterOptions {
        &self.options
    }

    /// The storage directory (HA files and checkpoints).
    pub fn storage_dir(&self) -> &Path {
        &self.storage
    }

    /// Number of JobManagers.
    pub fn job_managers(&self) -> usize {
        self.jms.len()
    }

    /// The REST endpoint of JobManager `jm`.
    pub fn rest(&self, jm: usize) -> Rest {
        Rest::new(self.jms[jm].rest_port)
    }

    /// The log file of JobManager `jm`.
    pub fn jm_log(&self, jm: usize) -> PathBuf {
        self.jms[jm].log()
    }

    /// The configuration directory of JobManager `jm` (its `config.yaml`; a restart reads it
    /// again).
    pub fn jm_config_dir(&self, jm: usize) -> PathBuf {
        self.jms[jm].dir.clone()
    }

    /// The log file of TaskManager `tm`.
    pub fn tm_log(&self, tm: usize) -> PathBuf {
        self.tms[tm].log()
    }

    /// The process id of JobManager `jm` while it runs.
    pub fn jm_pid(&self, jm: usize) -> Option<u32> {
        self.jms[jm].child.as_ref().map(Child::id)
    }

    /// Whether JobManager `jm` runs.
    pub fn jm_running(&mut self, jm: usize) -> bool {
        self.jms[jm].running()
    }

    /// The zkha client the kit reads ZooKeeper with (connected to `quorum`).
    pub fn zk(&self) -> &Client {
        &self.zk
    }

    /// Reads a znode below the cluster root (`rel` like `leader/rest_server/connection_info`).
    pub fn read(&self, rel: &str) -> Result<Option<(Vec<u8>, zkha::NodeStat)>> {
        let path = format!("{}/{}", self.options.cluster_root(), rel);
        let zk = self.zk.clone();
        Ok(zkha::runtime::block_on(
            async move { zk.get_data(&path).await },
        )?)
    }

    /// Every znode below the cluster root (relative paths, parents first); empty if the root
    /// is gone.
    pub fn znodes(&self) -> Result<Vec<String>> {
        let root = self.options.cluster_root();
        let zk = self.zk.clone();
        Ok(zkha::runtime::block_on(async move {
            let mut found = Vec::new();
            let mut todo = vec![String::new()];
            while let Some(rel) = todo.pop() {
                let path = if rel.is_empty() {
                    root.clone()
                } else {
                    format!("{root}/{rel}")
                };
                for child in zk.get_children(&path).await?.unwrap_or_default() {
                    let r = if rel.is_empty() {
                        child
                    } else {
                        format!("{rel}/{child}")
                    };
                    found.push(r.clone());
                    todo.push(r);
                }
            }
            found.sort();
            Ok::<_, zkha::Error>(found)
        })?)
    }

    /// Where submitted jobs live below the cluster root: `jobgraphs` on Flink 1.20,
    /// `execution-plans` on 2.x.
    pub fn job_store(&self) -> &'static str {
        if self.artifacts.flink_major() < 2 {
            "jobgraphs"
        } else {
            "execution-plans"
        }
    }

    /// The artifacts the cluster runs (Flink version, JVM).
    pub fn artifacts(&self) -> &Artifacts {
        &self.artifacts
    }

    /// The JobResultStore's entries for `job` (Flink's default `job-result-store.storage-path`
    /// below `high-availability.storageDir`): `(dirty, clean)`, each the entry's JSON if present.
    pub fn job_result_entries(&self, job: &str) -> Result<(Option<String>, Option<String>)> {
        let dir = self
            .storage
            .join("ha/job-result-store")
            .join(self.options.cluster_id.trim_matches('/'));
        let read = |name: String| match fs::read_to_string(dir.join(name)) {
            Ok(s) => Ok(Some(s)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::from(e)),
        };
        Ok((
            read(format!("{job}_DIRTY.json"))?,
            read(format!("{job}.json"))?,
        ))
    }

    /// The files below `high-availability.storageDir` other than the JobResultStore's and (2.3)
    /// the ApplicationResultStore's (submitted jobs, checkpoint metadata handles, blobs),
    /// relative to it.
    pub fn ha_files(&self) -> Result<Vec<String>> {
        fn walk(dir: &Path, base: &Path, out: &mut Vec<String>) -> std::io::Result<()> {
            for e in fs::read_dir(dir)? {
                let p = e?.path();
                let rel = p.strip_prefix(base).unwrap_or(&p).display().to_string();
                if rel == "job-result-store" || rel == "application-result-store" {
                    continue;
                }
                if p.is_dir() {
                    walk(&p, base, out)?;
                } else {
                    out.push(rel);
                }
            }
            Ok(())
        }
        let base = self.storage.join("ha");
        let mut out = Vec::new();
        walk(&base, &base, &mut out)?;
        out.sort();
        Ok(out)
    }

    /// The number of contenders in the leader election (children of `leader/latch`).
    pub fn contenders(&self) -> Result<usize> {
        let path = format!("{}/leader/latch", self.options.cluster_root());
        let zk = self.zk.clone();
        let children = zkha::runtime::block_on(async move { zk.get_children(&path).await })?;
        Ok(children.map_or(0, |c| c.len()))
    }

    /// Waits until JobManager `jm` runs, answers on REST and all JobManagers contend.
    pub fn wait_standby(&mut self, jm: usize, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            self.check_alive()?;
            if self.rest(jm).is_up() && self.contenders()? >= self.jms.len() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(Error::new(format!(
                    "JobManager {} did not join the election within {timeout:?}",
                    jm + 1
                )));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The leading JobManager, from ZooKeeper (`leader/rest_server/connection_info`), if the
    /// address there is one of this cluster's.
    pub fn leader(&self) -> Result<Option<Leader>> {
        let Some((bytes, _)) = self.read("leader/rest_server/connection_info")? else {
            return Ok(None);
        };
        if bytes.is_empty() {
            return Ok(None);
        }
        let (address, session) = zkha::flink::connection_info::decode(&bytes)?;
        let port: Option<u16> = address.rsplit(':').next().and_then(|p| p.parse().ok());
        Ok(self
            .jms
            .iter()
            .position(|p| Some(p.rest_port) == port)
            .map(|jm| Leader {
                jm,
                address,
                session: session.to_string(),
            }))
    }

    /// Waits until `pred` holds for the leader; returns it and the moment it was seen.
    pub fn wait_leader(
        &self,
        timeout: Duration,
        pred: impl Fn(&Leader) -> bool,
    ) -> Result<(Leader, Instant)> {
        let deadline = Instant::now() + timeout;
        let mut last = None;
        loop {
            match self.leader() {
                Ok(Some(l)) if pred(&l) => return Ok((l, Instant::now())),
                Ok(l) => last = l,
                Err(_) => {}
            }
            if Instant::now() >= deadline {
                return Err(Error::new(format!(
                    "no leader as expected within {timeout:?}; last seen: {last:?}"
                )));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The leading JobManager's REST endpoint.
    pub fn leader_rest(&self) -> Result<Rest> {
        let l = self
            .leader()?
            .ok_or_else(|| Error::new("no JobManager leads"))?;
        Ok(self.rest(l.jm))
    }

    /// Uploads the test job to the leader and runs it with `args`; returns the job id.
    pub fn submit_job(&self, args: &[&str]) -> Result<String> {
        let rest = self.leader_rest()?;
        let jar = rest.upload_jar(&self.artifacts.job_jar)?;
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        rest.run_jar(&jar, &args)
    }

    /// The jobs as the leader reports them.
    pub fn jobs(&self) -> Result<Vec<JobSummary>> {
        self.leader_rest()?.jobs()
    }

    /// Waits until the leader reports `job` RUNNING with all its tasks running; returns when.
    pub fn wait_job_running(&mut self, job: &str, timeout: Duration) -> Result<Instant> {
        let deadline = Instant::now() + timeout;
        let mut last: String;
        loop {
            self.check_alive_tms()?;
            match self.jobs() {
                Ok(jobs) => match jobs.iter().find(|j| j.id == job) {
                    Some(j)
                        if j.state == "RUNNING"
                            && j.tasks_total > 0
                            && j.tasks_running == j.tasks_total =>
                    {
                        return Ok(Instant::now())
                    }
                    Some(j) => {
                        last = format!(
                            "{} ({}/{} tasks running)",
                            j.state, j.tasks_running, j.tasks_total
                        )
                    }
                    None => last = format!("not listed (jobs: {jobs:?})"),
                },
                Err(e) => last = e.to_string(),
            }
            if Instant::now() >= deadline {
                return Err(Error::new(format!(
                    "job {job} was not RUNNING within {timeout:?}; last: {last}"
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn check_alive_tms(&mut self) -> Result<()> {
        for p in self.tms.iter_mut() {
            if p.child.is_some() && !p.running() {
                self.keep = true;
                return Err(Error::new(format!(
                    "{} exited; log {}:\n{}",
                    p.name,
                    p.log().display(),
                    logs::tail(&p.log(), 40)
                )));
            }
        }
        Ok(())
    }

    /// The leader's view of `job`'s checkpoints.
    pub fn checkpoints(&self, job: &str) -> Result<Checkpoints> {
        self.leader_rest()?.checkpoints(job)
    }

    /// The latest completed checkpoint of `job`, as the leader reports it.
    pub fn latest_checkpoint(&self, job: &str) -> Result<u64> {
        self.checkpoints(job)?
            .latest_completed
            .ok_or_else(|| Error::new(format!("job {job} has no completed checkpoint")))
    }

    /// Waits until a checkpoint newer than `after` has completed; returns its id.
    pub fn wait_checkpoint(&self, job: &str, after: Option<u64>, timeout: Duration) -> Result<u64> {
        let deadline = Instant::now() + timeout;
        let mut last = None;
        loop {
            if let Ok(c) = self.checkpoints(job) {
                last = Some(c.clone());
                if let Some(id) = c.latest_completed {
                    if after.is_none_or(|a| id > a) {
                        return Ok(id);
                    }
                }
            }
            if Instant::now() >= deadline {
                return Err(Error::new(format!(
                    "no checkpoint of job {job} after {after:?} completed within {timeout:?}; last: {last:?}"
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL JobManager `jm` and reap it.
    pub fn kill_jm(&mut self, jm: usize) -> Result<()> {
        let p = self.proc_mut(Role::JobManager, jm)?;
        if let Some(mut c) = p.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        Ok(())
    }

    /// SIGTERM JobManager `jm` (Flink shuts down gracefully); returns at once.
    pub fn term_jm(&mut self, jm: usize) -> Result<()> {
        let p = self.proc_mut(Role::JobManager, jm)?;
        let pid = p
            .child
            .as_ref()
            .map(Child::id)
            .ok_or_else(|| Error::new(format!("{} is not running", p.name)))?;
        spawn::signal(pid, libc::SIGTERM)?;
        Ok(())
    }

    /// Waits for JobManager `jm` to exit; SIGKILL after `timeout`.
    pub fn wait_jm_exit(&mut self, jm: usize, timeout: Duration) -> Result<Option<ExitStatus>> {
        let p = self.proc_mut(Role::JobManager, jm)?;
        Ok(wait_exit(p, timeout))
    }

    /// Starts JobManager `jm` again (after a kill or a stop), same config and ports.
    pub fn restart_jm(&mut self, jm: usize) -> Result<()> {
        self.launch(Role::JobManager, jm)
    }

    /// Stops every process gracefully (SIGTERM, SIGKILL after 30 s), TaskManagers first, as
    /// `stop-cluster.sh` would; the HA data in ZooKeeper and the storage stay.
    pub fn stop(&mut self) {
        for p in self.tms.iter_mut().chain(self.jms.iter_mut()) {
            if let Some(c) = p.child.as_ref() {
                let _ = spawn::signal(c.id(), libc::SIGTERM);
            }
        }
        for p in self.tms.iter_mut().chain(self.jms.iter_mut()) {
            wait_exit(p, Duration::from_secs(30));
        }
    }

    /// Kills every process now (also done on drop).
    pub fn kill_all(&mut self) {
        for p in self.jms.iter_mut().chain(self.tms.iter_mut()) {
            if let Some(mut c) = p.child.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }

    /// Keeps the run directory after drop (also automatic during a panic).
    pub fn keep_logs(&mut self) {
        self.keep = true;
    }

    /// Every process's log path and the tail of its log: for failure messages.
    pub fn report(&self) -> String {
        let mut s = format!("Flink cluster run directory: {}\n", self.dir.display());
        for p in self.jms.iter().chain(self.tms.iter()) {
            let _ = writeln!(
                s,
                "---- {} ({:?}, started {} time(s)) log {} (last 25 lines):\n{}",
                p.name,
                p.role,
                p.starts,
                p.log().display(),
                logs::tail(&p.log(), 25)
            );
            let out = logs::tail(&p.out(), 10);
            if !out.trim().is_empty() {
                let _ = writeln!(
                    s,
                    "---- {} stdout/stderr {}:\n{out}",
                    p.name,
                    p.out().display()
                );
            }
        }
        s
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.kill_all();
        let panicking = std::thread::panicking();
        if panicking {
            eprintln!("{}", self.report());
        }
        if self.keep || panicking || std::env::var_os("ZKHA_KEEP_LOGS").is_some() {
            // Without an owner the test kit's clean-up of stale runs leaves it alone.
            let _ = fs::remove_file(self.dir.join("owner.pid"));
            eprintln!("zkha-flink: kept {}", self.dir.display());
        } else {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

fn wait_exit(p: &mut Proc, timeout: Duration) -> Option<ExitStatus> {
    let mut c = p.child.take()?;
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(Some(status)) = c.try_wait() {
            return Some(status);
        }
        if Instant::now() >= deadline {
            let _ = c.kill();
            return c.wait().ok();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn write_config(dir: &Path, cfg: &[(String, String)], extra: &[(String, String)]) -> Result<()> {
    let mut s = String::from("# written by the zkha Flink test kit\n");
    for (k, v) in cfg.iter().chain(extra) {
        let _ = writeln!(s, "{k}: '{}'", v.replace('\'', "''"));
    }
    fs::write(dir.join("config.yaml"), s)?;
    Ok(())
}

fn log4j_config() -> String {
    format!(
        "# one log file per process (-Dlog.file), epoch-ms timestamps for the test kit\n\
         rootLogger.level = INFO\n\
         rootLogger.appenderRef.main.ref = Main\n\
         appender.main.name = Main\n\
         appender.main.type = File\n\
         appender.main.fileName = ${{sys:log.file}}\n\
         appender.main.append = true\n\
         appender.main.layout.type = PatternLayout\n\
         appender.main.layout.pattern = {}\n\
         logger.pekko.name = org.apache.pekko\n\
         logger.pekko.level = WARN\n\
         logger.netty.name = org.apache.flink.shaded.netty4\n\
         logger.netty.level = WARN\n",
        logs::PATTERN
    )
}

/// `n` distinct ports free right now, below the ephemeral range (for a test's own endpoints).
pub fn free_ports(n: usize) -> Result<Vec<u16>> {
    Ok(zkha_testkit::ports::free_ports(n)?)
}

/// A process-unique number for directory and cluster names.
pub fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as u64)
        .unwrap_or(0);
    (nanos << 8) | SEQ.fetch_add(1, Ordering::Relaxed)
}
