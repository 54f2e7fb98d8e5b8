//! What one layer directory changes in the layers below it, as Podman's `diff` lists it:
//! `A` added, `C` changed, `D` deleted, one path each.
//!
//! Only the layer is walked (an image's top layer, or a container's upper directory); the
//! lower layers are only looked up, path by path, never walked. The rules are
//! containers/storage's for an overlay layer (`archive.OverlayChanges`), translated from
//! kernel overlay's on-disk form to the OCI form coracle keeps layers in:
//!
//! - the walk is depth first, a directory before its contents, names sorted by bytes; a
//!   whiteout `.wh.NAME` sorts as `NAME` (kernel overlay stores it under that name);
//! - a whiteout is `D /NAME`, whether or not a lower layer still has `NAME`;
//! - an opaque directory (it holds `.wh..wh..opq`, or replaces its own whiteout) that a
//!   lower layer has is `D` (deleted, then made again); its contents follow as usual;
//! - otherwise an entry a lower layer has is `C`, except a directory over a directory with
//!   the same owner, mode and mtime (seconds; nanoseconds compared only when both have
//!   them), which is not listed; anything else is `A`;
//! - before an `A` or `D`, each ancestor directory not yet listed is listed as `C`.
//!
//! Lower layers are looked up as the overlay merges them (whiteouts, opaque directories and
//! non-directories hide what is below; no symlink is followed). Where containers/storage
//! compares only mode, size and mtime of directories, owners count here too (a `chown` is a
//! change) and the size, an artefact of the backing filesystem, does not.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::fmt;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

use super::create::read_names;
use super::ownership::{self, FileKind};
use super::resolve::join;
use super::whiteout;
use super::{ArchiveError, entry_display};

/// What happened to a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChangeKind {
    Added,
    Changed,
    Deleted,
}

impl ChangeKind {
    /// Podman's letter for it.
    pub fn letter(self) -> char {
        match self {
            ChangeKind::Added => 'A',
            ChangeKind::Changed => 'C',
            ChangeKind::Deleted => 'D',
        }
    }
}

/// One line of `diff`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Change {
    pub kind: ChangeKind,
    /// Absolute path in the image (`/etc/passwd`), as bytes.
    pub path: Vec<u8>,
}

impl Change {
    /// The path for display (invalid UTF-8 replaced).
    pub fn path_display(&self) -> String {
        entry_display(&self.path)
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind.letter(), self.path_display())
    }
}

const PATH_DIR: OFlags = OFlags::PATH
    .union(OFlags::DIRECTORY)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);
const READ_DIR: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);

/// The changes the layer tree `layer` makes to `lowers` (layer trees, top-most first), in
/// Podman's order.
pub fn layer_changes(layer: &Path, lowers: &[PathBuf]) -> Result<Vec<Change>, ArchiveError> {
    let open_err = |path: &Path| {
        let path = path.to_path_buf();
        move |e: Errno| ArchiveError::Io {
            path,
            source: e.into(),
        }
    };
    let mut roots = Vec::with_capacity(lowers.len());
    for l in lowers {
        roots.push((
            rustix::fs::open(l, PATH_DIR, Mode::empty()).map_err(open_err(l))?,
            l.clone(),
        ));
    }
    let top = rustix::fs::open(layer, READ_DIR, Mode::empty()).map_err(open_err(layer))?;
    let mut w = Walk {
        layer,
        lowers: roots,
        changes: Vec::new(),
        listed_dirs: HashSet::new(),
    };
    w.dir(&top, b"")?;
    Ok(w.changes)
}

/// A lower layer's entry at a path.
struct Found {
    parent: OwnedFd,
    st: rustix::fs::Stat,
}

/// What a name in the walked directory stands for.
enum Item {
    /// `.wh.NAME` without a `NAME` beside it.
    Whiteout,
    /// An entry; `replaces` when its own whiteout is beside it.
    Entry { name: Vec<u8>, replaces: bool },
}

struct Walk<'a> {
    layer: &'a Path,
    lowers: Vec<(OwnedFd, PathBuf)>,
    changes: Vec<Change>,
    /// Directories already listed (any kind), so that they are not listed again as parents.
    listed_dirs: HashSet<Vec<u8>>,
}

