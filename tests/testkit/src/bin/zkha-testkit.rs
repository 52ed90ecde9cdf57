//! `zkha-testkit`: real ZooKeeper ensembles and fault proxies for tests in any language.
//!
//! Every command prints JSON with `--json` (the default for machine use is `--json`; without it
//! the JSON is pretty-printed). Run `zkha-testkit help` for the commands.

use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use zkha_testkit::control::{self, Request};
use zkha_testkit::{ClientAuth, Error, KerberosConfig, Options, TlsConfig};

const USAGE: &str = "\
zkha-testkit: real ZooKeeper ensembles with fault levers

USAGE
  zkha-testkit install [--tls] [--prometheus] [--krb5]
      Checks Java and fetches the ZooKeeper jars from Maven Central into the cache (once);
      --tls: also the AdminServer's jars (Jetty, Jackson) TLS-only ensembles need;
      --prometheus: also ZooKeeper's Prometheus metrics provider; --krb5:
      also MIT Kerberos' KDC and tools from Debian's packages (apt-get download, unpacked
      into the cache, nothing installed).
  zkha-testkit ensemble start [--nodes N] [--tick-ms MS] [--force-sync]
                              [--min-session-ms MS] [--max-session-ms MS]
                              [--sync-limit TICKS] [--observers N] [--partitionable]
                              [--prometheus]
                              [--tls [--tls-client-auth need|want|none] [--tls-password PW]]
                              [--sasl-digest USER:PASS[,USER:PASS...] | --kerberos
                               [--krb-realm REALM] [--krb-client NAME[:MAX_LIFE_S]]...]
                              [--sasl-optional] [--owner-pid PID|0] [--dir DIR] [--json]
      Starts N servers (default 3) on 127.0.0.1 and prints the connect string, ports, pids
      and a HANDLE (a directory) for the commands below. The ensemble is killed when its
      owner process (default: the caller of this command; 0: none) exits. The last
      --observers nodes are observers; --partitionable routes server-to-server links
      through proxies, for `partition`. --prometheus: each server runs ZooKeeper's
      Prometheus metrics provider (`metrics_port` of each node: http://127.0.0.1:PORT/metrics).
      --tls: TLS-only client ports (no plain port) with a CA, server and client
      certificates made by the kit (paths under `tls` in the JSON; clientAuth need by
      default). --sasl-digest: SASL DIGEST-MD5 required, with these users (`sasl_digest`:
      a JAAS file per user for Java clients). --kerberos: SASL Kerberos required, against a
      KDC the kit starts (`kerberos`: krb5.conf, keytabs, principals; clients zkha and
      other unless --krb-client is given; NAME:60 gives tickets of at most 60 s).
      --sasl-optional: SASL offered, not required.
  zkha-testkit ensemble stop HANDLE
  zkha-testkit ensemble status HANDLE [--json]
  zkha-testkit node HANDLE kill|stop|restart|pause|resume N
  zkha-testkit wait-quorum HANDLE [--timeout-ms MS]
  zkha-testkit leader HANDLE                      prints the leading node's id
  zkha-testkit partition HANDLE GROUP GROUP...    e.g. `partition H 1 2,3`: servers in
      different groups cannot reach each other (unnamed servers form one more group);
      clients stay connected. Needs --partitionable.
  zkha-testkit partition HANDLE isolate N         cuts server N off from the others
  zkha-testkit partition HANDLE heal              every server-to-server link passes again
  zkha-testkit proxy HANDLE start [--node N]... [--upstream HOST:PORT]...
      Starts a TCP proxy in front of the given nodes (default all); prints its id and
      connect string.
  zkha-testkit proxy HANDLE cut|blackhole|refuse|close|heal ID   (close: the port refuses connections)
  zkha-testkit proxy HANDLE delay ID MS
  zkha-testkit proxy HANDLE cut-before-reply ID REQUEST [PATH_PREFIX]
      Lets the next REQUEST (create|delete|exists|get-data|set-data|get-children|sync|
      multi|check) on a path starting with PATH_PREFIX reach the server and cuts its
      connection just before the reply: the server did the work, the client sees a
      connection loss. One-shot; rules armed together fire in turn.
  zkha-testkit proxy HANDLE stop ID
  zkha-testkit COMMAND ... --help                 the usage of COMMAND alone

ENVIRONMENT
  ZKHA_ZK_VERSION     ZooKeeper version (default 3.9.5; 3.8.x works too)
  ZKHA_ZK_CLASSPATH   a directory of ZooKeeper jars (skips Maven)
  ZKHA_KRB5_ROOT      where MIT Kerberos is unpacked or installed (`/`; default: the cache)
  JAVA_HOME           the JDK to run ZooKeeper with
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("zkha-testkit: {e}");
            ExitCode::from(2)
        }
    }
}

