//! Access control policies (SPEC §10, `otc-api/access_control_policy_management`): who may call
//! the APIs a policy is bound to, by client IP or by the IAM caller's account. Validation and
//! the compiled form the data plane checks ([`IpSet`], [`Names`]); no I/O.

use crate::field::Errors;
use std::net::IpAddr;

/// An access control policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acl {
    pub id: String,
    pub instance_id: String,
    /// 3–64 characters: a letter first, then letters, digits and `_`; unique per instance
    /// (APIG.3206).
    pub name: String,
    /// Whether the listed callers are the only ones let in or the ones kept out.
    pub acl_type: AclType,
    /// What `value` lists: IPs, account names or account ids.
    pub entity_type: EntityType,
    /// The comma-separated entries, as written.
    pub value: String,
    pub update_time: i64,
}

/// A policy bound to an API in an environment (`AclApiBindingInfo`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclBinding {
    pub id: String,
    pub instance_id: String,
    pub acl_id: String,
    pub api_id: String,
    pub env_id: String,
    /// The policy's kind, copied when bound (and when the policy changes): the key of "one
    /// policy of each kind per API and environment".
    pub kind: AclKind,
    pub create_time: i64,
}

/// `PERMIT` (whitelist) or `DENY` (blacklist).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AclType {
    Permit,
    Deny,
}

/// `IP`, `DOMAIN` (account names) or `DOMAIN_ID` (account ids).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntityType {
    Ip,
    Domain,
    DomainId,
}

/// The two kinds an API takes one policy of per environment: IP and account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AclKind {
    Ip,
    Account,
}

macro_rules! names {
    ($t:ident { $($v:ident = $s:literal),+ }) => {
        impl $t {
            pub fn as_str(self) -> &'static str {
                match self { $($t::$v => $s),+ }
            }
        }
        impl std::str::FromStr for $t {
            type Err = ();
            fn from_str(s: &str) -> Result<Self, ()> {
                match s { $($s => Ok($t::$v),)+ _ => Err(()) }
            }
        }
        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
names!(AclType { Permit = "PERMIT", Deny = "DENY" });
names!(EntityType { Ip = "IP", Domain = "DOMAIN", DomainId = "DOMAIN_ID" });
names!(AclKind { Ip = "IP", Account = "ACCOUNT" });

impl EntityType {
    pub fn kind(self) -> AclKind {
        match self {
            EntityType::Ip => AclKind::Ip,
            EntityType::Domain | EntityType::DomainId => AclKind::Account,
        }
    }
}

/// Most entries of an IP policy.
pub const MAX_IPS: usize = 100;
/// Longest account name.
pub const MAX_NAME: usize = 64;
/// Longest `acl_value` of an account policy.
pub const MAX_ACCOUNT_VALUE: usize = 1024;

/// Checks a policy's name.
pub fn check_name(errs: &mut Errors, name: &str, field: &str) {
    let mut chars = name.chars();
    let ok = (3..=64).contains(&name.len())
        && chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    errs.check(
        ok,
        field,
        "3 to 64 characters: a letter first, then letters, digits and '_'",
    );
}

/// Checks `acl_value` for its entity type.
pub fn check_value(errs: &mut Errors, entity: EntityType, value: &str, field: &str) {
    let result = match entity {
        EntityType::Ip => IpSet::parse(value).map(drop),
        EntityType::Domain => names(value, |n| {
            if n.len() > MAX_NAME || !n.is_ascii() || n.bytes().all(|b| b.is_ascii_digit()) {
                Err(format!(
                    "account name {n:?}: at most {MAX_NAME} ASCII characters, not only digits"
                ))
            } else {
                Ok(())
            }
        }),
        EntityType::DomainId => names(value, |n| {
            if n.len() > MAX_NAME || !n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
                Err(format!(
                    "account id {n:?}: at most {MAX_NAME} letters, digits and '-'"
                ))
            } else {
                Ok(())
            }
        }),
    };
    if let Err(why) = result {
        errs.add(field, why);
    }
}

