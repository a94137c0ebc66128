//! Load balance channels on the data plane (SPEC §9): which member of a channel a call goes to
//! (weighted round robin, weighted least connections, source IP hash, URI hash), which members
//! are in rotation (enabled, weight above 0, healthy; backups only while no primary is), and
//! the members' health, kept across snapshots.
//!
//! A [`Channel`] is built from a stored channel and shared by every route that uses it. The
//! members in rotation are a precomputed [`Table`] (cumulative weights), swapped whenever a
//! member's health changes, so a pick costs one atomic add and a binary search. The health
//! checks themselves are in [`health`].

pub mod health;

use crate::fnv::Fnv;
use crate::upstream::{Pool, Upstream};
use apigw_model::vpc_channel::{BalanceStrategy, HealthConfig, VpcChannel};
use arc_swap::ArcSwap;
use http::header::HeaderValue;
use http::uri::{Authority, Scheme};
use std::collections::HashMap;
use std::hash::Hasher;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

/// How long a member that refused a connection stays out of rotation when its channel has no
/// active health check to bring it back.
pub const PASSIVE_COOLDOWN: Duration = Duration::from_secs(10);

/// The health of one member, kept across snapshots while the member stays in its channel.
#[derive(Debug)]
pub struct MemberState {
    healthy: AtomicBool,
    /// Consecutive successful checks while out of rotation.
    successes: AtomicU32,
    /// Consecutive failed checks while in rotation.
    failures: AtomicU32,
}

impl Default for MemberState {
    /// A new member is in rotation until checks say otherwise.
    fn default() -> Self {
        Self {
            healthy: AtomicBool::new(true),
            successes: AtomicU32::new(0),
            failures: AtomicU32::new(0),
        }
    }
}

impl MemberState {
    pub fn healthy(&self) -> bool {
        self.healthy.load(Relaxed)
    }

    /// Counts one active check; true when the member's health changed (out after
    /// `abnormal` failures in a row, back after `normal` successes in a row).
    fn observe(&self, ok: bool, normal: u32, abnormal: u32) -> bool {
        let healthy = self.healthy();
        if ok {
            self.failures.store(0, Relaxed);
            if healthy {
                return false;
            }
            let n = self.successes.fetch_add(1, Relaxed) + 1;
            if n >= normal {
                self.successes.store(0, Relaxed);
                self.healthy.store(true, Relaxed);
                return true;
            }
        } else {
            self.successes.store(0, Relaxed);
            if !healthy {
                return false;
            }
            let n = self.failures.fetch_add(1, Relaxed) + 1;
            if n >= abnormal {
                self.failures.store(0, Relaxed);
                self.healthy.store(false, Relaxed);
                return true;
            }
        }
        false
    }

    /// Takes the member out at once (it refused a connection); true when it was in.
    fn mark_down(&self) -> bool {
        self.successes.store(0, Relaxed);
        self.failures.store(0, Relaxed);
        self.healthy.swap(false, Relaxed)
    }

    /// Puts the member back (the passive cooldown ended); true when it was out.
    fn mark_up(&self) -> bool {
        !self.healthy.swap(true, Relaxed)
    }
}

/// One member as calls see it.
#[derive(Debug)]
pub struct Member {
    pub id: String,
    /// `host:port` calls go to.
    pub authority: Authority,
    /// Its idle connections.
    pub pool: Arc<Pool>,
    /// Its weight after its member group's (0: no new calls).
    pub weight: u32,
    pub backup: bool,
    /// Disabled members (batch disable) get no calls and are not checked.
    pub enabled: bool,
    pub state: Arc<MemberState>,
    /// Calls waiting on the member's answer (weighted least connections).
    active: AtomicU32,
}

/// The members in rotation: indices into [`Channel::members`] and their cumulative weights.
#[derive(Debug, Default)]
struct Table {
    members: Vec<u32>,
    /// `cumulative[i]`: the sum of the weights of `members[..=i]`.
    cumulative: Vec<u64>,
    /// A step coprime with the total weight: slot `n × stride mod total` visits every slot
    /// once per round while spreading consecutive calls over the members.
    stride: u64,
}

impl Table {
    fn total(&self) -> u64 {
        self.cumulative.last().copied().unwrap_or(0)
    }

    /// The member owning weight slot `slot` (< total).
    fn at(&self, slot: u64) -> usize {
        let i = self.cumulative.partition_point(|&c| c <= slot);
        self.members[i] as usize
    }
}

