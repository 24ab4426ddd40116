//! The bridge's in-memory cache of thread parents (`parent outbox key → ts`): bounded, least
//! recently used out first. A miss is answered from the store, so the bound costs a lookup,
//! never a thread.

use std::collections::{BTreeMap, HashMap};

/// A map of at most `capacity` entries that forgets the least recently used one first
/// (capacity 0: remembers nothing).
#[derive(Debug)]
pub(crate) struct Lru {
    capacity: usize,
    tick: u64,
    entries: HashMap<String, (String, u64)>,
    by_use: BTreeMap<u64, String>,
}

impl Lru {
    pub(crate) fn new(capacity: usize) -> Self {
        Lru {
            capacity,
            tick: 0,
            entries: HashMap::new(),
            by_use: BTreeMap::new(),
        }
    }

    fn next_tick(&mut self) -> u64 {
        self.tick += 1;
        self.tick
    }

    /// The value of `key`, now the most recently used.
    pub(crate) fn get(&mut self, key: &str) -> Option<String> {
        let tick = self.next_tick();
        let (value, used) = self.entries.get_mut(key)?;
        self.by_use.remove(used);
        *used = tick;
        self.by_use.insert(tick, key.to_owned());
        Some(value.clone())
    }

    /// Sets `key`, evicting the least recently used entries beyond the capacity.
    pub(crate) fn insert(&mut self, key: String, value: String) {
        if self.capacity == 0 {
            return;
        }
        let tick = self.next_tick();
        if let Some((_, used)) = self.entries.insert(key.clone(), (value, tick)) {
            self.by_use.remove(&used);
        }
        self.by_use.insert(tick, key);
        while self.entries.len() > self.capacity {
            let Some((_, oldest)) = self.by_use.pop_first() else {
                break;
            };
            self.entries.remove(&oldest);
        }
    }

    /// Entries held.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_at_most_its_capacity_and_evicts_the_least_recently_used() {
        let mut c = Lru::new(2);
        c.insert("a".into(), "1".into());
        c.insert("b".into(), "2".into());
        assert_eq!(c.get("a").as_deref(), Some("1"));
        c.insert("c".into(), "3".into());
        assert_eq!(c.len(), 2);
        assert_eq!(c.get("b"), None, "b was the least recently used");
        assert_eq!(c.get("a").as_deref(), Some("1"));
        assert_eq!(c.get("c").as_deref(), Some("3"));
        c.insert("a".into(), "9".into());
        assert_eq!(c.len(), 2);
        assert_eq!(c.get("a").as_deref(), Some("9"));
        for i in 0..10_000 {
            c.insert(format!("k{i}"), String::new());
        }
        assert_eq!(c.len(), 2);
        let mut off = Lru::new(0);
        off.insert("a".into(), "1".into());
        assert_eq!((off.len(), off.get("a")), (0, None));
    }
}
