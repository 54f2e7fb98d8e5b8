//! Pods: containers of one pod talk over localhost and share the pod's hostname, `ps --pod`
//! shows the pod, `pod rm -f` leaves no process and no record.

use crate::harness::images::busybox;
use crate::harness::{TestEnv, for_each_user};

fn coracle(env: &TestEnv, args: &[&str]) -> String {
    env.coracle()
        .args(["--storage-driver", "vfs"])
        .args(args)
        .stdout()
}

/// Whether `pid` is a living process (zombies, which nobody in a test container may reap,
/// count as gone).
fn alive(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        !matches!(
            s.rsplit(')')
                .next()
                .and_then(|r| r.split_whitespace().next()),
            Some("Z" | "X")
        )
    })
}

#[test]
fn containers_of_a_pod_share_localhost_and_hostname_and_rm_f_leaves_nothing() {
    for_each_user(|env| {
        env.load_image(busybox());
        if !crate::network::have(env, "pasta") {
            return;
        }
        let id = coracle(env, &["pod", "create", "--name", "p1"]);
        assert_eq!(id.trim().len(), 64, "{id}");
        coracle(
            env,
            &[
                "run",
                "-d",
                "--pod",
                "p1",
                "--name",
                "srv",
                "busybox",
                "sh",
                "-c",
                "mkdir -p /w && echo hello-pod > /w/index.html && exec httpd -f -p 8080 -h /w",
            ],
        );
        let got = coracle(
            env,
            &[
                "run",
                "--rm",
                "--pod",
                "p1",
                "busybox",
                "sh",
                "-c",
                "hostname; for i in 1 2 3 4 5 6 7 8 9 10; do wget -qO- http://127.0.0.1:8080/ && exit 0; sleep 0.3; done; exit 1",
            ],
        );
        assert_eq!(got, "p1\nhello-pod\n");

        let ps = coracle(env, &["ps", "--pod"]);
        let header = ps.lines().next().unwrap_or_default();
        assert!(
            header.contains("POD ID") && header.contains("PODNAME"),
            "{ps}"
        );
        assert!(
            ps.lines()
                .nth(1)
                .is_some_and(|l| l.contains(&id[..12]) && l.ends_with("p1")),
            "{ps}"
        );
        let pods = coracle(
            env,
            &[
                "pod",
                "ps",
                "--format",
                "{{.Name}} {{.Status}} {{.NumberOfContainers}}",
            ],
        );
        assert_eq!(pods, "p1 Running 1\n");
        assert_eq!(
            coracle(
                env,
                &[
                    "pod",
                    "inspect",
                    "p1",
                    "--format",
                    "{{.Hostname}} {{.NumContainers}}"
                ]
            ),
            "p1 1\n"
        );
        env.coracle().args(["pod", "exists", "p1"]).ok();
        env.coracle().args(["pod", "exists", "nope"]).fails(1);

        let infra = coracle(env, &["pod", "inspect", "p1", "--format", "{{.InfraPid}}"]);
        let infra = infra.trim().to_string();
        assert!(alive(&infra), "infra {infra} not running");
        coracle(env, &["pod", "rm", "-f", "p1"]);
        assert!(!alive(&infra), "infra {infra} left running");
        assert_eq!(coracle(env, &["ps", "-a", "-q"]), "");
        assert_eq!(coracle(env, &["pod", "ps", "-q"]), "");
        assert_eq!(env.container_leftovers(), Vec::<String>::new());
    });
}

