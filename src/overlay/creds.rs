//! What the kernel would ask of the caller's credentials where FUSE leaves the decision to the
//! filesystem: setting an access ACL keeps a set-gid bit only for a caller in the file's group
//! or holding `CAP_FSETID` (posix_acl_update_mode). The kernel only says so with
//! `FUSE_SETXATTR_EXT`, which fuser does not parse, so the caller's supplementary groups and
//! capabilities are read from `/proc/<pid>/status` (the request's thread, in this process's
//! PID namespace and, as the container shares it, its user namespace's ids).

use crate::runtime::idmap::IdMap;

/// The requesting thread: its id and filesystem gid, as the request carries them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Requester {
    pub pid: u32,
    pub gid: u32,
}

const CAP_FSETID: u32 = 4;

/// What `/proc/<pid>/status` says: supplementary groups and effective capabilities.
#[derive(Debug, Default, PartialEq, Eq)]
struct Status {
    groups: Vec<u32>,
    cap_eff: u64,
}

fn parse_status(text: &str) -> Status {
    let mut st = Status::default();
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("Groups:") {
            st.groups = v
                .split_whitespace()
                .filter_map(|g| g.parse().ok())
                .collect();
        } else if let Some(v) = line.strip_prefix("CapEff:") {
            st.cap_eff = u64::from_str_radix(v.trim(), 16).unwrap_or(0);
        }
    }
    st
}

impl Requester {
    /// Whether the caller is in group `file_gid` or may set ids regardless
    /// (in_group_or_capable). When its status cannot be read (the thread is gone), only
    /// its own gid counts: the bit is cleared, the safe side.
    pub(crate) fn in_group_or_capable(&self, file_gid: u32) -> bool {
        if self.gid == file_gid {
            return true;
        }
        let Ok(text) = std::fs::read_to_string(format!("/proc/{}/status", self.pid)) else {
            return false;
        };
        let st = parse_status(&text);
        st.groups.contains(&file_gid)
            || (st.cap_eff & (1 << CAP_FSETID) != 0 && gid_mapped(file_gid))
    }
}

/// Whether `gid` is mapped in this process's user namespace (the container's): a capability
/// counts only for a file whose group is (capable_wrt_inode_uidgid). An owner that is not
/// mapped is shown as the overflow id, which is then not mapped either.
fn gid_mapped(gid: u32) -> bool {
    static MAP: std::sync::OnceLock<IdMap> = std::sync::OnceLock::new();
    MAP.get_or_init(|| {
        IdMap::from_proc_text(&std::fs::read_to_string("/proc/self/gid_map").unwrap_or_default())
    })
    .to_host(gid)
    .is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_fields() {
        let st = parse_status(
            "Name:\tsh\nUid:\t0\t0\t0\t0\nGroups:\t10 20 \nCapInh:\t0\nCapEff:\t0000000000000010\n",
        );
        assert_eq!(st.groups, vec![10, 20]);
        assert_eq!(st.cap_eff, 1 << CAP_FSETID);
        assert_eq!(parse_status("Groups:\t\nCapEff:\tzz\n"), Status::default());
    }

    #[test]
    fn this_process() {
        let me = Requester {
            pid: std::process::id(),
            gid: rustix::process::getgid().as_raw(),
        };
        assert!(me.in_group_or_capable(me.gid), "its own group");
        let gone = Requester {
            pid: u32::MAX,
            gid: 1,
        };
        assert!(!gone.in_group_or_capable(2), "no status: not in the group");
    }
}
