//! The init's side: the container's volumes, binds, tmpfs, devpts and devices mounted below
//! its root (after `/proc`, `/dev`, `/sys`, before `pivot_root`), then `--read-only` and
//! `--ulimit`.
//!
//! A destination is resolved *inside* the root ([`resolve_in_root`]): each component is
//! looked up without following it, and a symlink's target is resolved again from the root
//! (an absolute one) or from where it is (`..` stops at the root), as `RESOLVE_IN_ROOT` and
//! securejoin do. Nothing else runs in the container yet, so the walk cannot be raced.
//! Missing components are made (directories, or an empty file for a file's mount), which
//! writes them into the overlay's upper layer or the `vfs` copy.
//!
//! `:O` mounts a kernel overlay (allowed in a user namespace since Linux 5.11, with
//! `userxattr`) whose upper and work directories live on a scratch tmpfs mounted outside the
//! root in the init's own mount namespace: after `pivot_root` only the overlay holds it, and
//! the writes go when the container does. `tmpcopyup` fills a new tmpfs there before moving
//! it onto its destination.

use std::ffi::OsString;
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::mount::MsFlags;

use super::copy::{self, CopyError};
use super::{Mount, MountFlags, MountKind, Propagation, Storage, Ulimit, parse::Resource};
use crate::runtime::mounts::{MountFailure, Result, bind, fail, io_fail, remount_bind};
use crate::runtime::user::{self, UserSpec};

fn copy_fail(e: CopyError) -> MountFailure {
    io_fail(format!("{} {}", e.what, e.path.display()))(e.source)
}

/// The most symlinks one resolution follows (the kernel's `MAXSYMLINKS`).
const MAX_LINKS: usize = 40;

/// What to make when a destination's last component is missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Make {
    Nothing,
    Dir,
    File,
}

/// The host path of the container path `path` below `root`, every symlink resolved inside
/// `root`; missing components are created (directories, and the last as `last` says).
pub fn resolve_in_root(root: &Path, path: &str, last: Make) -> io::Result<PathBuf> {
    let mut resolved = PathBuf::new();
    let mut pending: Vec<OsString> = components(Path::new(path));
    pending.reverse();
    let mut links = 0;
    while let Some(part) = pending.pop() {
        if part == ".." {
            resolved.pop();
            continue;
        }
        let here = root.join(&resolved).join(&part);
        match fs::symlink_metadata(&here) {
            Ok(m) if m.file_type().is_symlink() => {
                links += 1;
                if links > MAX_LINKS {
                    return Err(io::Error::from_raw_os_error(libc::ELOOP));
                }
                let target = fs::read_link(&here)?;
                if target.is_absolute() {
                    resolved.clear();
                }
                let mut more = components(&target);
                more.reverse();
                pending.extend(more);
            }
            Ok(_) => resolved.push(&part),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let is_last = pending.is_empty();
                match (is_last, last) {
                    (true, Make::Nothing) => return Err(e),
                    (true, Make::File) => {
                        fs::File::create_new(&here)?;
                    }
                    _ => {
                        fs::create_dir(&here)?;
                        use std::os::unix::fs::PermissionsExt as _;
                        fs::set_permissions(&here, fs::Permissions::from_mode(0o755))?;
                    }
                }
                resolved.push(&part);
            }
            Err(e) => return Err(e),
        }
    }
    Ok(root.join(resolved))
}

fn components(p: &Path) -> Vec<OsString> {
    p.components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_os_string()),
            Component::ParentDir => Some(OsString::from("..")),
            _ => None,
        })
        .collect()
}

/// Mounts `storage`'s mounts below `rootfs`, then makes the root read-only and sets the
/// limits. `user` is the container's `user[:group]` (for `:U`).
pub fn setup(rootfs: &Path, storage: &Storage, user: &str) -> Result<()> {
    let mut scratch_mounted = false;
    let mut owner = None;
    for (i, m) in storage.mounts.iter().enumerate() {
        if m.chown && owner.is_none() {
            owner = Some(container_user(rootfs, user)?);
        }
        let mut scratch = |name: &str| -> Result<PathBuf> {
            if !scratch_mounted {
                fs::create_dir_all(&storage.scratch)
                    .map_err(io_fail(format!("creating {}", storage.scratch.display())))?;
                mount(
                    Some("tmpfs"),
                    &storage.scratch,
                    Some("tmpfs"),
                    MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
                    Some("mode=0700"),
                )?;
                scratch_mounted = true;
            }
            let dir = storage.scratch.join(format!("{name}{i}"));
            fs::create_dir(&dir).map_err(io_fail(format!("creating {}", dir.display())))?;
            Ok(dir)
        };
        mount_one(rootfs, m, owner, &mut scratch)?;
    }
    if storage.read_only {
        remount(
            rootfs,
            MountFlags {
                read_only: true,
                ..MountFlags::default()
            },
        )?;
    }
    for u in &storage.ulimits {
        set_ulimit(u)?;
    }
    Ok(())
}

