//! `load`: every input format, as every user.

use crate::harness::for_each_user;
use crate::harness::images::{busybox, derived};
use crate::harness::store::rootfs_layers;
use serde_json::json;

const BUSYBOX: &str = "docker.io/library/busybox:latest";

fn loaded_names(stdout: &str) -> Vec<String> {
    let mut v: Vec<String> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("Loaded image: "))
        .map(str::to_string)
        .collect();
    v.sort();
    v
}

#[test]
fn docker_archive() {
    for_each_user(|env| {
        let p = env.docker_archive("busybox.tar", busybox());
        let o = env.load(&p);
        assert_eq!(loaded_names(&o.stdout()), [BUSYBOX], "{o}");
        assert_eq!(env.image_ids(), [busybox().id()]);
        let i = env.inspect("busybox");
        assert_eq!(i["Id"], json!(busybox().id()));
        assert_eq!(rootfs_layers(&i), busybox().diff_ids());
    });
}

#[test]
fn oci_archive() {
    for_each_user(|env| {
        let p = env.oci_archive("busybox-oci.tar", busybox(), Some(BUSYBOX));
        let o = env.load(&p);
        assert_eq!(loaded_names(&o.stdout()), [BUSYBOX], "{o}");
        let i = env.inspect(BUSYBOX);
        assert_eq!(i["Id"], json!(busybox().id()));
        assert_eq!(i["Digest"], json!(busybox().oci_manifest_digest()));
        assert_eq!(rootfs_layers(&i), busybox().diff_ids());
    });
}

#[test]
fn oci_archive_without_name_prints_id() {
    for_each_user(|env| {
        let p = env.oci_archive("noname-oci.tar", busybox(), None);
        let o = env.load(&p);
        assert_eq!(
            loaded_names(&o.stdout()),
            [format!("sha256:{}", busybox().id())],
            "{o}"
        );
        assert_eq!(env.image_ids(), [busybox().id()]);
    });
}

#[test]
fn oci_layout_dir() {
    for_each_user(|env| {
        let dir = env.oci_layout("layout", busybox(), Some("latest"));
        for arg in [
            format!("oci:{}:latest", dir.display()),
            format!("oci:{}", dir.display()),
        ] {
            let o = env.coracle().args(["load", "-i", &arg]).ok();
            assert_eq!(loaded_names(&o.stdout()).len(), 1, "{o}");
            assert_eq!(env.image_ids(), [busybox().id()]);
            let i = env.inspect(&busybox().id());
            assert_eq!(rootfs_layers(&i), busybox().diff_ids());
            assert_eq!(i["Digest"], json!(busybox().oci_manifest_digest()));
        }
    });
}

#[test]
fn stdin() {
    for_each_user(|env| {
        let o = env
            .coracle()
            .arg("load")
            .stdin(busybox().docker_archive())
            .ok();
        assert_eq!(loaded_names(&o.stdout()), [BUSYBOX], "{o}");
        let o = env
            .coracle()
            .arg("load")
            .stdin(busybox().oci_archive(Some("example.com/bb:oci")))
            .ok();
        assert_eq!(loaded_names(&o.stdout()), ["example.com/bb:oci"], "{o}");
        let p = env.docker_archive("busybox.tar", &busybox().named(&["example.com/bb:file"]));
        let o = env.coracle().arg("load").stdin_file(&p).ok();
        assert_eq!(loaded_names(&o.stdout()), ["example.com/bb:file"], "{o}");
        assert_eq!(env.image_ids(), [busybox().id()]);
    });
}

#[test]
fn untagged_docker_archive_prints_id() {
    for_each_user(|env| {
        let p = env.docker_archive("notag.tar", &busybox().named(&[]));
        let o = env.load(&p);
        assert_eq!(
            o.stdout(),
            format!("Loaded image: sha256:{}\n", busybox().id()),
            "{o}"
        );
        let i = env.inspect(&busybox().id());
        assert_eq!(i["RepoTags"].as_array().map_or(0, Vec::len), 0, "{i:#}");
    });
}

