//! `import`: a flat root file system tarball becomes a one-layer image.

use crate::harness::for_each_user;
use crate::harness::images::rootfs_tar;
use crate::harness::layer::sha256;
use crate::harness::store::{rootfs_layers, strings};
use serde_json::json;

/// The image ID `import` prints (Podman prints `sha256:<hex>` as its last line).
fn printed_id(out: &str) -> String {
    let last = out.lines().last().unwrap_or_default().trim();
    let hex = last.strip_prefix("sha256:").unwrap_or(last);
    assert!(
        hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()),
        "import should print the image ID, got {out:?}"
    );
    hex.to_string()
}

#[test]
fn import_a_rootfs() {
    for_each_user(|env| {
        let tar = rootfs_tar(false);
        let p = env.write("rootfs.tar", &tar);
        let out = env.coracle().arg("import").arg(&p).arg("imported").stdout();
        let id = printed_id(&out);
        let i = env.inspect("imported");
        assert_eq!(i["Id"], json!(id));
        assert_eq!(strings(&i["RepoTags"]), ["localhost/imported:latest"]);
        assert_eq!(rootfs_layers(&i), [sha256(&tar)]);
        assert_eq!(i["Os"], json!("linux"));
        assert_eq!(i["Architecture"], json!("amd64"));
    });
}

#[test]
fn import_gzip_stdin_and_changes() {
    for_each_user(|env| {
        let tar = rootfs_tar(false);
        let p = env.write("rootfs.tar.gz", rootfs_tar(true));
        env.coracle()
            .arg("import")
            .args([
                "--change",
                "CMD=/bin/sh",
                "--change",
                "ENV=A=b",
                "-m",
                "from a tarball",
            ])
            .arg(&p)
            .arg("example.com/imp:gz")
            .ok();
        let i = env.inspect("example.com/imp:gz");
        assert_eq!(
            rootfs_layers(&i),
            [sha256(&tar)],
            "the diff ID is of the uncompressed tar"
        );
        assert_eq!(i["Config"]["Cmd"], json!(["/bin/sh", "-c", "/bin/sh"]));
        assert!(
            strings(&i["Config"]["Env"]).contains(&"A=b".to_string()),
            "{:#}",
            i["Config"]
        );
        assert_eq!(i["History"][0]["comment"], json!("from a tarball"));

        let out = env
            .coracle()
            .args(["import", "--change", "CMD=[\"/bin/sh\"]", "-", "piped"])
            .stdin(tar.clone())
            .stdout();
        let id = printed_id(&out);
        let i = env.inspect("localhost/piped:latest");
        assert_eq!(i["Id"], json!(id));
        assert_eq!(i["Config"]["Cmd"], json!(["/bin/sh"]));
    });
}

#[test]
fn import_without_name_is_dangling() {
    for_each_user(|env| {
        let p = env.write("rootfs.tar", rootfs_tar(false));
        let id = printed_id(&env.coracle().arg("import").arg(&p).stdout());
        assert_eq!(env.image_ids(), [id]);
        assert_eq!(
            env.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]),
            "<none>:<none>\n"
        );
    });
}

#[test]
fn import_errors() {
    for_each_user(|env| {
        env.coracle()
            .args(["import", "/nonexistent.tar", "x"])
            .output()
            .assert_error()
            .assert_stderr_contains("/nonexistent.tar");
        let p = env.write("not-a-tar", b"this is not a tarball\n".repeat(100));
        env.coracle()
            .arg("import")
            .arg(&p)
            .arg("x")
            .output()
            .assert_error();
        assert_eq!(env.image_ids(), Vec::<String>::new());
    });
}
