//! The node table: which merged entry each FUSE node id stands for, how many lookups the
//! kernel holds on it, and the inode numbers the container sees.
//!
//! fuser uses one number as node id and `st_ino`, so a node is an inode, not a name: two
//! hardlinked names of one layer are one node. Identity is the backing file's `(st_dev,
//! st_ino)`. The number shown is the backing `st_ino` when all layers share one device
//! (other devices get their index in the top byte), so numbers are stable while the mount
//! lives, and a copy-up keeps the number of its origin. A number is never given to a second
//! file while the kernel still knows the first one (an upper file's inode may be reused by
//! the backing filesystem after deletion): such clashes get a private number from
//! `0x8000_0000_0000_0000` up.

use std::collections::HashMap;

use crate::archive::FileKind;

/// A backing file: `(st_dev, st_ino)`.
pub(crate) type Key = (u64, u64);

/// The root's node id (FUSE_ROOT_ID).
pub(crate) const ROOT: u64 = 1;
const PRIVATE_BASE: u64 = 0x8000_0000_0000_0000;

/// What a node id stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Node {
    /// Path in the merged tree (`""` is the root). For a hardlinked file, the last name it
    /// was looked up by.
    pub path: Vec<u8>,
    /// The layers the entry comes from, top-most first: one for a non-directory, every
    /// merged layer for a directory.
    pub layers: Vec<usize>,
    /// The true kind (from the ownership metadata).
    pub kind: FileKind,
    /// The backing file of the top-most layer.
    pub key: Key,
}

impl Node {
    /// The layer holding the entry itself.
    pub fn layer(&self) -> usize {
        self.layers.first().copied().unwrap_or(usize::MAX)
    }
}

struct Entry {
    node: Node,
    /// The other names the kernel knows the node by (hardlinks), so that it keeps a name
    /// when the one in `node.path` is unlinked or renamed away.
    aliases: Vec<Vec<u8>>,
    lookups: u64,
    /// Every backing file mapped to this node (a copied-up node has its origin's too).
    keys: Vec<Key>,
}

/// Node ids to nodes, and backing files to node ids.
pub(crate) struct NodeTable {
    nodes: HashMap<u64, Entry>,
    by_key: HashMap<Key, u64>,
    /// Numbers that upper copies keep from their lower origin, for the life of the mount.
    origins: HashMap<Key, u64>,
    devs: Vec<u64>,
    next_private: u64,
    /// Directory nodes by path (a directory has one name), for `..` and copy-up: a scan of
    /// every node per listing made `find` quadratic.
    dir_paths: HashMap<Vec<u8>, u64>,
}

impl NodeTable {
    /// A table holding the root; `devs` are the layers' devices, top-most first: their
    /// order fixes each device's index in the numbers, the same on every mount of the stack.
    pub fn new(root: Node, devs: &[u64]) -> NodeTable {
        let mut t = NodeTable {
            nodes: HashMap::new(),
            by_key: HashMap::new(),
            origins: HashMap::new(),
            devs: Vec::new(),
            next_private: PRIVATE_BASE,
            dir_paths: HashMap::new(),
        };
        t.dir_paths.insert(root.path.clone(), ROOT);
        for &d in devs {
            t.dev_index(d);
        }
        t.dev_index(root.key.0);
        t.by_key.insert(root.key, ROOT);
        t.nodes.insert(
            ROOT,
            Entry {
                keys: vec![root.key],
                node: root,
                aliases: Vec::new(),
                lookups: 1,
            },
        );
        t
    }

    pub fn get(&self, ino: u64) -> Option<&Node> {
        self.nodes.get(&ino).map(|e| &e.node)
    }

    fn dev_index(&mut self, dev: u64) -> u64 {
        match self.devs.iter().position(|d| *d == dev) {
            Some(i) => i as u64,
            None => {
                self.devs.push(dev);
                (self.devs.len() - 1) as u64
            }
        }
    }

    /// The number of `key` if the table has one (a known node, or a copy made by this mount).
    pub fn known(&self, key: Key) -> Option<u64> {
        self.by_key
            .get(&key)
            .or_else(|| self.origins.get(&key))
            .copied()
    }

