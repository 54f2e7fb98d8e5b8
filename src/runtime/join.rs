//! Entering a running container: its init (the container's PID 1, a child of its monitor)
//! found from the record and held by a pidfd, and its namespaces joined with one
//! `setns(pidfd, flags)` from a forked, single-threaded process (setns(2): joining a user
//! namespace is refused to a multi-threaded process).
//!
//! The record names the init by a bare pid. It is trusted only as a child of the monitor
//! the record names (pid and start time): the monitor forks nothing else, and a pid is
//! free for reuse only once the monitor reaped the init. So: pidfd first, then the parent
//! and the monitor checked; the pidfd then names the init for good, and `setns` through it
//! fails (`ESRCH`) if the init has ended since.
//!
//! With `pidfd` the kernel joins the user namespace first and the others with the
//! credentials gained there, all at once. A namespace the container shares with the caller
//! (root's containers have no user namespace; `--network host` keeps the host's network) is
//! left out: joining one's own user namespace is `EINVAL`, and the host's network
//! namespace belongs to a user namespace the caller has no rights in.

use std::error::Error as _;
use std::fs::{self, File};
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::fs::MetadataExt as _;

use nix::errno::Errno;
use nix::sched::CloneFlags;
use nix::unistd::Pid;

use super::channel::{self, Report, Step};
use super::spec::{ContainerSpec, RootFs};
use super::userns::{self, ChildExit, NamespacedChild, SignalRelay, UserNsError, wait_relaying};
use crate::archive::DIFF_DIR;
use crate::overlay::{self, Overlay, OverlayConfig};
use crate::store::containers::{ContainerRecord, State};
use crate::sys::process::{ForkError, Forked, ProcessIdentity, exit_child, fork, fork_again};

/// The namespaces a container has, with their `/proc/PID/ns` names.
const NAMESPACES: [(&str, CloneFlags); 6] = [
    ("user", CloneFlags::CLONE_NEWUSER),
    ("mnt", CloneFlags::CLONE_NEWNS),
    ("pid", CloneFlags::CLONE_NEWPID),
    ("uts", CloneFlags::CLONE_NEWUTS),
    ("ipc", CloneFlags::CLONE_NEWIPC),
    ("net", CloneFlags::CLONE_NEWNET),
];

#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    /// Podman's message for a container that does not run.
    #[error("can only create exec sessions on running containers: container state improper")]
    NotRunning,
    #[error("opening a pidfd for the container's process {pid}")]
    Pidfd {
        pid: i32,
        #[source]
        source: io::Error,
    },
    #[error("starting a process in the container")]
    Fork(#[source] ForkError),
    #[error("entering the container's root file system")]
    UserNs(#[source] UserNsError),
    #[error("reading {path}")]
    Proc {
        path: String,
        #[source]
        source: io::Error,
    },
}

/// The init of a running container, held by a pidfd.
#[derive(Debug)]
pub struct ContainerInit {
    pub pid: i32,
    monitor_pid: i32,
    pidfd: OwnedFd,
}

/// The init of the container `rec` describes, if it runs ([`JoinError::NotRunning`]
/// otherwise).
pub fn find_init(rec: &ContainerRecord) -> Result<ContainerInit, JoinError> {
    let (Some(pid), Some(monitor_pid), Some(monitor_start)) =
        (rec.pid, rec.monitor_pid, rec.monitor_start)
    else {
        return Err(JoinError::NotRunning);
    };
    if rec.state != State::Running {
        return Err(JoinError::NotRunning);
    }
    let monitor = ProcessIdentity {
        pid: monitor_pid,
        start_time: monitor_start,
    };
    let Some(raw) = rustix::process::Pid::from_raw(pid) else {
        return Err(JoinError::NotRunning);
    };
    let pidfd = match rustix::process::pidfd_open(raw, rustix::process::PidfdFlags::empty()) {
        Ok(fd) => fd,
        Err(rustix::io::Errno::SRCH) => return Err(JoinError::NotRunning),
        Err(e) => {
            return Err(JoinError::Pidfd {
                pid,
                source: e.into(),
            });
        }
    };
    // After the pidfd: if `pid` is still the monitor's living child, the pidfd is the init.
    let (state, parent) = match stat_state_parent(pid) {
        Ok(s) => s,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(JoinError::NotRunning),
        Err(source) => {
            return Err(JoinError::Proc {
                path: format!("/proc/{pid}/stat"),
                source,
            });
        }
    };
    if parent != monitor_pid || !monitor.is_alive() || matches!(state, 'Z' | 'X') {
        return Err(JoinError::NotRunning);
    }
    Ok(ContainerInit {
        pid,
        monitor_pid,
        pidfd,
    })
}

/// The state letter and parent pid of `pid` (fields 3 and 4 of `/proc/PID/stat`, counted
/// after the command name's last `)`).
fn stat_state_parent(pid: i32) -> io::Result<(char, i32)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    parse_state_parent(&text).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("unexpected contents of /proc/{pid}/stat"),
        )
    })
}

