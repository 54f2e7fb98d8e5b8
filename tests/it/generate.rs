//! `generate systemd`: the units pass `systemd-analyze --user verify`, and the commands of a
//! `--new` unit, run as systemd runs them (with a `NOTIFY_SOCKET` the test binds), start the
//! container, say `MAINPID=<a live process>` and `READY=1`, and stop and remove it again.
//! tests/it/systemd_user.rs runs a generated unit under a real `systemd --user`.

use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::harness::images::busybox;
use crate::harness::tools::which;
use crate::harness::{Cmd, TestEnv, for_each_user, skip};

/// `systemd-analyze --user verify UNIT`: passes with nothing said (an unknown key is only a
/// warning there, which counts as a failure here).
pub(crate) fn verify(env: &TestEnv, unit: &Path) {
    let Some(analyze) = which("systemd-analyze") else {
        skip(
            "verify",
            "self",
            "systemd-analyze is not installed (tests/run-all.sh installs systemd)",
        );
        return;
    };
    let runtime = env.path("verify-run");
    std::fs::create_dir_all(&runtime).unwrap();
    std::fs::set_permissions(&runtime, std::fs::Permissions::from_mode(0o700)).unwrap();
    let o = Cmd::new(analyze, "self")
        .args(["--user", "verify"])
        .arg(unit)
        .env("XDG_RUNTIME_DIR", &runtime)
        .output();
    assert!(
        o.code() == Some(0) && o.stderr().trim().is_empty(),
        "systemd-analyze verify {}:\n{}\n{o}",
        unit.display(),
        std::fs::read_to_string(unit).unwrap_or_default()
    );
}

/// The value of the first `key=` line of `unit`.
pub(crate) fn value<'a>(unit: &'a str, key: &str) -> &'a str {
    unit.lines()
        .find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
        .unwrap_or_else(|| panic!("no {key}= in:\n{unit}"))
}

/// An `Exec*=` line as systemd runs it: the `-` prefix (failure ignored) and the words,
/// with `%t`, `%n`, `%N` and `%%` replaced and quotes removed.
pub(crate) fn exec_words(line: &str, runtime: &Path, unit: &str) -> (bool, Vec<String>) {
    let (ignore, line) = match line.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, line),
    };
    let stem = unit.strip_suffix(".service").unwrap_or(unit);
    let mut words = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.peek() == Some(&' ') {
            chars.next();
        }
        if chars.peek().is_none() {
            break;
        }
        let mut w = String::new();
        let mut quoted = false;
        while let Some(c) = chars.next() {
            match c {
                '"' => quoted = !quoted,
                '\\' if quoted => w.push(chars.next().unwrap()),
                ' ' if !quoted => break,
                '%' => match chars.next() {
                    Some('t') => w.push_str(&runtime.to_string_lossy()),
                    Some('n') => w.push_str(unit),
                    Some('N') => w.push_str(stem),
                    Some('%') => w.push('%'),
                    other => panic!("specifier %{other:?} in {line}"),
                },
                '$' if chars.peek() == Some(&'$') => {
                    chars.next();
                    w.push('$');
                }
                c => w.push(c),
            }
        }
        words.push(w);
    }
    (ignore, words)
}

/// A socket in the test's directory that the test user may send to.
pub(crate) fn notify_socket(env: &TestEnv) -> (UnixDatagram, PathBuf) {
    let path = env.path("notify.sock");
    let socket = UnixDatagram::bind(&path).expect("binding the notify socket");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o777)).unwrap();
    socket.set_nonblocking(true).unwrap();
    (socket, path)
}

pub(crate) fn received(socket: &UnixDatagram) -> Vec<String> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = socket.recv(&mut buf) {
        out.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    out
}

/// Runs the unit's `key=` command lines (all of them, in order) as the user, as systemd
/// would, with `NOTIFY_SOCKET` and `PODMAN_SYSTEMD_UNIT` set; their standard output.
pub(crate) fn run_exec(env: &TestEnv, unit_text: &str, unit: &str, key: &str, notify: &Path) {
    let runtime = env.path("xdg-run");
    std::fs::create_dir_all(&runtime).unwrap();
    env.give(&runtime);
    for line in unit_text
        .lines()
        .filter_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
    {
        let (ignore, words) = exec_words(line, &runtime, unit);
        let o = env
            .run_as(&words[0], &words[0])
            .args(&words[1..])
            .env("NOTIFY_SOCKET", notify)
            .env("PODMAN_SYSTEMD_UNIT", unit)
            .output();
        assert!(ignore || o.code() == Some(0), "{key}={line}:\n{o}");
    }
}

/// `MAINPID=` and `READY=1` among the messages; the pid.
pub(crate) fn ready_pid(got: &[String]) -> u32 {
    let all: Vec<&str> = got.iter().flat_map(|m| m.lines()).collect();
    let pid = all
        .iter()
        .find_map(|l| l.strip_prefix("MAINPID="))
        .unwrap_or_else(|| panic!("no MAINPID in {got:?}"));
    assert!(all.contains(&"READY=1"), "no READY=1 in {got:?}");
    pid.parse().unwrap()
}

