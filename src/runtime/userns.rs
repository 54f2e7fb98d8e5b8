//! A child process in a new user and mount namespace with a [`UserMapping`].
//!
//! The sequence (user_namespaces(7), and what crun and youki do):
//!
//! 1. The parent, single-threaded, forks a child (`sys::process::fork`).
//! 2. The child `unshare(CLONE_NEWUSER | CLONE_NEWNS)`, says so over a pipe, and waits.
//! 3. The parent, still in the initial user namespace, writes the child's maps: through
//!    `newuidmap`/`newgidmap` (setuid helpers that check `/etc/subuid` and `/etc/subgid`) for
//!    subordinate ranges, or itself for the single mapping — `deny` to `/proc/PID/setgroups`
//!    first, since an unprivileged process may write `gid_map` only then. Only a process in
//!    the parent namespace may write the maps, and each map can be written once.
//! 4. The parent says "mapped"; the child makes every mount private (nothing it mounts may
//!    propagate back to the host), then runs its body, which execs. The pipe to the parent is
//!    close-on-exec: end of file means the exec happened, a message carries the `execve`
//!    errno, from which the caller picks 126 or 127 — never from error text.
//!
//! With the identity mapping (root) there is no user namespace: the child only gets its own
//! mount namespace.
//!
//! If the parent fails (a helper refused the ranges), it closes its pipe, the child reads end
//! of file and exits, and the parent reaps it: nothing is left behind. A [`NamespacedChild`]
//! that is dropped before it was waited for is killed and reaped.

use std::convert::Infallible;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::mount::MsFlags;
use nix::sched::CloneFlags;
use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::wait::{WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use super::exec_failure_status;
use super::idmap::{IdMap, UserMapping};
use crate::sys::process::{ForkError, Forked, exit_child, fork};

/// What the child was doing when it failed before its body ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// `unshare(2)` of the namespaces.
    Unshare,
    /// Making the mounts private in the new mount namespace.
    Propagation,
}

impl Stage {
    fn code(self) -> u8 {
        match self {
            Stage::Unshare => 1,
            Stage::Propagation => 2,
        }
    }

    fn from_code(c: u8) -> Option<Stage> {
        match c {
            1 => Some(Stage::Unshare),
            2 => Some(Stage::Propagation),
            _ => None,
        }
    }

