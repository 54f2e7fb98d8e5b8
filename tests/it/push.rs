//! `push`: to the archive transports (read back independently of coracle, and by skopeo), and
//! to a real registry (`docker-registry`): what coracle pushes, skopeo and Podman read; a
//! second push sends nothing; another repository of the registry gets its blobs mounted; an
//! image keeps its manifest digest; kills while layers are compressed leave the store whole.

use crate::harness::archive::{
    read_docker_archive, read_docker_dir, read_oci_archive, read_oci_dir,
};
use crate::harness::images::busybox;
use crate::harness::store::assert_same_layers;
use crate::harness::tools::require;
use crate::harness::{Cmd, TestEnv, as_root, for_each_user};
use serde_json::json;
use std::fs;

const BUSYBOX: &str = "docker.io/library/busybox:latest";

fn busybox_layers() -> Vec<Vec<u8>> {
    busybox().layers.iter().map(|l| l.tar.clone()).collect()
}

/// Loads busybox from a docker archive: its layers are stored without a compressed form.
fn load_busybox(env: &TestEnv) {
    let p = env.docker_archive("busybox.tar", busybox());
    env.load(&p);
}

#[test]
fn push_to_archive_transports() {
    for_each_user(|env| {
        load_busybox(env);
        let want = busybox_layers();

        let p = env.path("pushed-oci.tar");
        let o = env
            .coracle()
            .arg("push")
            .arg("busybox")
            .arg(format!("oci-archive:{}:example.com/bb:pushed", p.display()))
            .ok();
        o.assert_stderr_contains("Writing manifest to image destination");
        let r = read_oci_archive(&fs::read(&p).expect("read pushed OCI archive"));
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].id(), busybox().id(), "oci-archive config");
        assert_eq!(
            r[0].names,
            ["example.com/bb:pushed"],
            "oci-archive ref.name"
        );
        assert_same_layers("oci-archive", &want, &r[0].layers);

        let p = env.path("pushed-docker.tar");
        env.coracle()
            .args(["push", "-q", "busybox"])
            .arg(format!("docker-archive:{}", p.display()))
            .ok();
        let r = read_docker_archive(&fs::read(&p).expect("read pushed docker archive"));
        assert_eq!(r[0].id(), busybox().id(), "docker-archive config");
        assert_eq!(r[0].names, [BUSYBOX], "docker-archive RepoTags");
        assert_same_layers("docker-archive", &want, &r[0].layers);

        let d = env.path("pushed-oci-dir");
        env.coracle()
            .args(["push", "-q", "busybox"])
            .arg(format!("oci:{}", d.display()))
            .ok();
        let r = read_oci_dir(&d);
        assert_eq!(r[0].id(), busybox().id(), "oci: config");
        assert_same_layers("oci:", &want, &r[0].layers);

        let d = env.path("pushed-dir");
        env.coracle()
            .args(["push", "-q", "busybox"])
            .arg(format!("dir:{}", d.display()))
            .ok();
        let r = read_docker_dir(&d);
        assert_eq!(r.id(), busybox().id(), "dir: config");
        assert_same_layers("dir:", &want, &r.layers);

        // an existing, non-empty directory is not written into
        let o = env
            .coracle()
            .args(["push", "-q", "busybox"])
            .arg(format!("oci:{}", d.display()))
            .fails(125);
        o.assert_stderr_contains("not empty");
    });
}

#[test]
fn skopeo_reads_pushed_archives() {
    as_root(|env| {
        let Some(skopeo) = require(env, "skopeo") else {
            return;
        };
        load_busybox(env);
        for (transport, file) in [
            ("oci-archive", "s.oci.tar"),
            ("docker-archive", "s.docker.tar"),
        ] {
            let dest = format!("{transport}:{}", env.path(file).display());
            env.coracle().args(["push", "-q", "busybox", &dest]).ok();
            let o = Cmd::new(&skopeo, "root")
                .args(["inspect", "--config", "--raw", &dest])
                .ok();
            assert_eq!(
                crate::harness::layer::sha256(&o.stdout),
                format!("sha256:{}", busybox().id()),
                "{o}"
            );
            let o = Cmd::new(&skopeo, "root").args(["inspect", &dest]).ok();
            assert_eq!(o.json()["Os"], json!("linux"), "{o}");
        }
    });
}

#[test]
fn push_refuses_signing_and_bad_flags() {
    for_each_user(|env| {
        load_busybox(env);
        let dest = format!("oci-archive:{}", env.path("x.tar").display());
        for args in [
            vec!["--sign-by", "ABCD"],
            vec!["--compression-format", "lz4"],
            vec!["--format", "v2s1"],
        ] {
            let o = env
                .coracle()
                .arg("push")
                .args(&args)
                .args(["busybox", &dest])
                .fails(125);
            o.assert_error();
        }
        env.coracle()
            .args(["push", "nosuchimage", &dest])
            .fails(125)
            .assert_stderr_contains("image not known");
        // pushing by ID needs a destination
        env.coracle()
            .args(["push", &busybox().id()])
            .fails(125)
            .assert_stderr_contains("DESTINATION");
        assert!(!env.path("x.tar").exists(), "nothing written on refusal");
    });
}
