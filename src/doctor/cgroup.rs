//! cgroup v2 delegation: coracle sets a container's resource limits (`--memory`, `--cpus`,
//! `--pids-limit`...) by writing to a cgroup v2 directory the user owns. That needs the
//! unified hierarchy (`/sys/fs/cgroup/cgroup.controllers` exists only there) and a cgroup
//! delegated to the user — systemd delegates `user@UID.service` (memory and pids by default;
//! cpu, cpuset and io with `Delegate=`), or a container manager hands over the process's own
//! cgroup. Without it containers still run; only limits are refused.

use std::os::unix::fs::MetadataExt as _;
use std::path::PathBuf;

use super::{Finding, Fix, Host};

/// The controllers coracle's limits use.
const WANTED: &[&str] = &["cpu", "cpuset", "io", "memory", "pids"];

const DELEGATE_FIX: &str = "mkdir -p /etc/systemd/system/user@.service.d && printf \
     '[Service]\\nDelegate=cpu cpuset io memory pids\\n' > \
     /etc/systemd/system/user@.service.d/delegate.conf && systemctl daemon-reload";

const UNIFIED_FIX: &str = "sed -i 's/^GRUB_CMDLINE_LINUX=\"/&systemd.unified_cgroup_hierarchy=1 /' \
     /etc/default/grub && update-grub && reboot";

pub fn check(host: &Host) -> Finding {
    const NAME: &str = "cgroup";
    let base = host.sys("/sys/fs/cgroup");
    if !base.join("cgroup.controllers").exists() {
        return Finding::warn(
            NAME,
            "no cgroup v2 unified hierarchy at /sys/fs/cgroup (v1 or hybrid): resource limits \
             (--memory, --cpus, --pids-limit) are refused",
            Some(Fix::root(UNIFIED_FIX)),
        );
    }
    if host.is_root() {
        let all = read_controllers(&base.join("cgroup.controllers"));
        return Finding::ok(NAME, format!("cgroup v2, controllers: {}", all.join(" ")));
    }
    let Some(dir) = delegated_dir(host) else {
        return Finding::warn(
            NAME,
            format!(
                "cgroup v2, but no cgroup is delegated to {}: resource limits (--memory, \
                 --cpus, --pids-limit) are refused",
                host.user_name()
            ),
            Some(Fix::root(DELEGATE_FIX)),
        );
    };
    let have = read_controllers(&dir.join("cgroup.controllers"));
    let missing: Vec<&str> = WANTED
        .iter()
        .copied()
        .filter(|c| !have.iter().any(|h| h == c))
        .collect();
    if missing.is_empty() {
        return Finding::ok(NAME, format!("delegated controllers: {}", have.join(" ")));
    }
    Finding::warn(
        NAME,
        format!(
            "delegated controllers: {}; limits needing {} are refused",
            if have.is_empty() {
                "none".to_string()
            } else {
                have.join(" ")
            },
            missing.join(", ")
        ),
        Some(Fix::root(DELEGATE_FIX)),
    )
}

fn read_controllers(path: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .map(|s| s.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default()
}

/// The cgroup directory the user owns: the process's own, else systemd's
/// `user@UID.service`.
fn delegated_dir(host: &Host) -> Option<PathBuf> {
    let uid = host.account.uid;
    let base = host.sys("/sys/fs/cgroup");
    let own = std::fs::read_to_string(host.sys("/proc/self/cgroup"))
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("0::")
                    .map(|p| p.trim_start_matches('/').to_string())
            })
        })
        .map(|p| base.join(p));
    let systemd = base.join(format!("user.slice/user-{uid}.slice/user@{uid}.service"));
    [own, Some(systemd)]
        .into_iter()
        .flatten()
        .find(|d| std::fs::metadata(d).is_ok_and(|m| m.is_dir() && m.uid() == uid))
}
