//! Reading the cluster's log files: every line the kit's log4j layout writes starts with the
//! epoch milliseconds, so log events line up with the kit's own clock.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// One log event: its time (epoch ms) and its text (the first line; stack traces follow it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// Milliseconds since the epoch.
    pub epoch_ms: u64,
    /// The line after the timestamp.
    pub text: String,
}

/// The log4j2 layout of every process: epoch ms, wall clock, level, thread, logger, message.
pub const PATTERN: &str = "%d{UNIX_MILLIS} %d{HH:mm:ss.SSS} %-5p [%t] %c{1} - %m%n";

/// Every event of the log at `path` (none if it does not exist yet).
pub fn events(path: &Path) -> Vec<LogLine> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|line| {
            let (ms, rest) = line.split_once(' ')?;
            if ms.len() < 12 || !ms.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            Some(LogLine {
                epoch_ms: ms.parse().ok()?,
                text: rest.to_string(),
            })
        })
        .collect()
}

/// The events of the log at `path` whose text contains `needle`.
pub fn grep(path: &Path, needle: &str) -> Vec<LogLine> {
    events(path)
        .into_iter()
        .filter(|l| l.text.contains(needle))
        .collect()
}

/// Every line of the log at `path` containing `needle`, stack-trace lines included, each with
/// the time of the event it belongs to.
pub fn grep_all(path: &Path, needle: &str) -> Vec<LogLine> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    let mut at = 0;
    let mut out = Vec::new();
    for line in text.lines() {
        if let Some((ms, _)) = line.split_once(' ') {
            if ms.len() >= 12 && ms.bytes().all(|b| b.is_ascii_digit()) {
                at = ms.parse().unwrap_or(at);
            }
        }
        if line.contains(needle) {
            out.push(LogLine {
                epoch_ms: at,
                text: line.trim().to_string(),
            });
        }
    }
    out
}

/// Milliseconds since the epoch of `t`.
pub fn epoch_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Signed milliseconds from `origin` (epoch ms) to `t` (epoch ms).
pub fn offset_ms(origin: u64, t: u64) -> i64 {
    t as i64 - origin as i64
}

/// Lines of the log at `path` at or after `since_ms` that tell of a fatal error (Flink's
/// entrypoint's `Fatal error occurred ...`, its uncaught-exception handler's `FATAL: ...`).
pub fn fatal_errors(path: &Path, since_ms: u64) -> Vec<String> {
    events(path)
        .into_iter()
        .filter(|l| l.epoch_ms >= since_ms)
        .filter(|l| l.text.contains("Fatal error") || l.text.contains("FATAL"))
        .map(|l| l.text)
        .collect()
}

/// ERROR-level events of the log at `path` at or after `since_ms` (their first line).
pub fn errors(path: &Path, since_ms: u64) -> Vec<String> {
    events(path)
        .into_iter()
        .filter(|l| l.epoch_ms >= since_ms && l.text.split_whitespace().nth(1) == Some("ERROR"))
        .map(|l| l.text)
        .collect()
}

/// The zkha sessions a process logged (`zkha connected: session 0x...`), in order.
pub fn zkha_sessions(path: &Path) -> Vec<i64> {
    grep(path, "zkha connected: session 0x")
        .iter()
        .filter_map(|l| {
            let hex = l.text.split("session 0x").nth(1)?;
            let hex: String = hex.chars().take_while(char::is_ascii_hexdigit).collect();
            u64::from_str_radix(&hex, 16).ok().map(|v| v as i64)
        })
        .collect()
}

/// The last `n` lines of a file (all of a stack trace included), for failure reports.
pub fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// A one-line rendering of a duration in ms with one decimal.
pub fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}
