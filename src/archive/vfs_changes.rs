//! What a `vfs` container changed: its copied root compared with the image's layers merged,
//! as `diff` lines ([`vfs_changes`]) and as a layer tar ([`create_vfs_layer`]) that gives
//! the same lines and entries the overlay driver's upper directory would.
//!
//! Run it as the container's root user (in a user namespace of its mapping): the copy's
//! files belong to the container's ids, and only there are they all readable.
//!
//! The image side is the layers applied in order (opaque markers empty a directory,
//! whiteouts remove, the rest replaces; a directory over a directory only takes its
//! metadata), with the true metadata from coracle's ownership attribute and symlink tables.
//! The copy side is the real tree: its owners are what the container sees, except that an
//! image owner the mapping cannot represent was copied as the copier's own id (container
//! root); such a file showing root keeps its image owner, as the overlay keeps it.
//!
//! An entry is unchanged when type, owner, permission bits, modification time (seconds and
//! nanoseconds: the copy keeps them exactly), size (files) and link target (symlinks) are
//! the layer's — its bytes are never read then. Anything else is a change, as the overlay's
//! copy-up on a write, `chmod`, `chown` or `touch` is. Placeholders the copy could not make
//! (devices without privileges, sockets: empty regular files) count as what the image says.
//!
//! The layer holds every changed or added entry, the directories on the way to them (their
//! metadata as the copy has it, as an overlay copy-up does), a whiteout for each image entry
//! the copy lacks, and an opaque marker instead when a directory lost every entry the image
//! had (`rm -r d && mkdir d`). Extended attributes: the copy has none of the image's (the
//! vfs copy does not copy them), so a changed entry keeps the image's and gets the `user.*`
//! ones the container set; one the container removed cannot be seen. Names the whiteout
//! namespace reserves (`.wh.*`), which a vfs container can create, are left out. The empty
//! files and directories the runtime makes as mount points (`exclude`) are left out where
//! the image has nothing there.
//!
//! The order and header form are [`super::create_layer`]'s, so the same changes give the
//! same bytes on both drivers (up to times).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ffi::OsStr;
use std::fs::File;
use std::io::Write;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode};
use rustix::io::Errno;

use super::changes::{Change, ChangeKind};
use super::create::{
    CreateSummary, DIR_OPEN, Entry, EntryWriter, FILE_OPEN, read_names, sort_children,
};
use super::layer_stack::{self, StackEntry};
use super::ownership::{self, FileKind, Stat};
use super::resolve::join;
use super::symlinks::SymlinkTable;
use super::{ArchiveError, entry_display, whiteout};

/// A copied root and what it was copied from.
pub struct VfsRoot<'a> {
    /// The container's `rootfs`.
    pub rootfs: &'a Path,
    /// The image's layer directories (holding `diff/`), base first.
    pub layers: &'a [PathBuf],
    /// Whether the container's mapping holds this uid / gid (the copy could set it).
    pub uid_mapped: &'a dyn Fn(u32) -> bool,
    pub gid_mapped: &'a dyn Fn(u32) -> bool,
    /// Mount points the runtime made (no leading `/`), left out with the parents made for
    /// them when the image lacks them and they are empty.
    pub exclude: &'a [Vec<u8>],
}

/// The changes as `diff` lists them (the rules of [`super::layer_changes`] applied to the
/// layer [`create_vfs_layer`] writes).
pub fn vfs_changes(root: &VfsRoot<'_>) -> Result<Vec<Change>, ArchiveError> {
    let (plan, _) = Planner::run(root)?;
    let mut lister = Lister {
        changes: Vec::new(),
        listed: HashSet::new(),
    };
    lister.dir(&plan);
    Ok(lister.changes)
}

