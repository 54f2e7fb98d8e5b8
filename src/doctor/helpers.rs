//! `newuidmap` and `newgidmap` (shadow's uidmap helpers): present and privileged, either
//! setuid root (Debian) or with the file capability `cap_setuid`/`cap_setgid` in the
//! permitted and effective sets (Fedora and others), on a file system not mounted `nosuid`.

use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::Path;

use super::{Finding, Fix, Host};

const CAP_SETGID: u32 = 6;
const CAP_SETUID: u32 = 7;

pub fn check_newuidmap(host: &Host) -> Finding {
    check(host, "newuidmap", "newuidmap", CAP_SETUID, "cap_setuid")
}

pub fn check_newgidmap(host: &Host) -> Finding {
    check(host, "newgidmap", "newgidmap", CAP_SETGID, "cap_setgid")
}

fn check(host: &Host, name: &'static str, tool: &str, cap: u32, cap_name: &str) -> Finding {
    if host.is_root() {
        return Finding::ok(name, "not needed as root");
    }
    let Some(path) = host.which(tool) else {
        return Finding::fail(
            name,
            format!("{tool} is not in $PATH: only the single mapping works (no subordinate ids)"),
            Some(Fix::root(host.install_command("uidmap", "shadow-utils"))),
        );
    };
    let real = host.sys(&path);
    let meta = match std::fs::metadata(&real) {
        Ok(m) => m,
        Err(e) => return Finding::fail(name, format!("{path}: {e}"), None),
    };
    let setuid_root = meta.uid() == 0 && meta.permissions().mode() & 0o4000 != 0;
    let how = if setuid_root {
        Some("setuid root".to_string())
    } else {
        match file_caps(&real) {
            Some(caps) if caps.effective && caps.permitted & (1 << cap) != 0 => {
                Some(format!("file capability {cap_name}=ep"))
            }
            _ => None,
        }
    };
    let Some(how) = how else {
        return Finding::fail(
            name,
            format!(
                "{path} is neither setuid root nor has {cap_name}=ep: it cannot write another \
                 process's id map"
            ),
            Some(Fix::root(if meta.uid() == 0 {
                format!("chmod u+s {path}")
            } else {
                format!("chown root {path} && chmod u+s {path}")
            })),
        );
    };
    let nosuid = rustix::fs::statvfs(&real)
        .is_ok_and(|s| s.f_flag.contains(rustix::fs::StatVfsMountFlags::NOSUID));
    if nosuid {
        return Finding::fail(
            name,
            format!("{path} is {how}, but its file system is mounted nosuid, which ignores that"),
            Some(Fix::root(format!(
                "mount -o remount,suid \"$(stat -c %m {path})\""
            ))),
        );
    }
    Finding::ok(name, format!("{path} ({how})"))
}

/// The parts of a `security.capability` value that matter here.
#[derive(Debug, PartialEq, Eq)]
struct FileCaps {
    /// The low 32 capabilities of the permitted set.
    permitted: u32,
    /// Whether the effective bit is set (permitted capabilities become effective at exec).
    effective: bool,
}

fn file_caps(path: &Path) -> Option<FileCaps> {
    let mut buf = [0u8; 64];
    let n = rustix::fs::getxattr(path, "security.capability", &mut buf[..]).ok()?;
    parse_caps(&buf[..n])
}

/// Parses `struct vfs_cap_data` / `vfs_ns_cap_data` (linux/capability.h): a little-endian
/// `magic_etc` (revision in the top byte, flags below), then permitted/inheritable pairs, and
/// for revision 3 the root id of the user namespace the capabilities apply in — only 0 (the
/// initial namespace) counts here.
fn parse_caps(b: &[u8]) -> Option<FileCaps> {
    const REVISION_MASK: u32 = 0xFF00_0000;
    const FLAGS_EFFECTIVE: u32 = 0x1;
    let word = |i: usize| -> Option<u32> {
        Some(u32::from_le_bytes(
            b.get(i * 4..i * 4 + 4)?.try_into().ok()?,
        ))
    };
    let magic = word(0)?;
    let len_ok = match magic & REVISION_MASK {
        0x0100_0000 => b.len() == 12,
        0x0200_0000 => b.len() == 20,
        0x0300_0000 => b.len() == 24 && word(5)? == 0,
        _ => false,
    };
    len_ok.then(|| FileCaps {
        permitted: word(1).unwrap_or(0),
        effective: magic & FLAGS_EFFECTIVE != 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(words: &[u32]) -> Vec<u8> {
        words.iter().flat_map(|w| w.to_le_bytes()).collect()
    }

    #[test]
    fn file_capabilities_are_parsed_by_revision() {
        // `setcap cap_setuid=ep`: revision 2, effective, bit 7.
        assert_eq!(
            parse_caps(&caps(&[0x0200_0001, 1 << 7, 0, 0, 0])),
            Some(FileCaps {
                permitted: 1 << 7,
                effective: true
            })
        );
        // `cap_setuid=p`: not effective.
        assert_eq!(
            parse_caps(&caps(&[0x0200_0000, 1 << 7, 0, 0, 0])).map(|c| c.effective),
            Some(false)
        );
        assert!(parse_caps(&caps(&[0x0100_0001, 1 << 6, 0])).is_some());
        // Revision 3 counts only for the initial namespace's root.
        assert!(parse_caps(&caps(&[0x0300_0001, 1 << 7, 0, 0, 0, 0])).is_some());
        assert!(parse_caps(&caps(&[0x0300_0001, 1 << 7, 0, 0, 0, 100000])).is_none());
        // Wrong length or revision.
        assert!(parse_caps(&caps(&[0x0200_0001, 1 << 7])).is_none());
        assert!(parse_caps(&caps(&[0x0400_0001, 1 << 7, 0, 0, 0])).is_none());
        assert!(parse_caps(&[]).is_none());
    }
}
