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

/// The IPv4 address of the interface `name` in the calling process's network namespace
/// (`SIOCGIFADDR`); `None` when it has none or does not exist.
pub fn ipv4_address(name: &str) -> Option<std::net::Ipv4Addr> {
    if name.len() >= libc::IFNAMSIZ {
        return None;
    }
    let sock = rustix::net::socket(AddressFamily::INET, SocketType::DGRAM, None).ok()?;
    // SAFETY: `ifreq` is plain old data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(name.as_bytes()) {
        *dst = *src as libc::c_char;
    }
    // SAFETY: `sock` is an open socket, `req` a NUL-terminated `ifreq` (the name is shorter
    // than IFNAMSIZ, the rest zero) that the kernel fills in; both outlive the call.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFADDR, &mut req) } == -1 {
        return None;
    }
    // SAFETY: SIOCGIFADDR filled `ifru_addr` with a `sockaddr_in` (AF_INET socket), which
    // fits in the union (`sockaddr` has the same size) and has no invalid bit patterns.
    let addr: libc::sockaddr_in =
        unsafe { std::ptr::read_unaligned((&raw const req.ifr_ifru.ifru_addr).cast()) };
    if addr.sin_family != libc::AF_INET as libc::sa_family_t {
        return None;
    }
    Some(std::net::Ipv4Addr::from(u32::from_be(addr.sin_addr.s_addr)))
}

/// Runs `cmd` as a helper process that dies with its parent: `PR_SET_PDEATHSIG` (SIGKILL) is
/// set in the child before the exec, its signal mask is emptied, and each `(fd, target)` of `fds` is `dup2`'d onto
/// `target` (so the helper inherits it, without close-on-exec, under a number it is told),
/// every other descriptor from 3 up is made close-on-exec. The targets must be at least 3
/// and distinct from the sources (their copies are made from 64 up).
///
/// A caller that is not uid 0 (a monitor in a `--userns=keep-id` or `--uidmap` namespace,
/// which has its capabilities as the namespace's creator) would lose them across the exec:
/// there, every permitted capability is made inheritable and ambient first, so the helper
/// keeps them (in that namespace only, as a helper started by a root monitor has them).
pub fn spawn_helper(
    cmd: &mut std::process::Command,
    fds: &[(std::os::fd::BorrowedFd<'_>, i32)],
) -> io::Result<std::process::Child> {
    use std::os::unix::process::CommandExt as _;
    // Copies above every target first, so that no dup2 in the child overwrites a source
    // another pair still needs.
    let high = fds
        .iter()
        .map(|(f, _)| rustix::io::fcntl_dupfd_cloexec(f, 64))
        .collect::<Result<Vec<_>, _>>()?;
    let pairs: Vec<(i32, i32)> = high
        .iter()
        .zip(fds)
        .map(|(h, (_, t))| (h.as_raw_fd(), *t))
        .collect();
    let parent = rustix::process::getpid();
    let keep_caps = !rustix::process::geteuid().is_root();
    // SAFETY: the closure runs in the forked child before exec and only makes system calls
    // (prctl, getppid, sigprocmask, dup2, fcntl, close_range, capget, capset), which are
    // async-signal-safe; it allocates nothing (`sigemptyset` only fills the local set,
    // `keep_capabilities_across_exec` uses stack arrays).
    // The raw descriptors stay open in the parent until `spawn` returns (`high` owns them).
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) == -1 {
                return Err(io::Error::last_os_error());
            }
            // The parent died before the prctl took effect: nobody would kill the helper.
            if libc::getppid() != parent.as_raw_nonzero().get() {
                return Err(io::Error::from_raw_os_error(libc::ESRCH));
            }
            // The monitor blocks the signals it waits for; the helper must get them (and a
            // SIGTERM or SIGHUP must end it), so nothing stays blocked.
            let mut empty: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut empty);
            libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
            if keep_caps {
                keep_capabilities_across_exec()?;
            }
            // Everything close-on-exec first, then the targets (dup2 clears the flag on
            // them): a target may lie above descriptors of the parent's.
            const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;
            libc::syscall(
                libc::SYS_close_range,
                3 as libc::c_uint,
                libc::c_uint::MAX,
                CLOSE_RANGE_CLOEXEC,
            );
            for &(src, target) in &pairs {
                // dup2 onto itself would leave the flag set.
                let done = if src == target {
                    libc::fcntl(target, libc::F_SETFD, 0)
                } else {
                    libc::dup2(src, target)
                };
                if done == -1 {
                    return Err(io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    let child = cmd.spawn();
    drop(high);
    child
}

/// Makes every permitted capability of the calling thread inheritable and ambient, so that
/// an exec by a non-root user keeps them (capabilities(7), "ambient capability set").
/// Async-signal-safe: raw system calls on stack data only.
fn keep_capabilities_across_exec() -> io::Result<()> {
    const VERSION_3: u32 = 0x2008_0522;
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    let mut header = Header {
        version: VERSION_3,
        pid: 0,
    };
    let mut data = [Data {
        effective: 0,
        permitted: 0,
        inheritable: 0,
    }; 2];
    // SAFETY: capget with a version-3 header reads two `Data` words (64 capabilities) into
    // `data`, which is that size; both live on this stack for the call.
    if unsafe { libc::syscall(libc::SYS_capget, &mut header, data.as_mut_ptr()) } == -1 {
        return Err(io::Error::last_os_error());
    }
    for d in &mut data {
        d.inheritable = d.permitted;
    }
    // SAFETY: as above; capset reads the header and the two words.
    if unsafe { libc::syscall(libc::SYS_capset, &mut header, data.as_ptr()) } == -1 {
        return Err(io::Error::last_os_error());
    }
    for cap in 0..64u32 {
        let (word, bit) = ((cap / 32) as usize, cap % 32);
        if data[word].permitted & (1 << bit) == 0 {
            continue;
        }
        // SAFETY: prctl with integer arguments only. A capability this kernel does not
        // know fails with EINVAL and is skipped: there is nothing to keep.
        let raised = unsafe {
            libc::prctl(
                libc::PR_CAP_AMBIENT,
                libc::PR_CAP_AMBIENT_RAISE as libc::c_ulong,
                libc::c_ulong::from(cap),
                0 as libc::c_ulong,
                0 as libc::c_ulong,
            )
        };
        if raised == -1 && io::Error::last_os_error().raw_os_error() != Some(libc::EINVAL) {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}
