//! A real ZooKeeper ensemble of `QuorumPeerMain` JVMs on 127.0.0.1.
//!
//! Each node has its own data directory, config and log file under the ensemble's run
//! directory. Every JVM is killed when the [`Ensemble`] is dropped (also while a test panics)
//! and, through a parent-death signal, when the test process ends without dropping it.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs::{self, OpenOptions};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::admin;
use crate::error::{Error, Result};
use crate::four_letter::{self, Mode};
use crate::install::{self, Install, Maven};
use crate::kerberos::{Kerberos, KerberosConfig};
use crate::proxy::FaultProxy;
use crate::sasl::{self, DigestFiles, SaslConfig, SaslMechanism};
use crate::spawn;
use crate::tls::{TlsConfig, TlsFiles};

/// How an ensemble is configured.
#[derive(Debug, Clone)]
pub struct Options {
    /// ZooKeeper `tickTime` in milliseconds (default 100: fast elections and expiry).
    pub tick_ms: u32,
    /// ZooKeeper `forceSync` (default false: no fsync per write, for speed).
    pub force_sync: bool,
    /// `minSessionTimeout` in ms (default: 2 x tick).
    pub min_session_timeout_ms: Option<u32>,
    /// `maxSessionTimeout` in ms (default 60 000, so tests can ask for long sessions).
    pub max_session_timeout_ms: Option<u32>,
    /// Client ports to use, one per node; default: free ports chosen at start.
    pub client_ports: Option<Vec<u16>>,
    /// Maximum JVM heap per node in MiB (default 256).
    pub heap_mb: u32,
    /// How long [`Ensemble::start`] waits for a quorum (default 60 s).
    pub start_timeout: Duration,
    /// Parent directory for the run directory (default `$ZKHA_TESTKIT_DIR` or the temp dir).
    pub base_dir: Option<PathBuf>,
    /// How many of the nodes (the last ones) are observers (`peerType=observer`; default 0).
    pub observers: usize,
    /// Route every server-to-server link (quorum and election traffic) through a fault proxy,
    /// so [`Ensemble::partition`] can cut servers off from each other while their clients
    /// stay connected (default false).
    pub partitionable: bool,
    /// `syncLimit` in ticks (default 5 s worth: 5000 / tick).
    pub sync_limit: Option<u32>,
    /// TLS-only client ports with certificates the kit makes (default: plain ports).
    pub tls: Option<TlsConfig>,
    /// SASL authentication, DIGEST-MD5 or Kerberos (default: none).
    pub sasl: Option<SaslConfig>,
    /// `4lw.commands.whitelist` (default `*`, every word; ZooKeeper's own default since 3.5.3
    /// is `srvr` alone).
    pub four_letter_words: String,
    /// Runs ZooKeeper's Prometheus metrics provider on each server, on a port of its own
    /// ([`NodeRef::metrics_addr`]; default false).
    pub prometheus_metrics: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            tick_ms: 100,
            force_sync: false,
            min_session_timeout_ms: None,
            max_session_timeout_ms: Some(60_000),
            client_ports: None,
            heap_mb: 256,
            start_timeout: Duration::from_secs(60),
            base_dir: None,
            observers: 0,
            partitionable: false,
            sync_limit: None,
            tls: None,
            sasl: None,
            four_letter_words: "*".to_string(),
            prometheus_metrics: false,
        }
    }
}

impl Options {
    /// Sets `tickTime` in ms.
    pub fn tick_ms(mut self, tick_ms: u32) -> Self {
        self.tick_ms = tick_ms;
        self
    }

    /// Sets `forceSync`.
    pub fn force_sync(mut self, on: bool) -> Self {
        self.force_sync = on;
        self
    }

    /// Sets `minSessionTimeout` and `maxSessionTimeout` in ms.
    pub fn session_timeout_bounds(mut self, min_ms: u32, max_ms: u32) -> Self {
        self.min_session_timeout_ms = Some(min_ms);
        self.max_session_timeout_ms = Some(max_ms);
        self
    }

    /// Uses these client ports instead of free ones.
    pub fn client_ports(mut self, ports: Vec<u16>) -> Self {
        self.client_ports = Some(ports);
        self
    }

    /// Makes the last `n` nodes observers.
    pub fn observers(mut self, n: usize) -> Self {
        self.observers = n;
        self
    }

    /// Routes server-to-server links through fault proxies (see [`Ensemble::partition`]).
    pub fn partitionable(mut self, on: bool) -> Self {
        self.partitionable = on;
        self
    }

    /// Runs ZooKeeper's Prometheus metrics provider on each server
    /// (`metricsProvider.className`, an HTTP port per server: [`NodeRef::metrics_addr`]).
    pub fn prometheus_metrics(mut self, on: bool) -> Self {
        self.prometheus_metrics = on;
        self
    }

