//! Fixed-window counters for rate_limit: in-process (sharded, lock-free per counter) and
//! cluster-wide in Redis (one atomic script per call), with an injectable clock.
//!
//! A call passes when every counter that applies to it (API, app, user, IP, or a rule) is
//! below its limit; then all of them count the call. The check and the increments are atomic:
//! locally by compare-and-swap with roll-back, in Redis by one Lua script.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Milliseconds since the epoch, injectable for tests.
pub type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

/// The system clock.
pub fn system_clock() -> Clock {
    Arc::new(|| apigw_model::time::now_millis() as u64)
}

/// One limit that applies to a call: the counter's key, its limit and window length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limit {
    pub key: String,
    pub limit: u64,
    /// Window length in milliseconds.
    pub window_ms: u64,
}

impl Limit {
    /// The window `now_ms` falls in and the seconds until it ends (rounded up).
    fn window_at(&self, now_ms: u64) -> (u64, u64) {
        let len = self.window_ms.max(1);
        let window = now_ms / len;
        (window, ((window + 1) * len - now_ms).div_ceil(1000))
    }
}

/// What the counters said about a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    pub allowed: bool,
    /// The tightest limit: its limit, what remains of it (after this call), and the seconds
    /// until its window ends. When refused: the limit that refused it.
    pub limit: u64,
    pub remaining: u64,
    pub reset_secs: u64,
}

const SHARDS: usize = 16;
/// Counters per shard before stale ones are swept.
const SWEEP_AT: usize = 4096;
/// The most limits one call counts in (rule or API, app, user, IP).
const MAX_LIMITS: usize = 4;

/// The limits of one call, kept in place: a call's list is not an allocation of its own.
pub type Limits = smallvec::SmallVec<[Limit; MAX_LIMITS]>;

/// In-process counters. Each counter is one `AtomicU64` holding (window index, count); a
/// call locks the shard of each of its counters in turn (never two at once) to find it and
/// update it. Keys are hashed once, with a fast hash seeded per process (foldhash: keys hold
/// client addresses and identities, so the seed keeps collisions from being chosen).
#[derive(Debug)]
pub struct LocalCounters {
    hasher: foldhash::fast::RandomState,
    shards: Vec<Mutex<Shard>>,
}

/// Counters by key, each with its window length (counters of different lengths share a shard).
type Shard = HashMap<String, (AtomicU64, u64), foldhash::fast::RandomState>;

impl Default for LocalCounters {
    fn default() -> Self {
        let hasher = foldhash::fast::RandomState::default();
        Self {
            shards: (0..SHARDS)
                .map(|_| Mutex::new(HashMap::with_hasher(hasher.clone())))
                .collect(),
            hasher,
        }
    }
}

fn pack(window: u64, count: u64) -> u64 {
    (window << 32) | (count & 0xffff_ffff)
}

fn unpack(v: u64) -> (u64, u64) {
    (v >> 32, v & 0xffff_ffff)
}

impl LocalCounters {
    /// Runs `f` on the counter of `key` (created when new), under its shard's lock.
    fn with_counter<R>(
        &self,
        key: &str,
        window_ms: u64,
        now_ms: u64,
        f: impl FnOnce(&AtomicU64) -> R,
    ) -> R {
        use std::hash::BuildHasher;
        let shard = &self.shards[(self.hasher.hash_one(key) as usize) % SHARDS];
        let mut map = shard.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((c, _)) = map.get(key) {
            return f(c);
        }
        if map.len() >= SWEEP_AT {
            // Bounded memory: forget counters whose window is over, each by its own window
            // length (only the low 32 bits of a window index are kept, so compare those).
            map.retain(|_, (c, len)| {
                let current = (now_ms / (*len).max(1)) & 0xffff_ffff;
                unpack(c.load(Ordering::Relaxed)).0 >= current.saturating_sub(1)
            });
        }
        f(&map
            .entry(key.to_string())
            .or_insert_with(|| (AtomicU64::new(0), window_ms))
            .0)
    }

