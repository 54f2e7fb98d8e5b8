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

/// Room for the attribute's value: a `u64` in decimal.
pub(crate) const VALUE_MAX: usize = 24;

/// The number in an attribute value (a malformed one is none).
pub(crate) fn decode(value: &[u8]) -> Option<u64> {
    std::str::from_utf8(value).ok()?.parse().ok()
}

/// The number stored on `fd`, if any (a malformed value counts as none: the entry then shows
/// its own backing number).
pub(crate) fn read(fd: impl AsFd) -> Result<Option<u64>> {
    let mut buf = [0u8; VALUE_MAX];
    match rustix::fs::fgetxattr(fd, ORIGIN_XATTR, &mut buf[..]) {
        Ok(n) => Ok(decode(buf.get(..n).unwrap_or_default())),
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
