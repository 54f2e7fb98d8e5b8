//! `/dev/fuse` (coracle's overlay mounts through it) and `/dev/net/tun` (pasta and
//! slirp4netns make the container's network interface with it): character devices the user
//! can open for reading and writing. Opening either without further ioctls or mounts has no
//! effect: the FUSE connection and the tun queue go away at close.

use std::os::unix::fs::{FileTypeExt as _, MetadataExt as _};

use super::{Finding, Fix, Host};

pub fn check_fuse(host: &Host) -> Finding {
    check(
        host,
        "fuse",
        Device {
            path: "/dev/fuse",
            major: 10,
            minor: 229,
            module: "fuse",
            needed_for: "the overlay storage driver (--storage-driver vfs works without it)",
        },
    )
}

pub fn check_tun(host: &Host) -> Finding {
    check(
        host,
        "tun",
        Device {
            path: "/dev/net/tun",
            major: 10,
            minor: 200,
            module: "tun",
            needed_for: "container networks (pasta, slirp4netns)",
        },
    )
}

struct Device {
    path: &'static str,
    major: u32,
    minor: u32,
    module: &'static str,
    needed_for: &'static str,
}

fn check(host: &Host, name: &'static str, dev: Device) -> Finding {
    let Device {
        path,
        major,
        minor,
        module,
        needed_for,
    } = dev;
    let real = host.sys(path);
    let meta = match std::fs::metadata(&real) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Finding::fail(
                name,
                format!(
                    "{path} does not exist (module {module} not loaded?); needed for {needed_for}"
                ),
                Some(Fix::root(format!("modprobe {module}"))),
            );
        }
        Err(e) => return Finding::fail(name, format!("{path}: {e}"), None),
    };
    let remake = format!("rm -f {path} && mknod -m 0666 {path} c {major} {minor}");
    if !meta.file_type().is_char_device() {
        return Finding::fail(
            name,
            format!("{path} is not a character device"),
            Some(Fix::root(remake)),
        );
    }
    let rdev = meta.rdev();
    let (maj, min) = (rustix::fs::major(rdev), rustix::fs::minor(rdev));
    if (maj, min) != (major, minor) {
        return Finding::fail(
            name,
            format!("{path} is device {maj}:{min}, not {major}:{minor}"),
            Some(Fix::root(remake)),
        );
    }
    match std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&real)
    {
        Ok(_) => Finding::ok(name, format!("{path} opens for reading and writing")),
        Err(e) if matches!(e.raw_os_error(), Some(libc::EACCES | libc::EPERM)) => Finding::fail(
            name,
            format!(
                "{path} cannot be opened by {} (mode {:o}): needed for {needed_for}",
                host.user_name(),
                meta.mode() & 0o7777
            ),
            Some(Fix::root(format!("chmod 0666 {path}"))),
        ),
        Err(e) => Finding::fail(
            name,
            format!("opening {path}: {e}; needed for {needed_for}"),
            Some(Fix::root(format!("modprobe {module}"))),
        ),
    }
}
