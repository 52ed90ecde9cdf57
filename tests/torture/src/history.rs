//! What workers record: one JSON line per record, every time on [`crate::clock`], flushed at
//! once (a worker killed with SIGKILL loses nothing it wrote).

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

/// One recorded fact. Times are nanoseconds of [`crate::clock::now`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "ev", rename_all = "snake_case")]
pub enum Record {
    /// The worker process started.
    Started {
        t: u64,
        worker: String,
        role: String,
        pid: u32,
    },
    /// A connection state of the worker's client (with its session id), for diagnosis.
    State {
        t: u64,
        worker: String,
        state: String,
    },
    /// An election grant (event).
    Granted { t: u64, worker: String, token: i64 },
    /// An election revocation (event).
    Revoked {
        t: u64,
        worker: String,
        reason: String,
    },
    /// Belief, sampled every millisecond: from the first sample of `has_leadership()` (or
    /// `is_held()`) true ...
    BeliefStart {
        t: u64,
        worker: String,
        what: String,
        token: i64,
    },
    /// ... to the last sample that was still true.
    BeliefEnd {
        t: u64,
        worker: String,
        what: String,
    },
    /// A fenced write of the register (elections) or the counter (mutex): `value` is what it
    /// wrote (the counter value, or the write's sequence number).
    FencedWrite {
        t_sent: u64,
        t_done: u64,
        worker: String,
        what: String,
        token: i64,
        value: u64,
        ok: bool,
        error: Option<String>,
    },
    /// A pointer-store entry added and locked (acknowledged).
    AddAck {
        t_sent: u64,
        t_done: u64,
        worker: String,
        name: String,
    },
    /// A release-and-try-remove of an entry was sent (from here on it may be gone).
    RemoveSent {
        t: u64,
        worker: String,
        name: String,
    },
    /// The entry names a pointer-store owner listed (after a sync).
    Snapshot {
        t_start: u64,
        t_end: u64,
        worker: String,
        names: Vec<String>,
    },
    /// A config value written (acknowledged or not).
    ConfigWrite {
        t_sent: u64,
        t_done: u64,
        worker: String,
        value: u64,
        ok: bool,
    },
    /// The config value a watcher holds after a change.
    ConfigSeen {
        t: u64,
        worker: String,
        value: Option<u64>,
    },
    /// The worker stopped gracefully.
    Stopped { t: u64, worker: String },
}

/// Appends records to one worker's file.
pub struct Recorder {
    out: Mutex<File>,
}

impl Recorder {
    /// Creates (truncates) the worker's file.
    pub fn create(path: &Path) -> std::io::Result<Recorder> {
        Ok(Recorder {
            out: Mutex::new(File::create(path)?),
        })
    }

    /// Writes one record as a line, at once.
    pub fn put(&self, r: &Record) {
        let mut line = serde_json::to_vec(r).unwrap_or_default();
        line.push(b'\n');
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        let _ = out.write_all(&line);
    }
}

/// Every record in the `*.jsonl` files of `dir` (a line cut short by a kill is skipped).
pub fn read_dir(dir: &Path) -> std::io::Result<Vec<Record>> {
    let mut all = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(dir)?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    files.sort();
    for f in files {
        for line in BufReader::new(File::open(&f)?)
            .lines()
            .map_while(Result::ok)
        {
            if let Ok(r) = serde_json::from_str::<Record>(&line) {
                all.push(r);
            }
        }
    }
    Ok(all)
}
