//! Disk usage of the store, object by object, as `du -s --block-size=1` counts it: allocated
//! blocks (`st_blocks * 512`), every inode once however many links it has, directories
//! included, not crossing into other file systems (a running container's FUSE root).
//!
//! The walk attributes every byte to exactly one [`Object`]: the first path that reaches an
//! inode owns it. What belongs to no image, container or volume (the store's directories
//! themselves, `storage.lock`, the event log, staging data in `tmp/`) is [`Object::Meta`], which
//! `system df` counts with the images: the rows then add up to what `du` measures.
//!
//! The walk must see into directories owned by subordinate ids (a `vfs` root, a volume a
//! container chowned); `cmd::system::df` runs it as container root in the user namespace.

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// What a path of the store belongs to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Object {
    /// `blobs/sha256/<hex>`
    Blob(String),
    /// `layers/<hex>/`
    Layer(String),
    /// `images/<hex>.json`
    Image(String),
    /// `lists/<hex>.json`
    List(String),
    /// `containers/<id>/` (also `.removing-<id>`, a removal a crash interrupted)
    Container(String),
    /// `volumes/<name>/` (also `.removing-<name>`)
    Volume(String),
    /// Everything else: directories, the lock, the event log, `tmp/`.
    Meta,
}

/// Bytes per object; `total` is their sum.
#[derive(Debug, Default, Clone)]
pub struct Usage {
    pub objects: BTreeMap<Object, u64>,
    pub total: u64,
}

impl Usage {
    pub fn of(&self, o: &Object) -> u64 {
        self.objects.get(o).copied().unwrap_or(0)
    }

    /// The sum over the objects `keep` accepts.
    pub fn sum(&self, keep: impl Fn(&Object) -> bool) -> u64 {
        self.objects
            .iter()
            .filter(|(o, _)| keep(o))
            .map(|(_, n)| n)
            .sum()
    }
}

/// The object `rel` (a path relative to the store's root) belongs to.
pub fn classify(rel: &Path) -> Object {
    let parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    let p: Vec<&str> = parts.iter().map(String::as_str).collect();
    match p.as_slice() {
        ["blobs", "sha256", hex, ..] => Object::Blob((*hex).to_string()),
        ["layers", hex, ..] => Object::Layer((*hex).to_string()),
        ["images", f, ..] => match f.strip_suffix(".json") {
            Some(hex) if !hex.starts_with('.') => Object::Image(hex.to_string()),
            _ => Object::Meta,
        },
        ["lists", f, ..] => match f.strip_suffix(".json") {
            Some(hex) if !hex.starts_with('.') => Object::List(hex.to_string()),
            _ => Object::Meta,
        },
        ["containers", id, ..] => Object::Container(strip_removing(id)),
        ["volumes", name, ..] => Object::Volume(strip_removing(name)),
        _ => Object::Meta,
    }
}

fn strip_removing(name: &str) -> String {
    name.strip_prefix(".removing-").unwrap_or(name).to_string()
}

/// Walks the store at `root`.
pub fn measure(root: &Path) -> io::Result<Usage> {
    let meta = fs::symlink_metadata(root)?;
    let mut usage = Usage::default();
    let mut seen = HashSet::new();
    add(&mut usage, &mut seen, Object::Meta, &meta);
    walk(root, Path::new(""), meta.dev(), &mut usage, &mut seen)?;
    Ok(usage)
}

fn add(usage: &mut Usage, seen: &mut HashSet<(u64, u64)>, o: Object, m: &fs::Metadata) {
    // `du` counts an inode once, whatever the number of links (directories included).
    if !seen.insert((m.dev(), m.ino())) {
        return;
    }
    let bytes = m.blocks() * 512;
    usage.total += bytes;
    *usage.objects.entry(o).or_insert(0) += bytes;
}

fn walk(
    dir: &Path,
    rel: &Path,
    dev: u64,
    usage: &mut Usage,
    seen: &mut HashSet<(u64, u64)>,
) -> io::Result<()> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        // Removed while we walked (another command's staging directory).
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io::Error::new(e.kind(), format!("{}: {e}", dir.display()))),
    };
    // Sorted, so that an inode linked from two objects always goes to the same one.
    let mut names = entries
        .map(|e| e.map(|e| e.file_name()))
        .collect::<io::Result<Vec<_>>>()?;
    names.sort();
    for name in names {
        let path = dir.join(&name);
        let m = match fs::symlink_metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io::Error::new(e.kind(), format!("{}: {e}", path.display()))),
        };
        if m.dev() != dev {
            // A mount (a running container's root): not the store's disk.
            continue;
        }
        let rel = rel.join(&name);
        add(usage, seen, classify(&rel), &m);
        if m.is_dir() {
            walk(&path, &rel, dev, usage, seen)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_classified() {
        let c = |p: &str| classify(Path::new(p));
        assert_eq!(c("blobs/sha256/ab"), Object::Blob("ab".into()));
        assert_eq!(c("blobs"), Object::Meta);
        assert_eq!(c("layers/ab/diff/x/y"), Object::Layer("ab".into()));
        assert_eq!(c("images/ab.json"), Object::Image("ab".into()));
        assert_eq!(c("containers/c1/upper/x"), Object::Container("c1".into()));
        assert_eq!(c("containers/.removing-c1"), Object::Container("c1".into()));
        assert_eq!(c("volumes/v/_data/f"), Object::Volume("v".into()));
        assert_eq!(c("tmp/load-1/x"), Object::Meta);
        assert_eq!(c("storage.lock"), Object::Meta);
    }

    #[test]
    fn hardlinks_count_once_and_the_total_adds_up() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("layers/aa/diff")).unwrap();
        fs::create_dir_all(root.join("layers/bb/diff")).unwrap();
        fs::write(root.join("layers/aa/diff/f"), vec![7u8; 100_000]).unwrap();
        fs::hard_link(root.join("layers/aa/diff/f"), root.join("layers/bb/diff/f")).unwrap();
        fs::write(root.join("storage.lock"), b"").unwrap();
        let u = measure(root).unwrap();
        let a = u.of(&Object::Layer("aa".into()));
        let b = u.of(&Object::Layer("bb".into()));
        assert!(a >= 100_000, "{u:?}");
        assert!(b < 100_000, "the link is counted with aa only: {u:?}");
        assert_eq!(u.total, u.sum(|_| true));
        let du = std::process::Command::new("du")
            .args(["-s", "--block-size=1"])
            .arg(root)
            .output()
            .unwrap();
        let du: u64 = String::from_utf8_lossy(&du.stdout)
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(u.total, du);
    }
}
