//! What a Flink cluster on zkha needs on disk: Flink's distribution jars, the zkha plugin jar
//! and the test job's jar. Each is fetched or built once and cached in git-ignored folders:
//!
//! | what | where | how |
//! |---|---|---|
//! | Flink 2.3.0's `lib/` jars | `.cache/flink/2.3.0/lib/` | unpacked from PyPI's `apache-flink-libraries` wheel, downloaded with `pip download` into `.cache/flink/` |
//! | the zkha plugin | `jni-bridge/java/target/zkha-flink-0.1.0.jar` | `make jar` |
//! | the test job | `tests/flink-e2e/job/target/zkha-e2e-job.jar` | Maven, against the unpacked `flink-dist` jar |
//!
//! Overrides: `ZKHA_FLINK_LIB` (a directory of Flink `lib/` jars), `ZKHA_FLINK_PLUGIN_JAR`,
//! `ZKHA_CACHE_DIR` (the cache root, as for the ZooKeeper jars).

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Instant, SystemTime};

use crate::error::{Error, Result};

/// The Flink version the kit runs.
pub const FLINK_VERSION: &str = "2.3.0";

/// The PyPI distribution that carries Flink's `lib/` jars.
const WHEEL_PACKAGE: &str = "apache-flink-libraries";

/// Reports progress (downloads, builds) to a person; tests pass [`quiet`] or [`stderr`].
pub type Progress<'a> = &'a dyn Fn(&str);

/// Progress to stderr, prefixed `zkha-flink:`.
pub fn stderr(msg: &str) {
    eprintln!("zkha-flink: {msg}");
}

/// Everything needed to start a Flink cluster on zkha.
#[derive(Debug, Clone)]
pub struct Artifacts {
    /// The `java` executable.
    pub java: PathBuf,
    /// The directory of Flink's `lib/` jars (class path `<lib>/*`).
    pub flink_lib: PathBuf,
    /// The JVM options of Flink's `env.java.opts.all` (the `--add-opens` list JDK 17 needs).
    pub java_opts: Vec<String>,
    /// The zkha plugin jar.
    pub plugin_jar: PathBuf,
    /// The test job's jar (main class `io.zkha.e2e.CountingJob`).
    pub job_jar: PathBuf,
}

/// The repository root.
pub fn repo_root() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    fs::canonicalize(&root).unwrap_or(root)
}

/// `<cache>/flink`.
pub fn flink_cache() -> PathBuf {
    let cache = zkha_testkit::install::cache_dir();
    fs::canonicalize(&cache).unwrap_or(cache).join("flink")
}

impl Artifacts {
    /// Fetches or builds what is missing (once per process) and returns the paths.
    pub fn prepare(progress: Progress<'_>) -> Result<Artifacts> {
        static READY: OnceLock<Artifacts> = OnceLock::new();
        static LOCK: Mutex<()> = Mutex::new(());
        if let Some(a) = READY.get() {
            return Ok(a.clone());
        }
        let _guard = LOCK.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(a) = READY.get() {
            return Ok(a.clone());
        }
        let java = zkha_testkit::install::find_java()?;
        let flink_lib = flink_lib(progress)?;
        let java_opts = java_opts(&flink_lib)?;
        let plugin_jar = plugin_jar(progress)?;
        let job_jar = job_jar(&flink_lib, progress)?;
        let a = Artifacts {
            java,
            flink_lib,
            java_opts,
            plugin_jar,
            job_jar,
        };
        let _ = READY.set(a.clone());
        Ok(a)
    }

    /// The `flink-dist` jar.
    pub fn flink_dist(&self) -> PathBuf {
        self.flink_lib
            .join(format!("flink-dist-{FLINK_VERSION}.jar"))
    }
}

/// An exclusive lock on `<dir>/.lock` across processes, held while the file is open.
fn lock_dir(dir: &Path) -> Result<File> {
    fs::create_dir_all(dir)?;
    let file = File::create(dir.join(".lock"))?;
    // SAFETY: flock on a descriptor we own; released when the file is closed.
    unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&file), libc::LOCK_EX) };
    Ok(file)
}

