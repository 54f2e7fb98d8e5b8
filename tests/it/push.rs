//! `push`: to the archive transports (read back independently of coracle, and by skopeo), and
//! to a real registry (`docker-registry`): what coracle pushes, skopeo and Podman read; a
//! second push sends nothing; another repository of the registry gets its blobs mounted; an
//! image keeps its manifest digest; kills while layers are compressed leave the store whole.

use crate::harness::archive::{
    read_docker_archive, read_docker_dir, read_oci_archive, read_oci_dir,
};
use crate::harness::figures::{KILL_POINTS_SURVIVED, figure};
use crate::harness::images::{History, Image, busybox, busybox_layer, busybox_run_config};
use crate::harness::layer::{Entry, LayerBuilder};
use crate::harness::registry::{self, Fault, RegistryOpts, RegistryServer};
use crate::harness::store::assert_same_layers;
use crate::harness::tools::{podman, require};
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

// ---- to a registry ----------------------------------------------------------------------

/// `(kind, digest, outcome)` of each `Copying blob|config sha256:… OUTCOME` line.
fn copy_lines(stderr: &str) -> Vec<(String, String, String)> {
    stderr
        .lines()
        .filter_map(|l| {
            let rest = l.strip_prefix("Copying ")?;
            let (kind, rest) = rest.split_once(' ')?;
            let (digest, outcome) = rest.split_once(' ')?;
            Some((kind.to_string(), digest.to_string(), outcome.to_string()))
        })
        .collect()
}

fn layer_lines(stderr: &str) -> Vec<(String, String)> {
    copy_lines(stderr)
        .into_iter()
        .filter(|(k, _, _)| k == "blob")
        .map(|(_, d, o)| (d, o))
        .collect()
}

/// How many layers the push compressed (from its debug line).
fn compressed_count(stderr: &str) -> usize {
    let line = stderr
        .lines()
        .find(|l| l.contains("layers compressed"))
        .unwrap_or_else(|| panic!("no 'layers compressed' debug line in:\n{stderr}"));
    let before = line.split(" layers compressed").next().unwrap_or_default();
    before
        .rsplit(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("cannot read the count in {line:?}"))
}

/// `(name, mtime)` of every blob file in the store.
fn blob_mtimes(env: &TestEnv) -> Vec<(String, std::time::SystemTime)> {
    let dir = env.root().join("blobs/sha256");
    let mut v: Vec<_> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("listing {}: {e}", dir.display()))
        .map(|e| {
            let e = e.expect("dir entry");
            let m = e
                .metadata()
                .expect("blob metadata")
                .modified()
                .expect("mtime");
            (e.file_name().to_string_lossy().into_owned(), m)
        })
        .collect();
    v.sort();
    v
}

