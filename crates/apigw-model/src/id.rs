//! Resource ids: 32 lowercase hexadecimal characters, as APIG prints them.

/// A fresh random id (128 bits from the OS generator, hex-encoded).
pub fn new_id() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the OS random generator is available");
    hex::encode(bytes)
}

/// A request id: 32 hex characters, unique with overwhelming probability, made without a
/// system call (a per-thread xorshift generator seeded once from the OS). Not for secrets.
pub fn request_id() -> String {
    use std::cell::Cell;
    thread_local! {
        static STATE: Cell<u64> = Cell::new({
            let mut seed = [0u8; 8];
            getrandom::fill(&mut seed).expect("the OS random generator is available");
            u64::from_le_bytes(seed) | 1
        });
    }
    let next = || {
        STATE.with(|s| {
            // xorshift64*
            let mut x = s.get();
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            s.set(x);
            x.wrapping_mul(0x2545_F491_4F6C_DD1D)
        })
    };
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = [0u8; 32];
    for (i, word) in [next(), next()].into_iter().enumerate() {
        for j in 0..16 {
            out[i * 16 + j] = HEX[((word >> (60 - 4 * j)) & 0xf) as usize];
        }
    }
    String::from_utf8(out.to_vec()).expect("hex is ASCII")
}

/// A fresh random secret of `n` bytes, hex-encoded (used for generated keys and tokens).
pub fn new_secret(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    getrandom::fill(&mut bytes).expect("the OS random generator is available");
    hex::encode(bytes)
}

/// Whether `s` has the shape of an apigw id. Ids from outside are only ever compared with stored
/// ones, so this is a cheap guard against absurd input, not a security boundary.
pub fn is_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_ids_are_32_lowercase_hex_and_distinct() {
        let a = new_id();
        let b = new_id();
        assert_eq!(a.len(), 32);
        assert!(a
            .bytes()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)));
        assert_ne!(a, b);
    }

    #[test]
    fn request_ids_are_32_hex_and_distinct() {
        let ids: std::collections::HashSet<String> = (0..10_000).map(|_| request_id()).collect();
        assert_eq!(ids.len(), 10_000);
        assert!(ids
            .iter()
            .all(|i| i.len() == 32 && i.bytes().all(|c| c.is_ascii_hexdigit())));
    }
}
