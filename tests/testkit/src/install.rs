//! Finding Java and the ZooKeeper server jars.
//!
//! The jars come from Maven Central, resolved once with `mvn` into a git-ignored cache
//! (`<repo>/.cache/zookeeper/<version>/`). Version: `ZKHA_ZK_VERSION` (default
//! [`DEFAULT_ZK_VERSION`]). A directory of jars given in `ZKHA_ZK_CLASSPATH` skips Maven.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// ZooKeeper version used when `ZKHA_ZK_VERSION` is not set.
pub const DEFAULT_ZK_VERSION: &str = "3.9.5";

/// How long a Maven resolution may take before it is given up.
const MAVEN_TIMEOUT: Duration = Duration::from_secs(600);

/// Serialises installs between threads of one process (the file lock covers processes).
static INSTALL_LOCK: Mutex<()> = Mutex::new(());

/// Where Java and the ZooKeeper jars come from.
#[derive(Debug, Clone)]
pub struct Install {
    /// The `java` executable.
    pub java: PathBuf,
    /// The ZooKeeper version whose jars are on `classpath`.
    pub version: String,
    /// Directory holding the server jars (`<dir>/*` is the class path).
    pub jar_dir: PathBuf,
}

/// The project's cache directory: `ZKHA_CACHE_DIR`, else `<repo>/.cache`.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("ZKHA_CACHE_DIR") {
        return PathBuf::from(dir);
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.cache")
}

/// The ZooKeeper version asked for by `ZKHA_ZK_VERSION`, or the default.
pub fn zk_version() -> String {
    std::env::var("ZKHA_ZK_VERSION")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_ZK_VERSION.to_string())
}

impl Install {
    /// Java from `JAVA_HOME` or `PATH`, and the ZooKeeper jars of [`zk_version`], fetched with
    /// Maven into the cache on first use.
    pub fn locate() -> Result<Install> {
        let java = find_java()?;
        let version = zk_version();
        let jar_dir = match std::env::var_os("ZKHA_ZK_CLASSPATH") {
            Some(dir) => {
                let dir = PathBuf::from(dir);
                check_jar_dir(&dir, None).map_err(|why| {
                    Error::Install(format!("ZKHA_ZK_CLASSPATH={}: {why}", dir.display()))
                })?;
                dir
            }
            None => fetch_zookeeper(&Maven::default(), &version, &cache_dir())?,
        };
        Ok(Install {
            java,
            version,
            jar_dir,
        })
    }

    /// The `-cp` argument for the server JVM.
    pub fn classpath(&self) -> String {
        format!("{}/*", self.jar_dir.display())
    }
}

/// Finds a working `java`: `$JAVA_HOME/bin/java` if `JAVA_HOME` is set, else `java` on `PATH`.
pub fn find_java() -> Result<PathBuf> {
    find_java_in(
        std::env::var_os("JAVA_HOME")
            .filter(|h| !h.is_empty())
            .map(PathBuf::from),
    )
}

/// Finds a working `java` under `java_home`, or on `PATH` if `None`.
pub fn find_java_in(java_home: Option<PathBuf>) -> Result<PathBuf> {
    let (java, origin) = match java_home {
        Some(home) => (home.join("bin/java"), "JAVA_HOME"),
        None => (PathBuf::from("java"), "PATH"),
    };
    let out = Command::new(&java)
        .arg("-version")
        .stdin(Stdio::null())
        .output();
    match out {
        Ok(out) if out.status.success() => Ok(java),
        Ok(out) => Err(Error::Install(format!(
            "`{} -version` (from {origin}) failed: {}; install a JDK 11 or newer \
             (e.g. `apt-get install openjdk-17-jdk-headless`) or point JAVA_HOME at one",
            java.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ))),
        Err(e) => Err(Error::Install(format!(
            "cannot run `{}` (from {origin}): {e}; install a JDK 11 or newer \
             (e.g. `apt-get install openjdk-17-jdk-headless`) or point JAVA_HOME at one",
            java.display()
        ))),
    }
}

/// The JDK tool `name` (`keytool`, `javac`) beside `java`, or on `PATH`.
pub fn jdk_tool(java: &Path, name: &str) -> PathBuf {
    match java.parent() {
        Some(bin) if !bin.as_os_str().is_empty() => bin.join(name),
        _ => PathBuf::from(name),
    }
}

