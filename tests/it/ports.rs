//! Published ports: a real server in the container answers on the host's loopback (TCP and
//! UDP, with pasta and slirp4netns), `port`, `ps`'s PORTS and `inspect` show the mapping,
//! random host ports, ranges and `-P`, and a host port already in use is refused by number.

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::images::{History, Image, busybox, busybox_layer};
use crate::harness::{TestEnv, for_each_user};
use crate::network::{HELPERS, background, have, helpers_left, stop};

/// How long a server in a starting container may take to answer before the test gives up.
const PATIENCE: Duration = Duration::from_secs(30);

fn ok(env: &TestEnv, args: &[&str]) -> String {
    env.coracle()
        .args(["--storage-driver", "vfs"])
        .args(args)
        .stdout()
}

/// Waits until `coracle port NAME PRIVATE` answers (the container runs), returns it.
fn wait_port(env: &TestEnv, name: &str, private: &str) -> String {
    let start = Instant::now();
    loop {
        let o = env
            .coracle()
            .args(["--storage-driver", "vfs", "port", name, private])
            .output();
        if o.status.success() && !o.stdout().trim().is_empty() {
            return o.stdout().trim().to_string();
        }
        assert!(
            start.elapsed() < PATIENCE,
            "{name} never ran: {}",
            o.stderr()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// An HTTP GET of `path` on 127.0.0.1:`port`, retried until the server answers.
fn http_get(port: u16, path: &str) -> String {
    let start = Instant::now();
    loop {
        if let Ok(mut c) = TcpStream::connect(("127.0.0.1", port)) {
            let _ = c.set_read_timeout(Some(Duration::from_secs(10)));
            let _ = write!(c, "GET {path} HTTP/1.0\r\n\r\n");
            let mut reply = String::new();
            let _ = c.read_to_string(&mut reply);
            if reply.starts_with("HTTP/1") {
                return reply;
            }
        }
        assert!(
            start.elapsed() < PATIENCE,
            "nothing answered on port {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_published_tcp_port_reaches_a_server_in_the_container() {
    for_each_user(|env| {
        env.load_image(busybox());
        for helper in HELPERS {
            if !have(env, helper) {
                continue;
            }
            let name = format!("web-{helper}");
            // httpd serves the container's /etc: /hostname names the container. The shell
            // is PID 1 with a SIGTERM trap (PID 1 ignores signals it has no handler for).
            let child = background(
                env,
                &[
                    "run",
                    "--rm",
                    "--name",
                    &name,
                    "--hostname",
                    "webbox",
                    "--network",
                    helper,
                    "-p",
                    "127.0.0.1::80",
                    "busybox",
                    "sh",
                    "-c",
                    "trap 'exit 0' TERM; busybox httpd -f -p 80 -h /etc & wait",
                ],
            );
            let addr = wait_port(env, &name, "80/tcp");
            let port: u16 = addr
                .strip_prefix("127.0.0.1:")
                .and_then(|p| p.parse().ok())
                .unwrap_or_else(|| panic!("port printed {addr:?}"));
            let reply = http_get(port, "/hostname");
            assert!(reply.ends_with("\r\n\r\nwebbox\n"), "{helper}: {reply}");
            assert_eq!(
                ok(env, &["port", &name]),
                format!("80/tcp -> 127.0.0.1:{port}\n")
            );
            let all = ok(env, &["port", "-a"]);
            assert!(
                all.contains(&format!("\t80/tcp -> 127.0.0.1:{port}\n")),
                "{all}"
            );
            assert_eq!(
                ok(env, &["ps", "--format", "{{.Ports}}"]),
                format!("127.0.0.1:{port}->80/tcp\n")
            );
            let doc: Value =
                serde_json::from_str(&ok(env, &["container", "inspect", &name])).unwrap();
            assert_eq!(
                doc[0]["NetworkSettings"]["Ports"],
                json!({"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": port.to_string()}]})
            );
            assert_eq!(doc[0]["HostConfig"]["NetworkMode"], helper);
            stop(child);
            assert_eq!(helpers_left(env), Vec::<String>::new(), "{helper}");
            // The port is free again.
            TcpListener::bind(("127.0.0.1", port)).expect("the host port is released");
        }
    });
}

/// A container whose user namespace does not make the user root (`--userns=keep-id`,
/// `--uidmap` as root) still gets its network helper: a server in it answers on a published
/// port, and its process has the ids it was given.
#[test]
fn keep_id_and_uidmap_containers_get_the_network() {
    for_each_user(|env| {
        // keep-id is refused as root and without ranges (tests/it/userns.rs).
        let (flags, uid): (Vec<&str>, u32) = match env.user {
            crate::harness::User::NoSub => return,
            // Root's own id must be mapped: the monitor is uid 1000 in the namespace.
            crate::harness::User::Root => (
                vec![
                    "--uidmap",
                    "0:200000:1000",
                    "--uidmap",
                    "1000:0:1",
                    "--gidmap",
                    "0:200000:1000",
                    "--gidmap",
                    "1000:0:1",
                ],
                0,
            ),
            _ => (vec!["--userns=keep-id"], env.account.uid),
        };
        env.load_image(busybox());
        for helper in HELPERS {
            if !have(env, helper) {
                continue;
            }
            let name = format!("kid-{helper}");
            let mut args = vec!["run", "--rm", "--name", &name, "-p", "127.0.0.1::8080"];
            args.extend(&flags);
            if helper != "pasta" {
                args.extend(["--network", helper]);
            }
            args.extend([
                "busybox",
                "sh",
                "-c",
                "trap 'exit 0' TERM; mkdir /tmp/w && id -u > /tmp/w/uid && \
                 busybox httpd -f -p 8080 -h /tmp/w & wait",
            ]);
            let child = background(env, &args);
            let addr = wait_port(env, &name, "8080/tcp");
            let port: u16 = addr
                .strip_prefix("127.0.0.1:")
                .and_then(|p| p.parse().ok())
                .unwrap_or_else(|| panic!("port printed {addr:?}"));
            let reply = http_get(port, "/uid");
            assert!(
                reply.ends_with(&format!("\r\n\r\n{uid}\n")),
                "{helper}: {reply}"
            );
            let err = stop(child);
            assert!(!err.contains("WARN"), "{helper}: {err}");
            assert_eq!(helpers_left(env), Vec::<String>::new(), "{helper}");
        }
    });
}

/// A one-shot TFTP server (UDP) on 127.0.0.1: answers a read request with `content`, waits
/// for the acknowledgement; its thread returns the file name asked for. Returns its port.
fn tftp_server(content: &'static [u8]) -> (u16, std::thread::JoinHandle<Option<String>>) {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = sock.local_addr().unwrap().port();
    sock.set_read_timeout(Some(PATIENCE)).unwrap();
    let h = std::thread::spawn(move || {
        let mut b = [0u8; 516];
        let mut name = None;
        // A client that hears nothing sends its request again: answer every copy, until the
        // acknowledgement of block 1 arrives (or the read times out).
        loop {
            let Ok((n, peer)) = sock.recv_from(&mut b) else {
                // The container's last datagram (the acknowledgement) may be lost when its
                // network helper ends with it; the client's output proves the reply arrived.
                return name;
            };
            match b[..n.min(4)] {
                // RRQ: opcode 1, file name, NUL, mode, NUL (options may follow; they are
                // ignored, which RFC 2347 allows).
                [0, 1, ..] => {
                    let file = b[2..n].split(|c| *c == 0).next()?;
                    name = Some(String::from_utf8_lossy(file).into_owned());
                    let mut data = vec![0, 3, 0, 1];
                    data.extend_from_slice(content);
                    sock.send_to(&data, peer).ok()?;
                    sock.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
                }
                [0, 4, 0, 1] => return name,
                _ => return None,
            }
        }
    });
    (port, h)
}

/// UDP both ways: busybox's TFTP client in the container fetches a file from a TFTP server
/// the test runs on the host's loopback (busybox has no UDP server to publish).
#[test]
fn udp_reaches_a_server_on_the_hosts_loopback() {
    for_each_user(|env| {
        env.load_image(busybox());
        for helper in HELPERS {
            if !have(env, helper) {
                continue;
            }
            let (port, server) = tftp_server(b"over udp\n");
            let fetch = format!(
                "busybox tftp -g -r hello -l /tmp/got host.containers.internal {port} && \
                 cat /tmp/got"
            );
            let out = env
                .coracle()
                .args([
                    "--storage-driver",
                    "vfs",
                    "run",
                    "--rm",
                    "--network",
                    helper,
                ])
                .args(["busybox", "sh", "-c", &fetch])
                .output();
            let asked = server.join().unwrap();
            assert!(out.status.success(), "{helper}: {out}");
            assert_eq!(out.stdout(), "over udp\n", "{helper}");
            assert_eq!(asked.as_deref(), Some("hello"), "{helper}");
            assert_eq!(helpers_left(env), Vec::<String>::new(), "{helper}");
        }
    });
}

#[test]
fn a_host_port_in_use_is_refused_by_number() {
    for_each_user(|env| {
        env.load_image(busybox());
        if !have(env, "pasta") {
            return;
        }
        let held = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = held.local_addr().unwrap().port();
        let o = env
            .coracle()
            .args(["--storage-driver", "vfs", "run", "--rm", "-p"])
            .arg(format!("127.0.0.1:{port}:80"))
            .args(["busybox", "true"])
            .fails(125);
        o.assert_stderr_contains(&port.to_string());
        assert_eq!(env.container_leftovers(), Vec::<String>::new());
        assert_eq!(helpers_left(env), Vec::<String>::new());
        drop(held);
    });
}

#[test]
fn a_restarted_container_publishes_its_port_again() {
    for_each_user(|env| {
        env.load_image(busybox());
        if !have(env, "pasta") {
            return;
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        // Each start's pasta binds the port: the previous one must be gone by then (it is
        // killed when its start ends and reaped before the next one).
        ok(
            env,
            &[
                "run",
                "-d",
                "--restart",
                "on-failure:2",
                "--name",
                "again",
                "-p",
                &format!("127.0.0.1:{port}:80"),
                "busybox",
                "sh",
                "-c",
                "echo attempt; exit 1",
            ],
        );
        // A start that could not publish the port would end the restarts with fewer runs.
        let status = || {
            let logs = ok(env, &["logs", "again"]);
            let state = ok(env, &["inspect", "--format", "{{.State.Status}}", "again"]);
            (logs.matches("attempt").count(), state.trim().to_string())
        };
        let start = Instant::now();
        while status() != (3, "exited".to_string()) {
            assert!(start.elapsed() < PATIENCE * 2, "{:?}", status());
            std::thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(
            ok(env, &["inspect", "--format", "{{.RestartCount}}", "again"]),
            "2\n"
        );
        ok(env, &["rm", "again"]);
        assert_eq!(helpers_left(env), Vec::<String>::new());
        TcpListener::bind(("127.0.0.1", port)).expect("the host port is released");
    });
}

#[test]
fn ranges_publish_all_and_random_ports_are_recorded() {
    for_each_user(|env| {
        env.load_image(busybox());
        let image = Image::new(
            vec![busybox_layer().clone()],
            vec![History::layer("ADD busybox")],
            json!({"Cmd": ["sh"], "ExposedPorts": {"80/tcp": {}}}),
            &["exposing:latest"],
        );
        env.load_image(&image);
        if !have(env, "pasta") {
            return;
        }
        ok(
            env,
            &[
                "create",
                "--name",
                "r",
                "-p",
                "18000-18002:80-82/udp",
                "--expose",
                "9000",
                "-P",
                "exposing",
            ],
        );
        let ports = ok(env, &["ps", "-a", "--format", "{{.Ports}}"]);
        let parts: Vec<&str> = ports.trim().split(", ").collect();
        assert_eq!(parts[0], "0.0.0.0:18000-18002->80-82/udp", "{ports}");
        assert_eq!(parts.len(), 3, "{ports}");
        for (part, private) in parts[1..].iter().zip(["9000/tcp", "80/tcp"]) {
            let host_port = part
                .strip_prefix("0.0.0.0:")
                .and_then(|p| p.strip_suffix(&format!("->{private}")))
                .unwrap_or_else(|| panic!("{part}"));
            assert!(host_port.parse::<u16>().is_ok_and(|p| p > 0), "{part}");
        }
        let doc: Value = serde_json::from_str(&ok(env, &["container", "inspect", "r"])).unwrap();
        assert_eq!(
            doc[0]["HostConfig"]["PortBindings"]["81/udp"],
            json!([{"HostIp": "", "HostPort": "18001"}])
        );
        env.coracle()
            .args(["create", "-p", "80000:80", "busybox"])
            .fails(125)
            .assert_stderr_contains("80000");
    });
}
