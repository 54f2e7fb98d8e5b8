//! `rmi` and `image prune`: Podman's exit codes, and layers shared between images survive the
//! removal of one of them.

use crate::harness::archive::read_docker_archive;
use crate::harness::images::{busybox, derived};
use crate::harness::odd::odd;
use crate::harness::store::assert_same_layers;
use crate::harness::{TestEnv, for_each_user};
use serde_json::json;
use std::fs;

/// Store paths that mention `hex` (an image ID, a diff ID, a blob digest).
fn paths_naming(env: &TestEnv, hex: &str) -> Vec<String> {
    env.store_tree()
        .into_iter()
        .filter(|p| p.contains(hex))
        .collect()
}

#[test]
fn rmi_missing_image_exits_1() {
    for_each_user(|env| {
        env.coracle()
            .args(["rmi", "nosuch"])
            .fails(1)
            .assert_stderr_contains("Error: ")
            .assert_stderr_contains("nosuch");
        env.load_image(busybox());
        let o = env.coracle().args(["rmi", "busybox", "nosuch"]).output();
        assert_eq!(o.code(), Some(1), "{o}");
    });
}

#[test]
fn rmi_removes_image_and_its_files() {
    for_each_user(|env| {
        env.load_image(busybox());
        let o = env.coracle().args(["rmi", "busybox"]).ok();
        let out = o.stdout();
        assert!(
            out.lines()
                .any(|l| l == "Untagged: docker.io/library/busybox:latest"),
            "{o}"
        );
        assert!(
            out.lines()
                .any(|l| l == format!("Deleted: {}", busybox().id())),
            "{o}"
        );
        assert_eq!(env.image_ids(), Vec::<String>::new());
        let diff = busybox().diff_ids()[0]
            .trim_start_matches("sha256:")
            .to_string();
        assert_eq!(paths_naming(env, &busybox().id()), Vec::<String>::new());
        assert_eq!(paths_naming(env, &diff), Vec::<String>::new());
        assert_eq!(env.store_tmp_entries(), Vec::<String>::new());
    });
}

#[test]
fn rmi_of_one_name_only_untags() {
    for_each_user(|env| {
        env.load_image(busybox());
        env.ok(&["tag", "busybox", "mine:1"]);
        let o = env.coracle().args(["rmi", "mine:1"]).ok();
        assert_eq!(o.stdout(), "Untagged: localhost/mine:1\n", "{o}");
        assert_eq!(env.image_ids(), [busybox().id()]);
        assert_eq!(
            crate::harness::store::strings(&env.inspect("busybox")["RepoTags"]),
            ["docker.io/library/busybox:latest"]
        );
    });
}

#[test]
fn shared_layers_survive() {
    for_each_user(|env| {
        let app = derived("example.com/team/app:v1", &[("app/x", "x\n")], json!({}));
        env.load_image(busybox());
        env.load_image(&app);
        env.load_image(odd());
        env.ok(&["rmi", "busybox"]);
        env.ok(&["rmi", &odd().id()[..12]]);
        // the base layer is still whole: app saves with the same layers
        let p = env.path("app.tar");
        env.coracle()
            .args(["save", "-o"])
            .arg(&p)
            .arg("example.com/team/app:v1")
            .ok();
        let r = read_docker_archive(&fs::read(&p).expect("read"));
        let want: Vec<Vec<u8>> = app.layers.iter().map(|l| l.tar.clone()).collect();
        assert_same_layers("app after rmi busybox", &want, &r[0].layers);
        // odd's own layers are gone, the shared one is not
        for d in &odd().diff_ids()[1..] {
            assert_eq!(
                paths_naming(env, d.trim_start_matches("sha256:")),
                Vec::<String>::new()
            );
        }
        env.ok(&["rmi", "example.com/team/app:v1"]);
        let base = busybox().diff_ids()[0]
            .trim_start_matches("sha256:")
            .to_string();
        assert_eq!(paths_naming(env, &base), Vec::<String>::new());
    });
}

#[test]
fn rmi_all() {
    for_each_user(|env| {
        env.ok(&["rmi", "-a"]);
        env.load_image(busybox());
        env.load_image(odd());
        env.ok(&["tag", "odd", "odd:2"]);
        env.ok(&["rmi", "-a"]);
        assert_eq!(env.image_ids(), Vec::<String>::new());
        env.ok(&["rmi", "-f", "-a"]);
        // everything can be loaded again
        env.load_image(odd());
        assert_eq!(env.image_ids(), [odd().id()]);
    });
}

#[test]
fn rmi_with_several_names_needs_force() {
    for_each_user(|env| {
        env.load_image(busybox());
        env.ok(&["tag", "busybox", "mine:1"]);
        // by ID, an image with several names is refused without -f (Podman: exit 125)
        // or removed with all its names with -f
        let id = busybox().id();
        assert_eq!(env.image_ids(), std::slice::from_ref(&id));
        let o = env.coracle().args(["rmi", &id[..12]]).output();
        if o.code() != Some(0) {
            o.assert_error();
            env.coracle().args(["rmi", "-f", &id[..12]]).ok();
        }
        assert_eq!(env.image_ids(), Vec::<String>::new());
    });
}