    /// Sets `syncLimit` in ticks.
    pub fn sync_limit(mut self, ticks: u32) -> Self {
        self.sync_limit = Some(ticks);
        self
    }

    /// Serves clients on TLS-only ports (`secureClientPort`, no plain port), with a CA and
    /// certificates the kit makes in the ensemble's directory ([`Ensemble::tls`]). The kit's
    /// health checks then ask each server's AdminServer (HTTP) instead of four-letter words.
    pub fn tls(mut self, config: TlsConfig) -> Self {
        self.tls = Some(config);
        self
    }

    /// Requires SASL DIGEST-MD5 with these `(user, password)` pairs
    /// ([`Ensemble::sasl_digest`]).
    pub fn sasl_digest(mut self, users: &[(&str, &str)]) -> Self {
        self.sasl = Some(SaslConfig {
            mechanism: SaslMechanism::DigestMd5 {
                users: users
                    .iter()
                    .map(|(u, p)| (u.to_string(), p.to_string()))
                    .collect(),
            },
            required: self.sasl.as_ref().is_none_or(|s| s.required),
        });
        self
    }

    /// Requires SASL GSSAPI (Kerberos) against a KDC the kit starts with the ensemble
    /// ([`Ensemble::kerberos`]).
    pub fn kerberos(mut self, config: KerberosConfig) -> Self {
        self.sasl = Some(SaslConfig {
            mechanism: SaslMechanism::Kerberos(config),
            required: self.sasl.as_ref().is_none_or(|s| s.required),
        });
        self
    }

    /// With SASL: whether a client must authenticate (`sessionRequireClientSASLAuth`, the
    /// default) or may stay anonymous.
    pub fn sasl_required(mut self, required: bool) -> Self {
        if let Some(sasl) = self.sasl.as_mut() {
            sasl.required = required;
        }
        self
    }

    /// Whitelists only these four-letter words (comma-separated; `srvr` as ZooKeeper ships).
    /// The kit's readiness check needs only `srvr`; [`Ensemble::sessions`] and
    /// [`Ensemble::watched_paths`] need `cons` and `wchp`.
    pub fn four_letter_words(mut self, words: &str) -> Self {
        self.four_letter_words = words.to_string();
        self
    }

    /// `syncLimit` in ticks as configured.
    pub fn sync_limit_ticks(&self) -> u32 {
        self.sync_limit.unwrap_or((5_000 / self.tick_ms).max(5))
    }

    /// A one-line description for benchmark and log output.
    pub fn describe(&self, nodes: usize) -> String {
        let mut d = format!(
            "nodes={nodes} tickTime={}ms syncLimit={} forceSync={}",
            self.tick_ms,
            self.sync_limit_ticks(),
            if self.force_sync { "yes" } else { "no" }
        );
        if self.observers > 0 {
            let _ = write!(d, " observers={}", self.observers);
        }
        if let Some(tls) = &self.tls {
            let _ = write!(d, " tls(clientAuth={:?})", tls.client_auth);
        }
        if self.prometheus_metrics {
            d.push_str(" prometheus");
        }
        match self.sasl.as_ref().map(|s| &s.mechanism) {
            Some(SaslMechanism::DigestMd5 { .. }) => d.push_str(" sasl=digest-md5"),
            Some(SaslMechanism::Kerberos(_)) => d.push_str(" sasl=kerberos"),
            None => {}
        }
        d
    }
}

/// One ZooKeeper server of an ensemble.
#[derive(Debug)]
struct Node {
    id: usize,
    client_port: u16,
    quorum_port: u16,
    election_port: u16,
    /// The AdminServer's port (TLS-only ensembles).
    admin_port: Option<u16>,
    /// The Prometheus metrics provider's port (with [`Options::prometheus_metrics`]).
    metrics_port: Option<u16>,
    dir: PathBuf,
    child: Option<Child>,
    paused: bool,
}

impl Node {
    fn log_path(&self) -> PathBuf {
        self.dir.join("zookeeper.log")
    }

    fn client_addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.client_port))
    }

    fn probe(&self) -> Probe {
        match self.admin_port {
            Some(port) => Probe::Admin(SocketAddr::from(([127, 0, 0, 1], port))),
            None => Probe::FourLetter(self.client_addr()),
        }
    }

    fn running(&mut self) -> bool {
        match &mut self.child {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }
}

/// The state of one node, as reported by [`Ensemble::status`].
#[derive(Debug, Clone, serde::Serialize)]
pub struct NodeStatus {
    /// Server id (1-based, `myid`).
    pub id: usize,
    /// Client port on 127.0.0.1.
    pub client_port: u16,
    /// Process id of the JVM while it runs.
    pub pid: Option<u32>,
    /// Whether the JVM is stopped with SIGSTOP.
    pub paused: bool,
    /// The role `srvr` (over the AdminServer on TLS-only ensembles) reports, if the node
    /// serves.
    pub mode: Option<Mode>,
    /// The node's log file.
    pub log: PathBuf,
    /// The AdminServer's port on 127.0.0.1 (TLS-only ensembles only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admin_port: Option<u16>,
    /// The Prometheus metrics provider's port on 127.0.0.1 (`/metrics`; with
    /// [`Options::prometheus_metrics`] only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics_port: Option<u16>,
}

