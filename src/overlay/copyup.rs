//! Copy-up: the first change to a lower entry copies it into the upper layer.
//!
//! Parents first (directories down from the root), then the entry itself. Each copy is built
//! under a temporary name in the work directory — data (`FICLONE`, then `copy_file_range`,
//! then read/write), the layer's `user.*` attributes (the ownership attribute among them),
//! permission bits, times — and only then renamed into place with `RENAME_NOREPLACE`, so the
//! upper layer never shows a half-made copy. Any failure is the operation's errno; nothing is
//! silently dropped. One lock serialises copy-ups.

use std::ffi::OsStr;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use rustix::fs::{AtFlags, FileType, Mode, OFlags, RenameFlags, Timespec, Timestamps};
use rustix::io::Errno as Sys;

use super::layers::{UPPER, split};
use super::nodes::Key;
use super::{Overlay, Result, errno, lock};

impl Overlay {
    pub(crate) fn work(&self) -> Result<&OwnedFd> {
        self.work.as_ref().ok_or(fuser::Errno::EROFS)
    }

    /// A fresh name in the work directory.
    pub(crate) fn tmp_name(&self) -> String {
        static PID: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
        format!(
            "tmp-{}-{}",
            PID.get_or_init(std::process::id),
            self.tmp_seq.fetch_add(1, Ordering::Relaxed)
        )
    }

    /// The upper copy of directory `path` (copied up with its parents when missing), as an
    /// `O_PATH` fd for `*at` calls.
    pub(crate) fn upper_dir(&self, path: &[u8]) -> Result<Arc<OwnedFd>> {
        self.writable()?;
        match self.layers.open_dir(UPPER, path) {
            Err(e) if e == fuser::Errno::ENOENT => {}
            other => return other,
        }
        let _guard = lock(&self.copy_lock);
        self.upper_dir_locked(path)
    }

    pub(crate) fn upper_dir_locked(&self, path: &[u8]) -> Result<Arc<OwnedFd>> {
        let mut done: Vec<u8> = Vec::new();
        for comp in path.split(|b| *b == b'/').filter(|c| !c.is_empty()) {
            let mut next = done.clone();
            if !next.is_empty() {
                next.push(b'/');
            }
            next.extend_from_slice(comp);
            if !self.layers.exists(UPPER, &next)? {
                let src = self.top_lower(&next)?;
                let parent = self.layers.open_dir(UPPER, &done)?;
                let (_, name) = split(&next);
                let key = self.copy_entry(src, &next, &parent, name)?;
                let mut nodes = lock(&self.nodes);
                if let Some(ino) = nodes.find_dir(&next) {
                    nodes.copied_up(ino, key, UPPER);
                }
            }
            done = next;
        }
        self.layers.open_dir(UPPER, path)
    }

    /// The top-most lower layer holding `path`.
    fn top_lower(&self, path: &[u8]) -> Result<usize> {
        for l in 1..self.layers.len() {
            if self.layers.exists(l, path)? {
                return Ok(l);
            }
        }
        Err(fuser::Errno::ENOENT)
    }

    /// Copies node `ino` up unless it is already in the upper layer.
    pub(crate) fn copy_up(&self, ino: u64) -> Result<()> {
        self.writable()?;
        if Self::is_upper(&self.node(ino)?) {
            return Ok(());
        }
        let _guard = lock(&self.copy_lock);
        let node = self.node(ino)?;
        if Self::is_upper(&node) || node.path.is_empty() {
            return Ok(());
        }
        let (parent, name) = split(&node.path);
        let pdir = self.upper_dir_locked(parent)?;
        let key = self.copy_entry(node.layer(), &node.path, &pdir, name)?;
        lock(&self.nodes).copied_up(ino, key, UPPER);
        self.backing_changed(ino);
        Ok(())
    }

    /// Copies a found entry up unless it is in the upper layer; the node table follows.
    pub(crate) fn copy_up_found(&self, found: &super::Found) -> Result<()> {
        self.writable()?;
        if Self::is_upper(&found.node) {
            return Ok(());
        }
        let _guard = lock(&self.copy_lock);
        if self.layers.exists(UPPER, &found.node.path)? {
            return Ok(());
        }
        let (parent, name) = split(&found.node.path);
        let pdir = self.upper_dir_locked(parent)?;
        let key = self.copy_entry(found.node.layer(), &found.node.path, &pdir, name)?;
        let mut nodes = lock(&self.nodes);
        if let Some(ino) = nodes.ino_of_key(found.node.key) {
            nodes.copied_up(ino, key, UPPER);
            drop(nodes);
            self.backing_changed(ino);
        }
        Ok(())
    }

