//! The node's response cache: entries by key, least recently used first out when the node's
//! budget is reached, and one fill at a time per key (the calls that miss while it runs wait
//! for it instead of calling the backend too).

use crate::headers::Headers;
use bytes::Bytes;
use http::StatusCode;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

/// Largest body kept (APIG: 1 MB).
pub const MAX_BODY_BYTES: usize = 1 << 20;
/// Memory the entries of one node may take (APIG: 128 MB).
pub const NODE_BYTES: usize = 128 << 20;
/// What an entry costs besides its key, body and headers (its place in the maps).
const ENTRY_OVERHEAD: usize = 128;

/// A kept answer.
#[derive(Debug)]
pub struct Entry {
    pub status: StatusCode,
    /// The stored headers only.
    pub headers: Headers,
    pub body: Bytes,
    /// When it was stored, ms since the epoch.
    pub stored_ms: u64,
    /// When it stops being served, ms since the epoch.
    pub expires_ms: u64,
}

impl Entry {
    fn cost(&self, key: &str) -> usize {
        let headers: usize = self
            .headers
            .iter()
            .map(|(n, v)| n.as_str().len() + v.len())
            .sum();
        key.len() + self.body.len() + headers + ENTRY_OVERHEAD
    }
}

/// The cache of one node, shared by every proxy_cache instance.
#[derive(Debug)]
pub struct Store {
    inner: Mutex<Inner>,
    budget: usize,
}

impl Default for Store {
    fn default() -> Self {
        Self::with_budget(NODE_BYTES)
    }
}

#[derive(Debug, Default)]
struct Inner {
    slots: HashMap<Arc<str>, Slot>,
    /// Ready entries by last use (a use tick), oldest first.
    lru: BTreeMap<u64, Arc<str>>,
    tick: u64,
    bytes: usize,
    /// Fills started, to tell one key's fills apart.
    fills: u64,
}

#[derive(Debug)]
enum Slot {
    Ready {
        entry: Arc<Entry>,
        used: u64,
        cost: usize,
    },
    /// A call is getting the answer; its waiters see the channel close when it is done.
    Filling { id: u64, _done: watch::Sender<()> },
}

/// What a look-up found.
#[derive(Debug)]
pub enum Lookup {
    Hit(Arc<Entry>),
    /// Nothing: this call gets the answer and fills the entry.
    Fill(Filler),
    /// Another call is getting the answer: wait for it, then look again.
    Wait(watch::Receiver<()>),
}

/// The right to fill one key: dropped without [`Filler::store`], the key is free again and
/// its waiters go on.
#[derive(Debug)]
pub struct Filler {
    store: Arc<Store>,
    key: Arc<str>,
    id: u64,
}