/// Splits an account policy's value, checking each entry and the whole length.
fn names(value: &str, each: impl Fn(&str) -> Result<(), String>) -> Result<(), String> {
    if value.is_empty() || value.len() > MAX_ACCOUNT_VALUE {
        return Err(format!("1 to {MAX_ACCOUNT_VALUE} characters"));
    }
    for n in value.split(',') {
        if n.trim().is_empty() {
            return Err("an empty entry".into());
        }
        each(n.trim())?;
    }
    Ok(())
}

/// The compiled entries of an account policy: sorted, so a check is a binary search.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Names(Vec<String>);

impl Names {
    pub fn parse(value: &str) -> Self {
        let mut v: Vec<String> = value
            .split(',')
            .map(|n| n.trim().to_string())
            .filter(|n| !n.is_empty())
            .collect();
        v.sort();
        v.dedup();
        Names(v)
    }

    pub fn contains(&self, name: &str) -> bool {
        self.0.binary_search_by(|n| n.as_str().cmp(name)).is_ok()
    }
}

/// The compiled entries of an IP policy: disjoint, sorted inclusive ranges per family, so a
/// check is a binary search. An IPv4-mapped IPv6 client address is checked as IPv4.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IpSet {
    v4: Vec<(u32, u32)>,
    v6: Vec<(u128, u128)>,
}

impl IpSet {
    /// Parses comma-separated entries: an address (`192.168.1.5`, `::1`), a range
    /// (`192.168.1.1-192.168.1.9`, both ends of one family, first ≤ last) or a CIDR
    /// (`10.0.0.0/8`, `2001:db8::/32`); 1 to [`MAX_IPS`] entries.
    pub fn parse(value: &str) -> Result<Self, String> {
        let entries: Vec<&str> = value.split(',').map(str::trim).collect();
        if value.trim().is_empty() || entries.len() > MAX_IPS {
            return Err(format!("1 to {MAX_IPS} IP addresses, ranges or CIDRs"));
        }
        let mut set = IpSet::default();
        for e in entries {
            match entry(e)
                .ok_or_else(|| format!("{e:?} is not an IP address, range (a-b) or CIDR (a/n)"))?
            {
                Entry::V4(a, b) => set.v4.push((a, b)),
                Entry::V6(a, b) => set.v6.push((a, b)),
            }
        }
        set.v4 = merge(set.v4);
        set.v6 = merge(set.v6);
        Ok(set)
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match ip {
            IpAddr::V4(a) => within(&self.v4, u32::from(a)),
            IpAddr::V6(a) => match a.to_ipv4_mapped() {
                Some(a4) => within(&self.v4, u32::from(a4)),
                None => within(&self.v6, u128::from(a)),
            },
        }
    }
}

enum Entry {
    V4(u32, u32),
    V6(u128, u128),
}

fn entry(e: &str) -> Option<Entry> {
    if let Some((a, b)) = e.split_once('-') {
        return match (
            a.trim().parse::<IpAddr>().ok()?,
            b.trim().parse::<IpAddr>().ok()?,
        ) {
            (IpAddr::V4(a), IpAddr::V4(b)) if a <= b => Some(Entry::V4(a.into(), b.into())),
            (IpAddr::V6(a), IpAddr::V6(b)) if a <= b => Some(Entry::V6(a.into(), b.into())),
            _ => None,
        };
    }
    if let Some((a, n)) = e.split_once('/') {
        let n: u32 = n.parse().ok()?;
        return match a.parse::<IpAddr>().ok()? {
            IpAddr::V4(a) if n <= 32 => {
                let mask = u32::MAX.checked_shl(32 - n).unwrap_or(0);
                let lo = u32::from(a) & mask;
                Some(Entry::V4(lo, lo | !mask))
            }
            IpAddr::V6(a) if n <= 128 => {
                let mask = u128::MAX.checked_shl(128 - n).unwrap_or(0);
                let lo = u128::from(a) & mask;
                Some(Entry::V6(lo, lo | !mask))
            }
            _ => None,
        };
    }
    match e.parse::<IpAddr>().ok()? {
        IpAddr::V4(a) => Some(Entry::V4(a.into(), a.into())),
        IpAddr::V6(a) => Some(Entry::V6(a.into(), a.into())),
    }
}

