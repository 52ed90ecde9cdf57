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
    if version.is_empty()
        || !version
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".-".contains(c))
    {
        return Err(Error::Install(format!(
            "ZKHA_ZK_VERSION={version:?} is not a ZooKeeper version (expected e.g. 3.9.5 or 3.8.6)"
        )));
    }
    let dir = cache.join("zookeeper").join(version);
    let done = dir.join(".complete");
    if done.exists() {
        return Ok(dir);
    }
    let _guard = INSTALL_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    fs::create_dir_all(cache.join("zookeeper")).map_err(|e| {
        Error::Install(format!(
            "cannot create cache directory {}: {e}",
            cache.display()
        ))
    })?;
    let lock_file = File::create(cache.join("zookeeper/.lock"))?;
    // SAFETY: flock on a file descriptor we own; released when the file is closed.
    unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&lock_file), libc::LOCK_EX) };
    if done.exists() {
        return Ok(dir);
    }
    let pom = Path::new(env!("CARGO_MANIFEST_DIR")).join("../zookeeper/pom.xml");
    eprintln!("zkha-testkit: fetching ZooKeeper {version} and its dependencies from Maven Central into {} (once)", dir.display());
    let staging = cache.join("zookeeper").join(format!(".{version}.partial"));
    let _ = fs::remove_dir_all(&staging);
    let mut cmd = Command::new(&maven.program);
    cmd.arg("-B")
        .arg("-q")
        .arg("-f")
        .arg(&pom)
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
            "Maven could not fetch org.apache.zookeeper:zookeeper:{version} from Maven Central \
             (is it reachable, and is the version right?). Retry later, or set ZKHA_ZK_CLASSPATH \
             to a directory holding the ZooKeeper server jars. Maven said:\n{}",
            tail.join("\n")
        )));
    }
    check_jar_dir(&staging, Some(version)).map_err(Error::Install)?;
    let _ = fs::remove_dir_all(&dir);
    fs::rename(&staging, &dir)?;
    File::create(&done)?;
    Ok(dir)
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