    /// The number `key` would be shown with, without registering it (plain `readdir`).
    pub fn number_of(&mut self, key: Key) -> u64 {
        match self.known(key) {
            Some(ino) => ino,
            None => self.candidate(key),
        }
    }

    fn candidate(&mut self, key: Key) -> u64 {
        let idx = self.dev_index(key.0);
        key.1 ^ (idx << 56)
    }

    /// The node id for a looked-up entry, counting one lookup: the known node of its
    /// backing file (updated to what the lookup found), or a new one, numbered `origin` when
    /// the entry is a copy that keeps its origin's number.
    pub fn lookup(&mut self, node: Node, origin: Option<u64>) -> u64 {
        if let Some(&ino) = self.by_key.get(&node.key)
            && let Some(e) = self.nodes.get_mut(&ino)
        {
            e.lookups += 1;
            if ino != ROOT {
                let was_dir = e.node.kind == FileKind::Dir;
                let old_path = (was_dir
                    && (e.node.path != node.path || node.kind != FileKind::Dir))
                    .then(|| e.node.path.clone());
                if e.node.path != node.path {
                    let old = std::mem::replace(&mut e.node.path, node.path);
                    e.aliases.retain(|a| *a != e.node.path);
                    if e.node.kind != FileKind::Dir && !e.aliases.contains(&old) {
                        e.aliases.push(old);
                    }
                }
                e.node.layers = node.layers;
                e.node.kind = node.kind;
                let now_dir = (e.node.kind == FileKind::Dir).then(|| e.node.path.clone());
                if let Some(old) = old_path
                    && self.dir_paths.get(&old) == Some(&ino)
                {
                    self.dir_paths.remove(&old);
                }
                if let Some(p) = now_dir {
                    self.dir_paths.insert(p, ino);
                }
            }
            return ino;
        }
        let mut ino = match self.origins.get(&node.key).copied().or(origin) {
            Some(n) => n,
            None => self.candidate(node.key),
        };
        if ino <= ROOT || ino >= PRIVATE_BASE || self.nodes.contains_key(&ino) {
            ino = self.next_private;
            self.next_private += 1;
        }
        self.by_key.insert(node.key, ino);
        if node.kind == FileKind::Dir {
            self.dir_paths.insert(node.path.clone(), ino);
        }
        self.nodes.insert(
            ino,
            Entry {
                keys: vec![node.key],
                node,
                aliases: Vec::new(),
                lookups: 1,
            },
        );
        ino
    }

    /// The kernel dropped `n` lookups of `ino`; the node goes when none are left (then
    /// true).
    pub fn forget(&mut self, ino: u64, n: u64) -> bool {
        if ino == ROOT {
            return false;
        }
        let Some(e) = self.nodes.get_mut(&ino) else {
            return false;
        };
        e.lookups = e.lookups.saturating_sub(n);
        if e.lookups == 0
            && let Some(e) = self.nodes.remove(&ino)
        {
            for k in e.keys {
                if self.by_key.get(&k) == Some(&ino) {
                    self.by_key.remove(&k);
                }
            }
            if self.dir_paths.get(&e.node.path) == Some(&ino) {
                self.dir_paths.remove(&e.node.path);
            }
            return true;
        }
        false
    }

    /// `ino` was copied up: its new backing file is `key` in layer `upper`, and it keeps its
    /// number.
    pub fn copied_up(&mut self, ino: u64, key: Key, upper: usize) {
        let Some(e) = self.nodes.get_mut(&ino) else {
            return;
        };
        if !e.node.layers.contains(&upper) {
            e.node.layers.insert(0, upper);
        }
        if e.node.kind != FileKind::Dir {
            e.node.layers.truncate(1);
        }
        e.node.key = key;
        e.keys.push(key);
        self.by_key.insert(key, ino);
        self.origins.insert(key, ino);
    }

    /// The last name of the backing file `key` is gone: a new file with the same backing
    /// inode must not become this node.
    pub fn removed(&mut self, key: Key) {
        self.by_key.remove(&key);
        self.origins.remove(&key);
    }

    /// The name `path` of backing file `key` was unlinked, while other names remain: the
    /// node goes on by one of those.
    pub fn unlinked(&mut self, key: Key, path: &[u8]) {
        let Some(e) = self
            .by_key
            .get(&key)
            .and_then(|ino| self.nodes.get_mut(ino))
        else {
            return;
        };
        e.aliases.retain(|a| a != path);
        if e.node.path == path
            && let Some(other) = e.aliases.pop()
        {
            e.node.path = other;
        }
    }

