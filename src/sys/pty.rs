//! Pseudo-terminals (pty(7)): a master opened from a `ptmx` device, its slave opened from the
//! master itself (`TIOCGPTPEER`, so no path lookup in `/dev/pts` can be raced), and the
//! controlling terminal of a session.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// A master and its slave.
#[derive(Debug)]
pub struct Pty {
    pub master: OwnedFd,
    pub slave: OwnedFd,
}

/// Opens a new master from `ptmx` (`/dev/ptmx`, or a container's `/dev/pts/ptmx`), unlocked,
/// close-on-exec, without becoming anyone's controlling terminal.
pub fn open_master(ptmx: &Path) -> io::Result<OwnedFd> {
    let path = CString::new(ptmx.as_os_str().as_bytes())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: `path` is a valid NUL-terminated string that outlives the call.
    let fd = unsafe {
        libc::open(
            path.as_ptr(),
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        )
    };
    if fd == -1 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `open` just returned this descriptor, owned by nobody else.
    let master = unsafe { OwnedFd::from_raw_fd(fd) };
    let unlock: libc::c_int = 0;
    // SAFETY: TIOCSPTLCK reads one int through the pointer, which is valid for the call.
    if unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSPTLCK, &unlock) } == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(master)
}

/// Opens the slave of `master` (`TIOCGPTPEER`, Linux 4.13), close-on-exec.
pub fn open_slave(master: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    let flags = libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC;
    // SAFETY: TIOCGPTPEER takes its flags by value and returns a new descriptor or -1.
    let fd = unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCGPTPEER, flags) };
    if fd == -1 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the ioctl just returned this descriptor, owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// A new pair from `/dev/ptmx`.
pub fn openpty() -> io::Result<Pty> {
    let master = open_master(Path::new("/dev/ptmx"))?;
    let slave = open_slave(std::os::fd::AsFd::as_fd(&master))?;
    Ok(Pty { master, slave })
}

/// Makes `tty` the controlling terminal of the calling process, which must lead a session
/// without one (`TIOCSCTTY`, tty_ioctl(4)).
pub fn set_controlling(tty: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: TIOCSCTTY takes an int argument by value (0: do not steal the terminal).
    if unsafe { libc::ioctl(tty.as_raw_fd(), libc::TIOCSCTTY, 0) } == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::os::fd::AsFd;

    #[test]
    fn what_the_slave_writes_the_master_reads() {
        let pty = openpty().unwrap();
        assert!(rustix::termios::isatty(&pty.slave));
        let mut slave = std::fs::File::from(pty.slave);
        slave.write_all(b"hi\n").unwrap();
        let mut master = std::fs::File::from(pty.master);
        let mut buf = [0u8; 16];
        let n = master.read(&mut buf).unwrap();
        // The line discipline turns \n into \r\n.
        assert_eq!(&buf[..n], b"hi\r\n");
        let _ = master.as_fd();
    }
}
