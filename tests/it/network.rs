//! The container's network: `--network none` has only `lo`, the default is pasta (with
//! slirp4netns by request), `/etc/hosts` and `/etc/resolv.conf` as Podman writes them, and a
//! container reaching a server the test runs on the host's loopback through
//! `host.containers.internal`. Servers listen on 127.0.0.1 only.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::harness::images::busybox;
use crate::harness::{TestEnv, for_each_user};

/// The network helpers coracle drives.
pub const HELPERS: [&str; 2] = ["pasta", "slirp4netns"];

/// Whether `/usr/bin/<helper>` is there; prints a SKIP line when not.
pub fn have(env: &TestEnv, helper: &str) -> bool {
    if Path::new("/usr/bin").join(helper).exists() {
        return true;
    }
    crate::harness::skip(
        &env.test,
        env.user.name(),
        &format!("{helper} is not installed (apt-get install passt slirp4netns)"),
    );
    false
}

/// `coracle --storage-driver vfs ARGS` started in the background as the test's user, its
/// stdout piped (for servers that run until the test stops them).
pub fn background(env: &TestEnv, args: &[&str]) -> Child {
    let bin = crate::harness::users::binary();
    let mut c = if env.user.is_root() {
        Command::new(bin)
    } else {
        let mut c = Command::new("/usr/bin/setpriv");
        c.arg(format!("--reuid={}", env.account.uid))
            .arg(format!("--regid={}", env.account.gid))
            .arg("--init-groups")
            .arg("--")
            .arg(bin);
        c
    };
    c.env_clear()
        .envs(env.environment())
        .current_dir(env.dir())
        .arg("--root")
        .arg(env.root())
        .arg("--runroot")
        .arg(env.runroot())
        .args(["--storage-driver", "vfs"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c.spawn().expect("starting coracle in the background")
}

/// Ends a background `coracle run` (SIGTERM, which the monitor passes to the container) and
/// returns its stderr.
pub fn stop(mut child: Child) -> String {
    let _ = nix_kill(child.id());
    let _ = child.wait();
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    err
}

fn nix_kill(pid: u32) -> std::io::Result<()> {
    let status = Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status()?;
    if status.success() {
        Ok(())
    } else {
        Err(std::io::Error::other("kill failed"))
    }
}

/// Network helper processes (pasta, slirp4netns) still running whose log or pid file is in
/// the test's directory: what a finished container must not leave behind.
pub fn helpers_left(env: &TestEnv) -> Vec<String> {
    let dir = env.dir().to_string_lossy().into_owned();
    let mut left = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let pid = entry.file_name().to_string_lossy().into_owned();
        if !pid.chars().all(|c| c.is_ascii_digit()) {
            continue;
        }
        let comm = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
        if !(comm.starts_with("pasta") || comm.starts_with("passt") || comm.starts_with("slirp")) {
            continue;
        }
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        if stat.split_whitespace().nth(2) == Some("Z") {
            continue;
        }
        let fds = std::fs::read_dir(entry.path().join("fd"));
        let ours = fds.into_iter().flatten().flatten().any(|fd| {
            std::fs::read_link(fd.path()).is_ok_and(|t| t.to_string_lossy().starts_with(&dir))
        });
        if ours {
            left.push(format!("{pid} {}", comm.trim()));
        }
    }
    left
}

/// A tiny HTTP server on 127.0.0.1 answering `body` to `count` requests, in a thread.
pub fn http_server(body: &'static str, count: usize) -> (u16, std::thread::JoinHandle<()>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let h = std::thread::spawn(move || {
        for _ in 0..count {
            let Ok((mut c, _)) = l.accept() else { return };
            let _ = c.set_read_timeout(Some(Duration::from_secs(10)));
            let mut r = BufReader::new(c.try_clone().unwrap());
            let mut line = String::new();
            while r.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let _ = write!(
                c,
                "HTTP/1.0 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (port, h)
}

fn run(env: &TestEnv, args: &[&str]) -> String {
    env.coracle()
        .args(["--storage-driver", "vfs", "run", "--rm"])
        .args(args)
        .stdout()
}

/// The interfaces of `/proc/net/dev`.
fn interfaces(dev: &str) -> Vec<String> {
    dev.lines()
        .skip(2)
        .filter_map(|l| l.split(':').next().map(|s| s.trim().to_string()))
        .collect()
}

#[test]
fn network_none_has_only_lo_and_the_default_has_an_interface() {
    for_each_user(|env| {
        env.load_image(busybox());
        let none = run(
            env,
            &["--network", "none", "busybox", "cat", "/proc/net/dev"],
        );
        assert_eq!(interfaces(&none), vec!["lo"], "{none}");
        if !have(env, "pasta") {
            return;
        }
        let dev = run(env, &["busybox", "cat", "/proc/net/dev"]);
        let ifs = interfaces(&dev);
        assert!(ifs.contains(&"lo".to_string()) && ifs.len() == 2, "{dev}");
        assert_eq!(helpers_left(env), Vec::<String>::new());
        assert_eq!(env.container_leftovers(), Vec::<String>::new());
    });
}

#[test]
fn hosts_and_resolv_conf_as_podman_writes_them() {
    for_each_user(|env| {
        env.load_image(busybox());
        if !have(env, "pasta") {
            return;
        }
        let out = run(
            env,
            &[
                "--name",
                "web",
                "--hostname",
                "box",
                "--add-host",
                "db:10.1.2.3",
                "busybox",
                "cat",
                "/etc/hosts",
                "/etc/resolv.conf",
            ],
        );
        assert!(
            out.starts_with("10.1.2.3\tdb\n127.0.0.1\tlocalhost"),
            "{out}"
        );
        assert!(out.contains("\tbox web\n"), "{out}");
        assert!(
            out.contains("\thost.containers.internal host.docker.internal\n"),
            "{out}"
        );
        assert!(out.contains("nameserver 169.254.1.1\n"), "{out}");
        let out = run(
            env,
            &[
                "--dns",
                "192.0.2.53",
                "--dns-search",
                "example.com",
                "--dns-option",
                "ndots:2",
                "busybox",
                "cat",
                "/etc/resolv.conf",
            ],
        );
        assert_eq!(
            out,
            "search example.com\nnameserver 192.0.2.53\noptions ndots:2\n"
        );
        let out = run(
            env,
            &["--network", "slirp4netns", "busybox", "cat", "/etc/hosts"],
        );
        assert!(out.contains("10.0.2.2\thost.containers.internal"), "{out}");
        // --no-hosts: the image's own /etc/hosts (busybox has none: an empty mount point).
        let out = run(env, &["--no-hosts", "busybox", "cat", "/etc/hosts"]);
        assert!(!out.contains("host.containers.internal"), "{out}");
        env.coracle()
            .args(["run", "--rm", "--add-host", "nocolon", "busybox", "true"])
            .fails(125)
            .assert_stderr_contains("nocolon");
        env.coracle()
            .args(["run", "--rm", "--network", "bridge", "busybox", "true"])
            .fails(125)
            .assert_stderr_contains("bridge");
    });
}

#[test]
fn network_host_keeps_the_hosts_resolv_conf() {
    for_each_user(|env| {
        env.load_image(busybox());
        let host = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
        let out = run(
            env,
            &["--network", "host", "busybox", "cat", "/etc/resolv.conf"],
        );
        assert_eq!(out, host);
    });
}

#[test]
fn a_container_reaches_a_server_on_the_hosts_loopback() {
    for_each_user(|env| {
        env.load_image(busybox());
        for helper in HELPERS {
            if !have(env, helper) {
                continue;
            }
            let (port, server) = http_server("from-the-host", 1);
            let url = format!("http://host.containers.internal:{port}/");
            let out = run(
                env,
                &[
                    "--network",
                    helper,
                    "busybox",
                    "busybox",
                    "wget",
                    "-q",
                    "-O",
                    "-",
                    &url,
                ],
            );
            assert_eq!(out, "from-the-host", "{helper}");
            server.join().unwrap();
            assert_eq!(helpers_left(env), Vec::<String>::new(), "{helper}");
        }
        let doc = env
            .coracle()
            .args([
                "create",
                "--name",
                "c",
                "--network",
                "slirp4netns",
                "busybox",
            ])
            .ok();
        drop(doc);
        let mode = env
            .coracle()
            .args([
                "container",
                "inspect",
                "--format",
                "{{.HostConfig.NetworkMode}}",
                "c",
            ])
            .stdout();
        assert_eq!(mode.trim(), "slirp4netns");
    });
}
