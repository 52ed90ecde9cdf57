//! The one process-wide tokio runtime shared by every binding in a process.
//!
//! Two named worker threads (`zkha-worker`). Async Rust callers can await zkha futures from
//! any executor: zkha spawns its own work here. Sync entry points (bindings) use
//! [`block_on`], which runs the future on a worker (with its large stack) and parks the
//! caller, so a small-stack JVM or Python thread never polls zkha futures itself.

use std::future::Future;
use std::sync::OnceLock;

use tokio::runtime::{Builder, Handle, Runtime};

use crate::error::{Error, ErrorKind, Result};

static RUNTIME: OnceLock<Runtime> = OnceLock::new();

/// The shared runtime's handle (started on first use).
pub fn handle() -> &'static Handle {
    RUNTIME
        .get_or_init(|| {
            Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("zkha-worker")
                .on_thread_start(block_sigpipe)
                .enable_all()
                .build()
                .expect("zkha: cannot start the tokio runtime")
        })
        .handle()
}

/// Blocks SIGPIPE in the calling thread. A write to a socket whose peer reset it raises
/// SIGPIPE in the writing thread, and C and JVM hosts keep its default action: terminating
/// the process. `send` can be told not to (MSG_NOSIGNAL) but the ZooKeeper client writes with
/// `writev`; blocked, the signal stays pending on this thread and the write fails with EPIPE,
/// which the client handles as the connection loss it is. Every thread of zkha's runtime runs
/// this first; the host's own threads and its disposition are left alone.
pub(crate) fn block_sigpipe() {
    #[cfg(unix)]
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGPIPE);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}

/// Spawns `fut` on the shared runtime.
pub fn spawn<F>(fut: F) -> tokio::task::JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    handle().spawn(fut)
}

/// Runs `fut` on the shared runtime and awaits its result from any executor; a task that
/// cannot complete because the runtime is going away counts as a closed client.
pub(crate) async fn run<F, T>(fut: F) -> Result<T>
where
    F: Future<Output = Result<T>> + Send + 'static,
    T: Send + 'static,
{
    spawn(fut).await.map_err(|_| Error::closed("client"))?
}

/// Runs `fut` on the shared runtime and waits for it from a thread outside the runtime.
///
/// Must not be called from a zkha runtime thread (that would deadlock a worker); doing so
/// returns an error instead.
pub fn block_on<F, T>(fut: F) -> Result<T>
where
    F: Future<Output = Result<T>> + Send + 'static,
    T: Send + 'static,
{
    if Handle::try_current().is_ok_and(|h| h.id() == handle().id()) {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            "a blocking zkha call was made from a zkha runtime thread (a callback); use the async API there",
        ));
    }
    let join = handle().spawn(fut);
    match futures_lite_block_on(join) {
        Ok(r) => r,
        Err(e) if e.is_panic() => Err(Error::new(
            ErrorKind::ZooKeeper,
            "internal error: a zkha task panicked",
        )),
        Err(_) => Err(Error::closed("the zkha runtime")),
    }
}

/// Parks the current thread until `fut` completes (the future is a JoinHandle: all work
/// happens on the runtime).
fn futures_lite_block_on<F: Future>(fut: F) -> F::Output {
    // A current-thread runtime just for parking; the JoinHandle is woken by the shared runtime.
    thread_local! {
        static PARKER: Runtime = Builder::new_current_thread().build().expect("parker runtime");
    }
    PARKER.with(|rt| rt.block_on(fut))
}

#[cfg(test)]
mod tests {
    use std::io::IoSlice;
    use std::time::Duration;

    use tokio::io::AsyncWriteExt;

    use super::*;

    /// The child of [`a_host_with_default_sigpipe_survives_writes_to_a_reset_socket`].
    #[test]
    fn sigpipe_child() {
        if std::env::var_os("ZKHA_SIGPIPE_CHILD").is_none() {
            return;
        }
        // A C or JVM host keeps SIGPIPE's default action (the Rust test harness ignores it).
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let wrote = block_on(async move {
            let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
            let (peer, _) = listener.accept().unwrap();
            // Close with a reset: later writes fail with EPIPE.
            socket_linger_zero(&peer);
            drop(peer);
            tokio::time::sleep(Duration::from_millis(50)).await;
            let mut errors = 0;
            for _ in 0..5 {
                // zookeeper-client writes with write_vectored: writev, which has no
                // MSG_NOSIGNAL.
                if stream
                    .write_vectored(&[IoSlice::new(b"ping")])
                    .await
                    .is_err()
                {
                    errors += 1;
                }
                let _ = stream.flush().await;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            Ok(errors)
        })
        .unwrap();
        assert!(wrote > 0, "the writes to a reset socket failed");
        println!("SIGPIPE-CHILD-SURVIVED {wrote}");
    }

    fn socket_linger_zero(s: &std::net::TcpStream) {
        use std::os::fd::AsRawFd;
        let linger = libc::linger {
            l_onoff: 1,
            l_linger: 0,
        };
        unsafe {
            libc::setsockopt(
                s.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_LINGER,
                &linger as *const _ as *const libc::c_void,
                std::mem::size_of::<libc::linger>() as libc::socklen_t,
            )
        };
    }

    /// A write to a socket whose peer reset it raises SIGPIPE in the writing thread; a C host
    /// keeps SIGPIPE's default action, which kills the process (seen: c_stale's child died of
    /// signal 13 when the server closed its expired session's connection). zkha's threads
    /// block it, so the write fails with EPIPE and the host lives.
    #[test]
    fn a_host_with_default_sigpipe_survives_writes_to_a_reset_socket() {
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "runtime::tests::sigpipe_child", "--nocapture"])
            .env("ZKHA_SIGPIPE_CHILD", "1")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("SIGPIPE-CHILD-SURVIVED"),
            "the child: {:?}\n{stdout}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
