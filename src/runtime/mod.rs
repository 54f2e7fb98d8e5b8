//! The container runtime: id maps and namespaced processes (more to come: spec, sync
//! channel, launch, init, mounts, monitor, exec, network).
//!
//! - `idmap`: the mapping of coracle's user namespaces, from `/etc/subuid`/`/etc/subgid`.
//! - `userns`: a child forked into a new user + mount namespace with that mapping, its maps
//!   written from outside, its `execve` errno carried back.

pub mod idmap;
pub mod userns;

use nix::errno::Errno;

use crate::error::ExitStatus;

pub use idmap::{IdMap, IdMapEntry, UserMapping};
pub use userns::{ChildExit, NamespacedChild, SignalRelay, UserNsError};

/// The exit status for a command whose `execve` failed with `errno`, as Podman documents it:
/// 127 when it does not exist, 126 when it exists but cannot be invoked (a directory, no
/// execute permission, not an executable format...).
pub fn exec_failure_status(errno: Errno) -> u8 {
    match errno {
        Errno::ENOENT | Errno::ENOTDIR => ExitStatus::NOT_FOUND,
        _ => ExitStatus::CANNOT_INVOKE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_errnos_to_statuses() {
        let cases = [
            (Errno::ENOENT, 127),
            (Errno::ENOTDIR, 127),
            (Errno::EACCES, 126),
            (Errno::EPERM, 126),
            (Errno::ENOEXEC, 126),
            (Errno::EISDIR, 126),
            (Errno::ELOOP, 126),
        ];
        for (errno, status) in cases {
            assert_eq!(exec_failure_status(errno), status, "{errno}");
        }
    }
}
