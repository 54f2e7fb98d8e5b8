//! Interoperability both ways with the real tools: what coracle saves, Podman loads and skopeo
//! reads and copies; what Podman saves and skopeo copies, coracle loads with the same image
//! IDs, digests and diff IDs. Podman runs as root on a store of its own (vfs).

use crate::harness::archive::{read_docker_archive, read_oci_archive};
use crate::harness::images::busybox;
use crate::harness::layer::sha256;
use crate::harness::odd::odd;
use crate::harness::store::{assert_same_layers, rootfs_layers, strings};
use crate::harness::tools::{podman, require};
use crate::harness::{Cmd, TestEnv, as_root};
use serde_json::json;
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

fn podman_inspect(env: &TestEnv, bin: &Path, name: &str) -> serde_json::Value {
    let o = podman(env, bin).args(["image", "inspect", name]).ok();
    o.json()[0].clone()
}

/// Loads busybox and odd into coracle and saves odd in both archive formats.
fn coracle_saves(env: &TestEnv) -> (std::path::PathBuf, std::path::PathBuf) {
    env.load_image(busybox());
    env.load_image(odd());
    let docker = env.path("coracle-docker.tar");
    let oci = env.path("coracle-oci.tar");
    env.coracle()
        .args(["save", "-o"])
        .arg(&docker)
        .arg("odd")
        .ok();
    env.coracle()
        .args(["save", "--format", "oci-archive", "-o"])
        .arg(&oci)
        .arg("odd")
        .ok();
    (docker, oci)
}

#[test]
fn podman_loads_what_coracle_saves() {
    as_root(|env| {
        let Some(bin) = require(env, "podman") else {
            return;
        };
        let (docker, oci) = coracle_saves(env);
        for archive in [&docker, &oci] {
            let o = podman(env, &bin).arg("load").arg("-i").arg(archive).ok();
            let i = podman_inspect(env, &bin, &odd().id());
            assert_eq!(i["Id"], json!(odd().id()), "{o}");
            assert_eq!(rootfs_layers(&i), odd().diff_ids(), "{o}");
            // what Podman saves from it still has the original layers
            let back = env.path("podman-resaved.tar");
            let _ = fs::remove_file(&back);
            podman(env, &bin)
                .args(["save", "-o"])
                .arg(&back)
                .arg(odd().id())
                .ok();
            let r = read_docker_archive(&fs::read(&back).expect("read"));
            let want: Vec<Vec<u8>> = odd().layers.iter().map(|l| l.tar.clone()).collect();
            assert_same_layers("coracle -> podman -> save", &want, &r[0].layers);
            podman(env, &bin).args(["rmi", "-a", "-f"]).ok();
        }
    });
}

#[test]
fn skopeo_reads_and_copies_what_coracle_saves() {
    as_root(|env| {
        let Some(bin) = require(env, "skopeo") else {
            return;
        };
        let (docker, oci) = coracle_saves(env);
        for src in [
            format!("docker-archive:{}", docker.display()),
            format!("oci-archive:{}", oci.display()),
        ] {
            let o = Cmd::new(&bin, "root")
                .args(["inspect", "--config", "--raw", &src])
                .ok();
            assert_eq!(sha256(&o.stdout), format!("sha256:{}", odd().id()), "{o}");
            let o = Cmd::new(&bin, "root").args(["inspect", &src]).ok();
            assert_eq!(o.json()["Os"], json!("linux"), "{o}");
        }
        // copies between the formats load back in coracle unchanged
        let to_oci = env.path("skopeo-oci.tar");
        Cmd::new(&bin, "root")
            .arg("copy")
            .arg(format!("docker-archive:{}", docker.display()))
            .arg(format!(
                "oci-archive:{}:example.com/odd:skopeo",
                to_oci.display()
            ))
            .ok();
        let to_docker = env.path("skopeo-docker.tar");
        Cmd::new(&bin, "root")
            .arg("copy")
            .arg(format!("oci-archive:{}", oci.display()))
            .arg(format!(
                "docker-archive:{}:example.com/odd:skopeo-docker",
                to_docker.display()
            ))
            .ok();
        env.give(env.dir());
        // skopeo writes an OCI config of its own when it converts to OCI: look images up
        // by the names it was given.
        for (store, archive, name) in [
            ("s-oci", &to_oci, "example.com/odd:skopeo"),
            ("s-docker", &to_docker, "example.com/odd:skopeo-docker"),
        ] {
            env.coracle_at(store).args(["load", "-i"]).arg(archive).ok();
            let o = env.coracle_at(store).args(["image", "inspect", name]).ok();
            assert_eq!(rootfs_layers(&o.json()[0]), odd().diff_ids(), "{o}");
        }
        // an OCI archive's manifest digest survives coracle
        let r = read_oci_archive(&fs::read(&to_oci).expect("read"));
        let o = env
            .coracle_at("s-oci")
            .args(["image", "inspect", "example.com/odd:skopeo"])
            .ok();
        assert_eq!(o.json()[0]["Digest"], json!(r[0].manifest_digest), "{o}");
    });
}