/// Flink's `lib/` jars: `ZKHA_FLINK_LIB`, or `<cache>/flink/<version>/lib`, unpacked from the
/// wheel (downloaded with pip when missing).
fn flink_lib(progress: Progress<'_>) -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("ZKHA_FLINK_LIB").filter(|d| !d.is_empty()) {
        let dir = PathBuf::from(dir);
        if !dir.join(format!("flink-dist-{FLINK_VERSION}.jar")).exists() {
            return Err(Error::new(format!(
                "ZKHA_FLINK_LIB={} holds no flink-dist-{FLINK_VERSION}.jar",
                dir.display()
            )));
        }
        return Ok(dir);
    }
    let cache = flink_cache();
    let lib = cache.join(FLINK_VERSION).join("lib");
    let done = cache.join(FLINK_VERSION).join(".complete");
    if done.exists() {
        return Ok(lib);
    }
    let _lock = lock_dir(&cache)?;
    if done.exists() {
        return Ok(lib);
    }
    let staging = cache.join(FLINK_VERSION).join("lib.partial");
    // A wheel that does not unpack (an interrupted download) is fetched again, once.
    let mut attempt = 0;
    loop {
        attempt += 1;
        let wheel = match find_wheel(&cache) {
            Some(w) => w,
            None => {
                download_wheel(&cache, progress)?;
                find_wheel(&cache).ok_or_else(|| {
                    Error::new(format!(
                        "pip reported success but no {WHEEL_PACKAGE} {FLINK_VERSION} wheel is in {}",
                        cache.display()
                    ))
                })?
            }
        };
        progress(&format!(
            "unpacking Flink {FLINK_VERSION}'s lib/ jars from {} into {}",
            wheel.display(),
            lib.display()
        ));
        match unpack_lib(&wheel, &staging) {
            Ok(()) => break,
            Err(e) if attempt == 1 => {
                progress(&format!("{e}; downloading it again"));
                fs::remove_file(&wheel)?;
            }
            Err(e) => return Err(e),
        }
    }
    let _ = fs::remove_dir_all(&lib);
    fs::rename(&staging, &lib)?;
    File::create(&done)?;
    Ok(lib)
}

/// Unpacks the wheel's `pyflink/lib/*.jar` into a fresh `staging` directory.
fn unpack_lib(wheel: &Path, staging: &Path) -> Result<()> {
    let _ = fs::remove_dir_all(staging);
    fs::create_dir_all(staging)?;
    // Python is there anyway (pip); its zipfile module unpacks only the lib/ jars.
    let script = "import os, shutil, sys, zipfile\n\
        z = zipfile.ZipFile(sys.argv[1])\n\
        for name in z.namelist():\n\
        \x20   if name.startswith('pyflink/lib/') and name.endswith('.jar'):\n\
        \x20       with z.open(name) as src, open(os.path.join(sys.argv[2], os.path.basename(name)), 'wb') as dst:\n\
        \x20           shutil.copyfileobj(src, dst, 1 << 20)\n";
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(wheel)
        .arg(staging)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| Error::new(format!("cannot run python3 to unpack the wheel: {e}")))?;
    if !out.status.success() {
        return Err(Error::new(format!(
            "unpacking {} failed: {}",
            wheel.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    if !staging
        .join(format!("flink-dist-{FLINK_VERSION}.jar"))
        .exists()
    {
        return Err(Error::new(format!(
            "{} holds no pyflink/lib/flink-dist-{FLINK_VERSION}.jar",
            wheel.display()
        )));
    }
    Ok(())
}

fn find_wheel(cache: &Path) -> Option<PathBuf> {
    let prefix = format!("{}-{FLINK_VERSION}-", WHEEL_PACKAGE.replace('-', "_"));
    fs::read_dir(cache)
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&prefix) && n.ends_with(".whl"))
        })
}