#[test]
fn push_to_registry_again_and_to_another_repository() {
    if !registry::available() {
        return;
    }
    for_each_user(|env| {
        let reg = RegistryServer::start(RegistryOpts::http());
        load_busybox(env);
        let dest = reg.image_ref("team/app:1.2");
        let digestfile = env.path("digest");
        let o = env
            .coracle()
            .args([
                "push",
                "--tls-verify=false",
                "--log-level",
                "debug",
                "--digestfile",
            ])
            .arg(&digestfile)
            .args(["busybox", &dest])
            .ok();
        let err = o.stderr();
        assert!(err.contains("Getting image source signatures"), "{o}");
        assert!(err.contains("Writing manifest to image destination"), "{o}");
        assert_eq!(compressed_count(&err), 1, "{o}");
        let layers = layer_lines(&err);
        assert!(layers.iter().all(|(_, how)| how == "done"), "{o}");
        // what coracle said it sent is what skopeo finds
        let skopeo_layers: Vec<String> = reg.inspect("team/app:1.2")["Layers"]
            .as_array()
            .expect("Layers")
            .iter()
            .map(|v| v.as_str().expect("layer").to_string())
            .collect();
        let sent: Vec<String> = layers.iter().map(|(d, _)| d.clone()).collect();
        assert_eq!(sent, skopeo_layers, "{o}");
        let config = crate::harness::registry::inspect_raw(&dest, &reg.access());
        let m: serde_json::Value = serde_json::from_slice(&config).expect("manifest");
        assert_eq!(
            m["config"]["digest"],
            json!(format!("sha256:{}", busybox().id()))
        );
        assert_eq!(
            fs::read_to_string(&digestfile).expect("digest file"),
            reg.manifest_digest("team/app:1.2"),
            "--digestfile"
        );

        // again: nothing compressed, nothing sent
        let before = blob_mtimes(env);
        let uploads_before = reg
            .access_log()
            .iter()
            .filter(|l| l.method == "PUT" || l.method == "PATCH")
            .count();
        let o = env
            .coracle()
            .args(["push", "--tls-verify=false", "--log-level", "debug"])
            .args(["busybox", &dest])
            .ok();
        let err = o.stderr();
        assert_eq!(compressed_count(&err), 0, "{o}");
        let lines = copy_lines(&err);
        assert_eq!(lines.len(), 2, "{o}");
        assert!(
            lines
                .iter()
                .all(|(_, _, how)| how == "skipped: already exists"),
            "{o}"
        );
        assert_eq!(
            blob_mtimes(env),
            before,
            "the second push touched the store's blobs"
        );
        let uploads: Vec<_> = reg
            .access_log()
            .into_iter()
            .filter(|l| l.method == "PUT" || l.method == "PATCH")
            .collect();
        // only the manifest again
        assert_eq!(uploads.len(), uploads_before + 1, "{uploads:?}");
        assert!(
            uploads
                .last()
                .is_some_and(|l| l.path.contains("/manifests/")),
            "{uploads:?}"
        );

        // another repository of the same registry: mounted, not uploaded
        let o = env
            .coracle()
            .args(["push", "--tls-verify=false", "busybox"])
            .arg(reg.image_ref("team/other:1"))
            .ok();
        let lines = copy_lines(&o.stderr());
        assert_eq!(lines.len(), 2, "{o}");
        for (_, digest, how) in &lines {
            assert_eq!(how, "mounted from team/app", "{o}");
            assert!(
                reg.repo_has_blob("team/other", digest),
                "{digest} in team/other"
            );
        }
        assert_eq!(
            reg.manifest_digest("team/other:1"),
            reg.manifest_digest("team/app:1.2")
        );
        // -q says nothing
        let o = env
            .coracle()
            .args(["push", "-q", "--tls-verify=false", "busybox"])
            .arg(reg.image_ref("team/other:2"))
            .ok();
        assert_eq!(o.stderr(), "", "{o}");
    });
}

#[test]
fn push_over_tls_with_credentials() {
    if !registry::available() {
        return;
    }
    for_each_user(|env| {
        let reg = RegistryServer::start(RegistryOpts::https().htpasswd());
        load_busybox(env);
        let dest = reg.image_ref("secure/bb:1");
        // without credentials: 125, naming the destination, and nothing written
        let o = env
            .coracle()
            .args(["push", "--retry", "0", "--cert-dir"])
            .arg(reg.cert_dir())
            .args(["busybox", &dest])
            .fails(125);
        o.assert_stderr_contains(&dest);
        assert!(
            !reg.access_log().iter().any(|l| l.status < 300
                && (l.method == "PUT" || l.method == "PATCH" || l.method == "POST")),
            "something was written without credentials:\n{}",
            reg.log()
        );
        // with them
        env.coracle()
            .args(["push", "-q", "--cert-dir"])
            .arg(reg.cert_dir())
            .arg("--creds")
            .arg(reg.user().creds())
            .args(["busybox", &dest])
            .ok();
        let i = reg.inspect("secure/bb:1");
        assert_eq!(i["Os"], json!("linux"), "{i}");
        // an untrusted certificate is refused
        env.coracle()
            .args(["push", "-q", "--retry", "0", "--creds"])
            .arg(reg.user().creds())
            .args(["busybox", &reg.image_ref("secure/bb:2")])
            .fails(125);
    });
}