#[test]
fn every_repo_tag_is_a_name() {
    for_each_user(|env| {
        let img = busybox().named(&["busybox:latest", "busybox:1.36", "example.com/team/bb:v1"]);
        let o = env.load(&env.docker_archive("tags.tar", &img));
        assert_eq!(
            loaded_names(&o.stdout()),
            [
                "docker.io/library/busybox:1.36",
                "docker.io/library/busybox:latest",
                "example.com/team/bb:v1"
            ],
            "{o}"
        );
        for n in ["busybox:1.36", "busybox", "example.com/team/bb:v1"] {
            assert_eq!(env.inspect(n)["Id"], json!(busybox().id()), "{n}");
        }
        assert_eq!(env.image_ids(), [busybox().id()]);
    });
}

#[test]
fn quiet_prints_only_the_names() {
    for_each_user(|env| {
        let p = env.docker_archive("busybox.tar", busybox());
        let o = env.coracle().args(["load", "-q", "-i"]).arg(&p).ok();
        assert_eq!(o.stdout(), format!("Loaded image: {BUSYBOX}\n"), "{o}");
        assert_eq!(o.stderr(), "", "{o}");
    });
}

#[test]
fn loading_twice_keeps_one_image() {
    for_each_user(|env| {
        let p = env.docker_archive("busybox.tar", busybox());
        env.load(&p);
        let before = env.listing();
        let tree = env.store_tree();
        env.load(&p);
        assert_eq!(env.listing(), before);
        assert_eq!(env.store_tree(), tree);
        // the same image from an OCI archive: still one image (its size may count the
        // OCI manifest too)
        env.load(&env.oci_archive("busybox-oci.tar", busybox(), Some(BUSYBOX)));
        assert_eq!(env.image_ids(), [busybox().id()]);
        // the OCI archive may add its manifest; nothing else is duplicated
        let after = env.store_tree();
        assert!(after.len() <= tree.len() + 2, "{tree:#?}\n{after:#?}");
    });
}

#[test]
fn a_name_moves_to_the_newer_image() {
    for_each_user(|env| {
        env.load_image(busybox());
        let other = derived("busybox:latest", &[("data/x", "x\n")], json!({}));
        let o = env.load_image(&other);
        assert_eq!(loaded_names(&o.stdout()), [BUSYBOX]);
        assert_eq!(env.inspect("busybox")["Id"], json!(other.id()));
        // the old image stays, without a name
        let old = env.inspect(&busybox().id());
        assert_eq!(old["RepoTags"].as_array().map_or(0, Vec::len), 0, "{old:#}");
        let mut ids = vec![busybox().id(), other.id()];
        ids.sort();
        assert_eq!(env.image_ids(), ids);
    });
}

#[test]
fn default_store_is_per_user_xdg() {
    // Root's default store is /var/lib/coracle: not touched by tests.
    crate::harness::for_users(
        &[crate::harness::User::Sub, crate::harness::User::NoSub],
        |env| {
            let p = env.docker_archive("busybox.tar", busybox());
            env.coracle_bare().arg("load").arg("-i").arg(&p).ok();
            let graph = env.home().join(".local/share/coracle");
            assert!(graph.is_dir(), "no store at {}", graph.display());
            let o = env
                .coracle_bare()
                .args(["info", "--format", "{{.Store.GraphRoot}}"])
                .stdout();
            assert_eq!(o.trim(), graph.display().to_string());
            let o = env
                .coracle_bare()
                .args(["info", "--format", "{{.Store.RunRoot}}"])
                .stdout();
            assert_eq!(o.trim(), env.path("xdg-run/coracle").display().to_string());
            let ids = env
                .coracle_bare()
                .args(["images", "-q", "--no-trunc"])
                .stdout();
            assert!(ids.contains(&busybox().id()), "{ids}");
        },
    );
}

#[test]
fn missing_file_is_an_error() {
    for_each_user(|env| {
        let o = env
            .coracle()
            .args(["load", "-i", "/nonexistent/x.tar"])
            .output();
        o.assert_error()
            .assert_stderr_contains("/nonexistent/x.tar");
    });
}

/// The store is its owner's alone (0700): a vfs container root in it holds the image's real
/// setuid binaries, which no other local user may reach.
#[test]
fn the_store_is_private() {
    for_each_user(|env| {
        env.load_image(busybox());
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(env.root())
            .expect("stat the store")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700, "store mode {:o}", mode & 0o777);
    });
}