    /// A refusal reports the exhausted limit that frees last: a call retried when the first
    /// one frees would be refused again by the others (`Retry-After` must be the longest wait).
    fn longest_wait(&self, refused: Verdict, limits: &[Limit], now_ms: u64) -> Verdict {
        let mut longest = refused;
        for l in limits {
            let (window, reset_secs) = l.window_at(now_ms);
            if reset_secs <= longest.reset_secs {
                continue;
            }
            let (w, n) = unpack(self.with_counter(&l.key, l.window_ms.max(1), now_ms, |c| {
                c.load(Ordering::Acquire)
            }));
            if w == window & 0xffff_ffff && n >= l.limit {
                longest = Verdict {
                    limit: l.limit,
                    reset_secs,
                    ..refused
                };
            }
        }
        longest
    }

    /// Checks every limit and counts the call in all of them, or in none.
    pub fn check(&self, limits: &[Limit], now_ms: u64) -> Verdict {
        debug_assert!(limits.len() <= MAX_LIMITS);
        // The windows this call counted in, by limit (for the roll-back).
        let mut taken = [0u64; MAX_LIMITS];
        let mut tightest: Option<Verdict> = None;
        for (i, l) in limits.iter().enumerate() {
            let (window, reset_secs) = l.window_at(now_ms);
            let w32 = window & 0xffff_ffff;
            let result = self.with_counter(&l.key, l.window_ms.max(1), now_ms, |c| {
                c.fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| {
                    let (w, n) = unpack(v);
                    let n = if w == w32 { n } else { 0 };
                    (n < l.limit).then(|| pack(w32, n + 1))
                })
            });
            match result {
                Ok(prev) => {
                    let (w, n) = unpack(prev);
                    let used = if w == w32 { n + 1 } else { 1 };
                    let v = Verdict {
                        allowed: true,
                        limit: l.limit,
                        remaining: l.limit - used,
                        reset_secs,
                    };
                    if tightest.is_none_or(|t| v.remaining < t.remaining) {
                        tightest = Some(v);
                    }
                    if let Some(t) = taken.get_mut(i) {
                        *t = w32;
                    }
                }
                Err(_) => {
                    // Refused: give back what this call took from the other counters.
                    for (l, &w) in limits[..i].iter().zip(&taken) {
                        self.with_counter(&l.key, l.window_ms.max(1), now_ms, |c| {
                            let _ = c.fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| {
                                let (cw, n) = unpack(v);
                                (cw == w && n > 0).then(|| pack(cw, n - 1))
                            });
                        });
                    }
                    let refused = Verdict {
                        allowed: false,
                        limit: l.limit,
                        remaining: 0,
                        reset_secs,
                    };
                    return self.longest_wait(refused, limits, now_ms);
                }
            }
        }
        tightest.unwrap_or(Verdict {
            allowed: true,
            limit: 0,
            remaining: 0,
            reset_secs: 0,
        })
    }
}

/// The Lua script: check every key against its limit, then count the call in all of them.
/// KEYS: counter keys (window included). ARGV: limit1, ttl1_ms, limit2, ttl2_ms, ...
/// Returns {1, index of the tightest key (1-based), calls it has left} when counted, or
/// {0, the exhausted keys as a bit mask (bit i-1 for key i), 0} when refused.
const SCRIPT: &str = r#"
local exhausted = 0
for i, key in ipairs(KEYS) do
  local n = tonumber(redis.call('GET', key) or '0')
  if n >= tonumber(ARGV[2 * i - 1]) then
    exhausted = exhausted + 2 ^ (i - 1)
  end
end
if exhausted > 0 then
  return {0, exhausted, 0}
end
local best, best_left = 0, -1
for i, key in ipairs(KEYS) do
  local n = redis.call('INCR', key)
  if n == 1 then redis.call('PEXPIRE', key, ARGV[2 * i]) end
  local left = tonumber(ARGV[2 * i - 1]) - n
  if best_left < 0 or left < best_left then best, best_left = i, left end
