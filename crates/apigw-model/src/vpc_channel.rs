//! Load balance (VPC) channels (SPEC §9, `otc-api/vpc_channel_management`): a set of backend
//! servers an API's calls are balanced over, with member groups and a health check. No I/O.
//!
//! The data plane reads a [`VpcChannel`] whole (members, groups and health check inside it);
//! the control plane validates and stores it (the checks below, each error naming its field).

use crate::field::Errors;
use serde::{Deserialize, Serialize};

/// A load balance channel of servers (`type` 2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VpcChannel {
    pub id: String,
    pub instance_id: String,
    /// 3–64 characters, a letter first, then letters, digits, `-`, `_` and `.`; unique per
    /// instance.
    pub name: String,
    /// The members' port where a member gives 0 (1–65535).
    pub port: u16,
    /// How calls are spread over the members.
    pub balance_strategy: BalanceStrategy,
    /// `ip` or `ecs` (as given; see docs/control-plane.md for what `ecs` members are here).
    pub member_type: String,
    /// Always 2 (servers); 3 (microservices) is refused.
    pub channel_type: i32,
    /// Stored as given.
    pub dict_code: String,
    pub create_time: i64,
    /// The groups members may belong to.
    pub member_groups: Vec<MemberGroup>,
    pub members: Vec<Member>,
    /// The active health check; `None`: members are never checked (and only marked down
    /// passively, by refused connections).
    pub health: Option<HealthConfig>,
}

/// `balance_strategy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BalanceStrategy {
    /// 1: weighted round robin.
    RoundRobin,
    /// 2: weighted least connections.
    LeastConnections,
    /// 3: source IP hash.
    SourceHash,
    /// 4: URI hash.
    UriHash,
}

impl BalanceStrategy {
    /// The strategy APIG numbers `n`.
    pub fn from_code(n: i64) -> Option<Self> {
        match n {
            1 => Some(Self::RoundRobin),
            2 => Some(Self::LeastConnections),
            3 => Some(Self::SourceHash),
            4 => Some(Self::UriHash),
            _ => None,
        }
    }

    /// APIG's number for it.
    pub fn code(self) -> i64 {
        match self {
            Self::RoundRobin => 1,
            Self::LeastConnections => 2,
            Self::SourceHash => 3,
            Self::UriHash => 4,
        }
    }
}

/// A backend server of a channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub id: String,
    /// An IP address or host name (≤ 64).
    pub host: String,
    /// 0–65535; 0 takes the channel's port.
    pub port: u16,
    /// 0–10000; 0 gets no new calls.
    pub weight: u32,
    /// Serves only while no primary member is healthy.
    pub is_backup: bool,
    /// The member group it belongs to; empty for none.
    pub member_group_name: String,
    pub member_group_id: String,
    /// 1 enabled, 2 disabled (batch enable/disable).
    pub status: i32,
    /// Stored as given (`ecs` members).
    pub ecs_id: String,
    pub ecs_name: String,
    pub create_time: i64,
}

impl Member {
    /// Whether the member may be given calls at all (enabled).
    pub fn enabled(&self) -> bool {
        self.status == 1
    }
}

/// A member group of a channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberGroup {
    pub id: String,
    /// 3–64 characters, as a channel's name; unique per channel.
    pub name: String,
    /// ≤ 255.
    pub remark: String,
    /// 0–100; when set, every member of the group takes this weight.
    pub weight: Option<u32>,
    pub dict_code: String,
    pub create_time: i64,
    pub update_time: i64,
}