impl Walk<'_> {
    fn io(&self, rel: &[u8]) -> impl Fn(Errno) -> ArchiveError + use<> {
        let path = self.layer.join(entry_display(rel));
        move |e| ArchiveError::Io {
            path: path.clone(),
            source: e.into(),
        }
    }

    fn dir(&mut self, fd: &OwnedFd, rel: &[u8]) -> Result<(), ArchiveError> {
        let names = read_names(fd).map_err(self.io(rel))?;
        let present: HashSet<&[u8]> = names.iter().map(Vec::as_slice).collect();
        let mut items: Vec<(Vec<u8>, Item)> = Vec::new();
        for name in &names {
            let as_os = OsStr::from_bytes(name);
            if let Some(target) = whiteout::whiteout_target(as_os) {
                let target = target.as_bytes();
                if !present.contains(target) {
                    items.push((target.to_vec(), Item::Whiteout));
                }
            } else if !whiteout::is_reserved(as_os) {
                let wh = whiteout::whiteout_name(as_os);
                items.push((
                    name.clone(),
                    Item::Entry {
                        name: name.clone(),
                        replaces: present.contains(wh.as_bytes()),
                    },
                ));
            }
        }
        items.sort_by(|a, b| a.0.cmp(&b.0));
        for (key, item) in items {
            let path = join(rel, &key);
            let (name, replaces) = match item {
                Item::Whiteout => {
                    self.record(ChangeKind::Deleted, &path, false);
                    continue;
                }
                Item::Entry { name, replaces } => (name, replaces),
            };
            let err = self.io(&path);
            let st =
                rustix::fs::statat(fd, name.as_slice(), AtFlags::SYMLINK_NOFOLLOW).map_err(&err)?;
            let is_dir = FileType::from_raw_mode(st.st_mode) == FileType::Directory;
            let lower = self.lookup(&path)?;
            if !is_dir {
                let kind = if lower.is_some() {
                    ChangeKind::Changed
                } else {
                    ChangeKind::Added
                };
                self.record(kind, &path, false);
                continue;
            }
            let child =
                rustix::fs::openat(fd, name.as_slice(), READ_DIR, Mode::empty()).map_err(&err)?;
            let opaque = replaces
                || rustix::fs::statat(&child, whiteout::OPAQUE_MARKER, AtFlags::SYMLINK_NOFOLLOW)
                    .is_ok();
            match lower {
                Some(_) if opaque => self.record(ChangeKind::Deleted, &path, true),
                Some(found) => {
                    if !self.same_dir(&child, &st, &found, &key, &path)? {
                        self.record(ChangeKind::Changed, &path, true);
                    }
                }
                None => self.record(ChangeKind::Added, &path, true),
            }
            self.dir(&child, &path)?;
        }
        Ok(())
    }

    /// Whether the layer's directory `child` leaves the lower directory `found` as it was.
    fn same_dir(
        &self,
        child: &OwnedFd,
        st: &rustix::fs::Stat,
        found: &Found,
        name: &[u8],
        path: &[u8],
    ) -> Result<bool, ArchiveError> {
        if FileType::from_raw_mode(found.st.st_mode) != FileType::Directory {
            return Ok(false);
        }
        let shown = entry_display(path);
        let ours = ownership::read_stat_fd_mode(child, st.st_mode, &shown)?;
        let lower_fd = rustix::fs::openat(&found.parent, name, READ_DIR, Mode::empty())
            .map_err(self.io(path))?;
        let theirs = ownership::read_stat_fd_mode(&lower_fd, found.st.st_mode, &shown)?;
        let same_time = st.st_mtime == found.st.st_mtime
            && (st.st_mtime_nsec == found.st.st_mtime_nsec
                || st.st_mtime_nsec == 0
                || found.st.st_mtime_nsec == 0);
        Ok(ours == theirs && ours.kind == FileKind::Dir && same_time)
    }

    /// Lists `path`, after the ancestors an addition or deletion needs listed.
    fn record(&mut self, kind: ChangeKind, path: &[u8], is_dir: bool) {
        if is_dir {
            self.listed_dirs.insert(path.to_vec());
        }
        if kind != ChangeKind::Changed {
            let mut ends: Vec<usize> = path
                .iter()
                .enumerate()
                .filter(|(_, b)| **b == b'/')
                .map(|(i, _)| i)
                .collect();
            ends.retain(|&i| i > 0);
            for i in ends {
                let dir = &path[..i];
                if self.listed_dirs.insert(dir.to_vec()) {
                    self.changes.push(Change {
                        kind: ChangeKind::Changed,
                        path: absolute(dir),
                    });
                }
            }
        }
        self.changes.push(Change {
            kind,
            path: absolute(path),
        });
    }

    /// The entry at `path` in the merged lower layers, if any shows one.
    fn lookup(&self, path: &[u8]) -> Result<Option<Found>, ArchiveError> {
        let comps: Vec<&[u8]> = path.split(|b| *b == b'/').collect();
        'layers: for (root, root_path) in &self.lowers {
            let err = |e: Errno| ArchiveError::Io {
                path: root_path.join(entry_display(path)),
                source: e.into(),
            };
            let mut dir = root.try_clone().map_err(|e| ArchiveError::Io {
                path: root_path.clone(),
                source: e,
            })?;
            let mut below_opaque = false;
            for (i, comp) in comps.iter().enumerate() {
                let wh = whiteout::whiteout_name(OsStr::from_bytes(comp));
                if exists(&dir, wh.as_bytes()).map_err(err)? {
                    return Ok(None);
                }
                let st = match rustix::fs::statat(&dir, *comp, AtFlags::SYMLINK_NOFOLLOW) {
                    Ok(st) => st,
                    Err(Errno::NOENT) if below_opaque => return Ok(None),
                    Err(Errno::NOENT) => continue 'layers,
                    Err(e) => return Err(err(e)),
                };
                if i + 1 == comps.len() {
                    return Ok(Some(Found { parent: dir, st }));
                }
                if FileType::from_raw_mode(st.st_mode) != FileType::Directory {
                    // A file here hides any directory of that name below.
                    return Ok(None);
                }
                dir = rustix::fs::openat(&dir, *comp, PATH_DIR, Mode::empty()).map_err(err)?;
                below_opaque |= exists(&dir, whiteout::OPAQUE_MARKER.as_bytes()).map_err(err)?;
            }
        }
        Ok(None)
    }
}

fn exists(dir: &OwnedFd, name: &[u8]) -> Result<bool, Errno> {
    match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(_) => Ok(true),
        Err(Errno::NOENT) => Ok(false),
        Err(e) => Err(e),
    }
}

fn absolute(rel: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(rel.len() + 1);
    p.push(b'/');
    p.extend_from_slice(rel);
    p
}