    fn describe(self, new_user: bool) -> &'static str {
        match (self, new_user) {
            (Stage::Unshare, true) => "creating a user and mount namespace (unshare)",
            (Stage::Unshare, false) => "creating a mount namespace (unshare)",
            (Stage::Propagation, _) => "making the mounts of the new mount namespace private",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum UserNsError {
    #[error(transparent)]
    Fork(#[from] ForkError),
    #[error("creating a pipe to the namespaced child")]
    Pipe(#[source] io::Error),
    #[error("talking to the namespaced child")]
    Channel(#[source] io::Error),
    #[error("{what}{hint}", what = .stage.describe(*.new_user), hint = unshare_hint(*.stage, *.errno))]
    Setup {
        stage: Stage,
        new_user: bool,
        #[source]
        errno: Errno,
    },
    #[error("the namespaced child exited before it was set up")]
    ChildVanished,
    #[error(
        "{tool} is needed for the ranges of {user} in {file} but cannot be run (it comes \
         with the uidmap package, shadow-utils on Fedora; run `coracle system doctor`)"
    )]
    HelperMissing {
        tool: &'static str,
        user: String,
        file: String,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    Helper(Box<HelperFailure>),
    #[error("writing {text:?} to {path}")]
    WriteMap {
        path: PathBuf,
        text: String,
        #[source]
        source: io::Error,
    },
    /// The body's `execve` failed; [`UserNsError::exec_status`] gives 126 or 127.
    #[error("{}", .errno.desc())]
    Exec { errno: Errno },
    #[error("waiting for the namespaced child {pid}")]
    Wait {
        pid: Pid,
        #[source]
        errno: Errno,
    },
    #[error("blocking signals while the namespaced child runs")]
    Signals(#[source] Errno),
}

/// `newuidmap`/`newgidmap` refused: what ran, how it ended, and where the ranges came from.
#[derive(Debug, thiserror::Error)]
#[error(
    "{tool} {args} failed ({status}): {output}; the ranges of {user} ({ranges}) come from \
     {file} (run `coracle system doctor`)"
)]
pub struct HelperFailure {
    pub tool: &'static str,
    pub args: String,
    pub status: String,
    pub output: String,
    pub user: String,
    pub ranges: String,
    pub file: String,
}

impl UserNsError {
    /// 127 (not found) or 126 (cannot be invoked) when the body's exec failed.
    pub fn exec_status(&self) -> Option<u8> {
        match self {
            UserNsError::Exec { errno } => Some(exec_failure_status(*errno)),
            _ => None,
        }
    }
}

fn unshare_hint(stage: Stage, errno: Errno) -> &'static str {
    match (stage, errno) {
        (Stage::Unshare, Errno::EPERM | Errno::ENOSPC | Errno::EUSERS) => {
            " (are unprivileged user namespaces allowed? run `coracle system doctor`)"
        }
        _ => "",
    }
}

// Child -> parent messages: [kind, stage, errno as i32 little-endian].
const MSG_LEN: usize = 6;
const MSG_UNSHARED: u8 = 1;
const MSG_SETUP_FAILED: u8 = 2;
const MSG_EXEC_FAILED: u8 = 3;
// Parent -> child: one byte once the maps are written; end of file means "give up".
const GO: u8 = b'G';

#[derive(Debug, PartialEq, Eq)]
enum Msg {
    Unshared,
    SetupFailed(Stage, Errno),
    ExecFailed(Errno),
}

fn encode(kind: u8, stage: u8, errno: Errno) -> [u8; MSG_LEN] {
    let e = (errno as i32).to_le_bytes();
    [kind, stage, e[0], e[1], e[2], e[3]]
}

fn decode(b: [u8; MSG_LEN]) -> io::Result<Msg> {
    let errno = Errno::from_raw(i32::from_le_bytes([b[2], b[3], b[4], b[5]]));
    match (b[0], Stage::from_code(b[1])) {
        (MSG_UNSHARED, _) => Ok(Msg::Unshared),
        (MSG_SETUP_FAILED, Some(stage)) => Ok(Msg::SetupFailed(stage, errno)),
        (MSG_EXEC_FAILED, _) => Ok(Msg::ExecFailed(errno)),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("unexpected message {b:?} from the namespaced child"),
        )),
    }
}

fn send(mut to: &File, msg: [u8; MSG_LEN]) -> io::Result<()> {
    to.write_all(&msg)
}