end
return {1, best, best_left}
"#;

/// Cluster-wide counters in Redis. When Redis cannot be reached, calls are counted locally
/// (per node) and Redis is tried again after [`RETRY_AFTER`]; the degradation is logged once
/// per outage and counted.
#[derive(Clone)]
pub struct RedisCounters {
    link: crate::redis_link::Link,
    prefix: String,
    /// When Redis failed last (None: healthy).
    down_since: Arc<Mutex<Option<Instant>>>,
    /// Calls decided locally because Redis was down.
    pub fallbacks: Arc<AtomicU64>,
    /// Redis errors seen.
    pub errors: Arc<AtomicU64>,
    degraded: Arc<AtomicBool>,
}

impl std::fmt::Debug for RedisCounters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisCounters")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// How long after a Redis failure calls stay on local counters before Redis is tried again.
pub const RETRY_AFTER: Duration = Duration::from_secs(1);
/// Longest wait for Redis on a call before deciding locally.
pub const REDIS_TIMEOUT: Duration = Duration::from_millis(200);

impl RedisCounters {
    /// Connects to `url` (`redis://[user:password@]host[:port][/db]`); keys start with `prefix`.
    pub async fn connect(url: &str, prefix: &str) -> Result<Self, String> {
        Ok(Self {
            link: crate::redis_link::Link::connect(url, SCRIPT, REDIS_TIMEOUT).await?,
            prefix: prefix.to_string(),
            down_since: Arc::default(),
            fallbacks: Arc::default(),
            errors: Arc::default(),
            degraded: Arc::default(),
        })
    }

    /// Whether calls are currently decided locally.
    pub fn degraded(&self) -> bool {
        self.degraded.load(Ordering::Relaxed)
    }

    /// Checks and counts in Redis; `None` when Redis is unavailable (the caller falls back).
    pub async fn check(&self, limits: &[Limit], now_ms: u64) -> Option<Verdict> {
        // Read, not written, while Redis answers: the calls of every worker share it.
        if self.degraded.load(Ordering::Relaxed) {
            if let Some(since) = *self.down_since.lock().unwrap_or_else(|e| e.into_inner()) {
                if since.elapsed() < RETRY_AFTER {
                    self.fallbacks.fetch_add(1, Ordering::Relaxed);
                    return None;
                }
            }
        }
        let mut keys: [Vec<u8>; MAX_LIMITS] = Default::default();
        let mut args = [0u64; 2 * MAX_LIMITS];
        let mut resets = [0u64; MAX_LIMITS];
        let limits = &limits[..limits.len().min(MAX_LIMITS)];
        for (i, l) in limits.iter().enumerate() {
            let (window, reset_secs) = l.window_at(now_ms);
            let k = &mut keys[i];
            k.reserve_exact(self.prefix.len() + l.key.len() + 21);
            k.extend_from_slice(self.prefix.as_bytes());
            k.extend_from_slice(l.key.as_bytes());
            k.push(b':');
            k.extend_from_slice(itoa::Buffer::new().format(window).as_bytes());
            args[2 * i] = l.limit;
            args[2 * i + 1] = l.window_ms.max(1) * 2;
            resets[i] = reset_secs;
        }
        // The link bounds each batch by REDIS_TIMEOUT (one timer per batch, not per call).
        let result = if let [l] = limits {
            // One counter needs no script: the count is over the limit exactly when the call
            // is refused, and a refused call's count only ever refuses (its window's) calls.
            self.link
                .count(std::mem::take(&mut keys[0]), args[1])
                .await
                .map(|n| {
                    let left = l.limit as i64 - n;
                    if left >= 0 {
                        (1, 1, left)
                    } else {
                        (0, 1, 0)
                    }
                })
        } else {
            let keys: Vec<&[u8]> = keys[..limits.len()].iter().map(|k| &k[..]).collect();
            self.link
                .eval(&keys, &args[..2 * limits.len()])
                .await
                .and_then(|v| match v[..] {
                    [a, b, c] => Ok((a, b, c)),
                    _ => Err(format!("the script answered {v:?}")),
                })
        };
        match result {
            Ok((allowed, index, n)) => {
                if self.degraded.load(Ordering::Relaxed)
                    && self.degraded.swap(false, Ordering::Relaxed)
                {
                    *self.down_since.lock().unwrap_or_else(|e| e.into_inner()) = None;
                    tracing::warn!("Redis is back: rate limits are cluster-wide again");
                }
                if allowed == 1 {
                    let i = (index.max(1) - 1) as usize;
                    let l = limits.get(i)?;
                    return Some(Verdict {
                        allowed: true,
                        limit: l.limit,
                        remaining: n.max(0) as u64,
                        reset_secs: resets[i],
                    });
                }
                // Refused: the exhausted limit that frees last (`Retry-After`: the longest wait).
                let i = (0..limits.len().min(63))
                    .filter(|i| (index >> i) & 1 == 1)
                    .max_by_key(|i| resets[*i])?;
                Some(Verdict {
                    allowed: false,
                    limit: limits[i].limit,
                    remaining: 0,
                    reset_secs: resets[i],
                })
            }
            Err(e) => self.failed(&e),
        }
    }

