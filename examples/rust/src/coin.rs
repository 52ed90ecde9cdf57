//! A coin for the benchmarks' A/B and run orders (xorshift64*, seeded from the clock: the
//! order only has to be unrelated to the machine's rhythms, not secret). Shared by the bench
//! programs through `#[path]`.

/// The coin.
pub struct Coin(u64);

impl Coin {
    /// Seeded from the clock.
    pub fn seeded() -> Coin {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x9e37_79b9_7f4a_7c15);
        Coin(nanos | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Heads or tails.
    #[allow(dead_code)] // each program uses a part
    pub fn flip(&mut self) -> bool {
        self.next() >> 63 == 1
    }

    /// Shuffles `v` (Fisher-Yates).
    #[allow(dead_code)]
    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = (self.next() >> 33) as usize % (i + 1);
            v.swap(i, j);
        }
    }
}