    /// Copies `path` of layer `src` to `name` in the upper directory `dst`; the backing key
    /// of the copy.
    fn copy_entry(&self, src: usize, path: &[u8], dst: &OwnedFd, name: &OsStr) -> Result<Key> {
        let st = self.layers.stat(src, path)?.ok_or(fuser::Errno::ENOENT)?;
        let work = self.work()?;
        let tmp = self.tmp_name();
        let kind = FileType::from_raw_mode(st.st_mode);
        // The number the origin shows, kept by the copy across remounts (`origin`).
        let number = lock(&self.nodes).number_of((st.st_dev, st.st_ino));
        let made = match kind {
            FileType::Directory => self.copy_dir(src, path, &st, work, &tmp, number),
            FileType::Symlink => self.copy_symlink(src, path, &st, work, &tmp),
            FileType::RegularFile => self.copy_file(src, path, &st, work, &tmp, number),
            // Real special files only exist in hand-made lower directories.
            _ => Err(fuser::Errno::EOPNOTSUPP),
        };
        let key = match made {
            Ok(k) => k,
            Err(e) => {
                remove_tmp(work, &tmp, kind == FileType::Directory);
                return Err(e);
            }
        };
        match rustix::fs::renameat_with(work, tmp.as_str(), dst, name, RenameFlags::NOREPLACE) {
            Ok(()) => {
                self.link_up_others(src, path, &st)?;
                Ok(key)
            }
            Err(e) => {
                remove_tmp(work, &tmp, kind == FileType::Directory);
                tracing::warn!(
                    "overlay: copy-up of {:?}: {e}",
                    String::from_utf8_lossy(path)
                );
                Err(errno(e))
            }
        }
    }

    fn copy_dir(
        &self,
        src: usize,
        path: &[u8],
        st: &rustix::fs::Stat,
        work: &OwnedFd,
        tmp: &str,
        number: u64,
    ) -> Result<Key> {
        rustix::fs::mkdirat(work, tmp, Mode::from_raw_mode(0o700)).map_err(errno)?;
        let out = rustix::fs::openat(
            work,
            tmp,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(errno)?;
        let input = self.layers.open_meta(src, path)?;
        copy_xattrs(&input, &out)?;
        super::origin::write(&out, number)?;
        finish(&out, st)
    }

    fn copy_file(
        &self,
        src: usize,
        path: &[u8],
        st: &rustix::fs::Stat,
        work: &OwnedFd,
        tmp: &str,
        number: u64,
    ) -> Result<Key> {
        let input = self.layers.open(src, path, OFlags::RDONLY)?;
        let out = rustix::fs::openat(
            work,
            tmp,
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        )
        .map_err(errno)?;
        copy_data(&input, &out, st.st_size as u64)?;
        copy_xattrs(&input, &out)?;
        super::origin::write(&out, number)?;
        finish(&out, st)
    }

    fn copy_symlink(
        &self,
        src: usize,
        path: &[u8],
        st: &rustix::fs::Stat,
        work: &OwnedFd,
        tmp: &str,
    ) -> Result<Key> {
        let (parent, name) = split(path);
        let dir = self.layers.open_dir(src, parent)?;
        let target = rustix::fs::readlinkat(&dir, name, Vec::new()).map_err(errno)?;
        rustix::fs::symlinkat(target.as_c_str(), work, tmp).map_err(errno)?;
        let times = Timestamps {
            last_access: ts(st.st_atime, st.st_atime_nsec as i64),
            last_modification: ts(st.st_mtime, st.st_mtime_nsec as i64),
        };
        rustix::fs::utimensat(work, tmp, &times, AtFlags::SYMLINK_NOFOLLOW).map_err(errno)?;
        let meta = self.layers.symlink_meta(src, path)?;
        if !meta.is_default() {
            self.layers.update_symlinks(|t| t.set(path, meta.clone()))?;
        }
        let copy = rustix::fs::statat(work, tmp, AtFlags::SYMLINK_NOFOLLOW).map_err(errno)?;
        Ok((copy.st_dev, copy.st_ino))
    }
}

fn ts(secs: i64, nsecs: i64) -> Timespec {
    Timespec {
        tv_sec: secs,
        tv_nsec: nsecs as _,
    }
}

/// Permission bits and times of the origin on the copy; the copy's key.
fn finish(out: &OwnedFd, st: &rustix::fs::Stat) -> Result<Key> {
    rustix::fs::fchmod(out, Mode::from_raw_mode(st.st_mode & 0o7777)).map_err(errno)?;
    let times = Timestamps {
        last_access: ts(st.st_atime, st.st_atime_nsec as i64),
        last_modification: ts(st.st_mtime, st.st_mtime_nsec as i64),
    };
    rustix::fs::futimens(out, &times).map_err(errno)?;
    let copy = rustix::fs::fstat(out).map_err(errno)?;
    Ok((copy.st_dev, copy.st_ino))
}

fn remove_tmp(work: &OwnedFd, tmp: &str, dir: bool) {
    let flags = if dir {
        AtFlags::REMOVEDIR
    } else {
        AtFlags::empty()
    };
    if let Err(e) = rustix::fs::unlinkat(work, tmp, flags) {
        tracing::warn!("overlay: removing {tmp} from the work directory: {e}");
    }
}

/// Copies the contents of `input` (`len` bytes) into the empty `out`: a reflink where the
/// filesystem has them, else the data extents only (`SEEK_DATA`/`SEEK_HOLE`), so a sparse
/// file stays sparse (`copy_file_range` within ext4 writes holes out as zeros).
pub(crate) fn copy_data(input: &OwnedFd, out: &OwnedFd, len: u64) -> Result<()> {
    use rustix::fs::SeekFrom;
    if len == 0 || rustix::fs::ioctl_ficlone(out, input).is_ok() {
        return Ok(());
    }
    let mut pos = 0u64;
    while pos < len {
        let start = match rustix::fs::seek(input, SeekFrom::Data(pos)) {
            Ok(s) => s,
            // No data past `pos`: the rest is a hole.
            Err(Sys::NXIO) => break,
            // No SEEK_DATA here: one extent, the whole file.
            Err(Sys::INVAL | Sys::OPNOTSUPP) => {
                copy_range(input, out, 0, len)?;
                break;
            }
            Err(e) => return Err(errno(e)),
        };
        let end = match rustix::fs::seek(input, SeekFrom::Hole(start)) {
            Ok(e) => e.min(len),
            Err(e) => return Err(errno(e)),
        };
        if end <= start {
            break;
        }
        copy_range(input, out, start, end)?;
        pos = end;
    }
    // A trailing hole.
    rustix::fs::ftruncate(out, len).map_err(errno)
}

/// Copies bytes `[start, end)` of `input` to the same offsets of `out`.
fn copy_range(input: &OwnedFd, out: &OwnedFd, start: u64, end: u64) -> Result<()> {
    let (mut off_in, mut off_out) = (start, start);
    while off_in < end {
        let chunk = (end - off_in).min(1 << 30) as usize;
        match rustix::fs::copy_file_range(input, Some(&mut off_in), out, Some(&mut off_out), chunk)
        {
            Ok(0) => return Ok(()),
            Ok(_) => {}
            Err(Sys::INTR) => {}
            Err(Sys::XDEV | Sys::INVAL | Sys::NOSYS | Sys::OPNOTSUPP) => {
                return copy_by_reading(input, out, off_in, end);
            }
            Err(e) => return Err(errno(e)),
        }
    }
    Ok(())
}

fn copy_by_reading(input: &OwnedFd, out: &OwnedFd, mut pos: u64, end: u64) -> Result<()> {
    let mut buf = vec![0u8; 1 << 20];
    while pos < end {
        let want = ((end - pos) as usize).min(buf.len());
        let n = match rustix::io::pread(input, &mut buf[..want], pos) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(Sys::INTR) => continue,
            Err(e) => return Err(errno(e)),
        };
        let mut data = buf.get(..n).ok_or(fuser::Errno::EIO)?;
        let mut at = pos;
        while !data.is_empty() {
            match rustix::io::pwrite(out, data, at) {
                Ok(w) => {
                    data = data.get(w..).ok_or(fuser::Errno::EIO)?;
                    at += w as u64;
                }
                Err(Sys::INTR) => {}
                Err(e) => return Err(errno(e)),
            }
        }
        pos += n as u64;
    }
    Ok(())
}

