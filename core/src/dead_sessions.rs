//! Sessions whose process the liveness link proved gone: a contender that took over from a
//! dead predecessor records the predecessor's session here. ZooKeeper keeps such a session,
//! and its ephemeral nodes, until it expires (the session timeout after the crash); what it
//! held meanwhile is held by no one. The pointer store uses this to release a dead owner's
//! lock at once, as the session's expiry would a little later (see
//! [`crate::PointerStore::release_and_try_remove`]).

use std::collections::VecDeque;
use std::sync::Mutex;

/// How many dead sessions a client remembers (each takeover adds one).
const REMEMBERED: usize = 256;

/// The sessions of processes found dead, newest last.
#[derive(Default)]
pub(crate) struct DeadSessions {
    ids: Mutex<VecDeque<i64>>,
}

impl DeadSessions {
    /// Records that the process of session `id` is gone.
    pub(crate) fn note(&self, id: i64) {
        if id == 0 {
            return;
        }
        let mut ids = self.ids.lock().unwrap_or_else(|p| p.into_inner());
        if !ids.contains(&id) {
            if ids.len() == REMEMBERED {
                ids.pop_front();
            }
            ids.push_back(id);
        }
    }

    /// True if the process of session `id` was found dead.
    pub(crate) fn contains(&self, id: i64) -> bool {
        id != 0
            && self
                .ids
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .contains(&id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_the_newest_and_never_session_zero() {
        let d = DeadSessions::default();
        d.note(0);
        assert!(!d.contains(0));
        for id in 1..=(REMEMBERED as i64 + 1) {
            d.note(id);
        }
        d.note(5);
        assert!(!d.contains(1), "the oldest is forgotten");
        assert!(d.contains(2) && d.contains(REMEMBERED as i64 + 1));
    }
}
