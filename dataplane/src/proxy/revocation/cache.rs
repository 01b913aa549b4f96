//! A bounded cache of answers valid until a time: what the OCSP, CRL and staple caches share.
//! It reads no clock: every call is given `now` (seconds since the epoch), so expiry,
//! eviction and refresh are decided — and tested — without waiting.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;

/// Answers by key, each valid until its own time.
#[derive(Debug)]
pub(crate) struct Cache<K, V> {
    entries: HashMap<K, Entry<V>>,
    max: usize,
}

#[derive(Debug)]
struct Entry<V> {
    value: V,
    fetched: i64,
    until: i64,
    last_used: i64,
}

impl<K: Hash + Eq, V: Clone> Cache<K, V> {
    /// An empty cache of at most `max` entries.
    pub(crate) fn new(max: usize) -> Self {
        Self {
            entries: HashMap::new(),
            max: max.max(1),
        }
    }

    /// The answer for `key` if it is still valid at `now`, marked as used.
    pub(crate) fn get<Q>(&mut self, key: &Q, now: i64) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.get_until(key, now).map(|(value, _)| value)
    }

    /// [`Self::get`], with the time until which the answer is valid.
    pub(crate) fn get_until<Q>(&mut self, key: &Q, now: i64) -> Option<(V, i64)>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let entry = self.entries.get_mut(key).filter(|e| now < e.until)?;
        entry.last_used = now;
        Some((entry.value.clone(), entry.until))
    }

    /// Stores the answer for `key`, fetched at `now` and valid until `until`. A full cache first
    /// drops expired answers, then the least recently used tenth.
    pub(crate) fn insert(&mut self, key: K, value: V, until: i64, now: i64) {
        if self.entries.len() >= self.max && !self.entries.contains_key(&key) {
            self.evict(now);
        }
        self.entries.insert(
            key,
            Entry {
                value,
                fetched: now,
                until,
                last_used: now,
            },
        );
    }

    /// Answers used within `recent` seconds of `now` whose last tenth of validity (at least ten
    /// seconds) has begun: what a background refresh asks again before it expires.
    pub(crate) fn due(&self, now: i64, recent: i64) -> impl Iterator<Item = &V> {
        self.entries
            .values()
            .filter(move |e| now - e.last_used < recent)
            .filter(move |e| now >= e.until - ((e.until - e.fetched) / 10).max(10))
            .map(|e| &e.value)
    }

    /// How many answers are held (valid or not).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    fn evict(&mut self, now: i64) {
        self.entries.retain(|_, e| e.until > now);
        if self.entries.len() >= self.max {
            let mut used: Vec<i64> = self.entries.values().map(|e| e.last_used).collect();
            used.sort_unstable();
            let cutoff = used[used.len() / 10];
            self.entries.retain(|_, e| e.last_used > cutoff);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_is_served_until_it_expires() {
        let mut c: Cache<String, u8> = Cache::new(10);
        c.insert("a".into(), 1, 1_000, 100);
        assert_eq!(c.get("a", 100), Some(1));
        assert_eq!(c.get("a", 999), Some(1));
        assert_eq!(c.get_until("a", 999), Some((1, 1_000)));
        assert_eq!(c.get("a", 1_000), None, "expired at `until`");
        assert_eq!(c.get("b", 100), None);
    }

    #[test]
    fn a_full_cache_drops_the_expired_then_the_least_recently_used() {
        let mut c: Cache<u32, u32> = Cache::new(10);
        for k in 0..10 {
            c.insert(k, k, 1_000 + i64::from(k), 0);
        }
        // Key 0 expired by now; inserting an eleventh drops it and nothing else.
        c.insert(10, 10, 2_000, 1_000);
        assert_eq!(c.len(), 10);
        assert_eq!(c.get(&0, 1_000), None);
        // All valid now: the least recently used go (key 1 and 2 were not used since 0).
        for k in 3..=10 {
            assert!(c.get(&k, 1_001).is_some(), "{k}");
        }
        c.insert(11, 11, 2_000, 1_002);
        assert_eq!(c.get(&1, 1_002), None);
        assert_eq!(c.get(&11, 1_002), Some(11));
        assert!(c.len() <= 10);
    }

    #[test]
    fn recently_used_answers_are_due_in_their_last_tenth() {
        let mut c: Cache<&str, u8> = Cache::new(10);
        c.insert("used", 1, 1_000, 0);
        c.insert("idle", 2, 1_000, 0);
        assert_eq!(c.due(899, 600).count(), 0, "not before the last tenth");
        c.get("used", 850);
        let due: Vec<u8> = c.due(900, 600).copied().collect();
        assert_eq!(due, [1], "used within `recent` only");
        // A short-lived answer is refreshed at least ten seconds before it expires.
        let mut c: Cache<&str, u8> = Cache::new(10);
        c.insert("short", 3, 20, 0);
        assert_eq!(c.due(9, 600).count(), 0);
        assert_eq!(c.due(10, 600).count(), 1);
    }
}
