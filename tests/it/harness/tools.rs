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

/// Podman as the test's (non-root) user, set up as this machine needs for `podman run`
/// (TESTING.md): cgroupfs, file events, crun — with crun's refusal of the hybrid cgroup
/// layout worked around inside Podman's own namespace (an empty tmpfs over
/// `/sys/fs/cgroup/unified` there; the host is untouched). Its store and its pause process
/// go when this is dropped.
pub struct RootlessPodman<'a> {
    env: &'a TestEnv,
    bin: PathBuf,
}

impl<'a> RootlessPodman<'a> {
    pub fn new(env: &'a TestEnv, bin: PathBuf) -> RootlessPodman<'a> {
        assert!(!env.user.is_root(), "RootlessPodman is for the test users");
        env.write(
            "home/.config/containers/containers.conf",
            "[containers]\ncgroups = \"enabled\"\n\n[engine]\ncgroup_manager = \"cgroupfs\"\n\
             events_logger = \"file\"\nruntime = \"crun\"\n",
        );
        let p = RootlessPodman { env, bin };
        p.cmd()
            .args(["unshare", "sh", "-c"])
            .arg(
                "if [ \"$(stat -f -c %T /sys/fs/cgroup/unified 2>/dev/null)\" = cgroup2fs ]; then \
                 mount -t tmpfs -o ro,size=4k,mode=0555 no-cgroup2 /sys/fs/cgroup/unified; fi",
            )
            .ok();
        p
    }

    /// `podman --root … --runroot …` as the user.
    pub fn cmd(&self) -> Cmd {
        let mut c = self.env.run_as(&self.bin, "podman");
        c.arg("--root")
            .arg(self.env.path("podman-root"))
            .arg("--runroot")
            .arg(self.env.path("podman-run"));
        c
    }
}

impl Drop for RootlessPodman<'_> {
    fn drop(&mut self) {
        // Files of subordinate ids: removed from inside the namespace.
        let _ = self
            .cmd()
            .args(["unshare", "rm", "-rf"])
            .arg(self.env.path("podman-root"))
            .output();
        let pid_file = self.env.path("xdg-run/libpod/tmp/pause.pid");
        if let Ok(pid) = std::fs::read_to_string(&pid_file)
            && let Ok(pid) = pid.trim().parse::<i32>()
        {
            let _ = std::process::Command::new("kill")
                .args(["-9", &pid.to_string()])
                .status();
        }
    }
}
