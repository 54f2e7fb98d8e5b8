//! The container's mounts, made by its init in its own mount namespace (whose mounts are all
//! private: the monitor made them so), then `pivot_root`.
//!
//! Order: the root file system is bind-mounted onto itself (pivot_root(2) wants a mount
//! point), then, below it: `/proc` (a new procfs, for the new PID namespace), `/dev` (a tmpfs
//! with the host's `null zero full random urandom tty` bind-mounted — a user namespace cannot
//! `mknod` —, `/dev/pts` as a new devpts instance, `/dev/shm` and `/dev/mqueue`, and the
//! usual symlinks), `/sys` (a new read-only sysfs where the kernel allows it, i.e. in a
//! network namespace of our own; else the host's bind-mounted and remounted read-only,
//! crun's fallback), the generated `/etc/hosts`, `/etc/hostname`, `/etc/resolv.conf`, and
//! the masked and read-only paths (`Security::masked_paths`: Podman's of `/proc` and `/sys`
//! unless `--privileged`, with `--security-opt mask=`/`unmask=`), each opened inside the
//! root (`openat2(RESOLVE_IN_ROOT)`, a missing one skipped, nothing created) and mounted on
//! through its descriptor. (The init first made `/proc`, `/dev`, `/sys` and the generated
//! files real directories and files of the root, `rootfs::mount_point`: no symlink of the
//! image's stands there.)
//!
//! Then `pivot_root(".", ".")` from inside the new root stacks the old root on top of it, and
//! a lazy unmount of "." detaches it (the technique of runc, LXC and bubblewrap): no directory
//! for the old root is needed in the container's tree.

use std::fs::{self, File};
use std::os::fd::{AsFd as _, BorrowedFd, OwnedFd};
use std::path::Path;

use nix::errno::Errno;
use nix::mount::{MntFlags, MsFlags};
use nix::sys::statvfs::FsFlags;

use super::idmap::UserMapping;

/// A failed mount step: what was done, and the errno.
#[derive(Debug)]
pub struct MountFailure {
    pub detail: String,
    pub errno: Errno,
}

pub(crate) type Result<T> = std::result::Result<T, MountFailure>;

pub(crate) fn fail(detail: impl Into<String>) -> impl FnOnce(Errno) -> MountFailure {
    let detail = detail.into();
    move |errno| MountFailure { detail, errno }
}

pub(crate) fn io_fail(detail: impl Into<String>) -> impl FnOnce(std::io::Error) -> MountFailure {
    let detail = detail.into();
    move |e| MountFailure {
        detail,
        errno: Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
    }
}

fn mount(
    source: &str,
    target: &Path,
    fstype: Option<&str>,
    flags: MsFlags,
    data: Option<&str>,
) -> Result<()> {
    nix::mount::mount(Some(source), target, fstype, flags, data).map_err(fail(format!(
        "mounting {} on {}",
        fstype.unwrap_or(source),
        target.display()
    )))
}

pub(crate) fn bind(source: &Path, target: &Path, flags: MsFlags) -> Result<()> {
    nix::mount::mount(
        Some(source),
        target,
        None::<&str>,
        MsFlags::MS_BIND | flags,
        None::<&str>,
    )
    .map_err(fail(format!(
        "bind-mounting {} on {}",
        source.display(),
        target.display()
    )))
}

/// The host devices every container gets.
pub const DEVICES: &[&str] = &["null", "zero", "full", "random", "urandom", "tty"];

