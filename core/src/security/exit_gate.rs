//! A gate in front of a native library whose teardown at process exit races the threads still
//! calling it. MIT Kerberos destroys its mutexes in its destructors (run by `exit`); a zkha
//! worker thread inside a GSS-API call at that moment then fails an assertion and aborts the
//! whole process. An `atexit` handler closes the gate before any library destructor runs:
//! calls in flight are waited for (boundedly), later ones are refused.

use std::sync::{Condvar, Mutex};
use std::time::Duration;

/// Counts the calls in flight; once closed, lets none in.
pub(crate) struct ExitGate {
    /// (closed, calls in flight)
    state: Mutex<(bool, usize)>,
    drained: Condvar,
}

/// One call's pass through the gate; leaving it lets a closing gate go on.
pub(crate) struct Pass<'a>(&'a ExitGate);

impl ExitGate {
    /// An open gate.
    pub(crate) const fn new() -> ExitGate {
        ExitGate {
            state: Mutex::new((false, 0)),
            drained: Condvar::new(),
        }
    }

    /// A pass for one call, or `None` once the gate is closed (the process is exiting).
    pub(crate) fn enter(&self) -> Option<Pass<'_>> {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if s.0 {
            return None;
        }
        s.1 += 1;
        Some(Pass(self))
    }

    /// Closes the gate and waits up to `wait` for the calls in flight; true if none is left.
    /// (A call blocked on the network longer than that is left to its fate: exiting must not
    /// hang.)
    pub(crate) fn close(&self, wait: Duration) -> bool {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.0 = true;
        let (s, _) = self
            .drained
            .wait_timeout_while(s, wait, |s| s.1 > 0)
            .unwrap_or_else(|p| p.into_inner());
        s.1 == 0
    }
}

impl Drop for Pass<'_> {
    fn drop(&mut self) {
        let mut s = self.0.state.lock().unwrap_or_else(|p| p.into_inner());
        s.1 -= 1;
        if s.1 == 0 {
            self.0.drained.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Instant;

    #[test]
    fn closing_waits_for_the_call_in_flight_and_refuses_later_ones() {
        let gate = Arc::new(ExitGate::new());
        let (entered, go) = (
            std::sync::mpsc::channel::<()>(),
            std::sync::mpsc::channel::<()>(),
        );
        let g = gate.clone();
        let call = std::thread::spawn(move || {
            let _pass = g.enter().expect("open");
            entered.0.send(()).unwrap();
            go.1.recv().unwrap();
            std::thread::sleep(Duration::from_millis(200));
        });
        entered.1.recv().unwrap();
        go.0.send(()).unwrap();
        let t = Instant::now();
        assert!(gate.close(Duration::from_secs(5)), "drained");
        assert!(
            t.elapsed() >= Duration::from_millis(150),
            "close waited for the call: {:?}",
            t.elapsed()
        );
        assert!(gate.enter().is_none(), "closed: no call gets in");
        call.join().unwrap();
    }

    #[test]
    fn closing_gives_up_on_a_call_that_does_not_end() {
        let gate = ExitGate::new();
        let pass = gate.enter().unwrap();
        let t = Instant::now();
        assert!(!gate.close(Duration::from_millis(100)));
        assert!(t.elapsed() < Duration::from_secs(2));
        drop(pass);
        assert!(gate.enter().is_none());
    }
}
