//! Access to the layer directories: every lookup is relative to a layer's root fd, opened with
//! `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS)` so that no path
//! component, even one a container renames or replaces concurrently in the upper layer, can
//! lead outside the layer (openat2(2)). The last component is never followed.
//!
//! Index 0 is the writable upper layer when there is one; the read-only lower layers follow,
//! top-most first.

use std::ffi::OsStr;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use rustix::fs::{AtFlags, FileType, Mode, OFlags, ResolveFlags};
use rustix::io::Errno as Sys;

use super::{Result, errno};
use crate::archive::ownership::{self, Stat};
use crate::archive::{DIFF_DIR, SymlinkMeta, SymlinkTable};

/// The index of the upper layer (when the overlay has one).
pub(crate) const UPPER: usize = 0;

const RESOLVE: ResolveFlags = ResolveFlags::BENEATH
    .union(ResolveFlags::NO_SYMLINKS)
    .union(ResolveFlags::NO_MAGICLINKS);

/// One layer directory.
pub(crate) struct Layer {
    root: OwnedFd,
    /// The directory's absolute path, for the path-based calls on a lower layer (immutable,
    /// and checked at extraction: no symlink on the way to an entry of the merged view).
    root_path: Option<PathBuf>,
    dev: u64,
    /// The directory holding the symlink table (`layers/<id>/` for `layers/<id>/diff/`), if
    /// this layer has one.
    table_dir: Option<PathBuf>,
    /// Ownership of the symlinks of this layer.
    symlinks: RwLock<SymlinkTable>,
    /// The names of each multiply-linked file of this (lower) layer, by inode: built on the
    /// first copy-up of such a file (`links`).
    pub(crate) hardlinks: std::sync::OnceLock<super::links::LinkIndex>,
}

/// The layer stack.
pub(crate) struct Layers {
    layers: Vec<Layer>,
    has_upper: bool,
    /// Open fds of recently used upper directories, so that a burst of requests in one
    /// directory (creating 10k files is GETATTR, LOOKUP, CREATE and RELEASE per file) does
    /// not walk the path from the layer root for each: see [`Layers::dirs_changed`].
    dir_cache: Mutex<DirCache>,
}

/// How many upper directories [`DirCache`] keeps open.
const DIR_CACHE_SIZE: usize = 16;

#[derive(Default)]
struct DirCache {
    /// Bumped by every change that can move or remove a directory: an fd opened before a
    /// bump is not cached, as its path may name another directory by then.
    generation: u64,
    /// Path, fd, and whether the fd is readable (not `O_PATH`: xattrs can be read on it).
    entries: Vec<(Vec<u8>, Arc<OwnedFd>, bool)>,
    /// What a new entry inherits from a cached directory: its metadata and default ACL
    /// (bumping `generation` after a change of a directory's metadata drops these).
    inherit: Vec<(Vec<u8>, Inherit)>,
}

/// A directory's ownership metadata and stored default ACL.
pub(crate) type Inherit = (Stat, Option<Vec<u8>>);

/// A relative path as the system calls want it: the root is `.`.
pub(crate) fn rel(path: &[u8]) -> &OsStr {
    if path.is_empty() {
        OsStr::new(".")
    } else {
        OsStr::from_bytes(path)
    }
}

/// `parent/name` (or `name` at the root).
pub(crate) fn join(parent: &[u8], name: &OsStr) -> Vec<u8> {
    let mut p = Vec::with_capacity(parent.len() + 1 + name.len());
    if !parent.is_empty() {
        p.extend_from_slice(parent);
        p.push(b'/');
    }
    p.extend_from_slice(name.as_bytes());
    p
}

/// The parent part and the last component of a non-root path.
pub(crate) fn split(path: &[u8]) -> (&[u8], &OsStr) {
    match path.iter().rposition(|b| *b == b'/') {
        Some(i) => (&path[..i], OsStr::from_bytes(&path[i + 1..])),
        None => (&[], OsStr::from_bytes(path)),
    }
}

