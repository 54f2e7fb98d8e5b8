//! Short hints that errors caused by the machine's setup carry, pointing at
//! `coracle system doctor` and, where the error alone knows enough, at the fix.
//!
//! Pure functions: they run anywhere, including in a container's init (where `/etc` is
//! already the container's, so no host file may be read).

use std::path::Path;

use crate::runtime::idmap::{SUBGID, SUBUID, SubidFile, UserMapping};

/// Appended to errors whose cause is the machine's setup.
pub const RUN_DOCTOR: &str = "run `coracle system doctor`";

/// Why a container's user or group id `id` is not mapped, and how to map it: which file
/// lacks how many ids, and the `usermod` that adds them.
///
/// `free`: a free `FIRST-LAST` block to suggest, when the caller can read the host's files
/// ([`free_range_on_host`]).
pub fn unmapped_id(group: bool, id: u32, mapping: &UserMapping, free: Option<&str>) -> String {
    let (what, map, file, flag) = if group {
        ("group", &mapping.gid, "/etc/subgid", "--add-subgids")
    } else {
        ("user", &mapping.uid, "/etc/subuid", "--add-subuids")
    };
    let user = &mapping.user;
    let mapped = map.len();
    let needed = u64::from(id) + 1 - mapped.min(u64::from(id) + 1);
    let have = if mapped <= 1 {
        format!("{user} has no range in {file}, so only container id 0 exists")
    } else {
        format!(
            "{user}'s ranges in {file} give container ids 0-{}",
            mapped - 1
        )
    };
    let fix = match free {
        Some(range) => format!("as root: `usermod {flag} {range} {user}`"),
        None => format!(
            "as root: `usermod {flag} FIRST-LAST {user}` with a free range; {RUN_DOCTOR} to \
             get one"
        ),
    };
    format!(
        "{what} {id} is not mapped in the container's user namespace: {have}; add a range of \
         at least {} ids ({fix})",
        needed.max(65536)
    )
}

/// Why a FUSE mount may have failed, for errors that the machine's setup causes: `/dev/fuse`
/// missing (`ENOENT`, `ENODEV`) or not usable by the user (`EACCES`, `EPERM`).
pub fn fuse_mount(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(libc::EACCES | libc::EPERM | libc::ENOENT | libc::ENODEV) => format!(
            " (is /dev/fuse usable by this user? {RUN_DOCTOR}; --storage-driver vfs works \
             without it)"
        ),
        _ => String::new(),
    }
}

/// A block of 65536 ids that no range in the host's `/etc/subuid` or `/etc/subgid` uses.
pub fn free_range_on_host() -> Option<String> {
    let uid = SubidFile::read(Path::new(SUBUID)).ok()?;
    let gid = SubidFile::read(Path::new(SUBGID)).ok()?;
    Some(super::subids::free_range(&[&uid, &gid]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::idmap::{IdMap, IdMapEntry};

    #[test]
    fn unmapped_ids_name_the_file_and_the_fix() {
        let mut m = UserMapping {
            user: "alice".into(),
            uid: IdMap::single(1000),
            gid: IdMap::single(1000),
        };
        let text = unmapped_id(false, 100, &m, None);
        assert!(text.starts_with("user 100 is not mapped"), "{text}");
        assert!(text.contains("alice has no range in /etc/subuid"), "{text}");
        assert!(
            text.contains("usermod --add-subuids FIRST-LAST alice"),
            "{text}"
        );
        m.gid.entries.push(IdMapEntry {
            container: 1,
            host: 100_000,
            size: 65536,
        });
        let text = unmapped_id(true, 100_000, &m, Some("231072-296607"));
        assert!(
            text.contains("alice's ranges in /etc/subgid give container ids 0-65536"),
            "{text}"
        );
        assert!(
            text.contains("`usermod --add-subgids 231072-296607 alice`"),
            "{text}"
        );
    }

    #[test]
    fn fuse_mount_errors_from_the_setup_point_at_the_doctor() {
        let denied = std::io::Error::from_raw_os_error(libc::EACCES);
        assert!(fuse_mount(&denied).contains(RUN_DOCTOR));
        let other = std::io::Error::from_raw_os_error(libc::EIO);
        assert_eq!(fuse_mount(&other), "");
    }
}
