//! `images`: Podman's table, `-q`, `--no-trunc`, `--digests`, `--noheading`, `--format`,
//! `--filter`, a name argument.

use crate::harness::images::{CREATED, Image, busybox, derived};
use crate::harness::table::{created_ago, human_size, rows, tabwriter};
use crate::harness::{TestEnv, for_each_user};
use serde_json::json;

const HEADER: [&str; 5] = ["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"];

fn cells(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// The size `images` shows: Podman's human form of the image's inspect `Size`.
fn size_cell(env: &TestEnv, name: &str) -> String {
    let size = env.inspect(name)["Size"]
        .as_u64()
        .expect("inspect Size is a number");
    human_size(size)
}

fn app() -> Image {
    derived(
        "example.com/team/app:v1",
        &[("app/hello", "hello\n")],
        json!({"app": "yes", "tier": "web"}),
    )
}

#[test]
fn empty_store_prints_the_header() {
    for_each_user(|env| {
        let out = env.ok(&["images"]);
        assert_eq!(out, tabwriter(&[cells(&HEADER)]));
        assert_eq!(env.ok(&["images", "-q"]), "");
        assert_eq!(env.ok(&["images", "--noheading"]), "");
    });
}

#[test]
fn table_like_podman() {
    for_each_user(|env| {
        env.load_image(busybox());
        let size = size_cell(env, "busybox");
        let want = tabwriter(&[
            cells(&HEADER),
            vec![
                "docker.io/library/busybox".into(),
                "latest".into(),
                busybox().short_id(),
                created_ago(CREATED),
                size,
            ],
        ]);
        assert_eq!(env.ok(&["images"]), want);
        assert_eq!(env.ok(&["image", "list"]), want);
        assert_eq!(env.ok(&["image", "ls"]), want);
    });
}

#[test]
fn size_is_the_uncompressed_layers() {
    for_each_user(|env| {
        env.load_image(busybox());
        let size = env.inspect("busybox")["Size"].as_u64().expect("Size");
        let layers = busybox().layers_size();
        // Podman: the layers' uncompressed tar sizes plus the small metadata blobs
        assert!(
            size >= layers && size <= layers + 64 * 1024,
            "Size {size}, layers {layers}"
        );
    });
}

#[test]
fn quiet_no_trunc_digests_noheading() {
    for_each_user(|env| {
        env.load_image(busybox());
        let inspect = env.inspect("busybox");
        let digest = inspect["Digest"].as_str().expect("Digest").to_string();
        assert!(
            digest.starts_with("sha256:") && digest.len() == 71,
            "Digest {digest}"
        );
        let size = size_cell(env, "busybox");
        let ago = created_ago(CREATED);

        assert_eq!(
            env.ok(&["images", "-q"]),
            format!("{}\n", busybox().short_id())
        );
        assert_eq!(
            env.ok(&["images", "-q", "--no-trunc"]),
            format!("sha256:{}\n", busybox().id())
        );
        let row = |id: String| {
            vec![
                "docker.io/library/busybox".to_string(),
                "latest".into(),
                id,
                ago.clone(),
                size.clone(),
            ]
        };
        assert_eq!(
            env.ok(&["images", "--no-trunc"]),
            tabwriter(&[cells(&HEADER), row(format!("sha256:{}", busybox().id()))])
        );
        assert_eq!(
            env.ok(&["images", "--noheading"]),
            tabwriter(&[row(busybox().short_id())])
        );
        let mut with_digest = row(busybox().short_id());
        with_digest.insert(2, digest.clone());
        assert_eq!(
            env.ok(&["images", "--digests"]),
            tabwriter(&[
                cells(&["REPOSITORY", "TAG", "DIGEST", "IMAGE ID", "CREATED", "SIZE"]),
                with_digest
            ])
        );
    });
}

#[test]
fn format_templates() {
    for_each_user(|env| {
        env.load_image(busybox());
        assert_eq!(
            env.ok(&["images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"]),
            format!(
                "docker.io/library/busybox:latest {}\n",
                busybox().short_id()
            )
        );
        assert_eq!(
            env.ok(&["images", "--no-trunc", "--format", "{{.ID}}"]),
            format!("sha256:{}\n", busybox().id())
        );
        assert_eq!(
            env.ok(&["images", "--format", "{{.Repository | upper}}"]),
            "DOCKER.IO/LIBRARY/BUSYBOX\n"
        );
        assert_eq!(
            env.ok(&["images", "--format", "table {{.Repository}}\t{{.Tag}}"]),
            tabwriter(&[
                cells(&["REPOSITORY", "TAG"]),
                cells(&["docker.io/library/busybox", "latest"])
            ])
        );
        let o = env.coracle().args(["images", "--format", "json"]).ok();
        let v = o.json();
        let a = v.as_array().unwrap_or_else(|| o.fail("not an array"));
        assert_eq!(a.len(), 1, "{o}");
        let i = env.inspect("busybox");
        assert_eq!(a[0]["Id"], json!(busybox().id()), "{o}");
        assert_eq!(a[0]["Size"], i["Size"], "{o}");
        assert_eq!(a[0]["Digest"], i["Digest"], "{o}");
        assert_eq!(a[0]["Created"], json!(1_704_164_645), "{o}");
        assert_eq!(
            a[0]["Names"],
            json!(["docker.io/library/busybox:latest"]),
            "{o}"
        );
        assert_ne!(a[0]["Dangling"], json!(true), "{o}");
        // a bad template is coracle's error
        env.coracle()
            .args(["images", "--format", "{{.NoSuchField}}"])
            .output()
            .assert_error();
    });
}

/// Names (`repo:tag`) listed by `images ARGS --format`.
fn names(env: &TestEnv, args: &[&str]) -> Vec<String> {
    let mut a = vec!["images", "--format", "{{.Repository}}:{{.Tag}}"];
    a.extend_from_slice(args);
    let mut v: Vec<String> = env.ok(&a).lines().map(str::to_string).collect();
    v.sort();
    v
}

#[test]
fn filters_and_names() {
    for_each_user(|env| {
        env.load_image(busybox());
        env.load_image(&app());
        let both = [
            "docker.io/library/busybox:latest".to_string(),
            "example.com/team/app:v1".to_string(),
        ];
        assert_eq!(names(env, &[]), both);
        assert_eq!(names(env, &["busybox"]), [both[0].clone()]);
        assert_eq!(names(env, &["example.com/team/app"]), [both[1].clone()]);
        assert_eq!(
            names(env, &["--filter", "reference=busybox"]),
            [both[0].clone()]
        );
        assert_eq!(
            names(env, &["--filter", "reference=*app*"]),
            [both[1].clone()]
        );
        assert_eq!(
            names(env, &["--filter", "label=app=yes"]),
            [both[1].clone()]
        );
        assert_eq!(names(env, &["--filter", "label=tier"]), [both[1].clone()]);
        assert_eq!(
            names(env, &["--filter", "label=app=no"]),
            Vec::<String>::new()
        );
        assert_eq!(
            names(env, &["--filter", &format!("id={}", app().id())]),
            [both[1].clone()]
        );
        assert_eq!(names(env, &["--filter", "dangling=false"]), both);
        assert_eq!(
            names(env, &["--filter", "dangling=true"]),
            Vec::<String>::new()
        );
        env.ok(&["untag", "example.com/team/app:v1"]);
        assert_eq!(
            names(env, &["--filter", "dangling=true"]),
            ["<none>:<none>"]
        );
        env.coracle()
            .args(["images", "--filter", "nosuchfilter=1"])
            .output()
            .assert_error();
    });
}

#[test]
fn rows_for_every_name() {
    for_each_user(|env| {
        env.load_image(busybox());
        env.ok(&["tag", "busybox", "mine:1", "example.com/x/y:2"]);
        let out = env.ok(&["images", "--noheading"]);
        let mut got: Vec<(String, String, String)> = rows(&out)
            .into_iter()
            .map(|r| (r[0].clone(), r[1].clone(), r[2].clone()))
            .collect();
        got.sort();
        let id = busybox().short_id();
        assert_eq!(
            got,
            [
                (
                    "docker.io/library/busybox".into(),
                    "latest".into(),
                    id.clone()
                ),
                ("example.com/x/y".into(), "2".into(), id.clone()),
                ("localhost/mine".into(), "1".into(), id.clone()),
            ]
        );
    });
}
