//! Copies and chowns for the init, as container root in the container's user namespace: the
//! owners it sets are container ids, which the kernel stores as the host ids the namespace
//! maps them to (an id the namespace lacks keeps the copier's own: best effort, as Podman).
//!
//! - [`copy_tree`]: a volume's first use and `tmpcopyup` — the image's directory (seen
//!   through the container's root, where the overlay already shows each file's true owner)
//!   copied with owners, modes, times, symlinks and fifos; the top directory's owner and
//!   mode too, as Podman does. Device nodes and sockets are skipped (no `mknod` here).
//! - [`chown_tree`]: `:U`, every file below a path, symlinks themselves, no link followed.

use std::ffi::{CStr, OsStr};
use std::fs::{self, File};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, CWD, FileType, Gid, Mode, OFlags, Stat, Timespec, Timestamps, Uid};

#[derive(Debug, thiserror::Error)]
#[error("{what} {path}")]
pub struct CopyError {
    pub what: &'static str,
    pub path: std::path::PathBuf,
    #[source]
    pub source: io::Error,
}

fn err<E: Into<io::Error>>(
    what: &'static str,
    path: &Path,
) -> impl FnOnce(E) -> CopyError + use<E> {
    let path = path.to_path_buf();
    move |source| CopyError {
        what,
        path,
        source: source.into(),
    }
}

// The trees walked here may be shared with another running container (a volume), which can
// swap a directory for a symlink while the walk is under way: every step is taken from the
// descriptor of the directory already opened, never by path, and nothing is followed.

/// Opens the directory `name` in `dir` without following a symlink (it fails if `name` is
/// one, or is no longer a directory).
fn open_dir(dir: impl AsFd, name: impl rustix::path::Arg) -> rustix::io::Result<OwnedFd> {
    rustix::fs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
}

/// The names in the directory `dir` (without `.` and `..`).
fn entries(dir: BorrowedFd<'_>, path: &Path) -> Result<Vec<std::ffi::CString>, CopyError> {
    let mut names = Vec::new();
    for entry in rustix::fs::Dir::read_from(dir).map_err(err("reading", path))? {
        let entry = entry.map_err(err("reading", path))?;
        let name: &CStr = entry.file_name();
        if name != c"." && name != c".." {
            names.push(name.to_owned());
        }
    }
    Ok(names)
}

fn below(path: &Path, name: &CStr) -> PathBuf {
    path.join(OsStr::from_bytes(name.to_bytes()))
}

/// Copies what is in the directory `src` into the existing directory `dst`, then gives `dst`
/// the owner, mode and times of `src`. Neither `src` nor `dst` (nor anything below) may be a
/// symlink to follow.
pub fn copy_tree(src: &Path, dst: &Path) -> Result<(), CopyError> {
    let from = open_dir(CWD, src).map_err(err("opening", src))?;
    let to = open_dir(CWD, dst).map_err(err("opening", dst))?;
    copy_dir(from.as_fd(), to.as_fd(), src, dst)
}

fn copy_dir(
    from: BorrowedFd<'_>,
    to: BorrowedFd<'_>,
    src: &Path,
    dst: &Path,
) -> Result<(), CopyError> {
    for name in entries(from, src)? {
        copy_entry(from, to, &name, &below(src, &name), &below(dst, &name))?;
    }
    let st = rustix::fs::fstat(from).map_err(err("reading", src))?;
    finish_fd(to, &st, dst)
}