/// Command-line arguments with `--flag value` options pulled out.
struct Args {
    positional: Vec<String>,
    options: Vec<(String, Option<String>)>,
}

impl Args {
    fn parse(raw: &[String]) -> Args {
        const SWITCHES: &[&str] = &[
            "--json",
            "--force-sync",
            "--partitionable",
            "--tls",
            "--kerberos",
            "--krb5",
            "--sasl-optional",
            "--prometheus",
        ];
        let mut positional = Vec::new();
        let mut options = Vec::new();
        let mut it = raw.iter();
        while let Some(a) = it.next() {
            if let Some(flag) = a.strip_prefix("--") {
                if let Some((k, v)) = flag.split_once('=') {
                    options.push((format!("--{k}"), Some(v.to_string())));
                } else if SWITCHES.contains(&a.as_str()) {
                    options.push((a.clone(), None));
                } else {
                    options.push((a.clone(), it.next().cloned()));
                }
            } else {
                positional.push(a.clone());
            }
        }
        Args {
            positional,
            options,
        }
    }

    fn has(&self, name: &str) -> bool {
        self.options.iter().any(|(k, _)| k == name)
    }

    fn all(&self, name: &str) -> Vec<&str> {
        self.options
            .iter()
            .filter(|(k, _)| k == name)
            .filter_map(|(_, v)| v.as_deref())
            .collect()
    }

    fn num<T: std::str::FromStr>(&self, name: &str) -> Result<Option<T>, Error> {
        match self.options.iter().rev().find(|(k, _)| k == name) {
            None => Ok(None),
            Some((_, Some(v))) => v
                .parse()
                .map(Some)
                .map_err(|_| Error::Usage(format!("{name} {v:?}: not a number"))),
            Some((_, None)) => Err(Error::Usage(format!("{name} needs a value"))),
        }
    }

    fn pos(&self, i: usize, what: &str) -> Result<&str, Error> {
        self.positional
            .get(i)
            .map(String::as_str)
            .ok_or_else(|| Error::Usage(format!("missing {what}; see `zkha-testkit help`")))
    }
}

/// The usage entries of `USAGE` for `words` (the command and subcommand as given), or all of
/// it if none match.
fn usage_for(words: &[String]) -> String {
    let (head, rest) = USAGE.split_once("USAGE\n").unwrap_or(("", USAGE));
    let (body, tail) = rest.split_once("\nENVIRONMENT").unwrap_or((rest, ""));
    let mut entries: Vec<String> = Vec::new();
    for line in body.lines() {
        match entries.last_mut() {
            Some(e) if !line.starts_with("  zkha-testkit ") => {
                e.push('\n');
                e.push_str(line);
            }
            _ => entries.push(line.to_string()),
        }
    }
    // The longest prefix of `words` that some entry starts with decides.
    for n in (1..=words.len().min(2)).rev() {
        let want = format!("  zkha-testkit {}", words[..n].join(" "));
        let fitting: Vec<&String> = entries
            .iter()
            .filter(|e| {
                let first = e.lines().next().unwrap_or("");
                // `node HANDLE kill...`: the subcommand follows the handle.
                first.starts_with(&want)
                    || (n == 2
                        && first.starts_with(&format!("  zkha-testkit {} HANDLE", words[0]))
                        && first.contains(words[1].as_str()))
            })
            .collect();
        if !fitting.is_empty() {
            let list: Vec<&str> = fitting.iter().map(|e| e.as_str()).collect();
            return format!("USAGE\n{}\n", list.join("\n"));
        }
    }
    format!("{head}USAGE\n{body}\nENVIRONMENT{tail}")
}

