//! The container runtime: id maps, namespaced processes, containers and their monitors,
//! exec, volumes, the network helper, health checks.
//!
//! - `idmap`: the mapping of coracle's user namespaces, from `/etc/subuid`/`/etc/subgid`.
//! - `userns`: a child forked into a new user + mount namespace with that mapping, its maps
//!   written from outside, its `execve` errno carried back.
//! - `spec`: what a container runs (Entrypoint/Cmd, environment, working directory, user),
//!   from the image's config and the command line; `user`: `-u` against `/etc/passwd`.
//! - `channel`: typed reports up the pipes init → monitor → command.
//! - `monitor`: the container's monitor (root file system, init, waiting, restarts, `--rm`);
//!   `relay`: its poll loop over the container's streams, the log and attached clients;
//!   `attach`: the protocol on its socket and the client side (`run`, `start -a`, `attach`);
//!   `terminal`: raw mode, window sizes, detach keys; `console`: a terminal's master passed
//!   from the init; `logs`: the `k8s-file` log; `lifecycle`: `-t`, `--log-*`, `--restart`;
//!   `rootfs`: the `vfs` copy of the layers; `init`: the container's PID 1 until it execs;
//!   `mounts`: `/proc`, `/dev`, `/sys`, `/etc` files and `pivot_root`; `security`:
//!   capabilities, masked and read-only paths, seccomp.
//! - `network`: `--network`, published ports, `/etc/hosts` and `/etc/resolv.conf`, and the
//!   helper (pasta, slirp4netns) the monitor starts against the init's network namespace.
//!
//! Processes of `coracle run` (DESIGN.md, process model):
//!
//! ```text
//! coracle run (the command, outside: resolves the image, writes the record, forks the
//!  │           monitor, reads its reports, attaches to it unless -d, then ends)
//!  └─ coracle:monitor   setsid, outlives the command; user + mount namespace, container
//!      │                root: builds the root fs, holds the container's stdio (pipes or a
//!      │                pty master) and the attach socket, writes the log, relays signals,
//!      │                reaps, records the exit, restarts, removes the container (--rm)
//!      └─ coracle:init  new mount, PID, UTS, IPC (+ network) namespaces, PID 1, dies with
//!                       the monitor: mounts, pivot_root, user, stdio, exec -> the command
//! ```

pub mod attach;
pub mod cgroups;
pub mod channel;
pub mod console;
pub mod container_user;
pub mod control;
pub mod copy;
pub mod exec;
pub mod health;
pub mod idmap;
pub mod init;
pub mod init_process;
pub mod join;
pub mod lifecycle;
pub mod logs;
pub mod monitor;
pub mod monitor_lock;
pub mod mounts;
pub mod network;
pub mod relay;
pub mod rootfs;
pub mod sdnotify;
pub mod security;
pub mod signals;
pub mod spec;
pub mod terminal;
pub mod user;
pub mod userns;
pub mod volumes;

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
