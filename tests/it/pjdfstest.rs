//! POSIX conformance of the overlay: pjdfstest (the Rust port) on a coracle mount of a
//! three-layer image, as uid 0 of `coracle unshare`'s namespace of the user with subordinate
//! ids and of the user without. `tests/pjdfstest/run.sh` does the run (the same script
//! `tests/pjdfstest/REPORT.md` was made with, there beside fuse-overlayfs and kernel
//! overlay); this test asserts that no fewer tests pass than `tests/pjdfstest/min-pass`
//! records. pjdfstest comes from `cargo install` (tests/run-all.sh installs it into
//! `/var/cache/coracle-tools`); without it the test skips.

use std::path::{Path, PathBuf};

use crate::harness::tools::which;
use crate::harness::users::binary;
use crate::harness::{Cmd, TestEnv, User, for_users, skip};

const TOOLS: &str = "/var/cache/coracle-tools/bin/pjdfstest";

fn pjdfstest() -> Option<PathBuf> {
    which("pjdfstest").or_else(|| Path::new(TOOLS).is_file().then(|| PathBuf::from(TOOLS)))
}

/// The recorded minimum pass count for `user`.
fn min_pass(user: &str) -> u32 {
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/pjdfstest/min-pass");
    let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("reading {file}: {e}"));
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| {
            let (u, n) = l.split_once(char::is_whitespace)?;
            (u == user).then(|| n.trim().parse().ok())?
        })
        .unwrap_or_else(|| panic!("{file} has no count for {user}"))
}

/// `passed=N` of the `RESULT coracle <user> ...` line.
fn passed(out: &str, user: &str) -> Option<u32> {
    let prefix = format!("RESULT coracle {user} ");
    let line = out.lines().find(|l| l.starts_with(&prefix))?;
    line.split_whitespace()
        .find_map(|w| w.strip_prefix("passed="))?
        .parse()
        .ok()
}

#[test]
fn pjdfstest_passes_on_the_overlay() {
    for_users(&[User::Sub, User::NoSub], |env: &TestEnv| {
        let Some(pjd) = pjdfstest() else {
            skip(
                &env.test,
                env.user.name(),
                "pjdfstest is not installed (tests/run-all.sh installs it)",
            );
            return;
        };
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/pjdfstest/run.sh");
        let user = env.user.name();
        let out = Cmd::new("/bin/bash", "root")
            .arg(script)
            .args(["--fs", "coracle", "--user", user, "--dir"])
            .arg(env.path("pjd"))
            .arg("--coracle")
            .arg(binary())
            .arg("--pjdfstest")
            .arg(&pjd)
            .output();
        let text = out.stdout();
        let Some(n) = passed(&text, user) else {
            out.fail("run.sh printed no RESULT line");
        };
        let min = min_pass(user);
        if n < min {
            let log = std::fs::read_to_string(env.path(format!("pjd/{user}/coracle.log")))
                .unwrap_or_default();
            out.fail(format!(
                "pjdfstest passed {n} tests, fewer than the {min} recorded in \
                 tests/pjdfstest/min-pass; its output:\n{log}"
            ));
        }
    });
}
