//! The counters' connection to Redis: the counting script (EVALSHA) or, for a call with one
//! counter, `INCRBY key n` (no Lua: Redis does several times more of these a second),
//! pipelined. A counter is given its expiry once per connection, by `SET key 0 PX ttl NX` before
//! its first `INCRBY` (see [`Conn::expiring`]).
//!
//! Every call's request goes to one task over a channel; the task (once the tasks runnable
//! have had their turns, [`gather`]) writes all requests that are waiting in one write and
//! reads their replies in order, so under load a batch of calls costs one write and one read
//! between them, not two system calls each. The one-counter calls of a batch that count in the
//! same key are counted together, by one `INCRBY` of their number;
//! each call gets the count it would have had from an `INCR` of its own in batch order (the
//! total less the calls after it), so every count is still given exactly once. Scripts are
//! encoded by the caller, replies parsed here (RESP2: integers, arrays of integers, errors,
//! the script's SHA-1): a general client's codec cost about 12 000 instructions a call
//! (`bench/instructions.py --redis`), this one a few hundred.
//!
//! The connection is made on first use and again after any failure; a failure fails the
//! requests in flight (their callers count locally, see `RedisCounters`). The script is loaded
//! on every connection, and again when Redis answers `NOSCRIPT` (restarted or flushed).

use bytes::{Buf, BytesMut};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};

/// The most rounds of turns a batch waits for more requests ([`gather`]).
const MAX_YIELDS: usize = 4;
/// The most requests written in one batch.
const MAX_BATCH: usize = 256;
/// The most counter keys a connection remembers as given their expiry; past it, it forgets them
/// all (they name their window, so most are stale by then) and sets expiries again.
const MAX_EXPIRING: usize = 4096;
/// How long connecting (and loading the script) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// One call's request and where its reply goes.
struct Request {
    command: Command,
    /// An integer or an array of integers (errors and texts are `Err`).
    reply: oneshot::Sender<Result<Reply, String>>,
}

enum Command {
    /// EVALSHA: its arguments after the SHA-1 (number of keys, keys, arguments) as RESP bulk
    /// strings, and how many there are.
    Eval { args: Vec<u8>, count: usize },
    /// One counter: its key and how long a new one lives (the reply is the call's count).
    Count { key: Vec<u8>, ttl_ms: u64 },
}

/// A reply as parsed.
#[derive(Debug, Clone, PartialEq)]
enum Reply {
    Int(i64),
    Ints(Vec<i64>),
    Text(String),
    Error(String),
}

/// Where to connect: `redis://[user:password@]host[:port][/db]`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Target {
    pub(crate) addr: String,
    user: Option<String>,
    password: Option<String>,
    db: Option<u32>,
}

impl Target {
    pub(crate) fn parse(url: &str) -> Result<Self, String> {
        let rest = url
            .strip_prefix("redis://")
            .ok_or_else(|| format!("{url}: not a redis:// URL"))?;
        let (auth, rest) = match rest.rsplit_once('@') {
            Some((a, r)) => (Some(a), r),
            None => (None, rest),
        };
        let (hostport, db) = match rest.split_once('/') {
            Some((h, d)) if !d.is_empty() => (
                h,
                Some(d.parse().map_err(|_| format!("{url}: bad database"))?),
            ),
            Some((h, _)) => (h, None),
            None => (rest, None),
        };
        if hostport.is_empty() {
            return Err(format!("{url}: no host"));
        }
        let addr = if hostport
            .rsplit_once(':')
            .is_some_and(|(_, p)| !p.contains(']'))
        {
            hostport.to_string()
        } else {
            format!("{hostport}:6379")
        };
        let (user, password) = match auth {
            None => (None, None),
            Some(a) => match a.split_once(':') {
                Some((u, p)) => ((!u.is_empty()).then(|| u.to_string()), Some(p.to_string())),
                None => (Some(a.to_string()), None),
            },
        };
        Ok(Self {
            addr,
            user,
            password,
            db,
        })
    }
}

/// The sending side: cheap to clone, one per `RedisCounters`.
#[derive(Clone)]
pub(crate) struct Link {
    tx: mpsc::UnboundedSender<Request>,
}

