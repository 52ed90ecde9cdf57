//! Starting child processes that die with the test process.
//!
//! Children get `PR_SET_PDEATHSIG = SIGKILL` and their own process group. The kernel sends
//! the signal when the *thread* that forked the child exits, so every child is forked by one
//! long-lived spawner thread: a JVM started from a short test thread survives that thread, yet
//! is killed when the process ends for any reason (panic, abort, SIGKILL of the test binary),
//! where `Drop` would not run.

use std::io;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};
use std::sync::mpsc::{channel, Sender};
use std::sync::{Mutex, OnceLock};

type Request = (Command, Sender<io::Result<Child>>);

static SPAWNER: OnceLock<Mutex<Sender<Request>>> = OnceLock::new();

/// Spawns `cmd` from the process-lifetime spawner thread with a parent-death signal.
pub fn spawn_tied(mut cmd: Command) -> io::Result<Child> {
    // SAFETY: only async-signal-safe calls (prctl, setpgid) between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(io::Error::last_os_error());
            }
            libc::setpgid(0, 0);
            Ok(())
        });
    }
    let spawner = SPAWNER.get_or_init(|| {
        let (tx, rx) = channel::<Request>();
        std::thread::Builder::new()
            .name("zkha-testkit-spawner".into())
            .spawn(move || {
                for (mut cmd, reply) in rx {
                    let _ = reply.send(cmd.spawn());
                }
            })
            .expect("start the spawner thread");
        Mutex::new(tx)
    });
    let (reply_tx, reply_rx) = channel();
    spawner
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .send((cmd, reply_tx))
        .map_err(|_| io::Error::other("spawner thread is gone"))?;
    reply_rx
        .recv()
        .map_err(|_| io::Error::other("spawner thread is gone"))?
}

/// Sends `signal` to process `pid`; `Ok` if it was delivered.
pub fn signal(pid: u32, signal: libc::c_int) -> io::Result<()> {
    // SAFETY: kill(2) with a pid we started.
    if unsafe { libc::kill(pid as libc::pid_t, signal) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The largest file a secured ensemble's server or KDC may write (its log above all): 1 GiB.
/// A ZooKeeper server whose Kerberos tickets outlive nothing can log gigabytes in minutes.
pub const LOG_SIZE_LIMIT: u64 = 1 << 30;

/// Limits every file `cmd`'s process writes to `bytes` (`RLIMIT_FSIZE`); writes past it fail
/// (`SIGXFSZ` is ignored, as the JVM does anyway) instead of filling the disk.
pub fn limit_file_size(cmd: &mut Command, bytes: u64) {
    // SAFETY: only async-signal-safe calls (setrlimit, signal) between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            let limit = libc::rlimit {
                rlim_cur: bytes as libc::rlim_t,
                rlim_max: bytes as libc::rlim_t,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) != 0 {
                return Err(io::Error::last_os_error());
            }
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            Ok(())
        });
    }
}
