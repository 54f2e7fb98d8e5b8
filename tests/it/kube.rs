//! `kube generate`: the YAML parses back and an offline Kubernetes schema validator
//! (`kubernetes-validate`, strict) accepts it.

use std::process::Command;

use crate::harness::for_each_user;
use crate::harness::images::busybox;

/// `kubernetes-validate --strict FILE` when it is installed (tests/run-all.sh installs it).
fn validate(path: &std::path::Path) -> Option<std::process::Output> {
    Command::new("kubernetes-validate")
        .args(["--strict", "--kubernetes-version", "1.33"])
        .arg(path)
        .output()
        .ok()
}

#[test]
fn generate_a_pod_with_service_and_claim_that_validates() {
    for_each_user(|env| {
        env.load_image(busybox());
        env.coracle()
            .args([
                "--storage-driver",
                "vfs",
                "create",
                "--name",
                "web",
                "-e",
                "GREETING=hi",
                "-v",
                "data:/data",
                "--cap-add",
                "NET_ADMIN",
                "--cap-drop",
                "CHOWN",
                "--read-only",
                "-u",
                "0:0",
                "--restart",
                "always",
                "--network",
                "none",
                "busybox",
                "sh",
                "-c",
                "sleep 1",
            ])
            .ok();
        let yaml = env
            .coracle()
            .args(["--storage-driver", "vfs", "kube", "generate", "-s", "web"])
            .stdout();
        for needle in [
            "kind: Pod",
            "kind: Service",
            "kind: PersistentVolumeClaim",
            "name: web-pod",
            "image: docker.io/library/busybox:latest",
            "GREETING",
            "claimName: data",
            "readOnlyRootFilesystem: true",
            "runAsUser: 0",
            "NET_ADMIN",
            "CHOWN",
            "restartPolicy: Always",
            "mountPath: /data",
        ] {
            assert!(yaml.contains(needle), "{needle} missing in:\n{yaml}");
        }
        assert!(!yaml.contains("HOSTNAME"), "{yaml}");
        let file = env.dir().join("web.yaml");
        env.coracle()
            .args(["--storage-driver", "vfs", "kube", "generate", "-s", "-f"])
            .arg(&file)
            .arg("web")
            .ok();
        let text = std::fs::read_to_string(&file).unwrap();
        assert_eq!(text, yaml);
        let docs = text.split("\n---\n").count();
        assert_eq!(docs, 4, "{text}");
        match validate(&file) {
            Some(out) => assert!(
                out.status.success(),
                "kubernetes-validate refused:\n{}{}\n{text}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
            None => crate::harness::skip(
                &env.test,
                env.user.name(),
                "kubernetes-validate is not installed",
            ),
        }
    });
}

fn vfs(env: &crate::harness::TestEnv, args: &[&str]) -> String {
    env.coracle()
        .args(["--storage-driver", "vfs"])
        .args(args)
        .stdout()
}

/// Names, images and commands of the running containers, sorted.
fn running(env: &crate::harness::TestEnv) -> Vec<String> {
    let mut v: Vec<String> = vfs(
        env,
        &[
            "ps",
            "--format",
            "{{.Names}} {{.Image}} {{.Command}} {{.Status}}",
        ],
    )
    .lines()
    .map(|l| {
        // The status reads "Up N seconds": only "Up" is the same from run to run.
        let l = l.split(" Up ").next().unwrap_or(l);
        l.to_string()
    })
    .collect();
    v.sort();
    v
}

#[test]
fn generate_down_play_round_trips_a_running_pod() {
    for_each_user(|env| {
        if !crate::network::have(env, "pasta") {
            return;
        }
        env.load_image(busybox());
        vfs(env, &["pod", "create", "--name", "rt"]);
        for (name, cmd) in [("rt-web", "sleep 1000"), ("rt-side", "sleep 2000")] {
            vfs(
                env,
                &[
                    "run",
                    "-d",
                    "--pod",
                    "rt",
                    "--name",
                    name,
                    "-e",
                    "GREETING=hi",
                    "-v",
                    "rtdata:/data",
                    "busybox",
                    "sh",
                    "-c",
                    cmd,
                ],
            );
        }
        let before = running(env);
        assert_eq!(before.len(), 2, "{before:?}");
        let file = env.dir().join("rt.yaml");
        vfs(
            env,
            &["kube", "generate", "-f", file.to_str().unwrap(), "rt"],
        );
        let yaml = std::fs::read_to_string(&file).unwrap();
        assert!(yaml.contains("name: web\n"), "{yaml}");
        let down = vfs(env, &["kube", "down", file.to_str().unwrap()]);
        assert!(down.contains("Pods removed:"), "{down}");
        assert!(running(env).is_empty());
        env.coracle()
            .args(["--storage-driver", "vfs", "pod", "exists", "rt"])
            .fails(1);
        let played = vfs(env, &["kube", "play", file.to_str().unwrap()]);
        assert!(played.starts_with("Pod:\n"), "{played}");
        assert!(played.contains("\nContainer:\n"), "{played}");
        assert_eq!(running(env), before);
        let again = vfs(env, &["kube", "generate", "rt"]);
        assert_eq!(again, yaml, "generate after play differs");
        assert_eq!(
            vfs(env, &["exec", "rt-web", "sh", "-c", "echo $GREETING"]),
            "hi\n"
        );
        // A second play refuses, --replace replaces, play --down removes.
        env.coracle()
            .args(["--storage-driver", "vfs", "kube", "play"])
            .arg(&file)
            .fails(125);
        vfs(env, &["kube", "play", "--replace", file.to_str().unwrap()]);
        assert_eq!(running(env), before);
        vfs(env, &["kube", "play", "--down", file.to_str().unwrap()]);
        assert!(running(env).is_empty());
    });
}

#[test]
fn documentation_style_examples_play_as_is() {
    for_each_user(|env| {
        if !crate::network::have(env, "pasta") {
            return;
        }
        env.load_image(busybox());
        let pod = env.dir().join("pod-configmap.yaml");
        std::fs::write(&pod, include_str!("../kube/pod-configmap.yaml")).unwrap();
        let p = pod.to_str().unwrap();
        vfs(env, &["kube", "play", p]);
        let ctr = "configmap-demo-pod-demo";
        assert_eq!(
            vfs(
                env,
                &[
                    "exec",
                    ctr,
                    "sh",
                    "-c",
                    "echo $PLAYER_INITIAL_LIVES $UI_PROPERTIES_FILE_NAME"
                ]
            ),
            "3 user-interface.properties\n"
        );
        assert!(
            vfs(env, &["exec", ctr, "cat", "/config/game.properties"])
                .contains("enemy.types=aliens")
        );
        // The init container prepared the emptyDir both containers share.
        assert_eq!(vfs(env, &["exec", ctr, "cat", "/work/ready"]), "prepared\n");
        assert_eq!(
            vfs(
                env,
                &["exec", "configmap-demo-pod-sidecar", "cat", "/shared/ready"]
            ),
            "prepared\n"
        );
        // Only the two containers remain: the init container ran and went.
        assert_eq!(running(env).len(), 2, "{:?}", running(env));
        vfs(env, &["kube", "down", p]);
        assert!(running(env).is_empty());

        let dep = env.dir().join("deployment-secret.yaml");
        std::fs::write(&dep, include_str!("../kube/deployment-secret.yaml")).unwrap();
        let d = dep.to_str().unwrap();
        vfs(env, &["kube", "play", d]);
        let ctr = "busybox-deployment-pod-busybox";
        assert_eq!(
            vfs(
                env,
                &[
                    "exec",
                    ctr,
                    "sh",
                    "-c",
                    "echo $SECRET_USERNAME $ALL_password"
                ]
            ),
            "backend-admin s3cr3t\n"
        );
        assert_eq!(
            vfs(env, &["exec", ctr, "cat", "/etc/secret-volume/username"]),
            "backend-admin"
        );
        assert_eq!(vfs(env, &["exec", ctr, "cat", "/data/log"]), "started\n");
        // The claim's volume outlives the pod: a second play appends to it.
        vfs(env, &["kube", "play", "--replace", d]);
        assert_eq!(
            vfs(env, &["exec", ctr, "cat", "/data/log"]),
            "started\nstarted\n"
        );
        vfs(env, &["kube", "down", "--force", d]);
        assert!(running(env).is_empty());
        assert!(!vfs(env, &["volume", "ls"]).contains("task-pv-claim"));
    });
}

#[test]
fn unsupported_kinds_and_fields_are_errors_naming_them() {
    for_each_user(|env| {
        let file = env.dir().join("bad.yaml");
        std::fs::write(
            &file,
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: bad\nspec:\n  containers:\n  - name: c\n    image: busybox\n    livenessProbe:\n      exec:\n        command: [\"true\"]\n",
        )
        .unwrap();
        let out = env
            .coracle()
            .args(["--storage-driver", "vfs", "kube", "play"])
            .arg(&file)
            .fails(125);
        assert!(
            out.stderr()
                .contains("spec.containers[0].livenessProbe.exec.command[0]"),
            "{}",
            out.stderr()
        );
        std::fs::write(
            &file,
            "apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: s\n",
        )
        .unwrap();
        let out = env
            .coracle()
            .args(["--storage-driver", "vfs", "kube", "play"])
            .arg(&file)
            .fails(125);
        assert!(
            out.stderr().contains("kind StatefulSet"),
            "{}",
            out.stderr()
        );
        // A Service kube play cannot carry out is refused by its type, before anything runs.
        std::fs::write(
            &file,
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: s\nspec:\n  type: LoadBalancer\n",
        )
        .unwrap();
        let out = env
            .coracle()
            .args(["--storage-driver", "vfs", "kube", "play"])
            .arg(&file)
            .fails(125);
        assert!(
            out.stderr()
                .contains("Service s: type LoadBalancer is not supported"),
            "{}",
            out.stderr()
        );
        env.coracle()
            .args(["--storage-driver", "vfs", "pod", "exists", "bad"])
            .fails(1);
    });
}

#[test]
fn a_failing_init_container_fails_the_play_and_leaves_no_pod() {
    for_each_user(|env| {
        if !crate::network::have(env, "pasta") {
            return;
        }
        env.load_image(busybox());
        let yaml = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: initfail\nspec:\n  initContainers:\n  - name: check\n    image: busybox\n    command: [\"sh\", \"-c\", \"exit 3\"]\n  containers:\n  - name: main\n    image: busybox\n    command: [\"sleep\", \"100\"]\n";
        let out = env
            .coracle()
            .args(["--storage-driver", "vfs", "kube", "play", "-"])
            .stdin(yaml)
            .fails(125);
        assert!(
            out.stderr()
                .contains("init container initfail-check failed (exit code 3)"),
            "{}",
            out.stderr()
        );
        env.coracle()
            .args(["--storage-driver", "vfs", "pod", "exists", "initfail"])
            .fails(1);
        assert!(running(env).is_empty());
        assert!(vfs(env, &["ps", "-a", "-q"]).is_empty());
    });
}

#[test]
fn host_path_and_memory_empty_dir_volumes() {
    for_each_user(|env| {
        if !crate::network::have(env, "pasta") {
            return;
        }
        env.load_image(busybox());
        let host = env.dir().join("hp");
        let yaml = format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: vols\nspec:\n  containers:\n  - name: main\n    image: busybox\n    command: [\"sh\", \"-c\", \"echo hi > /host/out && sleep 100\"]\n    volumeMounts:\n    - name: host\n      mountPath: /host\n    - name: cache\n      mountPath: /cache\n  volumes:\n  - name: host\n    hostPath:\n      path: {}\n      type: DirectoryOrCreate\n  - name: cache\n    emptyDir:\n      medium: Memory\n",
            host.display()
        );
        let file = env.dir().join("vols.yaml");
        std::fs::write(&file, yaml).unwrap();
        vfs(env, &["kube", "play", file.to_str().unwrap()]);
        let fs = vfs(
            env,
            &[
                "exec",
                "vols-main",
                "sh",
                "-c",
                "sleep 0.5; cat /host/out; grep ' /cache ' /proc/mounts | cut -d' ' -f3",
            ],
        );
        assert_eq!(fs, "hi\ntmpfs\n");
        assert_eq!(std::fs::read_to_string(host.join("out")).unwrap(), "hi\n");
        vfs(env, &["kube", "down", file.to_str().unwrap()]);
    });
}

/// `GET /` on the host's port, retried while the pod's server starts.
fn http_get(port: u16) -> String {
    use std::io::{Read as _, Write as _};
    for _ in 0..50 {
        if let Ok(mut c) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            let _ = c.set_read_timeout(Some(std::time::Duration::from_secs(5)));
            let mut reply = String::new();
            if c.write_all(b"GET / HTTP/1.0\r\n\r\n").is_ok()
                && c.read_to_string(&mut reply).is_ok()
                && !reply.is_empty()
            {
                return reply;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("nothing answered on 127.0.0.1:{port}");
}

#[test]
fn a_service_publishes_its_node_port_for_the_deployment_it_selects() {
    for_each_user(|env| {
        if !crate::network::have(env, "pasta") {
            return;
        }
        env.load_image(busybox());
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let file = env.dir().join("service-deployment.yaml");
        std::fs::write(
            &file,
            include_str!("../kube/service-deployment.yaml").replace("NODE_PORT", &port.to_string()),
        )
        .unwrap();
        let f = file.to_str().unwrap();
        let played = vfs(env, &["kube", "play", f]);
        assert!(played.starts_with("Pod:\n"), "{played}");
        // The Service's nodePort on the host, its targetPort (named) in the pod.
        let bindings = vfs(
            env,
            &[
                "pod",
                "inspect",
                "hello-pod",
                "--format",
                "{{.InfraConfig.PortBindings}}",
            ],
        );
        assert!(bindings.contains(&port.to_string()), "{bindings}");
        let reply = http_get(port);
        assert!(reply.ends_with("\r\n\r\nhello from the service"), "{reply}");
        assert_eq!(
            vfs(env, &["ps", "--format", "{{.Names}} {{.Ports}}"]),
            format!("hello-pod-web 0.0.0.0:{port}->8080/tcp\n")
        );
        let down = vfs(env, &["kube", "down", f]);
        assert!(down.contains("Pods removed:\n"), "{down}");
        assert!(running(env).is_empty());
        // The port is free again.
        std::net::TcpListener::bind(("127.0.0.1", port)).expect("the node port is released");
    });
}

/// What `/built` holds in the played pod's container (the build that made its image).
fn built(env: &crate::harness::TestEnv) -> String {
    vfs(env, &["exec", "kb-main", "cat", "/built"])
}

#[test]
fn play_builds_images_from_a_directory_named_after_them() {
    for_each_user(|env| {
        if !crate::network::have(env, "pasta") {
            return;
        }
        env.load_image(busybox());
        let containerfile = |dir: &str, word: &str| {
            env.write(
                format!("{dir}/kubeapp/Containerfile"),
                format!("FROM busybox\nRUN echo {word} > /built\nCMD [\"sleep\", \"1000\"]\n"),
            );
        };
        let yaml = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: kb\nspec:\n  containers:\n  - name: main\n    image: localhost/kubeapp:latest\n    imagePullPolicy: Never\n";
        env.write("kb/app.yaml", yaml);
        containerfile("kb", "one");
        containerfile("other", "three");
        env.give(&env.path("kb"));
        env.give(&env.path("other"));
        let file = env.path("kb/app.yaml");
        let f = file.to_str().unwrap();

        // --build=false: the missing image is not built (and never pulled).
        env.coracle()
            .args([
                "--storage-driver",
                "vfs",
                "kube",
                "play",
                "--build=false",
                f,
            ])
            .fails(125);
        env.coracle()
            .args(["--storage-driver", "vfs", "pod", "exists", "kb"])
            .fails(1);
        // By default a missing image is built from the directory beside the YAML...
        let played = vfs(env, &["kube", "play", f]);
        assert!(
            played.contains("STEP 2/3: RUN echo one > /built"),
            "{played}"
        );
        assert_eq!(built(env), "one\n");
        vfs(env, &["kube", "down", f]);
        // ... and one in the store is used as it is.
        containerfile("kb", "two");
        let played = vfs(env, &["kube", "play", f]);
        assert!(!played.contains("STEP"), "{played}");
        assert_eq!(built(env), "one\n");
        // --build builds it again.
        vfs(env, &["kube", "play", "--replace", "--build", f]);
        assert_eq!(built(env), "two\n");
        vfs(env, &["kube", "down", f]);
        // --context-dir: the build directories are there (the YAML from standard input).
        let other = env.path("other");
        env.coracle()
            .args([
                "--storage-driver",
                "vfs",
                "kube",
                "play",
                "--build",
                "--context-dir",
            ])
            .arg(&other)
            .arg("-")
            .stdin(yaml)
            .ok();
        assert_eq!(built(env), "three\n");
        vfs(env, &["kube", "down", f]);
        env.coracle()
            .args([
                "--storage-driver",
                "vfs",
                "kube",
                "play",
                "--build=false",
                "--context-dir",
            ])
            .arg(&other)
            .arg(f)
            .fails(125)
            .assert_stderr_contains("--context-dir cannot be used with --build=false");
    });
}
