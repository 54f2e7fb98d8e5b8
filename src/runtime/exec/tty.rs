//! `exec -t`: the exec'd process's terminal.
//!
//! The joiner opens the terminal from the container's `ptmx` (it joined the container's
//! mount namespace, so `/dev/ptmx` is the container's, as for the init of `run -t`), passes
//! the master to the command over a socket and keeps a copy; the process makes the slave its
//! controlling terminal. The command relays the user's terminal to the master (raw mode,
//! window size, detach keys: `runtime::terminal`). When the command goes away (the detach
//! keys, or it was killed), the joiner sees the socket close and reads the terminal from
//! then on, so that the process neither blocks on a full terminal nor gets a hangup: it runs
//! on, as Podman's exec sessions do under conmon.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

use nix::errno::Errno;
use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use crate::runtime::channel::{Report, Step};
use crate::runtime::lifecycle::DetachKeys;
use crate::runtime::terminal::{self, DetachMatcher, Input, RawMode};
use crate::runtime::userns::ChildExit;
use crate::sys::poll;
use crate::sys::process::exit_child;
use crate::sys::pty;

/// How a terminal session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TtyEnd {
    /// The process ended.
    Exited(ChildExit),
    /// The user typed the detach keys; the process runs on.
    Detached,
}

/// The signals `SignalRelay::block` blocks (and so the joiner inherits blocked).
fn relayed() -> SigSet {
    let mut set = SigSet::empty();
    for s in [
        Signal::SIGCHLD,
        Signal::SIGINT,
        Signal::SIGQUIT,
        Signal::SIGTERM,
        Signal::SIGHUP,
        Signal::SIGUSR1,
        Signal::SIGUSR2,
    ] {
        set.add(s);
    }
    set
}

/// In the joiner: a new terminal from the container's `ptmx`, of `size`, its master sent on
/// `sock`.
pub(super) fn open_and_send(
    size: Option<(u16, u16)>,
    sock: &UnixStream,
) -> Result<OwnedFd, Report> {
    let failed = |what: &'static str| move |e: io::Error| Report::failed_io(Step::Stdio, &e, what);
    let master = pty::open_master(Path::new("/dev/ptmx")).map_err(failed("opening /dev/ptmx"))?;
    if let Some((rows, cols)) = size {
        let _ = terminal::set_window_size(&master, rows, cols);
    }
    crate::runtime::console::send_fd(sock, master.as_fd())
        .map_err(failed("passing the terminal to the command"))?;
    Ok(master)
}

/// In the process: the slave of `master` as its controlling terminal (a session of its own)
/// and its standard streams, owned by `uid`.
pub(super) fn attach_slave(master: BorrowedFd<'_>, uid: u32) -> Result<(), Report> {
    let failed = |what: &'static str| move |e: io::Error| Report::failed_io(Step::Stdio, &e, what);
    let slave = pty::open_slave(master).map_err(failed("opening the terminal"))?;
    // So that the user can reopen it (`/dev/tty`, `tty`); a user the namespace does not map
    // keeps root's terminal.
    let _ = nix::unistd::fchown(&slave, Some(nix::unistd::Uid::from_raw(uid)), None);
    nix::unistd::setsid().map_err(|e| Report::failed(Step::Stdio, e, "setsid"))?;
    pty::set_controlling(slave.as_fd()).map_err(failed("TIOCSCTTY"))?;
    let dup = |what: &'static str| move |e| Report::failed(Step::Stdio, e, what);
    nix::unistd::dup2_stdin(&slave).map_err(dup("stdin"))?;
    nix::unistd::dup2_stdout(&slave).map_err(dup("stdout"))?;
    nix::unistd::dup2_stderr(&slave).map_err(dup("stderr"))?;
    Ok(())
}

fn reaped(pid: Pid) -> Result<Option<ChildExit>, Errno> {
    loop {
        return match nix::sys::wait::waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(_, code)) => Ok(Some(ChildExit::Exited(code))),
            Ok(WaitStatus::Signaled(_, sig, _)) => Ok(Some(ChildExit::Signaled(sig))),
            Ok(_) => Ok(None),
            Err(Errno::EINTR) => continue,
            Err(e) => Err(e),
        };
    }
}

