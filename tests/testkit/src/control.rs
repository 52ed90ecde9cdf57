//! Ensembles and proxies steered from other processes (pytest, JUnit, CTest) through the
//! `zkha-testkit` CLI.
//!
//! `zkha-testkit ensemble start` launches a detached supervisor process that owns the
//! [`Ensemble`] and its [`FaultProxy`]s and serves requests on a Unix socket in its state
//! directory; that directory is the *handle* every later command names. The supervisor kills
//! everything and exits on `ensemble stop`, or when its owner process (by default the process
//! that ran `ensemble start`) is gone, so a crashed test run leaves no JVM behind.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::{Ensemble, Error, FaultProxy, Options, Result, ZkRequest};

/// A request to a supervisor.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// Ensemble and proxy state.
    Status,
    /// SIGKILL a node.
    Kill { node: usize },
    /// SIGTERM a node.
    Stop { node: usize },
    /// Start a stopped node again.
    Restart { node: usize },
    /// SIGSTOP a node.
    Pause { node: usize },
    /// SIGCONT a node.
    Resume { node: usize },
    /// Wait for a quorum.
    WaitQuorum { timeout_ms: u64 },
    /// Start a proxy in front of the given nodes (all if empty) or explicit upstreams.
    ProxyStart {
        #[serde(default)]
        nodes: Vec<usize>,
        #[serde(default)]
        upstreams: Vec<SocketAddr>,
    },
    /// Apply a fault to a proxy: `cut`, `blackhole`, `refuse`, `heal`, `delay` (with `ms`).
    Proxy {
        id: usize,
        action: String,
        #[serde(default)]
        ms: u64,
    },
    /// Arm a one-shot cut before the reply to the next matching request
    /// ([`FaultProxy::cut_before_reply`]).
    ProxyCutBeforeReply {
        id: usize,
        request: ZkRequest,
        #[serde(default)]
        path_prefix: String,
    },
    /// Stop a proxy.
    ProxyStop { id: usize },
    /// Partition the servers into groups ([`Ensemble::partition`]).
    Partition { groups: Vec<Vec<usize>> },
    /// Heal every server-to-server link.
    HealPartition,
    /// Kill every node and exit.
    Shutdown,
}

/// What the supervisor owns.
struct Supervised {
    ensemble: Ensemble,
    proxies: Mutex<BTreeMap<usize, FaultProxy>>,
    next_proxy: Mutex<usize>,
    done: AtomicBool,
}

/// Path of the control socket inside a handle directory.
pub fn socket_path(handle: &Path) -> PathBuf {
    handle.join("control.sock")
}

/// Runs a supervisor in this process: starts the ensemble, writes `ready.json` (or
/// `error.txt`) into `handle`, then serves requests until shutdown or until `owner_pid` is gone.
pub fn supervise(
    handle: &Path,
    nodes: usize,
    options: Options,
    owner_pid: Option<u32>,
) -> Result<()> {
    std::fs::create_dir_all(handle)?;
    let ensemble = match Ensemble::start(nodes, options) {
        Ok(e) => e,
        Err(e) => {
            std::fs::write(handle.join("error.txt"), e.to_string())?;
            return Err(e);
        }
    };
    let sup = Arc::new(Supervised {
        ensemble,
        proxies: Mutex::new(BTreeMap::new()),
        next_proxy: Mutex::new(0),
        done: AtomicBool::new(false),
    });
    let sock = socket_path(handle);
    let _ = std::fs::remove_file(&sock);
    let listener = UnixListener::bind(&sock)?;
    let mut ready = status_json(&sup);
    ready["handle"] = json!(handle);
    ready["supervisor_pid"] = json!(std::process::id());
    std::fs::write(
        handle.join("ready.json"),
        serde_json::to_vec_pretty(&ready).map_err(std::io::Error::from)?,
    )?;

    // Owner watch: exit when the owner is gone.
    if let Some(pid) = owner_pid {
        let sup = sup.clone();
        let sock = sock.clone();
        std::thread::spawn(move || loop {
            std::thread::sleep(Duration::from_millis(250));
            // SAFETY: signal 0 only probes for the process.
            let alive = unsafe { libc::kill(pid as libc::pid_t, 0) } == 0;
            if !alive || sup.done.load(Ordering::SeqCst) {
                sup.done.store(true, Ordering::SeqCst);
                let _ = UnixStream::connect(&sock); // wake accept
                return;
            }
        });
    }

    for stream in listener.incoming() {
        if sup.done.load(Ordering::SeqCst) {
            break;
        }
        let Ok(stream) = stream else { continue };
        let sup2 = sup.clone();
        let sock2 = sock.clone();
        std::thread::spawn(move || {
            let _ = serve(stream, &sup2);
            if sup2.done.load(Ordering::SeqCst) {
                let _ = UnixStream::connect(&sock2);
            }
        });
    }
    sup.proxies
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clear();
    sup.ensemble.shutdown();
    if std::env::var_os("ZKHA_KEEP_LOGS").is_none() {
        let _ = std::fs::remove_dir_all(sup.ensemble.dir());
        let _ = std::fs::remove_dir_all(handle);
    }
    let _ = std::fs::remove_file(&sock);
    Ok(())
}