pub(crate) fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// Waits up to 20 s for `cond`.
pub(crate) fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "timed out: {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn new_unit_runs_the_container_as_systemd_would() {
    for_each_user(|env| {
        env.load_image(busybox());
        env.ok(&[
            "--storage-driver",
            "vfs",
            "create",
            "--name",
            "web",
            "-e",
            "GREETING=a b%c",
            "busybox",
            "sh",
            "-c",
            "echo \"$GREETING\"; exec sleep 1000",
        ]);
        let unit = env.ok(&[
            "generate",
            "systemd",
            "--new",
            "--name",
            "--no-header",
            "web",
        ]);
        for want in [
            "Type=notify",
            "NotifyAccess=all",
            "Restart=on-failure",
            "TimeoutStopSec=70",
            "Environment=PODMAN_SYSTEMD_UNIT=%n",
            "WantedBy=default.target",
        ] {
            assert!(unit.lines().any(|l| l == want), "no {want}:\n{unit}");
        }
        let start = value(&unit, "ExecStart");
        assert!(
            start.contains(" run --cidfile=%t/%n.ctr-id --rm --sdnotify=conmon --replace -d ")
                && start.contains(" -e \"GREETING=a b%%c\" "),
            "{start}"
        );
        assert!(!start.contains(" create "), "{start}");
        let path = env.write("container-web.service", &unit);
        verify(env, &path);

        // The create command's container is replaced by the unit's.
        let (socket, sock_path) = notify_socket(env);
        run_exec(
            env,
            &unit,
            "container-web.service",
            "ExecStartPre",
            &sock_path,
        );
        run_exec(env, &unit, "container-web.service", "ExecStart", &sock_path);
        let pid = ready_pid(&received(&socket));
        assert!(alive(pid), "MAINPID {pid} is not running");
        let ps = env.ok(&["ps", "--format", "{{.Names}} {{.Status}}"]);
        assert!(ps.starts_with("web Up"), "{ps}");
        let logs = env.ok(&["logs", "web"]);
        assert_eq!(logs, "a b%c\n");
        // The container knows its unit (PODMAN_SYSTEMD_UNIT), for auto-update.
        let id = env.ok(&["ps", "-q", "--no-trunc"]);
        let record = std::fs::read_to_string(
            env.root()
                .join("containers")
                .join(id.trim())
                .join("container.json"),
        )
        .unwrap();
        assert!(
            record.contains("\"PODMAN_SYSTEMD_UNIT\": \"container-web.service\""),
            "the unit label is missing: {record}"
        );

        run_exec(env, &unit, "container-web.service", "ExecStop", &sock_path);
        run_exec(
            env,
            &unit,
            "container-web.service",
            "ExecStopPost",
            &sock_path,
        );
        eventually("the monitor to end", || !alive(pid));
        assert_eq!(env.ok(&["ps", "-a", "-q"]), "");
        // And again, as a restart does.
        run_exec(
            env,
            &unit,
            "container-web.service",
            "ExecStartPre",
            &sock_path,
        );
        run_exec(env, &unit, "container-web.service", "ExecStart", &sock_path);
        let pid = ready_pid(&received(&socket));
        run_exec(env, &unit, "container-web.service", "ExecStop", &sock_path);
        run_exec(
            env,
            &unit,
            "container-web.service",
            "ExecStopPost",
            &sock_path,
        );
        eventually("the monitor to end", || !alive(pid));
    });
}

#[test]
fn unit_for_an_existing_container_starts_and_stops_it() {
    for_each_user(|env| {
        env.load_image(busybox());
        let id = env.ok(&[
            "--storage-driver",
            "vfs",
            "create",
            "--name",
            "db",
            "busybox",
            "sleep",
            "1000",
        ]);
        let id = id.trim();
        let unit = env.ok(&[
            "generate",
            "systemd",
            "--restart-policy",
            "always",
            "--restart-sec",
            "3",
            "-t",
            "5",
            "--wants",
            "paths.target",
            "--after",
            "sockets.target",
            "--requires",
            "timers.target",
            "db",
        ]);
        assert!(
            unit.starts_with(&format!("# container-{id}.service\n")),
            "{unit}"
        );
        for want in [
            "Restart=always",
            "RestartSec=3",
            "TimeoutStopSec=65",
            "Wants=network-online.target paths.target",
            "After=network-online.target sockets.target",
            "Requires=timers.target",
        ] {
            assert!(unit.lines().any(|l| l == want), "no {want}:\n{unit}");
        }
        assert!(value(&unit, "ExecStart").ends_with(&format!(" start --attach {id}")));
        assert!(value(&unit, "ExecStop").ends_with(&format!(" stop -t 5 {id}")));
        let path = env.write("db.service", &unit);
        verify(env, &path);

        // --files writes container-db.service (with --name) and prints its path.
        let printed = env.ok(&["generate", "systemd", "--files", "--name", "db"]);
        let file = env.path("container-db.service");
        assert_eq!(printed.trim(), file.to_string_lossy());
        verify(env, &file);

        // ExecStart stays in the foreground while the container runs; ExecStop ends it.
        let unit_text = std::fs::read_to_string(&file).unwrap();
        let runtime = env.path("xdg-run");
        let (_, words) = exec_words(
            value(&unit_text, "ExecStart"),
            &runtime,
            "container-db.service",
        );
        let mut child = env
            .run_as(&words[0], "coracle")
            .args(&words[1..])
            .command()
            .spawn()
            .unwrap();
        eventually("db to run", || {
            env.ok(&["ps", "--format", "{{.Names}}"]).contains("db")
        });
        let (_, sock) = notify_socket(env);
        run_exec(env, &unit_text, "container-db.service", "ExecStop", &sock);
        let status = child.wait().unwrap();
        assert!(status.code().is_some(), "{status:?}");
        assert_eq!(env.ok(&["ps", "-q"]), "");
        assert_eq!(env.ok(&["ps", "-a", "-q"]).trim().len(), 12);
    });
}

#[test]
fn new_needs_the_create_command_and_unknown_containers_fail() {
    for_each_user(|env| {
        env.coracle()
            .args(["generate", "systemd", "--new", "nosuch"])
            .fails(125)
            .assert_stderr_contains("nosuch");
    });
}
