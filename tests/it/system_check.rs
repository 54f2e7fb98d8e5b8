//! `system check`: damage made by hand in a real store (a flipped byte in a layer's file, in a
//! config blob, a compressed copy gone, an unreadable container record) is reported object by
//! object with exit 125, and `--repair` removes exactly the damaged objects and what depends
//! on them — images containers use only with `--force` — after which the store checks clean
//! and what was undamaged still works.

use crate::harness::images::{busybox, derived};
use crate::harness::{TestEnv, for_each_user};
use serde_json::json;
use std::fs;
use std::path::PathBuf;

fn hex(digest: &str) -> &str {
    digest.trim_start_matches("sha256:")
}

/// Flips the first byte of `path`, keeping its size (so only a rebuild or a hash notices).
fn flip_first_byte(path: &PathBuf) {
    let mut data = fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    data[0] ^= 0x20;
    // The store's files are read-only for their owner at times; root writes them anyway.
    fs::write(path, data).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
}

fn app() -> crate::harness::images::Image {
    derived("app:1", &[("srv/data.txt", "hello from app\n")], json!({}))
}

fn load_both(env: &TestEnv) {
    env.load_image(busybox());
    env.load_image(&app());
}

#[test]
fn a_whole_store_checks_clean() {
    for_each_user(|env| {
        load_both(env);
        env.ok(&["create", "--name", "c1", "busybox", "true"]);
        for args in [&["system", "check"][..], &["system", "check", "--quick"]] {
            let o = env.coracle().args(args).ok();
            assert!(o.stdout().contains("No problems found"), "{o}");
            assert!(
                o.stdout().contains("3 images") || o.stdout().contains("2 images"),
                "{o}"
            );
        }
    });
}

#[test]
fn a_changed_layer_file_damages_its_layer_and_image_only() {
    for_each_user(|env| {
        load_both(env);
        let app = app();
        let top = hex(&app.diff_ids()[1]).to_string();
        let file = env
            .root()
            .join("layers")
            .join(&top)
            .join("diff/srv/data.txt");
        flip_first_byte(&file);
        // Quick mode does not rebuild layers: the damage is invisible to it.
        env.ok(&["system", "check", "--quick"]);
        let o = env.coracle().args(["system", "check"]).fails(125);
        let out = o.stdout();
        assert!(
            out.contains(&format!("layer sha256:{top}: rebuilding its tar stream")),
            "{o}"
        );
        assert!(
            out.contains(&format!(
                "image {}: its layer sha256:{top}",
                app.config_digest()
            )),
            "{o}"
        );
        assert!(!out.contains(&busybox().id()), "busybox is whole: {o}");
        o.assert_stderr_contains("--repair");

        let o = env.coracle().args(["system", "check", "--repair"]).ok();
        assert!(
            o.stdout()
                .contains(&format!("Removed image {}", app.config_digest())),
            "{o}"
        );
        assert!(
            o.stdout().contains(&format!("Removed layer sha256:{top}")),
            "{o}"
        );
        assert!(o.stdout().contains("The store is whole"), "{o}");
        assert_eq!(env.image_ids(), vec![busybox().id()]);
        assert!(!env.root().join("layers").join(&top).exists());
        // What was whole still runs, and the damaged image can be loaded again.
        env.ok(&["run", "--rm", "busybox", "true"]);
        env.load_image(&app);
        env.ok(&["system", "check"]);
    });
}

#[test]
fn an_image_a_container_uses_is_kept_without_force() {
    for_each_user(|env| {
        load_both(env);
        let app = app();
        let cid = env.ok(&["create", "app:1", "true"]).trim().to_string();
        // A damaged config blob: the image is damaged, its container depends on it.
        let config = env.root().join("blobs/sha256").join(hex(&app.id()));
        flip_first_byte(&config);
        let o = env.coracle().args(["system", "check"]).fails(125);
        assert!(
            o.stdout()
                .contains(&format!("blob {}: digest mismatch", app.config_digest())),
            "{o}"
        );
        assert!(
            o.stdout()
                .contains(&format!("image {}: its config", app.config_digest())),
            "{o}"
        );

        let o = env
            .coracle()
            .args(["system", "check", "--repair"])
            .fails(125);
        assert!(
            o.stdout()
                .contains(&format!("Kept damaged image {}", app.config_digest())),
            "{o}"
        );
        assert!(o.stdout().contains(&cid), "{o}");
        let app_record = env.root().join("images").join(format!("{}.json", app.id()));
        assert!(app_record.exists(), "the image's record must stay");
        assert!(env.ok(&["ps", "-aq", "--no-trunc"]).contains(&cid));

        let o = env
            .coracle()
            .args(["system", "check", "--repair", "--force"])
            .ok();
        assert!(
            o.stdout().contains(&format!("Removed container {cid}")),
            "{o}"
        );
        assert!(
            o.stdout()
                .contains(&format!("Removed image {}", app.config_digest())),
            "{o}"
        );
        assert_eq!(env.image_ids(), vec![busybox().id()]);
        assert!(!env.ok(&["ps", "-aq", "--no-trunc"]).contains(&cid));
        env.ok(&["system", "check"]);
    });
}

#[test]
fn a_lost_compressed_copy_is_dropped_and_the_image_kept() {
    for_each_user(|env| {
        env.load_image(busybox());
        let diff = hex(&busybox().diff_ids()[0]).to_string();
        let record_path = env.root().join("layers").join(&diff).join("layer.json");
        let record: serde_json::Value =
            serde_json::from_slice(&fs::read(&record_path).unwrap()).unwrap();
        // A record naming a compressed copy that is gone (e.g. removed by hand).
        let blob = format!("sha256:{}", "ab".repeat(32));
        let mut record = record;
        record["compressed"] = json!([{
            "digest": blob,
            "media_type": "application/vnd.oci.image.layer.v1.tar+gzip",
            "size": 1234,
        }]);
        fs::write(&record_path, serde_json::to_vec(&record).unwrap()).unwrap();
        let o = env.coracle().args(["system", "check"]).fails(125);
        assert!(
            o.stdout().contains(&format!("compressed copy {blob}")),
            "{o}"
        );
        let o = env.coracle().args(["system", "check", "--repair"]).ok();
        assert!(
            o.stdout()
                .contains(&format!("Dropped compressed copy {blob}")),
            "{o}"
        );
        assert_eq!(env.image_ids(), vec![busybox().id()]);
        env.ok(&["system", "check"]);
        env.ok(&["run", "--rm", "busybox", "true"]);
        let saved = env.path("saved.tar");
        env.ok(&["save", "-o", saved.to_str().unwrap(), "busybox"]);
    });
}

#[test]
fn an_unreadable_container_record_is_removed_on_repair() {
    for_each_user(|env| {
        env.load_image(busybox());
        let cid = env.ok(&["create", "busybox", "true"]).trim().to_string();
        let record = env
            .root()
            .join("containers")
            .join(&cid)
            .join("container.json");
        fs::write(&record, b"{ not json").unwrap();
        let o = env.coracle().args(["system", "check"]).fails(125);
        assert!(o.stdout().contains(&format!("container {cid}: ")), "{o}");
        let o = env.coracle().args(["system", "check", "--repair"]).ok();
        assert!(
            o.stdout().contains(&format!("Removed container {cid}")),
            "{o}"
        );
        assert!(!env.root().join("containers").join(&cid).exists());
        env.ok(&["system", "check"]);
    });
}