/// Writes the layer tar of the changes to `out`; `timestamp` replaces every entry's time.
pub fn create_vfs_layer<W: Write>(
    root: &VfsRoot<'_>,
    timestamp: Option<i64>,
    out: W,
) -> Result<(CreateSummary, W), ArchiveError> {
    let (plan, root_entry) = Planner::run(root)?;
    let io_err = |e: Errno| ArchiveError::Io {
        path: root.rootfs.to_path_buf(),
        source: e.into(),
    };
    let root_fd = rustix::fs::open(root.rootfs, DIR_OPEN, Mode::empty()).map_err(io_err)?;
    let table = SymlinkTable::default();
    let mut w = Emitter {
        w: EntryWriter::new(root.rootfs, &table, out),
        root: root.rootfs,
        root_fd,
        timestamp,
    };
    if let Some(e) = root_entry {
        w.put(&e)?;
    }
    w.dir(&plan)?;
    w.w.finish()
}

/// An image entry, merged.
#[derive(Debug, Clone)]
struct Img {
    stat: Stat,
    size: u64,
    mtime: (i64, i64),
    target: Option<Vec<u8>>,
    /// Where its attributes are read if it is written (a layer file), or a symlink's.
    xattrs: ImgXattrs,
}

#[derive(Debug, Clone)]
enum ImgXattrs {
    At(PathBuf),
    Known(Vec<(Vec<u8>, Vec<u8>)>),
}

impl StackEntry for Img {
    fn is_dir(&self) -> bool {
        self.stat.kind == FileKind::Dir
    }
}

impl Img {
    fn xattrs(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        match &self.xattrs {
            ImgXattrs::Known(x) => x.clone(),
            ImgXattrs::At(p) => rustix::fs::open(p, FILE_OPEN, Mode::empty())
                .and_then(ownership::read_xattrs)
                .unwrap_or_default(),
        }
    }
}

/// The image's entries by path (no leading `/`).
fn merged(layers: &[PathBuf]) -> Result<BTreeMap<Vec<u8>, Img>, ArchiveError> {
    layer_stack::merged(layers, &mut |path, child, md, symlinks| {
        use std::os::unix::fs::MetadataExt as _;
        let (stat, target, xattrs) = if md.file_type().is_symlink() {
            let target = std::fs::read_link(path).map_err(|source| ArchiveError::Io {
                path: path.to_path_buf(),
                source,
            })?;
            let meta = symlinks.get(child);
            (
                symlinks.stat(child),
                Some(target.as_os_str().as_bytes().to_vec()),
                ImgXattrs::Known(meta.map(|m| m.xattrs.clone()).unwrap_or_default()),
            )
        } else {
            let stat = ownership::read_stat_path_mode(path, md.mode(), &entry_display(child))?;
            (stat, None, ImgXattrs::At(path.to_path_buf()))
        };
        Ok(Img {
            stat,
            size: md.size(),
            mtime: (md.mtime(), md.mtime_nsec()),
            target,
            xattrs,
        })
    })
}

/// One entry of the layer to write.
#[derive(Debug)]
enum Planned {
    /// `.wh.NAME` (or the opaque marker) at `path`; `mtime` its directory's.
    Marker { path: Vec<u8>, mtime: i64 },
    Dir {
        path: Vec<u8>,
        stat: Stat,
        mtime: i64,
        xattrs: Vec<(Vec<u8>, Vec<u8>)>,
        /// What the image has at this path, as listed by `diff`.
        image: Option<ImgDir>,
        opaque: bool,
        /// The children, in writing order.
        children: Vec<(Vec<u8>, Planned)>,
    },
    Leaf {
        path: Vec<u8>,
        stat: Stat,
        st: Box<rustix::fs::Stat>,
        target: Vec<u8>,
        xattrs: Vec<(Vec<u8>, Vec<u8>)>,
        in_image: bool,
    },
}

/// What `diff` needs of the image's entry at a directory's path.
#[derive(Debug, Clone, Copy)]
struct ImgDir {
    is_dir: bool,
    /// Owner, mode and time equal (seconds; nanoseconds when both have them).
    same: bool,
}

struct Planner<'a> {
    root: &'a VfsRoot<'a>,
    image: BTreeMap<Vec<u8>, Img>,
    /// Directory path → the image's names in it.
    children: HashMap<Vec<u8>, Vec<Vec<u8>>>,
    /// The exclusions and every directory above them.
    excluded: HashSet<Vec<u8>>,
    me: (u32, u32),
}