    fn failed(&self, why: &str) -> Option<Verdict> {
        self.errors.fetch_add(1, Ordering::Relaxed);
        self.fallbacks.fetch_add(1, Ordering::Relaxed);
        *self.down_since.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
        if !self.degraded.swap(true, Ordering::Relaxed) {
            tracing::error!(error = %why, "Redis unavailable: rate limits fall back to per-node counters");
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lim(key: &str, limit: u64, window_ms: u64) -> Limit {
        Limit {
            key: key.into(),
            limit,
            window_ms,
        }
    }

    #[test]
    fn a_window_admits_exactly_the_limit_then_rolls_over() {
        let c = LocalCounters::default();
        let l = [lim("api", 3, 1000)];
        let results: Vec<bool> = (0..5).map(|_| c.check(&l, 10_500).allowed).collect();
        assert_eq!(results, [true, true, true, false, false]);
        let v = c.check(&l, 10_999);
        assert_eq!((v.allowed, v.reset_secs), (false, 1));
        let next = c.check(&l, 11_000);
        assert_eq!((next.allowed, next.remaining, next.limit), (true, 2, 3));
    }

    #[test]
    fn sweeping_short_windows_keeps_a_long_window_s_count() {
        let c = LocalCounters::default();
        let day = [lim("rule:day", 3, 86_400_000)];
        let now = 1_800_000_000_000; // late in a day window, early in second windows
        for _ in 0..3 {
            assert!(c.check(&day, now).allowed);
        }
        // Many one-second counters (distinct clients): every shard fills and is swept.
        for i in 0..(SHARDS * SWEEP_AT + SWEEP_AT) {
            c.check(&[lim(&format!("ip:{i}"), 5, 1000)], now + 5_000);
        }
        assert!(
            !c.check(&day, now + 6_000).allowed,
            "the day's count survived the sweeps"
        );
    }

    #[test]
    fn a_refusal_by_one_limit_takes_nothing_from_the_others() {
        let c = LocalCounters::default();
        assert!(
            c.check(&[lim("api", 10, 60_000), lim("ip:a", 1, 60_000)], 0)
                .allowed
        );
        assert!(
            !c.check(&[lim("api", 10, 60_000), lim("ip:a", 1, 60_000)], 0)
                .allowed
        );
        // The API counter holds 1, not 2: nine more calls from other IPs pass.
        for i in 0..9 {
            assert!(
                c.check(
                    &[lim("api", 10, 60_000), lim(&format!("ip:{i}"), 1, 60_000)],
                    0
                )
                .allowed,
                "{i}"
            );
        }
        assert!(
            !c.check(&[lim("api", 10, 60_000), lim("ip:z", 1, 60_000)], 0)
                .allowed
        );
    }

    /// Limits for the longest-wait tests: a second's, a roomy minute's and a minute's of one
    /// call (both single-call ones spent by a first call); and a second's with a roomy minute's.
    fn waits() -> ([Limit; 3], [Limit; 2]) {
        (
            [
                lim("ip:a", 1, 1000),
                lim("api", 10, 60_000),
                lim("app", 1, 60_000),
            ],
            [lim("ip:b", 1, 1000), lim("api", 10, 60_000)],
        )
    }

    #[test]
    fn a_refusal_waits_for_the_exhausted_limit_that_frees_last() {
        let c = LocalCounters::default();
        let (both, only_ip) = waits();
        assert!(c.check(&both, 0).allowed);
        // Both the second's and the minute's app limits are spent: retrying after one second
        // would be refused again.
        let v = c.check(&both, 500);
        assert_eq!((v.allowed, v.limit, v.reset_secs), (false, 1, 60));
        // Only the per-second one spent: its own second.
        assert!(c.check(&only_ip, 0).allowed);
        let v = c.check(&only_ip, 500);
        assert_eq!((v.allowed, v.reset_secs), (false, 1));
    }

    /// A raw command to the test Redis and its reply's first line.
    async fn raw(url: &str, command: &[&[u8]]) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let target = crate::redis_link::Target::parse(url).unwrap();
        let mut raw = tokio::net::TcpStream::connect(&target.addr).await.unwrap();
        raw.write_all(&crate::redis_link::tests::encode(command))
            .await
            .unwrap();
        let mut reply = vec![0u8; 64];
        let n = raw.read(&mut reply).await.unwrap();
        String::from_utf8_lossy(&reply[..n]).trim_end().to_string()
    }

    #[test]
    fn redis_counts_concurrent_calls_exactly_and_survives_a_script_flush() {
        with_redis(|url| async move {
            let prefix = format!("test:flush:{}:{}:", std::process::id(), now_nanos());
            let c = Arc::new(RedisCounters::connect(&url, &prefix).await.unwrap());
            // Two limits: the script counts them.
            let limits = [lim("api", 30, 3_600_000), lim("app", 1000, 3_600_000)];
            // 50 calls at once go out in batches on one connection: exactly 30 pass.
            let calls: Vec<_> = (0..50)
                .map(|_| {
                    let (c, limits) = (c.clone(), limits.clone());
                    tokio::spawn(async move { c.check(&limits, 1_000).await.unwrap().allowed })
                })
                .collect();
            let mut passed = 0;
            for t in calls {
                passed += usize::from(t.await.unwrap());
            }
            assert_eq!(passed, 30);
            // Redis forgets the script: the next batch loads it again, and sends again only
            // the scripts — single counters in the same batch are counted once.
            assert_eq!(raw(&url, &[b"SCRIPT", b"FLUSH"]).await, "+OK");
            let one = [lim("one", 100, 3_600_000)];
            let script = tokio::spawn({
                let (c, limits) = (c.clone(), limits.clone());
                async move { c.check(&limits, 2_000).await }
            });
            let singles: Vec<_> = (0..3)
                .map(|_| {
                    let (c, one) = (c.clone(), one.clone());
                    tokio::spawn(async move { c.check(&one, 2_000).await.unwrap().allowed })
                })
                .collect();
            let v = script.await.unwrap().expect("counted in Redis");
            assert!(!v.allowed, "the 31st call is refused");
            for t in singles {
                assert!(t.await.unwrap());
            }
            let v = c.check(&one, 2_000).await.unwrap();
            assert_eq!(v.remaining, 96, "the fourth call of `one` leaves 96");
            assert_eq!(c.errors.load(Ordering::Relaxed), 0);
        });
    }

    #[test]
    fn one_redis_counter_is_exact_across_nodes_without_the_script_and_always_expires() {
        with_redis(|url| async move {
            let prefix = format!("test:single:{}:{}:", std::process::id(), now_nanos());
            let nodes = [
                Arc::new(RedisCounters::connect(&url, &prefix).await.unwrap()),
                Arc::new(RedisCounters::connect(&url, &prefix).await.unwrap()),
            ];
            let limit = [lim("api", 25, 60_000)];
            let calls: Vec<_> = (0..40)
                .map(|i| {
                    let (c, limit) = (nodes[i % 2].clone(), limit.clone());
                    tokio::spawn(async move { c.check(&limit, 1_000).await.unwrap() })
                })
                .collect();
            let mut left = Vec::new();
            for t in calls {
                let v = t.await.unwrap();
                if v.allowed {
                    left.push(v.remaining);
                }
            }
            left.sort_unstable();
            // Calls of one batch are counted by one INCRBY; each still gets its own count.
            assert_eq!(
                left,
                (0..25).collect::<Vec<u64>>(),
                "exactly the limit passes, whichever node counts, each with its own count"
            );
            let v = nodes[0].check(&limit, 1_000).await.unwrap();
            assert_eq!((v.allowed, v.remaining, v.reset_secs), (false, 0, 59));
            let (window, _) = limit[0].window_at(1_000);
            let key = format!("{prefix}api:{window}");
            let ttl: i64 = raw(&url, &[b"PTTL", key.as_bytes()]).await[1..]
                .parse()
                .unwrap();
            assert!(
                (1..=120_000).contains(&ttl),
                "the counter expires within two windows: {ttl}"
            );
            assert!(nodes.iter().all(|n| n.errors.load(Ordering::Relaxed) == 0));
        });
    }

    #[test]
    fn a_counter_redis_lost_is_counted_from_nothing_and_given_its_expiry_again() {
        with_redis(|url| async move {
            let prefix = format!("test:lost:{}:{}:", std::process::id(), now_nanos());
            let c = RedisCounters::connect(&url, &prefix).await.unwrap();
            let limit = [lim("api", 10, 60_000)];
            let (window, _) = limit[0].window_at(1_000);
            let key = format!("{prefix}api:{window}");
            let pttl = |key: String| {
                let url = url.clone();
                async move {
                    raw(&url, &[b"PTTL", key.as_bytes()]).await[1..]
                        .parse::<i64>()
                        .unwrap()
                }
            };
            for remaining in [9, 8] {
                assert_eq!(c.check(&limit, 1_000).await.unwrap().remaining, remaining);
            }
            // The second call went without `SET NX`; Redis loses the key (flushed, evicted).
            assert_eq!(raw(&url, &[b"DEL", key.as_bytes()]).await, ":1");
            assert_eq!(c.check(&limit, 1_000).await.unwrap().remaining, 9);
            let ttl = pttl(key.clone()).await;
            assert!(
                (1..=120_000).contains(&ttl),
                "the counter counted from nothing has an expiry again: {ttl}"
            );
            // A key lost and made again by another node (its `SET NX` gave it an expiry).
            assert_eq!(raw(&url, &[b"DEL", key.as_bytes()]).await, ":1");
            let other = RedisCounters::connect(&url, &prefix).await.unwrap();
            assert_eq!(other.check(&limit, 1_000).await.unwrap().remaining, 9);
            assert_eq!(c.check(&limit, 1_000).await.unwrap().remaining, 8);
            assert!((1..=120_000).contains(&pttl(key).await));
            assert_eq!(c.errors.load(Ordering::Relaxed), 0);
        });
    }

    #[test]
    fn calls_made_ready_while_the_first_is_sent_join_its_batch() {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
        with_redis(|url| async move {
            let prefix = format!("test:batch:{}:{}:", std::process::id(), now_nanos());
            let c = Arc::new(RedisCounters::connect(&url, &prefix).await.unwrap());
            let limit = [lim("api", 100, 60_000)];
            // Redis's MONITOR shows every command it runs: here, how the calls were counted.
            let target = crate::redis_link::Target::parse(&url).unwrap();
            let mut monitor = tokio::io::BufReader::new(
                tokio::net::TcpStream::connect(&target.addr).await.unwrap(),
            );
            monitor
                .get_mut()
                .write_all(&crate::redis_link::tests::encode(&[b"MONITOR"]))
                .await
                .unwrap();
            let mut line = String::new();
            monitor.read_line(&mut line).await.unwrap();
            assert_eq!(line.trim_end(), "+OK");
            // Ten calls wait for a signal; a first call is made, then the signal given: the
            // ten become runnable after the first request woke the connection's task.
            let go = Arc::new(tokio::sync::Notify::new());
            let mut calls = Vec::new();
            for _ in 0..10 {
                let (c, limit, go) = (c.clone(), limit.clone(), go.clone());
                calls.push(tokio::spawn(async move {
                    go.notified().await;
                    c.check(&limit, 1_000).await.unwrap()
                }));
            }
            tokio::task::yield_now().await;
            let first = {
                let (c, limit) = (c.clone(), limit.clone());
                tokio::spawn(async move { c.check(&limit, 1_000).await.unwrap() })
            };
            tokio::spawn({
                let go = go.clone();
                async move { go.notify_waiters() }
            });
            calls.push(first);
            for t in calls {
                assert!(t.await.unwrap().allowed);
            }
            // Every INCRBY of this test's key, until the eleven calls are seen.
            let mut increments = Vec::new();
            while increments.iter().sum::<u64>() < 11 {
                line.clear();
                tokio::time::timeout(
                    std::time::Duration::from_secs(2),
                    monitor.read_line(&mut line),
                )
                .await
                .expect("MONITOR shows the calls' INCRBY")
                .unwrap();
                if line.contains("\"INCRBY\"") && line.contains(&prefix) {
                    let n = line
                        .trim_end()
                        .rsplit(' ')
                        .next()
                        .unwrap()
                        .trim_matches('"');
                    increments.push(n.parse::<u64>().unwrap());
                }
            }
            assert_eq!(
                increments,
                [11],
                "the eleven calls were counted in one batch"
            );
        });
    }

    /// Runs `test` on a current-thread runtime with the test Redis's URL.
    fn with_redis<F: std::future::Future<Output = ()>>(test: impl FnOnce(String) -> F) {
        let url = std::env::var("APIGW_TEST_REDIS_URL")
            .expect("APIGW_TEST_REDIS_URL must name the test Redis (scripts/test.sh sets it)");
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(test(url));
    }

    fn now_nanos() -> u128 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    }

