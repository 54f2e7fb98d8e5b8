//! Network interface flags through `ioctl(2)` on a datagram socket (netdevice(7)).

use std::io;
use std::os::fd::AsRawFd;

use rustix::net::{AddressFamily, SocketType};

/// Brings the loopback interface `lo` of the calling process's network namespace up
/// (`SIOCGIFFLAGS`, then `SIOCSIFFLAGS` with `IFF_UP`), as a new network namespace has it down.
pub fn loopback_up() -> io::Result<()> {
    let sock = rustix::net::socket(AddressFamily::INET, SocketType::DGRAM, None)?;
    // SAFETY: `ifreq` is plain old data; all-zero is a valid value (empty name, no flags).
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    // SAFETY: `sock` is an open socket and `req` a valid, NUL-terminated `ifreq` that the
    // kernel fills in (SIOCGIFFLAGS) or reads (SIOCSIFFLAGS); both outlive the calls.
    unsafe {
        if libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) == -1 {
            return Err(io::Error::last_os_error());
        }
        req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
        if libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) == -1 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}
