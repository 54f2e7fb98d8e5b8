//! Mounts on what a descriptor refers to: attributes changed on a whole tree at once
//! (`mount_setattr(2)`), paths opened inside a root (`openat2(2)`).

use std::io;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt as _;
use std::path::Path;

const AT_RECURSIVE: libc::c_uint = 0x8000;
const MOUNT_ATTR_RDONLY: u64 = 0x1;

/// `struct mount_attr` (linux/mount.h, MOUNT_ATTR_SIZE_VER0).
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// Makes the mount at `path` and every mount below it read-only (`mount_setattr` with
/// `AT_RECURSIVE`, Linux 5.12): a recursive bind keeps its submounts writable otherwise.
/// `path` is not followed if it is a symlink.
pub fn make_read_only_recursive(path: &Path) -> io::Result<()> {
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_RDONLY,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    // SAFETY: `c` is a NUL-terminated string and `attr` a properly laid out mount_attr of the
    // size passed, both alive for the call; the kernel only reads them.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            libc::AT_FDCWD,
            c.as_ptr(),
            AT_RECURSIVE | libc::AT_SYMLINK_NOFOLLOW as libc::c_uint,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if ret == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Opens the container path `path` below the directory `root` as an `O_PATH` descriptor,
/// every symlink (the last component's too) resolved as if `root` were `/`
/// (`RESOLVE_IN_ROOT`: an absolute target or a `..` chain stays inside it), /proc's magic
/// links refused (`RESOLVE_NO_MAGICLINKS`). Nothing is created.
pub fn open_in_root(root: BorrowedFd<'_>, path: &Path) -> io::Result<OwnedFd> {
    use rustix::fs::{OFlags, ResolveFlags};
    use std::os::unix::ffi::OsStrExt as _;
    let rel = path.strip_prefix("/").unwrap_or(path);
    super::openat::openat2_retry(
        root,
        rel.as_os_str().as_bytes(),
        OFlags::PATH | OFlags::CLOEXEC,
        ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
    )
    .map_err(io::Error::from)
}

/// The path through which mount(2) reaches what `fd` refers to (`/proc/self/fd/N`): the
/// mount lands on that very file, wherever it is, with no path walked again.
pub fn fd_path(fd: BorrowedFd<'_>) -> std::path::PathBuf {
    use std::os::fd::AsRawFd as _;
    std::path::PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

/// [`make_read_only_recursive`] for the mount whose root `fd` is (`AT_EMPTY_PATH`).
pub fn make_read_only_recursive_fd(fd: BorrowedFd<'_>) -> io::Result<()> {
    use std::os::fd::AsRawFd as _;
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_RDONLY,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    // SAFETY: `fd` is an open descriptor borrowed for the call, the path is an empty
    // NUL-terminated string and `attr` a properly laid out mount_attr of the size passed;
    // the kernel only reads them.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            c"".as_ptr(),
            AT_RECURSIVE | libc::AT_EMPTY_PATH as libc::c_uint,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if ret == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
