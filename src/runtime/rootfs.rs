//! The `vfs` root file system: the image's layers copied in order into one directory, run by
//! the container's monitor as container root inside the user namespace.
//!
//! Per layer, per directory (top-down): an opaque marker empties what lower layers put in the
//! directory, whiteouts remove what they name, then every other entry replaces what is there
//! (a directory over a directory only takes its metadata). The true owner, mode and type come
//! from the layer's ownership attribute and symlink table (`crate::archive`):
//!
//! - owners are set with `lchown` to the *container* ids: the kernel stores the host ids the
//!   namespace maps them to. An id the mapping lacks (every id but 0 in the single mapping
//!   of a user without subordinate ids) cannot be represented: the file keeps the user's own
//!   id, which the container sees as root;
//! - setuid/setgid/sticky bits are set after the owner (a chown clears them);
//! - fifos are made with `mkfifo`; device nodes with `mknod` where allowed (real root only),
//!   else they are empty regular files; sockets are empty regular files;
//! - hard links inside a layer stay hard links; modification times are kept;
//! - extended attributes (`user.*`, file capabilities) are not copied yet.
//!
//! Every path below the root is reached through directories this walk created or checked to
//! be real directories (a symlink in the way is replaced, never followed), so a layer cannot
//! make the copy write outside the root.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::{self, File};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, CWD, Timespec, Timestamps};

use super::idmap::UserMapping;
use crate::archive::{DIFF_DIR, FileKind, Stat, SymlinkTable, read_stat, whiteout};

#[derive(Debug, thiserror::Error)]
#[error("{what} {path}")]
pub struct RootfsError {
    pub what: &'static str,
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
}

fn err(what: &'static str, path: &Path) -> impl FnOnce(io::Error) -> RootfsError + use<> {
    let path = path.to_path_buf();
    move |source| RootfsError { what, path, source }
}

/// `rootfs` with `suffix` appended to its name (`rootfs.partial`, `rootfs.lock`).
fn beside(rootfs: &Path, suffix: &str) -> PathBuf {
    let mut name = rootfs.as_os_str().to_os_string();
    name.push(suffix);
    PathBuf::from(name)
}

/// Builds `rootfs` from `layers` (layer directories holding `diff/`, base first), setting
/// owners as `mapping` allows, unless it exists: an existing `rootfs` is always complete.
/// The copy goes to `rootfs.partial` (a leftover of a build that was killed is removed
/// first), renamed to `rootfs` once done; builders of the same root (a start, a `cp` into
/// the created container) take turns on `rootfs.lock`.
pub fn build(layers: &[PathBuf], rootfs: &Path, mapping: &UserMapping) -> Result<(), RootfsError> {
    let lock_path = beside(rootfs, ".lock");
    let lock = File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&lock_path)
        .map_err(err("creating", &lock_path))?;
    rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockExclusive)
        .map_err(|e| err("locking", &lock_path)(e.into()))?;
    if fs::symlink_metadata(rootfs).is_ok() {
        return Ok(());
    }
    let partial = beside(rootfs, ".partial");
    remove(&partial)?;
    build_into(layers, &partial, mapping)?;
    fs::rename(&partial, rootfs).map_err(err("renaming into place", &partial))?;
    drop(lock);
    Ok(())
}

/// Copies `layers` into the new directory `rootfs`.
fn build_into(layers: &[PathBuf], rootfs: &Path, mapping: &UserMapping) -> Result<(), RootfsError> {
    fs::create_dir(rootfs).map_err(err("creating", rootfs))?;
    // Whatever the umask: every user of the container must reach its root.
    fs::set_permissions(rootfs, fs::Permissions::from_mode(0o755))
        .map_err(err("changing the mode of", rootfs))?;
    let mut dirs = HashMap::new();
    for layer in layers {
        let symlinks = SymlinkTable::load(layer).map_err(|e| RootfsError {
            what: "reading the symlink table of",
            path: layer.clone(),
            source: io::Error::other(e),
        })?;
        let mut apply = Apply {
            mapping,
            symlinks: &symlinks,
            links: HashMap::new(),
            dirs: &mut dirs,
        };
        apply.dir(&layer.join(DIFF_DIR), rootfs, b"")?;
    }
    // Directory metadata last, deepest first, once their contents stopped changing; the
    // upper-most layer's wins, and directories a later layer removed are skipped.
    let mut dirs: Vec<_> = dirs.into_iter().collect();
    dirs.sort_by_key(|(p, _): &(PathBuf, _)| std::cmp::Reverse(p.components().count()));
    for (path, (stat, src)) in &dirs {
        if fs::symlink_metadata(path).is_ok_and(|m| m.is_dir()) {
            finish(path, stat, src, mapping)?;
        }
    }
    Ok(())
}