impl<'a> Planner<'a> {
    /// The root's children planned, and the root's own entry when it is not the default.
    fn run(root: &'a VfsRoot<'a>) -> Result<(Planned, Option<Entry>), ArchiveError> {
        let image = merged(root.layers)?;
        let mut children: HashMap<Vec<u8>, Vec<Vec<u8>>> = HashMap::new();
        for k in image.keys() {
            let (parent, name) = match k.iter().rposition(|b| *b == b'/') {
                Some(i) => (k[..i].to_vec(), k[i + 1..].to_vec()),
                None => (Vec::new(), k.clone()),
            };
            children.entry(parent).or_default().push(name);
        }
        let mut excluded = HashSet::new();
        for e in root.exclude {
            let mut p = e.as_slice();
            loop {
                excluded.insert(p.to_vec());
                match p.iter().rposition(|b| *b == b'/') {
                    Some(i) => p = &p[..i],
                    None => break,
                }
            }
        }
        let me = (
            rustix::process::geteuid().as_raw(),
            rustix::process::getegid().as_raw(),
        );
        let p = Planner {
            root,
            image,
            children,
            excluded,
            me,
        };
        let err = |e: Errno| ArchiveError::Io {
            path: root.rootfs.to_path_buf(),
            source: e.into(),
        };
        let fd = rustix::fs::open(root.rootfs, DIR_OPEN, Mode::empty()).map_err(err)?;
        let st = rustix::fs::fstat(&fd).map_err(err)?;
        let children = p.dir(&fd, b"", true)?;
        let stat = Stat {
            uid: st.st_uid,
            gid: st.st_gid,
            mode: st.st_mode & 0o7777,
            kind: FileKind::Dir,
        };
        let default = Stat {
            uid: 0,
            gid: 0,
            mode: 0o755,
            kind: FileKind::Dir,
        };
        let root_entry = (stat != default).then(|| Entry {
            name: b"./".to_vec(),
            link: Vec::new(),
            flag: b'5',
            stat,
            size: 0,
            mtime: st.st_mtime,
            xattrs: Vec::new(),
        });
        let plan = Planned::Dir {
            path: Vec::new(),
            stat,
            mtime: st.st_mtime,
            xattrs: Vec::new(),
            image: None,
            opaque: false,
            children,
        };
        Ok((plan, root_entry))
    }

    fn io(&self, rel: &[u8]) -> impl Fn(Errno) -> ArchiveError + use<> {
        let path = self.root.rootfs.join(entry_display(rel));
        move |e| ArchiveError::Io {
            path: path.clone(),
            source: e.into(),
        }
    }

    /// The owner the image means by the copy's `uid`/`gid` for an entry the image has as
    /// `img`: an owner the copy could not set shows as the copier's.
    fn owner(&self, uid: u32, gid: u32, img: Option<&Img>) -> (u32, u32) {
        let Some(img) = img else {
            return (uid, gid);
        };
        let fallback_u = uid == 0 || uid == self.me.0;
        let fallback_g = gid == 0 || gid == self.me.1;
        let uid = if !(self.root.uid_mapped)(img.stat.uid) && fallback_u {
            img.stat.uid
        } else {
            uid
        };
        let gid = if !(self.root.gid_mapped)(img.stat.gid) && fallback_g {
            img.stat.gid
        } else {
            gid
        };
        (uid, gid)
    }

