//! A real MIT Kerberos KDC for Kerberos ensembles: `krb5kdc` unprivileged on a free port of
//! 127.0.0.1, its database, configuration, log and keytabs in `<ensemble dir>/kdc`.
//!
//! The servers log in as `zookeeper/localhost@REALM` from a keytab; every client principal
//! gets a keytab and a JAAS file. A client may have a short maximum ticket life (`addprinc
//! -maxlife`); the realm's own `max_life` stays at 10 h, because a ZooKeeper server whose own
//! tickets live a minute busy-loops in its re-login thread and writes gigabytes of log.

use std::fs;
use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::install::Krb5Install;
use crate::sasl::jaas_escape;
use crate::spawn;

/// The service principal's host part: clients reach the servers as `localhost`.
const SERVER_HOST: &str = "localhost";

/// A client principal to create (see [`KerberosConfig`]).
#[derive(Debug, Clone)]
pub struct KerberosClient {
    /// The principal's name without the realm (e.g. `zkha`).
    pub name: String,
    /// Maximum ticket life of this principal (`addprinc -maxlife`); `None`: the realm's 10 h.
    pub max_life: Option<Duration>,
}

/// The realm and client principals of a Kerberos ensemble (see [`crate::Options::kerberos`]).
#[derive(Debug, Clone)]
pub struct KerberosConfig {
    /// The realm (default `EXAMPLE.COM`).
    pub realm: String,
    /// Client principals (default `zkha` and `other`, both with the realm's ticket life).
    pub clients: Vec<KerberosClient>,
}

impl Default for KerberosConfig {
    fn default() -> Self {
        KerberosConfig::new("EXAMPLE.COM")
            .client("zkha")
            .client("other")
    }
}

impl KerberosConfig {
    /// A realm without client principals.
    pub fn new(realm: &str) -> Self {
        KerberosConfig {
            realm: realm.into(),
            clients: Vec::new(),
        }
    }

    /// Adds client principal `name@REALM` (ticket life: the realm's 10 h).
    pub fn client(mut self, name: &str) -> Self {
        self.clients.push(KerberosClient {
            name: name.into(),
            max_life: None,
        });
        self
    }

    /// Adds client principal `name@REALM` whose tickets live at most `max_life` (whole
    /// seconds; e.g. 60 s to see a client renew its credentials).
    pub fn short_lived_client(mut self, name: &str, max_life: Duration) -> Self {
        self.clients.push(KerberosClient {
            name: name.into(),
            max_life: Some(max_life),
        });
        self
    }
}

/// A client principal with its keytab and JAAS file.
#[derive(Debug, Clone, serde::Serialize)]
pub struct KerberosPrincipal {
    /// The name without the realm (`zkha`).
    pub name: String,
    /// The full principal (`zkha@EXAMPLE.COM`; ZooKeeper's ACL id `sasl:zkha@EXAMPLE.COM`).
    pub principal: String,
    /// `<name>.keytab`.
    pub keytab: PathBuf,
    /// `client-<name>.jaas`: a `Client` section with `Krb5LoginModule` and the keytab.
    pub jaas: PathBuf,
    /// The principal's maximum ticket life in seconds, if shorter than the realm's.
    pub max_life_s: Option<u64>,
}

/// A running KDC and the files of its realm. Stopped when dropped (and, through a
/// parent-death signal, when the process that started it dies).
#[derive(Debug, serde::Serialize)]
pub struct Kerberos {
    /// The realm.
    pub realm: String,
    /// The directory holding every file below and the KDC's database.
    pub dir: PathBuf,
    /// The KDC's address (TCP and UDP).
    pub kdc: SocketAddr,
    /// The KDC's process id.
    pub kdc_pid: u32,
    /// `krb5.conf` for clients: `KRB5_CONFIG` (MIT) or `-Djava.security.krb5.conf` (Java).
    pub krb5_conf: PathBuf,
    /// `kdc.conf` (`KRB5_KDC_PROFILE`).
    pub kdc_conf: PathBuf,
    /// The KDC's log.
    pub kdc_log: PathBuf,
    /// The servers' principal, `zookeeper/localhost@REALM`.
    pub server_principal: String,
    /// The servers' keytab.
    pub server_keytab: PathBuf,
    /// The servers' JAAS file (`Server` section).
    pub server_jaas: PathBuf,
    /// The client principals.
    pub clients: Vec<KerberosPrincipal>,
    /// MIT's `kinit` (unpacked with the KDC; run it with [`Kerberos::tool_env`]).
    pub kinit: PathBuf,
    /// MIT's `klist`.
    pub klist: PathBuf,
    /// `LD_LIBRARY_PATH` for `kinit` and `klist`.
    pub tool_library_path: String,
    #[serde(skip)]
    install: Krb5Install,
    #[serde(skip)]
    child: Mutex<Option<Child>>,
}

