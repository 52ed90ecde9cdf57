//! A failover timeline: events measured with `Instant`s (and log events placed by their
//! epoch-ms timestamps) relative to one origin, printed as a table.

use std::fmt;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use crate::logs;

/// Events relative to an origin (the fault).
#[derive(Debug, Clone)]
pub struct Timeline {
    title: String,
    origin: Instant,
    origin_epoch_ms: u64,
    events: Vec<(String, i64)>,
}

impl Timeline {
    /// A timeline whose origin is now.
    pub fn start(title: impl Into<String>) -> Timeline {
        Timeline {
            title: title.into(),
            origin: Instant::now(),
            origin_epoch_ms: logs::epoch_ms(SystemTime::now()),
            events: Vec::new(),
        }
    }

    /// The origin.
    pub fn origin(&self) -> Instant {
        self.origin
    }

    /// The origin in epoch milliseconds (to compare with log lines).
    pub fn origin_epoch_ms(&self) -> u64 {
        self.origin_epoch_ms
    }

    /// Records `label` at `at`; returns its offset from the origin.
    pub fn mark(&mut self, label: impl Into<String>, at: Instant) -> Duration {
        let d = at.saturating_duration_since(self.origin);
        self.events.push((label.into(), d.as_millis() as i64));
        d
    }

    /// Records `label` at a log event's epoch-ms time; returns its signed offset in ms.
    pub fn mark_epoch_ms(&mut self, label: impl Into<String>, epoch_ms: u64) -> i64 {
        let off = logs::offset_ms(self.origin_epoch_ms, epoch_ms);
        self.events.push((label.into(), off));
        off
    }

    /// Marks the first event of the log at `path` at or after the origin that contains
    /// `needle`, labelled `(<who> log) <message>`; returns its offset in ms.
    pub fn mark_log(&mut self, who: &str, path: &Path, needle: &str) -> Option<i64> {
        let l = logs::grep(path, needle)
            .into_iter()
            .find(|l| l.epoch_ms >= self.origin_epoch_ms)?;
        let msg = l.text.split_once(" - ").map_or(l.text.as_str(), |(_, m)| m);
        Some(self.mark_epoch_ms(format!("({who} log) {msg}"), l.epoch_ms))
    }

    /// Records a note without a time.
    pub fn note(&mut self, label: impl Into<String>) {
        self.events.push((label.into(), i64::MIN));
    }
}

impl fmt::Display for Timeline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "  timeline: {}", self.title)?;
        // In time order; notes (no time) last.
        let mut events: Vec<&(String, i64)> = self.events.iter().collect();
        events.sort_by_key(|(_, ms)| if *ms == i64::MIN { i64::MAX } else { *ms });
        for (label, ms) in events {
            if *ms == i64::MIN {
                writeln!(f, "  {:>10}  {label}", "")?;
            } else {
                writeln!(f, "  {:>+8} ms  {label}", ms)?;
            }
        }
        Ok(())
    }
}
