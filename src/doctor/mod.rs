//! `coracle system doctor`: what in this machine's setup keeps coracle from working for this
//! user, and for each problem the exact command that fixes it.
//!
//! Each check is a function from the [`Host`] (who asks, which files to read) to a
//! [`Finding`]: ok, warn (coracle works, something is lost) or fail (something coracle needs
//! is missing), one line of details and, for every problem, a [`Fix`] — a command to paste,
//! with who must run it. Checks only read: they never change the machine.
//!
//! Every system file a check reads (`/proc/sys/...`, `/etc/subuid`, `/dev/fuse`,
//! `/usr/bin/newuidmap`, `/var/lib/systemd/linger/...`, `/sys/fs/cgroup/...`) is read below
//! [`Host::sysroot`], `/` normally. `CORACLE_DOCTOR_ROOT` moves it (hidden, for tests: a test
//! builds a small tree that breaks one condition and changes nothing shared); the paths
//! shown in findings and fixes stay the real ones.

mod cgroup;
mod devices;
mod helpers;
pub mod hints;
mod linger;
mod network;
pub mod runtime_dir;
pub mod store;
mod subids;
mod userns;

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::runtime::idmap::Account;

/// The environment variable that moves [`Host::sysroot`].
pub const ROOT_VAR: &str = "CORACLE_DOCTOR_ROOT";

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    /// coracle works, but something is lost (e.g. resource limits, units after logout).
    Warn,
    /// Something coracle needs is missing or refused.
    Fail,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Fail => "fail",
        }
    }
}

/// Who must run a fix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RunAs {
    Root,
    User,
}

/// The command that fixes a finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Fix {
    #[serde(rename = "runAs")]
    pub run_as: RunAs,
    pub command: String,
}

impl Fix {
    pub fn root(command: impl Into<String>) -> Fix {
        Fix {
            run_as: RunAs::Root,
            command: command.into(),
        }
    }

    pub fn user(command: impl Into<String>) -> Fix {
        Fix {
            run_as: RunAs::User,
            command: command.into(),
        }
    }
}

/// One check's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub check: &'static str,
    pub status: Status,
    pub details: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<Fix>,
}

impl Finding {
    pub fn ok(check: &'static str, details: impl Into<String>) -> Finding {
        Finding {
            check,
            status: Status::Ok,
            details: details.into(),
            fix: None,
        }
    }

    pub fn warn(check: &'static str, details: impl Into<String>, fix: Option<Fix>) -> Finding {
        Finding {
            check,
            status: Status::Warn,
            details: details.into(),
            fix,
        }
    }

    pub fn fail(check: &'static str, details: impl Into<String>, fix: Option<Fix>) -> Finding {
        Finding {
            check,
            status: Status::Fail,
            details: details.into(),
            fix,
        }
    }
}

/// What the checks look at: who asks, where the store is, and where system files are.
#[derive(Debug, Clone)]
pub struct Host {
    /// Prefix of every system file read (`/`, or `$CORACLE_DOCTOR_ROOT` in tests).
    pub sysroot: PathBuf,
    /// The user coracle runs as (its effective uid and gid).
    pub account: Account,
    /// `$XDG_RUNTIME_DIR`, if set and not empty.
    pub xdg_runtime_dir: Option<PathBuf>,
    /// `$SUDO_USER`, to tell a sudo session from a login.
    pub sudo_user: Option<String>,
    /// `$PATH`, where `newuidmap`, `pasta`... are looked for (below `sysroot`).
    pub path_var: String,
    /// The store's graph root (or why it could not be found) and how it was chosen.
    pub graphroot: Result<PathBuf, String>,
    pub graphroot_from_flag: bool,
    /// coracle's storage.conf for this user (where a new graphroot goes).
    pub storage_conf: Option<PathBuf>,
}

impl Host {
    /// `path` (absolute, as shown to the user) below [`Host::sysroot`].
    pub fn sys(&self, path: &str) -> PathBuf {
        self.sysroot.join(path.trim_start_matches('/'))
    }

    pub fn is_root(&self) -> bool {
        self.account.uid == 0
    }

    /// The user's login name, else the numeric uid (what `usermod` and `loginctl` take).
    pub fn user_name(&self) -> String {
        self.account
            .name
            .clone()
            .unwrap_or_else(|| self.account.uid.to_string())
    }

    /// The first executable file called `name` in `$PATH` (below `sysroot`), as the real path.
    pub fn which(&self, name: &str) -> Option<String> {
        self.path_var
            .split(':')
            .filter(|d| d.starts_with('/'))
            .map(|d| format!("{}/{name}", d.trim_end_matches('/')))
            .find(|p| is_executable_file(&self.sys(p)))
    }

    /// The package manager's install command for `debian_pkg` (Debian/Ubuntu names), or
    /// `other_pkg` for dnf/zypper (Fedora, openSUSE).
    pub fn install_command(&self, debian_pkg: &str, other_pkg: &str) -> String {
        if self.which("apt-get").is_some() {
            format!("apt-get install -y {debian_pkg}")
        } else if self.which("dnf").is_some() {
            format!("dnf install -y {other_pkg}")
        } else if self.which("zypper").is_some() {
            format!("zypper install -y {other_pkg}")
        } else if self.which("pacman").is_some() {
            format!("pacman -S --noconfirm {other_pkg}")
        } else {
            format!("apt-get install -y {debian_pkg}")
        }
    }
}

fn is_executable_file(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// One check: its name (the CHECK column) and its function.
pub type Check = (&'static str, fn(&Host) -> Finding);

/// Every check, in the order printed: what a container needs first, then what units need.
pub const CHECKS: &[Check] = &[
    ("userns", userns::check_userns),
    ("apparmor-userns", userns::check_apparmor),
    ("subuid", subids::check_subuid),
    ("subgid", subids::check_subgid),
    ("newuidmap", helpers::check_newuidmap),
    ("newgidmap", helpers::check_newgidmap),
    ("fuse", devices::check_fuse),
    ("tun", devices::check_tun),
    ("network", network::check),
    ("store", store::check),
    ("runtime-dir", runtime_dir::check),
    ("linger", linger::check),
    ("cgroup", cgroup::check),
];

/// Runs every check.
pub fn run_all(host: &Host) -> Vec<Finding> {
    CHECKS.iter().map(|(_, check)| check(host)).collect()
}

/// Reads a one-number file such as a sysctl; `None` when absent or not a number.
pub(crate) fn read_number(path: &Path) -> Option<i64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// An ordinary user `alice` (uid 1000) on this machine's files.
    pub(crate) fn host() -> Host {
        Host {
            sysroot: PathBuf::from("/"),
            account: Account {
                uid: 1000,
                gid: 1000,
                name: Some("alice".into()),
            },
            xdg_runtime_dir: None,
            sudo_user: None,
            path_var: "/usr/bin:/bin".into(),
            graphroot: Ok(PathBuf::from("/home/alice/.local/share/coracle")),
            graphroot_from_flag: false,
            storage_conf: None,
        }
    }

    #[test]
    fn every_check_reports_under_its_own_name() {
        let dir = tempfile::tempdir().unwrap();
        let mut host = host();
        host.sysroot = dir.path().to_path_buf();
        for (name, check) in CHECKS {
            assert_eq!(check(&host).check, *name);
        }
    }
}
