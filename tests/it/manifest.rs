//! `manifest create/add/annotate/inspect/remove/rm/exists/push`: multi-platform lists kept in
//! the store and pushed to a real registry as an index.

use serde_json::{Value, json};

use crate::completion::complete_in_store;
use crate::harness::for_each_user;
use crate::harness::images::{Image, busybox};
use crate::harness::table::rows;

/// busybox's image for another platform (its config says so; the layers are the same).
fn for_platform(arch: &str, variant: Option<&str>, tag: &str) -> Image {
    let mut img = busybox().named(&[tag]);
    let mut config: Value = serde_json::from_slice(&img.config).unwrap();
    config["architecture"] = json!(arch);
    if let Some(v) = variant {
        config["variant"] = json!(v);
    }
    img.config = serde_json::to_vec(&config).unwrap();
    img
}

fn arm64() -> Image {
    for_platform("arm64", Some("v8"), "busybox-arm64:latest")
}

/// The digest of the manifest `name` was loaded with (`inspect`'s `Digest`).
fn manifest_digest(env: &crate::harness::TestEnv, name: &str) -> String {
    env.inspect(name)["Digest"].as_str().unwrap().to_string()
}

fn is_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

#[test]
fn create_add_inspect_annotate_remove() {
    for_each_user(|env| {
        env.load_image(busybox());
        env.load_image(&arm64());
        let amd_digest = manifest_digest(env, "busybox");
        let arm_digest = manifest_digest(env, "busybox-arm64");

        let id = env.ok(&["manifest", "create", "mylist"]);
        let id = id.trim().to_string();
        assert!(is_id(&id), "{id}");
        // An empty list, as Podman 4.3 shows it.
        let o = env.coracle().args(["manifest", "inspect", "mylist"]).ok();
        assert_eq!(
            o.stdout(),
            "{\n    \"schemaVersion\": 2,\n    \"mediaType\": \"application/vnd.docker.distribution.manifest.list.v2+json\",\n    \"manifests\": null\n}\n"
        );
        assert_eq!(env.ok(&["manifest", "add", "mylist", "busybox"]).trim(), id);
        assert_eq!(
            env.ok(&[
                "manifest",
                "add",
                "--annotation",
                "org.example.k=v",
                "--os-version",
                "1.0",
                "localhost/mylist:latest",
                "containers-storage:busybox-arm64"
            ])
            .trim(),
            id
        );
        let index = env
            .coracle()
            .args(["manifest", "inspect", "mylist"])
            .ok()
            .json();
        assert_eq!(
            index["mediaType"],
            json!("application/vnd.docker.distribution.manifest.list.v2+json")
        );
        let m = index["manifests"].as_array().unwrap();
        assert_eq!(m.len(), 2, "{index}");
        assert_eq!(m[0]["digest"], json!(amd_digest));
        assert_eq!(
            m[0]["platform"],
            json!({"architecture": "amd64", "os": "linux"})
        );
        assert_eq!(m[1]["digest"], json!(arm_digest));
        assert_eq!(
            m[1]["platform"],
            json!({"architecture": "arm64", "os": "linux", "os.version": "1.0", "variant": "v8"})
        );
        assert_eq!(m[1]["annotations"], json!({"org.example.k": "v"}));
        assert!(m[0]["size"].as_u64().unwrap() > 0);

        // Adding the same image again replaces its entry; annotate changes it in place.
        env.ok(&["manifest", "add", "--arch", "riscv64", "mylist", "busybox"]);
        env.ok(&[
            "manifest",
            "annotate",
            "--arch",
            "s390x",
            "--variant",
            "z",
            "--os",
            "linux",
            "--annotation",
            "a=b",
            &id[..12],
            &amd_digest,
        ]);
        let index = env.coracle().args(["manifest", "inspect", &id]).ok().json();
        let m = index["manifests"].as_array().unwrap();
        assert_eq!(m.len(), 2, "{index}");
        assert_eq!(
            m[0]["platform"],
            json!({"architecture": "s390x", "os": "linux", "variant": "z"})
        );
        assert_eq!(m[0]["annotations"], json!({"a": "b"}));

        assert_eq!(
            env.ok(&["manifest", "remove", "mylist", &amd_digest])
                .trim(),
            id
        );
        let index = env
            .coracle()
            .args(["manifest", "inspect", "mylist"])
            .ok()
            .json();
        assert_eq!(index["manifests"].as_array().unwrap().len(), 1);
        assert_eq!(index["manifests"][0]["digest"], json!(arm_digest));

        // The images themselves are untouched (`images` lists the list too, as Podman).
        assert_eq!(env.image_ids().len(), 3);
    });
}