/// `vpc_health_config`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthConfig {
    pub id: String,
    /// `TCP`, `HTTP` or `HTTPS`.
    pub protocol: HealthProtocol,
    /// The path an HTTP(S) check asks for (required for HTTP and HTTPS).
    pub path: String,
    /// `GET` or `HEAD`.
    pub method: String,
    /// The port checked; 0 or absent: each member's own.
    pub port: u16,
    /// Successes in a row that bring a member back (1–10).
    pub threshold_normal: u32,
    /// Failures in a row that take a member out (1–10).
    pub threshold_abnormal: u32,
    /// Seconds between checks (1–300).
    pub time_interval: u32,
    /// Seconds a check may take (1–30, less than `time_interval`).
    pub timeout: u32,
    /// The answers an HTTP(S) check counts as healthy, such as `200,201-299`.
    pub http_code: String,
    /// Stored as given.
    pub enable_client_ssl: bool,
    /// 1 (stored as given).
    pub status: i32,
    pub create_time: i64,
}

/// `vpc_health_config.protocol`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum HealthProtocol {
    Tcp,
    Http,
    Https,
}

impl HealthProtocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tcp => "TCP",
            Self::Http => "HTTP",
            Self::Https => "HTTPS",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "TCP" => Some(Self::Tcp),
            "HTTP" => Some(Self::Http),
            "HTTPS" => Some(Self::Https),
            _ => None,
        }
    }
}

/// Whether `status` is one of the codes `http_code` lists (`200,201-299`); `None` when
/// `http_code` is not such a list.
pub fn code_matches(http_code: &str, status: u16) -> Option<bool> {
    let mut hit = false;
    for part in http_code.split(',') {
        let part = part.trim();
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (a.trim().parse::<u16>().ok()?, b.trim().parse::<u16>().ok()?),
            None => {
                let n = part.parse::<u16>().ok()?;
                (n, n)
            }
        };
        if !(100..=599).contains(&lo) || !(100..=599).contains(&hi) || lo > hi {
            return None;
        }
        hit |= (lo..=hi).contains(&status);
    }
    Some(hit)
}

/// Most channels one instance may have (the create page: "a maximum of 30"; APIG.3109).
pub const MAX_PER_INSTANCE: u64 = 30;

/// The documented ranges of the integer fields, for the control plane to check a number
/// before it becomes one of the narrower types above.
pub mod range {
    pub const PORT: (i64, i64) = (1, 65535);
    pub const MEMBER_PORT: (i64, i64) = (0, 65535);
    pub const WEIGHT: (i64, i64) = (0, 10000);
    pub const GROUP_WEIGHT: (i64, i64) = (0, 100);
    pub const THRESHOLD: (i64, i64) = (1, 10);
    pub const TIME_INTERVAL: (i64, i64) = (1, 300);
    pub const TIMEOUT: (i64, i64) = (1, 30);
}

/// Checks a channel's or a member group's name: 3–64 characters, a letter first, then
/// letters, digits, `-`, `_` and `.`.
pub fn check_name(errs: &mut Errors, name: &str, field: &str) {
    let ok = (3..=64).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    errs.check(
        ok,
        field,
        "3 to 64 characters: a letter first, then letters, digits, '-', '_' and '.'",
    );
}

/// Checks a `dict_code` (empty, or 3–64 letters, digits, `-`, `_` and `.`).
pub fn check_dict_code(errs: &mut Errors, code: &str, field: &str) {
    let ok = code.is_empty()
        || ((3..=64).contains(&code.len())
            && code
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)));
    errs.check(ok, field, "3 to 64 letters, digits, '-', '_' and '.'");
}

/// Checks a member's address: an IPv4 or IPv6 address or a host name, at most 64 characters.
pub fn check_host(errs: &mut Errors, host: &str, field: &str) {
    let name = |h: &str| {
        h.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
    };
    let ok =
        (1..=64).contains(&host.len()) && (host.parse::<std::net::IpAddr>().is_ok() || name(host));
    errs.check(
        ok,
        field,
        "must be an IP address or a host name of at most 64 characters",
    );
}

/// `{prefix}.{name}`, or `name` when the prefix is empty.
fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

