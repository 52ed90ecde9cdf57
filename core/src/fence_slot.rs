//! A fence source that is bound later: stores created before the election that guards them
//! (Flink creates its stores and its leader election independently) refuse writes until an
//! election is bound, and then write under that election's current grant.

use std::sync::{Arc, Mutex};

use crate::election::Election;
use crate::error::{Error, ErrorKind, Result};
use crate::fence::{Fence, FenceSource};

/// A slot holding the election whose grant fences writes.
#[derive(Clone, Default)]
pub struct FenceSlot {
    election: Arc<Mutex<Option<Election>>>,
}

impl FenceSlot {
    /// An empty slot: writes are refused until [`FenceSlot::bind`].
    pub fn new() -> FenceSlot {
        FenceSlot::default()
    }

    /// Binds (or replaces) the election.
    pub fn bind(&self, election: Election) {
        *self.election.lock().unwrap_or_else(|p| p.into_inner()) = Some(election);
    }

    /// Unbinds: writes are refused again.
    pub fn unbind(&self) {
        *self.election.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }
}

impl FenceSource for FenceSlot {
    fn current_fence(&self) -> Result<Fence> {
        let election = self
            .election
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        match election {
            Some(e) => e.fence(),
            None => Err(Error::new(
                ErrorKind::NotLeader,
                "no leader election is bound to guard this write",
            )),
        }
    }

    fn leads(&self) -> bool {
        let election = self.election.lock().unwrap_or_else(|p| p.into_inner());
        election.as_ref().is_some_and(|e| e.has_leadership())
    }
}