#[test]
fn create_with_images_amend_exists_rm() {
    for_each_user(|env| {
        env.load_image(busybox());
        env.load_image(&arm64());
        let id = env.ok(&["manifest", "create", "app:1", "busybox", "busybox-arm64"]);
        let id = id.trim();
        let index = env
            .coracle()
            .args(["manifest", "inspect", "app:1"])
            .ok()
            .json();
        assert_eq!(index["manifests"].as_array().unwrap().len(), 2);

        // The name is taken without --amend; with it the list is reused.
        env.coracle()
            .args(["manifest", "create", "app:1"])
            .output()
            .assert_error()
            .assert_stderr_contains("already in use");
        assert_eq!(
            env.ok(&["manifest", "create", "--amend", "app:1"]).trim(),
            id
        );
        // An image's name is taken too, as Podman's lists are images.
        env.coracle()
            .args(["manifest", "create", "docker.io/library/busybox"])
            .output()
            .assert_error()
            .assert_stderr_contains("already in use");

        env.coracle().args(["manifest", "exists", "app:1"]).ok();
        env.coracle().args(["manifest", "exists", id]).ok();
        env.coracle()
            .args(["manifest", "exists", "nosuch"])
            .fails(1);
        // An image is not a list (125, as Podman).
        env.coracle()
            .args(["manifest", "exists", "busybox"])
            .output()
            .assert_error()
            .assert_stderr_contains("not a manifest list");

        let o = env.coracle().args(["manifest", "rm", "app:1"]).ok();
        assert_eq!(
            o.stdout(),
            format!("Untagged: localhost/app:1\nDeleted: {id}\n")
        );
        env.coracle().args(["manifest", "exists", "app:1"]).fails(1);
        env.coracle()
            .args(["manifest", "rm", "app:1"])
            .fails(1)
            .assert_stderr_contains("app:1: image not known");
        // `rm` of an image refuses, and leaves it.
        env.coracle()
            .args(["manifest", "rm", "busybox"])
            .output()
            .assert_error()
            .assert_stderr_contains("not a manifest list");
        assert_eq!(env.image_ids().len(), 2);
        assert!(env.store_tmp_entries().is_empty());
    });
}

#[test]
fn hostile_manifest_arguments() {
    for_each_user(|env| {
        env.load_image(busybox());
        env.ok(&["manifest", "create", "l"]);
        let before = env.store_tree();
        // A local image that is not there.
        env.coracle()
            .args(["manifest", "add", "l", "containers-storage:nosuch"])
            .output()
            .assert_error()
            .assert_stderr_contains("nosuch");
        // A list that is not there.
        env.coracle()
            .args(["manifest", "add", "nolist", "busybox"])
            .output()
            .assert_error()
            .assert_stderr_contains("nolist: image not known");
        env.coracle()
            .args(["manifest", "inspect", "containers-storage:nolist"])
            .output()
            .assert_error();
        // Digests the list does not have, and things that are not digests.
        let zero = format!("sha256:{}", "0".repeat(64));
        env.coracle()
            .args(["manifest", "remove", "l", &zero])
            .output()
            .assert_error()
            .assert_stderr_contains("no instance matching digest");
        env.coracle()
            .args(["manifest", "remove", "l", "sha256:xyz"])
            .output()
            .assert_error();
        env.coracle()
            .args(["manifest", "annotate", "--arch", "x", "l", &zero])
            .output()
            .assert_error();
        env.coracle()
            .args(["manifest", "annotate", "--arch", "x", "l", "not a digest"])
            .output()
            .assert_error();
        env.coracle()
            .args(["manifest", "add", "--annotation", "=v", "l", "busybox"])
            .output()
            .assert_error();
        env.coracle()
            .args(["manifest", "create", "Not_Valid:UPPER:x"])
            .output()
            .assert_error();
        // Nothing half-done: the list is still empty, the store as it was.
        let index = env.coracle().args(["manifest", "inspect", "l"]).ok().json();
        assert_eq!(index["manifests"], Value::Null);
        assert_eq!(env.store_tree(), before);
        assert!(env.store_tmp_entries().is_empty());
    });
}

