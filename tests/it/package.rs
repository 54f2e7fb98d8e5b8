//! The Debian package (`packaging/deb/build.sh`): built from the binary under test, installed
//! on this machine with `dpkg -i`, used by an ordinary user from the installed files, and
//! removed again (`dpkg --purge`, also when the test fails).

use std::path::Path;
use std::process::{Command, Stdio};

use crate::harness::images::busybox;
use crate::harness::{Cmd, TestEnv, User, for_users, skip};

const PACKAGE: &str = "coracle";

/// Why the package cannot be installed here, if it cannot.
fn unavailable() -> Option<String> {
    for tool in ["/usr/bin/dpkg-deb", "/usr/bin/dpkg"] {
        if !Path::new(tool).exists() {
            return Some(format!("no {tool}"));
        }
    }
    let status = Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", PACKAGE])
        .output()
        .ok()?;
    if String::from_utf8_lossy(&status.stdout).contains("installed") {
        return Some("a coracle package is already installed (the test would replace it)".into());
    }
    if Path::new("/usr/bin/coracle").exists() {
        return Some("/usr/bin/coracle exists and belongs to no package".into());
    }
    None
}

/// Purges the package when dropped, so a failing test leaves the machine as it was.
struct Installed;

impl Drop for Installed {
    fn drop(&mut self) {
        let status = Command::new("dpkg")
            .args(["--purge", PACKAGE])
            .stdout(Stdio::null())
            .status();
        if !status.as_ref().is_ok_and(|s| s.success()) {
            eprintln!("dpkg --purge {PACKAGE} failed: {status:?}");
        }
    }
}

fn installed(env: &TestEnv, args: &[&str]) -> Cmd {
    let mut c = env.run_as("/usr/bin/coracle", "/usr/bin/coracle");
    c.arg("--root")
        .arg(env.root())
        .arg("--runroot")
        .arg(env.runroot())
        .args(args);
    c
}

#[test]
fn the_package_installs_and_runs_a_container_as_a_user() {
    for_users(&[User::Sub], |env| {
        if let Some(reason) = unavailable() {
            skip(&env.test, env.user.name(), &reason);
            return;
        }
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/deb/build.sh");
        let out = env.path("deb");
        let built = Cmd::new(&script, "root")
            .arg("--binary")
            .arg(env!("CARGO_BIN_EXE_coracle"))
            .arg("--out")
            .arg(&out)
            .args(["--compression", "gzip"])
            .stdout();
        let deb = built.trim();
        let version = env!("CARGO_PKG_VERSION");
        assert!(
            deb.ends_with(&format!("/coracle_{version}_{}.deb", arch())),
            "{deb}"
        );
        let fields = Cmd::new("dpkg-deb", "root")
            .args(["-f", deb, "Depends"])
            .stdout();
        assert!(fields.contains("uidmap"), "{fields}");
        assert!(fields.contains("passt | slirp4netns"), "{fields}");
        assert!(!fields.contains("fuse"), "{fields}");

        let _guard = Installed;
        Cmd::new("dpkg", "root").args(["-i", deb]).ok();

        // An ordinary user loads an image and runs a container with the installed binary.
        let archive = env.docker_archive("busybox.tar", busybox());
        installed(env, &["load", "-i"]).arg(&archive).ok();
        let hello = installed(env, &["run", "--rm", "busybox", "echo", "hello"]).stdout();
        assert_eq!(hello, "hello\n");
        let doctor = installed(env, &["system", "doctor", "--format", "json"]).output();
        let findings = doctor.json();
        let subuid = findings
            .as_array()
            .and_then(|a| a.iter().find(|f| f["check"] == "subuid"))
            .unwrap_or_else(|| doctor.fail("no subuid check"));
        assert_eq!(subuid["status"], "ok", "{doctor}");

        // Man pages, completions and units where the system looks for them.
        let page = Cmd::new("man", "root").args(["-w", "coracle-run"]).stdout();
        assert_eq!(page.trim(), "/usr/share/man/man1/coracle-run.1.gz");
        let page = Cmd::new("man", "root")
            .args(["-w", "5", "coracle-storage.conf"])
            .stdout();
        assert_eq!(page.trim(), "/usr/share/man/man5/coracle-storage.conf.5.gz");
        for f in [
            "/usr/share/bash-completion/completions/coracle",
            "/usr/share/zsh/vendor-completions/_coracle",
            "/usr/share/fish/vendor_completions.d/coracle.fish",
            "/usr/lib/systemd/user/coracle-restart.service",
            "/usr/lib/systemd/user/coracle-example-web.service",
            "/usr/share/doc/coracle/examples/web.container",
            "/usr/share/doc/coracle/copyright",
        ] {
            assert!(Path::new(f).is_file(), "{f} is not installed");
        }
        verify_units(env);
    });
}

/// `systemd-analyze --user verify` of every installed example unit (it checks that the
/// units parse and that `/usr/bin/coracle` exists), where systemd-analyze is installed.
fn verify_units(env: &TestEnv) {
    let analyze = "/usr/bin/systemd-analyze";
    if !Path::new(analyze).exists() {
        skip(
            &env.test,
            "root",
            "no systemd-analyze: the units are not verified",
        );
        return;
    }
    let runtime = env.mkdir("analyze-run");
    for unit in ["coracle-restart.service", "coracle-example-web.service"] {
        Cmd::new(analyze, "root")
            .env("XDG_RUNTIME_DIR", &runtime)
            .args(["--user", "verify"])
            .arg(Path::new("/usr/lib/systemd/user").join(unit))
            .ok();
    }
}

fn arch() -> String {
    let out = Command::new("dpkg")
        .arg("--print-architecture")
        .output()
        .expect("dpkg --print-architecture");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}