/// Reads one message; `None` at end of file (the child exec'd or exited).
fn read_msg(from: &mut File) -> io::Result<Option<Msg>> {
    let mut buf = [0u8; MSG_LEN];
    let mut got = 0;
    while got < MSG_LEN {
        match from.read(&mut buf[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    decode(buf).map(Some)
}

/// A child running in its own namespaces, not yet reaped.
#[derive(Debug)]
pub struct NamespacedChild {
    pid: Pid,
    from_child: File,
    /// Whether the child got a user namespace (not only a mount namespace), for messages.
    new_user: bool,
    reaped: bool,
}

/// How a waited-for child ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChildExit {
    Exited(i32),
    Signaled(Signal),
}

impl ChildExit {
    /// The status to exit with: the child's own, or 128 + the signal that ended it (as shells
    /// report it).
    pub fn status(self) -> u8 {
        match self {
            ChildExit::Exited(code) => (code & 0xff) as u8,
            ChildExit::Signaled(sig) => 128u8.wrapping_add(sig as i32 as u8),
        }
    }
}

/// Forks a child into a new user and mount namespace mapped as `mapping` (only a new mount
/// namespace for the identity mapping), and runs `body` there.
///
/// `body` runs in the child only, as container root, and must exec: it returns the error
/// that prevented the exec (e.g. `std::process::Command::exec`), which the parent learns from
/// [`NamespacedChild::wait_exec`]. The calling process must be single-threaded.
pub fn spawn<F>(mapping: &UserMapping, body: F) -> Result<NamespacedChild, UserNsError>
where
    F: FnOnce() -> io::Error,
{
    spawn_with(mapping, move |to_parent: File| -> Infallible {
        // The body starts with no signal blocked, whatever its parent blocks while it waits
        // (`SignalRelay`): an exec keeps the mask.
        let _ =
            nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
        // A panic must not unwind into the parent's code path in this copy of the process.
        let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(body))
            .unwrap_or_else(|_| io::Error::other("the child's body panicked"));
        let errno = Errno::from_raw(err.raw_os_error().unwrap_or(libc::EINVAL));
        let _ = send(&to_parent, encode(MSG_EXEC_FAILED, 0, errno));
        exit_child(i32::from(exec_failure_status(errno)))
    })
}

/// Like [`spawn`], for a process of coracle's own that stays in the namespaces (a container's
/// monitor): `body` runs with the signal mask it inherited (a [`SignalRelay`]'s signals stay
/// blocked, for the body to handle) and its return value is the child's exit status.
/// [`NamespacedChild::wait_exec`] returns `Ok` as soon as the namespaces are set up and the
/// body started.
pub fn spawn_process<F>(mapping: &UserMapping, body: F) -> Result<NamespacedChild, UserNsError>
where
    F: FnOnce() -> i32,
{
    spawn_with(mapping, move |to_parent: File| -> Infallible {
        // End of file on the setup pipe tells the parent the body runs.
        drop(to_parent);
        let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)).unwrap_or(125);
        exit_child(code)
    })
}

/// Like [`spawn_process`], in the existing user namespace `join` (a pidfd of a process in
/// it, or its `/proc/PID/ns/user`) instead of a new one: only the mount namespace is new, and
/// no map is written (a pod's containers share the pod's user namespace).
pub fn spawn_process_joined<F>(join: &OwnedFd, body: F) -> Result<NamespacedChild, UserNsError>
where
    F: FnOnce() -> i32,
{
    spawn_inner(
        &UserMapping::identity(),
        Some(join),
        move |to_parent: File| -> Infallible {
            drop(to_parent);
            let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)).unwrap_or(125);
            exit_child(code)
        },
    )
}

fn spawn_with<F>(mapping: &UserMapping, run: F) -> Result<NamespacedChild, UserNsError>
where
    F: FnOnce(File) -> Infallible,
{
    spawn_inner(mapping, None, run)
}

fn spawn_inner<F>(
    mapping: &UserMapping,
    join: Option<&OwnedFd>,
    run: F,
) -> Result<NamespacedChild, UserNsError>
where
    F: FnOnce(File) -> Infallible,
{
    let new_user = !mapping.is_identity();
    let flags = if new_user {
        CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWNS
    } else {
        CloneFlags::CLONE_NEWNS
    };
    let (parent_rx, child_tx) = pipe()?;
    let (child_rx, parent_tx) = pipe()?;
    match fork()? {
        Forked::Child => {
            drop(parent_rx);
            drop(parent_tx);
            child_main(flags, join, File::from(child_tx), File::from(child_rx), run)
        }
        Forked::Parent(pid) => {
            drop(child_tx);
            drop(child_rx);
            // The body's captures belong to the child now: the parent's copies go (closing,
            // for instance, the parent's end of a lock the child keeps).
            drop(run);
            let mut child = NamespacedChild {
                pid,
                from_child: File::from(parent_rx),
                new_user,
                reaped: false,
            };
            let mut go = File::from(parent_tx);
            match read_msg(&mut child.from_child).map_err(UserNsError::Channel)? {
                Some(Msg::Unshared) => {}
                Some(Msg::SetupFailed(stage, errno)) => {
                    return Err(UserNsError::Setup {
                        stage,
                        new_user,
                        errno,
                    });
                }
                _ => return Err(UserNsError::ChildVanished),
            }
            if new_user {
                // On failure `go` is dropped unwritten: the child reads end of file and exits,
                // and dropping `child` reaps it.
                write_maps(pid, mapping)?;
            }
            go.write_all(&[GO]).map_err(UserNsError::Channel)?;
            Ok(child)
        }
    }
}

