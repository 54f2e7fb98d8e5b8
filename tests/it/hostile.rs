//! Hostile and broken input: refused with exit 125 and a message that names the entry, file
//! or digest; the store lists and holds exactly what it did before, and `tmp/` is empty
//! after the next command.

use crate::harness::figures::{HOSTILE_INPUTS_REFUSED, figure};
use crate::harness::images::{
    History, Image, busybox, busybox_layer, busybox_run_config, tar_of_files,
};
use crate::harness::layer::{Entry, Layer, LayerBuilder, sha256};
use crate::harness::{TestEnv, for_each_user};
use serde_json::{Value, json};
use std::path::Path;

/// An image whose top layer is `layer`, on the busybox base.
fn image_with(layer: Layer) -> Image {
    Image::new(
        vec![busybox_layer().clone(), layer],
        vec![
            History::layer("/bin/sh -c #(nop) ADD file:busybox in / "),
            History::layer("/bin/sh -c #(nop) ADD file:evil in / "),
        ],
        busybox_run_config(),
        &["evil:latest"],
    )
}

/// Loads `archive` (written as `file`) expecting a refusal whose stderr names one of
/// `named` (any message when empty); checks the store is unchanged.
fn refused(env: &TestEnv, file: &str, archive: &[u8], named: &[&str]) {
    let p = env.write(file, archive);
    refused_path(env, &p.display().to_string(), named);
}

fn refused_path(env: &TestEnv, input: &str, named: &[&str]) {
    let listing = env.listing();
    let tree = env.store_tree();
    let o = env.coracle().args(["load", "-i", input]).output();
    o.assert_error();
    let err = o.stderr();
    if !named.is_empty() && !named.iter().any(|n| err.contains(n)) {
        o.fail(format_args!("the error should name one of {named:?}"));
    }
    assert_eq!(
        env.listing(),
        listing,
        "images changed after a refused load of {input}"
    );
    assert_eq!(
        env.store_tree(),
        tree,
        "store files changed after a refused load of {input}\n{o}"
    );
    assert_eq!(
        env.store_tmp_entries(),
        Vec::<String>::new(),
        "tmp/ not cleaned after a refused load of {input} and one more command"
    );
    figure(HOSTILE_INPUTS_REFUSED, 1);
}

/// A fresh store holding busybox, and a directory outside it that an escape would reach.
fn setup(env: &TestEnv) -> std::path::PathBuf {
    env.load_image(busybox());
    env.mkdir("outside")
}

fn assert_untouched(outside: &Path) {
    let entries: Vec<_> = std::fs::read_dir(outside)
        .expect("read outside dir")
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(
        entries.is_empty(),
        "something was written outside the store: {entries:?}"
    );
}

#[test]
fn dot_dot_entry() {
    for_each_user(|env| {
        let outside = setup(env);
        let layer = LayerBuilder::new()
            .push(Entry::file("../../../../../../outside/dotdot-evil", "x"))
            .finish();
        refused(
            env,
            "dotdot.tar",
            &image_with(layer.clone()).docker_archive(),
            &["dotdot-evil"],
        );
        let layer2 = LayerBuilder::new()
            .push(Entry::dir("ok"))
            .push(Entry::file("ok/../../escape-evil", "x"))
            .finish();
        refused(
            env,
            "dotdot2.tar",
            &image_with(layer2).oci_archive(Some("evil:1")),
            &["escape-evil"],
        );
        assert_untouched(&outside);
    });
}

#[test]
fn absolute_entry() {
    for_each_user(|env| {
        let outside = setup(env);
        let target = format!("{}/absolute-evil", outside.display());
        let layer = LayerBuilder::new().push(Entry::file(&target, "x")).finish();
        refused(
            env,
            "abs.tar",
            &image_with(layer).docker_archive(),
            &["absolute-evil"],
        );
        assert_untouched(&outside);
    });
}

#[test]
fn symlinked_parent_pointing_outside() {
    for_each_user(|env| {
        let outside = setup(env);
        for (name, target) in [
            ("abs", outside.display().to_string()),
            (
                "rel",
                "../../../../../../../../../".to_string()
                    + outside.display().to_string().trim_start_matches('/'),
            ),
        ] {
            let layer = LayerBuilder::new()
                .push(Entry::symlink(&format!("link-{name}"), &target))
                .push(Entry::file(
                    &format!("link-{name}/through-symlink-evil"),
                    "x",
                ))
                .finish();
            refused(
                env,
                &format!("symlink-{name}.tar"),
                &image_with(layer).docker_archive(),
                &["through-symlink-evil"],
            );
        }
        // the symlink in a lower layer, the file in the next one
        let lower = LayerBuilder::new()
            .push(Entry::symlink("escape", &outside.display().to_string()))
            .finish();
        let upper = LayerBuilder::new()
            .push(Entry::file("escape/cross-layer-evil", "x"))
            .finish();
        let img = Image::new(
            vec![busybox_layer().clone(), lower, upper],
            vec![
                History::layer("a"),
                History::layer("b"),
                History::layer("c"),
            ],
            busybox_run_config(),
            &["evil:latest"],
        );
        // Each layer is extracted into its own directory, so a symlink in a lower layer is
        // never followed while the next layer is written: the load may succeed, but nothing
        // outside the store may change. (The overlay shows the upper directory in place of
        // the lower symlink, as kernel overlayfs does.)
        let p = env.write("symlink-cross.tar", img.docker_archive());
        env.coracle().args(["load", "-i"]).arg(&p).output();
        assert_untouched(&outside);
    });
}