    #[test]
    fn redis_refusals_wait_for_the_exhausted_limit_that_frees_last() {
        with_redis(|url| async move {
            let prefix = format!("test:longest:{}:{}:", std::process::id(), now_nanos());
            let c = RedisCounters::connect(&url, &prefix).await.unwrap();
            let (both, only_ip) = waits();
            assert!(c.check(&both, 0).await.unwrap().allowed);
            let v = c.check(&both, 500).await.unwrap();
            assert_eq!((v.allowed, v.limit, v.reset_secs), (false, 1, 60));
            assert!(c.check(&only_ip, 0).await.unwrap().allowed);
            let v = c.check(&only_ip, 500).await.unwrap();
            assert_eq!((v.allowed, v.reset_secs), (false, 1));
        });
    }

    #[test]
    fn the_tightest_limit_is_reported() {
        let c = LocalCounters::default();
        let v = c.check(&[lim("api", 100, 60_000), lim("app", 5, 1000)], 0);
        assert_eq!((v.limit, v.remaining, v.reset_secs), (5, 4, 1));
    }

    #[test]
    fn concurrent_callers_get_exactly_the_limit() {
        let c = Arc::new(LocalCounters::default());
        let passed = Arc::new(AtomicU64::new(0));
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let (c, passed) = (c.clone(), passed.clone());
                std::thread::spawn(move || {
                    for i in 0..1000 {
                        let l = [
                            lim("api", 500, 60_000),
                            lim(&format!("ip:{}", (t * 1000 + i) % 7), 10_000, 60_000),
                        ];
                        if c.check(&l, 5).allowed {
                            passed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(passed.load(Ordering::Relaxed), 500);
    }
}