fn pipe() -> Result<(OwnedFd, OwnedFd), UserNsError> {
    nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| UserNsError::Pipe(e.into()))
}

/// The child's side of [`spawn`]; never returns.
fn child_main<F>(
    flags: CloneFlags,
    join: Option<&OwnedFd>,
    to_parent: File,
    mut from_parent: File,
    run: F,
) -> !
where
    F: FnOnce(File) -> Infallible,
{
    let fail = |stage: Stage, errno: Errno| -> ! {
        let _ = send(&to_parent, encode(MSG_SETUP_FAILED, stage.code(), errno));
        exit_child(125)
    };
    if let Some(user) = join
        && let Err(errno) = nix::sched::setns(user, CloneFlags::CLONE_NEWUSER)
    {
        fail(Stage::Unshare, errno);
    }
    if let Err(errno) = nix::sched::unshare(flags) {
        fail(Stage::Unshare, errno);
    }
    if send(&to_parent, encode(MSG_UNSHARED, 0, Errno::UnknownErrno)).is_err() {
        exit_child(125);
    }
    let mut go = [0u8; 1];
    if from_parent.read_exact(&mut go).is_err() || go[0] != GO {
        // The parent could not write the maps and has reported why.
        exit_child(125);
    }
    drop(from_parent);
    // A new mount namespace starts with copies of the parent's mounts, shared ones still
    // shared with the host (mount_namespaces(7)); make them all private first.
    if let Err(errno) = nix::mount::mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    ) {
        fail(Stage::Propagation, errno);
    }
    match run(to_parent) {}
}

/// Writes the uid and gid maps of the namespaced process `pid`.
fn write_maps(pid: Pid, mapping: &UserMapping) -> Result<(), UserNsError> {
    let euid = nix::unistd::geteuid().as_raw();
    let egid = nix::unistd::getegid().as_raw();
    // user_namespaces(7): a process with CAP_SETUID in the parent namespace (root) may write
    // any map; an unprivileged one only a single line mapping its own effective id, and for
    // gid_map only after `deny` went to setgroups. Anything else goes through the helpers.
    let privileged = euid == 0;
    let own_uid = privileged || only_own(&mapping.uid, euid);
    let own_gid = privileged || only_own(&mapping.gid, egid);
    if !own_uid && !own_gid {
        // Both helpers run at once: each is a setuid process start (a few ms), and the
        // maps are independent. Both are waited for before any failure is reported.
        let uid = start_helper("newuidmap", pid, &mapping.uid, &mapping.user);
        let gid = start_helper("newgidmap", pid, &mapping.gid, &mapping.user);
        let uid = uid.and_then(finish_helper);
        let gid = gid.and_then(finish_helper);
        return uid.and(gid);
    }
    if own_uid {
        write_proc(pid, "uid_map", &mapping.uid.to_proc_text())?;
    } else {
        start_helper("newuidmap", pid, &mapping.uid, &mapping.user).and_then(finish_helper)?;
    }
    if privileged {
        write_proc(pid, "gid_map", &mapping.gid.to_proc_text())?;
    } else if own_gid {
        write_proc(pid, "setgroups", "deny")?;
        write_proc(pid, "gid_map", &mapping.gid.to_proc_text())?;
    } else {
        start_helper("newgidmap", pid, &mapping.gid, &mapping.user).and_then(finish_helper)?;
    }
    Ok(())
}

/// Whether `map` maps nothing but the caller's own `id` (to any container id: keep-id without
/// ranges), which the caller may write itself.
fn only_own(map: &IdMap, id: u32) -> bool {
    matches!(map.entries[..], [e] if e.host == id && e.size == 1)
}

