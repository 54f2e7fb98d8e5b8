//! Process file descriptors (`pidfd_open(2)`): a handle on one process that a later process
//! reusing its pid cannot take over. Signals go through the descriptor
//! (`pidfd_send_signal(2)`), and the descriptor becomes readable when the process ends, so a
//! command outside a container can wait for a process that is not its child without
//! polling `/proc`.

use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::time::Duration;

/// An open process descriptor.
#[derive(Debug)]
pub struct Pidfd {
    fd: OwnedFd,
    pid: i32,
}

/// What `/proc/PID/stat` says of a process (proc(5)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcStat {
    /// Field 3: `R`, `S`, `Z`...
    pub state: char,
    /// Field 4.
    pub ppid: i32,
    /// Field 22: clock ticks after boot.
    pub start_time: u64,
}

impl Pidfd {
    /// Opens `pid`; `Ok(None)` when no such process exists.
    pub fn open(pid: i32) -> io::Result<Option<Pidfd>> {
        let Some(raw) = rustix::process::Pid::from_raw(pid) else {
            return Ok(None);
        };
        match rustix::process::pidfd_open(raw, rustix::process::PidfdFlags::empty()) {
            Ok(fd) => Ok(Some(Pidfd { fd, pid })),
            Err(rustix::io::Errno::SRCH) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Sends signal number `signal`; `Ok(false)` when the process is gone (reaped; a zombie
    /// takes the signal and ignores it).
    pub fn send_signal(&self, signal: i32) -> io::Result<bool> {
        // SAFETY: pidfd_send_signal takes the descriptor (owned by `self`, so open), a plain
        // signal number, a NULL siginfo (the kernel fills in one as kill(2) would) and no
        // flags; no memory of ours is read or written.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                self.fd.as_raw_fd(),
                signal,
                std::ptr::null::<libc::siginfo_t>(),
                0u32,
            )
        };
        if ret == -1 {
            let err = io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::ESRCH) {
                return Ok(false);
            }
            return Err(err);
        }
        Ok(true)
    }

    /// Waits until the process ends or `timeout` passes (`None`: forever); whether it ended.
    /// A pidfd is readable once its process has exited (pidfd_open(2), "poll").
    pub fn wait_exit(&self, timeout: Option<Duration>) -> io::Result<bool> {
        let mut pfd = libc::pollfd {
            fd: self.fd.as_fd().as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = match timeout {
            None => -1,
            Some(t) => i32::try_from(t.as_millis()).unwrap_or(i32::MAX),
        };
        loop {
            // SAFETY: `pfd` is one valid pollfd that lives across the call, and the count
            // passed is 1; the descriptor is owned by `self`.
            let ret = unsafe { libc::poll(&mut pfd, 1, ms) };
            match ret {
                -1 => {
                    let err = io::Error::last_os_error();
                    if err.kind() == io::ErrorKind::Interrupted {
                        continue;
                    }
                    return Err(err);
                }
                0 => return Ok(false),
                _ => return Ok(true),
            }
        }
    }
}

/// Clock ticks per second, the unit of the times in `/proc/PID/stat` (`sysconf(_SC_CLK_TCK)`,
/// proc(5)).
pub fn clock_ticks() -> u64 {
    // SAFETY: sysconf takes a plain integer and touches no memory of ours.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(ticks).ok().filter(|t| *t > 0).unwrap_or(100)
}

/// Reads `/proc/PID/stat`; `Ok(None)` when the process does not exist.
pub fn proc_stat(pid: i32) -> io::Result<Option<ProcStat>> {
    let text = match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) if e.raw_os_error() == Some(libc::ESRCH) => return Ok(None),
        Err(e) => return Err(e),
    };
    parse_stat(&text).map(Some).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("unexpected contents of /proc/{pid}/stat"),
        )
    })
}

/// The command name in parentheses may hold spaces and parentheses: fields are counted
/// after the last `)`.
fn parse_stat(text: &str) -> Option<ProcStat> {
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_ascii_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    // Field 22 is the 18th after the ppid (field 4).
    let start_time = fields.nth(17)?.parse().ok()?;
    Some(ProcStat {
        state,
        ppid,
        start_time,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields() {
        let line = "42 (a) b (c) S 7 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 123456 1000 10";
        assert_eq!(
            parse_stat(line),
            Some(ProcStat {
                state: 'S',
                ppid: 7,
                start_time: 123456
            })
        );
        assert_eq!(parse_stat("42 (x"), None);
    }

    #[test]
    fn a_child_is_signalled_and_waited_for() {
        let mut child = std::process::Command::new("sleep")
            .arg("100")
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        let fd = Pidfd::open(pid).unwrap().unwrap();
        let st = proc_stat(pid).unwrap().unwrap();
        assert_eq!(st.ppid, std::process::id() as i32);
        assert!(!fd.wait_exit(Some(Duration::from_millis(20))).unwrap());
        assert!(fd.send_signal(libc::SIGTERM).unwrap());
        // Exited (a zombie until reaped) makes the descriptor readable.
        assert!(fd.wait_exit(Some(Duration::from_secs(10))).unwrap());
        let _ = child.wait();
        assert!(!fd.send_signal(libc::SIGTERM).unwrap());
    }
}