/// A channel on the data plane.
#[derive(Debug)]
pub struct Channel {
    pub id: String,
    pub name: String,
    /// What it was built from: a snapshot with the same stored channel keeps this one.
    config: VpcChannel,
    strategy: BalanceStrategy,
    pub members: Vec<Member>,
    table: ArcSwap<Table>,
    /// Round-robin position.
    next: AtomicU64,
    /// Itself, for the tasks that outlive a call (passive cooldowns).
    me: Weak<Channel>,
}

impl Channel {
    /// Builds the channel of `c` for backends reached over `scheme`; `states` are the members'
    /// health from the channel's previous build, by member id and address.
    fn new(
        c: &VpcChannel,
        scheme: Scheme,
        upstream: &Upstream,
        states: &HashMap<(String, String), Arc<MemberState>>,
    ) -> Arc<Self> {
        let mut members = Vec::with_capacity(c.members.len());
        for m in &c.members {
            let port = if m.port == 0 { c.port } else { m.port };
            let host = if m.host.contains(':') && !m.host.starts_with('[') {
                format!("[{}]", m.host)
            } else {
                m.host.clone()
            };
            let Ok(authority) = format!("{host}:{port}").parse::<Authority>() else {
                tracing::error!(channel_id = %c.id, member_id = %m.id, host = %m.host, "member address does not parse; left out");
                continue;
            };
            let group_weight = c
                .member_groups
                .iter()
                .find(|g| !m.member_group_name.is_empty() && g.name == m.member_group_name)
                .and_then(|g| g.weight);
            let key = (m.id.clone(), authority.to_string());
            members.push(Member {
                id: m.id.clone(),
                pool: upstream.pool(&scheme, &authority),
                authority,
                weight: group_weight.unwrap_or(m.weight),
                backup: m.is_backup,
                enabled: m.enabled(),
                state: states.get(&key).cloned().unwrap_or_default(),
                active: AtomicU32::new(0),
            });
        }
        let ch = Arc::new_cyclic(|me| Channel {
            id: c.id.clone(),
            name: c.name.clone(),
            config: c.clone(),
            strategy: c.balance_strategy,
            members,
            table: ArcSwap::default(),
            next: AtomicU64::new(0),
            me: me.clone(),
        });
        ch.refresh();
        ch
    }

    /// The active health check, if the channel has one.
    pub fn health_config(&self) -> Option<&HealthConfig> {
        self.config.health.as_ref()
    }

    /// The member with id `id`: whether it is in rotation by health (`None`: no such member).
    pub fn member_health(&self, id: &str) -> Option<bool> {
        self.members
            .iter()
            .find(|m| m.id == id)
            .map(|m| m.state.healthy())
    }

    /// Recomputes the members in rotation: enabled, weighted and healthy primaries, else such
    /// backups.
    fn refresh(&self) {
        let pick = |backup: bool| -> Vec<u32> {
            self.members
                .iter()
                .enumerate()
                .filter(|(_, m)| {
                    m.enabled && m.weight > 0 && m.backup == backup && m.state.healthy()
                })
                .map(|(i, _)| i as u32)
                .collect()
        };
        let mut chosen = pick(false);
        if chosen.is_empty() {
            chosen = pick(true);
        }
        let mut cumulative = Vec::with_capacity(chosen.len());
        let mut total = 0u64;
        for &i in &chosen {
            total += u64::from(self.members[i as usize].weight);
            cumulative.push(total);
        }
        self.table.store(Arc::new(Table {
            members: chosen,
            cumulative,
            stride: stride(total),
        }));
    }

    /// How many members are in rotation.
    pub fn in_rotation(&self) -> usize {
        self.table.load().members.len()
    }

