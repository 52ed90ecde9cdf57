//! Free TCP ports below the kernel's ephemeral range.
//!
//! A port that `bind(0)` hands out is released before the server that gets it binds it, and
//! meanwhile any outgoing connection or `bind(0)` on the machine may take it; a ZooKeeper
//! server also binds its quorum port only when it becomes the leader, maybe hours later. With
//! thousands of client sockets open (the scale bench), a new leader once found its quorum port
//! taken and the ensemble never recovered. Below the ephemeral range
//! (`ip_local_port_range`, 32768 by default) only an explicit bind takes a port.

use std::io;
use std::net::TcpListener;

/// Where the search starts: below it are well-known and registered services.
const FLOOR: u32 = 10000;

/// A port free right now, below the ephemeral range when there is room (else any free port);
/// its socket is kept in `held` so the caller can pick more before releasing them all.
pub fn free_port(held: &mut Vec<TcpListener>) -> io::Result<u16> {
    let low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse::<u32>().ok())
        .unwrap_or(32768);
    if low > FLOOR + 1000 {
        let span = low - FLOOR;
        // A different order per process and call.
        let mut x = (crate::ensemble::unique() ^ (u64::from(std::process::id()) << 32)) | 1;
        for _ in 0..200 {
            // xorshift.
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let port = (FLOOR + (x % u64::from(span)) as u32) as u16;
            if let Ok(l) = TcpListener::bind(("127.0.0.1", port)) {
                held.push(l);
                return Ok(port);
            }
        }
    }
    let l = TcpListener::bind("127.0.0.1:0")?;
    let port = l.local_addr()?.port();
    held.push(l);
    Ok(port)
}

/// `n` distinct ports free right now (see [`free_port`]).
pub fn free_ports(n: usize) -> io::Result<Vec<u16>> {
    let mut held = Vec::new();
    (0..n).map(|_| free_port(&mut held)).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn ports_lie_below_the_ephemeral_range() {
        let low: u16 = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
            .ok()
            .and_then(|r| r.split_whitespace().next()?.parse().ok())
            .unwrap_or(32768);
        let ports = super::free_ports(20).unwrap();
        let mut distinct = ports.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), 20, "{ports:?}");
        if u32::from(low) > super::FLOOR + 1000 {
            assert!(ports.iter().all(|&p| p < low), "{ports:?} below {low}");
        }
    }
}