    /// The entry at `from` is now at `to`: so are the nodes below it.
    pub fn renamed(&mut self, from: &[u8], to: &[u8]) {
        let moved = |p: &mut Vec<u8>| {
            if p == from {
                *p = to.to_vec();
            } else if p.starts_with(from) && p.get(from.len()) == Some(&b'/') {
                let mut np = to.to_vec();
                np.extend_from_slice(&p[from.len()..]);
                *p = np;
            }
        };
        for e in self.nodes.values_mut() {
            moved(&mut e.node.path);
            e.aliases.iter_mut().for_each(moved);
        }
        self.dir_paths = self
            .nodes
            .iter()
            .filter(|(_, e)| e.node.kind == FileKind::Dir)
            .map(|(ino, e)| (e.node.path.clone(), *ino))
            .collect();
    }

    /// The node id of backing file `key`, if the kernel knows it.
    pub fn ino_of_key(&self, key: Key) -> Option<u64> {
        self.by_key.get(&key).copied()
    }

    /// The node id of the node at `path`, if the kernel knows one.
    #[cfg(test)]
    pub fn find_path(&self, path: &[u8]) -> Option<u64> {
        self.nodes
            .iter()
            .find(|(_, e)| e.node.path == path)
            .map(|(ino, _)| *ino)
    }

    /// The node id of the directory node at `path`, if the kernel knows one.
    pub fn find_dir(&self, path: &[u8]) -> Option<u64> {
        let ino = *self.dir_paths.get(path)?;
        let e = self.nodes.get(&ino)?;
        (e.node.path == path && e.node.kind == FileKind::Dir).then_some(ino)
    }

    /// Number of nodes (the root included).
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.nodes.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(path: &str, layer: usize, key: Key) -> Node {
        Node {
            path: path.as_bytes().to_vec(),
            layers: vec![layer],
            kind: FileKind::File,
            key,
        }
    }

    fn table() -> NodeTable {
        NodeTable::new(
            Node {
                path: Vec::new(),
                layers: vec![0, 1],
                kind: FileKind::Dir,
                key: (7, 2),
            },
            &[7],
        )
    }

    #[test]
    fn numbers_are_backing_inodes_and_hardlinks_share_one() {
        let mut t = table();
        let a = t.lookup(node("a", 1, (7, 100)), None);
        assert_eq!(a, 100);
        let b = t.lookup(node("b", 1, (7, 100)), None);
        assert_eq!(b, 100, "a hardlink is the same node");
        assert_eq!(t.get(100).map(|n| n.path.clone()), Some(b"b".to_vec()));
        // Another device gets its index in the top byte.
        let c = t.lookup(node("c", 2, (9, 100)), None);
        assert_eq!(c, 100 | (1 << 56));
        // The root's own inode never clashes with FUSE_ROOT_ID.
        let r = t.lookup(node("d", 1, (7, 1)), None);
        assert!(r >= PRIVATE_BASE);
    }

    #[test]
    fn forget_counts_lookups() {
        let mut t = table();
        let a = t.lookup(node("a", 1, (7, 100)), None);
        t.lookup(node("a", 1, (7, 100)), None);
        t.forget(a, 1);
        assert!(t.get(a).is_some());
        t.forget(a, 1);
        assert!(t.get(a).is_none());
        assert_eq!(t.len(), 1);
        t.forget(ROOT, 10);
        assert!(t.get(ROOT).is_some(), "the root is never forgotten");
    }

    #[test]
    fn copy_up_keeps_the_number() {
        let mut t = table();
        let a = t.lookup(node("a", 1, (7, 100)), None);
        t.copied_up(a, (7, 555), 0);
        assert_eq!(t.get(a).map(|n| n.layers.clone()), Some(vec![0]));
        // A fresh lookup of the upper copy finds the node...
        assert_eq!(t.lookup(node("a", 0, (7, 555)), None), a);
        t.forget(a, 2);
        // ...and after the kernel forgot it, the upper copy still shows the origin's number.
        assert_eq!(t.lookup(node("a", 0, (7, 555)), None), 100);
    }