#[test]
fn pod_new_creates_the_pod_and_stop_start_act_on_its_containers() {
    for_each_user(|env| {
        env.load_image(busybox());
        if !crate::network::have(env, "pasta") {
            return;
        }
        coracle(
            env,
            &[
                "run", "-d", "--pod", "new:p2", "--name", "a", "busybox", "sleep", "1000",
            ],
        );
        assert_eq!(
            coracle(env, &["ps", "--format", "{{.Names}} {{.PodName}}"]),
            "a p2\n"
        );
        coracle(env, &["pod", "stop", "-t", "0", "p2"]);
        assert_eq!(
            coracle(env, &["pod", "ps", "--format", "{{.Status}}"]),
            "Exited\n"
        );
        assert_eq!(coracle(env, &["ps", "-q"]), "");
        coracle(env, &["pod", "start", "p2"]);
        assert_eq!(coracle(env, &["ps", "--format", "{{.Names}}"]), "a\n");
        // A port of its own is refused: the pod's network is shared.
        env.coracle()
            .args([
                "--storage-driver",
                "vfs",
                "create",
                "--pod",
                "p2",
                "-p",
                "8080:80",
                "busybox",
            ])
            .fails(125)
            .assert_stderr_contains(
                "published or exposed ports must be defined when the pod is created",
            );
        env.coracle().args(["pod", "rm", "p2"]).fails(125);
        coracle(env, &["pod", "rm", "-f", "p2"]);
        assert_eq!(coracle(env, &["ps", "-a", "-q"]), "");
    });
}