/// Removes a root file system built by [`build`] (as container root, who may remove what any
/// mapped owner owns).
pub fn remove(rootfs: &Path) -> Result<(), RootfsError> {
    match fs::remove_dir_all(rootfs) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(err("removing", rootfs)(e)),
        _ => Ok(()),
    }
}

struct Apply<'a> {
    mapping: &'a UserMapping,
    symlinks: &'a SymlinkTable,
    /// Hard links of this layer: (device, inode) of the source → the first copy.
    links: HashMap<(u64, u64), PathBuf>,
    /// Directories whose metadata is set at the end: target → (true stat, source).
    dirs: &'a mut HashMap<PathBuf, (Stat, PathBuf)>,
}

impl Apply<'_> {
    /// Applies the layer directory `src` onto the real directory `dst`; `rel` is its path in
    /// the layer (for the symlink table).
    fn dir(&mut self, src: &Path, dst: &Path, rel: &[u8]) -> Result<(), RootfsError> {
        let mut names: Vec<_> = fs::read_dir(src)
            .map_err(err("reading", src))?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<Result<_, _>>()
            .map_err(err("reading", src))?;
        names.sort();
        if names.iter().any(|n| whiteout::is_opaque_marker(n)) {
            for e in fs::read_dir(dst).map_err(err("reading", dst))? {
                let e = e.map_err(err("reading", dst))?;
                remove_any(&e.path())?;
            }
        }
        for n in names.iter().filter_map(|n| whiteout::whiteout_target(n)) {
            remove_any(&dst.join(n))?;
        }
        for name in names.iter().filter(|n| !whiteout::is_reserved(n)) {
            let mut child_rel = rel.to_vec();
            if !child_rel.is_empty() {
                child_rel.push(b'/');
            }
            child_rel.extend_from_slice(name.as_bytes());
            self.entry(&src.join(name), &dst.join(name), &child_rel)?;
        }
        Ok(())
    }

    fn entry(&mut self, src: &Path, dst: &Path, rel: &[u8]) -> Result<(), RootfsError> {
        let meta = fs::symlink_metadata(src).map_err(err("reading", src))?;
        let stat = if meta.file_type().is_symlink() {
            self.symlinks.stat(rel)
        } else {
            read_stat(src).map_err(|e| RootfsError {
                what: "reading the ownership of",
                path: src.to_path_buf(),
                source: io::Error::other(e),
            })?
        };
        if stat.kind == FileKind::Dir {
            match fs::symlink_metadata(dst) {
                Ok(m) if m.is_dir() => {}
                Ok(_) => {
                    remove_any(dst)?;
                    fs::create_dir(dst).map_err(err("creating", dst))?;
                }
                Err(_) => fs::create_dir(dst).map_err(err("creating", dst))?,
            }
            // Writable for the rest of the copy; the true mode is set at the end.
            fs::set_permissions(dst, fs::Permissions::from_mode(0o700))
                .map_err(err("changing the mode of", dst))?;
            self.dirs
                .insert(dst.to_path_buf(), (stat, src.to_path_buf()));
            return self.dir(src, dst, rel);
        }
        remove_any(dst)?;
        let key = (meta.dev(), meta.ino());
        if meta.nlink() > 1
            && !meta.file_type().is_symlink()
            && let Some(first) = self.links.get(&key)
        {
            return fs::hard_link(first, dst).map_err(err("linking", dst));
        }
        match stat.kind {
            FileKind::Symlink => {
                let target = fs::read_link(src).map_err(err("reading", src))?;
                std::os::unix::fs::symlink(&target, dst).map_err(err("creating", dst))?;
            }
            FileKind::File => {
                let mut from = File::open(src).map_err(err("opening", src))?;
                let mut to = File::create_new(dst).map_err(err("creating", dst))?;
                io::copy(&mut from, &mut to).map_err(err("copying", src))?;
            }
            FileKind::Pipe => {
                nix::unistd::mkfifo(dst, nix::sys::stat::Mode::from_bits_truncate(0o600))
                    .map_err(|e| err("creating", dst)(e.into()))?
            }
            FileKind::Block { major, minor } | FileKind::Char { major, minor } => {
                let kind = if matches!(stat.kind, FileKind::Block { .. }) {
                    nix::sys::stat::SFlag::S_IFBLK
                } else {
                    nix::sys::stat::SFlag::S_IFCHR
                };
                let dev = nix::sys::stat::makedev(major.into(), minor.into());
                let made = nix::sys::stat::mknod(
                    dst,
                    kind,
                    nix::sys::stat::Mode::from_bits_truncate(0o600),
                    dev,
                );
                if made.is_err() {
                    File::create_new(dst).map_err(err("creating", dst))?;
                }
            }
            FileKind::Socket | FileKind::Dir => {
                File::create_new(dst).map_err(err("creating", dst))?;
            }
        }
        if meta.nlink() > 1 && !meta.file_type().is_symlink() {
            self.links.insert(key, dst.to_path_buf());
        }
        finish(dst, &stat, src, self.mapping)
    }
}