impl Link {
    /// Connects to `url` with `script` (the Lua source) loaded, and starts the connection task
    /// (which connects again after a failure, on the next request).
    /// A batch (with connecting again, when needed) that takes longer than `timeout` fails.
    pub(crate) async fn connect(
        url: &str,
        script: &'static str,
        timeout: Duration,
    ) -> Result<Self, String> {
        let target = Target::parse(url)?;
        let conn = tokio::time::timeout(CONNECT_TIMEOUT, Conn::open(&target, script))
            .await
            .map_err(|_| format!("connecting to {} timed out", target.addr))??;
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(target, script, Some(conn), timeout, rx));
        Ok(Self { tx })
    }

    /// Runs the script with `keys` and `args`; the reply's integers.
    pub(crate) async fn eval(&self, keys: &[&[u8]], args: &[u64]) -> Result<Vec<i64>, String> {
        let mut buf = Vec::with_capacity(32 + keys.iter().map(|k| k.len() + 16).sum::<usize>());
        let mut n = itoa::Buffer::new();
        bulk(&mut buf, n.format(keys.len()).as_bytes());
        for k in keys {
            bulk(&mut buf, k);
        }
        for a in args {
            bulk(&mut buf, n.format(*a).as_bytes());
        }
        match self
            .ask(Command::Eval {
                args: buf,
                count: 1 + keys.len() + args.len(),
            })
            .await?
        {
            Reply::Ints(v) => Ok(v),
            Reply::Int(i) => Ok(vec![i]),
            other => Err(format!("the script answered {other:?}")),
        }
    }

    /// Counts a call in the one counter `key` that lives `ttl_ms` from its first call: the
    /// count with this call. The connection's first `INCRBY` of a key follows `SET NX`, which
    /// gives a new key its expiry before it is counted (a connection lost between the two
    /// leaves a 0 that expires); a key Redis loses later gets `PEXPIRE` once counted again.
    pub(crate) async fn count(&self, key: Vec<u8>, ttl_ms: u64) -> Result<i64, String> {
        match self.ask(Command::Count { key, ttl_ms }).await? {
            Reply::Int(n) => Ok(n),
            other => Err(format!("INCRBY answered {other:?}")),
        }
    }

    async fn ask(&self, command: Command) -> Result<Reply, String> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Request { command, reply })
            .map_err(|_| "the Redis task ended".to_string())?;
        rx.await
            .map_err(|_| "the Redis connection failed".to_string())?
    }
}