/// How Maven is invoked.
#[derive(Debug, Clone)]
pub struct Maven {
    /// The `mvn` executable.
    pub program: PathBuf,
    /// Extra arguments (tests use `--offline` to simulate an unreachable Maven Central).
    pub extra_args: Vec<String>,
}

impl Default for Maven {
    fn default() -> Self {
        Maven {
            program: PathBuf::from("mvn"),
            extra_args: Vec::new(),
        }
    }
}

/// Makes sure `<cache>/zookeeper/<version>/` holds the jars of ZooKeeper `version`, resolving
/// them with Maven if not, and returns that directory.
pub fn fetch_zookeeper(maven: &Maven, version: &str, cache: &Path) -> Result<PathBuf> {
    check_version(version)?;
    let pom = Path::new(env!("CARGO_MANIFEST_DIR")).join("../zookeeper/pom.xml");
    fetch_classpath(
        maven,
        &pom,
        version,
        &cache.join("zookeeper"),
        cache,
        &format!("ZooKeeper {version} and its dependencies"),
        |dir| check_jar_dir(dir, Some(version)),
    )
}

/// Makes sure `<cache>/zookeeper-admin/<version>/` holds what ZooKeeper `version`'s
/// AdminServer needs beside the server jars (Jetty and Jackson, which ZooKeeper declares
/// `provided`, at the versions of ZooKeeper's own build), and returns that directory. The test
/// kit's TLS-only ensembles ask their servers through it (there is no plain client port for
/// four-letter words).
pub fn fetch_admin_server(maven: &Maven, version: &str, cache: &Path) -> Result<PathBuf> {
    check_version(version)?;
    let pom = Path::new(env!("CARGO_MANIFEST_DIR")).join("admin-server/pom.xml");
    fetch_classpath(
        maven,
        &pom,
        version,
        &cache.join("zookeeper-admin"),
        cache,
        &format!("the AdminServer jars (Jetty, Jackson) of ZooKeeper {version}"),
        |dir| has_jar(dir, "jetty-server-"),
    )
}

/// Makes sure `<cache>/zookeeper-prometheus/<version>/` holds ZooKeeper's Prometheus metrics
/// provider and what it needs beside the server jars (simpleclient; Jetty at the version of
/// ZooKeeper `version`'s build), and returns that directory. Central serves the provider up
/// to 3.9.4, which serves 3.8 and 3.9 servers alike (the same `MetricsProvider` API).
pub fn fetch_prometheus_metrics(maven: &Maven, version: &str, cache: &Path) -> Result<PathBuf> {
    check_version(version)?;
    let pom = Path::new(env!("CARGO_MANIFEST_DIR")).join("prometheus-metrics/pom.xml");
    fetch_classpath(
        maven,
        &pom,
        version,
        &cache.join("zookeeper-prometheus"),
        cache,
        &format!("ZooKeeper's Prometheus metrics provider for ZooKeeper {version}"),
        |dir| has_jar(dir, "zookeeper-prometheus-metrics-"),
    )
}

/// `Ok` if `dir` holds a jar whose name starts with `prefix`, else why not.
fn has_jar(dir: &Path, prefix: &str) -> std::result::Result<(), String> {
    let found = fs::read_dir(dir)
        .map_err(|e| format!("cannot read {}: {e}", dir.display()))?
        .filter_map(|e| e.ok())
        .any(|e| e.file_name().to_string_lossy().starts_with(prefix));
    if found {
        Ok(())
    } else {
        Err(format!("no {prefix}* jar in {}", dir.display()))
    }
}

fn check_version(version: &str) -> Result<()> {
    if version.is_empty()
        || !version
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".-".contains(c))
    {
        return Err(Error::Install(format!(
            "ZKHA_ZK_VERSION={version:?} is not a ZooKeeper version (expected e.g. 3.9.5 or 3.8.6)"
        )));
    }
    Ok(())
}

