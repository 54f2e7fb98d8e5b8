//! `auto-update` with the `local` policy: a container whose image name now points to a newer
//! image is reported `pending` with `--dry-run` and, without, is created again from its create
//! command on the new image (no systemd user manager runs here, see `generate`).

use crate::harness::for_each_user;
use crate::harness::images::{History, Image, busybox, busybox_layer};

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
fn second_app() -> Image {
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