impl Layer {
    fn open(dir: &Path, table_dir: Option<PathBuf>) -> std::io::Result<Layer> {
        let root = rustix::fs::open(
            dir,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", dir.display())))?;
        let symlinks = match &table_dir {
            Some(d) => SymlinkTable::load(d)
                .map_err(|e| std::io::Error::other(format!("{}: {e}", d.display())))?,
            None => SymlinkTable::default(),
        };
        let dev = rustix::fs::fstat(&root)
            .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", dir.display())))?
            .st_dev;
        let root_path = std::fs::canonicalize(dir).ok();
        Ok(Layer {
            root,
            root_path,
            dev,
            table_dir,
            symlinks: RwLock::new(symlinks),
            hardlinks: std::sync::OnceLock::new(),
        })
    }
}

impl Layer {
    /// The layer directory (an `O_PATH` fd).
    pub(crate) fn root(&self) -> &OwnedFd {
        &self.root
    }
}

impl Layers {
    /// Opens `lowers` (top-most first) and `upper`. A lower directory named `diff` is a store
    /// layer: its symlink table is beside it. The upper layer's table is beside it too.
    pub(crate) fn open_all(upper: Option<&Path>, lowers: &[PathBuf]) -> std::io::Result<Layers> {
        let mut layers = Vec::new();
        if let Some(u) = upper {
            layers.push(Layer::open(u, u.parent().map(Path::to_path_buf))?);
        }
        for l in lowers {
            let table = (l.file_name() == Some(OsStr::new(DIFF_DIR)))
                .then(|| l.parent().map(Path::to_path_buf))
                .flatten();
            layers.push(Layer::open(l, table)?);
        }
        Ok(Layers {
            layers,
            has_upper: upper.is_some(),
            dir_cache: Mutex::new(DirCache::default()),
        })
    }

    pub(crate) fn has_upper(&self) -> bool {
        self.has_upper
    }

    pub(crate) fn len(&self) -> usize {
        self.layers.len()
    }

    /// All layer indexes, top-most first.
    pub(crate) fn all(&self) -> Vec<usize> {
        (0..self.layers.len()).collect()
    }

    /// The device of layer `l`'s directory.
    pub(crate) fn dev(&self, l: usize) -> Result<u64> {
        Ok(self.layer(l)?.dev)
    }

    pub(crate) fn layer(&self, l: usize) -> Result<&Layer> {
        self.layers.get(l).ok_or(fuser::Errno::EIO)
    }

    /// `lstat` of `path` in layer `l`; `None` when it does not exist there (or a component
    /// is not a directory).
    pub(crate) fn stat(&self, l: usize, path: &[u8]) -> Result<Option<rustix::fs::Stat>> {
        let layer = self.layer(l)?;
        if l != UPPER || !self.has_upper {
            // Lower layers are immutable and were checked at extraction: no symlink on the
            // way to an entry the merged view reaches.
            return match rustix::fs::statat(&layer.root, rel(path), AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) => Ok(Some(st)),
                Err(Sys::NOENT) | Err(Sys::NOTDIR) => Ok(None),
                Err(e) => Err(errno(e)),
            };
        }
        let (parent, name) = if path.is_empty() {
            (&b""[..], OsStr::new("."))
        } else {
            split(path)
        };
        let dir = match self.open_dir(l, parent) {
            Ok(d) => d,
            Err(e) if e == fuser::Errno::ENOENT || e == fuser::Errno::ENOTDIR => return Ok(None),
            Err(e) => return Err(e),
        };
        match rustix::fs::statat(&dir, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => Ok(Some(st)),
            Err(Sys::NOENT) | Err(Sys::NOTDIR) => Ok(None),
            Err(e) => Err(errno(e)),
        }
    }

    /// Whether `path` exists in layer `l`.
    pub(crate) fn exists(&self, l: usize, path: &[u8]) -> Result<bool> {
        Ok(self.stat(l, path)?.is_some())
    }

    /// An fd of the directory `path` in layer `l`, for `*at` calls (from the cache for the
    /// upper layer).
    pub(crate) fn open_dir(&self, l: usize, path: &[u8]) -> Result<Arc<OwnedFd>> {
        if l == UPPER && self.has_upper {
            return Ok(self.upper_dir_fd(path)?.0);
        }
        let layer = self.layer(l)?;
        rustix::fs::openat2(
            &layer.root,
            rel(path),
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
            RESOLVE,
        )
        .map(Arc::new)
        .map_err(errno)
    }