/// Mounts everything below `rootfs` (see the module header), and masks `masked` and makes
/// `read_only` read-only (`Security::masked_paths`, `Security::read_only_paths`).
pub fn setup(
    rootfs: &Path,
    userdata: &Path,
    mapping: &UserMapping,
    masked: &[String],
    read_only_paths: &[String],
) -> Result<()> {
    bind(rootfs, rootfs, MsFlags::MS_REC)?;
    let nosuid_noexec = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    mount(
        "proc",
        &rootfs.join("proc"),
        Some("proc"),
        nosuid_noexec,
        None,
    )?;
    dev(&rootfs.join("dev"), mapping)?;
    sys(&rootfs.join("sys"))?;
    for f in ["hosts", "hostname", "resolv.conf"] {
        // No generated hosts file (--no-hosts): the image's stays.
        if !userdata.join(f).exists() {
            continue;
        }
        bind(
            &userdata.join(f),
            &rootfs.join("etc").join(f),
            MsFlags::empty(),
        )?;
    }
    // Opened after the binds above: a walk from it crosses the new /proc and /sys.
    let root = rustix::fs::open(
        rootfs,
        rustix::fs::OFlags::PATH | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .map_err(|e| io_fail(format!("opening {}", rootfs.display()))(e.into()))?;
    for path in masked {
        mask(root.as_fd(), path)?;
    }
    for path in read_only_paths {
        read_only(root.as_fd(), path)?;
    }
    Ok(())
}

/// `path` (absolute in the container) opened below `root`, if it exists there (a path this
/// kernel does not have is skipped, as crun does), and whether it is a directory. Every
/// symlink on the way is resolved inside the root and no magic link is followed
/// (`sys::mount::open_in_root`): a `mask=` path, or an image whose `/etc/x` leads to
/// `/host/file` or up a `../..` chain, never puts a mount outside the root.
fn existing(root: BorrowedFd<'_>, path: &str) -> Result<Option<(OwnedFd, bool)>> {
    let fd = match crate::sys::mount::open_in_root(root, Path::new(path)) {
        Ok(fd) => fd,
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR)) => {
            return Ok(None);
        }
        Err(e) => return Err(io_fail(format!("resolving {path} in the container"))(e)),
    };
    let st = rustix::fs::fstat(&fd)
        .map_err(|e| io_fail(format!("looking up {path} in the container"))(e.into()))?;
    let is_dir = rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::Directory;
    Ok(Some((fd, is_dir)))
}

