//! `tag` and `untag`: Podman's name normalisation (`localhost/` for names without a registry).

use crate::harness::for_each_user;
use crate::harness::images::busybox;
use crate::harness::store::strings;
use serde_json::json;

fn tags(env: &crate::harness::TestEnv, name: &str) -> Vec<String> {
    let mut v = strings(&env.inspect(name)["RepoTags"]);
    v.sort();
    v
}

#[test]
fn tag_normalises_names() {
    for_each_user(|env| {
        env.load_image(busybox());
        let o = env
            .coracle()
            .args(["tag", "busybox", "mine:1", "mine", "example.com/x/y:2"])
            .ok();
        assert_eq!(o.stdout(), "", "{o}");
        assert_eq!(
            tags(env, "busybox"),
            [
                "docker.io/library/busybox:latest",
                "example.com/x/y:2",
                "localhost/mine:1",
                "localhost/mine:latest",
            ]
        );
        for n in ["mine:1", "localhost/mine:1", "mine", "example.com/x/y:2"] {
            assert_eq!(env.inspect(n)["Id"], json!(busybox().id()), "{n}");
        }
        // `image tag` is the same command; a short ID works as the source
        env.ok(&["image", "tag", &busybox().id()[..12], "other"]);
        assert!(tags(env, "busybox").contains(&"localhost/other:latest".to_string()));
        assert_eq!(env.image_ids(), [busybox().id()]);
    });
}

#[test]
fn untag_some_or_all_names() {
    for_each_user(|env| {
        env.load_image(busybox());
        env.ok(&["tag", "busybox", "mine:1", "mine:2"]);
        env.ok(&["untag", "busybox", "localhost/mine:1"]);
        assert_eq!(
            tags(env, "busybox"),
            ["docker.io/library/busybox:latest", "localhost/mine:2"]
        );
        // short names are normalised like `tag` does
        env.ok(&["untag", "busybox", "mine:2"]);
        assert_eq!(tags(env, "busybox"), ["docker.io/library/busybox:latest"]);
        // no name: every name goes, the image stays
        env.ok(&["image", "untag", "busybox"]);
        let id = busybox().id();
        assert_eq!(strings(&env.inspect(&id)["RepoTags"]), Vec::<String>::new());
        assert_eq!(env.image_ids(), [id]);
        assert_eq!(
            env.ok(&["images", "--format", "{{.Repository}} {{.Tag}}"]),
            "<none> <none>\n"
        );
    });
}

#[test]
fn tag_errors() {
    for_each_user(|env| {
        env.load_image(busybox());
        env.coracle()
            .args(["tag", "nosuch", "x"])
            .output()
            .assert_error()
            .assert_stderr_contains("nosuch");
        env.coracle()
            .args(["tag", "busybox", "Not_Valid:UPPER:x"])
            .output()
            .assert_error();
        env.coracle()
            .args(["untag", "busybox", "localhost/never-tagged:1"])
            .output()
            .assert_error();
        assert_eq!(tags(env, "busybox"), ["docker.io/library/busybox:latest"]);
    });
}