/// How the kit asks a server about itself: four-letter words on the plain client port, or the
/// AdminServer where the client port speaks TLS only.
#[derive(Debug, Clone, Copy)]
enum Probe {
    FourLetter(SocketAddr),
    Admin(SocketAddr),
}

impl Probe {
    fn mode(self, timeout: Duration) -> Option<Mode> {
        match self {
            Probe::FourLetter(a) => four_letter::mode(a, timeout),
            Probe::Admin(a) => admin::mode(a, timeout),
        }
    }

    fn sessions(self, timeout: Duration) -> Vec<i64> {
        match self {
            Probe::FourLetter(a) => four_letter::sessions(a, timeout),
            Probe::Admin(a) => admin::sessions(a, timeout),
        }
    }

    fn watched_paths(self, session_id: i64, timeout: Duration) -> std::io::Result<Vec<String>> {
        match self {
            Probe::FourLetter(a) => four_letter::watched_paths(a, session_id, timeout),
            Probe::Admin(a) => admin::watched_paths(a, session_id, timeout),
        }
    }
}

/// A running ZooKeeper ensemble.
#[derive(Debug)]
pub struct Ensemble {
    install: Install,
    options: Options,
    dir: PathBuf,
    nodes: Mutex<Vec<Node>>,
    /// With [`Options::partitionable`]: the proxy node `from` reaches node `to` through
    /// (its quorum and election ports), per ordered pair.
    links: BTreeMap<(usize, usize), FaultProxy>,
    keep_dir: bool,
    /// The AdminServer's jars (Jetty, Jackson), added to the class path of TLS-only ensembles.
    admin_jar_dir: Option<PathBuf>,
    /// The Prometheus metrics provider's jars (with [`Options::prometheus_metrics`]).
    metrics_jar_dir: Option<PathBuf>,
    tls: Option<TlsFiles>,
    digest: Option<DigestFiles>,
    kerberos: Option<Kerberos>,
}

/// A handle to one node of an [`Ensemble`] (1-based id).
pub struct NodeRef<'a> {
    ensemble: &'a Ensemble,
    id: usize,
}

impl NodeRef<'_> {
    /// SIGKILL the node's JVM.
    pub fn kill(&self) -> Result<()> {
        self.ensemble.kill(self.id)
    }
    /// Stop the node gracefully (SIGTERM, then SIGKILL after 10 s).
    pub fn stop(&self) -> Result<()> {
        self.ensemble.stop(self.id)
    }
    /// Start the node again with the same ports and data.
    pub fn restart(&self) -> Result<()> {
        self.ensemble.restart(self.id)
    }
    /// SIGSTOP the node's JVM.
    pub fn pause(&self) -> Result<()> {
        self.ensemble.pause(self.id)
    }
    /// SIGCONT the node's JVM.
    pub fn resume(&self) -> Result<()> {
        self.ensemble.resume(self.id)
    }
    /// The node's client address (its TLS port on a TLS-only ensemble).
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.ensemble.client_ports()[self.id - 1]))
    }
    /// The node's AdminServer address (TLS-only ensembles only).
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.ensemble.lock()[self.id - 1]
            .admin_port
            .map(|p| SocketAddr::from(([127, 0, 0, 1], p)))
    }
    /// The address of the node's Prometheus metrics (`http://ADDR/metrics`; with
    /// [`Options::prometheus_metrics`] only).
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.ensemble.lock()[self.id - 1]
            .metrics_port
            .map(|p| SocketAddr::from(([127, 0, 0, 1], p)))
    }
}

impl Ensemble {
    /// Starts `nodes` servers and waits for a quorum.
    pub fn start(nodes: usize, options: Options) -> Result<Ensemble> {
        Self::start_with(Install::locate()?, nodes, options)
    }