/// Polls `f` for up to five seconds.
fn eventually(mut f: impl FnMut() -> bool) -> bool {
    for _ in 0..50 {
        if f() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    false
}

#[test]
fn share_pid_shows_every_container_process_and_exit_policy_stop_stops_the_pod() {
    for_each_user(|env| {
        env.load_image(busybox());
        let id = coracle(
            env,
            &[
                "pod",
                "create",
                "--name",
                "sp",
                "--share",
                "+pid",
                "--exit-policy",
                "stop",
                "--network",
                "none",
            ],
        );
        let id = id.trim().to_string();
        assert_eq!(
            coracle(
                env,
                &["pod", "inspect", "sp", "--format", "{{.SharedNamespaces}}"]
            ),
            "[ipc net uts pid]\n"
        );
        coracle(
            env,
            &[
                "run", "-d", "--pod", "sp", "--name", "a", "busybox", "sleep", "1000",
            ],
        );
        // Another container of the pod sees the first one's process.
        let ps = coracle(
            env,
            &[
                "run",
                "--rm",
                "--pod",
                "sp",
                "busybox",
                "sh",
                "-c",
                "ps -o args",
            ],
        );
        assert!(ps.lines().any(|l| l.trim() == "sleep 1000"), "{ps}");

        coracle(
            env,
            &[
                "run", "-d", "--pod", "sp", "--name", "b", "busybox", "sleep", "2000",
            ],
        );
        // pod top: one table (Podman's header once) with both containers' processes.
        let top = coracle(env, &["pod", "top", "sp"]);
        let mut lines = top.lines();
        let header: Vec<&str> = lines
            .next()
            .unwrap_or_default()
            .split_whitespace()
            .collect();
        assert_eq!(
            header,
            [
                "USER", "PID", "PPID", "%CPU", "ELAPSED", "TTY", "TIME", "COMMAND"
            ],
            "{top}"
        );
        assert!(!lines.clone().any(|l| l.starts_with("USER")), "{top}");
        for cmd in ["sleep 1000", "sleep 2000"] {
            assert!(
                lines.clone().any(|l| l.ends_with(cmd)),
                "{cmd} missing:\n{top}"
            );
        }
        let pids = coracle(env, &["pod", "top", "sp", "pid,args"]);
        assert!(pids.starts_with("PID"), "{pids}");

        // The infra's ID, as Podman shows its infra container's.
        let infra = coracle(env, &["pod", "ps", "--format", "{{.InfraID}}"]);
        let full = coracle(
            env,
            &["pod", "inspect", "sp", "--format", "{{.InfraContainerID}}"],
        );
        assert_eq!(infra.trim().len(), 12, "{infra}");
        assert!(full.starts_with(infra.trim()), "{full} {infra}");
        let table = coracle(env, &["pod", "ps"]);
        assert!(
            table.starts_with("POD ID") && table.lines().next().unwrap().contains("INFRA ID"),
            "{table}"
        );
        assert!(table.contains(infra.trim()), "{table}");

        // The pod in the container's inspect and in ps's JSON.
        assert_eq!(
            coracle(env, &["container", "inspect", "a", "--format", "{{.Pod}}"]).trim(),
            id
        );
        let json: serde_json::Value = serde_json::from_str(&coracle(
            env,
            &["ps", "--filter", "name=a", "--format", "json"],
        ))
        .unwrap();
        assert_eq!(json[0]["Pod"], id.as_str(), "{json}");
        assert_eq!(json[0]["PodName"], "sp", "{json}");

        // --exit-policy stop: the pod stops with its last container.
        coracle(env, &["stop", "-t", "0", "a"]);
        assert_eq!(
            coracle(env, &["pod", "ps", "--format", "{{.Status}}"]),
            "Degraded\n"
        );
        coracle(env, &["stop", "-t", "0", "b"]);
        assert!(
            eventually(
                || coracle(env, &["pod", "inspect", "sp", "--format", "{{.InfraPid}}"]) == "0\n"
            ),
            "the infra still runs after the last container of an exit-policy stop pod"
        );
        assert_eq!(
            coracle(env, &["pod", "ps", "--format", "{{.Status}}"]),
            "Exited\n"
        );
        coracle(env, &["pod", "rm", "-f", "sp"]);
        assert_eq!(env.container_leftovers(), Vec::<String>::new());
    });
}

#[test]
fn share_ipc_only_leaves_uts_and_the_hostname_to_each_container() {
    for_each_user(|env| {
        env.load_image(busybox());
        coracle(
            env,
            &[
                "pod",
                "create",
                "--name",
                "si",
                "--share",
                "ipc",
                "--network",
                "none",
            ],
        );
        let show = "readlink /proc/self/ns/ipc; readlink /proc/self/ns/uts; hostname";
        // Both live at once: a namespace's inode number is reused once it is gone.
        coracle(
            env,
            &[
                "run",
                "-d",
                "--pod",
                "si",
                "--network",
                "none",
                "--hostname",
                "one",
                "--name",
                "one",
                "busybox",
                "sleep",
                "1000",
            ],
        );
        let one = coracle(env, &["exec", "one", "sh", "-c", show]);
        let two = coracle(
            env,
            &[
                "run",
                "--rm",
                "--pod",
                "si",
                "--network",
                "none",
                "--hostname",
                "two",
                "busybox",
                "sh",
                "-c",
                show,
            ],
        );
        let (one, two): (Vec<&str>, Vec<&str>) = (one.lines().collect(), two.lines().collect());
        assert_eq!(one.len(), 3, "{one:?}");
        assert_eq!(one[0], two[0], "the IPC namespace is not shared");
        assert_ne!(one[1], two[1], "the UTS namespace is shared");
        assert_eq!((one[2], two[2]), ("one", "two"));
        // Filters: one key's values are alternatives, different keys all hold.
        let names = |filters: &[&str]| {
            let mut a = vec!["pod", "ps", "--format", "{{.Name}}"];
            for f in filters {
                a.extend(["--filter", f]);
            }
            coracle(env, &a)
        };
        assert_eq!(names(&["name=nomatch", "name=si"]), "si\n");
        assert_eq!(names(&["name=si", "status=exited"]), "");
        // Podman's refusals.
        env.coracle()
            .args(["pod", "create", "--share", "mnt"])
            .fails(125)
            .assert_stderr_contains("--share mnt");
        env.coracle()
            .args(["pod", "create", "--share-parent=false"])
            .fails(125)
            .assert_stderr_contains("--share-parent");
        coracle(env, &["pod", "rm", "-f", "si"]);
    });
}