/// `manifest push` to a plain-HTTP test registry, and what the registry then serves.
/// Whether the tests run against Podman (`CORACLE_IT_BIN`), for the few places coracle
/// deliberately differs.
fn against_podman() -> bool {
    std::env::var_os("CORACLE_IT_BIN").is_some_and(|b| b.to_string_lossy().contains("podman"))
}

/// The digest of an empty list as buildah stores it (a Docker list with `"manifests":null`).
const EMPTY_LIST_DIGEST: &str =
    "sha256:20b959ad5960230b65a77b746bdbf5d991ade4d7a129c2554e167acdcc990531";

/// `images --format json`'s entry for `id`.
fn summary(env: &crate::harness::TestEnv, id: &str) -> Value {
    let all = env
        .coracle()
        .args(["images", "--format", "json"])
        .ok()
        .json();
    all.as_array()
        .unwrap()
        .iter()
        .find(|i| i["Id"] == json!(id))
        .unwrap_or_else(|| panic!("no {id} in {all}"))
        .clone()
}

#[test]
fn lists_show_in_images_as_podman_shows_them() {
    for_each_user(|env| {
        env.load_image(busybox());
        let id = env.ok(&["manifest", "create", "localhost/l"]);
        let id = id.trim();
        let short = &id[..12];

        let rows = rows(&env.ok(&["images"]));
        let row = rows
            .iter()
            .find(|r| r[0] == "localhost/l")
            .unwrap_or_else(|| panic!("no list in {rows:?}"));
        assert_eq!(row[1], "latest");
        assert_eq!(row[2], short);
        assert_eq!(row[4], "110 B", "{row:?}");
        // The image is still listed.
        assert_eq!(rows.len(), 3, "{rows:?}");

        let s = summary(env, id);
        assert_eq!(s["RepoTags"], Value::Null, "{s}");
        assert_eq!(s["Names"], json!(["localhost/l:latest"]));
        assert_eq!(s["Size"], json!(110));
        assert_eq!(s["VirtualSize"], json!(110));
        assert_eq!(s["Labels"], Value::Null);
        assert_eq!(s["Digest"], json!(EMPTY_LIST_DIGEST));
        assert_eq!(
            s["RepoDigests"],
            json!([format!("localhost/l@{EMPTY_LIST_DIGEST}")])
        );
        assert!(s.get("History").is_none(), "{s}");

        let quiet = env.ok(&["images", "-q"]);
        assert!(quiet.lines().any(|l| l == short), "{quiet}");
        let digests = env.ok(&["images", "--digests"]);
        assert!(
            digests
                .lines()
                .any(|l| l.contains(EMPTY_LIST_DIGEST) && l.contains(short)),
            "{digests}"
        );
        let all = env.ok(&["images", "-a", "--no-trunc"]);
        assert!(all.contains(&format!("sha256:{id}")), "{all}");
        // A named list is not dangling; `reference` filters by its names.
        let dangling = env.ok(&["images", "-q", "--filter", "dangling=true"]);
        assert!(!dangling.contains(short), "{dangling}");
        let by_ref = env.ok(&["images", "-q", "--filter", "reference=localhost/l"]);
        assert_eq!(by_ref.trim(), short);
    });
}