fn copy_entry(
    from: BorrowedFd<'_>,
    to: BorrowedFd<'_>,
    name: &CStr,
    src: &Path,
    dst: &Path,
) -> Result<(), CopyError> {
    let st =
        rustix::fs::statat(from, name, AtFlags::SYMLINK_NOFOLLOW).map_err(err("reading", src))?;
    match FileType::from_raw_mode(st.st_mode) {
        FileType::Directory => {
            rustix::fs::mkdirat(to, name, Mode::from_raw_mode(0o700))
                .map_err(err("creating", dst))?;
            let sub_from = open_dir(from, name).map_err(err("opening", src))?;
            let sub_to = open_dir(to, name).map_err(err("opening", dst))?;
            copy_dir(sub_from.as_fd(), sub_to.as_fd(), src, dst)
        }
        FileType::Symlink => {
            let target =
                rustix::fs::readlinkat(from, name, Vec::new()).map_err(err("reading", src))?;
            rustix::fs::symlinkat(target.as_c_str(), to, name).map_err(err("creating", dst))?;
            let _ = rustix::fs::chownat(
                to,
                name,
                Some(Uid::from_raw(st.st_uid)),
                Some(Gid::from_raw(st.st_gid)),
                AtFlags::SYMLINK_NOFOLLOW,
            );
            rustix::fs::utimensat(to, name, &times(&st), AtFlags::SYMLINK_NOFOLLOW)
                .map_err(err("setting the times of", dst))
        }
        FileType::RegularFile => {
            // Non-blocking: should it have become a fifo since, the open does not hang.
            let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK;
            let input = rustix::fs::openat(from, name, flags, Mode::empty())
                .map_err(err("opening", src))?;
            let now = rustix::fs::fstat(&input).map_err(err("reading", src))?;
            if FileType::from_raw_mode(now.st_mode) != FileType::RegularFile {
                return Err(err("copying", src)(io::Error::other(
                    "no longer a regular file",
                )));
            }
            let output = rustix::fs::openat(
                to,
                name,
                OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::from_raw_mode(0o600),
            )
            .map_err(err("creating", dst))?;
            let (mut input, mut output) = (File::from(input), File::from(output));
            io::copy(&mut input, &mut output).map_err(err("copying", src))?;
            finish_fd(output.as_fd(), &st, dst)
        }
        FileType::Fifo => {
            rustix::fs::mknodat(to, name, FileType::Fifo, Mode::from_raw_mode(0o600), 0)
                .map_err(err("creating", dst))?;
            // A fifo opened for reading without blocking, to set its owner, mode and times
            // on the one just made.
            let fifo = rustix::fs::openat(
                to,
                name,
                OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(err("opening", dst))?;
            let now = rustix::fs::fstat(&fifo).map_err(err("reading", dst))?;
            if FileType::from_raw_mode(now.st_mode) != FileType::Fifo {
                return Err(err("creating", dst)(io::Error::other(
                    "replaced while copying",
                )));
            }
            finish_fd(fifo.as_fd(), &st, dst)
        }
        // Device nodes and sockets: no mknod here.
        _ => Ok(()),
    }
}

fn times(st: &Stat) -> Timestamps {
    let ts = |s: i64, ns: i64| Timespec {
        tv_sec: s,
        tv_nsec: ns as _,
    };
    Timestamps {
        last_access: ts(st.st_atime, st.st_atime_nsec as i64),
        last_modification: ts(st.st_mtime, st.st_mtime_nsec as i64),
    }
}

/// Owner (best effort), then mode (a chown clears setuid bits), then times, on the file
/// `fd` itself.
fn finish_fd(fd: BorrowedFd<'_>, st: &Stat, dst: &Path) -> Result<(), CopyError> {
    let _ = rustix::fs::fchown(
        fd,
        Some(Uid::from_raw(st.st_uid)),
        Some(Gid::from_raw(st.st_gid)),
    );
    rustix::fs::fchmod(fd, Mode::from_raw_mode(st.st_mode & 0o7777))
        .map_err(err("changing the mode of", dst))?;
    rustix::fs::futimens(fd, &times(st)).map_err(err("setting the times of", dst))
}

/// Gives `path` and everything below it to `uid`:`gid` (no symlink followed, `path` itself
/// included).
pub fn chown_tree(path: &Path, uid: u32, gid: u32) -> Result<(), CopyError> {
    let st =
        rustix::fs::statat(CWD, path, AtFlags::SYMLINK_NOFOLLOW).map_err(err("reading", path))?;
    if FileType::from_raw_mode(st.st_mode) != FileType::Directory {
        return chown_at(CWD, path, uid, gid, path);
    }
    let dir = open_dir(CWD, path).map_err(err("opening", path))?;
    chown_dir(dir.as_fd(), uid, gid, path)
}

fn chown_at(
    dir: impl AsFd,
    name: impl rustix::path::Arg,
    uid: u32,
    gid: u32,
    path: &Path,
) -> Result<(), CopyError> {
    rustix::fs::chownat(
        dir,
        name,
        Some(Uid::from_raw(uid)),
        Some(Gid::from_raw(gid)),
        AtFlags::SYMLINK_NOFOLLOW,
    )
    .map_err(err("changing the owner of", path))
}

fn chown_dir(dir: BorrowedFd<'_>, uid: u32, gid: u32, path: &Path) -> Result<(), CopyError> {
    let st = rustix::fs::fstat(dir).map_err(err("reading", path))?;
    rustix::fs::fchown(dir, Some(Uid::from_raw(uid)), Some(Gid::from_raw(gid)))
        .map_err(err("changing the owner of", path))?;
    // The chown cleared setgid on the directory: keep its mode as it was.
    rustix::fs::fchmod(dir, Mode::from_raw_mode(st.st_mode & 0o7777))
        .map_err(err("changing the mode of", path))?;
    for name in entries(dir, path)? {
        let here = below(path, &name);
        let st = rustix::fs::statat(dir, &*name, AtFlags::SYMLINK_NOFOLLOW)
            .map_err(err("reading", &here))?;
        if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
            // Fails (ELOOP, ENOTDIR) if it was swapped for a symlink since the stat.
            let sub = open_dir(dir, &*name).map_err(err("opening", &here))?;
            chown_dir(sub.as_fd(), uid, gid, &here)?;
        } else {
            chown_at(dir, &*name, uid, gid, &here)?;
        }
    }
    Ok(())
}