#[test]
fn prune_dangling_then_all() {
    for_each_user(|env| {
        let app = derived("example.com/team/app:v1", &[("app/x", "x\n")], json!({}));
        env.load_image(busybox());
        env.load_image(&app);
        assert_eq!(env.ok(&["image", "prune", "-f"]), "");
        // busybox is app's parent (its layers are app's lower layers): not dangling even
        // without a name, as in Podman; app without a name is
        env.ok(&["untag", "busybox"]);
        assert_eq!(env.ok(&["image", "prune", "-f"]), "");
        // once app goes, busybox is dangling too: prune repeats until nothing is left
        env.ok(&["untag", "example.com/team/app:v1"]);
        let out = env.ok(&["image", "prune", "-f"]);
        let mut pruned: Vec<&str> = out.lines().collect();
        pruned.sort();
        let mut want = vec![app.id(), busybox().id()];
        want.sort();
        assert_eq!(pruned, want, "{out}");
        assert_eq!(env.image_ids(), Vec::<String>::new());
        // -a: every image without a container, named or not
        env.load_image(busybox());
        assert_eq!(env.ok(&["image", "prune", "-f"]), "");
        let out = env.ok(&["image", "prune", "-a", "-f"]);
        assert_eq!(out.lines().collect::<Vec<_>>(), [busybox().id()], "{out}");
        assert_eq!(env.image_ids(), Vec::<String>::new());
        assert_eq!(env.store_tmp_entries(), Vec::<String>::new());
    });
}

#[test]
fn rmi_force_ignores_missing_and_parents_stay_as_intermediates() {
    for_each_user(|env| {
        // -f, like -i, ignores an image that is not there (Podman: exit 0)
        assert_eq!(env.ok(&["rmi", "-f", "nosuchimage"]), "");
        let app = derived("example.com/team/app:v1", &[("app/x", "x\n")], json!({}));
        env.load_image(busybox());
        env.load_image(&app);
        // untagging busybox's last name keeps it: app is built on it
        let out = env.ok(&["rmi", "busybox"]);
        assert_eq!(out, "Untagged: docker.io/library/busybox:latest\n");
        let shown = env.ok(&["images", "-q"]);
        assert_eq!(
            shown.lines().count(),
            1,
            "the intermediate is hidden from `images`: {shown}"
        );
        let all = env.ok(&["images", "-a", "-q", "--no-trunc"]);
        assert!(all.contains(&busybox().id()), "{all}");
        // by ID, an image with a child is in use: exit 2
        let o = env.coracle().args(["rmi", &busybox().id()[..12]]).output();
        assert_eq!(o.code(), Some(2), "{o}");
        // removing the child takes the untagged parent with it
        let out = env.ok(&["rmi", "example.com/team/app:v1"]);
        assert!(
            out.contains(&format!("Deleted: {}", busybox().id())),
            "{out}"
        );
        assert_eq!(env.ok(&["images", "-a", "-q"]), "");
    });
}

#[test]
fn rmi_reports_every_failure_and_still_removes_the_rest() {
    for_each_user(|env| {
        env.load_image(busybox());
        let o = env.coracle().args(["rmi", "nosuch", "busybox"]).output();
        assert_eq!(o.code(), Some(1), "{o}");
        assert!(o.stdout().contains("Deleted:"), "{o}");
        assert_eq!(env.ok(&["images", "-q"]), "");
        // nothing of busybox is left on disk either
        let base = busybox().diff_ids()[0]
            .trim_start_matches("sha256:")
            .to_string();
        assert_eq!(paths_naming(env, &base), Vec::<String>::new());
    });
}

#[test]
fn prune_filters_by_label_until_and_dangling() {
    for_each_user(|env| {
        let a = derived("localhost/a:1", &[("a/x", "a\n")], json!({"team": "a"}));
        let b = derived("localhost/b:1", &[("b/x", "b\n")], json!({"team": "b"}));
        env.load_image(busybox());
        env.load_image(&a);
        env.load_image(&b);
        let prune = |filters: &[&str]| {
            let mut args = vec!["image", "prune", "-f"];
            for f in filters {
                args.extend(["--filter", f]);
            }
            let mut out: Vec<String> = env.ok(&args).lines().map(String::from).collect();
            out.sort();
            out
        };
        // dangling=true is the default (nothing here is dangling); a label alone does not
        // widen it to named images
        assert_eq!(prune(&["dangling=true"]), Vec::<String>::new());
        assert_eq!(prune(&["label=team=a"]), Vec::<String>::new());
        // dangling=false: unused named images too, as -a; the label narrows it
        assert_eq!(prune(&["dangling=false", "label=team=a"]), vec![a.id()]);
        // until= a time before the images were added: none of them
        assert_eq!(
            prune(&["dangling=false", "until=2000-01-01T00:00:00Z"]),
            Vec::<String>::new()
        );
        // label!=: the images without the label (busybox)
        let o = env
            .coracle()
            .args(["image", "prune", "-a", "-f", "--filter", "label!=team"])
            .ok();
        assert_eq!(o.stdout(), format!("{}\n", busybox().id()));
        let left = env.ok(&["images", "-a", "-q", "--no-trunc"]);
        assert!(left.contains(&b.id()) && !left.contains(&a.id()), "{left}");
        // until= in the future, with -a: the rest
        assert_eq!(prune(&["dangling=false", "until=2999-01-01"]), vec![b.id()]);
        assert_eq!(env.image_ids(), Vec::<String>::new());
        // a key image prune does not know, and a dangling value that is no boolean: 125
        for bad in ["bogus=1", "dangling=maybe"] {
            let o = env
                .coracle()
                .args(["image", "prune", "-f", "--filter", bad])
                .output();
            assert_eq!(o.code(), Some(125), "{bad}: {o}");
            assert!(o.stderr().contains(bad), "{o}");
        }
        env.ok(&["system", "check"]);
    });
}