/// Appends `data` as a RESP bulk string.
fn bulk(out: &mut Vec<u8>, data: &[u8]) {
    out.push(b'$');
    out.extend_from_slice(itoa::Buffer::new().format(data.len()).as_bytes());
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

/// A whole command as a RESP array of bulk strings.
fn command(parts: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    push_command(&mut out, parts);
    out
}

fn push_command(out: &mut Vec<u8>, parts: &[&[u8]]) {
    out.push(b'*');
    out.extend_from_slice(itoa::Buffer::new().format(parts.len()).as_bytes());
    out.extend_from_slice(b"\r\n");
    for p in parts {
        bulk(out, p);
    }
}

/// One reply from the front of `buf` (consumed), or None when it is not all there yet.
fn parse(buf: &mut BytesMut) -> Result<Option<Reply>, String> {
    fn line(b: &[u8], at: usize) -> Option<(&[u8], usize)> {
        let end = at + b.get(at..)?.windows(2).position(|w| w == b"\r\n")?;
        Some((&b[at..end], end + 2))
    }
    fn int(s: &[u8]) -> Result<i64, String> {
        let bad = || "Redis sent a bad integer".to_string();
        let (neg, digits) = match s.split_first() {
            Some((b'-', rest)) => (true, rest),
            _ => (false, s),
        };
        if digits.is_empty() || digits.len() > 18 {
            return Err(bad());
        }
        let mut n: i64 = 0;
        for &d in digits {
            if !d.is_ascii_digit() {
                return Err(bad());
            }
            n = n * 10 + i64::from(d - b'0');
        }
        Ok(if neg { -n } else { n })
    }
    fn text(s: &[u8]) -> String {
        String::from_utf8_lossy(s).into_owned()
    }
    let b = &buf[..];
    let Some(&kind) = b.first() else {
        return Ok(None);
    };
    let Some((head, mut next)) = line(b, 1) else {
        return Ok(None);
    };
    let reply = match kind {
        b':' => Reply::Int(int(head)?),
        b'+' => Reply::Text(text(head)),
        b'-' => Reply::Error(text(head)),
        b'$' => {
            let len = int(head)?;
            if len < 0 {
                Reply::Text(String::new())
            } else {
                let end = next + len as usize;
                if b.len() < end + 2 {
                    return Ok(None);
                }
                let t = text(&b[next..end]);
                next = end + 2;
                Reply::Text(t)
            }
        }
        b'*' => {
            let n = int(head)?.max(0) as usize;
            let mut items = Vec::with_capacity(n.min(64));
            for _ in 0..n {
                let Some((item, after)) = line(b, next + 1) else {
                    return Ok(None);
                };
                if b[next] != b':' {
                    return Err("Redis sent an array of other than integers".into());
                }
                items.push(int(item)?);
                next = after;
            }
            Reply::Ints(items)
        }
        other => {
            return Err(format!(
                "Redis sent a reply of unknown type {:?}",
                other as char
            ))
        }
    };
    buf.advance(next);
    Ok(Some(reply))
}

/// A connection with the script loaded.
struct Conn {
    stream: TcpStream,
    buf: BytesMut,
    sha: String,
    /// The counter keys this connection has sent `SET key 0 PX ttl NX` for: they have an expiry
    /// (the SET gave them one, or they already existed with one), so their calls need `INCRBY`
    /// alone. A key Redis has lost since (flushed, evicted) comes back from `INCRBY` without an
    /// expiry; its count is then exactly the calls just counted, and it gets `PEXPIRE` at once.
    /// A new connection starts empty (Redis may have restarted).
    expiring: foldhash::HashSet<Vec<u8>>,
}

impl Conn {
    async fn open(target: &Target, script: &str) -> Result<Self, String> {
        let stream = TcpStream::connect(&target.addr)
            .await
            .map_err(|e| format!("connecting to {}: {e}", target.addr))?;
        let _ = stream.set_nodelay(true);
        let mut conn = Self {
            stream,
            buf: BytesMut::with_capacity(16 * 1024),
            sha: String::new(),
            expiring: Default::default(),
        };
        if let Some(p) = &target.password {
            let auth = match &target.user {
                Some(u) => command(&[b"AUTH", u.as_bytes(), p.as_bytes()]),
                None => command(&[b"AUTH", p.as_bytes()]),
            };
            conn.ask(&auth).await?;
        }
        if let Some(db) = target.db {
            conn.ask(&command(&[b"SELECT", db.to_string().as_bytes()]))
                .await?;
        }
        conn.load(script).await?;
        Ok(conn)
    }

    async fn load(&mut self, script: &str) -> Result<(), String> {
        match self
            .ask(&command(&[b"SCRIPT", b"LOAD", script.as_bytes()]))
            .await?
        {
            Reply::Text(sha) if sha.len() == 40 => {
                self.sha = sha;
                Ok(())
            }
            other => Err(format!("SCRIPT LOAD answered {other:?}")),
        }
    }

    /// One command and its reply; an error reply is an error.
    async fn ask(&mut self, cmd: &[u8]) -> Result<Reply, String> {
        self.stream
            .write_all(cmd)
            .await
            .map_err(|e| e.to_string())?;
        match self.read_reply().await? {
            Reply::Error(e) => Err(e),
            r => Ok(r),
        }
    }

    async fn read_reply(&mut self) -> Result<Reply, String> {
        loop {
            if let Some(r) = parse(&mut self.buf)? {
                return Ok(r);
            }
            let n = self
                .stream
                .read_buf(&mut self.buf)
                .await
                .map_err(|e| e.to_string())?;
            if n == 0 {
                return Err("Redis closed the connection".into());
            }
        }
    }

    /// Writes the requests of `batch` that `todo` picks as one write and reads their replies
    /// (`None` for the others).
    async fn send(
        &mut self,
        batch: &[Request],
        todo: impl Fn(usize) -> bool,
    ) -> Result<Vec<Option<Reply>>, String> {
        let w = Written::of(batch, &self.sha, &self.expiring, todo);
        self.stream
            .write_all(&w.out)
            .await
            .map_err(|e| e.to_string())?;
        let mut replies: Vec<Option<Reply>> = (0..batch.len()).map(|_| None).collect();
        for &i in &w.scripts {
            replies[i] = Some(self.read_reply().await?);
        }
        let mut counted = Vec::with_capacity(w.counters.len());
        let mut lost = Vec::new();
        for c in &w.counters {
            // SET's answer (when sent), then INCRBY's; an error in either is the calls'.
            let set = match c.set_expiry {
                true => Some(self.read_reply().await?),
                false => None,
            };
            let incr = self.read_reply().await?;
            counted.push(match (set, incr) {
                (Some(e @ Reply::Error(_)), _) => e,
                (Some(_), incr @ Reply::Int(_)) => {
                    if self.expiring.len() >= MAX_EXPIRING {
                        self.expiring.clear();
                    }
                    self.expiring.insert(c.key.to_vec());
                    incr
                }
                (None, Reply::Int(n)) if n == c.calls as i64 => {
                    // Counted from nothing: the key was lost and has no expiry now.
                    lost.push(c);
                    Reply::Int(n)
                }
                (_, incr) => incr,
            });
        }
        if !lost.is_empty() {
            let mut out = Vec::new();
            let mut digits = itoa::Buffer::new();
            for c in &lost {
                push_command(
                    &mut out,
                    &[b"PEXPIRE", c.key, digits.format(c.ttl_ms).as_bytes()],
                );
            }
            self.stream
                .write_all(&out)
                .await
                .map_err(|e| e.to_string())?;
            for _ in &lost {
                self.read_reply().await?;
            }
        }
        for (i, place) in w.place.iter().enumerate() {
            let Some((c, nth)) = *place else { continue };
            // The counter's count after the batch, less the calls counted after this one.
            replies[i] = Some(match &counted[c] {
                Reply::Int(total) => Reply::Int(total - (w.counters[c].calls - 1 - nth) as i64),
                other => other.clone(),
            });
        }
        Ok(replies)
    }
}

/// One batch as written: the scripts in batch order, then each counter once, by the number of
/// its calls in the batch.
#[derive(Debug)]
struct Written<'a> {
    out: Vec<u8>,
    /// The scripts' requests, in the order written.
    scripts: Vec<usize>,
    /// Each counter once, in the order written.
    counters: Vec<Counted<'a>>,
    /// For each request of the batch that counts: its counter, and its place among the
    /// counter's calls.
    place: Vec<Option<(usize, u64)>>,
}