    /// The planned children of the copy's directory `fd` at `rel`; `in_image_dir` when the
    /// image has a directory there (its names are compared).
    fn dir(
        &self,
        fd: &OwnedFd,
        rel: &[u8],
        in_image_dir: bool,
    ) -> Result<Vec<(Vec<u8>, Planned)>, ArchiveError> {
        let names = read_names(fd).map_err(self.io(rel))?;
        let present: HashSet<&[u8]> = names.iter().map(Vec::as_slice).collect();
        let img_names: &[Vec<u8>] = match (in_image_dir, self.children.get(rel)) {
            (true, Some(c)) => c,
            _ => &[],
        };
        let deleted: Vec<&Vec<u8>> = img_names
            .iter()
            .filter(|n| !present.contains(n.as_slice()))
            .collect();
        let dir_mtime = rustix::fs::fstat(fd).map_err(self.io(rel))?.st_mtime;
        let mut out: Vec<(Vec<u8>, Planned)> = Vec::new();
        let opaque = !img_names.is_empty() && deleted.len() == img_names.len();
        if opaque {
            let name = whiteout::OPAQUE_MARKER.as_bytes().to_vec();
            out.push((
                name.clone(),
                Planned::Marker {
                    path: join(rel, &name),
                    mtime: dir_mtime,
                },
            ));
        } else {
            for d in deleted {
                let name = whiteout::whiteout_name(OsStr::from_bytes(d))
                    .as_bytes()
                    .to_vec();
                out.push((
                    name.clone(),
                    Planned::Marker {
                        path: join(rel, &name),
                        mtime: dir_mtime,
                    },
                ));
            }
        }
        for name in names {
            if whiteout::is_reserved(OsStr::from_bytes(&name)) {
                tracing::debug!(
                    "leaving out {}: a name of the whiteout namespace",
                    entry_display(&join(rel, &name))
                );
                continue;
            }
            let path = join(rel, &name);
            if let Some(p) = self.entry(fd, &name, path, in_image_dir)? {
                out.push((name, p));
            }
        }
        sort_children_planned(&mut out);
        Ok(out)
    }

    fn entry(
        &self,
        parent: &OwnedFd,
        name: &[u8],
        path: Vec<u8>,
        in_image_dir: bool,
    ) -> Result<Option<Planned>, ArchiveError> {
        let err = self.io(&path);
        let st = rustix::fs::statat(parent, name, AtFlags::SYMLINK_NOFOLLOW).map_err(&err)?;
        let img = if in_image_dir {
            self.image.get(&path)
        } else {
            None
        };
        let (uid, gid) = self.owner(st.st_uid, st.st_gid, img);
        let disk = FileType::from_raw_mode(st.st_mode);
        let mut kind = FileKind::from_file_type(disk);
        if let FileKind::Char { .. } | FileKind::Block { .. } = kind {
            let (major, minor) = (rustix::fs::major(st.st_rdev), rustix::fs::minor(st.st_rdev));
            kind = match kind {
                FileKind::Char { .. } => FileKind::Char { major, minor },
                _ => FileKind::Block { major, minor },
            };
        }
        if let Some(i) = img
            && i.stat.kind.is_placeholder()
            && kind == FileKind::File
            && st.st_size == 0
        {
            kind = i.stat.kind;
        }
        let stat = Stat {
            uid,
            gid,
            mode: st.st_mode & 0o7777,
            kind,
        };
        let excluded = img.is_none() && self.excluded.contains(&path);
        if kind == FileKind::Dir {
            let child = rustix::fs::openat(parent, name, DIR_OPEN, Mode::empty()).map_err(&err)?;
            let img_is_dir = img.is_some_and(Img::is_dir);
            let children = self.dir(&child, &path, img_is_dir)?;
            if excluded && children.is_empty() {
                return Ok(None);
            }
            let same = img.is_some_and(|i| {
                i.is_dir()
                    && i.stat == stat
                    && i.mtime.0 == st.st_mtime
                    && (i.mtime.1 == st.st_mtime_nsec as i64
                        || i.mtime.1 == 0
                        || st.st_mtime_nsec == 0)
            });
            let opaque = children
                .first()
                .is_some_and(|(n, _)| n.as_slice() == whiteout::OPAQUE_MARKER.as_bytes());
            if same && children.is_empty() {
                return Ok(None);
            }
            let mut xattrs = if img_is_dir {
                img.map(Img::xattrs).unwrap_or_default()
            } else {
                Vec::new()
            };
            merge_xattrs(&mut xattrs, ownership::read_xattrs(&child).map_err(&err)?);
            return Ok(Some(Planned::Dir {
                path,
                stat,
                mtime: st.st_mtime,
                xattrs,
                image: img.map(|i| ImgDir {
                    is_dir: i.is_dir(),
                    same,
                }),
                opaque,
                children,
            }));
        }
        if kind == FileKind::Socket {
            return Ok(None);
        }
        if excluded && kind == FileKind::File && st.st_size == 0 {
            return Ok(None);
        }
        let target = if kind == FileKind::Symlink {
            rustix::fs::readlinkat(parent, name, Vec::new())
                .map_err(&err)?
                .into_bytes()
        } else {
            Vec::new()
        };
        if let Some(i) = img {
            let same = i.stat == stat
                && i.mtime == (st.st_mtime, st.st_mtime_nsec as i64)
                && (kind != FileKind::File || i.size == st.st_size as u64)
                && (kind != FileKind::Symlink || i.target.as_deref() == Some(target.as_slice()));
            if same {
                return Ok(None);
            }
        }
        let mut xattrs = match img {
            Some(i) if i.stat.kind == kind => i.xattrs(),
            _ => Vec::new(),
        };
        if kind != FileKind::Symlink {
            let fd = rustix::fs::openat(parent, name, FILE_OPEN, Mode::empty()).map_err(&err)?;
            merge_xattrs(&mut xattrs, ownership::read_xattrs(&fd).map_err(&err)?);
        }
        Ok(Some(Planned::Leaf {
            path,
            stat,
            st: Box::new(st),
            target,
            xattrs,
            in_image: img.is_some(),
        }))
    }
}