#[test]
fn push_zstd_is_read_back() {
    if !registry::available() {
        return;
    }
    for_each_user(|env| {
        let reg = RegistryServer::start(RegistryOpts::http());
        load_busybox(env);
        let o = env
            .coracle()
            .args(["push", "--tls-verify=false", "--compression-format", "zstd"])
            .args(["busybox", &reg.image_ref("z/bb:1")])
            .ok();
        assert!(
            layer_lines(&o.stderr()).iter().all(|(_, h)| h == "done"),
            "{o}"
        );
        let m: serde_json::Value =
            serde_json::from_slice(&reg.raw_manifest("z/bb:1")).expect("manifest");
        assert_eq!(
            m["mediaType"],
            json!("application/vnd.oci.image.manifest.v1+json")
        );
        assert_eq!(
            m["layers"][0]["mediaType"],
            json!("application/vnd.oci.image.layer.v1.tar+zstd")
        );
        // skopeo copies it (checking every digest); its layers unpack to the original tars
        let dir = env.path("from-zstd");
        crate::harness::registry::skopeo_copy(
            &format!("docker://{}", reg.image_ref("z/bb:1")),
            &format!("oci:{}:z", dir.display()),
            &reg.access(),
        );
        let mut got = Vec::new();
        for l in m["layers"].as_array().expect("layers") {
            let digest = l["digest"].as_str().expect("digest");
            let blob = fs::read(dir.join("blobs/sha256").join(&digest["sha256:".len()..]))
                .expect("layer blob in the copy");
            got.push(zstd::stream::decode_all(&blob[..]).expect("zstd layer"));
        }
        assert_same_layers("zstd round trip", &busybox_layers(), &got);
        // an image with zstd layers (here from an OCI archive of the push) goes as it is
        let archive = env.path("zstd.oci.tar");
        crate::harness::registry::skopeo_copy(
            &format!("docker://{}", reg.image_ref("z/bb:1")),
            &format!("oci-archive:{}:z/bb:1", archive.display()),
            &reg.access(),
        );
        env.give(&archive);
        env.coracle_at("z2").args(["load", "-i"]).arg(&archive).ok();
        let o = env
            .coracle_at("z2")
            .args([
                "push",
                "--tls-verify=false",
                "--log-level",
                "debug",
                "z/bb:1",
            ])
            .arg(reg.image_ref("z/again:1"))
            .ok();
        assert_eq!(compressed_count(&o.stderr()), 0, "{o}");
        assert_eq!(
            reg.manifest_digest("z/again:1"),
            reg.manifest_digest("z/bb:1"),
            "{o}"
        );
        // --format v2s2 cannot carry zstd
        env.coracle()
            .args(["push", "--tls-verify=false", "--compression-format", "zstd"])
            .args(["--format", "v2s2", "busybox", &reg.image_ref("z/bb:2")])
            .fails(125)
            .assert_stderr_contains("zstd");
    });
}

#[test]
fn pushed_image_keeps_its_manifest_digest() {
    if !registry::available() {
        return;
    }
    for_each_user(|env| {
        let reg = RegistryServer::start(RegistryOpts::http());
        // a registry image with gzip layers and an OCI manifest, brought into the store with
        // its blobs as they were (an OCI archive keeps compressed layers and the manifest)
        let original = reg.push_image_oci(busybox(), "src/bb:1");
        let archive = env.path("src.oci.tar");
        crate::harness::registry::skopeo_copy(
            &format!("docker://{}", reg.image_ref("src/bb:1")),
            &format!("oci-archive:{}:src/bb:1", archive.display()),
            &reg.access(),
        );
        env.give(&archive);
        env.load(&archive);
        let o = env.coracle().args(["image", "inspect", "src/bb:1"]).ok();
        assert_eq!(o.json()[0]["Digest"], json!(original), "{o}");
        let o = env
            .coracle()
            .args([
                "push",
                "--tls-verify=false",
                "--log-level",
                "debug",
                "src/bb:1",
            ])
            .arg(reg.image_ref("dst/bb:1"))
            .ok();
        assert_eq!(compressed_count(&o.stderr()), 0, "{o}");
        assert_eq!(reg.manifest_digest("dst/bb:1"), original, "{o}");
        // --format v2s2 makes a new manifest of the same blobs
        env.coracle()
            .args([
                "push",
                "-q",
                "--tls-verify=false",
                "--format",
                "v2s2",
                "src/bb:1",
            ])
            .arg(reg.image_ref("dst/bb:docker"))
            .ok();
        let m: serde_json::Value =
            serde_json::from_slice(&reg.raw_manifest("dst/bb:docker")).expect("manifest");
        assert_eq!(
            m["mediaType"],
            json!("application/vnd.docker.distribution.manifest.v2+json")
        );
        assert_eq!(
            reg.layer_digests("dst/bb:docker"),
            reg.layer_digests("src/bb:1")
        );
    });
}