fn run(raw: &[String]) -> Result<(), Error> {
    // `--help` anywhere asks for usage and does nothing else (it is never a flag's value).
    if raw.iter().any(|a| a == "--help" || a == "-h") {
        let words: Vec<String> = raw
            .iter()
            .filter(|a| !a.starts_with('-'))
            .cloned()
            .collect();
        print!("{}", usage_for(&words));
        return Ok(());
    }
    let args = Args::parse(raw);
    let json = args.has("--json");
    let cmd = args
        .positional
        .first()
        .map(String::as_str)
        .unwrap_or("help");
    let sub = args.positional.get(1).map(String::as_str);
    let out = match (cmd, sub) {
        ("help", _) => {
            print!("{}", usage_for(&args.positional[1..]));
            return Ok(());
        }
        ("install", _) => {
            use zkha_testkit::install;
            let found = install::Install::locate()?;
            let mut out = serde_json::json!({
                "java": found.java,
                "zk_version": found.version,
                "jar_dir": found.jar_dir,
            });
            if args.has("--tls") {
                out["admin_jar_dir"] = serde_json::json!(install::fetch_admin_server(
                    &install::Maven::default(),
                    &found.version,
                    &install::cache_dir()
                )?);
            }
            if args.has("--prometheus") {
                out["metrics_jar_dir"] = serde_json::json!(install::fetch_prometheus_metrics(
                    &install::Maven::default(),
                    &found.version,
                    &install::cache_dir()
                )?);
            }
            if args.has("--krb5") {
                out["krb5_root"] = serde_json::json!(install::Krb5Install::locate()?.root);
            }
            out
        }
        ("ensemble", Some("start")) => start(&args)?,
        ("ensemble", Some("stop")) => {
            let handle = handle(&args, 2)?;
            control::send(&handle, &Request::Shutdown)?;
            wait_gone(&handle);
            Value::Null
        }
        ("ensemble", Some("status")) => control::send(&handle(&args, 2)?, &Request::Status)?,
        ("__supervise", _) => return supervise(&args),
        ("node", Some(_)) => {
            let handle = handle(&args, 1)?;
            let action = args.pos(2, "node action (kill|stop|restart|pause|resume)")?;
            let node: usize = parse_num(args.pos(3, "node id")?, "node id")?;
            let req = match action {
                "kill" => Request::Kill { node },
                "stop" => Request::Stop { node },
                "restart" => Request::Restart { node },
                "pause" => Request::Pause { node },
                "resume" => Request::Resume { node },
                other => return Err(Error::Usage(format!("unknown node action {other:?}"))),
            };
            control::send(&handle, &req)?
        }
        ("wait-quorum", Some(_)) => {
            let timeout_ms = args.num("--timeout-ms")?.unwrap_or(30_000);
            control::send(&handle(&args, 1)?, &Request::WaitQuorum { timeout_ms })?
        }
        ("partition", Some(_)) => {
            let handle = handle(&args, 1)?;
            let req = match args.pos(2, "partition groups, `isolate N` or `heal`")? {
                "heal" => Request::HealPartition,
                "isolate" => Request::Partition {
                    groups: vec![vec![parse_num(args.pos(3, "node id")?, "node id")?]],
                },
                _ => Request::Partition {
                    groups: args.positional[2..]
                        .iter()
                        .map(|g| {
                            g.split(',')
                                .map(|n| parse_num(n.trim(), "node id in a group"))
                                .collect::<Result<Vec<usize>, _>>()
                        })
                        .collect::<Result<_, _>>()?,
                },
            };
            control::send(&handle, &req)?
        }
        ("leader", Some(_)) => {
            let status = control::send(&handle(&args, 1)?, &Request::Status)?;
            status["leader"].clone()
        }
        ("proxy", Some(_)) => {
            let handle = handle(&args, 1)?;
            let action = args.pos(2, "proxy action")?;
            let req = match action {
                "start" => Request::ProxyStart {
                    nodes: args
                        .all("--node")
                        .iter()
                        .map(|n| parse_num(n, "--node"))
                        .collect::<Result<_, _>>()?,
                    upstreams: args
                        .all("--upstream")
                        .iter()
                        .map(|u| {
                            u.parse().map_err(|_| {
                                Error::Usage(format!("--upstream {u:?}: expected IP:PORT"))
                            })
                        })
                        .collect::<Result<_, _>>()?,
                },
                "stop" => Request::ProxyStop {
                    id: parse_num(args.pos(3, "proxy id")?, "proxy id")?,
                },
                "delay" => Request::Proxy {
                    id: parse_num(args.pos(3, "proxy id")?, "proxy id")?,
                    action: "delay".into(),
                    ms: parse_num(args.pos(4, "delay in ms")?, "delay")?,
                },
                "cut-before-reply" => {
                    let name = args.pos(4, "request kind (create, get-children, ...)")?;
                    Request::ProxyCutBeforeReply {
                        id: parse_num(args.pos(3, "proxy id")?, "proxy id")?,
                        request: zkha_testkit::ZkRequest::parse(name).ok_or_else(|| {
                            Error::Usage(format!(
                                "unknown request kind {name:?}: use create, delete, exists, \
                                 get-data, set-data, get-children, sync, multi or check"
                            ))
                        })?,
                        path_prefix: args.positional.get(5).cloned().unwrap_or_default(),
                    }
                }
                other => Request::Proxy {
                    id: parse_num(args.pos(3, "proxy id")?, "proxy id")?,
                    action: other.to_string(),
                    ms: 0,
                },
            };
            control::send(&handle, &req)?
        }
        _ => {
            return Err(Error::Usage(format!(
                "unknown command {:?}; see `zkha-testkit help`",
                args.positional.join(" ")
            )))
        }
    };
    if json {
        println!("{}", serde_json::to_string(&out).unwrap_or_default());
    } else if !out.is_null() {
        println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
    }
    Ok(())
}

