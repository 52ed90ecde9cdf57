//! Core `tracing` events forwarded to Python `logging`.

use super::*;

/// Maximum tracing level forwarded to Python (0 off, 1 error .. 5 trace).
pub(crate) static LOG_LEVEL: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);
pub(crate) static LOG_TX: OnceLock<SyncSender<(u8, String, String)>> = OnceLock::new();

pub(crate) fn level_num(l: &tracing::Level) -> u8 {
    match *l {
        tracing::Level::ERROR => 1,
        tracing::Level::WARN => 2,
        tracing::Level::INFO => 3,
        tracing::Level::DEBUG => 4,
        tracing::Level::TRACE => 5,
    }
}

pub(crate) struct PyLogLayer;

pub(crate) struct Fields(String);

impl tracing::field::Visit for Fields {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        use std::fmt::Write;
        if field.name() == "message" {
            let _ = write!(
                self.0,
                "{}{value:?}",
                if self.0.is_empty() { "" } else { " " }
            );
        } else {
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for PyLogLayer {
    fn register_callsite(
        &self,
        _: &'static tracing::Metadata<'static>,
    ) -> tracing::subscriber::Interest {
        tracing::subscriber::Interest::sometimes()
    }

    fn enabled(
        &self,
        m: &tracing::Metadata<'_>,
        _: tracing_subscriber::layer::Context<'_, S>,
    ) -> bool {
        level_num(m.level()) <= LOG_LEVEL.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn on_event(&self, e: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        let Some(tx) = LOG_TX.get() else { return };
        let mut f = Fields(String::new());
        e.record(&mut f);
        let m = e.metadata();
        let name = format!("zkha.{}", m.target().replace("::", "."))
            .replace("zkha.zkha", "zkha")
            .trim_end_matches('.')
            .to_string();
        // Never block a runtime thread on Python: drop records when the queue is full.
        if let Err(TrySendError::Full(_)) = tx.try_send((level_num(m.level()), name, f.0)) {}
    }
}

/// Forwards core `tracing` events at or above `level` (1 error .. 5 trace, 0 off) to Python
/// `logging` (logger `zkha.<module>`), on a dedicated thread that never blocks the runtime.
#[pyfunction]
pub(crate) fn set_log_level(level: u8) {
    LOG_LEVEL.store(level.min(5), std::sync::atomic::Ordering::Relaxed);
    LOG_TX.get_or_init(|| {
        // The queue's slots are allocated and touched up front (64 bytes each): 1024 is
        // 64 KiB of resident memory (10 000 were 640 KiB) and absorbs any burst short of
        // trace level, where dropping is the documented answer to a slow consumer.
        let (tx, rx) = sync_channel::<(u8, String, String)>(1024);
        let _ = std::thread::Builder::new()
            .name("zkha-log".into())
            .spawn(move || {
                while let Ok((lvl, name, msg)) = rx.recv() {
                    let py_level = [0, 40, 30, 20, 10, 5][lvl as usize];
                    let alive = Python::try_attach(|py| {
                        let _ = py
                            .import("logging")
                            .and_then(|l| l.call_method1("getLogger", (name,)))
                            .and_then(|lg| lg.call_method1("log", (py_level, msg)));
                    });
                    if alive.is_none() {
                        break;
                    }
                }
            });
        use tracing_subscriber::layer::SubscriberExt;
        let _ = tracing::subscriber::set_global_default(
            tracing_subscriber::registry().with(PyLogLayer),
        );
        tx
    });
}