/// Hides `path`: an empty read-only tmpfs over a directory, `/dev/null` over a file.
fn mask(root: BorrowedFd<'_>, path: &str) -> Result<()> {
    let Some((fd, is_dir)) = existing(root, path)? else {
        return Ok(());
    };
    let target = crate::sys::mount::fd_path(fd.as_fd());
    let failed = |what: &str| fail(format!("masking {path} ({what})"));
    if is_dir {
        nix::mount::mount(
            Some("tmpfs"),
            &target,
            Some("tmpfs"),
            MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
            Some("mode=0555"),
        )
        .map_err(failed("an empty tmpfs"))
    } else {
        nix::mount::mount(
            Some("/dev/null"),
            &target,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(failed("/dev/null"))
    }
}

/// Makes `path` read-only: bound onto itself, then the new mount (opened again: the first
/// descriptor still refers to what lies below it) and every mount below it made read-only.
fn read_only(root: BorrowedFd<'_>, path: &str) -> Result<()> {
    let Some((fd, _)) = existing(root, path)? else {
        return Ok(());
    };
    let target = crate::sys::mount::fd_path(fd.as_fd());
    nix::mount::mount(
        Some(&target),
        &target,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(fail(format!("bind-mounting {path} onto itself")))?;
    let Some((top, _)) = existing(root, path)? else {
        return Err(MountFailure {
            detail: format!("{path} vanished while it was made read-only"),
            errno: Errno::ENOENT,
        });
    };
    crate::sys::mount::make_read_only_recursive_fd(top.as_fd())
        .map_err(io_fail(format!("making {path} read-only")))
}

fn dev(dev: &Path, mapping: &UserMapping) -> Result<()> {
    mount(
        "tmpfs",
        dev,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME,
        Some("mode=755,size=65536k"),
    )?;
    for name in DEVICES {
        let target = dev.join(name);
        File::create_new(&target).map_err(io_fail(format!("creating {}", target.display())))?;
        bind(&Path::new("/dev").join(name), &target, MsFlags::empty())?;
    }
    let mkdir = |name: &str| {
        let d = dev.join(name);
        fs::create_dir(&d)
            .map_err(io_fail(format!("creating {}", d.display())))
            .map(|()| d)
    };
    // gid=5 (tty) only where the namespace maps it (not in the single mapping).
    let mut pts_opts = "newinstance,ptmxmode=0666,mode=0620".to_string();
    if mapping.gid.to_host(5).is_some() {
        pts_opts.push_str(",gid=5");
    }
    mount(
        "devpts",
        &mkdir("pts")?,
        Some("devpts"),
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
        Some(&pts_opts),
    )?;
    let no_all = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    mount(
        "shm",
        &mkdir("shm")?,
        Some("tmpfs"),
        no_all,
        Some("mode=1777,size=65536k"),
    )?;
    mount("mqueue", &mkdir("mqueue")?, Some("mqueue"), no_all, None)?;
    for (link, target) in [
        ("ptmx", "pts/ptmx"),
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
        ("core", "/proc/kcore"),
    ] {
        let l = dev.join(link);
        std::os::unix::fs::symlink(target, &l)
            .map_err(io_fail(format!("creating {}", l.display())))?;
    }
    Ok(())
}

fn sys(sys: &Path) -> Result<()> {
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC | MsFlags::MS_RDONLY;
    // A sysfs mount needs a network namespace owned by the caller's user namespace (ours
    // with --network none, or real root's); with the host's network it is refused (EPERM).
    match mount("sysfs", sys, Some("sysfs"), flags, None) {
        Ok(()) => return Ok(()),
        Err(f) if f.errno == Errno::EPERM => {}
        Err(f) => return Err(f),
    }
    bind(Path::new("/sys"), sys, MsFlags::MS_REC)?;
    remount_read_only_tree(sys)
}

/// [`remount_read_only`] for a recursive bind: its submounts (`/sys/fs/cgroup`, ...) are
/// made read-only too, or they would stay writable below a read-only top.
fn remount_read_only_tree(target: &Path) -> Result<()> {
    remount_read_only(target)?;
    crate::sys::mount::make_read_only_recursive(target).map_err(io_fail(format!(
        "making the mounts below {} read-only",
        target.display()
    )))
}

/// Remounts the bind mount `target` read-only.
fn remount_read_only(target: &Path) -> Result<()> {
    remount_bind(target, MsFlags::MS_RDONLY)
}

/// Remounts the bind mount `target` with `add` (`MS_RDONLY`, `MS_NOSUID`...) added. Inside a
/// user namespace the flags the mount came with from the host (read-only, nosuid, nodev,
/// noexec, atime) are locked: the remount must repeat them or fail with `EPERM`
/// (bubblewrap's `bind_mount`).
pub(crate) fn remount_bind(target: &Path, add: MsFlags) -> Result<()> {
    let st = nix::sys::statvfs::statvfs(target)
        .map_err(fail(format!("reading the flags of {}", target.display())))?;
    let have = st.flags();
    let mut flags = MsFlags::MS_REMOUNT | MsFlags::MS_BIND | add;
    for (st_flag, ms_flag) in [
        (FsFlags::ST_RDONLY, MsFlags::MS_RDONLY),
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
        (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
    ] {
        if have.contains(st_flag) {
            flags |= ms_flag;
        }
    }
    nix::mount::mount(None::<&str>, target, None::<&str>, flags, None::<&str>)
        .map_err(fail(format!("remounting {}", target.display())))
}

/// Makes `rootfs` the root: `pivot_root(".", ".")`, then detaches the old root stacked on it.
pub fn pivot(rootfs: &Path) -> Result<()> {
    nix::unistd::chdir(rootfs).map_err(fail(format!("entering {}", rootfs.display())))?;
    nix::unistd::pivot_root(".", ".")
        .map_err(fail(format!("pivot_root to {}", rootfs.display())))?;
    nix::mount::umount2(".", MntFlags::MNT_DETACH).map_err(fail("detaching the old root"))?;
    nix::unistd::chdir("/").map_err(fail("entering the new root"))
}
