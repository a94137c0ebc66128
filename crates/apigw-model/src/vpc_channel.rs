//! Load balance (VPC) channels (SPEC §9, `otc-api/vpc_channel_management`): a set of backend
//! servers an API's calls are balanced over, with member groups and a health check. No I/O.
//!
//! The data plane reads a [`VpcChannel`] whole (members, groups and health check inside it);
//! the control plane validates and stores it.

/// A load balance channel of servers (`type` 2).
#[derive(Debug, Clone, PartialEq, Eq)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
#[derive(Debug, Clone, PartialEq, Eq)]
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
#[derive(Debug, Clone, PartialEq, Eq)]
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
#[derive(Debug, Clone, PartialEq, Eq)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
}