fn parse_state_parent(text: &str) -> Option<(char, i32)> {
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_ascii_whitespace();
    let state = fields.next()?.chars().next()?;
    let parent = fields.next()?.parse().ok()?;
    Some((state, parent))
}

impl ContainerInit {
    /// The namespaces of the init that the calling process is not in already.
    pub fn foreign_namespaces(&self) -> Result<CloneFlags, JoinError> {
        let mut flags = CloneFlags::empty();
        for (name, flag) in NAMESPACES {
            let theirs = format!("/proc/{}/ns/{name}", self.pid);
            let ours = format!("/proc/self/ns/{name}");
            let inode = |path: &str| {
                std::fs::metadata(path)
                    .map(|m| (m.dev(), m.ino()))
                    .map_err(|source| JoinError::Proc {
                        path: path.to_string(),
                        source,
                    })
            };
            if inode(&theirs)? != inode(&ours)? {
                flags |= flag;
            }
        }
        // The files were read by pid: make sure it was still the init.
        self.check_alive()?;
        Ok(flags)
    }

    /// `NoNewPrivs` of the init (`/proc/PID/status`): whether the container runs with
    /// `no_new_privs`, which its other processes then get too.
    pub fn no_new_privs(&self) -> Result<bool, JoinError> {
        let path = format!("/proc/{}/status", self.pid);
        let text = std::fs::read_to_string(&path).map_err(|source| JoinError::Proc {
            path: path.clone(),
            source,
        })?;
        self.check_alive()?;
        Ok(text
            .lines()
            .find_map(|l| l.strip_prefix("NoNewPrivs:"))
            .is_some_and(|v| v.trim() == "1"))
    }

    /// Fails with [`JoinError::NotRunning`] once `pid` is no longer the monitor's living
    /// child (what was read by pid before this was then not the init's).
    fn check_alive(&self) -> Result<(), JoinError> {
        match stat_state_parent(self.pid) {
            Ok((state, parent)) if parent == self.monitor_pid && !matches!(state, 'Z' | 'X') => {
                Ok(())
            }
            _ => Err(JoinError::NotRunning),
        }
    }

