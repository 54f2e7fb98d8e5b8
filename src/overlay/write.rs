//! Operations that change the merged tree, all in the upper layer.
//!
//! New entries are made under a temporary name in the work directory with their ownership
//! attribute already set, then renamed into place: the upper layer never holds an entry
//! without its true owner. Owners come from the request (the caller's ids in the mount's user
//! namespace), the group from a setgid parent directory.
//!
//! Deleting or renaming away a name a lower layer has leaves `.wh.NAME`; a directory made
//! where a whiteout was becomes opaque. A lower directory is not renamed (`EXDEV`, as kernel
//! overlayfs without `redirect_dir`), so `mv` copies it instead. `RENAME_NOREPLACE` and
//! `RENAME_EXCHANGE` are supported, `RENAME_WHITEOUT` is refused (`EINVAL`).

use std::ffi::OsStr;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;

use fuser::{FileAttr, TimeOrNow};
use rustix::fs::{AtFlags, FileType, Mode, OFlags, RenameFlags, Timespec, Timestamps};
use rustix::io::Errno as Sys;

use super::layers::{Inherit, UPPER, join, split};
use super::nodes::Node;
use super::{Found, Overlay, Result, acl, dir, errno, lock};
use crate::archive::ownership::{self, write_stat};
use crate::archive::{FileKind, Stat, SymlinkMeta, whiteout};

/// What kind of entry to make.
pub(crate) enum NewEntry<'a> {
    /// A regular file, or a placeholder for a FIFO, socket or device.
    File(FileKind),
    Dir,
    Symlink(&'a [u8]),
}

/// The caller of an operation.
#[derive(Clone, Copy)]
pub(crate) struct Caller {
    pub uid: u32,
    pub gid: u32,
    /// The caller's umask (the kernel leaves it to the filesystem: `FUSE_DONT_MASK`); not
    /// applied under a default ACL.
    pub umask: u32,
}

/// Refuses names the overlay reserves, and names whose whiteout would not fit.
fn check_new_name(name: &OsStr) -> Result<()> {
    if whiteout::is_reserved(name) {
        return Err(fuser::Errno::EINVAL);
    }
    if name.len() + whiteout::WHITEOUT_PREFIX.len() > super::NAME_MAX {
        return Err(fuser::Errno::ENAMETOOLONG);
    }
    Ok(())
}

fn remove_if_exists(dir: &OwnedFd, name: &OsStr, flags: AtFlags) -> Result<()> {
    match rustix::fs::unlinkat(dir, name, flags) {
        Ok(()) | Err(Sys::NOENT) => Ok(()),
        Err(e) => Err(errno(e)),
    }
}

/// Creates the whiteout of `name` in the upper directory `dir`.
fn make_whiteout(dir: &OwnedFd, name: &OsStr) -> Result<()> {
    match rustix::fs::openat(
        dir,
        whiteout::whiteout_name(name).as_os_str(),
        OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o600),
    ) {
        Ok(_) | Err(Sys::EXIST) => Ok(()),
        Err(e) => Err(errno(e)),
    }
}

/// Removes the whiteouts and markers inside an upper directory that is empty in the merged
/// view, so that it can be removed or replaced.
fn clear_reserved(dir: OwnedFd) -> Result<()> {
    let mut d = rustix::fs::Dir::new(dir).map_err(errno)?;
    let fd = d.fd().map_err(errno)?;
    let fd = fd.try_clone_to_owned().map_err(fuser::Errno::from)?;
    while let Some(e) = d.read() {
        let e = e.map_err(errno)?;
        let name = OsStr::from_bytes(e.file_name().to_bytes());
        if whiteout::is_reserved(name) {
            remove_if_exists(&fd, name, AtFlags::empty())?;
        }
    }
    Ok(())
}