/// The last value of `--flag VALUE`, if given.
fn last<'a>(args: &'a Args, name: &str) -> Result<Option<&'a str>, Error> {
    match args.options.iter().rev().find(|(k, _)| k == name) {
        None => Ok(None),
        Some((_, Some(v))) => Ok(Some(v.as_str())),
        Some((_, None)) => Err(Error::Usage(format!("{name} needs a value"))),
    }
}

fn parse_num<T: std::str::FromStr>(s: &str, what: &str) -> Result<T, Error> {
    s.parse()
        .map_err(|_| Error::Usage(format!("{what} {s:?}: not a number")))
}

fn handle(args: &Args, i: usize) -> Result<PathBuf, Error> {
    Ok(PathBuf::from(args.pos(
        i,
        "HANDLE (the directory printed by `ensemble start`)",
    )?))
}

fn options(args: &Args) -> Result<(usize, Options), Error> {
    let nodes = args.num("--nodes")?.unwrap_or(3usize);
    let mut o = Options::default();
    if let Some(t) = args.num("--tick-ms")? {
        o.tick_ms = t;
    }
    o.force_sync = args.has("--force-sync");
    o.partitionable = args.has("--partitionable");
    o.prometheus_metrics = args.has("--prometheus");
    if let Some(n) = args.num("--observers")? {
        o.observers = n;
    }
    if let Some(t) = args.num("--sync-limit")? {
        o.sync_limit = Some(t);
    }
    if let Some(v) = args.num("--min-session-ms")? {
        o.min_session_timeout_ms = Some(v);
    }
    if let Some(v) = args.num("--max-session-ms")? {
        o.max_session_timeout_ms = Some(v);
    }
    if let Some(v) = args.num::<u64>("--start-timeout-ms")? {
        o.start_timeout = Duration::from_millis(v);
    }
    let tls_flags = ["--tls-client-auth", "--tls-password"];
    if args.has("--tls") {
        let mut tls = TlsConfig::default();
        if let Some(v) = last(args, "--tls-client-auth")? {
            tls.client_auth = ClientAuth::parse(v).ok_or_else(|| {
                Error::Usage(format!("--tls-client-auth {v:?}: use need, want or none"))
            })?;
        }
        if let Some(v) = last(args, "--tls-password")? {
            tls = tls.password(v);
        }
        o = o.tls(tls);
    } else if let Some(flag) = tls_flags.iter().find(|f| args.has(f)) {
        return Err(Error::Usage(format!("{flag} needs --tls")));
    }
    let krb_flags = ["--krb-realm", "--krb-client"];
    match (last(args, "--sasl-digest")?, args.has("--kerberos")) {
        (Some(_), true) => {
            return Err(Error::Usage(
                "--sasl-digest and --kerberos exclude each other (a ZooKeeper server takes one \
                 SASL mechanism)"
                    .into(),
            ))
        }
        (Some(list), false) => {
            let users: Vec<(&str, &str)> = list
                .split(',')
                .map(|pair| {
                    pair.split_once(':').ok_or_else(|| {
                        Error::Usage(format!(
                            "--sasl-digest {pair:?}: expected USER:PASSWORD[,USER:PASSWORD...]"
                        ))
                    })
                })
                .collect::<Result<_, _>>()?;
            o = o.sasl_digest(&users);
        }
        (None, true) => {
            let realm = last(args, "--krb-realm")?.unwrap_or("EXAMPLE.COM");
            let clients = args.all("--krb-client");
            let mut krb = if clients.is_empty() {
                KerberosConfig {
                    realm: realm.into(),
                    ..KerberosConfig::default()
                }
            } else {
                KerberosConfig::new(realm)
            };
            for c in clients {
                krb = match c.split_once(':') {
                    Some((name, secs)) => krb.short_lived_client(
                        name,
                        Duration::from_secs(parse_num(secs, "--krb-client max life (s)")?),
                    ),
                    None => krb.client(c),
                };
            }
            o = o.kerberos(krb);
        }
        (None, false) => {
            if let Some(flag) = krb_flags.iter().find(|f| args.has(f)) {
                return Err(Error::Usage(format!("{flag} needs --kerberos")));
            }
            if args.has("--sasl-optional") {
                return Err(Error::Usage(
                    "--sasl-optional needs --sasl-digest or --kerberos".into(),
                ));
            }
        }
    }
    if args.has("--sasl-optional") {
        o = o.sasl_required(false);
    }
    Ok((nodes, o))
}

