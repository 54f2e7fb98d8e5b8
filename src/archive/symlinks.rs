//! The per-layer symlink table (`layer_dir/symlinks`): metadata of symlinks that differs from
//! the default (root:root, `0777`, no extended attributes). Symlinks cannot carry `user.*`
//! attributes, so this is where their ownership and attributes live. The file exists only
//! when at least one symlink needs it.
//!
//! Format: the magic line `coracle-symlinks 1\n`, then per symlink, sorted by path, fields
//! each terminated by NUL: the physical path relative to `diff/`, the [`Stat`] encoding, the
//! attribute count in decimal, then per attribute its image name and its value in hex.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::Path;

use super::ArchiveError;
use super::ownership::{FileKind, Stat};

/// File name of the table inside `layer_dir`.
pub const SYMLINK_TABLE: &str = "symlinks";
const MAGIC: &[u8] = b"coracle-symlinks 1\n";

/// A symlink's true metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SymlinkMeta {
    pub stat: Stat,
    /// Extended attributes by image name (`user.foo`, `security.selinux`), sorted.
    pub xattrs: Vec<(Vec<u8>, Vec<u8>)>,
}

impl SymlinkMeta {
    pub fn is_default(&self) -> bool {
        self.stat == Stat::SYMLINK_DEFAULT && self.xattrs.is_empty()
    }
}

/// The table of one layer, keyed by path relative to `diff/` (no leading `/`).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SymlinkTable {
    entries: BTreeMap<Vec<u8>, SymlinkMeta>,
}

impl SymlinkTable {
    /// Loads `layer_dir/symlinks`; a missing file is an empty table.
    pub fn load(layer_dir: &Path) -> Result<Self, ArchiveError> {
        let path = layer_dir.join(SYMLINK_TABLE);
        let data = match std::fs::read(&path) {
            Ok(d) => d,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(source) => return Err(ArchiveError::Io { path, source }),
        };
        Self::parse(&data).map_err(|reason| ArchiveError::CorruptRecord {
            path: path.clone(),
            reason,
        })
    }

    fn parse(data: &[u8]) -> Result<Self, String> {
        let body = data
            .strip_prefix(MAGIC)
            .ok_or("not a coracle symlink table")?;
        let mut fields = body.split(|b| *b == 0);
        let mut table = SymlinkTable::default();
        let text =
            |f: &[u8]| String::from_utf8(f.to_vec()).map_err(|_| "non-UTF-8 field".to_string());
        while let Some(path) = fields.next() {
            if path.is_empty() {
                // The final NUL leaves one empty field behind.
                if fields.next().is_some() {
                    return Err("empty path".into());
                }
                break;
            }
            let stat = fields.next().ok_or("missing stat")?;
            let stat = Stat::decode(&text(stat)?, FileKind::Symlink).map_err(|e| e.to_string())?;
            let count: usize = text(fields.next().ok_or("missing count")?)?
                .parse()
                .map_err(|_| "invalid count")?;
            let mut xattrs = Vec::new();
            for _ in 0..count {
                let name = fields.next().ok_or("missing xattr name")?.to_vec();
                let value = hex::decode(fields.next().ok_or("missing xattr value")?)
                    .map_err(|_| "invalid xattr value")?;
                xattrs.push((name, value));
            }
            table
                .entries
                .insert(path.to_vec(), SymlinkMeta { stat, xattrs });
        }
        Ok(table)
    }

    fn serialize(&self) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        for (path, meta) in &self.entries {
            out.extend_from_slice(path);
            out.push(0);
            out.extend_from_slice(meta.stat.encode().as_bytes());
            out.push(0);
            out.extend_from_slice(meta.xattrs.len().to_string().as_bytes());
            out.push(0);
            for (name, value) in &meta.xattrs {
                out.extend_from_slice(name);
                out.push(0);
                out.extend_from_slice(hex::encode(value).as_bytes());
                out.push(0);
            }
        }
        out
    }

    /// Writes the table into `layer_dir`, or nothing when it is empty.
    pub fn store(&self, layer_dir: &Path) -> Result<(), ArchiveError> {
        if self.entries.is_empty() {
            return Ok(());
        }
        let path = layer_dir.join(SYMLINK_TABLE);
        let write = || -> io::Result<()> {
            let mut f = std::fs::File::create(&path)?;
            f.write_all(&self.serialize())
        };
        write().map_err(|source| ArchiveError::Io {
            path: path.clone(),
            source,
        })
    }

    pub fn get(&self, path: &[u8]) -> Option<&SymlinkMeta> {
        self.entries.get(path)
    }

    /// The true metadata of the symlink at `path`.
    pub fn stat(&self, path: &[u8]) -> Stat {
        self.get(path).map_or(Stat::SYMLINK_DEFAULT, |m| m.stat)
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Records `meta` for `path`; default metadata removes any entry.
    pub fn set(&mut self, path: &[u8], meta: SymlinkMeta) {
        if meta.is_default() {
            self.entries.remove(path);
        } else {
            self.entries.insert(path.to_vec(), meta);
        }
    }

    pub fn remove(&mut self, path: &[u8]) {
        self.entries.remove(path);
    }

    /// Removes `prefix` and everything below it.
    pub fn remove_tree(&mut self, prefix: &[u8]) {
        self.entries.retain(|p, _| {
            !(p == prefix || (p.starts_with(prefix) && p.get(prefix.len()) == Some(&b'/')))
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let mut t = SymlinkTable::default();
        t.set(
            b"usr/bin/x",
            SymlinkMeta {
                stat: Stat {
                    uid: 1000,
                    gid: 1000,
                    mode: 0o777,
                    kind: FileKind::Symlink,
                },
                xattrs: vec![],
            },
        );
        t.set(
            b"odd\nname",
            SymlinkMeta {
                stat: Stat::SYMLINK_DEFAULT,
                xattrs: vec![
                    (b"security.selinux".to_vec(), b"a\0b".to_vec()),
                    (b"user.x".to_vec(), vec![]),
                ],
            },
        );
        t.set(
            b"default",
            SymlinkMeta {
                stat: Stat::SYMLINK_DEFAULT,
                xattrs: vec![],
            },
        );
        assert!(t.get(b"default").is_none());
        t.store(dir.path()).unwrap();
        let back = SymlinkTable::load(dir.path()).unwrap();
        assert_eq!(back, t);
        assert_eq!(back.stat(b"usr/bin/x").uid, 1000);
        assert_eq!(back.stat(b"missing"), Stat::SYMLINK_DEFAULT);

        let mut t2 = back.clone();
        t2.remove_tree(b"usr");
        assert!(t2.get(b"usr/bin/x").is_none());
        assert!(t2.get(b"odd\nname").is_some());
    }

    #[test]
    fn empty_table_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        SymlinkTable::default().store(dir.path()).unwrap();
        assert!(!dir.path().join(SYMLINK_TABLE).exists());
        assert!(SymlinkTable::load(dir.path()).unwrap().is_empty());
    }

    #[test]
    fn corrupt_table_is_an_error() {
        for bad in [
            &b"nope"[..],
            b"coracle-symlinks 1\na\0zz\0",
            b"coracle-symlinks 1\na\x000:0:0777:symlink\x002\0",
        ] {
            assert!(SymlinkTable::parse(bad).is_err());
        }
    }
}