impl Overlay {
    /// Whether a lower layer below the upper one shows `name` in `parent` (so deleting or
    /// renaming it needs a whiteout).
    fn lower_has(&self, parent: &Node, name: &OsStr) -> Result<bool> {
        let path = join(&parent.path, name);
        let wh = join(&parent.path, &whiteout::whiteout_name(name));
        for &l in parent.layers.iter().filter(|l| **l != UPPER) {
            if self.layers.exists(l, &path)? {
                return Ok(true);
            }
            if self.layers.exists(l, &wh)? {
                return Ok(false);
            }
        }
        Ok(false)
    }

    /// Owner, group and permission bits of a new entry made by `caller` in `parent`, with
    /// the parent's default ACL (which the entry inherits instead of the umask).
    fn new_stat(
        &self,
        parent: &Node,
        caller: Caller,
        mode: u32,
        kind: FileKind,
    ) -> Result<(Stat, Option<Vec<u8>>)> {
        let read = |fd: &OwnedFd| -> Result<Inherit> {
            let st = rustix::fs::fstat(fd).map_err(errno)?;
            let pmeta = ownership::read_stat_fd_mode(fd, st.st_mode, "")
                .map_err(|e| super::layers::archive_errno(&e))?;
            let default =
                match super::copyup::get_raw_xattr(fd, acl_stored(acl::DEFAULT).as_bytes()) {
                    Ok(v) => Some(v),
                    Err(e) if e == fuser::Errno::NO_XATTR || e == fuser::Errno::EOPNOTSUPP => None,
                    Err(e) => return Err(e),
                };
            Ok((pmeta, default))
        };
        let (pmeta, default) = if parent.layer() == UPPER && self.layers.has_upper() {
            self.layers.upper_dir_inherit(&parent.path, read)?
        } else {
            read(&self.layers.open_meta(parent.layer(), &parent.path)?)?
        };
        let mut stat = Stat {
            uid: caller.uid,
            gid: caller.gid,
            mode: mode & 0o7777,
            kind,
        };
        if pmeta.mode & 0o2000 != 0 {
            stat.gid = pmeta.gid;
            if kind == FileKind::Dir {
                stat.mode |= 0o2000;
            }
        }
        if default.is_none() {
            stat.mode &= !(caller.umask & 0o777);
        }
        Ok((stat, default))
    }

    /// Creates the regular file `name` of upper-only directory `p` in place: it needs no
    /// metadata beyond its mode, so nothing would be seen half-made (no work directory and
    /// rename), and a name that exists fails the `O_EXCL`. The server's umask can only take
    /// bits away: they are put back after.
    fn make_plain_file(
        &self,
        pdir: &OwnedFd,
        p: &Node,
        name: &OsStr,
        stat: Stat,
    ) -> Result<(FileAttr, Option<OwnedFd>)> {
        let mode = stat.disk_mode();
        let fd = rustix::fs::openat(
            pdir,
            name,
            OFlags::RDWR | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(mode),
        )
        .map_err(errno)?;
        let mut st = rustix::fs::fstat(&fd).map_err(errno)?;
        if st.st_mode & 0o7777 != mode {
            if let Err(e) = rustix::fs::fchmod(&fd, Mode::from_raw_mode(mode)) {
                let _ = rustix::fs::unlinkat(pdir, name, AtFlags::empty());
                return Err(errno(e));
            }
            st.st_mode = (st.st_mode & !0o7777) | mode;
        }
        let found = Found {
            node: Node {
                path: join(&p.path, name),
                layers: vec![UPPER],
                kind: FileKind::File,
                key: (st.st_dev, st.st_ino),
            },
            st,
            meta: stat,
            origin: None,
        };
        Ok((self.register(found), Some(fd)))
    }