/// `pip download --no-deps apache-flink-libraries==<version> -d <cache>` with pip's progress
/// bar on the terminal; a venv under the cache supplies pip where Python has none.
fn download_wheel(cache: &Path, progress: Progress<'_>) -> Result<()> {
    progress(&format!(
        "downloading Flink {FLINK_VERSION}'s jars from PyPI ({WHEEL_PACKAGE}, about 330 MB, once) into {}",
        cache.display()
    ));
    let has_pip = Command::new("python3")
        .args(["-m", "pip", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let python = if has_pip {
        PathBuf::from("python3")
    } else {
        let venv = cache.join("venv");
        if !venv.join("bin/python").exists() {
            progress("python3 has no pip: creating a venv for it under the cache");
            let ok = Command::new("python3")
                .args(["-m", "venv"])
                .arg(&venv)
                .status()
                .is_ok_and(|s| s.success());
            if !ok {
                return Err(Error::new(
                    "python3 has no pip and `python3 -m venv` failed: install python3-pip or \
                     python3-venv (Debian: apt-get install python3-venv)",
                ));
            }
        }
        venv.join("bin/python")
    };
    let started = Instant::now();
    let status = Command::new(&python)
        .args(["-m", "pip", "download", "--no-deps", "--progress-bar", "on"])
        .arg(format!("{WHEEL_PACKAGE}=={FLINK_VERSION}"))
        .arg("-d")
        .arg(cache)
        .stdin(Stdio::null())
        .status()
        .map_err(|e| Error::new(format!("cannot run pip: {e}")))?;
    if !status.success() {
        return Err(Error::new(format!(
            "`pip download {WHEEL_PACKAGE}=={FLINK_VERSION}` failed ({status}): is PyPI reachable?"
        )));
    }
    progress(&format!(
        "downloaded in {:.0} s",
        started.elapsed().as_secs_f64()
    ));
    Ok(())
}

/// The JVM options of `env.java.opts.all` in the `config.yaml` that `flink-dist` carries,
/// cached next to the lib directory.
fn java_opts(lib: &Path) -> Result<Vec<String>> {
    let dist = lib.join(format!("flink-dist-{FLINK_VERSION}.jar"));
    let script = "import sys, zipfile\n\
        for line in zipfile.ZipFile(sys.argv[1]).read('config.yaml').decode().splitlines():\n\
        \x20   s = line.strip()\n\
        \x20   if s.startswith('all:') and '--add-' in s:\n\
        \x20       print(s[4:].strip())\n\
        \x20       break\n";
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(&dist)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| Error::new(format!("cannot run python3 to read config.yaml: {e}")))?;
    let opts: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(str::to_string)
        .collect();
    if !out.status.success() || opts.is_empty() {
        return Err(Error::new(format!(
            "no env.java.opts.all in the config.yaml of {}: {}",
            dist.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(opts)
}

/// The zkha plugin jar: `ZKHA_FLINK_PLUGIN_JAR`, or the one `make jar` builds — run when the
/// jar is missing or older than the sources it is built from.
fn plugin_jar(progress: Progress<'_>) -> Result<PathBuf> {
    if let Some(jar) = std::env::var_os("ZKHA_FLINK_PLUGIN_JAR").filter(|j| !j.is_empty()) {
        let jar = PathBuf::from(jar);
        if !jar.exists() {
            return Err(Error::new(format!(
                "ZKHA_FLINK_PLUGIN_JAR={} does not exist",
                jar.display()
            )));
        }
        return Ok(jar);
    }
    let root = repo_root();
    let jar = root.join("jni-bridge/java/target/zkha-flink-0.1.0.jar");
    let sources = [
        "core/src",
        "core/Cargo.toml",
        "jni-bridge/src",
        "jni-bridge/Cargo.toml",
        "jni-bridge/java/src/main",
        "jni-bridge/java/modules",
        "jni-bridge/java/pom.xml",
    ]
    .iter()
    .filter_map(|p| newest(&root.join(p)))
    .max();
    let fresh = |jar: &Path| mtime(jar).is_some_and(|t| Some(t) >= sources);
    if fresh(&jar) {
        return Ok(jar);
    }
    let _lock = lock_dir(&flink_cache())?;
    if fresh(&jar) {
        return Ok(jar);
    }
    progress(if jar.exists() {
        "the zkha plugin jar is older than its sources: rebuilding it (`make jar`)"
    } else {
        "building the zkha Flink plugin jar (`make jar`: release natives + Maven)"
    });
    let status = Command::new("make")
        .arg("-s")
        .arg("-C")
        .arg(&root)
        .arg("jar")
        .stdin(Stdio::null())
        .status()
        .map_err(|e| Error::new(format!("cannot run make: {e}")))?;
    if !status.success() || !jar.exists() {
        return Err(Error::new(format!(
            "`make jar` failed ({status}); {} is missing",
            jar.display()
        )));
    }
    Ok(jar)
}

fn mtime(p: &Path) -> Option<SystemTime> {
    fs::metadata(p).and_then(|m| m.modified()).ok()
}

/// The newest modification time of `path` and, for a directory, of everything under it.
fn newest(path: &Path) -> Option<SystemTime> {
    let mut best = mtime(path);
    if path.is_dir() {
        for entry in fs::read_dir(path).ok()?.flatten() {
            best = best.max(newest(&entry.path()));
        }
    }
    best
}

/// The test job's jar, built with Maven when missing or older than its sources.
fn job_jar(flink_lib: &Path, progress: Progress<'_>) -> Result<PathBuf> {
    let module = repo_root().join("tests/flink-e2e/job");
    let jar = module.join("target/zkha-e2e-job.jar");
    let sources = newest(&module.join("src")).max(mtime(&module.join("pom.xml")));
    let fresh = |jar: &Path| mtime(jar).is_some_and(|t| Some(t) >= sources);
    if fresh(&jar) {
        return Ok(jar);
    }
    let _lock = lock_dir(&flink_cache())?;
    if fresh(&jar) {
        return Ok(jar);
    }
    progress("building the test job (tests/flink-e2e/job) with Maven");
    let out = Command::new("mvn")
        .args(["-B", "-q", "-f"])
        .arg(module.join("pom.xml"))
        .arg(format!(
            "-Dmaven.repo.local={}",
            zkha_testkit::install::cache_dir().join("m2").display()
        ))
        .arg(format!(
            "-Dflink.dist={}",
            flink_lib
                .join(format!("flink-dist-{FLINK_VERSION}.jar"))
                .display()
        ))
        .arg("package")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| {
            Error::new(format!(
                "cannot run Maven (`mvn`) to build the test job: {e}; install it (apt-get install maven)"
            ))
        })?;
    if !out.status.success() || !jar.exists() {
        return Err(Error::new(format!(
            "building the test job failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(jar)
}
