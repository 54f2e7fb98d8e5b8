//! Opening directories of the tree being extracted, never outside it.
//!
//! Parents are resolved from the tree's root with `openat2(RESOLVE_BENEATH |
//! RESOLVE_NO_MAGICLINKS)` (openat2(2)): a path or symlink that would leave the root fails
//! with `EXDEV`, which the caller turns into a refusal. A symlinked parent that stays inside is
//! followed; the common case is tried first with `RESOLVE_NO_SYMLINKS`, so only paths that
//! really go through a symlink pay for finding their physical path (`/proc/self/fd`).
//!
//! Entries are recorded under their *physical* path (no symlink components), which is what
//! the overlay and the reassembly see. The last parent opened is cached: tar streams list a
//! directory's entries together, so most entries reuse it.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use rustix::fs::{Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

pub(crate) const DIR_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::CLOEXEC);
pub(crate) const BENEATH: ResolveFlags = ResolveFlags::BENEATH.union(ResolveFlags::NO_MAGICLINKS);
/// For physical paths: any symlink is an error.
pub(crate) const PHYSICAL: ResolveFlags = BENEATH.union(ResolveFlags::NO_SYMLINKS);

/// An open directory of the tree and its physical path relative to the root.
pub(crate) struct Dir {
    pub fd: OwnedFd,
    pub phys: Vec<u8>,
    lexical: Vec<u8>,
    /// The tree's epoch when this was opened.
    epoch: u64,
}

pub(crate) struct Tree {
    root: OwnedFd,
    root_abs: Vec<u8>,
    cache: Option<Dir>,
    /// Bumped whenever something is removed from the tree: cached directories may be gone.
    epoch: u64,
    /// Implicitly created directories get `0755`; chmod them if the umask takes bits away.
    umask: u32,
}

pub(crate) use crate::sys::openat::openat2_retry;

impl Tree {
    pub fn open(root: &Path, umask: u32) -> std::io::Result<Tree> {
        let fd = rustix::fs::open(root, DIR_FLAGS, Mode::empty())?;
        let root_abs = std::fs::canonicalize(root)?.as_os_str().as_bytes().to_vec();
        Ok(Tree {
            root: fd,
            root_abs,
            cache: None,
            epoch: 0,
            umask,
        })
    }

    pub fn root(&self) -> BorrowedFd<'_> {
        self.root.as_fd()
    }

    /// Forgets the cached parent: call after anything was removed from the tree.
    pub fn invalidate(&mut self) {
        self.cache = None;
        self.epoch += 1;
    }

    /// Opens the directory at `lexical` (relative, cleaned, may be empty for the root).
    pub fn open_dir(&self, lexical: &[u8]) -> Result<Dir, Errno> {
        match openat2_retry(&self.root, lexical, DIR_FLAGS, PHYSICAL) {
            Ok(fd) => Ok(Dir {
                fd,
                phys: lexical.to_vec(),
                lexical: lexical.to_vec(),
                epoch: self.epoch,
            }),
            Err(Errno::LOOP) => {
                let fd = openat2_retry(&self.root, lexical, DIR_FLAGS, BENEATH)?;
                let phys = self.physical(&fd).unwrap_or_else(|| lexical.to_vec());
                Ok(Dir {
                    fd,
                    phys,
                    lexical: lexical.to_vec(),
                    epoch: self.epoch,
                })
            }
            Err(e) => Err(e),
        }
    }

    /// The physical path of an open directory of the tree, from `/proc/self/fd`.
    fn physical(&self, fd: &OwnedFd) -> Option<Vec<u8>> {
        use std::os::fd::AsRawFd;
        let link = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).ok()?;
        let link = link.as_os_str().as_bytes();
        let rest = link.strip_prefix(self.root_abs.as_slice())?;
        if rest.is_empty() {
            return Some(Vec::new());
        }
        rest.strip_prefix(b"/").map(<[u8]>::to_vec)
    }

    /// Takes the directory at `lexical` out of the cache, opening it (and creating missing
    /// directories, `0755`) if needed. Give it back with [`Self::put_back`].
    pub fn take_parent(&mut self, lexical: &[u8]) -> Result<Dir, Errno> {
        if let Some(dir) = self.cache.take()
            && dir.lexical == lexical
        {
            return Ok(dir);
        }
        match self.open_dir(lexical) {
            Err(Errno::NOENT) => self.create_dirs(lexical),
            other => other,
        }
    }

    /// Caches `dir` for the next entry, unless the tree changed since it was opened.
    pub fn put_back(&mut self, dir: Dir) {
        if dir.epoch == self.epoch {
            self.cache = Some(dir);
        }
    }

    fn create_dirs(&self, lexical: &[u8]) -> Result<Dir, Errno> {
        let mut cur = self.open_dir(b"")?;
        let mut end = 0;
        for comp in lexical.split(|b| *b == b'/') {
            end += comp.len();
            let prefix = &lexical[..end];
            end += 1;
            cur = match self.open_dir(prefix) {
                Ok(d) => d,
                Err(Errno::NOENT) => {
                    match rustix::fs::mkdirat(&cur.fd, comp, Mode::from_raw_mode(0o755)) {
                        Ok(()) | Err(Errno::EXIST) => {}
                        Err(e) => return Err(e),
                    }
                    let d = self.open_dir(prefix)?;
                    if self.umask & 0o755 != 0 {
                        rustix::fs::fchmod(&d.fd, Mode::from_raw_mode(0o755))?;
                    }
                    d
                }
                Err(e) => return Err(e),
            };
        }
        Ok(cur)
    }
}

/// `parent/name` as a physical path.
pub(crate) fn join(parent: &[u8], name: &[u8]) -> Vec<u8> {
    if parent.is_empty() {
        return name.to_vec();
    }
    let mut p = Vec::with_capacity(parent.len() + 1 + name.len());
    p.extend_from_slice(parent);
    p.push(b'/');
    p.extend_from_slice(name);
    p
}

/// Whether `path` is `prefix` or below it.
pub(crate) fn is_under(path: &[u8], prefix: &[u8]) -> bool {
    path == prefix || (path.starts_with(prefix) && path.get(prefix.len()) == Some(&b'/'))
}

/// The process umask, read once from `/proc/self/status` (proc(5), Linux 4.7+); all bits when
/// unknown, so that every mode gets set explicitly.
pub(crate) fn umask() -> u32 {
    static UMASK: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *UMASK.get_or_init(|| {
        std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("Umask:"))
                    .and_then(|v| u32::from_str_radix(v.trim(), 8).ok())
            })
            .unwrap_or(0o777)
    })
}
