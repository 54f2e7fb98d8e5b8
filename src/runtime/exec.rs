//! `exec`: a process started in a running container.
//!
//! ```text
//! coracle exec (the command: finds the init, blocks the relayed signals, forks)
//!  └─ joiner     setns(pidfd of the init): user, mount, PID, UTS, IPC, network;
//!      │         relays signals to its child, exits with its status (128 + signal)
//!      └─ process  forked after setns(PID): in the container's PID namespace (so it dies
//!                  with the container's PID 1); the user from the container's own
//!                  /etc/passwd and /etc/group, working directory, capabilities,
//!                  no_new_privs as the init has it, seccomp, exec
//! ```
//!
//! The PID namespace of `setns` applies only to children (setns(2)), hence the second fork.
//! The credentials are switched by `security::confine`, as the init switches its own. Failures
//! travel to the command as [`Report`]s on a close-on-exec pipe that both children hold
//! (end of file: the exec happened); an `execve` failure carries its errno, from which the
//! command picks 126 or 127.

use std::convert::Infallible;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd as _, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt as _;
use std::process::Command;

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sched::CloneFlags;
use nix::sys::signal::{SigSet, SigmaskHow};
use nix::unistd::Pid;

use super::channel::{self, Report, Step, StepError};
use super::console;
use super::container_user;
use super::exec_failure_status;
use super::idmap::UserMapping;
use super::join::ContainerInit;
use super::lifecycle::DetachKeys;
use super::security::{self, Security};
use super::spec::Environment;
use super::userns::{ChildExit, SignalRelay, UserNsError, wait_relaying};
pub use tty::TtyEnd;

mod tty;

use crate::sys::process::{ForkError, Forked, cloexec_from, exit_child, fork, fork_again};