/// Resolves the runtime dependencies of `pom` (with `-Dzk.version=<version>`) into
/// `<parent>/<version>/` once, and returns that directory.
fn fetch_classpath(
    maven: &Maven,
    pom: &Path,
    version: &str,
    parent: &Path,
    cache: &Path,
    what: &str,
    check: impl Fn(&Path) -> std::result::Result<(), String>,
) -> Result<PathBuf> {
    let dir = parent.join(version);
    once_locked(parent, &dir.join(".complete"), || {
        eprintln!(
            "zkha-testkit: fetching {what} from Maven Central into {} (once)",
            dir.display()
        );
        let staging = parent.join(format!(".{version}.partial"));
        let _ = fs::remove_dir_all(&staging);
        let mut cmd = Command::new(&maven.program);
        cmd.arg("-B")
            .arg("-q")
            .arg("-f")
            .arg(pom)
            .arg(format!("-Dmaven.repo.local={}", cache.join("m2").display()))
            .arg(format!("-Dzk.version={version}"))
            .arg("-Dmaven.wagon.http.retryHandler.count=2")
            .args(&maven.extra_args)
            .arg("dependency:copy-dependencies")
            .arg("-DincludeScope=runtime")
            .arg(format!("-DoutputDirectory={}", staging.display()))
            .stdin(Stdio::null());
        let output = run_with_timeout(cmd, MAVEN_TIMEOUT).map_err(|e| {
            Error::Install(format!(
                "cannot run Maven (`{}`): {e}; install it (`apt-get install maven`) or set \
                 ZKHA_ZK_CLASSPATH to a directory holding the ZooKeeper server jars",
                maven.program.display()
            ))
        })?;
        if !output.0 {
            let tail: Vec<&str> = output.1.lines().rev().take(15).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            return Err(Error::Install(format!(
                "Maven could not fetch {what} from Maven Central \
                 (is it reachable, and is the version right?). Retry later, or set ZKHA_ZK_CLASSPATH \
                 to a directory holding the ZooKeeper server jars. Maven said:\n{}",
                tail.join("\n")
            )));
        }
        check(&staging).map_err(Error::Install)?;
        let _ = fs::remove_dir_all(&dir);
        fs::rename(&staging, &dir)?;
        Ok(())
    })?;
    Ok(dir)
}

/// Runs `fetch` unless `done` exists, once across the threads and processes sharing the
/// cache folder `parent` (a file lock in it), and creates `done` after it succeeded.
fn once_locked(parent: &Path, done: &Path, fetch: impl FnOnce() -> Result<()>) -> Result<()> {
    if done.exists() {
        return Ok(());
    }
    let _guard = INSTALL_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    fs::create_dir_all(parent).map_err(|e| {
        Error::Install(format!(
            "cannot create cache directory {}: {e}",
            parent.display()
        ))
    })?;
    let lock_file = File::create(parent.join(".lock"))?;
    // SAFETY: flock on a file descriptor we own; released when the file is closed.
    unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&lock_file), libc::LOCK_EX) };
    if done.exists() {
        return Ok(());
    }
    fetch()?;
    File::create(done)?;
    Ok(())
}