/// `ours` over `base`, by name, sorted.
fn merge_xattrs(base: &mut Vec<(Vec<u8>, Vec<u8>)>, ours: Vec<(Vec<u8>, Vec<u8>)>) {
    for (k, v) in ours {
        match base.iter_mut().find(|(n, _)| *n == k) {
            Some(slot) => slot.1 = v,
            None => base.push((k, v)),
        }
    }
    base.sort();
}

/// [`sort_children`]'s order for planned entries.
fn sort_children_planned(items: &mut Vec<(Vec<u8>, Planned)>) {
    let mut names: Vec<Vec<u8>> = items.iter().map(|(n, _)| n.clone()).collect();
    sort_children(&mut names);
    let mut by_name: HashMap<Vec<u8>, Planned> = items.drain(..).collect();
    for n in names {
        if let Some(p) = by_name.remove(&n) {
            items.push((n, p));
        }
    }
}

struct Emitter<'a, W: Write> {
    w: EntryWriter<'a, W>,
    root: &'a Path,
    root_fd: OwnedFd,
    timestamp: Option<i64>,
}

impl<W: Write> Emitter<'_, W> {
    fn put(&mut self, e: &Entry) -> Result<(), ArchiveError> {
        match self.timestamp {
            Some(t) => self.w.header(&Entry {
                name: e.name.clone(),
                link: e.link.clone(),
                flag: e.flag,
                stat: e.stat,
                size: e.size,
                mtime: t,
                xattrs: e.xattrs.clone(),
            }),
            None => self.w.header(e),
        }
    }

    fn dir(&mut self, plan: &Planned) -> Result<(), ArchiveError> {
        let Planned::Dir { children, .. } = plan else {
            return Ok(());
        };
        for (_, child) in children {
            self.entry(child)?;
        }
        Ok(())
    }

    fn entry(&mut self, p: &Planned) -> Result<(), ArchiveError> {
        match p {
            Planned::Marker { path, mtime } => self.put(&Entry {
                name: path.clone(),
                link: Vec::new(),
                flag: b'0',
                stat: Stat {
                    uid: 0,
                    gid: 0,
                    mode: 0o600,
                    kind: FileKind::File,
                },
                size: 0,
                mtime: *mtime,
                xattrs: Vec::new(),
            }),
            Planned::Dir {
                path,
                stat,
                mtime,
                xattrs,
                ..
            } => {
                let mut name = path.clone();
                name.push(b'/');
                self.put(&Entry {
                    name,
                    link: Vec::new(),
                    flag: b'5',
                    stat: *stat,
                    size: 0,
                    mtime: *mtime,
                    xattrs: xattrs.clone(),
                })?;
                self.dir(p)
            }
            Planned::Leaf {
                path,
                stat,
                st,
                target,
                xattrs,
                ..
            } => {
                let mut e = Entry {
                    name: path.clone(),
                    link: Vec::new(),
                    flag: b'0',
                    stat: *stat,
                    size: 0,
                    mtime: st.st_mtime,
                    xattrs: Vec::new(),
                };
                if let Some(first) = self.w.first_link(st, path) {
                    e.flag = b'1';
                    e.link = first;
                    return self.put(&e);
                }
                e.xattrs = xattrs.clone();
                match stat.kind {
                    FileKind::File => {
                        e.size = st.st_size as u64;
                        self.put(&e)?;
                        let fd = rustix::fs::openat(
                            &self.root_fd,
                            path.as_slice(),
                            FILE_OPEN,
                            Mode::empty(),
                        )
                        .map_err(|source| ArchiveError::Io {
                            path: self.root.join(entry_display(path)),
                            source: source.into(),
                        })?;
                        self.w.content(File::from(fd), path, e.size)
                    }
                    FileKind::Symlink => {
                        e.flag = b'2';
                        e.link = target.clone();
                        self.put(&e)
                    }
                    FileKind::Char { .. } => {
                        e.flag = b'3';
                        self.put(&e)
                    }
                    FileKind::Block { .. } => {
                        e.flag = b'4';
                        self.put(&e)
                    }
                    FileKind::Pipe => {
                        e.flag = b'6';
                        self.put(&e)
                    }
                    FileKind::Socket | FileKind::Dir => Ok(()),
                }
            }
        }
    }
}

