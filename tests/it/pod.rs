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
