//! Hash maps looked up on every request with keys of a few bytes (hosts, environment names,
//! path segments): FNV-1a instead of SipHash. The maps are built from the configuration; a
//! client only picks which key to look up, which cannot lengthen the probes of a table it did
//! not fill.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

pub type FnvMap<K, V> = HashMap<K, V, BuildHasherDefault<Fnv>>;

/// The FNV-1a hash (64 bits).
#[derive(Debug, Clone, Copy)]
pub struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}
