//! Other programs the tests use (Podman, skopeo, umoci), found on `PATH` or skipped.

use std::path::PathBuf;

use super::cmd::Cmd;
use super::users::{TestEnv, skip};

/// The path of `tool` when it is installed.
pub fn which(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/sbin:/usr/bin:/sbin:/bin".into());
    std::env::split_paths(&path)
        .map(|d| d.join(tool))
        .find(|p| p.is_file())
}

/// The path of `tool`, or prints the SKIP line for this test and returns `None`.
pub fn require(env: &TestEnv, tool: &str) -> Option<PathBuf> {
    let found = which(tool);
    if found.is_none() {
        skip(
            &env.test,
            env.user.name(),
            &format!("{tool} is not installed (tests/run-all.sh installs it)"),
        );
    }
    found
}

/// Podman as root on a store of its own inside the test's directory (vfs driver, so nothing
/// needs fuse-overlayfs or kernel overlay mounts).
pub fn podman(env: &TestEnv, podman: &std::path::Path) -> Cmd {
    let mut c = Cmd::new(podman, "root");
    c.env("HOME", env.home())
        .env(
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        )
        .env("XDG_RUNTIME_DIR", env.path("xdg-run"))
        .env("XDG_CONFIG_HOME", env.home().join(".config"));
    c.arg("--root")
        .arg(env.path("pr"))
        .arg("--runroot")
        .arg(env.path("prr"))
        .arg("--storage-driver")
        .arg("vfs")
        .arg("--cgroup-manager")
        .arg("cgroupfs")
        .arg("--events-backend")
        .arg("file");
    c
}