    /// Moves the calling process into the init's namespaces `flags` (the PID namespace only
    /// for the children it forks next). The caller must be single-threaded.
    pub fn join(&self, flags: CloneFlags) -> Result<(), Errno> {
        nix::sched::setns(&self.pidfd, flags)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parent_from_stat() {
        let line = "42 (a) b (c) S 7 42 42 0 -1 4194560";
        assert_eq!(parse_state_parent(line), Some(('S', 7)));
        assert_eq!(parse_state_parent("42 (x) Z"), None);
    }

    #[test]
    fn a_stopped_record_is_not_running() {
        let rec: ContainerRecord = serde_json::from_value(serde_json::json!({
            "id": "a".repeat(64), "names": ["x"], "image": "busybox",
            "image_id": format!("sha256:{}", "b".repeat(64)), "command": ["sh"],
            "created": "2024-01-01T00:00:00Z", "state": "exited", "driver": "vfs"
        }))
        .unwrap();
        assert!(matches!(find_init(&rec), Err(JoinError::NotRunning)));
    }
}

/// Where a container's root file system is reached from.
#[derive(Debug)]
pub enum Root<'a> {
    /// A running container: its mount namespace (and user namespace), joined.
    Running(&'a ContainerInit),
    /// A container that does not run: its root file system (the `vfs` copy, or coracle's
    /// overlay mounted for the occasion) in a new user namespace of the container's mapping.
    Stopped(&'a ContainerSpec),
}

/// A child process whose root is a container's root ([`enter_root`]).
#[derive(Debug)]
pub enum RootChild {
    Joined(Pid),
    Namespaced(NamespacedChild),
}

impl RootChild {
    /// Waits for the child; its exit.
    pub fn wait(self, relay: &SignalRelay) -> Result<ChildExit, UserNsError> {
        match self {
            RootChild::Joined(pid) => wait_relaying(pid, relay, false),
            RootChild::Namespaced(mut child) => child.wait(relay),
        }
    }
}

/// Runs `body` in a child process whose root (and working directory) is the container's
/// root, as the container's root user. A failure of `body` or of getting there goes to
/// `report` (the child exits 125); success exits 0. Call single-threaded.
pub fn enter_root<F>(root: Root<'_>, report: File, body: F) -> Result<RootChild, JoinError>
where
    F: FnOnce() -> Result<(), Report>,
{
    let finish = move |mut report: File, result: Result<(), Report>| -> i32 {
        match result {
            Ok(()) => 0,
            Err(r) => {
                let _ = channel::send(&mut report, &r);
                125
            }
        }
    };
    match root {
        Root::Running(init) => {
            let flags =
                init.foreign_namespaces()? & (CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWNS);
            match fork().map_err(JoinError::Fork)? {
                Forked::Child => {
                    let result = init
                        .join(flags)
                        .map_err(|e| {
                            Report::failed(Step::Join, e, format!("setns to {}", init.pid))
                        })
                        .and_then(|()| {
                            nix::unistd::chdir("/")
                                .map_err(|e| Report::failed(Step::Join, e, "entering /"))
                        })
                        .and_then(|()| body());
                    exit_child(finish(report, result))
                }
                Forked::Parent(pid) => Ok(RootChild::Joined(pid)),
            }
        }
        Root::Stopped(spec) => {
            let spec = spec.clone();
            let child = userns::spawn_process(&spec.mapping.clone(), move || {
                let result = in_stopped_root(&spec, &report, body);
                finish(report, result)
            })
            .map_err(JoinError::UserNs)?;
            Ok(RootChild::Namespaced(child))
        }
    }
}

/// In a new user and mount namespace: `body` chrooted into the stopped container's root.
fn in_stopped_root<F>(spec: &ContainerSpec, report: &File, body: F) -> Result<(), Report>
where
    F: FnOnce() -> Result<(), Report>,
{
    let chroot = |root: &std::path::Path| {
        nix::unistd::chroot(root)
            .and_then(|()| nix::unistd::chdir("/"))
            .map_err(|e| Report::failed(Step::Join, e, format!("chroot to {}", root.display())))
    };
    let RootFs::Overlay { upper, work } = &spec.root_kind else {
        // A container never started has no copy yet: made now as its first start would
        // (which then keeps it), so that `cp` into a created container works as in Podman.
        if !spec.rootfs.exists() {
            super::rootfs::build(&spec.layers, &spec.rootfs, &spec.mapping).map_err(|e| {
                // Half a copy would be taken for a whole one by the next start.
                let _ = super::rootfs::remove(&spec.rootfs);
                Report::Failed {
                    step: Step::Rootfs,
                    errno: e.source.raw_os_error().unwrap_or(0),
                    detail: e.to_string(),
                }
            })?;
        }
        chroot(&spec.rootfs)?;
        return body();
    };
    for dir in [upper, work, &spec.rootfs] {
        fs::create_dir_all(dir)
            .map_err(|e| Report::failed_io(Step::Rootfs, &e, dir.display().to_string()))?;
    }
    let config = OverlayConfig {
        lowers: spec.layers.iter().rev().map(|l| l.join(DIFF_DIR)).collect(),
        upper: Some(upper.clone()),
        work: Some(work.clone()),
        threads: 1,
    };
    let session = Overlay::new(&config)
        .and_then(|fs| overlay::mount(fs, &spec.rootfs, 1))
        .map_err(|e| Report::Failed {
            step: Step::Rootfs,
            errno: 0,
            detail: format!(
                "{e}: {}",
                e.source().map(|s| s.to_string()).unwrap_or_default()
            ),
        })?;
    // The worker forks before the server's thread starts (no fork after threads).
    let worker = match fork_again().map_err(|e| Report::Failed {
        step: Step::Join,
        errno: 0,
        detail: e.to_string(),
    })? {
        Forked::Child => {
            // Dropping the session here would unmount it for the server too.
            std::mem::forget(session);
            // Nor may the worker hold the FUSE device: if the server died, the kernel would
            // keep the connection (and the worker, blocked on it) alive forever.
            let _ = crate::sys::process::close_device_fds("/dev/fuse");
            let result = chroot(&spec.rootfs).and_then(|()| body());
            exit_child(match result {
                Ok(()) => 0,
                Err(r) => {
                    if let Ok(mut to) = report.try_clone() {
                        let _ = channel::send(&mut to, &r);
                    }
                    125
                }
            })
        }
        Forked::Parent(pid) => pid,
    };
    let background = session.spawn().map_err(|e| {
        let _ = nix::sys::signal::kill(worker, nix::sys::signal::Signal::SIGKILL);
        Report::failed_io(Step::Rootfs, &e, "serving the overlay")
    })?;
    let status = loop {
        match nix::sys::wait::waitpid(worker, None) {
            Err(Errno::EINTR) => continue,
            other => break other,
        }
    };
    let unmounted = background.umount_and_join();
    unmounted.map_err(|e| {
        Report::failed_io(
            Step::Cleanup,
            &e,
            format!("unmounting {}", spec.rootfs.display()),
        )
    })?;
    match status {
        // The worker reported its own failure.
        Ok(nix::sys::wait::WaitStatus::Exited(_, 0 | 125)) => Ok(()),
        _ => Err(Report::Failed {
            step: Step::Join,
            errno: 0,
            detail: format!("the process in the container's root file system ended: {status:?}"),
        }),
    }
}