#[test]
fn rmi_and_prune_remove_lists() {
    for_each_user(|env| {
        env.load_image(busybox());
        let id = env.ok(&["manifest", "create", "l"]);
        let id = id.trim().to_string();
        env.ok(&["tag", "l", "l2"]);
        // By ID with two names: refused without -f, as for an image.
        env.coracle()
            .args(["rmi", &id])
            .fails(125)
            .assert_stderr_contains("more than one tag");
        // A name goes; the list with its last one.
        assert_eq!(env.ok(&["rmi", "l2"]), "Untagged: localhost/l2:latest\n");
        let o = env.coracle().args(["rmi", "nosuch", "l"]).fails(1);
        assert_eq!(
            o.stdout(),
            format!("Untagged: localhost/l:latest\nDeleted: {id}\n")
        );
        o.assert_stderr_contains("nosuch: image not known");
        env.coracle().args(["manifest", "exists", "l"]).fails(1);
        env.coracle().args(["rmi", "l"]).fails(1);

        // `image prune` keeps a named list, `-a` removes it; the image too.
        let id = env.ok(&["manifest", "create", "p"]);
        let id = id.trim().to_string();
        assert_eq!(env.ok(&["image", "prune", "-f"]), "");
        let pruned = env.ok(&["image", "prune", "-a", "-f"]);
        assert!(pruned.lines().any(|l| l == id), "{pruned}");
        assert_eq!(pruned.lines().count(), 2, "{pruned}");
        assert!(env.image_ids().is_empty());

        // `rmi -a` removes lists and images.
        env.load_image(busybox());
        let id = env.ok(&["manifest", "create", "a"]);
        let id = id.trim().to_string();
        let out = env.ok(&["rmi", "-a"]);
        for want in [
            "Untagged: localhost/a:latest".to_string(),
            format!("Deleted: {id}"),
            format!("Deleted: {}", busybox().id()),
        ] {
            assert!(out.lines().any(|l| l == want), "no {want} in {out}");
        }
        assert!(env.image_ids().is_empty());
        env.coracle().args(["manifest", "exists", "a"]).fails(1);
        assert!(env.store_tmp_entries().is_empty());
    });
}

/// Podman 4.3's `rmi LIST` removes the list's local instance for this platform instead of the
/// list; coracle removes the list and keeps the image.
#[test]
fn rmi_of_a_list_keeps_its_images() {
    if against_podman() {
        return;
    }
    for_each_user(|env| {
        env.load_image(busybox());
        let id = env.ok(&["manifest", "create", "l", "containers-storage:busybox"]);
        let o = env.ok(&["rmi", "l"]);
        assert_eq!(o, format!("Untagged: localhost/l:latest\nDeleted: {}", id));
        assert_eq!(env.image_ids(), [busybox().id()]);
    });
}

/// An image that arrives under a list's name (load, pull, commit, import) takes it, as `tag`
/// does: one name, one owner.
#[test]
fn a_loaded_image_takes_its_name_from_a_list() {
    for_each_user(|env| {
        let list = env.ok(&["manifest", "create", "docker.io/library/busybox:latest"]);
        let list = list.trim().to_string();
        env.load_image(busybox());
        assert_eq!(summary(env, &list)["Names"], Value::Null);
        let img = summary(env, &busybox().id());
        assert!(
            img["Names"]
                .to_string()
                .contains("docker.io/library/busybox:latest"),
            "{img}"
        );
    });
}

#[test]
fn tag_moves_names_between_images_and_lists() {
    for_each_user(|env| {
        env.load_image(busybox());
        env.ok(&["tag", "busybox", "localhost/b:1"]);
        // A list takes an image's name...
        let y = env.ok(&["manifest", "create", "y"]);
        let y = y.trim().to_string();
        env.ok(&["tag", "y", "b:1", "y2"]);
        assert_eq!(
            summary(env, &y)["Names"],
            json!(["localhost/y:latest", "localhost/b:1", "localhost/y2:latest"])
        );
        let img = summary(env, &busybox().id());
        assert!(!img["Names"].to_string().contains("localhost/b:1"), "{img}");
        // ...and an image a list's, which stays nameless (`<none>`, dangling).
        let x = env.ok(&["manifest", "create", "x"]);
        let x = x.trim().to_string();
        env.ok(&["tag", "busybox", "x"]);
        assert_eq!(summary(env, &x)["Names"], Value::Null);
        env.coracle()
            .args(["manifest", "exists", "x"])
            .output()
            .assert_error()
            .assert_stderr_contains("not a manifest list");
        let rows = rows(&env.ok(&["images"]));
        assert!(
            rows.iter()
                .any(|r| r[0] == "<none>" && r[1] == "<none>" && r[2] == x[..12]),
            "{rows:?}"
        );
        let dangling = env.ok(&["images", "-q", "--filter", "dangling=true"]);
        assert_eq!(dangling.trim(), &x[..12]);
        assert_eq!(env.ok(&["image", "prune", "-f"]).trim(), x);
        let mut want = vec![busybox().id(), y];
        want.sort();
        assert_eq!(env.image_ids(), want);
    });
}