impl Store {
    /// A store whose entries may take `budget` bytes.
    pub fn with_budget(budget: usize) -> Self {
        Self {
            inner: Mutex::default(),
            budget,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The entry of `key` fresh at `now_ms`; otherwise the right to fill it or the fill to
    /// wait for. With `fill` false, a missing entry is just missing (`None`).
    pub fn lookup(self: &Arc<Self>, key: &str, now_ms: u64, fill: bool) -> Option<Lookup> {
        let mut inner = self.lock();
        let inner = &mut *inner;
        inner.tick += 1;
        let tick = inner.tick;
        match inner.slots.get_mut(key) {
            Some(Slot::Ready { entry, used, .. }) if entry.expires_ms > now_ms => {
                let old = std::mem::replace(used, tick);
                let k = inner
                    .lru
                    .remove(&old)
                    .expect("ready entries are in the lru");
                inner.lru.insert(tick, k);
                return Some(Lookup::Hit(entry.clone()));
            }
            Some(Slot::Filling { _done, .. }) => return Some(Lookup::Wait(_done.subscribe())),
            Some(Slot::Ready { .. }) => inner.remove(key),
            None => {}
        }
        if !fill {
            return None;
        }
        inner.fills += 1;
        let id = inner.fills;
        let key: Arc<str> = key.into();
        let (done, _) = watch::channel(());
        inner
            .slots
            .insert(key.clone(), Slot::Filling { id, _done: done });
        Some(Lookup::Fill(Filler {
            store: self.clone(),
            key,
            id,
        }))
    }

    /// The right to fill `key` anew (a caller asked for a fresh answer): the entry is dropped
    /// and the calls meanwhile wait for the new one; `None` when another call is filling it.
    pub fn refill(self: &Arc<Self>, key: &str) -> Option<Filler> {
        let mut inner = self.lock();
        if let Some(Slot::Filling { .. }) = inner.slots.get(key) {
            return None;
        }
        inner.remove(key);
        drop(inner);
        match self.lookup(key, 0, true) {
            Some(Lookup::Fill(f)) => Some(f),
            _ => None,
        }
    }

    /// Bytes the entries take.
    pub fn bytes(&self) -> usize {
        self.lock().bytes
    }

    /// Entries kept (expired ones until they are looked up or pushed out).
    pub fn entries(&self) -> usize {
        self.lock().lru.len()
    }
}

impl Inner {
    fn remove(&mut self, key: &str) {
        if let Some(Slot::Ready { used, cost, .. }) = self.slots.remove(key) {
            self.lru.remove(&used);
            self.bytes -= cost;
        }
    }

    /// Whether `key` is being filled by fill `id`.
    fn filling(&self, key: &str, id: u64) -> bool {
        matches!(self.slots.get(key), Some(Slot::Filling { id: i, .. }) if *i == id)
    }
}

impl Filler {
    /// Keeps `entry` under the key (pushing out the least recently used entries to stay
    /// within the budget) and lets the waiters go on.
    pub fn store(self, entry: Entry) {
        let cost = entry.cost(&self.key);
        let mut inner = self.store.lock();
        if cost > self.store.budget || !inner.filling(&self.key, self.id) {
            return;
        }
        while inner.bytes + cost > self.store.budget {
            let Some((_, oldest)) = inner.lru.pop_first() else {
                break;
            };
            if let Some(Slot::Ready { cost, .. }) = inner.slots.remove(&oldest) {
                inner.bytes -= cost;
            }
        }
        inner.tick += 1;
        let used = inner.tick;
        inner.lru.insert(used, self.key.clone());
        inner.bytes += cost;
        // Replacing the filling slot drops its channel: the waiters wake.
        inner.slots.insert(
            self.key.clone(),
            Slot::Ready {
                entry: Arc::new(entry),
                used,
                cost,
            },
        );
    }
}

impl Drop for Filler {
    fn drop(&mut self) {
        let mut inner = self.store.lock();
        if inner.filling(&self.key, self.id) {
            inner.slots.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(body: usize, expires_ms: u64) -> Entry {
        Entry {
            status: StatusCode::OK,
            headers: Headers::new(),
            body: Bytes::from(vec![b'x'; body]),
            stored_ms: 0,
            expires_ms,
        }
    }

    fn fill(store: &Arc<Store>, key: &str, body: usize, expires_ms: u64) {
        match store.lookup(key, 0, true) {
            Some(Lookup::Fill(f)) => f.store(entry(body, expires_ms)),
            other => panic!("{key} can be filled: {other:?}"),
        }
    }

    fn hit(store: &Arc<Store>, key: &str, now: u64) -> bool {
        matches!(store.lookup(key, now, false), Some(Lookup::Hit(_)))
    }

    #[test]
    fn an_entry_is_served_until_it_expires() {
        let s = Arc::new(Store::default());
        fill(&s, "k", 10, 5_000);
        assert!(hit(&s, "k", 4_999));
        assert!(!hit(&s, "k", 5_000), "expired at its time");
        assert_eq!(
            (s.entries(), s.bytes()),
            (0, 0),
            "an expired entry found is gone"
        );
    }

    #[test]
    fn the_least_recently_used_entries_go_first_within_the_budget() {
        let cost = entry(1000, 1).cost("a");
        let s = Arc::new(Store::with_budget(3 * cost));
        fill(&s, "a", 1000, u64::MAX);
        fill(&s, "b", 1000, u64::MAX);
        fill(&s, "c", 1000, u64::MAX);
        assert!(hit(&s, "a", 1), "a is used again: b is now the oldest");
        fill(&s, "d", 1000, u64::MAX);
        assert!(hit(&s, "a", 1) && hit(&s, "c", 1) && hit(&s, "d", 1));
        assert!(!hit(&s, "b", 1));
        assert_eq!((s.entries(), s.bytes()), (3, 3 * cost));
        // An entry over the whole budget is not kept, and pushes nothing out.
        fill(&s, "huge", 4 * cost, u64::MAX);
        assert!(!hit(&s, "huge", 1) && hit(&s, "a", 1));
    }

    #[test]
    fn one_call_fills_a_key_while_the_others_wait_for_it() {
        let s = Arc::new(Store::default());
        let Some(Lookup::Fill(f)) = s.lookup("k", 0, true) else {
            panic!("the first call fills");
        };
        let Some(Lookup::Wait(w)) = s.lookup("k", 0, true) else {
            panic!("the second waits");
        };
        assert!(w.has_changed().is_ok(), "still filling");
        f.store(entry(3, 10));
        assert!(
            w.has_changed().is_err(),
            "the fill is done: the waiter wakes"
        );
        assert!(hit(&s, "k", 1));
    }

    #[test]
    fn a_fill_given_up_frees_the_key_and_wakes_the_waiters() {
        let s = Arc::new(Store::default());
        let Some(Lookup::Fill(f)) = s.lookup("k", 0, true) else {
            panic!("the first call fills");
        };
        let Some(Lookup::Wait(w)) = s.lookup("k", 0, true) else {
            panic!("the second waits");
        };
        drop(f);
        assert!(w.has_changed().is_err());
        assert!(s.lookup("k", 0, false).is_none());
        assert!(matches!(s.lookup("k", 0, true), Some(Lookup::Fill(_))));
    }

    #[test]
    fn a_refill_replaces_the_entry_unless_a_fill_is_running() {
        let s = Arc::new(Store::default());
        fill(&s, "k", 1, 10);
        let f = s.refill("k").expect("a kept entry can be refilled");
        assert!(matches!(s.lookup("k", 1, true), Some(Lookup::Wait(_))));
        assert!(s.refill("k").is_none(), "one fill at a time");
        f.store(entry(2, 10));
        assert!(hit(&s, "k", 1));
        assert_eq!(s.entries(), 1);
    }

    #[test]
    fn an_old_fill_does_not_overwrite_or_free_a_newer_one() {
        let s = Arc::new(Store::default());
        let Some(Lookup::Fill(old)) = s.lookup("k", 0, true) else {
            panic!()
        };
        // The key is freed by hand (as when the slot was replaced) and filled anew.
        s.lock().slots.remove("k");
        let Some(Lookup::Fill(new)) = s.lookup("k", 0, true) else {
            panic!()
        };
        old.store(entry(1, 10));
        assert!(!hit(&s, "k", 1), "the old fill stored nothing");
        assert!(matches!(s.lookup("k", 0, true), Some(Lookup::Wait(_))));
        new.store(entry(1, 10));
        assert!(hit(&s, "k", 1));
    }
}