fn serve(stream: UnixStream, sup: &Supervised) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Ok(());
    }
    let reply = match serde_json::from_str::<Request>(&line) {
        Ok(req) => match handle(req, sup) {
            Ok(v) => json!({"ok": true, "result": v}),
            Err(e) => json!({"ok": false, "error": e.to_string()}),
        },
        Err(e) => json!({"ok": false, "error": format!("bad request {line:?}: {e}")}),
    };
    let mut stream = stream;
    stream.write_all(serde_json::to_string(&reply)?.as_bytes())?;
    stream.write_all(b"\n")?;
    Ok(())
}

fn handle(req: Request, sup: &Supervised) -> Result<Value> {
    let e = &sup.ensemble;
    match req {
        Request::Status => return Ok(status_json(sup)),
        Request::Kill { node } => e.kill(node)?,
        Request::Stop { node } => e.stop(node)?,
        Request::Restart { node } => e.restart(node)?,
        Request::Pause { node } => e.pause(node)?,
        Request::Resume { node } => e.resume(node)?,
        Request::WaitQuorum { timeout_ms } => e.wait_quorum(Duration::from_millis(timeout_ms))?,
        Request::ProxyStart { nodes, upstreams } => {
            let addrs = e.addrs();
            let mut targets = upstreams;
            for n in &nodes {
                let addr = addrs.get(n.wrapping_sub(1)).ok_or_else(|| {
                    Error::Usage(format!("no node {n}: node ids are 1..={}", addrs.len()))
                })?;
                targets.push(*addr);
            }
            if targets.is_empty() {
                targets = addrs;
            }
            let proxy = FaultProxy::start(&targets)?;
            let connect = proxy.connect_string();
            let mut next = sup.next_proxy.lock().unwrap_or_else(|p| p.into_inner());
            let id = *next;
            *next += 1;
            sup.proxies
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(id, proxy);
            return Ok(json!({"proxy": id, "connect_string": connect}));
        }
        Request::Proxy { id, action, ms } => {
            let proxies = sup.proxies.lock().unwrap_or_else(|p| p.into_inner());
            let proxy = proxies
                .get(&id)
                .ok_or_else(|| Error::Usage(format!("no proxy {id}")))?;
            match action.as_str() {
                "cut" => proxy.cut(),
                "blackhole" => proxy.blackhole(),
                "refuse" => proxy.refuse(),
                "close" => proxy.close(),
                "heal" => proxy.heal(),
                "delay" => proxy.delay(ms),
                other => {
                    return Err(Error::Usage(format!(
                        "unknown proxy action {other:?}: use cut, blackhole, refuse, close, heal or delay"
                    )))
                }
            }
        }
        Request::ProxyCutBeforeReply {
            id,
            request,
            path_prefix,
        } => {
            let proxies = sup.proxies.lock().unwrap_or_else(|p| p.into_inner());
            let proxy = proxies
                .get(&id)
                .ok_or_else(|| Error::Usage(format!("no proxy {id}")))?;
            proxy.cut_before_reply(request, &path_prefix);
        }
        Request::Partition { groups } => {
            let refs: Vec<&[usize]> = groups.iter().map(Vec::as_slice).collect();
            e.partition(&refs)?;
        }
        Request::HealPartition => e.heal_partition(),
        Request::ProxyStop { id } => {
            sup.proxies
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&id)
                .ok_or_else(|| Error::Usage(format!("no proxy {id}")))?;
        }
        Request::Shutdown => {
            sup.done.store(true, Ordering::SeqCst);
        }
    }
    Ok(Value::Null)
}