    /// The member for a call from `client` to `path`, avoiding those in `tried` while others
    /// are in rotation; `None` when no member is.
    pub fn pick(&self, client: IpAddr, path: &str, tried: &[usize]) -> Option<usize> {
        let table = self.table.load();
        let total = table.total();
        if total == 0 {
            return None;
        }
        let slot_of = |n: u64| (n % total) * table.stride % total;
        let first = match self.strategy {
            BalanceStrategy::RoundRobin => table.at(slot_of(self.next.fetch_add(1, Relaxed))),
            BalanceStrategy::LeastConnections => self.least_loaded(&table, tried),
            BalanceStrategy::SourceHash => {
                let mut h = Fnv::default();
                match client {
                    IpAddr::V4(ip) => h.write(&ip.octets()),
                    IpAddr::V6(ip) => h.write(&ip.octets()),
                }
                table.at(h.finish() % total)
            }
            BalanceStrategy::UriHash => {
                let mut h = Fnv::default();
                h.write(path.as_bytes());
                table.at(h.finish() % total)
            }
        };
        if !tried.contains(&first) {
            return Some(first);
        }
        // A retry: the next members of the round, then any member at all.
        let start = self.next.fetch_add(1, Relaxed);
        (0..table.members.len() as u64)
            .map(|k| table.at(slot_of(start + k)))
            .find(|i| !tried.contains(i))
            .or(Some(first))
    }

    /// Weighted least connections: the member with the fewest waiting calls per weight;
    /// ties go round robin.
    fn least_loaded(&self, table: &Table, tried: &[usize]) -> usize {
        let n = table.members.len();
        let start = self.next.fetch_add(1, Relaxed) as usize % n;
        let mut best: Option<(usize, u64, u64)> = None;
        for k in 0..n {
            let i = table.members[(start + k) % n] as usize;
            if tried.contains(&i) && k + 1 < n {
                continue;
            }
            let m = &self.members[i];
            let (a, w) = (u64::from(m.active.load(Relaxed)), u64::from(m.weight));
            if best.is_none_or(|(_, ba, bw)| a * bw < ba * w) {
                best = Some((i, a, w));
            }
        }
        best.map_or(table.members[start] as usize, |(i, _, _)| i)
    }

    /// Counts a call waiting on member `i` until the guard drops.
    pub fn waiting(&self, i: usize) -> Waiting<'_> {
        self.members[i].active.fetch_add(1, Relaxed);
        Waiting(&self.members[i].active)
    }

    /// Member `i` refused or dropped a connection: out of rotation now; back after the health
    /// check's `threshold_normal` successes, or after [`PASSIVE_COOLDOWN`] without a check.
    pub fn failed(&self, i: usize) {
        let state = &self.members[i].state;
        if !state.mark_down() {
            return;
        }
        tracing::warn!(channel_id = %self.id, member = %self.members[i].authority, "member refused a call; out of rotation");
        self.refresh();
        if self.health_config().is_none() {
            let (me, state) = (self.me.clone(), state.clone());
            tokio::spawn(async move {
                tokio::time::sleep(PASSIVE_COOLDOWN).await;
                if let Some(ch) = me.upgrade() {
                    if state.mark_up() {
                        ch.refresh();
                    }
                }
            });
        }
    }

    /// Counts the results of one round of active checks (in member order); the rotation is
    /// recomputed when a member's health changed.
    fn observe(&self, results: &[(usize, bool)]) {
        let Some(h) = self.health_config() else {
            return;
        };
        let mut changed = false;
        for &(i, ok) in results {
            let m = &self.members[i];
            if m.state
                .observe(ok, h.threshold_normal, h.threshold_abnormal)
            {
                tracing::warn!(channel_id = %self.id, member = %m.authority, healthy = ok, "member health changed");
                changed = true;
            }
        }
        if changed {
            self.refresh();
        }
    }

    /// The `Host` a call to member `i` carries when the API names no proxy host.
    pub fn host_of(&self, i: usize) -> HeaderValue {
        HeaderValue::from_str(self.members[i].authority.as_str())
            .unwrap_or_else(|_| HeaderValue::from_static("localhost"))
    }
}

/// A call waiting on a member (see [`Channel::waiting`]).
#[derive(Debug)]
pub struct Waiting<'a>(&'a AtomicU32);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Relaxed);
    }
}

