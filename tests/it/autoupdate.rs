//! `auto-update` with the `local` policy: a container whose image name now points to a newer
//! image is reported `pending` with `--dry-run` and, without, is created again from its create
//! command on the new image (without a systemd user manager; systemd_user.rs has one).

use crate::harness::for_each_user;
use crate::harness::images::{History, Image, busybox, busybox_layer};
use crate::harness::registry::{self, RegistryOpts, RegistryServer};

#[test]
fn local_policy_finds_and_applies_a_newer_image() {
    for_each_user(|env| {
        env.load_image(busybox());
        env.ok(&["tag", "busybox", "localhost/app:latest"]);
        env.coracle()
            .env("PODMAN_SYSTEMD_UNIT", "app.service")
            .args([
                "--storage-driver",
                "vfs",
                "run",
                "-d",
                "--name",
                "app",
                "--label",
                "io.containers.autoupdate=local",
                "localhost/app:latest",
                "sleep",
                "1000",
            ])
            .ok();
        // A container without the label is not considered.
        env.ok(&[
            "--storage-driver",
            "vfs",
            "create",
            "--name",
            "other",
            "busybox",
            "true",
        ]);
        let fmt = "{{.Unit}} {{.ContainerName}} {{.Image}} {{.Policy}} {{.Updated}}";
        let out = env.ok(&["auto-update", "--dry-run", "--format", fmt]);
        assert_eq!(out, "app.service app localhost/app:latest local false\n");
        let table = env.ok(&["auto-update", "--dry-run"]);
        assert!(table.starts_with("UNIT"), "{table}");
        for col in ["CONTAINER", "IMAGE", "POLICY", "UPDATED"] {
            assert!(table.lines().next().unwrap().contains(col), "{table}");
        }

        // A new image under the same name (busybox's layer, another configuration).
        env.load_image(&second_app());
        let out = env.ok(&["auto-update", "--dry-run", "--format", fmt]);
        assert_eq!(out, "app.service app localhost/app:latest local pending\n");
        let o = env.coracle().args(["auto-update", "--format", fmt]).ok();
        assert_eq!(
            o.stdout(),
            "app.service app localhost/app:latest local true\n"
        );
        o.assert_stderr_contains("no systemd user manager");
        // Running again, on the new image, and up to date.
        assert_eq!(env.ok(&["exec", "app", "sh", "-c", "echo $APP"]), "2\n");
        let out = env.ok(&["auto-update", "--dry-run", "--format", fmt]);
        assert_eq!(out, "app.service app localhost/app:latest local false\n");
        env.ok(&["rm", "-f", "app"]);
    });
}

/// `localhost/app:latest`, an image other than busybox: its configuration sets `APP=2`.
pub(crate) fn second_app() -> Image {
    Image::new(
        vec![busybox_layer().clone()],
        vec![History::layer("ADD busybox")],
        serde_json::json!({
            "Env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "APP=2"],
            "Cmd": ["sh"],
        }),
        &["localhost/app:latest"],
    )
}

/// `auto/app:latest` with `APP=<version>`; `entrypoint` set makes an image whose container
/// cannot start (its entrypoint is not there).
fn versioned_app(version: &str, entrypoint: Option<&str>) -> Image {
    let mut config = serde_json::json!({
        "Env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", format!("APP={version}")],
        "Cmd": ["sh"],
    });
    if let Some(e) = entrypoint {
        config["Entrypoint"] = serde_json::json!([e]);
    }
    Image::new(
        vec![busybox_layer().clone()],
        vec![History::layer("ADD busybox")],
        config,
        &["auto/app:latest"],
    )
}

/// `registry` policy against a real registry: a new digest under the same tag is `pending`,
/// then pulled and the container made again on it; an update whose container cannot start
/// is rolled back to the image it ran before (`--rollback`, the default), or left failed
/// with `--rollback=false`.
#[test]
fn registry_policy_updates_and_rolls_back_a_failed_restart() {
    if !registry::available() {
        return;
    }
    let reg = RegistryServer::start(RegistryOpts::http());
    let (v1, v2, broken) = (
        versioned_app("1", None),
        versioned_app("2", None),
        versioned_app("3", Some("/no/such/entrypoint")),
    );
    let fmt = "{{.Unit}} {{.ContainerName}} {{.Image}} {{.Policy}} {{.Updated}}";
    for_each_user(|env| {
        // The users run at the same time: each has its own repository on the one registry.
        let repo = format!("auto/app-{}:latest", env.user.name());
        let name = reg.image_ref(&repo);
        let row = |updated: &str| format!("app.service app {name} registry {updated}\n");
        reg.push_image(&v1, &repo);
        env.coracle()
            .env("PODMAN_SYSTEMD_UNIT", "app.service")
            .args(["--storage-driver", "vfs", "run", "-d", "--tls-verify=false"])
            .args([
                "--name",
                "app",
                "--label",
                "io.containers.autoupdate=registry",
            ])
            .args([name.as_str(), "sleep", "1000"])
            .ok();
        let auto = |extra: &[&str]| {
            env.coracle()
                .args(["auto-update", "--tls-verify=false", "--format", fmt])
                .args(extra)
                .output()
        };
        let app_env = || env.ok(&["exec", "app", "sh", "-c", "echo $APP"]);
        assert_eq!(auto(&["--dry-run"]).stdout(), row("false"));
        assert_eq!(app_env(), "1\n");

        // v2 under the same tag: pending, then pulled and the container made again on it
        reg.push_image(&v2, &repo);
        assert_eq!(auto(&["--dry-run"]).stdout(), row("pending"));
        assert_eq!(app_env(), "1\n", "--dry-run changed nothing");
        let o = auto(&[]);
        assert_eq!(o.code(), Some(0), "{o}");
        assert_eq!(o.stdout(), row("true"), "{o}");
        o.assert_stderr_contains("no systemd user manager");
        assert_eq!(app_env(), "2\n");
        assert_eq!(auto(&["--dry-run"]).stdout(), row("false"));
        let table = env.ok(&["auto-update", "--dry-run", "--tls-verify=false"]);
        let head: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
        assert_eq!(head, ["UNIT", "CONTAINER", "IMAGE", "POLICY", "UPDATED"]);

        // an update that cannot start: back on v2, whose image has the name again
        reg.push_image(&broken, &repo);
        let o = auto(&[]);
        assert_eq!(o.code(), Some(0), "{o}");
        assert_eq!(o.stdout(), row("rolled back"), "{o}");
        o.assert_stderr_contains("rolled back to image");
        assert_eq!(app_env(), "2\n");
        let named = env.ok(&["images", "-q", "--no-trunc", &name]);
        assert_eq!(
            named.trim().trim_start_matches("sha256:"),
            v2.id(),
            "{named}"
        );
        // the registry still has the broken one: still pending
        assert_eq!(auto(&["--dry-run"]).stdout(), row("pending"));

        // without rollback, the failure stands: reported failed, exit 125, not running
        let o = auto(&["--rollback=false"]);
        assert_eq!(o.code(), Some(125), "{o}");
        assert_eq!(o.stdout(), row("failed"), "{o}");
        o.assert_stderr_contains("app");
        let state = env.ok(&["ps", "-a", "--filter", "name=app", "--format", "{{.State}}"]);
        assert!(!state.contains("running"), "{state}");
        env.ok(&["rm", "-f", "app"]);
        env.ok(&["system", "check"]);
    });
}
