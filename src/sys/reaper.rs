//! What `--init`'s reaping PID 1 needs from the kernel beyond nix's safe calls.

use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal};

extern "C" fn ignore(_: libc::c_int) {}

/// Gives every catchable signal a handler that does nothing. PID 1 of a PID namespace gets
/// no signal from its parent namespace that it left at `SIG_DFL` (pid_namespaces(7)), even a
/// blocked one waited for with `sigwait`; with a handler it gets them all.
pub fn catch_all() -> nix::Result<()> {
    let action = SigAction::new(
        SigHandler::Handler(ignore),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    for sig in Signal::iterator() {
        if matches!(sig, Signal::SIGKILL | Signal::SIGSTOP) {
            continue;
        }
        // SAFETY: the handler is an `extern "C"` function that touches nothing, so it is
        // async-signal-safe; replacing the previous disposition is the point.
        unsafe { nix::sys::signal::sigaction(sig, &action) }?;
    }
    Ok(())
}

/// Closes every descriptor from `first` up, for a process that from now on only waits and
/// ends with `_exit` (it never returns into code that owns one of them).
pub fn close_from_before_exit(first: u32) -> std::io::Result<()> {
    // SAFETY: close_range takes plain integers; the caller never uses or drops the owned
    // descriptors it closes (it ends with `_exit`, which runs no destructor).
    let ret = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first as libc::c_uint,
            libc::c_uint::MAX,
            0 as libc::c_uint,
        )
    };
    if ret == -1 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Puts every signal back to its default action. Ignored signals stay ignored across `execve`
/// (a `nohup`'d caller ignores SIGHUP), and a shell cannot trap a signal ignored at its start:
/// a container's command must begin with the dispositions a fresh process has, as runc and
/// crun give it.
pub fn default_dispositions() -> nix::Result<()> {
    let action = SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty());
    for sig in Signal::iterator() {
        if matches!(sig, Signal::SIGKILL | Signal::SIGSTOP) {
            continue;
        }
        // SAFETY: SIG_DFL installs no handler, so no code of ours runs in signal context.
        unsafe { nix::sys::signal::sigaction(sig, &action) }?;
    }
    for raw in libc::SIGRTMIN()..=libc::SIGRTMAX() {
        // SAFETY: a zeroed sigaction is SIG_DFL with no flags and an empty mask; the old
        // action is not asked for (null).
        let ret = unsafe {
            let act: libc::sigaction = std::mem::zeroed();
            libc::sigaction(raw, &act, std::ptr::null_mut())
        };
        if ret == -1 {
            return Err(nix::errno::Errno::last());
        }
    }
    Ok(())
}