/// Whether `path` is a directory with no entries (a missing path or a file counts as
/// empty; a directory that cannot be read is an error, never silently "empty").
pub fn is_empty_dir(path: &Path) -> Result<bool, CopyError> {
    match fs::read_dir(path) {
        Ok(mut rd) => Ok(rd.next().is_none()),
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR)) => Ok(true),
        Err(e) => Err(err("reading", path)(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};

    #[test]
    fn copies_files_links_fifos_modes_and_times() {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("src");
        fs::create_dir_all(src.join("sub")).unwrap();
        fs::write(src.join("sub/f"), b"data").unwrap();
        fs::set_permissions(src.join("sub/f"), fs::Permissions::from_mode(0o640)).unwrap();
        std::os::unix::fs::symlink("sub/f", src.join("link")).unwrap();
        nix::unistd::mkfifo(
            &src.join("fifo"),
            nix::sys::stat::Mode::from_bits_truncate(0o600),
        )
        .unwrap();
        fs::set_permissions(&src, fs::Permissions::from_mode(0o750)).unwrap();
        let dst = tmp.path().join("dst");
        fs::create_dir(&dst).unwrap();
        copy_tree(&src, &dst).unwrap();
        assert_eq!(fs::read(dst.join("sub/f")).unwrap(), b"data");
        let m = fs::metadata(dst.join("sub/f")).unwrap();
        assert_eq!(m.mode() & 0o7777, 0o640);
        assert_eq!(m.mtime(), fs::metadata(src.join("sub/f")).unwrap().mtime());
        assert_eq!(fs::read_link(dst.join("link")).unwrap(), Path::new("sub/f"));
        use std::os::unix::fs::FileTypeExt as _;
        assert!(
            fs::symlink_metadata(dst.join("fifo"))
                .unwrap()
                .file_type()
                .is_fifo()
        );
        assert_eq!(fs::metadata(&dst).unwrap().mode() & 0o7777, 0o750);
        assert!(!is_empty_dir(&dst).unwrap());
        assert!(is_empty_dir(&dst.join("nothing")).unwrap());
        assert!(is_empty_dir(&dst.join("sub/f")).unwrap());
    }

    #[test]
    fn chown_to_self_keeps_modes() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path().join("d");
        fs::create_dir(&d).unwrap();
        fs::set_permissions(&d, fs::Permissions::from_mode(0o2775)).unwrap();
        fs::write(d.join("f"), b"").unwrap();
        let (uid, gid) = (
            nix::unistd::getuid().as_raw(),
            nix::unistd::getgid().as_raw(),
        );
        chown_tree(&d, uid, gid).unwrap();
        assert_eq!(fs::metadata(&d).unwrap().mode() & 0o7777, 0o2775);
    }

    fn owner(p: &Path) -> (u32, u32) {
        let m = fs::symlink_metadata(p).unwrap();
        (m.uid(), m.gid())
    }

    /// `:U` on a tree holding a symlink to a directory outside: the link itself changes
    /// owner, the outside does not.
    #[test]
    fn chown_never_follows_a_symlink() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: chown to another owner needs root");
            return;
        }
        let tmp = tempfile::tempdir().unwrap();
        let outside = tmp.path().join("outside");
        fs::create_dir(&outside).unwrap();
        fs::write(outside.join("h"), b"").unwrap();
        let d = tmp.path().join("d");
        fs::create_dir_all(d.join("sub")).unwrap();
        fs::write(d.join("sub/g"), b"").unwrap();
        std::os::unix::fs::symlink(&outside, d.join("link")).unwrap();
        std::os::unix::fs::symlink(&outside, tmp.path().join("top-link")).unwrap();
        let before = owner(&outside);
        chown_tree(&d, 12345, 23456).unwrap();
        for p in ["", "sub", "sub/g", "link"] {
            assert_eq!(owner(&d.join(p)), (12345, 23456), "{p}");
        }
        chown_tree(&tmp.path().join("top-link"), 12345, 23456).unwrap();
        assert_eq!(owner(&tmp.path().join("top-link")), (12345, 23456));
        assert_eq!(owner(&outside), before);
        assert_eq!(owner(&outside.join("h")), before);
    }

    /// A copy into a directory where a symlink waits in place of a directory to be made (a
    /// volume another container changes) fails, and writes nothing where the link points;
    /// a symlink in the source is copied as a symlink, never entered.
    #[test]
    fn copy_never_follows_a_symlink() {
        let tmp = tempfile::tempdir().unwrap();
        let outside = tmp.path().join("outside");
        fs::create_dir(&outside).unwrap();
        fs::set_permissions(&outside, fs::Permissions::from_mode(0o755)).unwrap();
        let src = tmp.path().join("src");
        fs::create_dir_all(src.join("sub")).unwrap();
        fs::write(src.join("sub/f"), b"data").unwrap();
        std::os::unix::fs::symlink(&outside, src.join("out")).unwrap();
        fs::set_permissions(src.join("sub"), fs::Permissions::from_mode(0o777)).unwrap();

        let dst = tmp.path().join("dst");
        fs::create_dir(&dst).unwrap();
        copy_tree(&src, &dst).unwrap();
        assert_eq!(fs::read_link(dst.join("out")).unwrap(), outside);
        assert!(fs::read_dir(&outside).unwrap().next().is_none());

        let planted = tmp.path().join("planted");
        fs::create_dir(&planted).unwrap();
        std::os::unix::fs::symlink(&outside, planted.join("sub")).unwrap();
        assert!(copy_tree(&src, &planted).is_err());
        assert!(fs::read_dir(&outside).unwrap().next().is_none());
        assert_eq!(fs::metadata(&outside).unwrap().mode() & 0o7777, 0o755);
        // Nor is a destination that is itself a symlink entered.
        assert!(copy_tree(&src, &planted.join("sub")).is_err());
        assert!(fs::read_dir(&outside).unwrap().next().is_none());
    }
}