    /// Like [`Ensemble::start`] with a given installation.
    pub fn start_with(install: Install, nodes: usize, options: Options) -> Result<Ensemble> {
        if nodes == 0 {
            return Err(Error::Usage("an ensemble needs at least one node".into()));
        }
        if options.observers >= nodes {
            return Err(Error::Usage(format!(
                "{} observers leave no voting server among {nodes} nodes",
                options.observers
            )));
        }
        if let Some(ports) = &options.client_ports {
            if ports.len() != nodes {
                return Err(Error::Usage(format!(
                    "{} client ports given for {nodes} nodes",
                    ports.len()
                )));
            }
            for &port in ports {
                if TcpListener::bind(("127.0.0.1", port)).is_err() {
                    return Err(Error::Port(format!(
                        "client port {port} on 127.0.0.1 is already in use: stop whatever \
                         listens there (`ss -ltnp 'sport = :{port}'`) or let the test kit \
                         choose free ports"
                    )));
                }
            }
        }
        if let Some(SaslMechanism::DigestMd5 { users }) =
            options.sasl.as_ref().map(|s| &s.mechanism)
        {
            if users.is_empty() {
                return Err(Error::Usage(
                    "a DIGEST-MD5 ensemble needs at least one user".into(),
                ));
            }
            for (user, _) in users {
                if user.is_empty()
                    || !user
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
                {
                    return Err(Error::Usage(format!(
                        "DIGEST-MD5 user {user:?}: use letters, digits, '.', '_' and '-' only"
                    )));
                }
            }
        }
        // The AdminServer needs Jetty and Jackson, which a ZooKeeper class path from Maven
        // lacks (a binary distribution's lib/ has them).
        let admin_jar_dir = match &options.tls {
            Some(_) if !has_jar(&install.jar_dir, "jetty-server-") => {
                Some(install::fetch_admin_server(
                    &Maven::default(),
                    &install.version,
                    &install::cache_dir(),
                )?)
            }
            _ => None,
        };
        let metrics_jar_dir = if options.prometheus_metrics {
            Some(install::fetch_prometheus_metrics(
                &Maven::default(),
                &install.version,
                &install::cache_dir(),
            )?)
        } else {
            None
        };
        let base = options
            .base_dir
            .clone()
            .or_else(|| std::env::var_os("ZKHA_TESTKIT_DIR").map(PathBuf::from))
            .unwrap_or_else(|| std::env::temp_dir().join("zkha-testkit"));
        fs::create_dir_all(&base)?;
        remove_stale_runs(&base);
        let dir = base.join(format!("ensemble-{}-{}", std::process::id(), unique()));

        // Free ports can be taken by someone else between choosing and binding: retry.
        let mut last_err = None;
        for _attempt in 0..3 {
            fs::create_dir_all(&dir)?;
            fs::write(dir.join("owner.pid"), std::process::id().to_string())?;
            let ports = choose_ports(
                nodes,
                options.client_ports.as_deref(),
                options.tls.is_some(),
                options.prometheus_metrics,
            )?;
            let links = if options.partitionable {
                server_links(&ports)?
            } else {
                BTreeMap::new()
            };
            let tls = match &options.tls {
                Some(config) => Some(TlsFiles::generate(&dir.join("tls"), config, &install.java)?),
                None => None,
            };
            let (digest, kerberos) = match &options.sasl {
                Some(SaslConfig {
                    mechanism: SaslMechanism::DigestMd5 { users },
                    required,
                }) => (
                    Some(DigestFiles::write(&dir.join("sasl"), users, *required)?),
                    None,
                ),
                Some(SaslConfig {
                    mechanism: SaslMechanism::Kerberos(config),
                    ..
                }) => (None, Some(Kerberos::start(&dir.join("kdc"), config)?)),
                None => (None, None),
            };
            let ensemble = Ensemble {
                install: install.clone(),
                options: options.clone(),
                dir: dir.clone(),
                nodes: Mutex::new(
                    ports
                        .into_iter()
                        .enumerate()
                        .map(|(i, p)| Node {
                            id: i + 1,
                            client_port: p.client,
                            quorum_port: p.quorum,
                            election_port: p.election,
                            admin_port: p.admin,
                            metrics_port: p.metrics,
                            dir: dir.join(format!("node{}", i + 1)),
                            child: None,
                            paused: false,
                        })
                        .collect(),
                ),
                links,
                keep_dir: false,
                admin_jar_dir: admin_jar_dir.clone(),
                metrics_jar_dir: metrics_jar_dir.clone(),
                tls,
                digest,
                kerberos,
            };
            ensemble.write_configs()?;
            for id in 1..=nodes {
                ensemble.launch(id)?;
            }
            match ensemble.wait_quorum(options.start_timeout) {
                Ok(()) => return Ok(ensemble),
                Err(Error::Port(msg)) if options.client_ports.is_none() => {
                    last_err = Some(Error::Port(msg));
                    drop(ensemble);
                }
                Err(e) => {
                    // Keep the logs the error message points at.
                    let mut ensemble = ensemble;
                    ensemble.keep_dir = true;
                    return Err(e);
                }
            }
        }
        Err(last_err.unwrap_or_else(|| Error::Port("no free ports".into())))
    }