/// The container's uid and gid for `user`, from the root's own `/etc/passwd` and `/etc/group`.
fn container_user(rootfs: &Path, user: &str) -> Result<(u32, u32)> {
    let read = |p: &str| {
        resolve_in_root(rootfs, p, Make::Nothing)
            .and_then(fs::read_to_string)
            .unwrap_or_default()
    };
    let resolved = UserSpec::parse(user)
        .and_then(|u| user::resolve(&u, &read("/etc/passwd"), &read("/etc/group")))
        .map_err(|e| MountFailure {
            detail: format!("finding the owner for :U: {e}"),
            errno: Errno::EINVAL,
        })?;
    Ok((resolved.uid, resolved.gid))
}

fn mount_one(
    rootfs: &Path,
    m: &Mount,
    owner: Option<(u32, u32)>,
    scratch: &mut dyn FnMut(&str) -> Result<PathBuf>,
) -> Result<()> {
    let make = match &m.kind {
        MountKind::Bind { source, .. } if !source.is_dir() => Make::File,
        MountKind::Device { .. } => Make::File,
        _ => Make::Dir,
    };
    let target = resolve_in_root(rootfs, &m.destination, make).map_err(io_fail(format!(
        "making the mount point {} in the container",
        m.destination
    )))?;
    let chown = |path: &Path| -> Result<()> {
        match (m.chown, owner) {
            (true, Some((uid, gid))) => copy::chown_tree(path, uid, gid).map_err(copy_fail),
            _ => Ok(()),
        }
    };
    let mut remount_flags = m.flags;
    match &m.kind {
        MountKind::Bind { source, recursive } => {
            chown(source)?;
            let rec = if *recursive {
                MsFlags::MS_REC
            } else {
                MsFlags::empty()
            };
            bind(source, &target, rec)?;
        }
        MountKind::Volume {
            source, copy_up, ..
        } => {
            let empty = |p: &Path| copy::is_empty_dir(p).map_err(copy_fail);
            if *copy_up && empty(source)? && !empty(&target)? {
                copy::copy_tree(&target, source).map_err(copy_fail)?;
            }
            chown(source)?;
            bind(source, &target, MsFlags::MS_REC)?;
        }
        MountKind::Device { source } => bind(source, &target, MsFlags::empty())?,
        MountKind::Overlay { lower } => {
            let dir = scratch("overlay")?;
            let (upper, work) = (dir.join("upper"), dir.join("work"));
            for d in [&upper, &work] {
                fs::create_dir(d).map_err(io_fail(format!("creating {}", d.display())))?;
            }
            let data = format!(
                "lowerdir={},upperdir={},workdir={},userxattr",
                overlay_path(lower),
                overlay_path(&upper),
                overlay_path(&work)
            );
            mount(
                Some("overlay"),
                &target,
                Some("overlay"),
                MsFlags::empty(),
                Some(&data),
            )
            .map_err(|f| MountFailure {
                detail: format!("{} (an overlay of {})", f.detail, lower.display()),
                ..f
            })?;
        }
        MountKind::Tmpfs { data, copy_up } => {
            let flags = ms_flags(m.flags);
            if *copy_up && !copy::is_empty_dir(&target).map_err(copy_fail)? {
                // Filled at a private place first, then moved over the image's directory.
                let place = scratch("tmpfs")?;
                mount(
                    Some("tmpfs"),
                    &place,
                    Some("tmpfs"),
                    flags & !MsFlags::MS_RDONLY,
                    Some(data),
                )?;
                copy::copy_tree(&target, &place).map_err(copy_fail)?;
                if m.flags.read_only {
                    remount(&place, m.flags)?;
                }
                nix::mount::mount(
                    Some(&place),
                    &target,
                    None::<&str>,
                    MsFlags::MS_MOVE,
                    None::<&str>,
                )
                .map_err(fail(format!("moving a tmpfs onto {}", m.destination)))?;
            } else {
                mount(Some("tmpfs"), &target, Some("tmpfs"), flags, Some(data))?;
            }
            remount_flags = MountFlags::default();
        }
        MountKind::Devpts { data } => {
            mount(
                Some("devpts"),
                &target,
                Some("devpts"),
                ms_flags(m.flags),
                Some(data),
            )?;
            remount_flags = MountFlags::default();
        }
    }
    if remount_flags != MountFlags::default() {
        remount(&target, remount_flags)?;
    }
    if let Some(p) = m.propagation {
        let flags = match p {
            Propagation::Shared => MsFlags::MS_SHARED,
            Propagation::Slave => MsFlags::MS_SLAVE,
            Propagation::Private => MsFlags::MS_PRIVATE,
            Propagation::Unbindable => MsFlags::MS_UNBINDABLE,
            Propagation::Rshared => MsFlags::MS_SHARED | MsFlags::MS_REC,
            Propagation::Rslave => MsFlags::MS_SLAVE | MsFlags::MS_REC,
            Propagation::Rprivate => MsFlags::MS_PRIVATE | MsFlags::MS_REC,
            Propagation::Runbindable => MsFlags::MS_UNBINDABLE | MsFlags::MS_REC,
        };
        nix::mount::mount(None::<&str>, &target, None::<&str>, flags, None::<&str>)
            .map_err(fail(format!("making {} {}", m.destination, p.name())))?;
    }
    Ok(())
}

