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
    let mut out = [0u8; 32];
    out[..16].copy_from_slice(&hex_word(next()));
    out[16..].copy_from_slice(&hex_word(next()));
    String::from(std::str::from_utf8(&out).expect("hex is ASCII"))
}

/// `word` as 16 lowercase hex digits, the 16 nibbles turned into digits side by side in two
/// words (a digit loop costs ~5 instructions a digit, on every call's request id).
fn hex_word(word: u64) -> [u8; 16] {
    const LOW_NIBBLES: u64 = 0x0f0f_0f0f_0f0f_0f0f;
    // Each byte n (0..=15) becomes b'0' + n, or b'a' + n - 10 when n > 9: adding 6 carries
    // into bit 4 exactly then, and b'a' - b'0' - 10 = 39.
    let digits = |n: u64| {
        let over_nine = ((n + 0x0606_0606_0606_0606) >> 4) & 0x0101_0101_0101_0101;
        (n + 0x3030_3030_3030_3030 + over_nine * 39).to_be_bytes()
    };
    let high = digits((word >> 4) & LOW_NIBBLES);
    let low = digits(word & LOW_NIBBLES);
    let mut out = [0u8; 16];
    for i in 0..8 {
        out[2 * i] = high[i];
        out[2 * i + 1] = low[i];
    }
    out
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
    fn a_word_is_written_as_its_sixteen_hex_digits() {
        for word in [
            0,
            1,
            9,
            10,
            15,
            0x0123_4567_89ab_cdef,
            u64::MAX,
            0xa5f0_0f5a_9c3e_e3c9,
        ] {
            assert_eq!(
                hex_word(word),
                *format!("{word:016x}").as_bytes(),
                "{word:#x}"
            );
        }
    }

    #[test]
    fn request_ids_are_32_lowercase_hex_and_distinct() {
        let ids: std::collections::HashSet<String> = (0..10_000).map(|_| request_id()).collect();
        assert_eq!(ids.len(), 10_000);
        assert!(ids
            .iter()
            .all(|i| i.len() == 32 && i.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'))));
    }
}
