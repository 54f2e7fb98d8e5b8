//! `save` in every format; what it writes is read back independently of coracle and loaded
//! again, and must give the same image ID and diff IDs.

use crate::harness::archive::{
    read_docker_archive, read_docker_dir, read_oci_archive, read_oci_dir,
};
use crate::harness::images::{Image, busybox, derived};
use crate::harness::store::{assert_same_layers, rootfs_layers};
use crate::harness::{TestEnv, for_each_user};
use serde_json::json;
use std::fs;

const BUSYBOX: &str = "docker.io/library/busybox:latest";

fn built_layers(img: &Image) -> Vec<Vec<u8>> {
    img.layers.iter().map(|l| l.tar.clone()).collect()
}

/// Loads `input` (a path or `oci:DIR`) into a fresh second store and checks the image.
fn load_elsewhere(env: &TestEnv, store: &str, input: &str, img: &Image) {
    env.coracle_at(store).args(["load", "-i", input]).ok();
    let o = env
        .coracle_at(store)
        .args(["image", "inspect", &img.id()])
        .ok();
    let i = &o.json()[0];
    assert_eq!(i["Id"], json!(img.id()), "{o}");
    assert_eq!(rootfs_layers(i), img.diff_ids(), "{o}");
}

/// Saves `name` (loaded from `img`) in every format and checks each result.
pub fn save_every_format(env: &TestEnv, name: &str, img: &Image, full_name: &str) {
    let want = built_layers(img);

    let p = env.path("saved-docker.tar");
    env.coracle().args(["save", "-o"]).arg(&p).arg(name).ok();
    let r = read_docker_archive(&fs::read(&p).expect("read saved docker archive"));
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].id(), img.id(), "docker-archive config");
    assert_eq!(r[0].names, [full_name], "docker-archive RepoTags");
    assert_eq!(
        r[0].config_diff_ids(),
        r[0].diff_ids(),
        "docker-archive diff IDs"
    );
    assert_same_layers("docker-archive", &want, &r[0].layers);
    load_elsewhere(env, "a-docker", &p.display().to_string(), img);

    let p = env.path("saved-oci.tar");
    env.coracle()
        .args(["save", "--format", "oci-archive", "-o"])
        .arg(&p)
        .arg(name)
        .ok();
    let r = read_oci_archive(&fs::read(&p).expect("read saved OCI archive"));
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].id(), img.id(), "oci-archive config");
    assert_eq!(r[0].names, [full_name], "oci-archive ref.name");
    assert_same_layers("oci-archive", &want, &r[0].layers);
    load_elsewhere(env, "a-oci", &p.display().to_string(), img);

    let d = env.path("saved-oci-dir");
    env.coracle()
        .args(["save", "--format", "oci-dir", "-o"])
        .arg(&d)
        .arg(name)
        .ok();
    let r = read_oci_dir(&d);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].id(), img.id(), "oci-dir config");
    assert_same_layers("oci-dir", &want, &r[0].layers);
    load_elsewhere(env, "a-ocidir", &format!("oci:{}", d.display()), img);

    let d = env.path("saved-docker-dir");
    env.coracle()
        .args(["save", "--format", "docker-dir", "-o"])
        .arg(&d)
        .arg(name)
        .ok();
    let r = read_docker_dir(&d);
    assert_eq!(r.id(), img.id(), "docker-dir config");
    assert_same_layers("docker-dir", &want, &r.layers);
}

#[test]
fn every_format_round_trips() {
    for_each_user(|env| {
        env.load_image(busybox());
        save_every_format(env, "busybox", busybox(), BUSYBOX);
    });
}

#[test]
fn to_stdout() {
    for_each_user(|env| {
        env.load_image(busybox());
        let o = env.coracle().args(["save", "busybox"]).ok();
        let r = read_docker_archive(&o.stdout);
        assert_eq!(r[0].id(), busybox().id());
        assert_same_layers("stdout", &built_layers(busybox()), &r[0].layers);
    });
}

#[test]
fn by_id_has_no_names() {
    for_each_user(|env| {
        env.load_image(busybox());
        let p = env.path("by-id.tar");
        env.coracle()
            .args(["save", "-o"])
            .arg(&p)
            .arg(&busybox().id()[..12])
            .ok();
        let r = read_docker_archive(&fs::read(&p).expect("read"));
        assert_eq!(r[0].id(), busybox().id());
    });
}

#[test]
fn multi_image_docker_archive() {
    for_each_user(|env| {
        let app = derived("example.com/team/app:v1", &[("app/x", "x\n")], json!({}));
        env.load_image(busybox());
        env.load_image(&app);
        let p = env.path("both.tar");
        env.coracle()
            .args(["save", "-m", "-o"])
            .arg(&p)
            .args(["busybox", "example.com/team/app:v1"])
            .ok();
        let r = read_docker_archive(&fs::read(&p).expect("read"));
        let mut got: Vec<(String, Vec<String>)> =
            r.iter().map(|i| (i.id(), i.names.clone())).collect();
        got.sort();
        let mut want = vec![
            (busybox().id(), vec![BUSYBOX.to_string()]),
            (app.id(), vec!["example.com/team/app:v1".to_string()]),
        ];
        want.sort();
        assert_eq!(got, want);
        env.coracle_at("again").args(["load", "-i"]).arg(&p).ok();
        let mut ids = env
            .coracle_at("again")
            .args(["images", "-q", "--no-trunc"])
            .stdout()
            .lines()
            .map(|l| l.trim_start_matches("sha256:").to_string())
            .collect::<Vec<_>>();
        ids.sort();
        let mut want_ids = vec![busybox().id(), app.id()];
        want_ids.sort();
        assert_eq!(ids, want_ids);
    });
}

#[test]
fn save_errors() {
    for_each_user(|env| {
        env.coracle()
            .args(["save", "-o", "x.tar", "nosuch"])
            .output()
            .assert_error()
            .assert_stderr_contains("nosuch");
        env.load_image(busybox());
        env.coracle()
            .args([
                "save",
                "--format",
                "nosuch-format",
                "-o",
                "x.tar",
                "busybox",
            ])
            .output()
            .assert_error();
    });
}

#[test]
fn save_writes_through_a_pipe_instead_of_replacing_it() {
    for_each_user(|env| {
        env.load_image(busybox());
        let fifo = env.path("pipe");
        let status = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("mkfifo");
        assert!(status.success());
        env.give(&fifo);
        let reader = {
            let fifo = fifo.clone();
            std::thread::spawn(move || fs::read(&fifo).expect("read fifo"))
        };
        env.coracle()
            .args(["save", "-o"])
            .arg(&fifo)
            .arg("busybox")
            .ok();
        let data = reader.join().expect("reader");
        let r = read_docker_archive(&data);
        assert_same_layers(
            "save through a fifo",
            &built_layers(busybox()),
            &r[0].layers,
        );
        use std::os::unix::fs::FileTypeExt;
        assert!(
            fs::symlink_metadata(&fifo)
                .expect("stat")
                .file_type()
                .is_fifo()
        );
    });
}