#[test]
fn coracle_loads_what_podman_saves() {
    as_root(|env| {
        let Some(bin) = require(env, "podman") else {
            return;
        };
        let src = env.docker_archive("odd-made.tar", odd());
        podman(env, &bin).arg("load").arg("-i").arg(&src).ok();
        podman(env, &bin)
            .args(["tag", &odd().id(), "example.com/odd:podman"])
            .ok();
        for (format, file) in [
            ("docker-archive", "podman-docker.tar"),
            ("oci-archive", "podman-oci.tar"),
        ] {
            let p = env.path(file);
            podman(env, &bin)
                .args(["save", "--format", format, "-o"])
                .arg(&p)
                .arg("example.com/odd:podman")
                .ok();
            env.give(&p);
            let store = format!("p-{format}");
            let o = env.coracle_at(&store).args(["load", "-i"]).arg(&p).ok();
            assert!(
                o.stdout().contains("Loaded image: example.com/odd:podman"),
                "{o}"
            );
            let o = env
                .coracle_at(&store)
                .args(["image", "inspect", "example.com/odd:podman"])
                .ok();
            let i = &o.json()[0];
            // Podman writes an OCI config of its own when it saves as OCI: the ID is then
            // that config's digest, the one the archive carries.
            let want_id = if format == "oci-archive" {
                let r = read_oci_archive(&fs::read(&p).expect("read"));
                sha256_hex(&r[0].config)
            } else {
                odd().id()
            };
            assert_eq!(i["Id"], json!(want_id), "{format}: {o}");
            assert_eq!(rootfs_layers(i), odd().diff_ids(), "{format}: {o}");
            if format == "oci-archive" {
                let r = read_oci_archive(&fs::read(&p).expect("read"));
                assert_eq!(i["Digest"], json!(r[0].manifest_digest), "{format}: {o}");
            }
            // and coracle saves Podman's layers back byte for byte
            let back = env.path(format!("resaved-{format}.tar"));
            env.coracle_at(&store)
                .args(["save", "-o"])
                .arg(&back)
                .arg("example.com/odd:podman")
                .ok();
            let r = read_docker_archive(&fs::read(&back).expect("read"));
            let want: Vec<Vec<u8>> = odd().layers.iter().map(|l| l.tar.clone()).collect();
            assert_same_layers(
                &format!("podman {format} -> coracle -> save"),
                &want,
                &r[0].layers,
            );
        }
        podman(env, &bin).args(["rmi", "-a", "-f"]).ok();
    });
}

#[test]
fn umoci_unpacks_what_coracle_saves() {
    as_root(|env| {
        let Some(bin) = require(env, "umoci") else {
            return;
        };
        env.load_image(odd());
        let layout = env.path("oci-dir");
        env.coracle()
            .args(["save", "--format", "oci-dir", "-o"])
            .arg(&layout)
            .arg("odd")
            .ok();
        let tags = Cmd::new(&bin, "root")
            .arg("ls")
            .arg("--layout")
            .arg(&layout)
            .stdout();
        let tag = tags
            .lines()
            .next()
            .unwrap_or_else(|| panic!("umoci ls: no tag in {tags:?}"));
        let bundle = env.path("bundle");
        Cmd::new(&bin, "root")
            .arg("unpack")
            .arg("--image")
            .arg(format!("{}:{tag}", layout.display()))
            .arg(&bundle)
            .ok();
        let r = bundle.join("rootfs");
        let meta = |p: &str| fs::symlink_metadata(r.join(p)).unwrap_or_else(|e| panic!("{p}: {e}"));
        assert_eq!(
            (meta("odd/big-uid").uid(), meta("odd/big-uid").gid()),
            (123_456, 123_457)
        );
        assert_eq!(meta("odd/uid1000").uid(), 2000);
        assert_eq!(meta("odd/setuid").mode() & 0o7777, 0o4755);
        assert_eq!(meta("odd/setgid-dir").mode() & 0o7777, 0o2775);
        assert_eq!(meta("odd/mode000").mode() & 0o7777, 0);
        assert!(meta("odd/dev/null").file_type().is_char_device());
        assert_eq!(meta("odd/dev/null").rdev(), libc::makedev(1, 3));
        assert!(meta("odd/dev/loop0").file_type().is_block_device());
        assert!(meta("odd/dev/fifo").file_type().is_fifo());
        assert_eq!(meta("odd/hardlink").ino(), meta("odd/target").ino());
        assert!(!r.join("odd/gone-file").exists() && !r.join("odd/gone-dir").exists());
        assert!(!r.join("odd/opaque/old").exists() && r.join("odd/opaque/new").exists());
        assert!(meta("odd/dir-becomes-symlink").file_type().is_symlink());
        assert!(!r.join("bin/rm").exists());
        let cap = Cmd::new("getfattr", "root")
            .args([
                "--absolute-names",
                "--only-values",
                "-n",
                "security.capability",
            ])
            .arg(r.join("odd/ping"))
            .ok();
        assert_eq!(cap.stdout, crate::harness::odd::CAP_NET_RAW, "{cap}");
        let _ = strings(&json!([]));
    });
}

fn sha256_hex(data: &[u8]) -> String {
    coracle::oci::digest::Digest::of_bytes(data)
        .hex()
        .to_string()
}