/// In the joiner, once the process runs: waits for it, passing on the signals the command
/// relays; reads the terminal once the command's end of `sock` closes. Exits with the
/// process's status.
pub(super) fn joiner_wait(pid: Pid, master: OwnedFd, sock: UnixStream) -> ! {
    let Ok(signals) =
        SignalFd::with_flags(&relayed(), SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
    else {
        exit_child(125)
    };
    let (mut master, mut sock) = (File::from(master), sock);
    let (mut attached, mut output) = (true, true);
    let mut buf = vec![0u8; crate::runtime::attach::CHUNK];
    loop {
        match reaped(pid) {
            Ok(Some(exit)) => exit_child(i32::from(exit.status())),
            Ok(None) => {}
            Err(_) => exit_child(125),
        }
        let mut fds = vec![(signals.as_fd(), poll::IN)];
        if attached {
            fds.push((sock.as_fd(), poll::IN));
        } else if output {
            fds.push((master.as_fd(), poll::IN));
        }
        let Ok(ready) = poll::poll(&fds, None) else {
            exit_child(125)
        };
        if ready[0] != 0 {
            while let Ok(Some(info)) = signals.read_signal() {
                let sig = info.ssi_signo as i32;
                if sig != libc::SIGCHLD
                    && let Ok(sig) = Signal::try_from(sig)
                {
                    let _ = nix::sys::signal::kill(pid, sig);
                }
            }
        }
        if ready.len() > 1 && ready[1] != 0 {
            if attached {
                // The command never writes: readable means it closed its end.
                if !matches!(sock.read(&mut buf), Ok(n) if n > 0) {
                    attached = false;
                }
            } else {
                match master.read(&mut buf) {
                    Ok(n) if n > 0 => {}
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    // No slave open any more (EIO): nothing more to read.
                    _ => output = false,
                }
            }
        }
    }
}

/// In the command: relays this command's standard streams to the terminal `master` of the
/// process whose joiner is `pid` (its input too with `stdin`, watching for `keys`), until the
/// joiner exits or the user detaches. Signals of `SignalRelay` go to the joiner, which is in
/// a session of its own that the user's terminal does not reach.
pub(super) fn relay(
    pid: Pid,
    master: OwnedFd,
    stdin_on: bool,
    keys: &DetachKeys,
) -> io::Result<TtyEnd> {
    let stdin = io::stdin();
    let _raw = if stdin_on {
        RawMode::enable(stdin.as_fd())?
    } else {
        None
    };
    let mut set = relayed();
    set.add(Signal::SIGWINCH);
    let mut old = SigSet::empty();
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), Some(&mut old))?;
    struct Restore(SigSet);
    impl Drop for Restore {
        fn drop(&mut self) {
            let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&self.0), None);
        }
    }
    let _restore = Restore(old);
    let signals = SignalFd::with_flags(&set, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)?;
    let resize = |master: &File| {
        if let Some((rows, cols)) =
            terminal::window_size(io::stdout()).or_else(|| terminal::window_size(io::stdin()))
        {
            let _ = terminal::set_window_size(master, rows, cols);
        }
    };
    let mut master = File::from(master);
    // The size may have changed since the terminal was made.
    resize(&master);
    let mut matcher = DetachMatcher::new(keys);
    let (mut input, mut output) = (stdin_on, true);
    let mut buf = vec![0u8; crate::runtime::attach::CHUNK];
    loop {
        if let Some(exit) = reaped(pid).map_err(io::Error::from)? {
            drain(&mut master, &mut buf);
            return Ok(TtyEnd::Exited(exit));
        }
        let mut fds = vec![(signals.as_fd(), poll::IN)];
        let at_master = output.then(|| {
            fds.push((master.as_fd(), poll::IN));
            fds.len() - 1
        });
        let at_stdin = input.then(|| {
            fds.push((stdin.as_fd(), poll::IN));
            fds.len() - 1
        });
        let ready = poll::poll(&fds, None)?;
        if ready[0] != 0 {
            while let Ok(Some(info)) = signals.read_signal() {
                match Signal::try_from(info.ssi_signo as i32) {
                    Ok(Signal::SIGWINCH) => resize(&master),
                    Ok(Signal::SIGCHLD) | Err(_) => {}
                    Ok(sig) => {
                        let _ = nix::sys::signal::kill(pid, sig);
                    }
                }
            }
        }
        if let Some(i) = at_master
            && ready[i] != 0
        {
            match master.read(&mut buf) {
                Ok(n) if n > 0 => write_out(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // EIO: every slave closed; the joiner's exit follows.
                _ => output = false,
            }
        }
        if let Some(i) = at_stdin
            && ready[i] != 0
        {
            let n = match stdin.lock().read(&mut buf) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => 0,
            };
            if n == 0 {
                // The end of a terminal's input is a key its line discipline saw; the end of
                // a pipe has nothing to become on a terminal.
                input = false;
                continue;
            }
            let (data, detach) = match matcher.feed(&buf[..n]) {
                Input::Data(d) => (d, false),
                Input::Detach(d) => (d, true),
            };
            if !data.is_empty() && master.write_all(&data).is_err() {
                input = false;
            }
            if detach {
                return Ok(TtyEnd::Detached);
            }
        }
    }
}

/// What the process wrote before it ended and is still in the terminal.
fn drain(master: &mut File, buf: &mut [u8]) {
    while matches!(
        poll::poll(&[(master.as_fd(), poll::IN)], Some(std::time::Duration::ZERO)),
        Ok(r) if r[0] & poll::IN != 0
    ) {
        match master.read(buf) {
            Ok(n) if n > 0 => write_out(&buf[..n]),
            _ => return,
        }
    }
}

fn write_out(data: &[u8]) {
    // Output that cannot be written (a closed pipe) is dropped; the process runs on.
    let mut out = io::stdout().lock();
    let _ = out.write_all(data).and_then(|()| out.flush());
}