/// A counter of a batch: its key, the lifetime of a new one (its first call's), how many of
/// the batch's calls count in it, and whether its expiry is set first.
#[derive(Debug, PartialEq)]
struct Counted<'a> {
    key: &'a [u8],
    ttl_ms: u64,
    calls: u64,
    set_expiry: bool,
}

impl<'a> Written<'a> {
    fn of(
        batch: &'a [Request],
        sha: &str,
        expiring: &foldhash::HashSet<Vec<u8>>,
        todo: impl Fn(usize) -> bool,
    ) -> Self {
        let mut w = Written {
            out: Vec::with_capacity(
                batch
                    .iter()
                    .map(|r| match &r.command {
                        Command::Eval { args, .. } => args.len() + 64,
                        Command::Count { key, .. } => 2 * key.len() + 96,
                    })
                    .sum(),
            ),
            scripts: Vec::new(),
            counters: Vec::new(),
            place: vec![None; batch.len()],
        };
        let mut by_key: foldhash::HashMap<&[u8], usize> = Default::default();
        for (i, r) in batch.iter().enumerate().filter(|(i, _)| todo(*i)) {
            match &r.command {
                Command::Eval { args, count } => {
                    let out = &mut w.out;
                    out.push(b'*');
                    out.extend_from_slice(itoa::Buffer::new().format(count + 2).as_bytes());
                    out.extend_from_slice(b"\r\n");
                    bulk(out, b"EVALSHA");
                    bulk(out, sha.as_bytes());
                    out.extend_from_slice(args);
                    w.scripts.push(i);
                }
                Command::Count { key, ttl_ms } => {
                    let c = *by_key.entry(key).or_insert_with(|| {
                        w.counters.push(Counted {
                            key,
                            ttl_ms: *ttl_ms,
                            calls: 0,
                            set_expiry: !expiring.contains(&key[..]),
                        });
                        w.counters.len() - 1
                    });
                    w.place[i] = Some((c, w.counters[c].calls));
                    w.counters[c].calls += 1;
                }
            }
        }
        let mut digits = itoa::Buffer::new();
        for c in &w.counters {
            if c.set_expiry {
                push_command(
                    &mut w.out,
                    &[
                        b"SET",
                        c.key,
                        b"0",
                        b"PX",
                        digits.format(c.ttl_ms).as_bytes(),
                        b"NX",
                    ],
                );
            }
            push_command(
                &mut w.out,
                &[b"INCRBY", c.key, digits.format(c.calls).as_bytes()],
            );
        }
        w
    }
}