/// Copies every `user.*` attribute (the image's and coracle's own) from `input` to `out`.
/// Attributes of other namespaces on a layer file are the host's (e.g. `security.selinux`),
/// not the image's.
pub(crate) fn copy_xattrs(input: impl AsFd, out: impl AsFd) -> Result<()> {
    let (input, out) = (input.as_fd(), out.as_fd());
    let names = list_raw_xattrs(input)?;
    for name in names.split(|b| *b == 0).filter(|n| n.starts_with(b"user.")) {
        let value = get_raw_xattr(input, name)?;
        rustix::fs::fsetxattr(out, name, &value, rustix::fs::XattrFlags::empty()).map_err(errno)?;
    }
    Ok(())
}

/// The NUL-separated attribute names on `fd`.
pub(crate) fn list_raw_xattrs(fd: impl AsFd) -> Result<Vec<u8>> {
    let fd = fd.as_fd();
    let mut buf = vec![0u8; 1024];
    loop {
        match rustix::fs::flistxattr(fd, &mut buf[..]) {
            Ok(n) => {
                buf.truncate(n);
                return Ok(buf);
            }
            Err(Sys::RANGE) => buf.resize(buf.len() * 4, 0),
            Err(Sys::OPNOTSUPP) => return Ok(Vec::new()),
            Err(e) => return Err(errno(e)),
        }
    }
}

/// The value of attribute `name` (its stored name) on `fd`.
pub(crate) fn get_raw_xattr(fd: impl AsFd, name: &[u8]) -> Result<Vec<u8>> {
    let fd = fd.as_fd();
    let mut buf = vec![0u8; 256];
    loop {
        match rustix::fs::fgetxattr(fd, name, &mut buf[..]) {
            Ok(n) => {
                buf.truncate(n);
                return Ok(buf);
            }
            Err(Sys::RANGE) => buf.resize(buf.len() * 4, 0),
            Err(e) => return Err(errno(e)),
        }
    }
}