#[test]
fn hardlink_to_outside() {
    for_each_user(|env| {
        let outside = setup(env);
        let secret = env.write("outside-secret", "secret\n");
        for (file, target) in [
            ("hl-abs.tar", secret.display().to_string()),
            (
                "hl-rel.tar",
                "../../../../../../../../etc/passwd".to_string(),
            ),
            ("hl-missing.tar", "no/such/file".to_string()),
        ] {
            let layer = LayerBuilder::new()
                .push(Entry::hardlink("hardlink-evil", &target))
                .finish();
            refused(
                env,
                file,
                &image_with(layer).docker_archive(),
                &["hardlink-evil", &target],
            );
        }
        assert_untouched(&outside);
    });
}

#[test]
fn root_type_change() {
    for_each_user(|env| {
        let outside = setup(env);
        for (file, entry) in [
            (
                "root-symlink.tar",
                Entry::symlink("./", &outside.display().to_string()),
            ),
            ("root-file.tar", Entry::file("./", "not a directory")),
            ("root-symlink2.tar", Entry::symlink(".", "/")),
        ] {
            let layer = LayerBuilder::new()
                .push(entry)
                .push(Entry::file("root-change-evil", "x"))
                .finish();
            // the entry is `./` or `.`: any message names it, so only the refusal is checked
            refused(env, file, &image_with(layer).docker_archive(), &[]);
        }
        assert_untouched(&outside);
    });
}

#[test]
fn truncated_archives() {
    for_each_user(|env| {
        setup(env);
        let img = crate::harness::odd::odd();
        let docker = img.docker_archive();
        // cut inside the big base layer, and inside the last one
        for (i, cut) in [docker.len() / 3, docker.len() - 3000]
            .into_iter()
            .enumerate()
        {
            refused(
                env,
                &format!("truncated-{i}.tar"),
                &docker[..cut],
                &[
                    &format!("truncated-{i}.tar"),
                    "truncated",
                    "unexpected end",
                    "EOF",
                ],
            );
        }
        let oci = img.oci_archive(Some("odd:1"));
        refused(
            env,
            "truncated-oci.tar",
            &oci[..oci.len() / 2],
            &["truncated-oci.tar", "truncated", "unexpected end", "EOF"],
        );
        // a layer blob whose gzip stream ends early, in a complete outer archive
        let mut files = img.oci_layout_files(Some("odd:1"));
        let gz = &img.layers[1].gz;
        let short = gz[..gz.len() / 2].to_vec();
        for f in files.iter_mut() {
            if f.1 == *gz {
                f.1 = short.clone();
            }
        }
        refused(
            env,
            "short-gzip.tar",
            &oci_tar(&files),
            &[&img.layers[1].gz_digest()],
        );
        // not a tar at all
        refused(
            env,
            "garbage.tar",
            &b"garbage ".repeat(200),
            &["garbage.tar"],
        );
        refused(env, "empty.tar", b"", &["empty.tar"]);
    });
}

/// The OCI archive of layout files (directories first).
fn oci_tar(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut b = LayerBuilder::new();
    b.push(Entry::dir("blobs")).push(Entry::dir("blobs/sha256"));
    for (p, bytes) in files {
        b.push(Entry::file(p, bytes.clone()));
    }
    b.finish().tar
}

