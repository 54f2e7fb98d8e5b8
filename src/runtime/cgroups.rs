//! Why resource limits (`--memory`, `--cpus`, `--pids-limit`...) and `pause` are refused:
//! rootless containers can use only a cgroup v2 subtree delegated to the user (by systemd's
//! user session), and coracle does not create cgroups yet. The refusal says what this
//! machine has, so that the user learns whether a limit could work here at all.

use std::path::{Path, PathBuf};

const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// What this machine offers for the calling process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CgroupSupport {
    /// No cgroup file system at `/sys/fs/cgroup`.
    None,
    /// cgroup v1 controllers only (`unified`: the cgroup v2 mount of a hybrid layout).
    V1 { unified: Option<PathBuf> },
    /// cgroup v2, with this process's cgroup directory, whether the user may write it
    /// (delegated) and the controllers it offers.
    V2 {
        dir: PathBuf,
        writable: bool,
        controllers: Vec<String>,
    },
}

impl CgroupSupport {
    /// Looks at `/sys/fs/cgroup` and `/proc/self/cgroup`.
    pub fn detect() -> CgroupSupport {
        let root = Path::new(CGROUP_ROOT);
        let own = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
        let v2_path = own
            .lines()
            .find_map(|l| l.strip_prefix("0::"))
            .unwrap_or("/")
            .trim_start_matches('/')
            .to_string();
        let v2_at = |mount: &Path| {
            let dir = mount.join(&v2_path);
            let controllers = std::fs::read_to_string(dir.join("cgroup.controllers"))
                .unwrap_or_default()
                .split_whitespace()
                .map(String::from)
                .collect();
            let writable = rustix::fs::access(&dir, rustix::fs::Access::WRITE_OK).is_ok();
            CgroupSupport::V2 {
                dir,
                writable,
                controllers,
            }
        };
        if root.join("cgroup.controllers").exists() {
            return v2_at(root);
        }
        let unified = root.join("unified");
        if unified.join("cgroup.controllers").exists() {
            return CgroupSupport::V1 {
                unified: Some(unified),
            };
        }
        let mounted = std::fs::read_dir(root).is_ok_and(|rd| rd.count() > 0);
        if mounted {
            CgroupSupport::V1 { unified: None }
        } else {
            CgroupSupport::None
        }
    }

    /// Why a limit that needs `controller` cannot be applied (`None`: the freezer, which
    /// every cgroup v2 directory has).
    pub fn reason(&self, controller: Option<&str>) -> String {
        match self {
            CgroupSupport::None => format!("no cgroup file system is mounted at {CGROUP_ROOT}"),
            CgroupSupport::V1 { unified: None } => format!(
                "{CGROUP_ROOT} is a cgroup v1 hierarchy, which cannot be delegated to an \
                 ordinary user"
            ),
            CgroupSupport::V1 {
                unified: Some(u), ..
            } => format!(
                "{CGROUP_ROOT} is a hybrid cgroup v1 hierarchy: the controllers are bound to \
                 cgroup v1, and the cgroup v2 at {} is not delegated and has none",
                u.display()
            ),
            CgroupSupport::V2 {
                dir,
                writable: false,
                ..
            } => format!(
                "this process's cgroup v2 {} is not delegated to uid {} (not writable; \
                 systemd's user session delegates one)",
                dir.display(),
                rustix::process::getuid().as_raw()
            ),
            CgroupSupport::V2 {
                dir, controllers, ..
            } => match controller {
                Some(c) if !controllers.iter().any(|x| x == c) => format!(
                    "the delegated cgroup v2 {} does not offer the {c} controller",
                    dir.display()
                ),
                _ => format!(
                    "coracle does not place containers in cgroups yet (a delegated cgroup v2 \
                     is at {})",
                    dir.display()
                ),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_name_what_is_missing() {
        let hybrid = CgroupSupport::V1 {
            unified: Some("/sys/fs/cgroup/unified".into()),
        };
        assert!(hybrid.reason(Some("memory")).contains("hybrid"));
        let v2 = |writable, controllers: &[&str]| CgroupSupport::V2 {
            dir: "/sys/fs/cgroup/user.slice".into(),
            writable,
            controllers: controllers.iter().map(|c| c.to_string()).collect(),
        };
        assert!(
            v2(false, &["memory"])
                .reason(Some("memory"))
                .contains("not delegated")
        );
        assert!(
            v2(true, &["cpu"])
                .reason(Some("memory"))
                .contains("memory controller")
        );
        assert!(
            v2(true, &["memory"])
                .reason(Some("memory"))
                .contains("not place")
        );
        // Whatever this machine has, it is described.
        assert!(!CgroupSupport::detect().reason(None).is_empty());
    }
}