/// A step about 0.618 of `total` that shares no factor with it (1 for totals below 3).
fn stride(total: u64) -> u64 {
    if total < 3 {
        return 1;
    }
    let mut s = (total as f64 * 0.618_033_988_75) as u64;
    while gcd(s, total) != 1 {
        s += 1;
    }
    s
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// The running channels, by id and backend scheme: kept across snapshots while their stored
/// channel is unchanged (so counters, health and checks go on), rebuilt with their members'
/// health when it changed.
#[derive(Debug, Default)]
pub struct Channels {
    running: Mutex<HashMap<(String, Scheme), Arc<Channel>>>,
}

impl Channels {
    /// The running channel of `c` for backends over `scheme`, built (and its health check
    /// started) when new or changed.
    pub fn get(&self, c: &VpcChannel, scheme: &Scheme, upstream: &Upstream) -> Arc<Channel> {
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        let key = (c.id.clone(), scheme.clone());
        if let Some(ch) = running.get(&key) {
            if ch.config == *c {
                return ch.clone();
            }
        }
        let states: HashMap<(String, String), Arc<MemberState>> = running
            .get(&key)
            .map(|old| {
                old.members
                    .iter()
                    .map(|m| ((m.id.clone(), m.authority.to_string()), m.state.clone()))
                    .collect()
            })
            .unwrap_or_default();
        let ch = Channel::new(c, scheme.clone(), upstream, &states);
        if let Some(h) = &c.health {
            health::start(&ch, h.clone(), upstream.clone());
        }
        running.insert(key, ch.clone());
        ch
    }

    /// Forgets the channels not in `kept` (deleted, or no longer used): their health checks
    /// end once the last snapshot using them is gone.
    pub fn retain(&self, kept: &[Arc<Channel>]) {
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        running.retain(|_, ch| kept.iter().any(|k| Arc::ptr_eq(k, ch)));
    }

    /// Every running channel.
    pub fn all(&self) -> Vec<Arc<Channel>> {
        let running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        running.values().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use apigw_model::vpc_channel::Member as StoredMember;

    fn stored(strategy: BalanceStrategy, members: &[(u32, bool)]) -> VpcChannel {
        VpcChannel {
            id: "c".into(),
            instance_id: "i".into(),
            name: "chan".into(),
            port: 80,
            balance_strategy: strategy,
            member_type: "ip".into(),
            channel_type: 2,
            dict_code: String::new(),
            create_time: 0,
            member_groups: vec![],
            members: members
                .iter()
                .enumerate()
                .map(|(i, &(weight, is_backup))| StoredMember {
                    id: format!("m{i}"),
                    host: format!("10.0.0.{}", i + 1),
                    port: 0,
                    weight,
                    is_backup,
                    member_group_name: String::new(),
                    member_group_id: String::new(),
                    status: 1,
                    ecs_id: String::new(),
                    ecs_name: String::new(),
                    create_time: 0,
                })
                .collect(),
            health: None,
        }
    }

    fn channel(strategy: BalanceStrategy, members: &[(u32, bool)]) -> Arc<Channel> {
        Channel::new(
            &stored(strategy, members),
            Scheme::HTTP,
            &Upstream::new(),
            &HashMap::new(),
        )
    }

    fn counts(ch: &Channel, calls: usize) -> Vec<usize> {
        let ip = IpAddr::from([127, 0, 0, 1]);
        let mut n = vec![0; ch.members.len()];
        for _ in 0..calls {
            n[ch.pick(ip, "/", &[]).unwrap()] += 1;
        }
        n
    }

    #[test]
    fn round_robin_follows_the_weights_exactly_over_a_round() {
        let ch = channel(
            BalanceStrategy::RoundRobin,
            &[(5, false), (3, false), (2, false)],
        );
        assert_eq!(counts(&ch, 1000), vec![500, 300, 200]);
    }

    #[test]
    fn round_robin_interleaves_members_instead_of_sending_runs() {
        let ch = channel(BalanceStrategy::RoundRobin, &[(100, false), (100, false)]);
        let ip = IpAddr::from([127, 0, 0, 1]);
        let picks: Vec<usize> = (0..20).map(|_| ch.pick(ip, "/", &[]).unwrap()).collect();
        let longest_run = picks
            .chunk_by(|a, b| a == b)
            .map(<[usize]>::len)
            .max()
            .unwrap();
        assert!(longest_run <= 2, "{picks:?}");
    }

    #[test]
    fn weight_zero_members_get_no_calls() {
        let ch = channel(BalanceStrategy::RoundRobin, &[(1, false), (0, false)]);
        assert_eq!(counts(&ch, 100), vec![100, 0]);
    }

    #[test]
    fn backups_serve_only_while_no_primary_is_healthy() {
        let ch = channel(
            BalanceStrategy::RoundRobin,
            &[(1, false), (1, false), (1, true)],
        );
        assert_eq!(counts(&ch, 30)[2], 0);
        ch.members[0].state.mark_down();
        ch.refresh();
        assert_eq!(counts(&ch, 30), vec![0, 30, 0]);
        ch.members[1].state.mark_down();
        ch.refresh();
        assert_eq!(counts(&ch, 30), vec![0, 0, 30]);
        ch.members[2].state.mark_down();
        ch.refresh();
        assert_eq!(ch.in_rotation(), 0);
        assert_eq!(ch.pick(IpAddr::from([127, 0, 0, 1]), "/", &[]), None);
    }

    #[test]
    fn source_hash_sends_one_client_to_one_member() {
        let ch = channel(
            BalanceStrategy::SourceHash,
            &[(1, false), (1, false), (1, false)],
        );
        let mut seen = std::collections::HashSet::new();
        for c in 0..50u8 {
            let ip = IpAddr::from([10, 1, 2, c]);
            let first = ch.pick(ip, "/a", &[]).unwrap();
            assert!((0..10).all(|_| ch.pick(ip, "/b", &[]) == Some(first)));
            seen.insert(first);
        }
        assert_eq!(seen.len(), 3, "clients spread over every member");
    }

    #[test]
    fn uri_hash_sends_one_path_to_one_member() {
        let ch = channel(
            BalanceStrategy::UriHash,
            &[(1, false), (1, false), (1, false)],
        );
        let mut seen = std::collections::HashSet::new();
        for p in 0..50 {
            let path = format!("/item/{p}");
            let first = ch.pick(IpAddr::from([1, 1, 1, 1]), &path, &[]).unwrap();
            let other_client = ch.pick(IpAddr::from([2, 2, 2, 2]), &path, &[]);
            assert_eq!(other_client, Some(first));
            seen.insert(first);
        }
        assert_eq!(seen.len(), 3);
    }

    #[test]
    fn least_connections_prefers_the_member_with_fewer_waiting_calls_per_weight() {
        let ch = channel(BalanceStrategy::LeastConnections, &[(1, false), (2, false)]);
        let ip = IpAddr::from([127, 0, 0, 1]);
        let _a = ch.waiting(0);
        let _b = ch.waiting(1);
        // 1 waiting per weight 1 against 1 per weight 2: the second member.
        assert_eq!(ch.pick(ip, "/", &[]), Some(1));
        let _c = ch.waiting(1);
        let _d = ch.waiting(1);
        // 1/1 against 3/2: the first.
        assert_eq!(ch.pick(ip, "/", &[]), Some(0));
    }

    #[test]
    fn a_retry_avoids_members_already_tried() {
        for strategy in [
            BalanceStrategy::RoundRobin,
            BalanceStrategy::LeastConnections,
            BalanceStrategy::SourceHash,
            BalanceStrategy::UriHash,
        ] {
            let ch = channel(strategy, &[(1, false), (1, false), (1, false)]);
            let ip = IpAddr::from([127, 0, 0, 1]);
            let a = ch.pick(ip, "/", &[]).unwrap();
            let b = ch.pick(ip, "/", &[a]).unwrap();
            let c = ch.pick(ip, "/", &[a, b]).unwrap();
            assert!(a != b && b != c && a != c, "{strategy:?}: {a} {b} {c}");
        }
    }

    #[test]
    fn health_changes_after_the_thresholds_in_a_row() {
        let s = MemberState::default();
        assert!(!s.observe(false, 2, 3));
        assert!(!s.observe(false, 2, 3));
        assert!(!s.observe(true, 2, 3), "a success resets the failures");
        assert!(!s.observe(false, 2, 3));
        assert!(!s.observe(false, 2, 3));
        assert!(s.observe(false, 2, 3));
        assert!(!s.healthy());
        assert!(!s.observe(true, 2, 3));
        assert!(s.observe(true, 2, 3));
        assert!(s.healthy());
    }

    #[test]
    fn a_member_group_weight_replaces_its_members_weights() {
        let mut c = stored(BalanceStrategy::RoundRobin, &[(1, false), (1, false)]);
        c.member_groups.push(apigw_model::vpc_channel::MemberGroup {
            id: "g".into(),
            name: "heavy".into(),
            remark: String::new(),
            weight: Some(3),
            dict_code: String::new(),
            create_time: 0,
            update_time: 0,
        });
        c.members[0].member_group_name = "heavy".into();
        let ch = Channel::new(&c, Scheme::HTTP, &Upstream::new(), &HashMap::new());
        assert_eq!(counts(&ch, 400), vec![300, 100]);
    }

    #[test]
    fn strides_share_no_factor_with_the_total() {
        for total in 1..500 {
            assert_eq!(gcd(stride(total), total), 1, "{total}");
        }
    }
}