/// Sorts ranges and merges the overlapping and adjacent ones.
fn merge<T: Copy + Ord + num::Step>(mut r: Vec<(T, T)>) -> Vec<(T, T)> {
    r.sort();
    let mut out: Vec<(T, T)> = Vec::with_capacity(r.len());
    for (a, b) in r {
        match out.last_mut() {
            Some(last) if a <= last.1.next_or_max() => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

fn within<T: Copy + Ord>(ranges: &[(T, T)], x: T) -> bool {
    // The last range starting at or before x.
    let i = ranges.partition_point(|r| r.0 <= x);
    i > 0 && x <= ranges[i - 1].1
}

mod num {
    /// The next integer (saturating), to merge adjacent ranges.
    pub(super) trait Step {
        fn next_or_max(self) -> Self;
    }
    impl Step for u32 {
        fn next_or_max(self) -> Self {
            self.saturating_add(1)
        }
    }
    impl Step for u128 {
        fn next_or_max(self) -> Self {
            self.saturating_add(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ip_sets_hold_addresses_ranges_and_cidrs_of_both_families() {
        let s = IpSet::parse("192.168.1.5, 10.0.0.0/8,172.16.0.1-172.16.0.9,2001:db8::/32,::1")
            .unwrap();
        for yes in [
            "192.168.1.5",
            "10.255.0.1",
            "172.16.0.1",
            "172.16.0.9",
            "2001:db8::7",
            "::1",
            "::ffff:10.1.2.3",
        ] {
            assert!(s.contains(ip(yes)), "{yes}");
        }
        for no in [
            "192.168.1.6",
            "11.0.0.0",
            "172.16.0.10",
            "2001:db9::",
            "::2",
        ] {
            assert!(!s.contains(ip(no)), "{no}");
        }
        assert!(IpSet::parse("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
        assert!(IpSet::parse("::/0").unwrap().contains(ip("fe80::1")));
    }

    #[test]
    fn overlapping_and_adjacent_ranges_are_merged() {
        let s = IpSet::parse("10.0.0.0/24,10.0.1.0/24,10.0.0.5,9.0.0.0-10.0.0.3").unwrap();
        assert_eq!(s.v4.len(), 1);
        assert!(s.contains(ip("10.0.1.255")) && !s.contains(ip("10.0.2.0")));
    }

    #[test]
    fn bad_values_are_refused() {
        for bad in [
            "",
            "1.2.3",
            "1.2.3.4/33",
            "1.2.3.9-1.2.3.1",
            "1.2.3.4-::1",
            "1.2.3.4,",
            "example.com",
        ] {
            assert!(IpSet::parse(bad).is_err(), "{bad:?}");
        }
        let many = vec!["1.1.1.1"; 101].join(",");
        assert!(IpSet::parse(&many).is_err());
        assert!(IpSet::parse(&vec!["1.1.1.1"; 100].join(",")).is_ok());
    }

    #[test]
    fn names_and_account_values_follow_apig_rules() {
        let mut e = Errors::default();
        check_name(&mut e, "acl_demo", "acl_name");
        check_value(&mut e, EntityType::Domain, "alice,bob_1", "acl_value");
        check_value(&mut e, EntityType::DomainId, "0a1b2c,p1", "acl_value");
        assert!(e.0.is_empty(), "{:?}", e.0);
        for bad in ["ab", "1abc", "a-bc", &"a".repeat(65)] {
            check_name(&mut e, bad, "acl_name");
        }
        for bad in [
            "",
            "12345",
            &"a".repeat(65),
            "a,,b",
            &vec!["abc"; 300].join(","),
        ] {
            check_value(&mut e, EntityType::Domain, bad, "acl_value");
        }
        check_value(&mut e, EntityType::DomainId, "a b", "acl_value");
        assert_eq!(e.0.len(), 10);
        let n = Names::parse("bob, alice");
        assert!(n.contains("alice") && n.contains("bob") && !n.contains("carol"));
    }
}