fn status_json(sup: &Supervised) -> Value {
    let e = &sup.ensemble;
    let proxies: Vec<Value> = sup
        .proxies
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .map(|(id, p)| {
            json!({"proxy": id, "connect_string": p.connect_string(), "fault": p.fault(),
            "replies_cut": p.replies_cut(), "armed_reply_cuts": p.armed_reply_cuts()})
        })
        .collect();
    let mut status = json!({
        "connect_string": e.connect_string(),
        "zk_version": e.zk_version(),
        "config": e.options().describe(e.len()),
        "tick_ms": e.options().tick_ms,
        "dir": e.dir(),
        "leader": e.leader(),
        "nodes": e.status(),
        "proxies": proxies,
    });
    // Secured ensembles: the files and identities clients need (absent on plain ones).
    let props = |p: Vec<(String, String)>| -> Value {
        p.into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect::<serde_json::Map<_, _>>()
            .into()
    };
    if let Some(tls) = e.tls() {
        status["tls"] = json!(tls);
        status["tls"]["java_properties"] = props(tls.java_client_properties());
    }
    if let Some(digest) = e.sasl_digest() {
        status["sasl_digest"] = json!(digest);
        for (i, u) in digest.users.iter().enumerate() {
            status["sasl_digest"]["users"][i]["java_properties"] =
                props(digest.java_client_properties(&u.user).unwrap_or_default());
        }
    }
    if let Some(krb) = e.kerberos() {
        status["kerberos"] = json!(krb);
        status["kerberos"]["env"] = props(krb.env());
        status["kerberos"]["tool_env"] = props(krb.tool_env());
        status["kerberos"]["sasl_required"] =
            json!(e.options().sasl.as_ref().is_some_and(|s| s.required));
        for (i, c) in krb.clients.iter().enumerate() {
            status["kerberos"]["clients"][i]["java_properties"] =
                props(krb.java_client_properties(&c.name).unwrap_or_default());
        }
    }
    status
}

/// Sends `req` to the supervisor behind `handle` and returns its result.
pub fn send(handle: &Path, req: &Request) -> Result<Value> {
    let sock = socket_path(handle);
    let mut stream = UnixStream::connect(&sock).map_err(|e| {
        Error::Usage(format!(
            "no test-kit ensemble answers at {} ({e}); is the handle right and the ensemble \
             still running?",
            sock.display()
        ))
    })?;
    stream.set_read_timeout(Some(Duration::from_secs(120)))?;
    stream.write_all(
        serde_json::to_string(req)
            .map_err(std::io::Error::from)?
            .as_bytes(),
    )?;
    stream.write_all(b"\n")?;
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line)?;
    let reply: Value = serde_json::from_str(&line)
        .map_err(|e| Error::Usage(format!("bad answer from the supervisor {line:?}: {e}")))?;
    if reply["ok"] == json!(true) {
        Ok(reply["result"].clone())
    } else {
        Err(Error::Usage(
            reply["error"]
                .as_str()
                .unwrap_or("unknown error")
                .to_string(),
        ))
    }
}