/// Checks a member (fields named `{prefix}.host` …, bare with an empty prefix).
pub fn check_member(errs: &mut Errors, m: &Member, prefix: &str) {
    check_host(errs, &m.host, &join(prefix, "host"));
    errs.range(
        i64::from(m.weight),
        range::WEIGHT.0,
        range::WEIGHT.1,
        &join(prefix, "weight"),
    );
    errs.check(
        matches!(m.status, 1 | 2),
        join(prefix, "status"),
        "must be 1 (enabled) or 2 (disabled)",
    );
    errs.len(&m.ecs_id, 0, 255, &join(prefix, "ecs_id"));
    errs.len(&m.ecs_name, 0, 64, &join(prefix, "ecs_name"));
}

/// Checks a member group (fields named `{prefix}.member_group_name` …, bare with an empty
/// prefix).
pub fn check_group(errs: &mut Errors, g: &MemberGroup, prefix: &str) {
    check_name(errs, &g.name, &join(prefix, "member_group_name"));
    errs.len(&g.remark, 0, 255, &join(prefix, "member_group_remark"));
    if let Some(w) = g.weight {
        errs.range(
            i64::from(w),
            range::GROUP_WEIGHT.0,
            range::GROUP_WEIGHT.1,
            &join(prefix, "member_group_weight"),
        );
    }
    check_dict_code(errs, &g.dict_code, &join(prefix, "dict_code"));
}

/// Checks a health check (fields named `{prefix}.protocol` …, or bare with an empty prefix):
/// the ranges, `path` and a valid `http_code` for HTTP and HTTPS, `timeout` below
/// `time_interval`.
pub fn check_health(errs: &mut Errors, h: &HealthConfig, prefix: &str) {
    let field = |name: &str| join(prefix, name);
    let web = h.protocol != HealthProtocol::Tcp;
    if web {
        errs.check(
            h.path.starts_with('/') && h.path.len() <= 255,
            field("path"),
            "is mandatory for HTTP and HTTPS: a path starting with '/', at most 255 characters",
        );
        errs.check(
            code_matches(&h.http_code, 200).is_some(),
            field("http_code"),
            "is mandatory for HTTP and HTTPS: codes 100-599 such as 200,201-299",
        );
    }
    errs.check(
        matches!(h.method.as_str(), "GET" | "HEAD"),
        field("method"),
        "must be GET or HEAD",
    );
    for (v, (lo, hi), name) in [
        (h.threshold_normal, range::THRESHOLD, "threshold_normal"),
        (h.threshold_abnormal, range::THRESHOLD, "threshold_abnormal"),
        (h.time_interval, range::TIME_INTERVAL, "time_interval"),
        (h.timeout, range::TIMEOUT, "timeout"),
    ] {
        errs.range(i64::from(v), lo, hi, &field(name));
    }
    errs.check(
        h.timeout < h.time_interval,
        field("timeout"),
        "must be less than time_interval",
    );
    errs.check(matches!(h.status, 1 | 2), field("status"), "must be 1 or 2");
}