    /// Makes `name` in directory node `parent`; the new entry's attributes (one lookup
    /// counted) and, for a regular file, an fd open for reading and writing.
    pub(crate) fn make(
        &self,
        parent: u64,
        name: &OsStr,
        caller: Caller,
        mode: u32,
        what: NewEntry<'_>,
    ) -> Result<(FileAttr, Option<OwnedFd>)> {
        self.writable()?;
        check_new_name(name)?;
        let p = self.node(parent)?;
        // A directory only the upper layer has holds no whiteouts that matter and hides
        // nothing: the rename into place below finds an existing name (EEXIST).
        // (A symlink's table entry is written before that rename: it checks first.)
        let upper_only = p.layers == [UPPER] && !matches!(what, NewEntry::Symlink(_));
        if !upper_only && self.find(&p, name)?.is_some() {
            return Err(fuser::Errno::EEXIST);
        }
        let kind = match what {
            NewEntry::File(k) => k,
            NewEntry::Dir => FileKind::Dir,
            NewEntry::Symlink(_) => FileKind::Symlink,
        };
        // The inherited access and default ACLs.
        let mut acls: (Option<Vec<u8>>, Option<Vec<u8>>) = (None, None);
        let stat = if kind == FileKind::Symlink {
            Stat {
                uid: caller.uid,
                gid: caller.gid,
                ..Stat::SYMLINK_DEFAULT
            }
        } else {
            let (mut stat, default) = self.new_stat(&p, caller, mode, kind)?;
            if let Some(d) = default {
                let (access, mode) =
                    acl::inherit(&d, stat.mode & 0o777).ok_or(fuser::Errno::EIO)?;
                stat.mode = (stat.mode & !0o777) | mode;
                acls = (access, (kind == FileKind::Dir).then_some(d));
            }
            stat
        };
        let pdir = self.upper_dir(&p.path)?;
        if upper_only
            && matches!(what, NewEntry::File(FileKind::File))
            && !stat.needs_xattr()
            && acls.0.is_none()
            && acls.1.is_none()
        {
            return self.make_plain_file(&pdir, &p, name, stat);
        }
        // The copy-up of the parent changed its node (the upper layer is now one of its).
        let p = self.node(parent)?;
        let path = join(&p.path, name);
        let wh = whiteout::whiteout_name(name);
        let had_whiteout = !upper_only
            && rustix::fs::statat(&pdir, wh.as_os_str(), AtFlags::SYMLINK_NOFOLLOW).is_ok();
        let work = self.work()?;
        let tmp = self.tmp_name();
        let made: Result<Option<OwnedFd>> = (|| match what {
            NewEntry::File(_) => {
                let fd = rustix::fs::openat(
                    work,
                    tmp.as_str(),
                    OFlags::RDWR
                        | OFlags::CREATE
                        | OFlags::EXCL
                        | OFlags::NOFOLLOW
                        | OFlags::CLOEXEC,
                    Mode::from_raw_mode(stat.disk_mode()),
                )
                .map_err(errno)?;
                // The umask may have taken bits from the creation mode.
                rustix::fs::fchmod(&fd, Mode::from_raw_mode(stat.disk_mode())).map_err(errno)?;
                write_stat(&fd, &stat, false).map_err(errno)?;
                set_acls(&fd, &acls)?;
                Ok(Some(fd))
            }
            NewEntry::Dir => {
                rustix::fs::mkdirat(work, tmp.as_str(), Mode::from_raw_mode(0o700))
                    .map_err(errno)?;
                let fd = rustix::fs::openat(
                    work,
                    tmp.as_str(),
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(errno)?;
                rustix::fs::fchmod(&fd, Mode::from_raw_mode(stat.disk_mode())).map_err(errno)?;
                write_stat(&fd, &stat, false).map_err(errno)?;
                set_acls(&fd, &acls)?;
                if had_whiteout {
                    make_whiteout_marker(&fd)?;
                }
                Ok(None)
            }
            NewEntry::Symlink(target) => {
                rustix::fs::symlinkat(OsStr::from_bytes(target), work, tmp.as_str())
                    .map_err(errno)?;
                Ok(None)
            }
        })();
        let is_dir = matches!(what, NewEntry::Dir);
        let fd = match made {
            Ok(fd) => fd,
            Err(e) => {
                let _ = rustix::fs::unlinkat(
                    work,
                    tmp.as_str(),
                    if is_dir {
                        AtFlags::REMOVEDIR
                    } else {
                        AtFlags::empty()
                    },
                );
                return Err(e);
            }
        };
        if kind == FileKind::Symlink {
            let meta = SymlinkMeta {
                stat,
                xattrs: Vec::new(),
            };
            self.layers.update_symlinks(|t| t.set(&path, meta))?;
        }
        if let Err(e) =
            rustix::fs::renameat_with(work, tmp.as_str(), &pdir, name, RenameFlags::NOREPLACE)
        {
            let _ = rustix::fs::unlinkat(
                work,
                tmp.as_str(),
                if is_dir {
                    AtFlags::REMOVEDIR
                } else {
                    AtFlags::empty()
                },
            );
            return Err(errno(e));
        }
        if had_whiteout {
            remove_if_exists(&pdir, wh.as_os_str(), AtFlags::empty())?;
        }
        let found = match &fd {
            // A new regular file is its open fd, in the upper layer, with the metadata just
            // written: no second lookup through the layers.
            Some(f) => {
                let st = rustix::fs::fstat(f).map_err(errno)?;
                Found {
                    node: Node {
                        path,
                        layers: vec![UPPER],
                        kind,
                        key: (st.st_dev, st.st_ino),
                    },
                    st,
                    meta: stat,
                    origin: None,
                }
            }
            None => self.find(&p, name)?.ok_or(fuser::Errno::EIO)?,
        };
        Ok((self.register(found), fd))
    }

    /// A new hard link `newname` in `newparent` to node `ino`.
    pub(crate) fn link(&self, ino: u64, newparent: u64, newname: &OsStr) -> Result<FileAttr> {
        self.writable()?;
        check_new_name(newname)?;
        let np = self.node(newparent)?;
        if self.find(&np, newname)?.is_some() {
            return Err(fuser::Errno::EEXIST);
        }
        self.copy_up(ino)?;
        let node = self.node(ino)?;
        if node.kind == FileKind::Dir {
            return Err(fuser::Errno::EPERM);
        }
        let (sparent, sname) = split(&node.path);
        let sdir = self.layers.open_dir(UPPER, sparent)?;
        let pdir = self.upper_dir(&np.path)?;
        let np = self.node(newparent)?;
        rustix::fs::linkat(&sdir, sname, &pdir, newname, AtFlags::empty()).map_err(errno)?;
        let newpath = join(&np.path, newname);
        if node.kind == FileKind::Symlink {
            let meta = self.layers.symlink_meta(UPPER, &node.path)?;
            self.layers.update_symlinks(|t| t.set(&newpath, meta))?;
        }
        remove_if_exists(
            &pdir,
            whiteout::whiteout_name(newname).as_os_str(),
            AtFlags::empty(),
        )?;
        let found = self.find(&np, newname)?.ok_or(fuser::Errno::EIO)?;
        Ok(self.register(found))
    }

    /// Removes the upper copy of `found` (named `name` in the upper directory `pdir`).
    fn remove_upper(&self, pdir: &OwnedFd, name: &OsStr, found: &Found) -> Result<()> {
        let is_dir = found.node.kind == FileKind::Dir;
        if is_dir {
            let d = rustix::fs::openat(
                pdir,
                name,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(errno)?;
            clear_reserved(d)?;
        }
        let flags = if is_dir {
            AtFlags::REMOVEDIR
        } else {
            AtFlags::empty()
        };
        if !is_dir && found.st.st_nlink <= 1 {
            self.pin_orphan(found);
        }
        rustix::fs::unlinkat(pdir, name, flags).map_err(errno)?;
        if is_dir || found.st.st_nlink <= 1 {
            lock(&self.nodes).removed(found.node.key);
        } else {
            lock(&self.nodes).unlinked(found.node.key, &found.node.path);
        }
        if found.node.kind == FileKind::Symlink {
            self.layers
                .update_symlinks(|t| t.remove(&found.node.path))?;
        }
        Ok(())
    }

    /// `unlink` (`dir == false`) and `rmdir` (`dir == true`).
    pub(crate) fn remove(&self, parent: u64, name: &OsStr, dir: bool) -> Result<()> {
        self.writable()?;
        let p = self.node(parent)?;
        let found = self.find(&p, name)?.ok_or(fuser::Errno::ENOENT)?;
        let is_dir = found.node.kind == FileKind::Dir;
        match (dir, is_dir) {
            (true, false) => return Err(fuser::Errno::ENOTDIR),
            (false, true) => return Err(fuser::Errno::EISDIR),
            _ => {}
        }
        if is_dir && !dir::list(&self.layers, &found.node.layers, &found.node.path)?.is_empty() {
            return Err(fuser::Errno::ENOTEMPTY);
        }
        let lower = self.lower_has(&p, name)?;
        let pdir = self.upper_dir(&p.path)?;
        if Self::is_upper(&found.node) {
            if is_dir {
                self.layers.dirs_changed();
            }
            let removed = self.remove_upper(&pdir, name, &found);
            if is_dir {
                self.layers.dirs_changed();
            }
            removed?;
        }
        if lower {
            make_whiteout(&pdir, name)?;
        }
        Ok(())
    }

    pub(crate) fn rename(
        &self,
        parent: u64,
        name: &OsStr,
        newparent: u64,
        newname: &OsStr,
        flags: u32,
    ) -> Result<()> {
        // A renamed directory, or one replaced by the rename, leaves its cached path stale.
        self.layers.dirs_changed();
        let res = self.rename_entry(parent, name, newparent, newname, flags);
        self.layers.dirs_changed();
        res
    }

    fn rename_entry(
        &self,
        parent: u64,
        name: &OsStr,
        newparent: u64,
        newname: &OsStr,
        flags: u32,
    ) -> Result<()> {
        self.writable()?;
        if whiteout::is_reserved(name) {
            return Err(fuser::Errno::ENOENT);
        }
        check_new_name(newname)?;
        let noreplace = flags & libc::RENAME_NOREPLACE != 0;
        if flags == libc::RENAME_EXCHANGE {
            return self.exchange(parent, name, newparent, newname);
        }
        // RENAME_WHITEOUT is overlayfs's own business (and needs CAP_MKNOD): refused, as
        // filesystems without it do.
        if flags & !libc::RENAME_NOREPLACE != 0 {
            return Err(fuser::Errno::EINVAL);
        }
        let p = self.node(parent)?;
        let np = self.node(newparent)?;
        let src = self.find(&p, name)?.ok_or(fuser::Errno::ENOENT)?;
        let src_dir = src.node.kind == FileKind::Dir;
        if src_dir && src.node.layers.iter().any(|l| *l != UPPER) {
            return Err(fuser::Errno::EXDEV);
        }
        let dst = self.find(&np, newname)?;
        if let Some(d) = &dst {
            if noreplace {
                return Err(fuser::Errno::EEXIST);
            }
            if d.node.key == src.node.key {
                return Ok(());
            }
            let dst_dir = d.node.kind == FileKind::Dir;
            match (src_dir, dst_dir) {
                (false, true) => return Err(fuser::Errno::EISDIR),
                (true, false) => return Err(fuser::Errno::ENOTDIR),
                (true, true) => {
                    if !dir::list(&self.layers, &d.node.layers, &d.node.path)?.is_empty() {
                        return Err(fuser::Errno::ENOTEMPTY);
                    }
                }
                (false, false) => {}
            }
        }
        let src_lower = self.lower_has(&p, name)?;
        self.copy_up_found(&src)?;
        let sdir = self.upper_dir(&p.path)?;
        let ddir = self.upper_dir(&np.path)?;
        let newpath = join(&np.path, newname);
        if let Some(d) = &dst
            && Self::is_upper(&d.node)
        {
            if d.node.kind == FileKind::Dir {
                let fd = rustix::fs::openat(
                    &ddir,
                    newname,
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(errno)?;
                clear_reserved(fd)?;
            } else if d.st.st_nlink <= 1 {
                self.pin_orphan(d);
            }
            if d.node.kind == FileKind::Dir || d.st.st_nlink <= 1 {
                lock(&self.nodes).removed(d.node.key);
            } else {
                lock(&self.nodes).unlinked(d.node.key, &d.node.path);
            }
        }
        if src_dir && self.lower_dir_below(&np, newname)? {
            // The moved directory must not merge with a lower one of its new name.
            let fd = rustix::fs::openat(
                &sdir,
                name,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(errno)?;
            make_whiteout_marker(&fd)?;
        }
        rustix::fs::renameat(&sdir, name, &ddir, newname).map_err(errno)?;
        remove_if_exists(
            &ddir,
            whiteout::whiteout_name(newname).as_os_str(),
            AtFlags::empty(),
        )?;
        if src_lower {
            make_whiteout(&sdir, name)?;
        }
        if src.node.kind == FileKind::Symlink {
            let meta = self.layers.symlink_meta(UPPER, &src.node.path)?;
            self.layers.update_symlinks(|t| {
                t.remove(&src.node.path);
                t.set(&newpath, meta);
            })?;
        }
        lock(&self.nodes).renamed(&src.node.path, &newpath);
        Ok(())
    }

    /// `renameat2(RENAME_EXCHANGE)`: both names stay, so no whiteout is needed; a lower
    /// (merged) directory cannot move (`EXDEV`), a pure upper one that lands on a name a
    /// lower directory has becomes opaque.
    fn exchange(&self, parent: u64, name: &OsStr, newparent: u64, newname: &OsStr) -> Result<()> {
        let p = self.node(parent)?;
        let np = self.node(newparent)?;
        let a = self.find(&p, name)?.ok_or(fuser::Errno::ENOENT)?;
        let b = self.find(&np, newname)?.ok_or(fuser::Errno::ENOENT)?;
        if a.node.key == b.node.key {
            return Ok(());
        }
        for f in [&a, &b] {
            if f.node.kind == FileKind::Dir && f.node.layers.iter().any(|l| *l != UPPER) {
                return Err(fuser::Errno::EXDEV);
            }
        }
        self.copy_up_found(&a)?;
        self.copy_up_found(&b)?;
        let adir = self.upper_dir(&p.path)?;
        let bdir = self.upper_dir(&np.path)?;
        for (f, dir, fname, to_parent, to_name) in [
            (&a, &adir, name, &np, newname),
            (&b, &bdir, newname, &p, name),
        ] {
            if f.node.kind == FileKind::Dir && self.lower_dir_below(to_parent, to_name)? {
                let fd = rustix::fs::openat(
                    dir,
                    fname,
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(errno)?;
                make_whiteout_marker(&fd)?;
            }
        }
        rustix::fs::renameat_with(&adir, name, &bdir, newname, RenameFlags::EXCHANGE)
            .map_err(errno)?;
        let (apath, bpath) = (a.node.path.clone(), b.node.path.clone());
        if a.node.kind == FileKind::Symlink || b.node.kind == FileKind::Symlink {
            let am = self.layers.symlink_meta(UPPER, &apath)?;
            let bm = self.layers.symlink_meta(UPPER, &bpath)?;
            let (ak, bk) = (a.node.kind, b.node.kind);
            self.layers.update_symlinks(|t| {
                t.remove(&apath);
                t.remove(&bpath);
                if ak == FileKind::Symlink {
                    t.set(&bpath, am);
                }
                if bk == FileKind::Symlink {
                    t.set(&apath, bm);
                }
            })?;
        }
        // A path no entry can have (a NUL byte) holds one side during the swap.
        let mut nodes = lock(&self.nodes);
        nodes.renamed(&apath, b"\0exchange");
        nodes.renamed(&bpath, &apath);
        nodes.renamed(b"\0exchange", &bpath);
        Ok(())
    }

    /// Whether a lower layer has a directory `name` in `parent` (hidden or not).
    fn lower_dir_below(&self, parent: &Node, name: &OsStr) -> Result<bool> {
        let path = join(&parent.path, name);
        for l in 1..self.layers.len() {
            if let Some(st) = self.layers.stat(l, &path)? {
                return Ok(FileType::from_raw_mode(st.st_mode) == FileType::Directory);
            }
        }
        Ok(false)
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn setattr(
        &self,
        ino: u64,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
    ) -> Result<FileAttr> {
        let changes = mode.is_some()
            || uid.is_some()
            || gid.is_some()
            || size.is_some()
            || atime.is_some()
            || mtime.is_some();
        if !changes {
            return self.attr_of(ino);
        }
        // The writeback cache sends the times of a file after its last name is gone (the
        // ctime of an unlink): a lower file that the merged view no longer shows under its
        // name has nowhere to be copied to, and nobody can see its times.
        let before = self.node(ino)?;
        if !Self::is_upper(&before)
            && self.resolve(&before.path)?.map(|f| f.node.key) != Some(before.key)
        {
            return self.attr_of_open(ino);
        }
        self.copy_up(ino)?;
        let node = self.node(ino)?;
        if let Some(size) = size {
            if node.kind != FileKind::File {
                return Err(if node.kind == FileKind::Dir {
                    fuser::Errno::EISDIR
                } else {
                    fuser::Errno::EINVAL
                });
            }
            // Through the kept fd when there is a writable one: the name may be gone.
            let by_handle = self.fds_writable(ino);
            let res = match &by_handle {
                Some(h) => rustix::fs::ftruncate(&*h.fd, size),
                None => {
                    let fd = self.layers.open(UPPER, &node.path, OFlags::WRONLY)?;
                    rustix::fs::ftruncate(&fd, size)
                }
            };
            res.map_err(errno)?;
        }
        if mode.is_some() || uid.is_some() || gid.is_some() {
            if node.kind == FileKind::Symlink {
                let mut meta = self.layers.symlink_meta(UPPER, &node.path)?;
                meta.stat.uid = uid.unwrap_or(meta.stat.uid);
                meta.stat.gid = gid.unwrap_or(meta.stat.gid);
                self.layers.update_symlinks(|t| t.set(&node.path, meta))?;
            } else {
                let fd = self.layers.open_meta(UPPER, &node.path)?;
                let st = rustix::fs::fstat(&fd).map_err(errno)?;
                let old = ownership::read_stat_fd_mode(&fd, st.st_mode, "")
                    .map_err(|e| super::layers::archive_errno(&e))?;
                let new = Stat {
                    uid: uid.unwrap_or(old.uid),
                    gid: gid.unwrap_or(old.gid),
                    mode: mode.map_or(old.mode, |m| m & 0o7777),
                    kind: old.kind,
                };
                write_stat(&fd, &new, true).map_err(errno)?;
                if new.disk_mode() != st.st_mode & 0o7777 {
                    rustix::fs::fchmod(&fd, Mode::from_raw_mode(new.disk_mode())).map_err(errno)?;
                }
            }
        }
        if atime.is_some() || mtime.is_some() {
            let t = |v: Option<TimeOrNow>| match v {
                None => Timespec {
                    tv_sec: 0,
                    tv_nsec: rustix::fs::UTIME_OMIT,
                },
                Some(TimeOrNow::Now) => Timespec {
                    tv_sec: 0,
                    tv_nsec: rustix::fs::UTIME_NOW,
                },
                Some(TimeOrNow::SpecificTime(st)) => match st.duration_since(std::time::UNIX_EPOCH)
                {
                    Ok(d) => Timespec {
                        tv_sec: d.as_secs() as i64,
                        tv_nsec: d.subsec_nanos() as _,
                    },
                    Err(e) => {
                        let d = e.duration();
                        let mut sec = -(d.as_secs() as i64);
                        let mut nsec = -(d.subsec_nanos() as i64);
                        if nsec < 0 {
                            sec -= 1;
                            nsec += 1_000_000_000;
                        }
                        Timespec {
                            tv_sec: sec,
                            tv_nsec: nsec as _,
                        }
                    }
                },
            };
            let times = Timestamps {
                last_access: t(atime),
                last_modification: t(mtime),
            };
            // Through the kept fd when there is one: the name may be gone or taken by now.
            // Only a writable one is surely the upper copy (a read-only one may predate it).
            if let Some(h) = self.fds_writable(ino) {
                rustix::fs::futimens(&*h.fd, &times).map_err(errno)?;
                return self.attr_of_open(ino);
            }
            let (parent, name) = split(&node.path);
            let (dir, name) = if node.path.is_empty() {
                (self.layers.open_dir(UPPER, b"")?, OsStr::new("."))
            } else {
                (self.layers.open_dir(UPPER, parent)?, name)
            };
            rustix::fs::utimensat(&dir, name, &times, AtFlags::SYMLINK_NOFOLLOW).map_err(errno)?;
        }
        self.attr_of(ino)
    }

    /// Writes `data` at `offset` of node `ino`; `flags` are the writer's open flags
    /// (`O_SYNC`/`O_DSYNC` are kept here: the backing fd is shared by every opener).
    pub(crate) fn write(&self, ino: u64, offset: u64, data: &[u8], flags: i32) -> Result<u32> {
        let h = self.node_fd(ino, true)?;
        let mut done = 0usize;
        while done < data.len() {
            let rest = data.get(done..).ok_or(fuser::Errno::EIO)?;
            match rustix::io::pwrite(&*h.fd, rest, offset + done as u64) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(Sys::INTR) => {}
                Err(e) if done == 0 => return Err(errno(e)),
                Err(_) => break,
            }
        }
        if flags & libc::O_SYNC == libc::O_SYNC {
            rustix::fs::fsync(&*h.fd).map_err(errno)?;
        } else if flags & libc::O_DSYNC != 0 {
            rustix::fs::fdatasync(&*h.fd).map_err(errno)?;
        }
        u32::try_from(done).map_err(|_| fuser::Errno::EIO)
    }

    pub(crate) fn fallocate(&self, ino: u64, offset: u64, length: u64, mode: i32) -> Result<()> {
        let h = self.node_fd(ino, true)?;
        let flags = rustix::fs::FallocateFlags::from_bits_retain(mode as u32);
        rustix::fs::fallocate(&*h.fd, flags, offset, length).map_err(errno)
    }
}

/// The stored name of ACL attribute `name`.
fn acl_stored(name: &str) -> String {
    format!("{}{name}", ownership::KEPT_XATTR_PREFIX)
}

/// Stores the inherited (access, default) ACLs on a new entry.
fn set_acls(fd: &OwnedFd, acls: &(Option<Vec<u8>>, Option<Vec<u8>>)) -> Result<()> {
    for (name, value) in [(acl::ACCESS, &acls.0), (acl::DEFAULT, &acls.1)] {
        if let Some(v) = value {
            rustix::fs::fsetxattr(
                fd,
                acl_stored(name).as_bytes(),
                v,
                rustix::fs::XattrFlags::empty(),
            )
            .map_err(errno)?;
        }
    }
    Ok(())
}

/// Puts the opaque marker into the (new, upper) directory `dir`.
fn make_whiteout_marker(dir: &OwnedFd) -> Result<()> {
    match rustix::fs::openat(
        dir,
        whiteout::opaque_marker_name(),
        OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o600),
    ) {
        Ok(_) | Err(Sys::EXIST) => Ok(()),
        Err(e) => Err(errno(e)),
    }
}
