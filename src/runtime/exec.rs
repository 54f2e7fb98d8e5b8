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
use std::fs::{self, File};
use std::io;
use std::os::fd::AsFd as _;
use std::os::unix::process::CommandExt as _;
use std::process::Command;

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sched::CloneFlags;
use nix::sys::signal::{SigSet, SigmaskHow};
use nix::unistd::Pid;

use super::channel::{self, Report, Step, StepError};
use super::exec_failure_status;
use super::idmap::UserMapping;
use super::join::ContainerInit;
use super::security::{self, Security};
use super::spec::Environment;
use super::user::{self, UserSpec};
use super::userns::{ChildExit, SignalRelay, UserNsError, wait_relaying};
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
}

impl ExecChild {
    /// Waits for the process to end (relaying the signals `relay` holds); its exit.
    pub fn wait(self, relay: &SignalRelay) -> Result<ChildExit, ExecError> {
        wait_relaying(self.pid, relay, false).map_err(ExecError::Wait)
    }
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
    let (rx, tx) = nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| ExecError::Pipe(e.into()))?;
    let (mut from_child, to_cli) = (File::from(rx), File::from(tx));
    let pid = match fork().map_err(ExecError::Fork)? {
        Forked::Child => {
            drop(from_child);
            joiner(init, flags, process, detached, relay, to_cli)
        }
        Forked::Parent(pid) => pid,
    };
    drop(to_cli);
    let child = ExecChild { pid };
    let report = channel::recv(&mut from_child);
    let failure = match report {
        Ok(None) => return Ok(child),
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
    detached: Option<&File>,
    relay: &SignalRelay,
    mut to_cli: File,
) -> ! {
    if let Err(errno) = init.join(flags) {
        let _ = channel::send(
            &mut to_cli,
            &Report::failed(Step::Join, errno, format!("setns to process {}", init.pid)),
        );
        exit_child(125);
    }
    if let Some(null) = detached {
        // Out of the caller's session (its terminal's hangup must not reach the process),
        // and off its output: whoever reads the command's output waits for end of file.
        let _ = nix::unistd::setsid();
        let _ = nix::unistd::dup2_stdin(null.as_fd());
        let _ = nix::unistd::dup2_stdout(null.as_fd());
        let _ = nix::unistd::dup2_stderr(null.as_fd());
    }
    match fork_again() {
        Ok(Forked::Child) => {
            let report = match setup_and_exec(process, detached) {
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
fn setup_and_exec(p: &ExecProcess, detached: Option<&File>) -> Result<Infallible, Report> {
    let read = |path: &str| fs::read_to_string(path).unwrap_or_default();
    let user = UserSpec::parse(&p.user)
        .and_then(|u| user::resolve(&u, &read("/etc/passwd"), &read("/etc/group")))
        .map_err(|e| Report::Failed {
            step: Step::User,
            errno: 0,
            detail: e.to_string(),
        })?;
    let mut env = p.env.clone();
    if env.get("HOME").is_none() {
        env.set("HOME", &user.home);
    }
    nix::unistd::chdir(p.cwd.as_str()).map_err(|e| Report::failed(Step::Workdir, e, &p.cwd))?;
    // A single-mapping namespace has setgroups denied (user_namespaces(7)): the process
    // keeps the one group it has.
    let setgroups_allowed = fs::read_to_string("/proc/self/setgroups")
        .map(|s| s.trim() != "deny")
        .unwrap_or(true);
    let who = user::identity(
        &user,
        &p.group_add,
        &read("/etc/group"),
        setgroups_allowed,
        &p.mapping,
    )
    .map_err(|e| Report::Failed {
        step: Step::User,
        errno: 0,
        detail: e.to_string(),
    })?;
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
    if let Some(null) = detached {
        nix::unistd::dup2_stdin(null.as_fd()).map_err(stdio("stdin"))?;
        nix::unistd::dup2_stdout(null.as_fd()).map_err(stdio("stdout"))?;
        nix::unistd::dup2_stderr(null.as_fd()).map_err(stdio("stderr"))?;
    } else if !p.interactive {
        let null = File::open("/dev/null")
            .map_err(|e| Report::failed_io(Step::Privileges, &e, "opening /dev/null"))?;
        nix::unistd::dup2_stdin(&null).map_err(stdio("stdin"))?;
    }
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o022));
    cloexec_from(3).map_err(|e| Report::failed_io(Step::Privileges, &e, "close_range"))?;
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