#[test]
fn podman_pulls_what_coracle_pushes() {
    if !registry::available() {
        return;
    }
    as_root(|env| {
        let Some(bin) = require(env, "podman") else {
            return;
        };
        let reg = RegistryServer::start(RegistryOpts::http());
        load_busybox(env);
        env.coracle()
            .args(["push", "-q", "--tls-verify=false", "busybox"])
            .arg(reg.image_ref("pod/bb:1"))
            .ok();
        let dest = reg.image_ref("pod/bb:1");
        podman(env, &bin)
            .args(["pull", "-q", "--tls-verify=false", &dest])
            .ok();
        // (`podman run` cannot run here: crun refuses this machine's hybrid cgroups; what
        // podman saves of the pulled image is checked instead, layer by layer)
        let saved = env.path("podman-saved.tar");
        podman(env, &bin)
            .args(["save", "-q", "-o"])
            .arg(&saved)
            .arg(&dest)
            .ok();
        let r = read_docker_archive(&fs::read(&saved).expect("read podman's archive"));
        assert_same_layers(
            "podman pull of a coracle push",
            &busybox_layers(),
            &r[0].layers,
        );
        let o = podman(env, &bin)
            .args(["image", "inspect", "--format", "{{.Id}}", &dest])
            .ok();
        assert_eq!(o.stdout().trim(), busybox().id(), "{o}");
        podman(env, &bin).args(["rmi", "-a", "-f"]).ok();
    });
}

/// The issue asks for `podman pull` + `podman run` of what coracle pushes: rootless Podman
/// runs here as a test user (see `RootlessPodman`).
#[test]
fn podman_runs_what_coracle_pushes() {
    if !registry::available() {
        return;
    }
    crate::harness::for_users(&[crate::harness::User::Sub], |env| {
        let Some(bin) = require(env, "podman") else {
            return;
        };
        let reg = RegistryServer::start(RegistryOpts::http());
        load_busybox(env);
        let dest = reg.image_ref("run/bb:1");
        env.coracle()
            .args(["push", "-q", "--tls-verify=false", "busybox", &dest])
            .ok();
        let podman = crate::harness::tools::RootlessPodman::new(env, bin);
        podman
            .cmd()
            .args(["pull", "-q", "--tls-verify=false", &dest])
            .ok();
        let o = podman
            .cmd()
            .args([
                "run",
                "--rm",
                "--network",
                "none",
                &dest,
                "echo",
                "hello from podman",
            ])
            .ok();
        assert_eq!(o.stdout(), "hello from podman\n", "{o}");
    });
}

// ---- kills while compressing ---------------------------------------------------------------

