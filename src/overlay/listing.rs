//! Directory listings by node, with offsets that stay valid while the directory changes.
//!
//! The overlay answers `OPENDIR` with `ENOSYS`, so the kernel stops sending `OPENDIR` and
//! `RELEASEDIR` (two round trips per directory a `find` or `tar` walks) and caches listings
//! itself (FOPEN_CACHE_DIR is its default then). `READDIR(PLUS)` then comes with the node
//! and an offset only, and two readers of one directory share what this process keeps for
//! it. So an entry's offset is not its position but a cookie from its name — a hash, as
//! ext4's — and a listing is served in cookie order: rebuilding it (every read from offset
//! 0 does, as `opendir` would) cannot shift where a reader in the middle of it goes on, and
//! an entry that stays is listed exactly once.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::sync::{Arc, Mutex};

use super::dir::Merged;
use super::lock;

/// Offsets 1 and 2 follow `.` and `..`.
const FIRST_COOKIE: u64 = 3;

/// How many listings are kept (each until its directory is forgotten or pushed out).
const CAPACITY: usize = 64;

/// The offset that follows entry `name`: FNV-1a, in 62 bits (positive as `loff_t`), above
/// the two dot entries'.
pub(crate) fn cookie(name: &OsStr) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    (h >> 2).max(FIRST_COOKIE)
}

/// A merged listing in cookie order.
pub(crate) struct Listing {
    entries: Vec<(u64, Merged)>,
}

impl Listing {
    pub fn new(merged: Vec<Merged>) -> Listing {
        let mut entries: Vec<(u64, Merged)> =
            merged.into_iter().map(|m| (cookie(&m.name), m)).collect();
        entries.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.name.cmp(&b.1.name)));
        Listing { entries }
    }

    /// The entries after `offset` (an offset the kernel got from this listing, or 2 and
    /// below for the start), each with its cookie.
    pub fn after(&self, offset: u64) -> &[(u64, Merged)] {
        let start = self.entries.partition_point(|(c, _)| *c <= offset);
        self.entries.get(start..).unwrap_or(&[])
    }
}

/// The listings kept, by directory node.
#[derive(Default)]
pub(crate) struct Listings {
    map: Mutex<HashMap<u64, Arc<Listing>>>,
}

impl Listings {
    pub fn get(&self, ino: u64) -> Option<Arc<Listing>> {
        lock(&self.map).get(&ino).cloned()
    }

    pub fn put(&self, ino: u64, l: Arc<Listing>) {
        let mut map = lock(&self.map);
        if map.len() >= CAPACITY
            && !map.contains_key(&ino)
            && let Some(&other) = map.keys().next()
        {
            map.remove(&other);
        }
        map.insert(ino, l);
    }

    pub fn forget(&self, ino: u64) {
        lock(&self.map).remove(&ino);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str) -> Merged {
        Merged {
            name: name.into(),
            layer: 0,
            ino: 10,
            kind: rustix::fs::FileType::RegularFile,
        }
    }

    fn names(s: &[(u64, Merged)]) -> Vec<String> {
        s.iter()
            .map(|(_, m)| m.name.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn a_reader_goes_on_where_it_was_whatever_changed() {
        let before = Listing::new(["a", "b", "c", "d", "e"].map(entry).to_vec());
        let all = names(before.after(0));
        assert_eq!(all.len(), 5);
        // A reader took the first two entries; then "x" is created and one it saw and one
        // it did not see are removed.
        let (seen, rest) = all.split_at(2);
        let at = before.after(0)[1].0;
        let gone_unseen = rest[0].clone();
        let mut now: Vec<Merged> = ["a", "b", "c", "d", "e", "x"]
            .into_iter()
            .filter(|n| **n != seen[0] && **n != gone_unseen)
            .map(entry)
            .collect();
        now.reverse();
        let after = Listing::new(now);
        let more = names(after.after(at));
        for n in &rest[1..] {
            assert_eq!(more.iter().filter(|m| *m == n).count(), 1, "{n} once");
        }
        assert!(!more.contains(&seen[1]), "no entry twice");
        assert!(!more.contains(&gone_unseen));
        assert!(after.after(u64::MAX >> 1).is_empty());
        assert!(cookie(OsStr::new("")) >= FIRST_COOKIE);
    }
}