/// Checks a whole channel: its own fields, each member and group, group names unique, and
/// every member's group one of the channel's.
pub fn check_channel(errs: &mut Errors, c: &VpcChannel) {
    check_name(errs, &c.name, "name");
    errs.range(i64::from(c.port), range::PORT.0, range::PORT.1, "port");
    errs.check(
        matches!(c.member_type.as_str(), "ip" | "ecs"),
        "member_type",
        "must be ip or ecs",
    );
    errs.check(
        c.channel_type == 2,
        "type",
        "must be 2 (servers); microservice channels (3) are not supported",
    );
    check_dict_code(errs, &c.dict_code, "dict_code");
    for (i, g) in c.member_groups.iter().enumerate() {
        check_group(errs, g, &format!("member_groups[{i}]"));
        if c.member_groups[..i].iter().any(|o| o.name == g.name) {
            errs.add(
                format!("member_groups[{i}].member_group_name"),
                format!("duplicate group name {}", g.name),
            );
        }
    }
    for (i, m) in c.members.iter().enumerate() {
        check_member(errs, m, &format!("members[{i}]"));
        if !m.member_group_name.is_empty()
            && !c
                .member_groups
                .iter()
                .any(|g| g.name == m.member_group_name)
        {
            errs.add(
                format!("members[{i}].member_group_name"),
                format!("no member group {} in the channel", m.member_group_name),
            );
        }
    }
    if let Some(h) = &c.health {
        check_health(errs, h, "vpc_health_config");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_code_lists_and_ranges_match_statuses() {
        assert_eq!(code_matches("200", 200), Some(true));
        assert_eq!(code_matches("200,201-299", 250), Some(true));
        assert_eq!(code_matches("200,201-299", 300), Some(false));
        assert_eq!(code_matches("200-", 200), None);
        assert_eq!(code_matches("300-200", 250), None);
        assert_eq!(code_matches("", 200), None);
        assert_eq!(code_matches("99", 99), None);
    }

    fn channel() -> VpcChannel {
        VpcChannel {
            id: "c".into(),
            instance_id: "i".into(),
            name: "VPC_demo".into(),
            port: 22,
            balance_strategy: BalanceStrategy::RoundRobin,
            member_type: "ip".into(),
            channel_type: 2,
            dict_code: String::new(),
            create_time: 0,
            member_groups: vec![MemberGroup {
                id: "g".into(),
                name: "test".into(),
                remark: String::new(),
                weight: Some(1),
                dict_code: String::new(),
                create_time: 0,
                update_time: 0,
            }],
            members: vec![Member {
                id: "m".into(),
                host: "192.168.0.5".into(),
                port: 0,
                weight: 1,
                is_backup: false,
                member_group_name: "test".into(),
                member_group_id: "g".into(),
                status: 1,
                ecs_id: String::new(),
                ecs_name: String::new(),
                create_time: 0,
            }],
            health: Some(HealthConfig {
                id: "h".into(),
                protocol: HealthProtocol::Http,
                path: "/vpc/demo".into(),
                method: "GET".into(),
                port: 22,
                threshold_normal: 2,
                threshold_abnormal: 5,
                time_interval: 10,
                timeout: 5,
                http_code: "200".into(),
                enable_client_ssl: false,
                status: 1,
                create_time: 0,
            }),
        }
    }

    fn fields(c: &VpcChannel) -> Vec<String> {
        let mut e = Errors::default();
        check_channel(&mut e, c);
        e.0.into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn the_pages_example_channel_is_valid() {
        assert!(fields(&channel()).is_empty());
    }

    #[test]
    fn every_bad_field_of_a_channel_is_named() {
        let mut c = channel();
        c.name = "1abc".into();
        c.channel_type = 3;
        c.member_type = "pod".into();
        c.members[0].host = "not a host".into();
        c.members[0].weight = 10001;
        c.members[0].member_group_name = "other".into();
        c.member_groups[0].weight = Some(101);
        let h = c.health.as_mut().unwrap();
        h.path = String::new();
        h.http_code = "200-".into();
        h.timeout = 10;
        h.threshold_normal = 11;
        assert_eq!(
            fields(&c),
            [
                "name",
                "member_type",
                "type",
                "member_groups[0].member_group_weight",
                "members[0].host",
                "members[0].weight",
                "members[0].member_group_name",
                "vpc_health_config.path",
                "vpc_health_config.http_code",
                "vpc_health_config.threshold_normal",
                "vpc_health_config.timeout",
            ]
        );
    }

    #[test]
    fn a_tcp_check_needs_neither_path_nor_codes() {
        let mut c = channel();
        let h = c.health.as_mut().unwrap();
        h.protocol = HealthProtocol::Tcp;
        h.path = String::new();
        h.http_code = String::new();
        assert!(fields(&c).is_empty());
    }

    #[test]
    fn group_names_are_unique_in_a_channel() {
        let mut c = channel();
        c.member_groups.push(c.member_groups[0].clone());
        assert_eq!(fields(&c), ["member_groups[1].member_group_name"]);
    }
}
