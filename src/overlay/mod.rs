//! coracle's FUSE overlay: read-only image layers below one writable upper layer, served by
//! this process on `fuser` (no libfuse), mounted directly inside the caller's user and mount
//! namespace (`allow_other`, `default_permissions`; no `fusermount3`).
//!
//! The upper layer is stored as image layers are (OCI-native, `crate::archive`): deletions are
//! `.wh.NAME` files, replaced directories hold `.wh..wh..opq`, and the true owner, mode and
//! type of what the container creates or changes live in the `user.coracle.stat` attribute
//! (symlinks: in the upper layer's symlink table), so `diff` and `commit` are a walk of the
//! upper directory. Names starting with `.wh.` cannot be created (`EINVAL`) or seen
//! (`ENOENT`) inside the overlay.
//!
//! Parts: [`layers`] (fd-based access to layer directories), [`nodes`] (node ids, lookup
//! counts, inode numbers), [`dir`] (merged listings), [`attr`] (what `stat` shows),
//! [`copyup`], [`links`] (hardlinks across copy-up), `write` (operations that change the
//! upper layer), `xattr`, [`acl`] (POSIX ACL inheritance), and `fs` (the
//! `fuser::Filesystem` glue: every reply is an errno or a value, nothing panics).
//!
//! The kernel may cache entries, attributes and pages for as long as the mount lives: this
//! process is the only writer, and every change goes through the kernel.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod acl;
mod attr;
mod copyup;
mod creds;
mod dir;
mod fdcache;
mod fs;
mod layers;
mod links;
mod listing;
mod nodes;
mod origin;
mod splice;
mod write;
mod xattr;

use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use fuser::{FileAttr, MountOption, SessionACL};
use rustix::fs::{FileType, Mode, OFlags};

use crate::archive::{FileKind, whiteout};
use dir::Merged;
use layers::{Layers, UPPER, join};
use nodes::{Node, NodeTable, ROOT};

/// Every overlay operation answers a value or an errno.
pub(crate) type Result<T> = std::result::Result<T, fuser::Errno>;

/// A system call's errno as a FUSE reply.
pub(crate) fn errno(e: rustix::io::Errno) -> fuser::Errno {
    fuser::Errno::from_i32(e.raw_os_error())
}

/// The longest name of the backing filesystems (and of the OCI layer format).
pub(crate) const NAME_MAX: usize = 255;

/// How long the kernel may keep entries and attributes: the mount's lifetime.
pub(crate) const TTL: Duration = Duration::from_secs(365 * 24 * 3600);