#[test]
fn inspect_resolves_a_list_to_its_local_instance() {
    for_each_user(|env| {
        env.load_image(busybox());
        env.ok(&["manifest", "create", "e"]);
        let o = env.coracle().args(["inspect", "e"]).fails(125);
        assert_eq!(o.stdout().trim(), "[]");
        o.assert_stderr_contains("no such object");
        env.coracle()
            .args(["inspect", "--type", "image", "e"])
            .fails(125)
            .assert_stderr_contains("no image found in manifest list for architecture amd64");
        // By ID: Podman names the loaded busybox `localhost/busybox`, coracle `docker.io/...`.
        let by_id = format!("containers-storage:{}", busybox().id());
        env.ok(&["manifest", "add", "e", &by_id]);
        assert_eq!(env.inspect("e")["Id"], json!(busybox().id()));
        let o = env.ok(&["inspect", "--format", "{{.Id}}", "e"]);
        assert_eq!(o.trim(), busybox().id());
    });
}

#[test]
fn list_names_complete() {
    if against_podman() {
        return;
    }
    for_each_user(|env| {
        env.load_image(busybox());
        let id = env.ok(&["manifest", "create", "mylist"]);
        for cmd in [
            &["manifest", "add"][..],
            &["manifest", "inspect"],
            &["manifest", "annotate"],
            &["manifest", "remove"],
            &["manifest", "push"],
            &["manifest", "rm"],
            &["manifest", "exists"],
        ] {
            let mut words = cmd.to_vec();
            words.push("my");
            assert_eq!(complete_in_store(env, &words), ["mylist:latest"], "{cmd:?}");
            let mut words = cmd.to_vec();
            words.push("");
            let got = complete_in_store(env, &words);
            assert!(
                got.iter().any(|g| g == "localhost/mylist:latest"),
                "{cmd:?}: {got:?}"
            );
            assert!(
                !got.iter().any(|g| g.contains("busybox")),
                "{cmd:?}: {got:?}"
            );
        }
        // After the list, `add` completes images; `rmi` and `tag` offer lists too.
        let got = complete_in_store(env, &["manifest", "add", "mylist", "bu"]);
        assert_eq!(got, ["busybox:latest"]);
        for cmd in ["rmi", "tag"] {
            let got = complete_in_store(env, &[cmd, "my"]);
            assert_eq!(got, ["mylist:latest"], "{cmd}");
        }
        let got = complete_in_store(env, &["manifest", "rm", &id[..4]]);
        assert_eq!(got, [&id[..12]]);
    });
}

mod registry {
    use std::fs;

    use serde_json::{Value, json};

    use super::{arm64, for_platform};
    use crate::harness::images::busybox;
    use crate::harness::layer::sha256;
    use crate::harness::registry::{self, RegistryOpts, RegistryServer};
    use crate::harness::tools::{podman, require};
    use crate::harness::{as_root, for_each_user};

    const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
    const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
    const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";

    fn json_of(bytes: &[u8]) -> Value {
        serde_json::from_slice(bytes).expect("registry manifest is JSON")
    }