#[test]
#[cfg_attr(not(feature = "failpoints"), ignore = "needs --features failpoints")]
fn push_killed_while_keeping_compressed_layers() {
    if !registry::available() {
        return;
    }
    for_each_user(|env| {
        let reg = RegistryServer::start(RegistryOpts::http());
        load_busybox(env);
        let before = env.listing();
        let mut survived = 0;
        for point in coracle::failpoint::KILL_POINTS
            .iter()
            .filter(|p| p.starts_with("push."))
        {
            let o = env
                .coracle()
                .env("CORACLE_KILL_AT", point)
                .args(["push", "-q", "--tls-verify=false", "busybox"])
                .arg(reg.image_ref("crash/bb:1"))
                .output();
            assert_eq!(o.signal(), Some(9), "push should be killed at {point}: {o}");
            assert_eq!(env.listing(), before, "images after a kill at {point}");
            env.listing();
            assert_eq!(
                env.store_tmp_entries(),
                Vec::<String>::new(),
                "tmp/ after a kill at {point}"
            );
            // the image is whole: it saves and pushes
            let p = env.path("after-kill.tar");
            env.coracle()
                .args(["save", "-o"])
                .arg(&p)
                .arg("busybox")
                .ok();
            let r = read_docker_archive(&fs::read(&p).expect("read"));
            assert_same_layers(point, &busybox_layers(), &r[0].layers);
            env.coracle()
                .args(["push", "-q", "--tls-verify=false", "busybox"])
                .arg(reg.image_ref("crash/bb:1"))
                .ok();
            // and the next run starts from a store without the compressed form again
            env.coracle().args(["rmi", "busybox"]).ok();
            load_busybox(env);
            survived += 1;
        }
        figure(KILL_POINTS_SURVIVED, survived);
    });
}

#[test]
fn push_with_token_auth() {
    if !registry::available() {
        return;
    }
    for_each_user(|env| {
        let reg = RegistryServer::start(RegistryOpts::http().token(true));
        load_busybox(env);
        // a user who may only pull is refused: 125, naming the destination
        let dest = reg.image_ref("tok/bb:1");
        env.coracle()
            .args([
                "push",
                "-q",
                "--retry",
                "0",
                "--tls-verify=false",
                "--creds",
            ])
            .arg(reg.reader().creds())
            .args(["busybox", &dest])
            .fails(125)
            .assert_stderr_contains(&dest);
        env.coracle()
            .args(["push", "-q", "--tls-verify=false", "--creds"])
            .arg(reg.user().creds())
            .args(["busybox", &dest])
            .ok();
        assert_eq!(reg.inspect("tok/bb:1")["Os"], json!("linux"));
        // a mount from a repository the token covers too
        let o = env
            .coracle()
            .args(["push", "--tls-verify=false", "--creds"])
            .arg(reg.user().creds())
            .args(["busybox", &reg.image_ref("tok/other:1")])
            .ok();
        assert!(
            copy_lines(&o.stderr())
                .iter()
                .all(|(_, _, how)| how == "mounted from tok/bb"),
            "{o}"
        );
    });
}

#[test]
fn push_to_a_registry_that_never_answers() {
    if !registry::available() {
        return;
    }
    for_each_user(|env| {
        let reg = RegistryServer::start(RegistryOpts::http());
        let proxy = reg.fault_proxy(registry::Fault::Hang);
        load_busybox(env);
        let before = env.listing();
        let o = env
            .coracle()
            .env("CORACLE_REGISTRY_TIMEOUT", "2s")
            .args([
                "push",
                "-q",
                "--retry",
                "0",
                "--tls-verify=false",
                "busybox",
            ])
            .arg(proxy.image_ref("hang/bb:1"))
            .fails(125);
        o.assert_error();
        assert_eq!(env.listing(), before);
        drop(proxy);
        // the layer compressed meanwhile was kept: the real registry gets it without work
        let o = env
            .coracle()
            .args([
                "push",
                "--tls-verify=false",
                "--log-level",
                "debug",
                "busybox",
            ])
            .arg(reg.image_ref("hang/bb:1"))
            .ok();
        assert_eq!(compressed_count(&o.stderr()), 0, "{o}");
        assert_eq!(reg.inspect("hang/bb:1")["Os"], json!("linux"));
    });
}