/// Checks that `dir` holds a ZooKeeper server jar (of `version`, if given).
fn check_jar_dir(dir: &Path, version: Option<&str>) -> std::result::Result<(), String> {
    let entries = fs::read_dir(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    let found = entries.filter_map(|e| e.ok()).any(|e| {
        let name = e.file_name().to_string_lossy().into_owned();
        match version {
            Some(v) => name == format!("zookeeper-{v}.jar"),
            None => {
                name.starts_with("zookeeper-") && name.ends_with(".jar") && !name.contains("jute")
            }
        }
    });
    if found {
        Ok(())
    } else {
        Err(format!("no ZooKeeper server jar in {}", dir.display()))
    }
}

/// Runs `cmd`, capturing output, killing it after `timeout`. Returns (success, stdout+stderr).
fn run_with_timeout(mut cmd: Command, timeout: Duration) -> std::io::Result<(bool, String)> {
    let out = tempfile_path("mvn-out");
    let file = File::create(&out)?;
    cmd.stdout(file.try_clone()?).stderr(file);
    let mut child = cmd.spawn()?;
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break Some(status);
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let text = fs::read_to_string(&out).unwrap_or_default();
    let _ = fs::remove_file(&out);
    match status {
        Some(status) => Ok((status.success(), text)),
        None => Ok((
            false,
            format!("{text}\n(gave up after {} s)", timeout.as_secs()),
        )),
    }
}

/// A fresh path in the temp directory.
fn tempfile_path(stem: &str) -> PathBuf {
    use std::sync::atomic::{AtomicU64, Ordering};
    static SEQ: AtomicU64 = AtomicU64::new(0);
    std::env::temp_dir().join(format!(
        "zkha-{stem}-{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ))
}

/// MIT Kerberos' KDC and client tools for the test kit's Kerberos ensembles, unpacked from
/// Debian's packages into the cache (`<cache>/krb5/root`), never installed system-wide.
#[derive(Debug, Clone)]
pub struct Krb5Install {
    /// The root the packages were unpacked into (`/` for a system installation).
    pub root: PathBuf,
    /// Directories of the unpacked libraries (`LD_LIBRARY_PATH` for the tools).
    pub lib_dirs: Vec<PathBuf>,
    /// The KDC's database modules (`db2.so`).
    pub kdb_module_dir: PathBuf,
    /// The base directory of the Kerberos plugins (`preauth/`, `kdb/`).
    pub plugin_dir: PathBuf,
}

impl Krb5Install {
    /// `ZKHA_KRB5_ROOT` (a directory the packages were unpacked into, or `/` for an
    /// installation with `apt-get install krb5-kdc krb5-admin-server krb5-user`), else the
    /// packages fetched with `apt-get download` into the cache on first use.
    pub fn locate() -> Result<Krb5Install> {
        let root = match std::env::var_os("ZKHA_KRB5_ROOT").filter(|r| !r.is_empty()) {
            Some(root) => PathBuf::from(root),
            None => fetch_krb5(&cache_dir())?,
        };
        let root = fs::canonicalize(&root).unwrap_or(root);
        Krb5Install::at(&root).map_err(|why| {
            Error::Install(format!(
                "MIT Kerberos under {}: {why}; unset ZKHA_KRB5_ROOT to fetch Debian's packages \
                 into the cache, or install krb5-kdc, krb5-admin-server and krb5-user and set \
                 ZKHA_KRB5_ROOT=/",
                root.display()
            ))
        })
    }

    /// The installation under `root`, checked.
    pub fn at(root: &Path) -> std::result::Result<Krb5Install, String> {
        let mut lib_dirs = Vec::new();
        for base in ["usr/lib", "lib"] {
            let Ok(entries) = fs::read_dir(root.join(base)) else {
                continue;
            };
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if name.contains("-linux-") && e.path().is_dir() {
                    lib_dirs.push(e.path());
                }
            }
        }
        lib_dirs.sort();
        let plugin_dir = lib_dirs
            .iter()
            .map(|d| d.join("krb5/plugins"))
            .find(|d| d.join("kdb").is_dir())
            .ok_or_else(|| "no krb5/plugins/kdb directory (package krb5-kdc)".to_string())?;
        let install = Krb5Install {
            root: root.to_path_buf(),
            lib_dirs,
            kdb_module_dir: plugin_dir.join("kdb"),
            plugin_dir,
        };
        for tool in [
            install.sbin("krb5kdc"),
            install.sbin("kdb5_util"),
            install.sbin("kadmin.local"),
            install.bin("kinit"),
            install.bin("klist"),
        ] {
            if !tool.is_file() {
                return Err(format!("{} is missing", tool.display()));
            }
        }
        Ok(install)
    }

    /// `<root>/usr/sbin/<name>`.
    pub fn sbin(&self, name: &str) -> PathBuf {
        self.root.join("usr/sbin").join(name)
    }

    /// `<root>/usr/bin/<name>`.
    pub fn bin(&self, name: &str) -> PathBuf {
        self.root.join("usr/bin").join(name)
    }

    /// `LD_LIBRARY_PATH` for the unpacked tools (the unpacked libraries first).
    pub fn library_path(&self) -> String {
        let mut dirs: Vec<String> = self
            .lib_dirs
            .iter()
            .map(|d| d.display().to_string())
            .collect();
        if let Ok(old) = std::env::var("LD_LIBRARY_PATH") {
            if !old.is_empty() {
                dirs.push(old);
            }
        }
        dirs.join(":")
    }

    /// A command running `program` with the unpacked libraries.
    pub fn command(&self, program: &Path) -> Command {
        let mut cmd = Command::new(program);
        cmd.env("LD_LIBRARY_PATH", self.library_path());
        cmd
    }
}

/// Debian's packages of the KDC, kadmin.local, kinit and klist, and the libraries they need
/// that a minimal system may lack.
const KRB5_PACKAGES: &[&str] = &[
    "krb5-kdc",
    "krb5-admin-server",
    "krb5-user",
    "libkrb5-3",
    "libkrb5support",
    "libk5crypto",
    "libgssapi-krb5",
    "libgssrpc",
    "libkadm5srv-mit",
    "libkadm5clnt-mit",
    "libkdb5-",
    "libverto1",
    "libverto-libev",
    "libev4",
    "libss2",
    "libcom-err2",
    "libkeyutils1",
];

/// Makes sure `<cache>/krb5/root` holds MIT Kerberos' KDC and tools, unpacked from Debian's
/// packages (`apt-get download`, `dpkg-deb -x`: nothing is installed), and returns it.
pub fn fetch_krb5(cache: &Path) -> Result<PathBuf> {
    let parent = cache.join("krb5");
    let root = parent.join("root");
    once_locked(&parent, &parent.join(".complete"), || {
        unpack_krb5(&parent, &root)
    })?;
    Ok(root)
}

/// [`fetch_krb5`]'s work: the packages downloaded and unpacked into `root`.
fn unpack_krb5(parent: &Path, root: &Path) -> Result<()> {
    let fail = |why: String| {
        Error::Install(format!(
            "cannot fetch MIT Kerberos (for Kerberos ensembles) from Debian's packages: {why}. \
             Run `apt-get update` and retry, or install krb5-kdc, krb5-admin-server and \
             krb5-user and set ZKHA_KRB5_ROOT=/"
        ))
    };
    // The packages' names change between releases (soname bumps, t64): take them from the
    // dependency tree of the three tools' packages.
    let depends = Command::new("apt-cache")
        .args([
            "depends",
            "--recurse",
            "--no-recommends",
            "--no-suggests",
            "--no-conflicts",
            "--no-breaks",
            "--no-replaces",
            "--no-enhances",
            "krb5-kdc",
            "krb5-admin-server",
            "krb5-user",
        ])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| fail(format!("cannot run apt-cache: {e}")))?;
    if !depends.status.success() {
        return Err(fail(format!(
            "apt-cache depends: {}",
            String::from_utf8_lossy(&depends.stderr).trim()
        )));
    }
    let mut packages: Vec<String> = String::from_utf8_lossy(&depends.stdout)
        .lines()
        .filter(|l| !l.starts_with(' ') && !l.starts_with('<'))
        .map(str::trim)
        .filter(|name| {
            KRB5_PACKAGES.iter().any(|p| {
                // The tools' packages by name, libraries by prefix (`libkrb5-3t64`).
                if p.starts_with("krb5-") {
                    name == p
                } else {
                    name.starts_with(p)
                }
            })
        })
        .map(str::to_string)
        .collect();
    packages.sort();
    packages.dedup();
    if !packages.iter().any(|p| p == "krb5-kdc") {
        return Err(fail("apt-cache knows no package krb5-kdc".into()));
    }
    eprintln!(
        "zkha-testkit: fetching MIT Kerberos from Debian's packages into {} (once): {}",
        root.display(),
        packages.join(" ")
    );
    let staging = parent.join(".partial");
    let _ = fs::remove_dir_all(&staging);
    let debs = staging.join("debs");
    fs::create_dir_all(&debs)?;
    let mut cmd = Command::new("apt-get");
    cmd.arg("download")
        .arg("-q")
        .args(&packages)
        .current_dir(&debs)
        .stdin(Stdio::null());
    let (ok, out) = run_with_timeout(cmd, MAVEN_TIMEOUT)
        .map_err(|e| fail(format!("cannot run apt-get: {e}")))?;
    if !ok {
        let tail: Vec<&str> = out.lines().rev().take(10).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        return Err(fail(format!(
            "apt-get download failed:\n{}",
            tail.join("\n")
        )));
    }
    let unpacked = staging.join("root");
    for deb in fs::read_dir(&debs)?.flatten() {
        let out = Command::new("dpkg-deb")
            .arg("-x")
            .arg(deb.path())
            .arg(&unpacked)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| fail(format!("cannot run dpkg-deb: {e}")))?;
        if !out.status.success() {
            return Err(fail(format!(
                "dpkg-deb -x {}: {}",
                deb.path().display(),
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
    }
    Krb5Install::at(&unpacked).map_err(fail)?;
    let _ = fs::remove_dir_all(root);
    fs::rename(&unpacked, root)?;
    let _ = fs::remove_dir_all(&staging);
    Ok(())
}
