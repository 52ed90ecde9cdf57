//! Java Curator peers (`tests/java-peers`) as child processes with a line protocol, for
//! interop tests: a Curator `LeaderLatch` or `InterProcessMutex` next to zkha's own.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::install;
use crate::spawn;

static BUILD_LOCK: Mutex<()> = Mutex::new(());

fn project_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../java-peers")
}

/// Builds the peer with Maven once (skipped while its jar is newer than its sources) and
/// returns the class path to run it with.
pub fn classpath() -> Result<String> {
    let _guard = BUILD_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    let dir = project_dir();
    let stamp = dir.join("target/lib/.complete");
    let source = dir.join("src/main/java/io/zkha/peers/CuratorPeer.java");
    let fresh = match (std::fs::metadata(&stamp), std::fs::metadata(&source)) {
        (Ok(s), Ok(src)) => s.modified().ok() >= src.modified().ok(),
        _ => false,
    };
    if !fresh {
        let lock_path = install::cache_dir().join("java-peers.lock");
        std::fs::create_dir_all(install::cache_dir())?;
        let lock = std::fs::File::create(lock_path)?;
        // SAFETY: flock on a descriptor we own; released on close.
        unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&lock), libc::LOCK_EX) };
        eprintln!("zkha-testkit: building the Curator peer (tests/java-peers) with Maven");
        let out = Command::new("mvn")
            .args(["-B", "-q", "-f"])
            .arg(dir.join("pom.xml"))
            .arg(format!(
                "-Dmaven.repo.local={}",
                install::cache_dir().join("m2").display()
            ))
            .args(["package", "-DskipTests"])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| {
                Error::Install(format!("cannot run mvn to build tests/java-peers: {e}"))
            })?;
        if !out.status.success() {
            return Err(Error::Install(format!(
                "building tests/java-peers failed:\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        std::fs::write(&stamp, b"")?;
    }
    Ok(format!(
        "{}:{}/*",
        dir.join("target/classes").display(),
        dir.join("target/lib").display()
    ))
}

/// A running Curator peer.
pub struct CuratorPeer {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<(Instant, String)>,
    /// Every line seen so far, with the instant it arrived.
    pub seen: Vec<(Instant, String)>,
}

impl CuratorPeer {
    /// Starts a `LeaderLatch` peer on `latch_path` as `id`.
    pub fn latch(
        connect: &str,
        session_timeout: Duration,
        latch_path: &str,
        id: &str,
    ) -> Result<CuratorPeer> {
        Self::start(connect, session_timeout, &["latch", latch_path, id])
    }

    /// Starts an `InterProcessMutex` peer on `lock_path`.
    pub fn mutex(connect: &str, session_timeout: Duration, lock_path: &str) -> Result<CuratorPeer> {
        Self::start(connect, session_timeout, &["mutex", lock_path])
    }

    fn start(connect: &str, session_timeout: Duration, args: &[&str]) -> Result<CuratorPeer> {
        let cp = classpath()?;
        let java = install::find_java()?;
        let mut cmd = Command::new(java);
        cmd.arg("-XX:+UseSerialGC")
            .arg("-Xmx128m")
            .arg("-cp")
            .arg(cp)
            .arg("io.zkha.peers.CuratorPeer")
            .arg(connect)
            .arg(session_timeout.as_millis().to_string())
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = spawn::spawn_tied(cmd)?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send((Instant::now(), line)).is_err() {
                    break;
                }
            }
        });
        let mut peer = CuratorPeer {
            child,
            stdin,
            lines: rx,
            seen: Vec::new(),
        };
        peer.expect("READY", Duration::from_secs(60))?;
        Ok(peer)
    }

    /// Sends one command line.
    pub fn send(&mut self, command: &str) -> Result<()> {
        let stdin = self
            .stdin
            .as_mut()
            .ok_or_else(|| Error::Usage("peer stdin closed".into()))?;
        writeln!(stdin, "{command}")?;
        stdin.flush()?;
        Ok(())
    }

    /// Waits for a line equal to `want` (or starting with it), returning its arrival time.
    pub fn expect(&mut self, want: &str, timeout: Duration) -> Result<Instant> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok((at, line)) => {
                    self.seen.push((at, line.clone()));
                    if line == want || line.starts_with(&format!("{want} ")) {
                        return Ok(at);
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    return Err(Error::Timeout(format!(
                        "Curator peer did not print {want:?} within {timeout:?}; it printed {:?}",
                        self.seen.iter().map(|(_, l)| l).collect::<Vec<_>>()
                    )))
                }
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(Error::Start(format!(
                        "Curator peer exited before printing {want:?}; it printed {:?}",
                        self.seen.iter().map(|(_, l)| l).collect::<Vec<_>>()
                    )))
                }
            }
        }
    }

    /// Sends `command` and returns the first reply line starting with `reply_prefix`.
    pub fn ask(&mut self, command: &str, reply_prefix: &str, timeout: Duration) -> Result<String> {
        self.send(command)?;
        self.expect(reply_prefix, timeout)?;
        Ok(self.seen.last().map(|(_, l)| l.clone()).unwrap_or_default())
    }

    /// Lines that arrived so far without waiting.
    pub fn drain(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        while let Ok((at, line)) = self.lines.try_recv() {
            self.seen.push((at, line.clone()));
            out.push(line);
        }
        out
    }

    /// Kills the peer's JVM at once (SIGKILL).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for CuratorPeer {
    fn drop(&mut self) {
        self.stdin.take();
        let deadline = Instant::now() + Duration::from_secs(5);
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        self.kill();
    }
}