/// Sets the owner (as far as the mapping goes), then the mode, then the times of `dst`.
fn finish(dst: &Path, stat: &Stat, src: &Path, mapping: &UserMapping) -> Result<(), RootfsError> {
    let uid = mapping.uid.to_host(stat.uid).map(|_| stat.uid);
    let gid = mapping.gid.to_host(stat.gid).map(|_| stat.gid);
    // What the copy creates already belongs to the monitor's ids (container root, or the
    // user's own ids with --userns=keep-id).
    let (me_u, me_g) = (
        nix::unistd::geteuid().as_raw(),
        nix::unistd::getegid().as_raw(),
    );
    if uid.is_some_and(|u| u != me_u) || gid.is_some_and(|g| g != me_g) {
        std::os::unix::fs::lchown(dst, uid, gid).map_err(err("changing the owner of", dst))?;
    }
    if stat.kind != FileKind::Symlink {
        fs::set_permissions(dst, fs::Permissions::from_mode(stat.mode & 0o7777))
            .map_err(err("changing the mode of", dst))?;
    }
    let m = fs::symlink_metadata(src).map_err(err("reading", src))?;
    let ts = |s: i64, ns: i64| Timespec {
        tv_sec: s,
        tv_nsec: ns as _,
    };
    let times = Timestamps {
        last_access: ts(m.atime(), m.atime_nsec()),
        last_modification: ts(m.mtime(), m.mtime_nsec()),
    };
    rustix::fs::utimensat(CWD, dst, &times, AtFlags::SYMLINK_NOFOLLOW)
        .map_err(|e| err("setting the times of", dst)(e.into()))
}

/// Removes `path` whatever it is (a directory with its contents); a missing path is fine.
fn remove_any(path: &Path) -> Result<(), RootfsError> {
    let res = match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) => Err(e),
    };
    match res {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(err("removing", path)(e)),
        _ => Ok(()),
    }
}

/// Makes sure `rel` (e.g. `proc`, `etc/hosts`) in `rootfs` is a real directory or regular
/// file to mount on: a symlink or other type in the way is replaced (the copy is the
/// container's own), so that a mount never follows an image's symlink out of the root.
pub fn mount_point(rootfs: &Path, rel: &str, dir: bool) -> Result<(), RootfsError> {
    let mut path = rootfs.to_path_buf();
    let parts: Vec<&OsStr> = Path::new(rel).iter().collect();
    for (i, part) in parts.iter().enumerate() {
        path.push(part);
        let want_dir = dir || i + 1 < parts.len();
        let ok = match fs::symlink_metadata(&path) {
            Ok(m) if want_dir => m.is_dir(),
            Ok(m) => m.is_file(),
            Err(_) => false,
        };
        if ok {
            continue;
        }
        remove_any(&path)?;
        if want_dir {
            fs::create_dir(&path).map_err(err("creating", &path))?;
            fs::set_permissions(&path, fs::Permissions::from_mode(0o755))
                .map_err(err("changing the mode of", &path))?;
        } else {
            File::create_new(&path).map_err(err("creating", &path))?;
            fs::set_permissions(&path, fs::Permissions::from_mode(0o644))
                .map_err(err("changing the mode of", &path))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(root: &Path, name: &str, file: &str) -> PathBuf {
        let l = root.join(name);
        fs::create_dir_all(l.join(DIFF_DIR)).unwrap();
        fs::write(l.join(DIFF_DIR).join(file), file).unwrap();
        l
    }

    #[test]
    fn only_a_complete_copy_becomes_the_root() {
        let tmp = tempfile::tempdir().unwrap();
        let mapping = UserMapping::current().unwrap();
        let base = layer(tmp.path(), "base", "a");
        let top = layer(tmp.path(), "top", "b");
        let rootfs = tmp.path().join("rootfs");
        // A layer that cannot be read fails the build half-way: no root for the next start.
        let broken = [base.clone(), tmp.path().join("missing")];
        assert!(build(&broken, &rootfs, &mapping).is_err());
        assert!(!rootfs.exists());
        // A killed build's leftover is not reused.
        fs::create_dir_all(tmp.path().join("rootfs.partial/junk")).unwrap();
        build(&[base, top], &rootfs, &mapping).unwrap();
        assert!(rootfs.join("a").is_file() && rootfs.join("b").is_file());
        assert!(!rootfs.join("junk").exists());
        assert!(!tmp.path().join("rootfs.partial").exists());
        // Built once: a second call keeps it.
        fs::write(rootfs.join("c"), "c").unwrap();
        build(&[], &rootfs, &mapping).unwrap();
        assert!(rootfs.join("c").is_file());
    }
}
