//! Copies and chowns for the init, as container root in the container's user namespace: the
//! owners it sets are container ids, which the kernel stores as the host ids the namespace
//! maps them to (an id the namespace lacks keeps the copier's own: best effort, as Podman).
//!
//! - [`copy_tree`]: a volume's first use and `tmpcopyup` — the image's directory (seen
//!   through the container's root, where the overlay already shows each file's true owner)
//!   copied with owners, modes, times, symlinks and fifos; the top directory's owner and
//!   mode too, as Podman does. Device nodes and sockets are skipped (no `mknod` here).
//! - [`chown_tree`]: `:U`, every file below a path, symlinks themselves, no link followed.

use std::fs::{self, File};
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use rustix::fs::{AtFlags, CWD, Timespec, Timestamps};

#[derive(Debug, thiserror::Error)]
#[error("{what} {path}")]
pub struct CopyError {
    pub what: &'static str,
    pub path: std::path::PathBuf,
    #[source]
    pub source: io::Error,
}

fn err(what: &'static str, path: &Path) -> impl FnOnce(io::Error) -> CopyError + use<> {
    let path = path.to_path_buf();
    move |source| CopyError { what, path, source }
}

/// Copies what is in the directory `src` into the existing directory `dst`, then gives `dst`
/// the owner, mode and times of `src`.
pub fn copy_tree(src: &Path, dst: &Path) -> Result<(), CopyError> {
    for entry in fs::read_dir(src).map_err(err("reading", src))? {
        let entry = entry.map_err(err("reading", src))?;
        copy_entry(&entry.path(), &dst.join(entry.file_name()))?;
    }
    let meta = fs::symlink_metadata(src).map_err(err("reading", src))?;
    finish(dst, &meta)
}

fn copy_entry(src: &Path, dst: &Path) -> Result<(), CopyError> {
    let meta = fs::symlink_metadata(src).map_err(err("reading", src))?;
    let ft = meta.file_type();
    use std::os::unix::fs::FileTypeExt as _;
    if ft.is_dir() {
        fs::create_dir(dst).map_err(err("creating", dst))?;
        return copy_tree(src, dst);
    }
    if ft.is_symlink() {
        let target = fs::read_link(src).map_err(err("reading", src))?;
        std::os::unix::fs::symlink(&target, dst).map_err(err("creating", dst))?;
    } else if ft.is_file() {
        let mut from = File::open(src).map_err(err("opening", src))?;
        let mut to = File::create_new(dst).map_err(err("creating", dst))?;
        io::copy(&mut from, &mut to).map_err(err("copying", src))?;
    } else if ft.is_fifo() {
        nix::unistd::mkfifo(dst, nix::sys::stat::Mode::from_bits_truncate(0o600))
            .map_err(|e| err("creating", dst)(e.into()))?;
    } else {
        return Ok(());
    }
    finish(dst, &meta)
}

/// Owner (best effort), then mode (a chown clears setuid bits), then times.
fn finish(dst: &Path, meta: &fs::Metadata) -> Result<(), CopyError> {
    let _ = std::os::unix::fs::lchown(dst, Some(meta.uid()), Some(meta.gid()));
    if !meta.file_type().is_symlink() {
        fs::set_permissions(dst, fs::Permissions::from_mode(meta.mode() & 0o7777))
            .map_err(err("changing the mode of", dst))?;
    }
    let ts = |s: i64, ns: i64| Timespec {
        tv_sec: s,
        tv_nsec: ns as _,
    };
    let times = Timestamps {
        last_access: ts(meta.atime(), meta.atime_nsec()),
        last_modification: ts(meta.mtime(), meta.mtime_nsec()),
    };
    rustix::fs::utimensat(CWD, dst, &times, AtFlags::SYMLINK_NOFOLLOW)
        .map_err(|e| err("setting the times of", dst)(e.into()))
}

/// Gives `path` and everything below it to `uid`:`gid` (no symlink followed).
pub fn chown_tree(path: &Path, uid: u32, gid: u32) -> Result<(), CopyError> {
    let meta = fs::symlink_metadata(path).map_err(err("reading", path))?;
    std::os::unix::fs::lchown(path, Some(uid), Some(gid))
        .map_err(err("changing the owner of", path))?;
    if meta.is_dir() {
        // The chown cleared setgid on the directory: keep its mode as it was.
        fs::set_permissions(path, fs::Permissions::from_mode(meta.mode() & 0o7777))
            .map_err(err("changing the mode of", path))?;
        for entry in fs::read_dir(path).map_err(err("reading", path))? {
            let entry = entry.map_err(err("reading", path))?;
            chown_tree(&entry.path(), uid, gid)?;
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
}
