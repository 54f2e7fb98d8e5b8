//! Inode numbers that survive a remount: an entry copied up keeps the number of its lower
//! origin, so the number is written on the upper copy (`user.coracle.origin`, coracle's
//! reserved namespace: neither visible inside the container nor carried by `commit`) and read
//! back by the next mount's lookups, as kernel overlay does with `xino` and its
//! `trusted.overlay.origin` file handle. Everything else shows its backing inode number
//! (`nodes`), which the backing filesystem keeps. Symlinks cannot carry `user.*` attributes:
//! a copied-up symlink shows its upper inode number after a remount.

use std::os::fd::AsFd;

use rustix::fs::XattrFlags;
use rustix::io::Errno as Sys;

use super::{Result, errno};

/// The attribute holding the number an upper copy shows (decimal).
pub(crate) const ORIGIN_XATTR: &str = "user.coracle.origin";

/// The number stored on `fd`, if any (a malformed value counts as none: the entry then shows
/// its own backing number).
pub(crate) fn read(fd: impl AsFd) -> Result<Option<u64>> {
    let mut buf = [0u8; 24];
    match rustix::fs::fgetxattr(fd, ORIGIN_XATTR, &mut buf[..]) {
        Ok(n) => Ok(std::str::from_utf8(&buf[..n])
            .ok()
            .and_then(|s| s.parse().ok())),
        Err(Sys::NODATA | Sys::OPNOTSUPP | Sys::RANGE) => Ok(None),
        Err(e) => Err(errno(e)),
    }
}

/// Stores `number` on the upper copy `fd`.
pub(crate) fn write(fd: impl AsFd, number: u64) -> Result<()> {
    rustix::fs::fsetxattr(
        fd,
        ORIGIN_XATTR,
        number.to_string().as_bytes(),
        XattrFlags::empty(),
    )
    .map_err(errno)
}
