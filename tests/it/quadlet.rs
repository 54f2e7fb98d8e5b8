//! `quadlet`: `.container` files as Podman's Quadlet documentation writes them become units
//! that pass `systemd-analyze --user verify` and run their container under a notify socket;
//! a key coracle cannot honour is an error naming its line, never dropped.

use crate::generate::{
    alive, eventually, notify_socket, ready_pid, received, run_exec, value, verify,
};
use crate::harness::images::busybox;
use crate::harness::{TestEnv, for_each_user};

/// `GlobalArgs=` pointing at the test's store.
fn store_args(env: &TestEnv) -> String {
    format!(
        "GlobalArgs=--root {} --runroot {} --storage-driver vfs\n",
        env.root().display(),
        env.runroot().display()
    )
}

#[test]
fn container_files_become_units_that_run() {
    for_each_user(|env| {
        env.load_image(busybox());
        let sleeper = env.write(
            "sleeper.container",
            format!(
                "# A long-running service\n[Unit]\nDescription=A sleeping container\n\n[Container]\nImage=busybox\n{}ContainerName=sleeper\nExec=sh -c 'echo \"started $$X\"; exec sleep 1000'\nEnvironment=X=1 \"Y=two words\"\nLabel=app=sleep\nAutoUpdate=local\nNetwork=none\n\n[Service]\nRestart=always\nTimeoutStartSec=90\n\n[Install]\nWantedBy=default.target\n",
                store_args(env)
            ),
        );
        let minimal = env.write(
            "minimal.container",
            "[Container]\nImage=docker.io/library/busybox:latest\nExec=true\n",
        );
        let out = env
            .coracle()
            .arg("quadlet")
            .arg("--dryrun")
            .arg(&sleeper)
            .arg(&minimal)
            .ok()
            .stdout();
        assert!(out.starts_with("---sleeper.service---\n"), "{out}");
        assert!(out.contains("---minimal.service---\n"), "{out}");

        // Written into --output, with the link [Install] asks for.
        let dir = env.path("generator");
        let printed = env
            .coracle()
            .args(["quadlet", "--output"])
            .arg(&dir)
            .arg(&sleeper)
            .arg(&minimal)
            .ok()
            .stdout();
        assert_eq!(printed.lines().count(), 2, "{printed}");
        let unit_path = dir.join("sleeper.service");
        assert!(dir.join("default.target.wants/sleeper.service").exists());
        verify(env, &unit_path);
        verify(env, &dir.join("minimal.service"));
        let unit = std::fs::read_to_string(&unit_path).unwrap();
        assert_eq!(value(&unit, "Restart"), "always");
        assert_eq!(value(&unit, "Type"), "notify");
        let start = value(&unit, "ExecStart");
        for want in [
            "--name=sleeper",
            "--sdnotify=conmon",
            "\"--env=Y=two words\"",
            "--label=app=sleep",
            "--label=io.containers.autoupdate=local",
            "--network=none",
        ] {
            assert!(start.contains(want), "no {want} in {start}");
        }

        // Without --output: $XDG_CONFIG_HOME/systemd/user, which daemon-reload keeps.
        env.coracle().arg("quadlet").arg(&minimal).ok();
        assert!(
            env.home()
                .join(".config/systemd/user/minimal.service")
                .is_file()
        );

        // Its commands, run as systemd would.
        let (socket, sock) = notify_socket(env);
        run_exec(env, &unit, "sleeper.service", "ExecStartPre", &sock);
        run_exec(env, &unit, "sleeper.service", "ExecStart", &sock);
        let pid = ready_pid(&received(&socket));
        assert!(alive(pid));
        assert_eq!(env.ok(&["logs", "sleeper"]), "started 1\n");
        run_exec(env, &unit, "sleeper.service", "ExecStop", &sock);
        run_exec(env, &unit, "sleeper.service", "ExecStopPost", &sock);
        eventually("the monitor to end", || !alive(pid));
        assert_eq!(env.ok(&["ps", "-a", "-q"]), "");
    });
}

#[test]
fn unknown_or_unsupported_keys_are_errors() {
    for_each_user(|env| {
        for (text, want) in [
            (
                "[Container]\nImage=busybox\nFrobnicate=yes\n",
                "line 3: Frobnicate: unknown or unsupported key in [Container]",
            ),
            (
                "[Unit]\nDescription=x\n[Container]\nImage=busybox\nTimezone=local\n",
                "line 5: Timezone",
            ),
            ("[Container]\nExec=true\n", "has no Image="),
            (
                "[Container]\nImage=busybox\n[Pod]\nPodName=x\n",
                "line 3: section [Pod]",
            ),
            (
                "[Container]\nImage=busybox\n[Install]\nWantedBy=default.target\nBogus=1\n",
                "line 5: Bogus: unknown key in [Install]",
            ),
            (
                "[Container]\nImage=busybox\nNetwork=mynet.network\n",
                "line 3: Network: Network= names a Quadlet .network unit",
            ),
            (
                "[Container]\nImage=busybox\nShmSize=64m\n",
                "line 3: ShmSize: needs `run --shm-size`",
            ),
        ] {
            let file = env.write("bad.container", text);
            let o = env
                .coracle()
                .arg("quadlet")
                .arg("--dryrun")
                .arg(&file)
                .fails(125);
            o.assert_stderr_contains(want);
            o.assert_stderr_contains("bad.container");
        }
        // DNS, hosts and limits map onto run's flags (limits are refused when the container
        // starts where no cgroup is delegated, with run's own message).
        let file = env.write(
            "limits.container",
            "[Container]\nImage=busybox\nDNS=192.0.2.53\nDNSSearch=example.com\n\
             AddHost=db:192.0.2.2\nMemory=64m\nPidsLimit=100\n",
        );
        let unit = env
            .coracle()
            .args(["quadlet", "--dryrun"])
            .arg(&file)
            .ok()
            .stdout()
            .to_string();
        for want in [
            " --dns=192.0.2.53 ",
            " --dns-search=example.com ",
            " --add-host=db:192.0.2.2 ",
            " --memory=64m ",
            " --pids-limit=100 ",
        ] {
            assert!(unit.contains(want), "no {want} in {unit}");
        }
        let file = env.write("web.pod", "[Pod]\n");
        env.coracle()
            .arg("quadlet")
            .arg(&file)
            .fails(125)
            .assert_stderr_contains("only .container files");
    });
}
