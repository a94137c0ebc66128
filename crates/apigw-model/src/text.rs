//! Text written on every call (the data plane's hot path): IP addresses and JSON strings
//! without `core::fmt`, which costs more than the work itself at these sizes.

use std::net::IpAddr;

/// Appends `ip` as `Display` writes it (dotted quad; IPv6 through `Display`). A dotted quad is
/// written on the stack from a table of the 256 octets' digits and appended once (it is
/// written on every proxied call).
pub fn push_ip(out: &mut Vec<u8>, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            let mut text = [0u8; 16];
            let mut n = 0;
            for octet in v4.octets() {
                // Each octet's digits and a dot; the last dot is left off.
                let (digits, len) = OCTETS[usize::from(octet)];
                text[n..n + 4].copy_from_slice(&digits);
                n += usize::from(len);
            }
            out.extend_from_slice(&text[..n - 1]);
        }
        IpAddr::V6(v6) => {
            use std::io::Write;
            let _ = write!(out, "{v6}");
        }
    }
}

/// Each octet's decimal digits followed by a dot, and how many bytes that is.
const OCTETS: [([u8; 4], u8); 256] = {
    let mut t = [([0u8; 4], 0u8); 256];
    let mut i = 0;
    while i < 256 {
        let o = i as u8;
        t[i] = if o >= 100 {
            ([b'0' + o / 100, b'0' + o / 10 % 10, b'0' + o % 10, b'.'], 4)
        } else if o >= 10 {
            ([b'0' + o / 10, b'0' + o % 10, b'.', 0], 3)
        } else {
            ([b'0' + o, b'.', 0, 0], 2)
        };
        i += 1;
    }
    t
};

/// Bytes a JSON string cannot hold as they are (control characters, `"`, `\\`), and DEL, which
/// is left to `serde_json` too.
const NEEDS_CARE: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        t[b] = true;
        b += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t[0x7f] = true;
    t
};

/// Whether `bytes` go into a JSON string as they are: ASCII that needs no care (one pass over
/// bytes not known to be UTF-8, where checking UTF-8 and then escaping would take two).
pub fn is_plain_json(bytes: &[u8]) -> bool {
    bytes.iter().all(|&b| b < 0x80 && !NEEDS_CARE[b as usize])
}

/// Appends `s` as a JSON string (quoted, escaped as `serde_json` escapes it).
pub fn push_json_str(out: &mut Vec<u8>, s: &str) {
    let plain = !s.bytes().any(|b| NEEDS_CARE[b as usize]);
    if plain {
        out.reserve(s.len() + 2);
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        // Writing to a Vec cannot fail.
        let _ = serde_json::to_writer(out, s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    #[test]
    fn ip_addresses_are_written_as_display_writes_them() {
        let mut samples: Vec<IpAddr> = (0..=255u8)
            .flat_map(|a| {
                [0u8, 1, 9, 10, 99, 100, 199, 200, 255].map(|b| Ipv4Addr::new(a, b, 7, 255 - a))
            })
            .map(IpAddr::V4)
            .collect();
        samples.push(IpAddr::V6(Ipv6Addr::LOCALHOST));
        samples.push("2001:db8::8a2e:370:7334".parse().unwrap());
        for ip in samples {
            let mut out = b"x".to_vec();
            push_ip(&mut out, ip);
            assert_eq!(out, format!("x{ip}").into_bytes());
        }
    }

    #[test]
    fn only_printable_ascii_without_quotes_or_backslashes_is_plain_json() {
        for plain in [
            "",
            "/v1/users/42?x=1",
            "Mozilla/5.0 (X11; Linux x86_64)",
            "~ !#",
        ] {
            assert!(is_plain_json(plain.as_bytes()), "{plain:?}");
            let mut out = Vec::new();
            push_json_str(&mut out, plain);
            assert_eq!(&out[1..out.len() - 1], plain.as_bytes(), "written as it is");
        }
        for not in ["a\"b", "a\\b", "tab\there", "\u{7f}", "é", "\0"] {
            assert!(!is_plain_json(not.as_bytes()), "{not:?}");
        }
    }

    #[test]
    fn json_strings_match_serde_json_for_plain_and_escaped_text() {
        for s in [
            "",
            "/v1/users/42",
            "Mozilla/5.0 (X11; Linux x86_64)",
            "quote \" and backslash \\",
            "tab\tnew line\n bell\u{7} del\u{7f}",
            "ünïcödé ✓",
        ] {
            let mut out = Vec::new();
            push_json_str(&mut out, s);
            assert_eq!(out, serde_json::to_vec(s).unwrap(), "{s:?}");
        }
    }
}