/// `ensemble start`: launches a detached supervisor and waits for it to be ready.
fn start(args: &Args) -> Result<Value, Error> {
    // Validate options here so mistakes are reported by this command.
    options(args)?;
    let owner: u32 = match args.num::<u32>("--owner-pid")? {
        Some(pid) => pid,
        // SAFETY: getppid has no preconditions.
        None => (unsafe { libc::getppid() }) as u32,
    };
    let base = match args.all("--dir").first() {
        Some(d) => PathBuf::from(d),
        None => std::env::var_os("ZKHA_TESTKIT_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| std::env::temp_dir().join("zkha-testkit")),
    };
    let handle = base.join(format!("handle-{}-{}", std::process::id(), nanos()));
    std::fs::create_dir_all(&handle)?;
    let log = std::fs::File::create(handle.join("supervisor.log"))?;
    let exe = std::env::current_exe()?;
    let mut cmd = Command::new(exe);
    cmd.arg("__supervise")
        .arg("--handle")
        .arg(&handle)
        .arg("--owner-pid")
        .arg(owner.to_string());
    // Pass the ensemble options through unchanged.
    for (k, v) in &args.options {
        if k == "--json" || k == "--owner-pid" || k == "--dir" {
            continue;
        }
        cmd.arg(k);
        if let Some(v) = v {
            cmd.arg(v);
        }
    }
    cmd.stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    // SAFETY: setsid between fork and exec detaches the supervisor from our session.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
            libc::setsid();
            Ok(())
        });
    }
    let mut child = cmd.spawn()?;
    let deadline = Instant::now() + Duration::from_secs(900);
    loop {
        if let Ok(text) = std::fs::read_to_string(handle.join("ready.json")) {
            if let Ok(v) = serde_json::from_str::<Value>(&text) {
                return Ok(v);
            }
        }
        if let Ok(text) = std::fs::read_to_string(handle.join("error.txt")) {
            let _ = child.wait();
            let _ = std::fs::remove_dir_all(&handle);
            return Err(Error::Start(text));
        }
        if let Ok(Some(status)) = child.try_wait() {
            let log = std::fs::read_to_string(handle.join("supervisor.log")).unwrap_or_default();
            return Err(Error::Start(format!(
                "the supervisor exited ({status}): {log}"
            )));
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            return Err(Error::Timeout(
                "the ensemble did not start within 15 minutes".into(),
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn supervise(args: &Args) -> Result<(), Error> {
    let handle = PathBuf::from(
        args.all("--handle")
            .first()
            .ok_or_else(|| Error::Usage("--handle missing".into()))?,
    );
    let owner = args.num::<u32>("--owner-pid")?.filter(|&p| p != 0);
    let (nodes, options) = options(args)?;
    control::supervise(&handle, nodes, options, owner)
}

/// Waits until the supervisor behind `handle` has removed its socket.
fn wait_gone(handle: &std::path::Path) {
    let sock = control::socket_path(handle);
    let deadline = Instant::now() + Duration::from_secs(20);
    while sock.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn nanos() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0)
}