#[test]
fn pulled_then_pushed_keeps_its_manifest_digest() {
    if !registry::available() {
        return;
    }
    for_each_user(|env| {
        let reg = RegistryServer::start(RegistryOpts::http());
        let docker = reg.push_image(busybox(), "src/docker:1");
        let oci = reg.push_image_oci(busybox(), "src/oci:1");
        // a store each: one image record keeps one manifest digest
        for (store, src, digest) in [("d", "src/docker:1", docker), ("o", "src/oci:1", oci)] {
            env.coracle_at(store)
                .args(["pull", "-q", "--tls-verify=false"])
                .arg(reg.image_ref(src))
                .ok();
            let o = env
                .coracle_at(store)
                .args(["push", "--tls-verify=false", "--log-level", "debug"])
                .arg(reg.image_ref(src))
                .arg(reg.image_ref("copy/bb:1"))
                .ok();
            assert_eq!(compressed_count(&o.stderr()), 0, "{o}");
            assert_eq!(reg.manifest_digest("copy/bb:1"), digest, "{src}: {o}");
            // The pull remembered where the blobs are: the copy mounts them, uploads nothing.
            let stderr = o.stderr();
            let blobs: Vec<&str> = stderr
                .lines()
                .filter(|l| l.starts_with("Copying blob"))
                .collect();
            assert!(!blobs.is_empty(), "{o}");
            for line in blobs {
                assert!(
                    line.contains(&format!("mounted from {}", &src[..src.find(':').unwrap()]))
                        || line.contains("skipped"),
                    "{line}: {o}"
                );
            }
        }
    });
}

/// `size` bytes that gzip cannot shrink, different for each `seed`.
fn noise(size: usize, seed: u64) -> Vec<u8> {
    let mut x: u64 = 0x2545_f491_4f6c_dd1d ^ seed.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (0..size)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// Busybox and one layer of noise per size, named `name`.
fn noise_image(sizes: &[usize], name: &str) -> Image {
    let mut layers = vec![busybox_layer().clone()];
    let mut history = vec![History::layer("/bin/sh -c #(nop) ADD file:busybox in / ")];
    for (i, size) in sizes.iter().enumerate() {
        let mut b = LayerBuilder::new();
        b.push(Entry::file(&format!("big{i}"), noise(*size, i as u64)));
        layers.push(b.finish());
        history.push(History::layer(&format!("/bin/sh -c #(nop) ADD big{i} /")));
    }
    Image::new(layers, history, busybox_run_config(), &[name])
}

/// No store lock is held while blobs upload, nor while layers compress meanwhile: a writer
/// (`tag`) does not wait for a slow push.
#[test]
fn no_store_lock_during_upload() {
    if !registry::available() {
        return;
    }
    let reg = RegistryServer::start(RegistryOpts::http());
    let other = RegistryServer::start(RegistryOpts::http());
    // The first layer is stored compressed (by a push elsewhere) and uploads at once; the
    // second compresses meanwhile.
    let first = noise_image(&[4 << 20], "localhost/first:1");
    let image = noise_image(&[4 << 20, 8 << 20], "localhost/big:1");
    as_root(|env| {
        env.load_image(&first);
        env.load_image(&image);
        load_busybox(env);
        env.coracle()
            .args(["push", "-q", "--tls-verify=false", "localhost/first:1"])
            .arg(other.image_ref("team/first:1"))
            .ok();
        let proxy = reg.fault_proxy(Fault::SlowUploads {
            bytes_per_sec: 2 << 20,
        });
        let mut slow = std::process::Command::new(crate::harness::users::binary())
            .arg("--root")
            .arg(env.root())
            .arg("--runroot")
            .arg(env.runroot())
            .args(["push", "-q", "--tls-verify=false", "localhost/big:1"])
            .arg(proxy.image_ref("team/big:1"))
            .envs(env.environment())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("starting a slow push");
        std::thread::sleep(std::time::Duration::from_millis(700));
        let started = std::time::Instant::now();
        env.ok(&["tag", "busybox", "localhost/other:1"]);
        let waited = started.elapsed();
        let status = slow.wait().expect("waiting for the push");
        assert!(status.success(), "the slow push failed");
        assert!(
            waited < std::time::Duration::from_secs(1),
            "tag waited {waited:?} for the push"
        );
        assert_eq!(reg.inspect("team/big:1")["Os"], json!("linux"));
    });
}
