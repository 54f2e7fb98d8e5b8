//! Open files by node instead of by handle. The overlay answers `OPEN` with `ENOSYS`, so the
//! kernel stops sending `OPEN` and `RELEASE` (two round trips per opened file: `tar` opens
//! every file) and keeps page caches across opens (FOPEN_KEEP_CACHE is its default then);
//! `READ` and `WRITE` come with the node only. The fd a node is read and written through is
//! opened on its first use and kept here, a bounded number of them; a lower file is copied
//! up, and its fd replaced, on the first write. A file whose last name is removed while the
//! kernel still knows it keeps an fd here ("pinned") until the kernel forgets the node, so
//! that a process holding it open can go on using it.

use std::collections::{HashMap, VecDeque};
use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex};

use super::lock;

/// How many unpinned fds stay open.
const CAPACITY: usize = 256;

/// An fd of a node, and whether it was opened for writing (in the upper layer).
#[derive(Clone)]
pub(crate) struct NodeFd {
    pub fd: Arc<OwnedFd>,
    pub writable: bool,
}

struct Slot {
    fd: NodeFd,
    pinned: bool,
}

#[derive(Default)]
struct Inner {
    slots: HashMap<u64, Slot>,
    /// Node ids in the order their fds were opened, oldest first (may name ones gone since).
    order: VecDeque<u64>,
}

#[derive(Default)]
pub(crate) struct FdCache {
    inner: Mutex<Inner>,
}

impl FdCache {
    pub fn get(&self, ino: u64) -> Option<NodeFd> {
        lock(&self.inner).slots.get(&ino).map(|s| s.fd.clone())
    }

    /// Keeps `fd` for `ino` (replacing an older one, pinned state kept); closes the oldest
    /// unpinned fds beyond the capacity.
    pub fn put(&self, ino: u64, fd: NodeFd) {
        let mut inner = lock(&self.inner);
        let pinned = inner.slots.get(&ino).is_some_and(|s| s.pinned);
        if inner.slots.insert(ino, Slot { fd, pinned }).is_none() {
            inner.order.push_back(ino);
        }
        while inner.slots.len() > CAPACITY {
            let Some(old) = inner.order.pop_front() else {
                break;
            };
            if inner.slots.get(&old).is_some_and(|s| !s.pinned) {
                inner.slots.remove(&old);
            }
        }
    }

    /// Keeps `fd` for `ino` until [`FdCache::forget`]: its last name is going.
    pub fn pin(&self, ino: u64, fd: NodeFd) {
        let mut inner = lock(&self.inner);
        inner.slots.insert(ino, Slot { fd, pinned: true });
        inner.order.retain(|i| *i != ino);
    }

    /// The node's backing file changed (a copy-up): the next use opens the new one.
    pub fn drop_unpinned(&self, ino: u64) {
        let mut inner = lock(&self.inner);
        if inner.slots.get(&ino).is_some_and(|s| !s.pinned) {
            inner.slots.remove(&ino);
        }
    }

    /// The kernel forgot the node.
    pub fn forget(&self, ino: u64) {
        lock(&self.inner).slots.remove(&ino);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fd() -> rustix::io::Result<NodeFd> {
        Ok(NodeFd {
            fd: Arc::new(rustix::fs::open(
                "/",
                rustix::fs::OFlags::PATH,
                rustix::fs::Mode::empty(),
            )?),
            writable: false,
        })
    }

    #[test]
    fn bounded_and_pinned_entries_stay() -> rustix::io::Result<()> {
        let c = FdCache::default();
        c.put(1, fd()?);
        c.pin(1, fd()?);
        for i in 2..(CAPACITY as u64 + 10) {
            c.put(i, fd()?);
        }
        assert!(c.get(1).is_some(), "pinned");
        assert!(c.get(2).is_none(), "the oldest went");
        assert!(c.get(CAPACITY as u64 + 9).is_some());
        c.drop_unpinned(1);
        assert!(c.get(1).is_some());
        c.forget(1);
        assert!(c.get(1).is_none());
        Ok(())
    }
}