    /// `127.0.0.1:p1,127.0.0.1:p2,...` for clients.
    pub fn connect_string(&self) -> String {
        self.client_ports()
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Client ports in node order.
    pub fn client_ports(&self) -> Vec<u16> {
        self.lock().iter().map(|n| n.client_port).collect()
    }

    /// Client address of every node in node order.
    pub fn addrs(&self) -> Vec<SocketAddr> {
        self.lock().iter().map(Node::client_addr).collect()
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Always false: an ensemble has at least one node.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The node with id `id` (1-based).
    pub fn node(&self, id: usize) -> NodeRef<'_> {
        assert!(
            id >= 1 && id <= self.len(),
            "node ids are 1..={}",
            self.len()
        );
        NodeRef { ensemble: self, id }
    }

    /// The run directory (configs, data, logs).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The options the ensemble runs with.
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// The ZooKeeper version running.
    pub fn zk_version(&self) -> &str {
        &self.install.version
    }

    /// The log file of node `id`.
    pub fn log_path(&self, id: usize) -> PathBuf {
        self.dir.join(format!("node{id}")).join("zookeeper.log")
    }

    /// A line naming every node's log file, for failure messages.
    pub fn log_hint(&self) -> String {
        let mut s = String::from("ZooKeeper logs:");
        for id in 1..=self.len() {
            let _ = write!(s, " {}", self.log_path(id).display());
        }
        s
    }

    /// The certificates and stores of a TLS-only ensemble ([`Options::tls`]).
    pub fn tls(&self) -> Option<&TlsFiles> {
        self.tls.as_ref()
    }

    /// The users and JAAS files of a DIGEST-MD5 ensemble ([`Options::sasl_digest`]).
    pub fn sasl_digest(&self) -> Option<&DigestFiles> {
        self.digest.as_ref()
    }

    /// The KDC, principals, keytabs and JAAS files of a Kerberos ensemble
    /// ([`Options::kerberos`]).
    pub fn kerberos(&self) -> Option<&Kerberos> {
        self.kerberos.as_ref()
    }

    /// The paths session `session_id` watches on node `id` (`wchp`, or the AdminServer's
    /// `watches` on a TLS-only ensemble).
    pub fn watched_paths(&self, id: usize, session_id: i64) -> Result<Vec<String>> {
        let probe = {
            let mut nodes = self.lock();
            node_mut(&mut nodes, id)?.probe()
        };
        Ok(probe.watched_paths(session_id, Duration::from_secs(2))?)
    }

    /// The id of the node that currently leads (leader or standalone), if any.
    pub fn leader(&self) -> Option<usize> {
        self.status()
            .into_iter()
            .find(|n| n.mode.is_some_and(Mode::is_leader))
            .map(|n| n.id)
    }

    /// Splits the servers into `groups`: every link between servers of different groups is
    /// blackholed (quorum and election traffic, both ways: nothing passes, sockets stay open,
    /// as in a network partition), every link inside a group passes. Servers named in no
    /// group form one more group. Clients keep their connections to every server. Needs
    /// [`Options::partitionable`].
    pub fn partition(&self, groups: &[&[usize]]) -> Result<()> {
        let n = self.len();
        if self.links.is_empty() && n > 1 {
            return Err(Error::Usage(
                "this ensemble was started without server-link proxies: set \
                 Options::partitionable (CLI: --partitionable)"
                    .into(),
            ));
        }
        let mut group_of = vec![usize::MAX; n + 1];
        for (g, members) in groups.iter().enumerate() {
            for &id in members.iter() {
                if id == 0 || id > n {
                    return Err(Error::Usage(format!("no node {id}: node ids are 1..={n}")));
                }
                if group_of[id] != usize::MAX {
                    return Err(Error::Usage(format!("node {id} is in two groups")));
                }
                group_of[id] = g;
            }
        }
        for ((from, to), proxy) in &self.links {
            if group_of[*from] == group_of[*to] {
                proxy.heal();
            } else {
                proxy.blackhole();
            }
        }
        Ok(())
    }

    /// Cuts node `id` off from every other server ([`Ensemble::partition`] with `id` alone).
    pub fn isolate(&self, id: usize) -> Result<()> {
        self.partition(&[&[id]])
    }

    /// Heals every server-to-server link; bytes held meanwhile are delivered in order.
    pub fn heal_partition(&self) {
        for proxy in self.links.values() {
            proxy.heal();
        }
    }

    /// The node the client with `session_id` is connected to (from `cons`, or the
    /// AdminServer's `connections`), if any.
    pub fn node_of_session(&self, session_id: i64) -> Option<usize> {
        let probes: Vec<Probe> = self.lock().iter().map(Node::probe).collect();
        probes
            .into_iter()
            .position(|p| p.sessions(Duration::from_millis(500)).contains(&session_id))
            .map(|i| i + 1)
    }

    /// Every node's state, asking each running node `srvr` (through the AdminServer on a
    /// TLS-only ensemble).
    pub fn status(&self) -> Vec<NodeStatus> {
        let mut nodes = self.lock();
        let snapshot: Vec<(NodeStatus, Probe, bool)> = nodes
            .iter_mut()
            .map(|n| {
                let running = n.running();
                let pid = if running {
                    n.child.as_ref().map(Child::id)
                } else {
                    None
                };
                let status = NodeStatus {
                    id: n.id,
                    client_port: n.client_port,
                    pid,
                    paused: n.paused,
                    mode: None,
                    log: n.log_path(),
                    admin_port: n.admin_port,
                    metrics_port: n.metrics_port,
                };
                (status, n.probe(), running)
            })
            .collect();
        drop(nodes);
        snapshot
            .into_iter()
            .map(|(mut status, probe, running)| {
                if running && !status.paused {
                    status.mode = probe.mode(Duration::from_millis(500));
                }
                status
            })
            .collect()
    }

    /// Waits until every running, unpaused node serves and (for more than one node) exactly
    /// one of them leads.
    pub fn wait_quorum(&self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            self.check_exits()?;
            let status = self.status();
            let live: Vec<&NodeStatus> = status
                .iter()
                .filter(|n| n.pid.is_some() && !n.paused)
                .collect();
            let serving = live.iter().filter(|n| n.mode.is_some()).count();
            let leaders = live
                .iter()
                .filter(|n| n.mode.is_some_and(Mode::is_leader))
                .count();
            if !live.is_empty() && serving == live.len() && leaders == 1 {
                return Ok(());
            }
            if Instant::now() >= deadline {
                let states: Vec<String> = status
                    .iter()
                    .map(|n| format!("node{}={}", n.id, describe_node(n)))
                    .collect();
                return Err(Error::Timeout(format!(
                    "ZooKeeper ensemble did not reach a quorum within {:?} ({}). {}",
                    timeout,
                    states.join(", "),
                    self.log_hint()
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL node `id`.
    pub fn kill(&self, id: usize) -> Result<()> {
        let mut nodes = self.lock();
        let node = node_mut(&mut nodes, id)?;
        if let Some(mut child) = node.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        node.paused = false;
        Ok(())
    }

    /// Stops node `id` with SIGTERM (SIGKILL after 10 s).
    pub fn stop(&self, id: usize) -> Result<()> {
        let mut nodes = self.lock();
        let node = node_mut(&mut nodes, id)?;
        if let Some(mut child) = node.child.take() {
            if node.paused {
                let _ = spawn::signal(child.id(), libc::SIGCONT);
            }
            let _ = spawn::signal(child.id(), libc::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(10);
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        node.paused = false;
        Ok(())
    }

    /// Starts node `id` again (after kill or stop) with its ports and data.
    pub fn restart(&self, id: usize) -> Result<()> {
        {
            let mut nodes = self.lock();
            let node = node_mut(&mut nodes, id)?;
            if node.running() {
                return Err(Error::Usage(format!(
                    "node {id} is running; stop or kill it first"
                )));
            }
        }
        self.launch(id)
    }

    /// Freezes node `id` with SIGSTOP: its sockets stay open, it answers nothing.
    pub fn pause(&self, id: usize) -> Result<()> {
        self.signal_node(id, libc::SIGSTOP, true)
    }

    /// Resumes a paused node with SIGCONT.
    pub fn resume(&self, id: usize) -> Result<()> {
        self.signal_node(id, libc::SIGCONT, false)
    }

    fn signal_node(&self, id: usize, signal: libc::c_int, paused: bool) -> Result<()> {
        let mut nodes = self.lock();
        let node = node_mut(&mut nodes, id)?;
        if !node.running() {
            return Err(Error::Usage(format!("node {id} is not running")));
        }
        let pid = node.child.as_ref().map(Child::id).unwrap_or_default();
        spawn::signal(pid, signal)?;
        node.paused = paused;
        Ok(())
    }

    /// Kills every node now (also done on drop).
    pub fn shutdown(&self) {
        let mut nodes = self.lock();
        for node in nodes.iter_mut() {
            if let Some(mut child) = node.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Node>> {
        self.nodes.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn write_configs(&self) -> Result<()> {
        let nodes = self.lock();
        let o = &self.options;
        let voters = nodes.len() - o.observers;
        for n in nodes.iter() {
            // Each node's own view of the others: through its link proxies, if any.
            let mut servers = String::new();
            for peer in nodes.iter() {
                let (q, e) = match self.links.get(&(n.id, peer.id)) {
                    Some(proxy) => {
                        let local = proxy.local_addrs();
                        (local[0].port(), local[1].port())
                    }
                    None => (peer.quorum_port, peer.election_port),
                };
                let role = if peer.id > voters { ":observer" } else { "" };
                let _ = writeln!(servers, "server.{}=127.0.0.1:{q}:{e}{role}", peer.id);
            }
            let data = n.dir.join("data");
            fs::create_dir_all(&data)?;
            fs::write(data.join("myid"), format!("{}\n", n.id))?;
            let min = o.min_session_timeout_ms.unwrap_or(2 * o.tick_ms);
            let max = o.max_session_timeout_ms.unwrap_or(20 * o.tick_ms);
            let peer_type = if n.id > voters {
                "peerType=observer\n"
            } else {
                ""
            };
            // TLS-only: no plain client port; the AdminServer answers the kit's health checks.
            let (client, admin) = match (&self.tls, n.admin_port) {
                (Some(tls), Some(admin)) => (
                    tls.zoo_cfg(n.client_port),
                    format!(
                        "admin.enableServer=true\nadmin.serverAddress=127.0.0.1\n\
                         admin.serverPort={admin}\n"
                    ),
                ),
                _ => (
                    format!(
                        "clientPort={}\nclientPortAddress=127.0.0.1\n",
                        n.client_port
                    ),
                    "admin.enableServer=false\n".to_string(),
                ),
            };
            let sasl = match &o.sasl {
                Some(s) => sasl::zoo_cfg(s.required),
                None => String::new(),
            };
            let metrics = match n.metrics_port {
                Some(port) => format!(
                    "metricsProvider.className=\
                     org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider\n\
                     metricsProvider.httpHost=127.0.0.1\nmetricsProvider.httpPort={port}\n\
                     metricsProvider.exportJvmInfo=true\n"
                ),
                None => String::new(),
            };
            let cfg = format!(
                "tickTime={tick}\ninitLimit={init}\nsyncLimit={sync}\ndataDir={data}\n\
                 {client}minSessionTimeout={min}\n\
                 maxSessionTimeout={max}\nforceSync={force}\n{admin}\
                 4lw.commands.whitelist={words}\nstandaloneEnabled=true\nreconfigEnabled=false\n\
                 maxClientCnxns=0\n{sasl}{metrics}{peer_type}{servers}",
                tick = o.tick_ms,
                // initLimit bounds how long a new leader waits for a quorum of followers.
                // When the two survivors of a partition leave the old leader 0.2 s apart, the
                // first can win an election the second never joins; the winner then waits out
                // initLimit before a new round (ZooKeeper logs "Timeout while waiting for
                // epoch from quorum"), and it can happen twice in a row. At 10 s this made
                // partition heals take 10-20 s. It also bounds a follower's sync, which a JVM
                // starved of CPU (a loaded CI machine) needs time for: 5 s.
                init = (5_000 / o.tick_ms).max(10),
                sync = o.sync_limit_ticks(),
                data = data.display(),
                force = if o.force_sync { "yes" } else { "no" },
                words = o.four_letter_words,
            );
            fs::write(n.dir.join("zoo.cfg"), cfg)?;
        }
        Ok(())
    }

    fn launch(&self, id: usize) -> Result<()> {
        let mut nodes = self.lock();
        let node = node_mut(&mut nodes, id)?;
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(node.log_path())?;
        let mut cmd = Command::new(&self.install.java);
        let mut classpath = self.install.classpath();
        for dir in [&self.admin_jar_dir, &self.metrics_jar_dir]
            .into_iter()
            .flatten()
        {
            classpath.push_str(&format!(":{}/*", dir.display()));
        }
        cmd.arg(format!("-Xmx{}m", self.options.heap_mb))
            .arg("-Xms32m")
            .arg("-XX:+UseSerialGC")
            .arg(format!(
                "-Dzookeeper.admin.enableServer={}",
                node.admin_port.is_some()
            ))
            .arg(format!(
                "-Dzookeeper.4lw.commands.whitelist={}",
                self.options.four_letter_words
            ))
            .arg("-Dzookeeper.cnxTimeout=1000")
            // Empty container znodes (the parents an election or a lock makes, as Curator
            // does) are removed each second rather than each minute.
            .arg("-Dznode.container.checkIntervalMs=1000")
            .arg("-Dorg.slf4j.simpleLogger.showDateTime=true")
            .arg("-Dorg.slf4j.simpleLogger.dateTimeFormat=HH:mm:ss.SSS");
        if let Some(digest) = &self.digest {
            cmd.arg(format!(
                "-Djava.security.auth.login.config={}",
                digest.server_jaas.display()
            ));
        }
        if let Some(krb) = &self.kerberos {
            cmd.arg(format!(
                "-Djava.security.auth.login.config={}",
                krb.server_jaas.display()
            ))
            .arg(format!(
                "-Djava.security.krb5.conf={}",
                krb.krb5_conf.display()
            ));
        }
        if self.options.tls.is_some() || self.options.sasl.is_some() {
            // A secured server can log without end (a Kerberos re-login loop): cap its files.
            spawn::limit_file_size(&mut cmd, spawn::LOG_SIZE_LIMIT);
        }
        cmd.arg("-cp")
            .arg(classpath)
            .arg("org.apache.zookeeper.server.quorum.QuorumPeerMain")
            .arg(node.dir.join("zoo.cfg"))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        let child = spawn::spawn_tied(cmd).map_err(|e| {
            Error::Start(format!(
                "cannot start ZooKeeper node {id} with `{}`: {e}",
                self.install.java.display()
            ))
        })?;
        node.child = Some(child);
        node.paused = false;
        Ok(())
    }

    /// Fails if a node that should run has exited, naming the cause from its log.
    fn check_exits(&self) -> Result<()> {
        let mut nodes = self.lock();
        for node in nodes.iter_mut() {
            let Some(child) = node.child.as_mut() else {
                continue;
            };
            if let Ok(Some(status)) = child.try_wait() {
                node.child = None;
                let log = fs::read_to_string(node.log_path()).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(8).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                let msg = format!(
                    "ZooKeeper node {} exited ({status}) during start; log {}:\n{}",
                    node.id,
                    node.log_path().display(),
                    tail.join("\n")
                );
                return Err(if log.contains("Address already in use") {
                    Error::Port(msg)
                } else {
                    Error::Start(msg)
                });
            }
        }
        Ok(())
    }
}

impl Drop for Ensemble {
    fn drop(&mut self) {
        self.shutdown();
        if let Some(krb) = &self.kerberos {
            krb.stop();
        }
        if self.keep_dir || std::thread::panicking() || std::env::var_os("ZKHA_KEEP_LOGS").is_some()
        {
            eprintln!(
                "zkha-testkit: kept {}; {}",
                self.dir.display(),
                self.log_hint()
            );
        } else {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

fn describe_node(n: &NodeStatus) -> String {
    match (n.pid, n.paused, n.mode) {
        (None, _, _) => "down".into(),
        (Some(_), true, _) => "paused".into(),
        (Some(_), false, Some(m)) => format!("{m:?}").to_lowercase(),
        (Some(_), false, None) => "not serving".into(),
    }
}

fn node_mut(nodes: &mut [Node], id: usize) -> Result<&mut Node> {
    let len = nodes.len();
    nodes
        .get_mut(id.wrapping_sub(1))
        .ok_or_else(|| Error::Usage(format!("no node {id}: node ids are 1..={len}")))
}

/// A node's ports.
struct Ports {
    client: u16,
    quorum: u16,
    election: u16,
    admin: Option<u16>,
    metrics: Option<u16>,
}

/// Chooses client, quorum, election (and AdminServer, metrics) ports per node, holding every
/// socket until all are chosen so no port is picked twice.
fn choose_ports(
    nodes: usize,
    client: Option<&[u16]>,
    admin: bool,
    metrics: bool,
) -> Result<Vec<Ports>> {
    let mut held = Vec::new();
    let take = |held: &mut Vec<TcpListener>| -> Result<u16> {
        crate::ports::free_port(held)
            .map_err(|e| Error::Port(format!("cannot bind a free port on 127.0.0.1: {e}")))
    };
    let mut out = Vec::with_capacity(nodes);
    for i in 0..nodes {
        let c = match client {
            Some(ports) => ports[i],
            None => take(&mut held)?,
        };
        out.push(Ports {
            client: c,
            quorum: take(&mut held)?,
            election: take(&mut held)?,
            admin: if admin { Some(take(&mut held)?) } else { None },
            metrics: if metrics {
                Some(take(&mut held)?)
            } else {
                None
            },
        });
    }
    Ok(out)
}

/// One fault proxy per ordered pair of servers (`from` reaches `to` through it), in front of
/// `to`'s quorum and election ports.
fn server_links(ports: &[Ports]) -> Result<BTreeMap<(usize, usize), FaultProxy>> {
    let mut links = BTreeMap::new();
    for from in 1..=ports.len() {
        for (
            i,
            &Ports {
                quorum, election, ..
            },
        ) in ports.iter().enumerate()
        {
            let to = i + 1;
            if to == from {
                continue;
            }
            let upstreams = [quorum, election].map(|p| SocketAddr::from(([127, 0, 0, 1], p)));
            links.insert((from, to), FaultProxy::start_with(&upstreams, &[1])?);
        }
    }
    Ok(links)
}

/// Whether `dir` holds a jar whose name starts with `prefix`.
fn has_jar(dir: &Path, prefix: &str) -> bool {
    fs::read_dir(dir).is_ok_and(|entries| {
        entries.flatten().any(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.starts_with(prefix) && name.ends_with(".jar")
        })
    })
}

/// Removes run directories left by test processes that no longer exist.
fn remove_stale_runs(base: &Path) {
    let Ok(entries) = fs::read_dir(base) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(pid) = fs::read_to_string(path.join("owner.pid")) else {
            continue;
        };
        let Ok(pid) = pid.trim().parse::<i32>() else {
            continue;
        };
        // SAFETY: signal 0 only checks that the process exists.
        let alive = unsafe { libc::kill(pid, 0) } == 0
            || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
        if !alive {
            let _ = fs::remove_dir_all(&path);
        }
    }
}

/// A number unlike any other call's in this process (the clock's nanoseconds and a counter).
pub(crate) fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as u64)
        .unwrap_or(0);
    (nanos << 8) | SEQ.fetch_add(1, Ordering::Relaxed)
}