/// The connection task: batches of waiting requests, until every `Link` is dropped. One timer
/// per batch bounds it (callers need none of their own).
async fn run(
    target: Target,
    script: &'static str,
    mut conn: Option<Conn>,
    timeout: Duration,
    mut rx: mpsc::UnboundedReceiver<Request>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = rx.recv().await {
        gather(first, &mut rx, &mut batch).await;
        let done =
            tokio::time::timeout(timeout, exchange(&mut conn, &target, script, &batch)).await;
        match done {
            Ok(Ok(replies)) => {
                for (req, reply) in batch.drain(..).zip(replies) {
                    let _ = req.reply.send(match reply {
                        Reply::Error(e) => Err(e),
                        Reply::Text(t) => Err(format!("the script answered {t:?}")),
                        integers => Ok(integers),
                    });
                }
            }
            Ok(Err(e)) => {
                conn = None;
                fail(&mut batch, &e);
            }
            Err(_) => {
                // Where the replies stand is unknown: the next batch gets a new connection.
                conn = None;
                fail(&mut batch, "Redis timed out");
            }
        }
    }
}

/// Makes a batch of `first` and the requests that come while the tasks runnable on this
/// thread have their turns: woken by the first request, this task would otherwise go at once
/// with a batch of one, and the calls behind it would wait a whole round trip for the next.
/// It gives up its turn again while a round of turns brings more requests (a round also reads
/// the sockets that became ready, whose calls join too), at most `MAX_YIELDS` times: in
/// `bench/run.py`'s apigw+redis, batches of ~19 calls against ~11 with a single turn, and
/// Redis's CPU a call about halved (`docs/benchmarks.md`).
async fn gather(
    first: Request,
    rx: &mut mpsc::UnboundedReceiver<Request>,
    batch: &mut Vec<Request>,
) {
    batch.push(first);
    let mut waiting = rx.len();
    for _ in 0..MAX_YIELDS {
        tokio::task::yield_now().await;
        let now = rx.len();
        if now == waiting || now >= MAX_BATCH {
            break;
        }
        waiting = now;
    }
    while batch.len() < MAX_BATCH {
        match rx.try_recv() {
            Ok(r) => batch.push(r),
            Err(_) => break,
        }
    }
}

