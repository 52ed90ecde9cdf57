//! One clock for every process of a round: `CLOCK_MONOTONIC` in nanoseconds (all processes
//! run on one host, so their readings compare).

/// Now, in nanoseconds of `CLOCK_MONOTONIC`.
pub fn now() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the timespec it is given.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64) * 1_000_000_000 + ts.tv_nsec as u64
}

/// Milliseconds between two readings, for reports.
pub fn ms(from: u64, to: u64) -> f64 {
    (to as f64 - from as f64) / 1e6
}
