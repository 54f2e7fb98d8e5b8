//! The user a container's process runs as, resolved from inside the container's mount
//! namespace (its own `/etc/passwd` and `/etc/group`): the init and `exec` share these steps.

use std::fs;

use super::channel::{Report, Step};
use super::idmap::UserMapping;
use super::security::Identity;
use super::user::{self, ExecUser, UserSpec};

fn read(path: &str) -> String {
    fs::read_to_string(path).unwrap_or_default()
}

fn user_report(e: impl std::fmt::Display) -> Report {
    Report::Failed {
        step: Step::User,
        errno: 0,
        detail: e.to_string(),
    }
}

/// `user[:group]` (empty: root) against the container's `/etc/passwd` and `/etc/group`.
pub fn resolve(spec: &str) -> Result<ExecUser, Report> {
    UserSpec::parse(spec)
        .and_then(|u| user::resolve(&u, &read("/etc/passwd"), &read("/etc/group")))
        .map_err(user_report)
}

/// The ids and groups `user` switches to, with `--group-add`; supplementary groups only
/// where the namespace allows `setgroups` (a single-mapping namespace denies it,
/// user_namespaces(7): the process keeps the one group it has).
pub fn identity(
    user: &ExecUser,
    group_add: &[String],
    mapping: &UserMapping,
) -> Result<Identity, Report> {
    let setgroups_allowed = fs::read_to_string("/proc/self/setgroups")
        .map(|s| s.trim() != "deny")
        .unwrap_or(true);
    user::identity(
        user,
        group_add,
        &read("/etc/group"),
        setgroups_allowed,
        mapping,
    )
    .map_err(user_report)
}