/// What to run in the container, and as whom.
#[derive(Debug, Clone)]
pub struct ExecProcess {
    pub args: Vec<String>,
    pub env: Environment,
    pub cwd: String,
    /// `user[:group]` (empty: root), resolved with the container's files.
    pub user: String,
    pub security: Security,
    /// Whether the container's init has `no_new_privs` (then this process gets it too).
    pub no_new_privs: bool,
    /// `--group-add` of the container.
    pub group_add: Vec<String>,
    /// The container's user namespace mapping (which supplementary groups exist there).
    pub mapping: UserMapping,
    /// `-i`: standard input stays the command's; else `/dev/null`.
    pub interactive: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("creating a pipe for the exec'd process")]
    Pipe(#[source] io::Error),
    #[error("starting a process in the container")]
    Fork(#[source] ForkError),
    #[error("reading the exec'd process's report")]
    Channel(#[source] io::Error),
    #[error(transparent)]
    Step(StepError),
    /// The command's `execve` failed; [`exec_failure_status`] gives 126 or 127.
    #[error("{program}: {}", exec_message(*.errno, .program))]
    Exec { program: String, errno: Errno },
    #[error("waiting for the exec'd process")]
    Wait(#[source] UserNsError),
    #[error("relaying the terminal of the exec'd process")]
    Terminal(#[source] io::Error),
}

fn exec_message(errno: Errno, program: &str) -> String {
    if errno == Errno::ENOENT && !program.contains('/') {
        "executable file not found in $PATH".into()
    } else {
        errno.desc().into()
    }
}

impl ExecError {
    /// 126 or 127 for a failed `execve`.
    pub fn exec_status(&self) -> Option<u8> {
        match self {
            ExecError::Exec { errno, .. } => Some(exec_failure_status(*errno)),
            _ => None,
        }
    }
}

/// The joiner of a started exec, not yet waited for.
#[derive(Debug)]
pub struct ExecChild {
    pid: Pid,
    /// The master of the process's terminal (`-t`).
    master: Option<OwnedFd>,
}

impl ExecChild {
    /// Waits for the process to end (relaying the signals `relay` holds); its exit.
    pub fn wait(self, relay: &SignalRelay) -> Result<ChildExit, ExecError> {
        wait_relaying(self.pid, relay, false).map_err(ExecError::Wait)
    }

    /// Relays the user's terminal (standard streams) to the process's terminal until the
    /// process ends or the detach keys are typed (`stdin`: input is relayed too). Without a
    /// terminal, as [`ExecChild::wait`].
    pub fn relay_terminal(
        self,
        relay: &SignalRelay,
        stdin: bool,
        keys: &DetachKeys,
    ) -> Result<TtyEnd, ExecError> {
        match self.master {
            Some(master) => tty::relay(self.pid, master, stdin, keys).map_err(ExecError::Terminal),
            None => wait_relaying(self.pid, relay, false)
                .map(TtyEnd::Exited)
                .map_err(ExecError::Wait),
        }
    }
}

/// How the process's standard streams are set up.
#[derive(Debug, Default)]
pub struct ExecIo<'a> {
    /// `-d`: the process gets a session of its own and this file (`/dev/null`) as its
    /// standard streams (or a terminal nobody reads, with `tty`), and nobody waits for it but
    /// the joiner.
    pub detached: Option<&'a File>,
    /// `-t`: a terminal of this initial size (rows, columns) where known.
    pub tty: Option<Option<(u16, u16)>>,
    /// `--preserve-fds`: descriptors 3 to 3+N-1 are passed on.
    pub preserve_fds: u32,
}

/// Starts `process` in the namespaces `flags` of `init` and returns once it exec'd (or why
/// it could not). `detached`: the process gets a session of its own and this file (`/dev/null`)
/// as its standard streams, and nobody waits for it but the joiner. Call single-threaded,
/// with `relay` blocking the relayed signals.
pub fn start(
    init: &ContainerInit,
    flags: CloneFlags,
    process: &ExecProcess,
    detached: Option<&File>,
    relay: &SignalRelay,
) -> Result<ExecChild, ExecError> {
    let io = ExecIo {
        detached,
        ..ExecIo::default()
    };
    start_with(init, flags, process, &io, relay)
}

/// [`start`] with the standard streams `io` asks for.
pub fn start_with(
    init: &ContainerInit,
    flags: CloneFlags,
    process: &ExecProcess,
    io: &ExecIo<'_>,
    relay: &SignalRelay,
) -> Result<ExecChild, ExecError> {
    let (rx, tx) = nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| ExecError::Pipe(e.into()))?;
    let (mut from_child, to_cli) = (File::from(rx), File::from(tx));
    // The joiner opens the terminal in the container and passes its master on here.
    let console = match io.tty {
        Some(_) => Some(UnixStream::pair().map_err(ExecError::Pipe)?),
        None => None,
    };
    let pid = match fork().map_err(ExecError::Fork)? {
        Forked::Child => {
            drop(from_child);
            let console = console.map(|(_, theirs)| theirs);
            joiner(init, flags, process, io, console, relay, to_cli)
        }
        Forked::Parent(pid) => pid,
    };
    drop(to_cli);
    let console = console.map(|(ours, _)| ours);
    let mut child = ExecChild { pid, master: None };
    let report = channel::recv(&mut from_child);
    let failure = match report {
        Ok(None) => match &console {
            // Sent before the process was forked, so it is there once the process exec'd.
            Some(sock) if io.detached.is_none() => match console::recv_fd(sock) {
                Ok(Some(master)) => {
                    child.master = Some(master);
                    // Held open until this command ends: the joiner drains the terminal
                    // once it sees it close (detached, or this command killed).
                    std::mem::forget(console);
                    return Ok(child);
                }
                Ok(None) => ExecError::Channel(io::Error::other("no terminal from the joiner")),
                Err(e) => ExecError::Channel(e),
            },
            _ => return Ok(child),
        },
        Ok(Some(Report::ExecFailed { errno })) => ExecError::Exec {
            program: process.args[0].clone(),
            errno: Errno::from_raw(errno),
        },
        Ok(Some(Report::Failed {
            step,
            errno,
            detail,
        })) => ExecError::Step(StepError {
            step,
            errno,
            detail,
        }),
        Ok(Some(other)) => {
            ExecError::Channel(io::Error::other(format!("unexpected report {other:?}")))
        }
        Err(e) => ExecError::Channel(e),
    };
    // It exits on its own after a report; reap it.
    let _ = child.wait(relay);
    Err(failure)
}

/// The first child: joins the namespaces, forks the process, waits for it. Never returns.
fn joiner(
    init: &ContainerInit,
    flags: CloneFlags,
    process: &ExecProcess,
    io: &ExecIo<'_>,
    console: Option<UnixStream>,
    relay: &SignalRelay,
    mut to_cli: File,
) -> ! {
    let detached = io.detached;
    // Not dumpable until the exec (which resets it): a process of the container must not
    // open `/proc/<pid>/exe` (this host binary) or our memory (CVE-2019-5736).
    let _ = nix::sys::prctl::set_dumpable(false);
    // Read in the host's /proc, before the container's mount namespace is joined.
    let has_terminal = crate::sys::session::has_controlling_terminal().unwrap_or(true);
    if let Err(errno) = init.join(flags) {
        let _ = channel::send(
            &mut to_cli,
            &Report::failed(Step::Join, errno, format!("setns to process {}", init.pid)),
        );
        exit_child(125);
    }
    if io.tty.is_some() || detached.is_some() || has_terminal {
        // Out of the command's session: the caller's terminal must not be the process's
        // controlling terminal (it could open /dev/tty and push keystrokes into the user's
        // shell with TIOCSTI), nor its signals (a hangup when it closes) reach a process the
        // user detached from; the command passes on what it receives itself. Without a
        // terminal (a health check, in a session of its own) the process stays in the
        // caller's process group, which is killed whole when the check runs out of time.
        if let Err(errno) = nix::unistd::setsid() {
            let _ = channel::send(
                &mut to_cli,
                &Report::failed(Step::Join, errno, "setsid for the exec'd process"),
            );
            exit_child(125);
        }
    }
    if let Some(null) = detached {
        // Off the command's output: whoever reads it waits for end of file.
        let _ = nix::unistd::dup2_stdin(null.as_fd());
        let _ = nix::unistd::dup2_stdout(null.as_fd());
        let _ = nix::unistd::dup2_stderr(null.as_fd());
    }
    // The terminal, opened in the container's own /dev/pts (its `ptmx`, as the init opens
    // one for `run -t`), so that the process sees a terminal of the container.
    let master = match (&io.tty, &console) {
        (Some(size), Some(sock)) => match tty::open_and_send(*size, sock) {
            Ok(m) => Some(m),
            Err(report) => {
                let _ = channel::send(&mut to_cli, &report);
                exit_child(125);
            }
        },
        _ => None,
    };
    match fork_again() {
        Ok(Forked::Child) => {
            // Inherited across fork already; said again since this is the process the
            // container can see (it is in the container's PID namespace).
            let _ = nix::sys::prctl::set_dumpable(false);
            let report = match setup_and_exec(process, io, master.as_ref().map(|m| m.as_fd())) {
                Ok(never) => match never {},
                Err(r) => r,
            };
            let code = match &report {
                Report::ExecFailed { errno } => {
                    i32::from(exec_failure_status(Errno::from_raw(*errno)))
                }
                _ => 125,
            };
            let _ = channel::send(&mut to_cli, &report);
            exit_child(code)
        }
        Ok(Forked::Parent(pid)) => {
            drop(to_cli);
            if let (Some(master), Some(sock)) = (master, console) {
                tty::joiner_wait(pid, master, sock)
            }
            match wait_relaying(pid, relay, false) {
                Ok(exit) => exit_child(i32::from(exit.status())),
                Err(_) => exit_child(125),
            }
        }
        Err(e) => {
            let errno = match &e {
                ForkError::Fork(io) => io.raw_os_error().unwrap_or(0),
                _ => 0,
            };
            let _ = channel::send(
                &mut to_cli,
                &Report::Failed {
                    step: Step::Join,
                    errno,
                    detail: e.to_string(),
                },
            );
            exit_child(125)
        }
    }
}

/// In the container's namespaces: user, working directory, credentials, exec.
fn setup_and_exec(
    p: &ExecProcess,
    io: &ExecIo<'_>,
    master: Option<BorrowedFd<'_>>,
) -> Result<Infallible, Report> {
    let detached = io.detached;
    let user = container_user::resolve(&p.user)?;
    let mut env = p.env.clone();
    if env.get("HOME").is_none() {
        env.set("HOME", &user.home);
    }
    nix::unistd::chdir(p.cwd.as_str()).map_err(|e| Report::failed(Step::Workdir, e, &p.cwd))?;
    let who = container_user::identity(&user, &p.group_add, &p.mapping)?;
    // Before the capabilities go: the terminal is given to the process's user.
    if let Some(master) = master {
        tty::attach_slave(master, who.uid)?;
    }
    // The init's sequence; `no_new_privs` as the init has it.
    let security = Security {
        no_new_privileges: p.security.no_new_privileges || p.no_new_privs,
        ..p.security.clone()
    };
    security::confine(&security, &who, &p.mapping).map_err(|e| Report::Failed {
        step: e.step,
        errno: e.errno,
        detail: e.detail,
    })?;
    let stdio = |what: &'static str| move |e| Report::failed(Step::Privileges, e, what);
    // With a terminal, the streams are the terminal already.
    match (master, detached) {
        (Some(_), _) => {}
        (None, Some(null)) => {
            nix::unistd::dup2_stdin(null.as_fd()).map_err(stdio("stdin"))?;
            nix::unistd::dup2_stdout(null.as_fd()).map_err(stdio("stdout"))?;
            nix::unistd::dup2_stderr(null.as_fd()).map_err(stdio("stderr"))?;
        }
        (None, None) if !p.interactive => {
            let null = File::open("/dev/null")
                .map_err(|e| Report::failed_io(Step::Privileges, &e, "opening /dev/null"))?;
            nix::unistd::dup2_stdin(&null).map_err(stdio("stdin"))?;
        }
        (None, None) => {}
    }
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o022));
    cloexec_from(3 + io.preserve_fds)
        .map_err(|e| Report::failed_io(Step::Privileges, &e, "close_range"))?;
    let _ = crate::sys::reaper::default_dispositions();
    let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
    let err: io::Error = Command::new(&p.args[0])
        .args(&p.args[1..])
        .env_clear()
        .envs(env.vars().iter().map(|(k, v)| (k, v)))
        .exec();
    Err(Report::ExecFailed {
        errno: err.raw_os_error().unwrap_or(libc::EINVAL),
    })
}