/// [`super::layer_changes`]'s rules over the planned layer.
struct Lister {
    changes: Vec<Change>,
    listed: HashSet<Vec<u8>>,
}

impl Lister {
    fn dir(&mut self, plan: &Planned) {
        let Planned::Dir { children, .. } = plan else {
            return;
        };
        // Whiteouts sort as the name they hide.
        let mut items: Vec<(Vec<u8>, &Planned)> = children
            .iter()
            .filter_map(|(n, p)| {
                let os = OsStr::from_bytes(n);
                if whiteout::is_opaque_marker(os) {
                    None
                } else if let Some(t) = whiteout::whiteout_target(os) {
                    Some((t.as_bytes().to_vec(), p))
                } else {
                    Some((n.clone(), p))
                }
            })
            .collect();
        items.sort_by(|a, b| a.0.cmp(&b.0));
        for (_, p) in items {
            match p {
                Planned::Marker { path, .. } => {
                    let (dir, name) = split(path);
                    let target = whiteout::whiteout_target(OsStr::from_bytes(name))
                        .map(|t| join(dir, t.as_bytes()))
                        .unwrap_or_else(|| path.clone());
                    self.record(ChangeKind::Deleted, &target, false);
                }
                Planned::Dir {
                    path,
                    image,
                    opaque,
                    ..
                } => {
                    match image {
                        Some(_) if *opaque => self.record(ChangeKind::Deleted, path, true),
                        Some(i) if i.is_dir && i.same => {}
                        Some(_) => self.record(ChangeKind::Changed, path, true),
                        None => self.record(ChangeKind::Added, path, true),
                    }
                    self.dir(p);
                }
                Planned::Leaf { path, in_image, .. } => {
                    let kind = if *in_image {
                        ChangeKind::Changed
                    } else {
                        ChangeKind::Added
                    };
                    self.record(kind, path, false);
                }
            }
        }
    }

    /// As [`super::changes`]: `path` after the ancestors an addition or deletion needs.
    fn record(&mut self, kind: ChangeKind, path: &[u8], is_dir: bool) {
        if is_dir {
            self.listed.insert(path.to_vec());
        }
        if kind != ChangeKind::Changed {
            for (i, _) in path
                .iter()
                .enumerate()
                .filter(|(i, b)| **b == b'/' && *i > 0)
            {
                let dir = &path[..i];
                if self.listed.insert(dir.to_vec()) {
                    self.changes.push(absolute(ChangeKind::Changed, dir));
                }
            }
        }
        self.changes.push(absolute(kind, path));
    }
}