/// An overlay option's path: `,` and `:` separate options and layers, `\` escapes them.
fn overlay_path(p: &Path) -> String {
    let mut s = String::new();
    for c in String::from_utf8_lossy(p.as_os_str().as_bytes()).chars() {
        if matches!(c, ',' | ':' | '\\') {
            s.push('\\');
        }
        s.push(c);
    }
    s
}

fn ms_flags(f: MountFlags) -> MsFlags {
    let mut flags = MsFlags::empty();
    for (on, flag) in [
        (f.read_only, MsFlags::MS_RDONLY),
        (f.nosuid, MsFlags::MS_NOSUID),
        (f.nodev, MsFlags::MS_NODEV),
        (f.noexec, MsFlags::MS_NOEXEC),
    ] {
        if on {
            flags |= flag;
        }
    }
    flags
}

fn mount(
    source: Option<&str>,
    target: &Path,
    fstype: Option<&str>,
    flags: MsFlags,
    data: Option<&str>,
) -> Result<()> {
    nix::mount::mount(source, target, fstype, flags, data).map_err(fail(format!(
        "mounting {} on {}",
        fstype.or(source).unwrap_or("?"),
        target.display()
    )))
}

/// Remounts the bind mount `target` with `flags` added (the locked ones kept).
fn remount(target: &Path, flags: MountFlags) -> Result<()> {
    remount_bind(target, ms_flags(flags))
}

fn rustix_resource(r: Resource) -> rustix::process::Resource {
    use rustix::process::Resource as R;
    match r {
        Resource::As => R::As,
        Resource::Core => R::Core,
        Resource::Cpu => R::Cpu,
        Resource::Data => R::Data,
        Resource::Fsize => R::Fsize,
        Resource::Locks => R::Locks,
        Resource::Memlock => R::Memlock,
        Resource::Msgqueue => R::Msgqueue,
        Resource::Nice => R::Nice,
        Resource::Nofile => R::Nofile,
        Resource::Nproc => R::Nproc,
        Resource::Rss => R::Rss,
        Resource::Rtprio => R::Rtprio,
        Resource::Rttime => R::Rttime,
        Resource::Sigpending => R::Sigpending,
        Resource::Stack => R::Stack,
    }
}

/// The hard limit coracle itself has for `r` (`None`: unlimited).
pub fn hard_limit(r: Resource) -> Option<u64> {
    rustix::process::getrlimit(rustix_resource(r)).maximum
}

fn set_ulimit(u: &Ulimit) -> Result<()> {
    let limit = rustix::process::Rlimit {
        current: u.soft,
        maximum: u.hard,
    };
    rustix::process::setrlimit(rustix_resource(u.resource), limit).map_err(|e| MountFailure {
        detail: format!("setting the {} limit (--ulimit)", u.resource.name()),
        errno: Errno::from_raw(e.raw_os_error()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symlinks_stay_inside_the_root() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        fs::create_dir_all(root.join("real")).unwrap();
        std::os::unix::fs::symlink("/", root.join("abs")).unwrap();
        std::os::unix::fs::symlink("../../../..", root.join("up")).unwrap();
        std::os::unix::fs::symlink("/real", root.join("toreal")).unwrap();
        std::os::unix::fs::symlink("loop", root.join("loop")).unwrap();
        let r = |p: &str, m| resolve_in_root(&root, p, m);
        assert_eq!(r("/abs/etc/x", Make::Dir).unwrap(), root.join("etc/x"));
        assert!(root.join("etc/x").is_dir());
        assert_eq!(r("/up/tmp", Make::File).unwrap(), root.join("tmp"));
        assert!(root.join("tmp").is_file());
        assert_eq!(r("/toreal/a", Make::Dir).unwrap(), root.join("real/a"));
        assert_eq!(
            r("/real/../real", Make::Nothing).unwrap(),
            root.join("real")
        );
        assert!(r("/missing", Make::Nothing).is_err());
        assert_eq!(
            r("/loop", Make::Dir).unwrap_err().raw_os_error(),
            Some(libc::ELOOP)
        );
    }

    #[test]
    fn overlay_paths_are_escaped() {
        assert_eq!(overlay_path(Path::new("/a,b:c")), "/a\\,b\\:c");
    }
}