/// Sends `batch` on `conn` (connecting first when there is none) and reads its replies.
async fn exchange(
    conn: &mut Option<Conn>,
    target: &Target,
    script: &str,
    batch: &[Request],
) -> Result<Vec<Reply>, String> {
    if conn.is_none() {
        *conn = Some(Conn::open(target, script).await?);
    }
    let Some(c) = conn.as_mut() else {
        return Err("no connection".into());
    };
    let mut replies = c.send(batch, |_| true).await?;
    // Redis lost the script (restarted, SCRIPT FLUSH): load it and send again the scripts
    // that did not run (nothing else: a counter is never counted twice).
    let lost = |r: &Option<Reply>| matches!(r, Some(Reply::Error(e)) if e.starts_with("NOSCRIPT"));
    if replies.iter().any(lost) {
        c.load(script).await?;
        let again: Vec<bool> = replies.iter().map(lost).collect();
        let resent = c.send(batch, |i| again[i]).await?;
        for (r, new) in replies.iter_mut().zip(resent) {
            if new.is_some() {
                *r = new;
            }
        }
    }
    Ok(replies
        .into_iter()
        .map(|r| r.unwrap_or(Reply::Error("no reply".into())))
        .collect())
}

fn fail(batch: &mut Vec<Request>, why: &str) {
    for r in batch.drain(..) {
        let _ = r.reply.send(Err(why.to_string()));
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A whole command, as the link writes it.
    pub(crate) fn encode(parts: &[&[u8]]) -> Vec<u8> {
        command(parts)
    }

    fn parsed(data: &[u8]) -> Result<Option<Reply>, String> {
        parse(&mut BytesMut::from(data))
    }

    #[test]
    fn replies_parse_whole_and_wait_for_the_rest_when_cut() {
        assert_eq!(parsed(b":42\r\n"), Ok(Some(Reply::Int(42))));
        assert_eq!(
            parsed(b"*3\r\n:1\r\n:-2\r\n:7\r\n"),
            Ok(Some(Reply::Ints(vec![1, -2, 7])))
        );
        assert_eq!(
            parsed(b"-NOSCRIPT No matching script\r\n"),
            Ok(Some(Reply::Error("NOSCRIPT No matching script".into())))
        );
        assert_eq!(
            parsed(b"$3\r\nabc\r\n"),
            Ok(Some(Reply::Text("abc".into())))
        );
        for cut in [&b"*3\r\n:1\r\n:2"[..], b"$5\r\nab", b":4", b""] {
            assert_eq!(parsed(cut), Ok(None), "{cut:?}");
        }
        assert!(parsed(b"%1\r\n").is_err());
        assert!(parsed(b":x\r\n").is_err());
    }

    #[test]
    fn two_replies_in_one_read_are_taken_one_at_a_time() {
        let mut buf = BytesMut::from(&b"*1\r\n:5\r\n:6\r\n"[..]);
        assert_eq!(parse(&mut buf), Ok(Some(Reply::Ints(vec![5]))));
        assert_eq!(parse(&mut buf), Ok(Some(Reply::Int(6))));
        assert!(buf.is_empty());
    }

    fn count(key: &str) -> Request {
        Request {
            command: Command::Count {
                key: key.as_bytes().to_vec(),
                ttl_ms: 60_000,
            },
            reply: oneshot::channel().0,
        }
    }

    #[test]
    fn the_calls_of_a_batch_that_count_in_one_key_are_counted_by_one_incrby() {
        let mut args = Vec::new();
        bulk(&mut args, b"1");
        bulk(&mut args, b"k");
        let script = Request {
            command: Command::Eval {
                args: args.clone(),
                count: 2,
            },
            reply: oneshot::channel().0,
        };
        let batch = [count("a"), count("b"), script, count("a"), count("a")];
        let w = Written::of(&batch, "0123", &Default::default(), |_| true);
        let mut want = b"*4\r\n$7\r\nEVALSHA\r\n$4\r\n0123\r\n".to_vec();
        want.extend(args);
        for (key, n) in [(&b"a"[..], &b"3"[..]), (b"b", b"1")] {
            want.extend(encode(&[b"SET", key, b"0", b"PX", b"60000", b"NX"]));
            want.extend(encode(&[b"INCRBY", key, n]));
        }
        assert_eq!(
            String::from_utf8_lossy(&w.out),
            String::from_utf8_lossy(&want)
        );
        assert_eq!(w.scripts, [2]);
        let counted = |key, calls| Counted {
            key,
            ttl_ms: 60_000,
            calls,
            set_expiry: true,
        };
        assert_eq!(w.counters, [counted(b"a", 3), counted(b"b", 1)]);
        assert_eq!(
            w.place,
            [Some((0, 0)), Some((1, 0)), None, Some((0, 1)), Some((0, 2))]
        );
        // A resend of the scripts alone counts nothing again.
        let w = Written::of(&batch, "0123", &Default::default(), |i| i == 2);
        assert!(w.counters.is_empty() && w.place.iter().all(Option::is_none));
    }

    #[test]
    fn a_key_the_connection_has_given_its_expiry_is_counted_by_incrby_alone() {
        let batch = [count("a"), count("b"), count("a")];
        let expiring = [b"a".to_vec()].into_iter().collect();
        let w = Written::of(&batch, "0123", &expiring, |_| true);
        let mut want = encode(&[b"INCRBY", b"a", b"2"]);
        want.extend(encode(&[b"SET", b"b", b"0", b"PX", b"60000", b"NX"]));
        want.extend(encode(&[b"INCRBY", b"b", b"1"]));
        assert_eq!(
            String::from_utf8_lossy(&w.out),
            String::from_utf8_lossy(&want)
        );
        let set: Vec<bool> = w.counters.iter().map(|c| c.set_expiry).collect();
        assert_eq!(set, [false, true]);
    }

    /// The size of the batch the link makes when `calls` calls come one a round of the
    /// runtime's: each is woken by a byte on its socket (as a call is by its client's bytes),
    /// sends its request and writes the next call's byte, which the runtime reads at its next
    /// round.
    async fn batch_of_a_chain_of(calls: usize) -> usize {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let link = tokio::spawn(async move {
            let first = rx.recv().await.expect("a request");
            let mut batch = Vec::new();
            gather(first, &mut rx, &mut batch).await;
            batch.len()
        });
        let pairs: Vec<_> = (0..calls)
            .map(|_| std::os::unix::net::UnixStream::pair().expect("a socket pair"))
            .collect();
        let mut writers: Vec<_> = pairs.iter().map(|(w, _)| w.try_clone().ok()).collect();
        writers.push(None);
        for (i, (_, reader)) in pairs.into_iter().enumerate() {
            reader.set_nonblocking(true).expect("non-blocking");
            let reader = tokio::net::UnixStream::from_std(reader).expect("registered");
            let (tx, next) = (tx.clone(), writers[i + 1].take());
            tokio::spawn(async move {
                reader.readable().await.expect("readable");
                let _ = reader.try_read(&mut [0u8; 1]);
                let _ = tx.send(count("k"));
                if let Some(mut w) = next {
                    std::io::Write::write_all(&mut w, b"x").expect("written");
                }
            });
        }
        let mut start = writers[0].take().expect("the first call's socket");
        std::io::Write::write_all(&mut start, b"x").expect("written");
        link.await.expect("gathered")
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_batch_takes_the_requests_of_every_round_that_brings_more_up_to_its_cap() {
        // A call a round for three rounds: all three in the batch (one turn took two).
        assert_eq!(batch_of_a_chain_of(3).await, 3);
        // Calls in more rounds than the cap: the batch goes after MAX_YIELDS rounds.
        assert_eq!(batch_of_a_chain_of(10).await, 1 + MAX_YIELDS);
    }

    #[test]
    fn urls_name_the_address_credentials_and_database() {
        let t = Target::parse("redis://127.0.0.1:6379/0").unwrap();
        assert_eq!(
            (t.addr.as_str(), t.db, t.password),
            ("127.0.0.1:6379", Some(0), None)
        );
        let t = Target::parse("redis://:secret@cache/3").unwrap();
        assert_eq!(t.addr, "cache:6379");
        assert_eq!(
            (t.user, t.password.as_deref(), t.db),
            (None, Some("secret"), Some(3))
        );
        let t = Target::parse("redis://app:pw@[::1]:7000").unwrap();
        assert_eq!(
            (t.addr.as_str(), t.user.as_deref()),
            ("[::1]:7000", Some("app"))
        );
        assert!(Target::parse("http://x").is_err());
        assert!(Target::parse("redis://h/x").is_err());
    }
}