    #[test]
    fn push_all_then_pull_one_platform() {
        if !registry::available() {
            return;
        }
        let reg = RegistryServer::start(RegistryOpts::http());
        for_each_user(|env| {
            let repo = format!("{}/multi", env.user.name());
            env.load_image(busybox());
            env.load_image(&arm64());
            env.ok(&["manifest", "create", "multi", "busybox", "busybox-arm64"]);
            let digestfile = env.path("list.digest");
            let o = env
                .coracle()
                .args(["manifest", "push", "--tls-verify=false", "--digestfile"])
                .arg(&digestfile)
                .args([
                    "multi",
                    &format!("docker://{}", reg.image_ref(&format!("{repo}:1"))),
                ])
                .ok();
            assert!(
                o.stderr()
                    .contains("Writing manifest list to image destination"),
                "{o}"
            );
            let raw = reg.raw_manifest(&format!("{repo}:1"));
            assert_eq!(fs::read_to_string(&digestfile).unwrap(), sha256(&raw));
            let index = json_of(&raw);
            assert_eq!(index["mediaType"], json!(OCI_INDEX), "{index}");
            let m = index["manifests"].as_array().unwrap();
            assert_eq!(m.len(), 2, "{index}");
            assert_eq!(
                m[0]["platform"],
                json!({"architecture": "amd64", "os": "linux"})
            );
            assert_eq!(
                m[1]["platform"],
                json!({"architecture": "arm64", "os": "linux", "variant": "v8"})
            );
            // Each instance is in the repository by digest, with its own config.
            for (d, image) in m.iter().zip([busybox().clone(), arm64()]) {
                let digest = d["digest"].as_str().unwrap();
                let raw = reg.raw_manifest(&format!("{repo}@{digest}"));
                assert_eq!(sha256(&raw), digest);
                assert_eq!(d["size"], json!(raw.len()));
                assert_eq!(
                    json_of(&raw)["config"]["digest"],
                    json!(image.config_digest())
                );
            }
            // skopeo copies the whole list (every instance and blob, digests checked).
            let copied = registry::skopeo_copy_all(
                &format!("docker://{}", reg.image_ref(&format!("{repo}:1"))),
                &format!("oci:{}:multi", env.path("copy").display()),
                &reg.access(),
            );
            assert_eq!(copied, sha256(&raw));
            // In Docker's schema: a manifest list of Docker manifests.
            env.coracle()
                .args([
                    "manifest",
                    "push",
                    "-q",
                    "--tls-verify=false",
                    "--format",
                    "v2s2",
                ])
                .args(["multi", &reg.image_ref(&format!("{repo}:v2s2"))])
                .ok();
            let index = json_of(&reg.raw_manifest(&format!("{repo}:v2s2")));
            assert_eq!(index["mediaType"], json!(DOCKER_LIST), "{index}");
            for d in index["manifests"].as_array().unwrap() {
                assert_eq!(d["mediaType"], json!(DOCKER_MANIFEST), "{index}");
                let digest = d["digest"].as_str().unwrap();
                assert_eq!(
                    sha256(&reg.raw_manifest(&format!("{repo}@{digest}"))),
                    digest
                );
            }
            // A pull of the list for one platform gets that instance. (The images go by ID:
            // `rmi -a` would take the list too, as Podman's.)
            env.ok(&["rmi", "-f", &busybox().id(), &arm64().id()]);
            let o = env
                .coracle()
                .args([
                    "pull",
                    "-q",
                    "--tls-verify=false",
                    "--platform",
                    "linux/arm64",
                ])
                .arg(reg.image_ref(&format!("{repo}:1")))
                .ok();
            assert_eq!(o.stdout().trim(), arm64().id(), "{o}");
            // The list stays (no --rm); pushed again (everything there) it is the same index.
            env.coracle()
                .args(["manifest", "push", "-q", "--tls-verify=false", "multi"])
                .arg(reg.image_ref(&format!("{repo}:2")))
                .output()
                .assert_error()
                .assert_stderr_contains("no longer in the store");
        });
    }

    #[test]
    fn inspect_remote_image_and_index() {
        if !registry::available() {
            return;
        }
        let reg = RegistryServer::start(RegistryOpts::http());
        reg.push_image(busybox(), "lib/bb:1");
        let riscv = for_platform("riscv64", None, "bb-riscv:1");
        reg.push_index(
            &[(busybox(), "linux/amd64"), (&riscv, "linux/riscv64")],
            "lib/idx:1",
        );
        for_each_user(|env| {
            let o = env
                .coracle()
                .args(["manifest", "inspect", "--tls-verify=false"])
                .arg(reg.image_ref("lib/bb:1"))
                .ok();
            assert!(
                o.stdout().starts_with("{\n    \"schemaVersion\": 2,\n"),
                "{o}"
            );
            assert_eq!(o.json(), json_of(&reg.raw_manifest("lib/bb:1")));
            let o = env
                .coracle()
                .args(["manifest", "inspect", "--tls-verify=false"])
                .arg(format!("docker://{}", reg.image_ref("lib/idx:1")))
                .ok();
            assert_eq!(o.json(), json_of(&reg.raw_manifest("lib/idx:1")));
            env.coracle()
                .args(["manifest", "inspect", "--tls-verify=false"])
                .arg(reg.image_ref("lib/nosuch:1"))
                .output()
                .assert_error();
        });
    }

