//! Sessions and controlling terminals: a process started in the container must not have the
//! user's terminal as its controlling terminal, or it could open `/dev/tty` and push input
//! into the user's shell (`TIOCSTI`).

use std::io;
use std::os::unix::process::CommandExt as _;
use std::process::Command;

/// Makes `cmd` start in a session (and process group) of its own, without a controlling
/// terminal; its process group id is its pid, so `killpg(pid)` still reaches it and its
/// children.
pub fn new_session(cmd: &mut Command) -> &mut Command {
    // SAFETY: the closure runs in the child between fork and exec and calls only setsid(2),
    // which is async-signal-safe, allocates nothing and takes no lock.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() == -1 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        })
    }
}

/// Whether the calling process has a controlling terminal (`tty_nr`, field 7 of
/// `/proc/self/stat`, is not 0). Read in the host's `/proc`: call before joining a
/// container's mount namespace.
pub fn has_controlling_terminal() -> io::Result<bool> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    tty_nr(&stat)
        .map(|n| n != 0)
        .ok_or_else(|| io::Error::other("no tty_nr in /proc/self/stat"))
}

/// `tty_nr` of a `/proc/PID/stat` line (the command name, in parentheses, may hold spaces
/// and parentheses: the fields start after the last `)`).
fn tty_nr(stat: &str) -> Option<i64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    // state ppid pgrp session tty_nr
    rest.split_whitespace().nth(4)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tty_nr_after_an_odd_command_name() {
        let line = "123 (a) b (c) S 1 123 123 34816 123 4194560 0";
        assert_eq!(tty_nr(line), Some(34816));
        assert_eq!(tty_nr("1 (init) S 0 1 1 0 -1 0"), Some(0));
    }

    #[test]
    fn a_new_session_has_no_terminal() {
        let out = new_session(Command::new("sh").args(["-c", "exec 3</dev/tty"]))
            .stderr(std::process::Stdio::null())
            .status()
            .expect("running sh");
        assert!(!out.success(), "a new session opened /dev/tty");
    }
}
