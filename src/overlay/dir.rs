//! Merged directory listings: what a directory shows when several layers hold it.
//!
//! Rules (OCI image spec, "Whiteouts"), applied top-most layer first:
//! - a name is shown from the top-most layer that has it; lower entries of the same name are
//!   hidden whatever their type;
//! - `.wh.NAME` hides `NAME` in the layers *below* its own (an entry of the same layer stays);
//! - `.wh..wh..opq` hides everything below its own layer;
//! - no name starting with `.wh.` is ever shown.

use std::collections::HashSet;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;

use rustix::fs::FileType;

use super::layers::Layers;
use super::{Result, errno};
use crate::archive::whiteout;

/// One entry of one layer's directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawEntry {
    pub name: OsString,
    pub ino: u64,
    pub kind: FileType,
}

/// What one layer's copy of a directory holds, whiteouts sorted out.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct LayerDir {
    pub entries: Vec<RawEntry>,
    /// Names hidden in the layers below.
    pub whiteouts: Vec<OsString>,
    pub opaque: bool,
}

impl LayerDir {
    /// Sorts raw directory entries into visible entries, whiteouts and the opaque marker.
    pub fn classify(raw: impl IntoIterator<Item = RawEntry>) -> LayerDir {
        let mut d = LayerDir::default();
        for e in raw {
            let name = e.name.as_os_str();
            if name == "." || name == ".." {
                continue;
            }
            if whiteout::is_opaque_marker(name) {
                d.opaque = true;
            } else if let Some(target) = whiteout::whiteout_target(name) {
                d.whiteouts.push(target.to_os_string());
            } else if !whiteout::is_reserved(name) {
                d.entries.push(e);
            }
        }
        d
    }
}

/// An entry of a merged listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Merged {
    pub name: OsString,
    /// The layer it is shown from.
    pub layer: usize,
    /// Backing inode in that layer.
    pub ino: u64,
    pub kind: FileType,
}

/// Merges the copies of one directory, given top-most first with their layer index.
pub(crate) fn merge(dirs: &[(usize, LayerDir)]) -> Vec<Merged> {
    let mut seen: HashSet<OsString> = HashSet::new();
    let mut out = Vec::new();
    for (layer, d) in dirs {
        for e in &d.entries {
            if seen.insert(e.name.clone()) {
                out.push(Merged {
                    name: e.name.clone(),
                    layer: *layer,
                    ino: e.ino,
                    kind: e.kind,
                });
            }
        }
        seen.extend(d.whiteouts.iter().cloned());
        if d.opaque {
            break;
        }
    }
    out
}

/// Reads the copy of directory `path` in layer `l`.
pub(crate) fn read_layer_dir(layers: &Layers, l: usize, path: &[u8]) -> Result<LayerDir> {
    let fd = layers.open(
        l,
        path,
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::DIRECTORY,
    )?;
    let mut dir = rustix::fs::Dir::new(fd).map_err(errno)?;
    let mut raw = Vec::new();
    while let Some(e) = dir.read() {
        let e = e.map_err(errno)?;
        raw.push(RawEntry {
            name: OsStr::from_bytes(e.file_name().to_bytes()).to_os_string(),
            ino: e.ino(),
            kind: e.file_type(),
        });
    }
    Ok(LayerDir::classify(raw))
}

/// The merged listing of the directory `path` held by `dir_layers` (top-most first).
pub(crate) fn list(layers: &Layers, dir_layers: &[usize], path: &[u8]) -> Result<Vec<Merged>> {
    let mut dirs = Vec::with_capacity(dir_layers.len());
    for &l in dir_layers {
        dirs.push((l, read_layer_dir(layers, l, path)?));
    }
    Ok(merge(&dirs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(names: &[&str]) -> Vec<RawEntry> {
        names
            .iter()
            .enumerate()
            .map(|(i, n)| RawEntry {
                name: OsString::from(n),
                ino: i as u64 + 10,
                kind: if n.ends_with('/') {
                    FileType::Directory
                } else {
                    FileType::RegularFile
                },
            })
            .map(|mut e| {
                let s = e.name.to_string_lossy().trim_end_matches('/').to_string();
                e.name = OsString::from(s);
                e
            })
            .collect()
    }

    fn names(m: &[Merged]) -> Vec<(String, usize)> {
        let mut v: Vec<(String, usize)> = m
            .iter()
            .map(|e| (e.name.to_string_lossy().into_owned(), e.layer))
            .collect();
        v.sort();
        v
    }

    #[test]
    fn classify_sorts_out_whiteouts() {
        let d = LayerDir::classify(raw(&[
            ".",
            "..",
            "a",
            ".wh.b",
            ".wh..wh..opq",
            ".wh..wh.plnk",
            "c/",
        ]));
        assert!(d.opaque);
        assert_eq!(d.whiteouts, vec![OsString::from("b")]);
        let n: Vec<_> = d.entries.iter().map(|e| e.name.clone()).collect();
        assert_eq!(n, vec![OsString::from("a"), OsString::from("c")]);
    }

    #[test]
    fn merge_rules() {
        // (layers top-most first, expected (name, layer))
        type Case<'a> = (Vec<Vec<&'a str>>, Vec<(&'a str, usize)>);
        let cases: Vec<Case> = vec![
            // dedup: the top-most copy wins
            (
                vec![vec!["a", "b"], vec!["b", "c"]],
                vec![("a", 0), ("b", 0), ("c", 1)],
            ),
            // a whiteout hides lower entries only
            (vec![vec![".wh.b"], vec!["b", "c"]], vec![("c", 1)]),
            // an entry beside its own whiteout stays; the lower one is hidden
            (vec![vec![".wh.b", "b/"], vec!["b"]], vec![("b", 0)]),
            // a whiteout in the middle layer hides the bottom one
            (
                vec![vec!["x"], vec![".wh.y"], vec!["y", "z"]],
                vec![("x", 0), ("z", 2)],
            ),
            // opaque hides everything below its own layer
            (
                vec![vec!["a"], vec![".wh..wh..opq", "b"], vec!["c"]],
                vec![("a", 0), ("b", 1)],
            ),
            // a whiteout of a name that reappears above is irrelevant
            (vec![vec!["b"], vec![".wh.b"], vec!["b"]], vec![("b", 0)]),
            // reserved names are never shown
            (vec![vec![".wh..wh.plnk", ".wh."], vec![".wh.x"]], vec![]),
        ];
        for (layers, want) in cases {
            let dirs: Vec<(usize, LayerDir)> = layers
                .iter()
                .enumerate()
                .map(|(i, n)| (i, LayerDir::classify(raw(n))))
                .collect();
            let mut want: Vec<(String, usize)> =
                want.iter().map(|(n, l)| (n.to_string(), *l)).collect();
            want.sort();
            assert_eq!(names(&merge(&dirs)), want, "{layers:?}");
        }
    }
}