fn write_proc(pid: Pid, file: &str, text: &str) -> Result<(), UserNsError> {
    let path = PathBuf::from(format!("/proc/{pid}/{file}"));
    // One write(2) with the whole map: the kernel takes a map in a single write only.
    OpenOptions::new()
        .write(true)
        .open(&path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(|source| UserNsError::WriteMap {
            path,
            text: text.trim_end().to_string(),
            source,
        })
}

/// A `newuidmap`/`newgidmap` that runs, and what its failure is reported with.
struct RunningHelper {
    child: std::process::Child,
    tool: &'static str,
    args: Vec<String>,
    map: IdMap,
    user: String,
    file: String,
}

/// Starts `newuidmap`/`newgidmap PID container host size...` ([`finish_helper`] waits).
fn start_helper(
    tool: &'static str,
    pid: Pid,
    map: &IdMap,
    user: &str,
) -> Result<RunningHelper, UserNsError> {
    let file = map
        .source
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "the requested mapping".into());
    let mut args = vec![pid.to_string()];
    for e in &map.entries {
        args.extend([e.container, e.host, e.size].map(|n| n.to_string()));
    }
    let child = Command::new(tool)
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| UserNsError::HelperMissing {
            tool,
            user: user.to_string(),
            file: file.clone(),
            source,
        })?;
    Ok(RunningHelper {
        child,
        tool,
        args,
        map: map.clone(),
        user: user.to_string(),
        file,
    })
}

/// Waits for a helper [`start_helper`] started, checking status and stderr.
fn finish_helper(helper: RunningHelper) -> Result<(), UserNsError> {
    let RunningHelper {
        child,
        tool,
        args,
        map,
        user,
        file,
    } = helper;
    let out = child
        .wait_with_output()
        .map_err(|source| UserNsError::HelperMissing {
            tool,
            user: user.clone(),
            file: file.clone(),
            source,
        })?;
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
    if !out.status.success() {
        let stdout = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let output = match (stderr.is_empty(), stdout.is_empty()) {
            (false, _) => stderr,
            (true, false) => stdout,
            (true, true) => "no message".to_string(),
        };
        let ranges = map
            .entries
            .iter()
            .skip(1)
            .map(|e| format!("{}:{}", e.host, e.size))
            .collect::<Vec<_>>()
            .join(", ");
        return Err(UserNsError::Helper(Box::new(HelperFailure {
            tool,
            args: args.join(" "),
            status: out.status.to_string(),
            output,
            user,
            ranges,
            file,
        })));
    }
    if !stderr.is_empty() {
        tracing::warn!(tool, %stderr, "id map helper succeeded with a message");
    }
    Ok(())
}

impl NamespacedChild {
    pub fn pid(&self) -> Pid {
        self.pid
    }

    /// Waits until the child has exec'd (`Ok`), or learns why it could not: the `execve`
    /// errno ([`UserNsError::Exec`]) or a failed setup step. On an error the child is reaped.
    pub fn wait_exec(&mut self) -> Result<(), UserNsError> {
        let msg = read_msg(&mut self.from_child);
        let err = match msg {
            Ok(None) => return Ok(()),
            Ok(Some(Msg::ExecFailed(errno))) => UserNsError::Exec { errno },
            Ok(Some(Msg::SetupFailed(stage, errno))) => UserNsError::Setup {
                stage,
                new_user: self.new_user,
                errno,
            },
            Ok(Some(Msg::Unshared)) => {
                UserNsError::Channel(io::Error::other("the child repeated its first message"))
            }
            Err(e) => UserNsError::Channel(e),
        };
        self.reap();
        Err(err)
    }

    /// Lets the child go on without this handle (it is not killed when the handle goes): a
    /// container's monitor outlives the command that started it. Its pid.
    pub fn release(mut self) -> Pid {
        self.reaped = true;
        self.pid
    }

    /// Waits for the child to end, passing on the signals `relay` holds (see there).
    pub fn wait(&mut self, relay: &SignalRelay) -> Result<ChildExit, UserNsError> {
        let exit = wait_relaying(self.pid, relay, false)?;
        self.reaped = true;
        Ok(exit)
    }

    /// Kills (if still running) and reaps the child.
    fn reap(&mut self) {
        if self.reaped {
            return;
        }
        let _ = nix::sys::signal::kill(self.pid, Signal::SIGKILL);
        while let Err(Errno::EINTR) = nix::sys::wait::waitpid(self.pid, None) {}
        self.reaped = true;
    }
}