#[test]
fn corrupt_blobs() {
    for_each_user(|env| {
        setup(env);
        let img = crate::harness::odd::odd();
        // OCI: a layer blob whose content does not match its digest (same size)
        let victim = img.layers[1].gz_digest();
        let mut files = img.oci_layout_files(Some("odd:1"));
        for f in files.iter_mut() {
            if f.0.ends_with(victim.trim_start_matches("sha256:")) {
                let n = f.1.len();
                f.1[n / 2] ^= 0xff;
            }
        }
        refused(env, "corrupt-oci.tar", &oci_tar(&files), &[&victim]);
        // OCI: a descriptor whose size is wrong
        let mut m: Value = serde_json::from_slice(&img.oci_manifest()).expect("manifest");
        m["layers"][1]["size"] = json!(img.layers[1].gz.len() - 10);
        refused(env, "bad-size.tar", &oci_with_manifest(img, &m), &[&victim]);
        // docker: a layer whose content does not match the config's diff ID
        let mut files = img.docker_archive_files();
        let diff = img.layers[2].diff_id();
        for f in files.iter_mut() {
            if f.0.starts_with(diff.trim_start_matches("sha256:")) {
                let n = f.1.len();
                f.1[n / 4] ^= 0x01;
            }
        }
        refused(
            env,
            "corrupt-docker.tar",
            &tar_of_files(&files),
            &[&diff, diff.trim_start_matches("sha256:")],
        );
        // docker: a config that does not match its name
        let mut files = img.docker_archive_files();
        for f in files.iter_mut() {
            if f.0.ends_with(".json") && f.0 != "manifest.json" {
                f.1.extend_from_slice(b" ");
            }
        }
        refused(
            env,
            "corrupt-config.tar",
            &tar_of_files(&files),
            &[&img.id()],
        );
    });
}

/// An OCI archive of `img` whose manifest is replaced by `m`.
fn oci_with_manifest(img: &Image, m: &Value) -> Vec<u8> {
    let manifest = serde_json::to_vec(m).expect("manifest");
    let mut files: Vec<(String, Vec<u8>)> = img
        .oci_layout_files(None)
        .into_iter()
        .filter(|(p, _)| {
            p != "index.json"
                && !p.ends_with(img.oci_manifest_digest().trim_start_matches("sha256:"))
        })
        .collect();
    files.push((
        format!(
            "blobs/sha256/{}",
            sha256(&manifest).trim_start_matches("sha256:")
        ),
        manifest.clone(),
    ));
    let index = json!({"schemaVersion": 2, "manifests": [{
        "mediaType": crate::harness::images::MEDIA_OCI_MANIFEST,
        "digest": sha256(&manifest),
        "size": manifest.len(),
        "annotations": {"org.opencontainers.image.ref.name": "odd:1"},
    }]});
    files.push((
        "index.json".into(),
        serde_json::to_vec(&index).expect("index"),
    ));
    oci_tar(&files)
}

#[test]
fn missing_blobs() {
    for_each_user(|env| {
        setup(env);
        let img = crate::harness::odd::odd();
        let victim = img.layers[2].gz_digest();
        let files: Vec<_> = img
            .oci_layout_files(Some("odd:1"))
            .into_iter()
            .filter(|(p, _)| !p.ends_with(victim.trim_start_matches("sha256:")))
            .collect();
        refused(env, "missing-layer-oci.tar", &oci_tar(&files), &[&victim]);
        let cfg = img.config_digest();
        let files: Vec<_> = img
            .oci_layout_files(Some("odd:1"))
            .into_iter()
            .filter(|(p, _)| !p.ends_with(cfg.trim_start_matches("sha256:")))
            .collect();
        refused(env, "missing-config-oci.tar", &oci_tar(&files), &[&cfg]);
        let man = img.oci_manifest_digest();
        let files: Vec<_> = img
            .oci_layout_files(Some("odd:1"))
            .into_iter()
            .filter(|(p, _)| !p.ends_with(man.trim_start_matches("sha256:")))
            .collect();
        refused(env, "missing-manifest-oci.tar", &oci_tar(&files), &[&man]);
        // docker: manifest.json names a layer file the archive lacks
        let gone = format!(
            "{}.tar",
            img.layers[1].diff_id().trim_start_matches("sha256:")
        );
        let files: Vec<_> = img
            .docker_archive_files()
            .into_iter()
            .filter(|(p, _)| *p != gone)
            .collect();
        refused(
            env,
            "missing-layer-docker.tar",
            &tar_of_files(&files),
            &[&gone],
        );
        // an OCI layout directory with a missing blob
        let dir = env.oci_layout("layout-missing", img, Some("latest"));
        std::fs::remove_file(
            dir.join("blobs/sha256")
                .join(victim.trim_start_matches("sha256:")),
        )
        .expect("rm blob");
        refused_path(env, &format!("oci:{}", dir.display()), &[&victim]);
    });
}

