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
                .enable_all()
                .build()
                .expect("zkha: cannot start the tokio runtime")
        })
        .handle()
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
