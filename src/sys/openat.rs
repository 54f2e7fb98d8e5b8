//! `openat2(2)` with the retry its resolve restrictions need.

use std::os::fd::{AsFd, OwnedFd};

use rustix::fs::{Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

/// `openat2` retrying `EAGAIN`, which the kernel returns for `RESOLVE_BENEATH`/`IN_ROOT`
/// lookups that walk `..` while a rename or a mount happens anywhere on the system — common
/// when containers start side by side. An empty path is `.`.
pub fn openat2_retry<Fd: AsFd>(
    dirfd: Fd,
    path: &[u8],
    flags: OFlags,
    resolve: ResolveFlags,
) -> Result<OwnedFd, Errno> {
    let path: &[u8] = if path.is_empty() { b"." } else { path };
    let mut tries = 0;
    loop {
        match rustix::fs::openat2(dirfd.as_fd(), path, flags, Mode::empty(), resolve) {
            Err(Errno::AGAIN) if tries < 64 => tries += 1,
            other => return other,
        }
    }
}