#[test]
fn bad_json() {
    for_each_user(|env| {
        setup(env);
        let img = busybox();
        let mut files = img.docker_archive_files();
        for f in files.iter_mut() {
            if f.0 == "manifest.json" {
                f.1 = b"[{\"Config\": ".to_vec();
            }
        }
        refused(
            env,
            "bad-manifest-json.tar",
            &tar_of_files(&files),
            &["manifest.json"],
        );
        // a config that is not JSON, under its correct digest
        let bad_config = b"{ not json".to_vec();
        let cfg_name = format!("{}.json", sha256(&bad_config).trim_start_matches("sha256:"));
        let mut files: Vec<_> = img
            .docker_archive_files()
            .into_iter()
            .filter(|(p, _)| !p.ends_with(".json"))
            .collect();
        files.push((cfg_name.clone(), bad_config));
        files.push((
            "manifest.json".into(),
            serde_json::to_vec(&json!([{"Config": cfg_name, "RepoTags": ["bad:1"], "Layers": [format!("{}.tar", img.diff_ids()[0].trim_start_matches("sha256:"))]}])).expect("json"),
        ));
        refused(
            env,
            "bad-config-json.tar",
            &tar_of_files(&files),
            &[&cfg_name, cfg_name.trim_end_matches(".json")],
        );
        // OCI index.json
        let mut files = img.oci_layout_files(Some("x:1"));
        for f in files.iter_mut() {
            if f.0 == "index.json" {
                f.1 = b"{\"manifests\": [".to_vec();
            }
        }
        refused(env, "bad-index.tar", &oci_tar(&files), &["index.json"]);
        // OCI manifest blob that is not JSON, under its correct digest
        let bad = b"not a manifest".to_vec();
        let digest = sha256(&bad);
        let mut files: Vec<_> = img
            .oci_layout_files(None)
            .into_iter()
            .filter(|(p, _)| p != "index.json")
            .collect();
        files.push((
            format!("blobs/sha256/{}", digest.trim_start_matches("sha256:")),
            bad.clone(),
        ));
        let index = json!({"schemaVersion": 2, "manifests": [{"mediaType": crate::harness::images::MEDIA_OCI_MANIFEST, "digest": digest, "size": bad.len()}]});
        files.push((
            "index.json".into(),
            serde_json::to_vec(&index).expect("index"),
        ));
        refused(env, "bad-manifest-blob.tar", &oci_tar(&files), &[&digest]);
    });
}

/// An image whose mount targets are symlinks out of the root: `/proc`, `/sys`, `/dev`, the
/// generated `/etc/hosts` and `/etc/hostname`, a volume's destination and `mask=` paths, as
/// absolute host paths and `../..` chains. Every mount lands inside the root (a symlink
/// followed as if the root were `/`, or the image's link replaced by a real mount point);
/// the host's files are untouched and nothing is created next to them.
#[test]
fn mount_targets_symlinked_out_of_the_root() {
    for_each_user(|env| {
        let outside = env.mkdir("outside");
        let sentinel = env.write("outside/sentinel", "host\n");
        let out = outside.display().to_string();
        let up = "../../../../../../../../..".to_string() + &out;
        let layer = LayerBuilder::new()
            .push(Entry::symlink("proc", &out))
            .push(Entry::symlink("sys", &up))
            .push(Entry::symlink("dev", &out))
            .push(Entry::symlink("etc/hosts", &format!("{out}/hosts-made")))
            .push(Entry::symlink(
                "etc/hostname",
                &format!("{up}/hostname-made"),
            ))
            .push(Entry::symlink("data", &out))
            .push(Entry::symlink("etc/mask-abs", &format!("{out}/sentinel")))
            .push(Entry::symlink("etc/mask-up", &format!("{up}/sentinel")))
            .push(Entry::file("etc/real-a", "a\n"))
            .push(Entry::file("etc/real-b", "b\n"))
            .push(Entry::symlink("etc/mask-in", "/etc/real-a"))
            .push(Entry::symlink(
                "etc/mask-in-up",
                "../../../../../etc/real-b",
            ))
            .finish();
        env.load_image(&image_with(layer));
        for driver in ["vfs", "overlay"] {
            let o = env
                .coracle()
                .args(["--storage-driver", driver, "run", "--rm"])
                .args(["--hostname", "h1", "-v", "vol:/data/vol"])
                .args([
                    "--security-opt",
                    "mask=/etc/mask-abs:/etc/mask-up:/etc/mask-in:/etc/mask-in-up",
                ])
                .args([
                    "evil",
                    "sh",
                    "-c",
                    "cat /etc/hostname; grep -c h1 /etc/hosts; wc -c < /etc/real-a; \
                     wc -c < /etc/real-b; test -e /proc/self/status && echo proc; \
                     test -e /sys/kernel && echo sys; test -c /dev/null && echo dev; \
                     touch /data/vol/x && echo vol",
                ])
                .output();
            assert_eq!(
                o.stdout(),
                "h1\n1\n0\n0\nproc\nsys\ndev\nvol\n",
                "{driver}: {o}"
            );
            assert_eq!(
                std::fs::read_to_string(&sentinel).unwrap(),
                "host\n",
                "{driver}"
            );
            let mut names: Vec<_> = std::fs::read_dir(&outside)
                .unwrap()
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            assert_eq!(names, ["sentinel"], "{driver}: made outside the root");
        }
    });
}
