//! `system reset`: removes everything coracle made in its store — files containers gave to
//! subordinate ids included, a store too broken to open included — asks first unless `-f`,
//! and never touches a directory coracle did not create as a store.

use crate::harness::for_each_user;
use crate::harness::images::busybox;
use std::fs;

#[test]
fn reset_removes_the_whole_store_even_files_of_subordinate_ids() {
    for_each_user(|env| {
        env.load_image(busybox());
        // A vfs root keeps the container's files with the owners it gave them.
        env.coracle()
            .args(["--storage-driver", "vfs", "run", "--name", "keep", "busybox", "sh", "-c"])
            .arg("mkdir -p /data/deep && touch /data/deep/f && chmod 700 /data/deep && chown -R 1:1 /data 2>/dev/null; true")
            .ok();
        env.ok(&["create", "busybox", "true"]);
        assert!(env.root().exists());
        let o = env.coracle().args(["system", "reset", "-f"]).ok();
        assert!(
            !env.root().exists(),
            "the store is still there: {o}\n{:?}",
            env.store_tree()
        );
        // A fresh store works at once.
        env.load_image(busybox());
        env.ok(&["run", "--rm", "busybox", "true"]);
    });
}

#[test]
fn reset_works_on_a_store_too_broken_to_open() {
    for_each_user(|env| {
        env.load_image(busybox());
        let images = env.root().join("images");
        for e in fs::read_dir(&images).unwrap() {
            fs::write(e.unwrap().path(), b"{ broken").unwrap();
        }
        env.coracle().args(["images"]).fails(125);
        env.ok(&["system", "reset", "--force"]);
        assert!(!env.root().exists());
    });
}

#[test]
fn reset_asks_first_and_no_keeps_everything() {
    for_each_user(|env| {
        env.load_image(busybox());
        let before = env.store_tree();
        let o = env.coracle().args(["system", "reset"]).stdin("n\n").ok();
        o.assert_stderr_contains("Are you sure you want to continue? [y/N]");
        assert_eq!(env.store_tree(), before);
        env.coracle().args(["system", "reset"]).stdin("y\n").ok();
        assert!(!env.root().exists());
    });
}

#[test]
fn reset_leaves_a_directory_coracle_did_not_create_alone() {
    for_each_user(|env| {
        // The user points --root at a directory that already held their own files.
        env.write("root/notes.txt", "my notes\n");
        env.load_image(busybox());
        let o = env.coracle().args(["system", "reset", "-f"]).fails(125);
        o.assert_stderr_contains("marker");
        assert_eq!(
            fs::read_to_string(env.root().join("notes.txt")).unwrap(),
            "my notes\n"
        );
        assert!(env.root().join("images").exists(), "nothing may be removed");
    });
}

#[test]
fn files_the_user_added_to_a_store_are_kept() {
    for_each_user(|env| {
        env.load_image(busybox());
        env.write("root/README.mine", "keep me\n");
        let o = env.coracle().args(["system", "reset", "-f"]).ok();
        assert!(o.stdout().contains("Kept README.mine"), "{o}");
        assert_eq!(
            fs::read_to_string(env.root().join("README.mine")).unwrap(),
            "keep me\n"
        );
        assert!(!env.root().join("images").exists());
        assert!(!env.root().join("blobs").exists());
    });
}