    /// The upper directory `path` (cached) and whether xattrs can be read on its fd.
    fn upper_dir_fd(&self, path: &[u8]) -> Result<(Arc<OwnedFd>, bool)> {
        let generation = {
            let c = super::lock(&self.dir_cache);
            if let Some((_, fd, readable)) = c.entries.iter().find(|e| e.0 == path) {
                return Ok((fd.clone(), *readable));
            }
            c.generation
        };
        let layer = self.layer(UPPER)?;
        let open = |flags: OFlags| {
            rustix::fs::openat2(
                &layer.root,
                rel(path),
                flags | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
                RESOLVE,
            )
        };
        // A directory the server may not read (mode 0300 owned by another id) is still
        // usable for `*at` calls through `O_PATH`.
        let (fd, readable) = match open(OFlags::RDONLY) {
            Ok(fd) => (fd, true),
            Err(Sys::ACCESS) | Err(Sys::PERM) => (open(OFlags::PATH).map_err(errno)?, false),
            Err(e) => return Err(errno(e)),
        };
        let fd = Arc::new(fd);
        let mut c = super::lock(&self.dir_cache);
        if c.generation == generation && !c.entries.iter().any(|e| e.0 == path) {
            if c.entries.len() >= DIR_CACHE_SIZE {
                let (gone, _, _) = c.entries.remove(0);
                c.inherit.retain(|(p, _)| *p != gone);
            }
            c.entries.push((path.to_vec(), fd.clone(), readable));
        }
        Ok((fd, readable))
    }

    /// Forgets the cached upper directories: called before and after anything that renames
    /// or removes a directory of the upper layer.
    pub(crate) fn dirs_changed(&self) {
        let mut c = super::lock(&self.dir_cache);
        c.generation += 1;
        c.entries.clear();
        c.inherit.clear();
    }

    /// What a new entry of upper directory `path` inherits, cached beside its fd; `read`
    /// reads it from the directory's readable fd.
    pub(crate) fn upper_dir_inherit(
        &self,
        path: &[u8],
        read: impl FnOnce(&OwnedFd) -> Result<Inherit>,
    ) -> Result<Inherit> {
        let generation = {
            let c = super::lock(&self.dir_cache);
            if let Some((_, i)) = c.inherit.iter().find(|e| e.0 == path) {
                return Ok(i.clone());
            }
            c.generation
        };
        let fd = self.upper_dir_meta(path)?;
        let got = read(&fd)?;
        let mut c = super::lock(&self.dir_cache);
        if c.generation == generation
            && c.entries.iter().any(|e| e.0 == path)
            && !c.inherit.iter().any(|e| e.0 == path)
        {
            c.inherit.push((path.to_vec(), got.clone()));
        }
        Ok(got)
    }

    /// A readable fd of directory `path` of the upper layer (for its xattrs), from the cache.
    pub(crate) fn upper_dir_meta(&self, path: &[u8]) -> Result<Arc<OwnedFd>> {
        match self.upper_dir_fd(path)? {
            (fd, true) => Ok(fd),
            _ => self.open_meta(UPPER, path).map(Arc::new),
        }
    }

    /// Opens `path` in layer `l` with `flags` (never following a symlink).
    pub(crate) fn open(&self, l: usize, path: &[u8], flags: OFlags) -> Result<OwnedFd> {
        let layer = self.layer(l)?;
        rustix::fs::openat2(
            &layer.root,
            rel(path),
            flags | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NOCTTY,
            Mode::empty(),
            RESOLVE,
        )
        .map_err(errno)
    }

    /// An fd on which extended attributes can be read (not `O_PATH`): regular files,
    /// placeholders and directories. `O_NONBLOCK` keeps a real FIFO from blocking the open.
    pub(crate) fn open_meta(&self, l: usize, path: &[u8]) -> Result<OwnedFd> {
        self.open(l, path, OFlags::RDONLY | OFlags::NONBLOCK)
    }

    /// The true metadata of `path` in layer `l`, whose `lstat` is `st`.
    pub(crate) fn meta(&self, l: usize, path: &[u8], st: &rustix::fs::Stat) -> Result<Stat> {
        Ok(self.meta_inner(l, path, st, false)?.0)
    }

    /// [`Layers::meta`], and the number an upper copy keeps from its origin
    /// (`super::origin`), read on the same fd.
    pub(crate) fn meta_origin(
        &self,
        l: usize,
        path: &[u8],
        st: &rustix::fs::Stat,
    ) -> Result<(Stat, Option<u64>)> {
        self.meta_inner(l, path, st, true)
    }

