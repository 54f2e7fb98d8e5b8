//! Installing a seccomp filter (seccomp(2)) without setting `no_new_privs` on the way, as
//! `seccompiler::apply_filter` does: Podman leaves `no_new_privs` off unless asked, and the
//! caller holds `CAP_SYS_ADMIN` in its user namespace instead.

use std::io;

use seccompiler::sock_filter;

/// `struct sock_fprog` (linux/filter.h).
#[repr(C)]
struct SockFprog {
    len: libc::c_ushort,
    filter: *const sock_filter,
}

/// Installs `program` on the calling thread (`SECCOMP_SET_MODE_FILTER`, no flags).
pub fn install_filter(program: &[sock_filter]) -> io::Result<()> {
    let len = libc::c_ushort::try_from(program.len())
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    let prog = SockFprog {
        len,
        filter: program.as_ptr(),
    };
    // SAFETY: `prog` points to `len` valid instructions that outlive the call; the kernel
    // copies them and keeps no reference.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            0 as libc::c_ulong,
            &prog as *const SockFprog,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