/// What to mount.
#[derive(Debug, Clone, Default)]
pub struct OverlayConfig {
    /// Read-only layer directories, top-most first.
    pub lowers: Vec<PathBuf>,
    /// The writable layer; `None` mounts read-only.
    pub upper: Option<PathBuf>,
    /// A directory on the upper layer's filesystem for atomic copy-up (required with
    /// `upper`).
    pub work: Option<PathBuf>,
    /// FUSE worker threads.
    pub threads: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum OverlayError {
    #[error("an upper layer needs a work directory")]
    NoWorkDir,
    #[error("no layers to mount")]
    NoLayers,
    #[error("the top-most layer's root is not a directory")]
    RootNotDir,
    #[error("opening the layers")]
    Open(#[source] io::Error),
    #[error("mounting on {}{}", .0.display(), crate::doctor::hints::fuse_mount(.1))]
    Mount(PathBuf, #[source] io::Error),
    #[error("serving the mount on {}", .0.display())]
    Serve(PathBuf, #[source] io::Error),
}

/// The filesystem.
pub struct Overlay {
    layers: Layers,
    work: Option<OwnedFd>,
    nodes: Mutex<NodeTable>,
    /// The fds files are read and written through, by node (`fdcache`).
    fds: fdcache::FdCache,
    /// Directory listings being read, by node (`listing`).
    listings: listing::Listings,
    /// Serialises copy-ups: two writers of one lower file must not both copy it.
    copy_lock: Mutex<()>,
    tmp_seq: AtomicU64,
    /// Whether to ask for the kernel's writeback cache (see `fs::init`).
    writeback: bool,
    /// The session's device, for replies spliced from backing files (`splice`).
    device: splice::Device,
}

/// Set to `1`, the overlay asks for the kernel's writeback cache: writes are batched, but
/// regular files' times then come from the kernel's clock tick (4 ms here; pjdfstest's 1 ms
/// naptime sees unchanged ctimes), and FUSE's strict per-device dirty limit throttles large
/// writes anyway (bench/README.md). Off by default: every write is one synchronous round
/// trip, and times are the backing filesystem's.
pub const WRITEBACK_ENV: &str = "CORACLE_OVERLAY_WRITEBACK";

/// What a lookup of one name found.
pub(crate) struct Found {
    pub node: Node,
    pub st: rustix::fs::Stat,
    pub meta: crate::archive::Stat,
    /// The number an upper copy keeps from its lower origin (`origin`).
    pub origin: Option<u64>,
}

/// How a `READ` is answered.
pub(crate) enum ReadReply {
    /// Already sent, spliced from the backing file.
    Sent,
    /// These bytes, for the caller to send.
    Data(Vec<u8>),
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Overlay {
    pub fn new(cfg: &OverlayConfig) -> std::result::Result<Overlay, OverlayError> {
        if cfg.lowers.is_empty() && cfg.upper.is_none() {
            return Err(OverlayError::NoLayers);
        }
        let work = match (&cfg.upper, &cfg.work) {
            (None, _) => None,
            (Some(_), None) => return Err(OverlayError::NoWorkDir),
            (Some(_), Some(w)) => Some(
                rustix::fs::open(
                    w,
                    OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(|e| {
                    OverlayError::Open(io::Error::new(e.kind(), format!("{}: {e}", w.display())))
                })?,
            ),
        };
        let layers =
            Layers::open_all(cfg.upper.as_deref(), &cfg.lowers).map_err(OverlayError::Open)?;
        // The root merges every layer down to the first opaque one.
        let mut root_layers = Vec::new();
        let mut top = None;
        for l in layers.all() {
            let st = layers
                .stat(l, b"")
                .map_err(|e| OverlayError::Open(io::Error::from_raw_os_error(i32::from(e))))?;
            let Some(st) = st else { continue };
            if FileType::from_raw_mode(st.st_mode) != FileType::Directory {
                return Err(OverlayError::RootNotDir);
            }
            top.get_or_insert(st);
            root_layers.push(l);
            if layers
                .exists(l, whiteout::OPAQUE_MARKER.as_bytes())
                .unwrap_or(false)
            {
                break;
            }
        }
        let top = top.ok_or(OverlayError::RootNotDir)?;
        let root = Node {
            path: Vec::new(),
            layers: root_layers,
            kind: FileKind::Dir,
            key: (top.st_dev, top.st_ino),
        };
        let devs: Vec<u64> = layers
            .all()
            .iter()
            .filter_map(|&l| layers.dev(l).ok())
            .collect();
        Ok(Overlay {
            nodes: Mutex::new(NodeTable::new(root, &devs)),
            layers,
            work,
            fds: fdcache::FdCache::default(),
            listings: listing::Listings::default(),
            copy_lock: Mutex::new(()),
            tmp_seq: AtomicU64::new(0),
            writeback: std::env::var_os(WRITEBACK_ENV).is_some_and(|v| v == "1"),
            device: splice::Device::default(),
        })
    }

    /// A copy of node `ino`.
    pub(crate) fn node(&self, ino: u64) -> Result<Node> {
        lock(&self.nodes)
            .get(ino)
            .cloned()
            .ok_or(fuser::Errno::ESTALE)
    }

    /// Looks `name` up in directory node `parent` through its layers.
    pub(crate) fn find(&self, parent: &Node, name: &OsStr) -> Result<Option<Found>> {
        if whiteout::is_reserved(name) {
            return Ok(None);
        }
        if parent.kind != FileKind::Dir {
            return Err(fuser::Errno::ENOTDIR);
        }
        let path = join(&parent.path, name);
        let wh = join(&parent.path, &whiteout::whiteout_name(name));
        let mut found: Option<(Vec<usize>, rustix::fs::Stat)> = None;
        let n = parent.layers.len();
        for (i, &l) in parent.layers.iter().enumerate() {
            let last = i + 1 == n;
            if let Some(st) = self.layers.stat(l, &path)? {
                let is_dir = FileType::from_raw_mode(st.st_mode) == FileType::Directory;
                match &mut found {
                    None => {
                        found = Some((vec![l], st));
                        if !is_dir {
                            break;
                        }
                    }
                    Some((ls, _)) => {
                        if !is_dir {
                            break;
                        }
                        ls.push(l);
                    }
                }
                if !last {
                    let marker = join(&path, whiteout::opaque_marker_name());
                    if self.layers.exists(l, &marker)? {
                        break;
                    }
                }
            }
            if !last && self.layers.exists(l, &wh)? {
                break;
            }
        }
        let Some((layers, st)) = found else {
            // A name whose whiteout would not fit cannot exist here (statfs says so).
            if name.len() + whiteout::WHITEOUT_PREFIX.len() > NAME_MAX {
                return Err(fuser::Errno::ENAMETOOLONG);
            }
            return Ok(None);
        };
        let (meta, origin) = self.layers.meta_origin(layers[0], &path, &st)?;
        Ok(Some(Found {
            node: Node {
                path,
                layers,
                kind: meta.kind,
                key: (st.st_dev, st.st_ino),
            },
            st,
            meta,
            origin,
        }))
    }

    /// Looks `name` up and registers the lookup with the node table.
    pub(crate) fn lookup_entry(&self, parent: u64, name: &OsStr) -> Result<FileAttr> {
        let p = self.node(parent)?;
        let found = self.find(&p, name)?.ok_or(fuser::Errno::ENOENT)?;
        Ok(self.register(found))
    }

    /// Registers a found entry (one kernel lookup) and returns its attributes.
    pub(crate) fn register(&self, found: Found) -> FileAttr {
        let ino = lock(&self.nodes).lookup(found.node, found.origin);
        attr::file_attr(ino, &found.st, &found.meta)
    }

    /// The current attributes of node `ino`.
    pub(crate) fn attr_of(&self, ino: u64) -> Result<FileAttr> {
        let node = self.node(ino)?;
        let l = node.layer();
        let st = self
            .layers
            .stat(l, &node.path)?
            .ok_or(fuser::Errno::ENOENT)?;
        let meta = self.layers.meta(l, &node.path, &st)?;
        Ok(attr::file_attr(ino, &st, &meta))
    }

    /// The attributes of node `ino` for a `getattr`: an unlinked file that is still open has
    /// no name left, but its fd (pinned when the last name went: `fdcache`) still has it
    /// (`fstat` of an open, deleted file shows `st_nlink` 0).
    pub(crate) fn attr_of_open(&self, ino: u64) -> Result<FileAttr> {
        match self.attr_of(ino) {
            Err(e) if e == fuser::Errno::ENOENT => {
                let f = self.fds.get(ino).ok_or(e)?;
                let st = rustix::fs::fstat(&*f.fd).map_err(errno)?;
                let meta = crate::archive::ownership::read_stat_fd_mode(&*f.fd, st.st_mode, "")
                    .map_err(|e| layers::archive_errno(&e))?;
                Ok(attr::file_attr(ino, &st, &meta))
            }
            res => res,
        }
    }

    /// After a change of node `ino`'s metadata: a directory's cached inheritance is stale.
    pub(crate) fn meta_changed(&self, ino: u64) {
        if self.node(ino).map_or(true, |n| n.kind == FileKind::Dir) {
            self.layers.dirs_changed();
        }
    }

    pub(crate) fn forget(&self, ino: u64, n: u64) {
        if lock(&self.nodes).forget(ino, n) {
            self.fds.forget(ino);
            self.listings.forget(ino);
        }
    }

    pub(crate) fn readlink(&self, ino: u64) -> Result<Vec<u8>> {
        let node = self.node(ino)?;
        let (parent, name) = layers::split(&node.path);
        let dir = self.layers.open_dir(node.layer(), parent)?;
        let target = rustix::fs::readlinkat(&dir, name, Vec::new()).map_err(errno)?;
        Ok(target.into_bytes())
    }

    /// Keeps the fd of a file just created (in the upper layer, read-write) for its node.
    pub(crate) fn created(&self, ino: u64, fd: OwnedFd) {
        self.fds.put(
            ino,
            fdcache::NodeFd {
                fd: Arc::new(fd),
                writable: true,
            },
        );
    }

    /// The fd to read (or, with `write`, to change) node `ino` through: the kept one, or a
    /// new one; writing copies a lower file up first.
    pub(crate) fn node_fd(&self, ino: u64, write: bool) -> Result<fdcache::NodeFd> {
        if let Some(f) = self.fds.get(ino)
            && (f.writable || !write)
        {
            return Ok(f);
        }
        if write {
            self.copy_up(ino)?;
        }
        let node = self.node(ino)?;
        let upper = Self::is_upper(&node);
        let open = |flags| self.layers.open(node.layer(), &node.path, flags);
        // An upper file is opened read-write for reads too (one fd for both); where this
        // process may not read it (no DAC override for it) write-only, and the other way.
        let (fd, writable) = if upper {
            match open(OFlags::RDWR) {
                Ok(fd) => (fd, true),
                Err(e) if e == fuser::Errno::EACCES && write => (open(OFlags::WRONLY)?, true),
                Err(e) if e == fuser::Errno::EACCES => (open(OFlags::RDONLY)?, false),
                Err(e) => return Err(e),
            }
        } else {
            (open(OFlags::RDONLY)?, false)
        };
        let f = fdcache::NodeFd {
            fd: Arc::new(fd),
            writable,
        };
        self.fds.put(ino, f.clone());
        Ok(f)
    }

    /// The kept fd of node `ino` if it is writable (then surely the upper copy).
    pub(crate) fn fds_writable(&self, ino: u64) -> Option<fdcache::NodeFd> {
        self.fds.get(ino).filter(|f| f.writable)
    }

    /// The node's backing file changed (copied up): its kept fd is stale.
    pub(crate) fn backing_changed(&self, ino: u64) {
        self.fds.drop_unpinned(ino);
    }

    /// The last name of regular file node `found` is about to go: an fd of it is kept while
    /// the kernel knows the node (a process may hold it open).
    pub(crate) fn pin_orphan(&self, found: &Found) {
        if found.node.kind != FileKind::File {
            return;
        }
        let Some(ino) = lock(&self.nodes).ino_of_key(found.node.key) else {
            return;
        };
        let l = found.node.layer();
        let opened = match self.layers.open(l, &found.node.path, OFlags::RDWR) {
            Ok(fd) => Ok((fd, true)),
            Err(_) => self
                .layers
                .open(l, &found.node.path, OFlags::RDONLY)
                .map(|fd| (fd, false)),
        };
        match opened {
            Ok((fd, writable)) => self.fds.pin(
                ino,
                fdcache::NodeFd {
                    fd: Arc::new(fd),
                    writable: writable && l == UPPER,
                },
            ),
            Err(e) => tracing::warn!(
                "overlay: keeping {:?} open past its removal: {e:?}",
                String::from_utf8_lossy(&found.node.path)
            ),
        }
    }

    /// Up to `size` bytes of file node `ino` from `offset`, for `READ` request `unique`:
    /// spliced into the reply by this process itself when that can be done (`splice`), else
    /// read into a buffer for the caller to send.
    pub(crate) fn read(&self, unique: u64, ino: u64, offset: u64, size: u32) -> Result<ReadReply> {
        let f = self.node_fd(ino, false)?;
        if size as usize >= splice::FROM && self.spliced(&f, unique, offset, size) {
            return Ok(ReadReply::Sent);
        }
        let mut buf = Vec::with_capacity(size as usize);
        let mut done = 0usize;
        while done < size as usize {
            let want = size as usize - done;
            let n = rustix::io::pread(
                &*f.fd,
                rustix::buffer::spare_capacity(&mut buf),
                offset + done as u64,
            )
            .map_err(errno)?;
            done += n;
            // A short read of a regular file is its end: no second call to learn it.
            if n < want {
                break;
            }
        }
        Ok(ReadReply::Data(buf))
    }

    /// Whether the reply to `READ` request `unique` went out spliced from `f`; `false` when
    /// the caller is to reply (a short read, no device, a failed splice).
    fn spliced(&self, f: &fdcache::NodeFd, unique: u64, offset: u64, size: u32) -> bool {
        // The length now: an upper file changes, and a lower directory given to
        // `overlay-mount` need not be a store's.
        let Ok(st) = rustix::fs::fstat(&*f.fd) else {
            return false;
        };
        let len = (st.st_size as u64)
            .saturating_sub(offset)
            .min(u64::from(size)) as usize;
        len >= splice::FROM && splice::reply(&self.device, unique, f.fd.as_fd(), offset, len)
    }

    /// The listing of directory node `ino` to serve a read at `offset` from: a new one from
    /// the start (as `opendir` would make), else the one kept (`listing`).
    pub(crate) fn listing(&self, ino: u64, offset: u64) -> Result<Arc<listing::Listing>> {
        if offset > 2
            && let Some(l) = self.listings.get(ino)
        {
            return Ok(l);
        }
        let node = self.node(ino)?;
        if node.kind != FileKind::Dir {
            return Err(fuser::Errno::ENOTDIR);
        }
        let l = Arc::new(listing::Listing::new(dir::list(
            &self.layers,
            &node.layers,
            &node.path,
        )?));
        self.listings.put(ino, l.clone());
        Ok(l)
    }

    /// The inode number a listing of directory `dir` shows for `e` (plain readdir; no lookup
    /// is counted): the one `stat` shows, an upper copy's stored origin included.
    pub(crate) fn listed_ino(&self, dir: &Node, e: &Merged) -> Result<u64> {
        let key = (self.layers.dev(e.layer)?, e.ino);
        if e.layer == UPPER && self.layers.has_upper() {
            if let Some(n) = lock(&self.nodes).known(key) {
                return Ok(n);
            }
            if let Some(n) = self.layers.upper_origin(&dir.path, &e.name) {
                return Ok(n);
            }
        }
        Ok(lock(&self.nodes).number_of(key))
    }

    /// The parent's node id of directory node `ino` (for `..`), the root's when unknown.
    pub(crate) fn parent_ino(&self, node: &Node) -> u64 {
        if node.path.is_empty() {
            return ROOT;
        }
        let (parent, _) = layers::split(&node.path);
        if parent.is_empty() {
            return ROOT;
        }
        lock(&self.nodes).find_dir(parent).unwrap_or(ROOT)
    }

    pub(crate) fn statfs(&self) -> Result<rustix::fs::StatVfs> {
        self.layers.statvfs()
    }

    pub(crate) fn fsync(&self, ino: u64, datasync: bool) -> Result<()> {
        let f = self.node_fd(ino, false)?;
        if datasync {
            rustix::fs::fdatasync(&*f.fd).map_err(errno)
        } else {
            rustix::fs::fsync(&*f.fd).map_err(errno)
        }
    }

    /// The upper layer must exist for any change.
    pub(crate) fn writable(&self) -> Result<()> {
        if self.layers.has_upper() {
            Ok(())
        } else {
            Err(fuser::Errno::EROFS)
        }
    }

    pub(crate) fn is_upper(node: &Node) -> bool {
        node.layer() == UPPER
    }
}

fn session_config(read_only: bool, threads: usize) -> fuser::Config {
    let mut config = fuser::Config::default();
    config.mount_options = vec![
        MountOption::FSName("coracle".into()),
        MountOption::Subtype("coracle".into()),
        MountOption::DefaultPermissions,
        if read_only {
            MountOption::RO
        } else {
            MountOption::RW
        },
    ];
    config.acl = SessionACL::All;
    config.n_threads = Some(threads.max(1));
    // One descriptor for all threads: spliced replies (`splice`) are written to a duplicate
    // of it, and the kernel matches a reply only on the descriptor its request came from.
    config.clone_fd = false;
    config
}

/// Mounts `fs` (writable) on `mountpoint` without serving it yet: no thread is started, so
/// the caller may still fork into new namespaces; requests wait in the kernel until
/// `fuser::Session::spawn` serves them.
pub fn mount(
    fs: Overlay,
    mountpoint: &Path,
    threads: usize,
) -> std::result::Result<fuser::Session<Overlay>, OverlayError> {
    let device = fs.device.clone();
    let session = fuser::Session::new(fs, mountpoint, &session_config(false, threads))
        .map_err(|e| OverlayError::Mount(mountpoint.to_path_buf(), e))?;
    device.attach(std::os::fd::AsFd::as_fd(&session));
    Ok(session)
}

/// Mounts `fs` on `mountpoint` and serves it in this thread until the mount goes away
/// (`umount`) or SIGTERM/SIGINT arrives (then it unmounts itself).
///
/// Signals are blocked before the worker threads start, and one thread waits for them; the
/// caller must not have other threads that expect those signals.
pub fn serve(
    fs: Overlay,
    mountpoint: &Path,
    read_only: bool,
    threads: usize,
) -> std::result::Result<(), OverlayError> {
    use nix::sys::signal::{SigSet, Signal};

    let config = session_config(read_only, threads);
    let mut signals = SigSet::empty();
    for s in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP] {
        signals.add(s);
    }
    signals
        .thread_block()
        .map_err(|e| OverlayError::Mount(mountpoint.to_path_buf(), e.into()))?;
    let device = fs.device.clone();
    let mut session = fuser::Session::new(fs, mountpoint, &config)
        .map_err(|e| OverlayError::Mount(mountpoint.to_path_buf(), e))?;
    device.attach(std::os::fd::AsFd::as_fd(&session));
    let mut unmounter = session.unmount_callable();
    let waiter = std::thread::Builder::new()
        .name("coracle:signals".into())
        .spawn(move || {
            if signals.wait().is_ok()
                && let Err(e) = unmounter.unmount()
            {
                tracing::warn!("unmounting after a signal: {e}");
            }
        });
    if let Err(e) = waiter {
        return Err(OverlayError::Serve(mountpoint.to_path_buf(), e));
    }
    session
        .run()
        .map_err(|e| OverlayError::Serve(mountpoint.to_path_buf(), e))
}