impl Kerberos {
    /// Creates the realm in `dir` and starts its KDC on a free port.
    pub fn start(dir: &Path, config: &KerberosConfig) -> Result<Kerberos> {
        check_name("realm", &config.realm, ".-")?;
        for c in &config.clients {
            check_name("client principal name", &c.name, "._-")?;
        }
        let install = Krb5Install::locate()?;
        fs::create_dir_all(dir)?;
        let realm = config.realm.as_str();
        let f = |name: &str| dir.join(name);
        let server_principal = format!("zookeeper/{SERVER_HOST}@{realm}");
        let mut kerberos = Kerberos {
            realm: realm.into(),
            dir: dir.to_path_buf(),
            kdc: SocketAddr::from(([127, 0, 0, 1], 0)),
            kdc_pid: 0,
            krb5_conf: f("krb5.conf"),
            kdc_conf: f("kdc.conf"),
            kdc_log: f("kdc.log"),
            server_keytab: f("zookeeper.keytab"),
            server_jaas: f("server.jaas"),
            clients: config
                .clients
                .iter()
                .map(|c| KerberosPrincipal {
                    name: c.name.clone(),
                    principal: format!("{}@{realm}", c.name),
                    keytab: f(&format!("{}.keytab", c.name)),
                    jaas: f(&format!("client-{}.jaas", c.name)),
                    max_life_s: c.max_life.map(|d| d.as_secs().max(1)),
                })
                .collect(),
            kinit: install.bin("kinit"),
            klist: install.bin("klist"),
            tool_library_path: install.library_path(),
            server_principal,
            install,
            child: Mutex::new(None),
        };
        let port = free_port()?;
        kerberos.write_configs(port)?;
        kerberos.admin(&[
            "kdb5_util",
            "create",
            "-s",
            "-r",
            realm,
            "-P",
            "zkha-testkit-master",
        ])?;
        kerberos.kadmin(
            &format!("addprinc -randkey {}", kerberos.server_principal),
            "created",
        )?;
        kerberos.kadmin(
            &format!(
                "ktadd -k {} {}",
                kerberos.server_keytab.display(),
                kerberos.server_principal
            ),
            "added to keytab",
        )?;
        for c in &kerberos.clients {
            let life = match c.max_life_s {
                Some(s) => format!("-maxlife {s}sec "),
                None => String::new(),
            };
            kerberos.kadmin(
                &format!("addprinc -randkey {life}{}", c.principal),
                "created",
            )?;
            kerberos.kadmin(
                &format!("ktadd -k {} {}", c.keytab.display(), c.principal),
                "added to keytab",
            )?;
            fs::write(&c.jaas, jaas("Client", &c.keytab, &c.principal))?;
        }
        fs::write(
            &kerberos.server_jaas,
            jaas(
                "Server",
                &kerberos.server_keytab,
                &kerberos.server_principal,
            ),
        )?;
        // A free port can be taken before the KDC binds it: retry with another.
        let mut port = port;
        for attempt in 0.. {
            match kerberos.launch(port) {
                Ok(()) => break,
                Err(Error::Port(_)) if attempt < 3 => {
                    port = free_port()?;
                    kerberos.write_configs(port)?;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(kerberos)
    }

    /// The client principal named `name` (without the realm).
    pub fn client(&self, name: &str) -> Option<&KerberosPrincipal> {
        self.clients.iter().find(|c| c.name == name)
    }

    /// What a client process needs in its environment: `KRB5_CONFIG`.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![("KRB5_CONFIG".into(), self.krb5_conf.display().to_string())]
    }

    /// The environment for the unpacked `kinit` and `klist`: `KRB5_CONFIG` and
    /// `LD_LIBRARY_PATH`.
    pub fn tool_env(&self) -> Vec<(String, String)> {
        let mut env = self.env();
        env.push(("LD_LIBRARY_PATH".into(), self.tool_library_path.clone()));
        env
    }

    /// Gets a ticket-granting ticket for client `name` from its keytab (`kinit -k -t`) into a
    /// ticket cache of its own, `FILE:<dir>/<name>.ccache`, and returns that cache's path.
    pub fn kinit(&self, name: &str) -> Result<PathBuf> {
        let c = self.client(name).ok_or_else(|| {
            Error::Usage(format!(
                "no client principal {name:?} in realm {}",
                self.realm
            ))
        })?;
        let ccache = self.dir.join(format!("{name}.ccache"));
        let out = self
            .tool(&self.kinit)
            .arg("-k")
            .arg("-t")
            .arg(&c.keytab)
            .arg("-c")
            .arg(format!("FILE:{}", ccache.display()))
            .arg(&c.principal)
            .output()?;
        if !out.status.success() {
            return Err(Error::Start(format!(
                "kinit -k -t {} {} failed: {}; KDC log {}",
                c.keytab.display(),
                c.principal,
                String::from_utf8_lossy(&out.stderr).trim(),
                self.kdc_log.display()
            )));
        }
        Ok(ccache)
    }

    /// `klist` of ticket cache `ccache` (a path).
    pub fn klist(&self, ccache: &Path) -> Result<String> {
        let out = self
            .tool(&self.klist)
            .arg("-c")
            .arg(format!("FILE:{}", ccache.display()))
            .output()?;
        if !out.status.success() {
            return Err(Error::Start(format!(
                "klist -c {} failed: {}",
                ccache.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// System properties for a Java ZooKeeper client that logs in as client `name` from its
    /// keytab: `java.security.krb5.conf` and `java.security.auth.login.config`.
    pub fn java_client_properties(&self, name: &str) -> Option<Vec<(String, String)>> {
        let c = self.client(name)?;
        Some(vec![
            (
                "java.security.krb5.conf".into(),
                self.krb5_conf.display().to_string(),
            ),
            (
                "java.security.auth.login.config".into(),
                c.jaas.display().to_string(),
            ),
        ])
    }

    /// Stops the KDC (also done on drop).
    pub fn stop(&self) {
        if let Some(mut child) = self.child.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Whether the KDC process runs.
    pub fn running(&self) -> bool {
        match self
            .child
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_mut()
        {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    fn tool(&self, program: &Path) -> Command {
        let mut cmd = self.install.command(program);
        cmd.env("KRB5_CONFIG", &self.krb5_conf)
            .env("LC_ALL", "C")
            .stdin(Stdio::null());
        cmd
    }

    fn admin_command(&self, program: &str) -> Command {
        let mut cmd = self.tool(&self.install.sbin(program));
        cmd.env("KRB5_KDC_PROFILE", &self.kdc_conf);
        cmd
    }

    fn admin(&self, args: &[&str]) -> Result<()> {
        let out = self.admin_command(args[0]).args(&args[1..]).output()?;
        if !out.status.success() {
            return Err(Error::Start(format!(
                "`{}` failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(())
    }

    /// Runs a `kadmin.local` query; it exits 0 even when the query fails, so success is
    /// its confirmation (`expect`) on stdout.
    fn kadmin(&self, query: &str, expect: &str) -> Result<()> {
        let out = self
            .admin_command("kadmin.local")
            .arg("-r")
            .arg(&self.realm)
            .arg("-q")
            .arg(query)
            .output()?;
        if !out.status.success() || !String::from_utf8_lossy(&out.stdout).contains(expect) {
            return Err(Error::Start(format!(
                "kadmin.local -q {query:?} failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(())
    }

    fn write_configs(&mut self, port: u16) -> Result<()> {
        let d = self.dir.display();
        let realm = &self.realm;
        self.kdc = SocketAddr::from(([127, 0, 0, 1], port));
        fs::write(
            &self.kdc_conf,
            format!(
                "[kdcdefaults]\n  kdc_listen = 127.0.0.1:{port}\n  kdc_tcp_listen = 127.0.0.1:{port}\n\
                 [realms]\n  {realm} = {{\n    database_name = {d}/principal\n    \
                 key_stash_file = {d}/stash\n    acl_file = {d}/kadm5.acl\n    \
                 max_life = 10h\n    max_renewable_life = 0\n    \
                 supported_enctypes = aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha1-96:normal\n  }}\n\
                 [logging]\n  kdc = FILE:{log}\n  admin_server = FILE:{d}/kadmin.log\n  \
                 default = FILE:{d}/krb5lib.log\n",
                log = self.kdc_log.display(),
            ),
        )?;
        fs::write(
            &self.krb5_conf,
            format!(
                "[libdefaults]\n  default_realm = {realm}\n  dns_lookup_kdc = false\n  \
                 dns_lookup_realm = false\n  dns_canonicalize_hostname = false\n  rdns = false\n  \
                 udp_preference_limit = 1\n  plugin_base_dir = {plugins}\n\
                 [realms]\n  {realm} = {{\n    kdc = 127.0.0.1:{port}\n  }}\n\
                 [domain_realm]\n  {SERVER_HOST} = {realm}\n\
                 [dbmodules]\n  db_module_dir = {kdb}\n",
                plugins = self.install.plugin_dir.display(),
                kdb = self.install.kdb_module_dir.display(),
            ),
        )?;
        Ok(())
    }

    fn launch(&mut self, port: u16) -> Result<()> {
        let stdout = fs::File::create(self.dir.join("krb5kdc.out"))?;
        let mut cmd = self.admin_command("krb5kdc");
        cmd.arg("-n")
            .arg("-r")
            .arg(&self.realm)
            .stdout(stdout.try_clone()?)
            .stderr(stdout);
        spawn::limit_file_size(&mut cmd, spawn::LOG_SIZE_LIMIT);
        let mut child = spawn::spawn_tied(cmd).map_err(|e| {
            Error::Start(format!(
                "cannot start the KDC {}: {e}",
                self.install.sbin("krb5kdc").display()
            ))
        })?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                let mut log = fs::read_to_string(&self.kdc_log).unwrap_or_default();
                let _ = fs::File::open(self.dir.join("krb5kdc.out"))
                    .and_then(|mut f| f.read_to_string(&mut log));
                let tail: Vec<&str> = log.lines().rev().take(8).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                let msg = format!(
                    "the KDC exited ({status}) during start; log {}:\n{}",
                    self.kdc_log.display(),
                    tail.join("\n")
                );
                return Err(if log.contains("Address already in use") {
                    Error::Port(msg)
                } else {
                    Error::Start(msg)
                });
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                break;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(Error::Timeout(format!(
                    "the KDC did not listen on {addr} within 20 s; log {}",
                    self.kdc_log.display()
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.kdc_pid = child.id();
        *self.child.lock().unwrap_or_else(|p| p.into_inner()) = Some(child);
        Ok(())
    }
}

impl Drop for Kerberos {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A JAAS section logging in as `principal` from `keytab`.
fn jaas(section: &str, keytab: &Path, principal: &str) -> String {
    format!(
        "{section} {{\n  com.sun.security.auth.module.Krb5LoginModule required\n  \
         useKeyTab=true\n  keyTab=\"{}\"\n  storeKey=true\n  useTicketCache=false\n  \
         doNotPrompt=true\n  principal=\"{}\";\n}};\n",
        jaas_escape(&keytab.display().to_string()),
        jaas_escape(principal)
    )
}

/// A port free for TCP and UDP on 127.0.0.1.
fn free_port() -> Result<u16> {
    for _ in 0..50 {
        let tcp = TcpListener::bind("127.0.0.1:0")
            .map_err(|e| Error::Port(format!("cannot bind a free port on 127.0.0.1: {e}")))?;
        let port = tcp.local_addr()?.port();
        if UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    Err(Error::Port(
        "no port of 127.0.0.1 free for both TCP and UDP (for the KDC)".into(),
    ))
}

fn check_name(what: &str, name: &str, extra: &str) -> Result<()> {
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || extra.contains(c))
    {
        return Err(Error::Usage(format!(
            "{what} {name:?}: use letters, digits and {extra:?} only"
        )));
    }
    Ok(())
}