    #[test]
    fn a_stored_origin_numbers_the_upper_copy() {
        let mut t = table();
        // A remount: the upper copy (7, 555) carries its origin's number.
        assert_eq!(t.lookup(node("a", 0, (7, 555)), Some(100)), 100);
        assert_eq!(t.number_of((7, 555)), 100);
        // A number in use by another node is not given twice.
        let b = t.lookup(node("b", 0, (7, 556)), Some(100));
        assert!(b >= PRIVATE_BASE);
    }

    #[test]
    fn device_indexes_follow_the_layer_order() {
        let root = Node {
            path: Vec::new(),
            layers: vec![0, 1],
            kind: FileKind::Dir,
            key: (9, 2),
        };
        // The root comes from the second device, yet the upper's device (7) is index 0.
        let mut t = NodeTable::new(root, &[7, 9]);
        assert_eq!(t.lookup(node("a", 1, (9, 100)), None), 100 | (1 << 56));
        assert_eq!(t.lookup(node("b", 0, (7, 100)), None), 100);
    }

    #[test]
    fn reused_backing_inode_gets_a_new_number_while_the_old_is_known() {
        let mut t = table();
        let a = t.lookup(node("x", 0, (7, 300)), None);
        t.removed((7, 300));
        let b = t.lookup(node("y", 0, (7, 300)), None);
        assert_ne!(a, b);
        assert!(b >= PRIVATE_BASE);
    }

    #[test]
    fn rename_moves_descendants() {
        let mut t = table();
        let d = t.lookup(node("d", 0, (7, 10)), None);
        let f = t.lookup(node("d/f", 0, (7, 11)), None);
        let other = t.lookup(node("dd/f", 0, (7, 12)), None);
        t.renamed(b"d", b"e/d2");
        assert_eq!(t.get(d).map(|n| n.path.clone()), Some(b"e/d2".to_vec()));
        assert_eq!(t.get(f).map(|n| n.path.clone()), Some(b"e/d2/f".to_vec()));
        assert_eq!(t.get(other).map(|n| n.path.clone()), Some(b"dd/f".to_vec()));
        assert_eq!(t.find_path(b"e/d2/f"), Some(f));
    }

    #[test]
    fn directories_by_path() {
        let mut t = table();
        let dir = |path: &str, key: Key| Node {
            kind: FileKind::Dir,
            ..node(path, 0, key)
        };
        assert_eq!(t.find_dir(b""), Some(ROOT));
        let d = t.lookup(dir("d", (7, 10)), None);
        let s = t.lookup(dir("d/s", (7, 11)), None);
        t.lookup(node("d/f", 0, (7, 12)), None);
        assert_eq!(t.find_dir(b"d"), Some(d));
        assert_eq!(t.find_dir(b"d/s"), Some(s));
        assert_eq!(t.find_dir(b"d/f"), None, "not a directory");
        t.renamed(b"d", b"e");
        assert_eq!(t.find_dir(b"d/s"), None);
        assert_eq!(t.find_dir(b"e/s"), Some(s));
        t.forget(s, 1);
        assert_eq!(t.find_dir(b"e/s"), None);
        // A directory looked up by a new path (renamed behind the table's back).
        t.lookup(dir("x", (7, 10)), None);
        assert_eq!(t.find_dir(b"e"), None);
        assert_eq!(t.find_dir(b"x"), Some(d));
    }

    #[test]
    fn a_hardlinked_node_keeps_a_name_when_one_is_unlinked() {
        let mut t = table();
        let a = t.lookup(node("a", 0, (7, 20)), None);
        t.lookup(node("b", 0, (7, 20)), None);
        t.lookup(node("c", 0, (7, 20)), None);
        t.unlinked((7, 20), b"a");
        assert_eq!(t.get(a).map(|n| n.path.clone()), Some(b"c".to_vec()));
        t.unlinked((7, 20), b"c");
        assert_eq!(t.get(a).map(|n| n.path.clone()), Some(b"b".to_vec()));
        t.renamed(b"b", b"d");
        t.lookup(node("e", 0, (7, 20)), None);
        t.unlinked((7, 20), b"e");
        assert_eq!(t.get(a).map(|n| n.path.clone()), Some(b"d".to_vec()));
    }
}