/// Waits for the child `pid` to end, passing on the signals `relay` holds (see there).
/// `interrupts`: pass SIGINT and SIGQUIT on too, for a child in a session of its own that
/// the terminal does not reach (the container's init).
pub fn wait_relaying(
    pid: Pid,
    relay: &SignalRelay,
    interrupts: bool,
) -> Result<ChildExit, UserNsError> {
    loop {
        match nix::sys::wait::waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(_, code)) => return Ok(ChildExit::Exited(code)),
            Ok(WaitStatus::Signaled(_, sig, _)) => return Ok(ChildExit::Signaled(sig)),
            Ok(_) => {}
            Err(Errno::EINTR) => continue,
            Err(errno) => return Err(UserNsError::Wait { pid, errno }),
        }
        // A SIGCHLD sent between waitpid and here stays pending (it is blocked), so this
        // returns at once for it.
        match relay.set.wait().map_err(UserNsError::Signals)? {
            Signal::SIGCHLD => {}
            // The terminal sends these to a child in its process group too: passing them on
            // would deliver them twice.
            Signal::SIGINT | Signal::SIGQUIT if !interrupts => {}
            sig => {
                let _ = nix::sys::signal::kill(pid, sig);
            }
        }
    }
}

impl Drop for NamespacedChild {
    fn drop(&mut self) {
        self.reap();
    }
}

/// The signals a parent waiting for its namespaced child handles itself, blocked from
/// [`SignalRelay::block`] until the relay is dropped: SIGTERM, SIGHUP, SIGUSR1 and SIGUSR2
/// are passed on to the child; SIGINT and SIGQUIT are left to the terminal, which sends them
/// to the child too (as system(3) does), so the parent outlives a ^C and reports the child's
/// status.
///
/// Block before [`spawn`], so that none arrives unhandled in between; [`spawn`]'s child
/// clears the mask before its body runs.
#[derive(Debug)]
pub struct SignalRelay {
    set: SigSet,
    old: SigSet,
}

impl SignalRelay {
    pub fn block() -> Result<SignalRelay, UserNsError> {
        let mut set = SigSet::empty();
        for sig in [
            Signal::SIGCHLD,
            Signal::SIGINT,
            Signal::SIGQUIT,
            Signal::SIGTERM,
            Signal::SIGHUP,
            Signal::SIGUSR1,
            Signal::SIGUSR2,
        ] {
            set.add(sig);
        }
        let mut old = SigSet::empty();
        nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), Some(&mut old))
            .map_err(UserNsError::Signals)?;
        Ok(SignalRelay { set, old })
    }
}

impl Drop for SignalRelay {
    fn drop(&mut self) {
        let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&self.old), None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip() {
        let cases = [
            (encode(MSG_UNSHARED, 0, Errno::UnknownErrno), Msg::Unshared),
            (
                encode(MSG_SETUP_FAILED, Stage::Unshare.code(), Errno::EPERM),
                Msg::SetupFailed(Stage::Unshare, Errno::EPERM),
            ),
            (
                encode(MSG_SETUP_FAILED, Stage::Propagation.code(), Errno::EINVAL),
                Msg::SetupFailed(Stage::Propagation, Errno::EINVAL),
            ),
            (
                encode(MSG_EXEC_FAILED, 0, Errno::ENOENT),
                Msg::ExecFailed(Errno::ENOENT),
            ),
        ];
        for (bytes, msg) in cases {
            assert_eq!(decode(bytes).unwrap(), msg);
        }
        assert!(decode([9, 0, 0, 0, 0, 0]).is_err());
        assert!(decode([MSG_SETUP_FAILED, 7, 0, 0, 0, 0]).is_err());
    }

    #[test]
    fn exit_statuses() {
        assert_eq!(ChildExit::Exited(3).status(), 3);
        assert_eq!(ChildExit::Exited(0).status(), 0);
        assert_eq!(ChildExit::Signaled(Signal::SIGKILL).status(), 137);
        assert_eq!(
            UserNsError::Exec {
                errno: Errno::ENOENT
            }
            .exec_status(),
            Some(127)
        );
        assert_eq!(UserNsError::ChildVanished.exec_status(), None);
    }
}
