//! `poll(2)` over borrowed descriptors, for the monitor's single-threaded relay loop.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::time::Duration;

pub const IN: i16 = libc::POLLIN;
pub const OUT: i16 = libc::POLLOUT;
/// Reported whether asked for or not: the other end hung up, or an error.
pub const HUP: i16 = libc::POLLHUP;
pub const ERR: i16 = libc::POLLERR;

/// Waits until one of `fds` (each with the events it waits for) is ready, or `timeout`
/// passes (`None`: no limit). Returns the events that happened, one per entry; an
/// interrupted wait returns all zeros.
pub fn poll(fds: &[(BorrowedFd<'_>, i16)], timeout: Option<Duration>) -> io::Result<Vec<i16>> {
    let mut raw: Vec<libc::pollfd> = fds
        .iter()
        .map(|(fd, events)| libc::pollfd {
            fd: fd.as_raw_fd(),
            events: *events,
            revents: 0,
        })
        .collect();
    let ms = timeout.map_or(-1, |t| i32::try_from(t.as_millis()).unwrap_or(i32::MAX));
    // SAFETY: `raw` is a valid array of `raw.len()` pollfd structures that lives across the
    // call; the descriptors are borrowed for the duration of `fds`, so they are open.
    let n = unsafe { libc::poll(raw.as_mut_ptr(), raw.len() as libc::nfds_t, ms) };
    if n == -1 {
        let err = io::Error::last_os_error();
        if err.kind() == io::ErrorKind::Interrupted {
            return Ok(vec![0; fds.len()]);
        }
        return Err(err);
    }
    Ok(raw.iter().map(|p| p.revents).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::fd::AsFd;

    #[test]
    fn a_pipe_with_data_is_readable() {
        let (r, w) = std::io::pipe().unwrap();
        let got = poll(&[(r.as_fd(), IN)], Some(Duration::ZERO)).unwrap();
        assert_eq!(got, vec![0]);
        (&w).write_all(b"x").unwrap();
        let got = poll(&[(r.as_fd(), IN), (w.as_fd(), OUT)], None).unwrap();
        assert_eq!(got, vec![IN, OUT]);
        drop(w);
        let got = poll(&[(r.as_fd(), IN)], None).unwrap();
        assert_ne!(got[0] & IN, 0);
    }
}