fn split(path: &[u8]) -> (&[u8], &[u8]) {
    match path.iter().rposition(|b| *b == b'/') {
        Some(i) => (&path[..i], &path[i + 1..]),
        None => (&[], path),
    }
}

fn absolute(kind: ChangeKind, rel: &[u8]) -> Change {
    let mut path = Vec::with_capacity(rel.len() + 1);
    path.push(b'/');
    path.extend_from_slice(rel);
    Change { kind, path }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::DIFF_DIR;
    use crate::runtime::{UserMapping, rootfs};
    use std::fs;

    fn layer(root: &Path, name: &str, files: &[(&str, &str)], dirs: &[&str]) -> PathBuf {
        let l = root.join(name);
        let diff = l.join(DIFF_DIR);
        fs::create_dir_all(&diff).unwrap();
        for d in dirs {
            fs::create_dir_all(diff.join(d)).unwrap();
        }
        for (f, text) in files {
            fs::write(diff.join(f), text).unwrap();
        }
        l
    }

    #[test]
    fn copy_changes_become_a_layer_of_exactly_them() {
        // The copy sets owners, which needs root here (in real use it is made inside the
        // container's user namespace); the unprivileged re-run of the archive tests skips it.
        if !rustix::process::geteuid().is_root() {
            return;
        }
        let tmp = tempfile::tempdir().unwrap();
        let base = layer(
            tmp.path(),
            "base",
            &[
                ("d/a", "a"),
                ("d/b", "b"),
                ("d/c", "c"),
                ("e/x", "x"),
                ("same", "s"),
            ],
            &["d", "e"],
        );
        let top = layer(tmp.path(), "top", &[("d/.wh.b", ""), ("top", "t")], &["d"]);
        let layers = [base, top];
        let rootfs = tmp.path().join("rootfs");
        rootfs::build(&layers, &rootfs, &UserMapping::current().unwrap()).unwrap();
        let yes = |_: u32| true;
        let root = VfsRoot {
            rootfs: &rootfs,
            layers: &layers,
            uid_mapped: &yes,
            gid_mapped: &yes,
            exclude: &[b"mnt/point".to_vec()],
        };
        assert_eq!(vfs_changes(&root).unwrap(), Vec::new(), "a fresh copy");

        // The same size and content, a new time: a change, as a touch on the overlay.
        fs::write(rootfs.join("top"), "T").unwrap();
        fs::remove_file(rootfs.join("d/a")).unwrap();
        fs::write(rootfs.join("d/new"), "n").unwrap();
        fs::remove_file(rootfs.join("e/x")).unwrap();
        fs::create_dir_all(rootfs.join("mnt")).unwrap();
        fs::write(rootfs.join("mnt/point"), "").unwrap();
        fs::write(rootfs.join(".wh.sneaky"), "").unwrap();
        let shown: Vec<String> = vfs_changes(&root)
            .unwrap()
            .iter()
            .map(|c| c.to_string())
            .collect();
        assert_eq!(
            shown,
            ["C /d", "D /d/a", "A /d/new", "D /e", "C /top"],
            "the mount point and the reserved name are left out"
        );

        let (summary, tar) = create_vfs_layer(&root, Some(7), Vec::new()).unwrap();
        assert_eq!(summary.tar_size, tar.len() as u64);
        let mut a = tar::Archive::new(tar.as_slice());
        let entries: Vec<(String, u64)> = a
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let name = String::from_utf8_lossy(&e.path_bytes()).into_owned();
                (name, e.header().mtime().unwrap())
            })
            .collect();
        let names: Vec<&str> = entries.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            ["d/", "d/.wh.a", "d/new", "e/", "e/.wh..wh..opq", "top"]
        );
        assert!(entries.iter().all(|(_, t)| *t == 7), "{entries:?}");
    }
}