    #[test]
    fn add_from_registry_and_push_elsewhere() {
        if !registry::available() {
            return;
        }
        let reg = RegistryServer::start(RegistryOpts::http());
        let riscv = for_platform("riscv64", None, "bb-riscv:1");
        let arm_digest = reg.push_image(&arm64(), "src/arm:1");
        reg.push_index(
            &[(busybox(), "linux/amd64"), (&riscv, "linux/riscv64")],
            "src/idx:1",
        );
        for_each_user(|env| {
            let repo = format!("{}/copy", env.user.name());
            env.ok(&["manifest", "create", "l"]);
            env.ok(&[
                "manifest",
                "add",
                "--tls-verify=false",
                "l",
                &format!("docker://{}", reg.image_ref("src/arm:1")),
            ]);
            env.ok(&[
                "manifest",
                "add",
                "--all",
                "--tls-verify=false",
                "l",
                &reg.image_ref("src/idx:1"),
            ]);
            let index = env.coracle().args(["manifest", "inspect", "l"]).ok().json();
            let m = index["manifests"].as_array().unwrap();
            assert_eq!(m.len(), 3, "{index}");
            assert_eq!(m[0]["digest"], json!(arm_digest));
            // The platform of a single image comes from its config.
            assert_eq!(
                m[0]["platform"],
                json!({"architecture": "arm64", "os": "linux", "variant": "v8"})
            );
            assert_eq!(
                m[2]["platform"],
                json!({"architecture": "riscv64", "os": "linux"})
            );

            // What the registry lacks is an error, and the list stays as it was.
            env.coracle()
                .args(["manifest", "add", "--tls-verify=false", "l"])
                .arg(reg.image_ref("src/nosuch:1"))
                .output()
                .assert_error()
                .assert_stderr_contains("src/nosuch");
            // A registry nobody answers for: an error, and --rm keeps the list.
            env.coracle()
                .args([
                    "manifest",
                    "push",
                    "--rm",
                    "--retry",
                    "0",
                    "--tls-verify=false",
                ])
                .args(["l", "127.0.0.1:1/x/y:1"])
                .output()
                .assert_error();
            env.coracle().args(["manifest", "exists", "l"]).ok();
            env.ok(&[
                "manifest",
                "push",
                "--rm",
                "--tls-verify=false",
                "l",
                &reg.image_ref(&format!("{repo}:1")),
            ]);
            env.coracle().args(["manifest", "exists", "l"]).fails(1);
            let index = json_of(&reg.raw_manifest(&format!("{repo}:1")));
            let pushed = index["manifests"].as_array().unwrap();
            assert_eq!(pushed.len(), 3, "{index}");
            // Instances from a registry keep their manifests; their blobs came along.
            assert_eq!(pushed[0]["digest"], json!(arm_digest));
            for d in pushed {
                let digest = d["digest"].as_str().unwrap();
                let m = json_of(&reg.raw_manifest(&format!("{repo}@{digest}")));
                let config = m["config"]["digest"].as_str().unwrap();
                assert!(reg.repo_has_blob(&repo, config), "{config} in {repo}");
            }
            // --all=false sends the index alone: fine where the images are already.
            env.ok(&[
                "manifest",
                "create",
                "--tls-verify=false",
                "l2",
                &reg.image_ref("src/arm:1"),
            ]);
            env.ok(&[
                "manifest",
                "annotate",
                "--os-version",
                "7",
                "l2",
                &arm_digest,
            ]);
            env.ok(&[
                "manifest",
                "push",
                "-q",
                "--all=false",
                "--tls-verify=false",
                "l2",
                &reg.image_ref(&format!("{repo}:only-index")),
            ]);
            let index = json_of(&reg.raw_manifest(&format!("{repo}:only-index")));
            assert_eq!(index["manifests"][0]["digest"], json!(arm_digest));
            assert_eq!(index["manifests"][0]["platform"]["os.version"], json!("7"));
        });
    }

    #[test]
    fn podman_reads_a_pushed_list() {
        if !registry::available() {
            return;
        }
        as_root(|env| {
            let Some(bin) = require(env, "podman") else {
                return;
            };
            let reg = RegistryServer::start(RegistryOpts::http());
            env.load_image(busybox());
            env.load_image(&arm64());
            env.ok(&["manifest", "create", "multi", "busybox", "busybox-arm64"]);
            let dest = reg.image_ref("pod/multi:1");
            env.ok(&[
                "manifest",
                "push",
                "-q",
                "--tls-verify=false",
                "multi",
                &dest,
            ]);
            let o = podman(env, &bin)
                .args(["pull", "-q", "--tls-verify=false", "--arch", "arm64", &dest])
                .ok();
            assert_eq!(o.stdout().trim(), arm64().id(), "{o}");
            podman(env, &bin).args(["rmi", "-a", "-f"]).ok();
        });
    }
}