    fn meta_inner(
        &self,
        l: usize,
        path: &[u8],
        st: &rustix::fs::Stat,
        origin: bool,
    ) -> Result<(Stat, Option<u64>)> {
        match FileType::from_raw_mode(st.st_mode) {
            FileType::Symlink => Ok((self.symlink_meta(l, path)?.stat, None)),
            FileType::Socket | FileType::CharacterDevice | FileType::BlockDevice => {
                // Real special files are not ours (a hand-made lower directory).
                Ok((Stat::from_disk(st.st_mode), None))
            }
            _ => {
                if l != UPPER || !self.has_upper {
                    let layer = self.layer(l)?;
                    if let Some(root) = &layer.root_path {
                        let full = if path.is_empty() {
                            root.clone()
                        } else {
                            root.join(OsStr::from_bytes(path))
                        };
                        return ownership::read_stat_path_mode(&full, st.st_mode, "")
                            .map(|m| (m, None))
                            .map_err(|e| archive_errno(&e));
                    }
                }
                let fd = if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
                    self.upper_dir_meta(path)?
                } else {
                    Arc::new(self.open_meta(l, path)?)
                };
                let meta = ownership::read_stat_fd_mode(&fd, st.st_mode, "")
                    .map_err(|e| archive_errno(&e))?;
                // Only the upper layer holds copies (lower layers never carry the attribute).
                let number = if origin && l == UPPER && self.has_upper {
                    super::origin::read(&*fd)?
                } else {
                    None
                };
                Ok((meta, number))
            }
        }
    }

    /// The number stored on entry `name` of upper directory `dir` (`super::origin`), read by
    /// path through the cached directory fd, without opening the entry: a listing asks for
    /// every upper entry. Best effort: `None` on any error (the entry then shows its backing
    /// number, as before a remount).
    pub(crate) fn upper_origin(&self, dir: &[u8], name: &OsStr) -> Option<u64> {
        use std::os::fd::AsRawFd;
        let fd = self.open_dir(UPPER, dir).ok()?;
        let mut path = format!("/proc/self/fd/{}/", fd.as_raw_fd()).into_bytes();
        path.extend_from_slice(name.as_bytes());
        let mut buf = [0u8; super::origin::VALUE_MAX];
        let n = rustix::fs::lgetxattr(
            OsStr::from_bytes(&path),
            super::origin::ORIGIN_XATTR,
            &mut buf[..],
        )
        .ok()?;
        super::origin::decode(buf.get(..n)?)
    }

    /// The symlink table entry of `path` in layer `l`.
    pub(crate) fn symlink_meta(&self, l: usize, path: &[u8]) -> Result<SymlinkMeta> {
        let layer = self.layer(l)?;
        let table = layer.symlinks.read().unwrap_or_else(|p| p.into_inner());
        Ok(table.get(path).cloned().unwrap_or(SymlinkMeta {
            stat: Stat::SYMLINK_DEFAULT,
            xattrs: Vec::new(),
        }))
    }

    /// Changes the symlink table of the upper layer with `change` and writes it out.
    pub(crate) fn update_symlinks(&self, change: impl FnOnce(&mut SymlinkTable)) -> Result<()> {
        let layer = self.layer(UPPER)?;
        let mut table = layer.symlinks.write().unwrap_or_else(|p| p.into_inner());
        let before = table.clone();
        change(&mut table);
        if *table == before {
            return Ok(());
        }
        let Some(dir) = &layer.table_dir else {
            return Err(fuser::Errno::EIO);
        };
        if table.is_empty() {
            return match std::fs::remove_file(dir.join(crate::archive::SYMLINK_TABLE)) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(fuser::Errno::from(e)),
            };
        }
        table.store(dir).map_err(|e| archive_errno(&e))
    }

    /// `fstatvfs` of the top-most layer.
    pub(crate) fn statvfs(&self) -> Result<rustix::fs::StatVfs> {
        let layer = self.layer(0)?;
        let fd = rustix::fs::openat(
            &layer.root,
            ".",
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(errno)?;
        rustix::fs::fstatvfs(&fd).map_err(errno)
    }
}

/// The errno of an ownership-codec error: the I/O error's, or `EIO` for a corrupt value.
pub(crate) fn archive_errno(e: &crate::archive::ArchiveError) -> fuser::Errno {
    use std::error::Error as _;
    let mut source = e.source();
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>()
            && let Some(raw) = io.raw_os_error()
        {
            return fuser::Errno::from_i32(raw);
        }
        source = s.source();
    }
    tracing::warn!("overlay: {e}");
    fuser::Errno::EIO
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(join(b"", OsStr::new("a")), b"a");
        assert_eq!(join(b"a/b", OsStr::new("c")), b"a/b/c");
        assert_eq!(split(b"a/b/c"), (&b"a/b"[..], OsStr::new("c")));
        assert_eq!(split(b"a"), (&b""[..], OsStr::new("a")));
        assert_eq!(rel(b""), OsStr::new("."));
    }
}
