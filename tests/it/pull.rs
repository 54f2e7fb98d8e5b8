//! `pull` and `run --pull` against a real `docker-registry` (the harness's
//! [`RegistryServer`]), with images pushed by skopeo: what ends up in the store is what the
//! registry says (`skopeo inspect`), layers the store has are not downloaded again, and every
//! failure (401, 404, a corrupt blob, a cut or stalled connection, a kill in the middle) is a
//! clear error with the store as before, or a resumed download.

use std::net::TcpListener;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::figures::{KILL_POINTS_SURVIVED, figure};
use crate::harness::images::{History, Image, busybox, busybox_layer, busybox_run_config, derived};
use crate::harness::layer::{Entry, LayerBuilder};
use crate::harness::registry::{self, Fault, READER, RegistryOpts, RegistryServer};
use crate::harness::tools::which;
use crate::harness::{TestEnv, as_root, for_each_user, skip};

/// A registry of the given kind, or `None` (SKIP printed) when the registry tests cannot run.
fn start(opts: RegistryOpts) -> Option<RegistryServer> {
    registry::available().then(|| RegistryServer::start(opts))
}

/// How many `GET`s of paths containing `part` the registry has answered with `status`
/// (any status when `None`).
fn gets(reg: &RegistryServer, part: &str, status: Option<u16>) -> usize {
    reg.access_log()
        .iter()
        .filter(|l| l.is("GET", part) && status.is_none_or(|s| l.status == s))
        .count()
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

/// Busybox plus `count` layers of `size` incompressible bytes each (downloads that take
/// many reads).
fn big_layers_image(size: usize, count: usize) -> Image {
    let mut layers = vec![busybox_layer().clone()];
    let mut history = vec![History::layer("/bin/sh -c #(nop) ADD file:busybox in / ")];
    for i in 0..count {
        let mut b = LayerBuilder::new();
        b.push(Entry::file(&format!("big{i}"), noise(size, i as u64)));
        layers.push(b.finish());
        history.push(History::layer(&format!("/bin/sh -c #(nop) ADD big{i} /")));
    }
    Image::new(layers, history, busybox_run_config(), &["big:latest"])
}

/// Busybox plus one layer of `size` incompressible bytes.
fn big_image(size: usize) -> Image {
    big_layers_image(size, 1)
}

/// `image` as built for another architecture (same layers, another config).
fn for_arch(image: &Image, arch: &str, variant: Option<&str>) -> Image {
    let mut config: Value = serde_json::from_slice(&image.config).expect("config");
    config["architecture"] = json!(arch);
    if let Some(v) = variant {
        config["variant"] = json!(v);
    }
    let mut other = image.clone();
    other.config = serde_json::to_vec(&config).expect("config JSON");
    other
}

fn pull(env: &TestEnv, reference: &str) -> crate::harness::cmd::Output {
    env.coracle()
        .args(["pull", "--tls-verify=false", reference])
        .output()
}

fn stderr_lines(o: &crate::harness::cmd::Output, prefix: &str) -> Vec<String> {
    o.stderr()
        .lines()
        .filter(|l| l.starts_with(prefix))
        .map(str::to_string)
        .collect()
}

fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

#[test]
fn plain_registry_then_run_and_pull_again() {
    let Some(reg) = start(RegistryOpts::http()) else {
        return;
    };
    let digest = reg.push_image_oci(busybox(), "team/busybox:1");
    let want = reg.inspect("team/busybox:1");
    assert_eq!(want["Digest"], json!(digest));
    let name = reg.image_ref("team/busybox:1");
    for_each_user(|env| {
        let o = pull(env, &name);
        assert!(o.status.success(), "{o}");
        assert_eq!(o.stdout().trim(), busybox().id(), "{o}");
        let err = o.stderr();
        assert!(err.contains(&format!("Trying to pull {name}...")), "{o}");
        assert!(err.contains("Getting image source signatures"), "{o}");
        assert!(err.contains("Writing manifest to image destination"), "{o}");
        assert!(err.contains("Storing signatures"), "{o}");
        assert_eq!(
            stderr_lines(&o, "Copying blob "),
            [format!("Copying blob {} done", busybox_layer().gz_digest())],
            "{o}"
        );
        assert!(
            err.contains(&format!("Copying config sha256:{} done", busybox().id())),
            "{o}"
        );
        let i = env.inspect(&name);
        assert_eq!(i["Id"], json!(busybox().id()));
        assert_eq!(i["Digest"], want["Digest"]);
        let digests = env.ok(&[
            "images",
            "--digests",
            "--format",
            "{{.Repository}} {{.Tag}} {{.Digest}}",
        ]);
        assert_eq!(
            digests.trim(),
            format!("{}/team/busybox 1 {digest}", reg.host())
        );
        env.coracle().args(["run", "--rm", &name, "true"]).ok();

        // Again: every layer is there, nothing is downloaded.
        let blob = format!("/blobs/{}", busybox_layer().gz_digest());
        let before = gets(&reg, &blob, None);
        let o = pull(env, &name);
        assert!(o.status.success(), "{o}");
        assert_eq!(o.stdout().trim(), busybox().id());
        assert_eq!(
            stderr_lines(&o, "Copying blob "),
            [format!(
                "Copying blob {} skipped: already exists",
                busybox_layer().gz_digest()
            )],
            "{o}"
        );
        assert_eq!(
            gets(&reg, &blob, None),
            before,
            "the layer was downloaded again"
        );
        assert_eq!(env.store_tmp_entries(), Vec::<String>::new());

        // -q: the ID alone.
        let o = env
            .coracle()
            .args(["pull", "-q", "--tls-verify=false", &name])
            .ok();
        assert_eq!(o.stderr(), "");
        assert_eq!(o.stdout().trim(), busybox().id());
    });
}

/// A Docker schema 2 manifest (what `podman push` and `docker push` send) works as well.
#[test]
fn docker_manifest() {
    let Some(reg) = start(RegistryOpts::http()) else {
        return;
    };
    let digest = reg.push_image(busybox(), "team/docker:1");
    as_root(|env| {
        let name = reg.image_ref("team/docker:1");
        let o = pull(env, &name);
        assert!(o.status.success(), "{o}");
        assert_eq!(o.stdout().trim(), busybox().id());
        assert_eq!(env.inspect(&name)["Digest"], json!(digest));
        env.coracle().args(["run", "--rm", &name, "true"]).ok();
    });
}

#[test]
fn by_digest() {
    let Some(reg) = start(RegistryOpts::http()) else {
        return;
    };
    let digest = reg.push_image_oci(busybox(), "team/busybox:1");
    for_each_user(|env| {
        let name = reg.image_ref(&format!("team/busybox@{digest}"));
        let o = pull(env, &name);
        assert!(o.status.success(), "{o}");
        assert!(
            o.stderr().contains(&format!("Trying to pull {name}...")),
            "{o}"
        );
        assert_eq!(o.stdout().trim(), busybox().id());
        let rows = env.ok(&[
            "images",
            "--digests",
            "--format",
            "{{.Repository}} {{.Tag}} {{.Digest}}",
        ]);
        assert_eq!(
            rows.trim(),
            format!("{}/team/busybox <none> {digest}", reg.host())
        );
        let i = env.inspect(&name);
        assert_eq!(i["Digest"], json!(digest));
        assert_eq!(
            i["RepoDigests"],
            json!([format!("{}/team/busybox@{digest}", reg.host())])
        );
    });
}

#[test]
fn index_picks_the_platform() {
    let Some(reg) = start(RegistryOpts::http()) else {
        return;
    };
    let other_arch = if host_arch() == "arm64" {
        "amd64"
    } else {
        "arm64"
    };
    let native = for_arch(busybox(), host_arch(), None);
    let other = for_arch(busybox(), other_arch, None);
    reg.push_index(
        &[
            (&other, &format!("linux/{other_arch}")),
            (&native, &format!("linux/{}", host_arch())),
        ],
        "multi/bb:list",
    );
    let name = reg.image_ref("multi/bb:list");
    for_each_user(|env| {
        let o = pull(env, &name);
        assert!(o.status.success(), "{o}");
        assert_eq!(o.stdout().trim(), native.id(), "the host's platform");
        assert_eq!(
            env.inspect(&name)["Digest"],
            json!(native.oci_manifest_digest())
        );
        let o = env
            .coracle()
            .args(["pull", "--tls-verify=false", "--arch", other_arch, &name])
            .ok();
        assert_eq!(o.stdout().trim(), other.id(), "--arch {other_arch}");
        let o = env
            .coracle()
            .args([
                "pull",
                "--tls-verify=false",
                "--platform",
                "linux/s390x",
                &name,
            ])
            .fails(125);
        o.assert_stderr_contains("linux/s390x")
            .assert_stderr_contains(&format!("linux/{other_arch}"))
            .assert_stderr_contains(&format!("linux/{}", host_arch()));
    });
}

#[test]
fn short_name_through_registries_conf() {
    let Some(reg) = start(RegistryOpts::http()) else {
        return;
    };
    reg.push_image_oci(busybox(), "library/shorty:latest");
    for_each_user(|env| {
        let conf = env.write(
            "registries.conf",
            format!(
                "unqualified-search-registries = [\"{h}\"]\n\n[[registry]]\nlocation = \"{h}\"\ninsecure = true\n",
                h = reg.host()
            ),
        );
        let o = env
            .coracle()
            .env("CONTAINERS_REGISTRIES_CONF", &conf)
            .args(["pull", "library/shorty"])
            .ok();
        assert_eq!(o.stdout().trim(), busybox().id(), "{o}");
        o.assert_stderr_contains(&format!(
            "Trying to pull {}/library/shorty:latest...",
            reg.host()
        ));
        let i = env.inspect(&reg.image_ref("library/shorty:latest"));
        assert_eq!(i["Id"], json!(busybox().id()));
        // Not in the registry: Podman's message for the candidate.
        let o = env
            .coracle()
            .env("CONTAINERS_REGISTRIES_CONF", &conf)
            .args(["pull", "nothere"])
            .fails(125);
        o.assert_stderr_contains(&format!(
            "initializing source docker://{}/nothere:latest",
            reg.host()
        ));
    });
}

/// Enforcing short-name mode with two search registries: without a terminal the pull is
/// refused; on a terminal (`script` gives one) the user picks, and the pick is remembered as
/// an alias, so the next pull needs no terminal.
#[test]
fn enforcing_short_names_prompt_on_a_terminal() {
    let Some(first) = start(RegistryOpts::http()) else {
        return;
    };
    let second = RegistryServer::start(RegistryOpts::http());
    second.push_image_oci(busybox(), "picky:latest");
    let Some(script) = which("script") else {
        skip(
            "pull::enforcing_short_names_prompt_on_a_terminal",
            "all",
            "no script(1)",
        );
        return;
    };
    for_each_user(|env| {
        let conf = env.write(
            "registries.conf",
            format!(
                "short-name-mode = \"enforcing\"\nunqualified-search-registries = [\"{a}\", \"{b}\"]\n\n\
                 [[registry]]\nlocation = \"{a}\"\ninsecure = true\n\n\
                 [[registry]]\nlocation = \"{b}\"\ninsecure = true\n",
                a = first.host(),
                b = second.host()
            ),
        );
        env.coracle()
            .env("CONTAINERS_REGISTRIES_CONF", &conf)
            .args(["pull", "-q", "picky"])
            .fails(125)
            .assert_stderr_contains(
                "short-name resolution enforced but cannot prompt without a TTY",
            );

        let mut line = vec![crate::harness::users::binary().display().to_string()];
        line.extend(
            ["--root", &env.root().display().to_string()]
                .into_iter()
                .chain(["--runroot", &env.runroot().display().to_string()])
                .chain(["pull", "-q", "picky"])
                .map(str::to_string),
        );
        let o = env
            .run_as(&script, "script")
            .env("CONTAINERS_REGISTRIES_CONF", &conf)
            .args(["-q", "-e", "-c", &line.join(" "), "/dev/null"])
            .stdin("2\n")
            .ok();
        let text = o.stdout();
        assert!(text.contains("Please select an image"), "{o}");
        assert!(
            text.contains(&format!("2) {}/picky:latest", second.host())),
            "{o}"
        );
        assert!(text.contains(&busybox().id()), "{o}");

        // The choice is now an alias: no terminal needed.
        env.coracle()
            .env("CONTAINERS_REGISTRIES_CONF", &conf)
            .args(["rmi", "-a"])
            .ok();
        let o = env
            .coracle()
            .env("CONTAINERS_REGISTRIES_CONF", &conf)
            .args(["pull", "-q", "picky"])
            .ok();
        assert_eq!(o.stdout().trim(), busybox().id(), "{o}");
        let aliases = std::fs::read_to_string(
            env.home()
                .join(".config/containers/short-name-aliases.conf"),
        )
        .expect("the alias cache");
        assert!(
            aliases.contains(&format!("{}/picky", second.host())),
            "{aliases}"
        );
    });
}

#[test]
fn missing_manifest_is_125() {
    let Some(reg) = start(RegistryOpts::http()) else {
        return;
    };
    reg.push_image_oci(busybox(), "team/busybox:1");
    for_each_user(|env| {
        let name = reg.image_ref("team/busybox:nope");
        let o = pull(env, &name);
        assert_eq!(o.status.code(), Some(125), "{o}");
        o.assert_stderr_contains(&format!(
            "Error: initializing source docker://{name}: reading manifest nope in {}/team/busybox",
            reg.host()
        ))
        .assert_stderr_contains("manifest unknown");
        assert_eq!(env.image_ids(), Vec::<String>::new());
        assert_eq!(env.store_tmp_entries(), Vec::<String>::new());
    });
}

#[test]
fn corrupt_blob_is_refused_and_the_store_unchanged() {
    let Some(reg) = start(RegistryOpts::http()) else {
        return;
    };
    let image = big_image(300_000);
    reg.push_image_oci(&image, "team/big:1");
    let layer = image.layers[1].gz_digest();
    reg.corrupt_blob(&layer);
    for_each_user(|env| {
        let listing = env.listing();
        let o = pull(env, &reg.image_ref("team/big:1"));
        assert_eq!(o.status.code(), Some(125), "{o}");
        o.assert_stderr_contains(&layer)
            .assert_stderr_contains(&format!("/v2/team/big/blobs/{layer}"))
            .assert_stderr_contains("has digest");
        assert_eq!(env.listing(), listing);
        assert_eq!(env.image_ids(), Vec::<String>::new());
        env.listing();
        // The other layer's partial file may stay if its download was cancelled.
        let tmp = env.store_tmp_entries();
        assert!(tmp.iter().all(|e| e == "partial-blobs"), "{tmp:?}");
    });
}

/// A blob shorter than its descriptor says (the registry lost its end) is refused.
#[test]
fn truncated_blob_is_refused() {
    let Some(reg) = start(RegistryOpts::http()) else {
        return;
    };
    let image = big_image(300_000);
    reg.push_image_oci(&image, "team/big:1");
    let layer = image.layers[1].gz_digest();
    reg.truncate_blob(&layer, 1000);
    as_root(|env| {
        let o = env
            .coracle()
            .args([
                "pull",
                "--tls-verify=false",
                "--retry=1",
                &reg.image_ref("team/big:1"),
            ])
            .fails(125);
        o.assert_stderr_contains(&layer);
        assert_eq!(env.image_ids(), Vec::<String>::new());
    });
}

#[test]
fn killed_download_resumes_with_range() {
    if !cfg!(feature = "failpoints") {
        eprintln!("SKIP pull::killed_download_resumes_with_range: needs --features failpoints");
        return;
    }
    let Some(reg) = start(RegistryOpts::http()) else {
        return;
    };
    let image = big_image(4 << 20);
    reg.push_image_oci(&image, "team/big:1");
    let name = reg.image_ref("team/big:1");
    let layer = image.layers[1].gz_digest();
    for_each_user(|env| {
        let o = env
            .coracle()
            .env("CORACLE_KILL_AT", "pull.layer.downloading#2")
            .args(["pull", "-q", "--tls-verify=false", &name])
            .output();
        assert_eq!(o.signal(), Some(9), "{o}");
        assert_eq!(env.image_ids(), Vec::<String>::new());
        let ranged = gets(&reg, &format!("/blobs/{layer}"), Some(206));
        let o = pull(env, &name);
        assert!(o.status.success(), "{o}");
        assert_eq!(o.stdout().trim(), image.id());
        // (The users run at once, so others' requests may count too.)
        assert!(
            gets(&reg, &format!("/blobs/{layer}"), Some(206)) > ranged,
            "the second pull should ask for the rest only"
        );
        env.coracle().args(["run", "--rm", &name, "true"]).ok();
        env.listing();
        assert_eq!(env.store_tmp_entries(), Vec::<String>::new());
    });
}

/// A partial file that went bad between two pulls (here: a byte overwritten) fails the
/// resumed digest check; the pull drops it and fetches the blob whole instead of failing.
#[test]
fn corrupt_partial_file_is_fetched_again() {
    if !cfg!(feature = "failpoints") {
        eprintln!("SKIP pull::corrupt_partial_file_is_fetched_again: needs --features failpoints");
        return;
    }
    let Some(reg) = start(RegistryOpts::http()) else {
        return;
    };
    let image = big_image(4 << 20);
    reg.push_image_oci(&image, "team/big:1");
    let name = reg.image_ref("team/big:1");
    let layer = image.layers[1].gz_digest();
    let hex = layer.trim_start_matches("sha256:").to_string();
    for_each_user(|env| {
        let o = env
            .coracle()
            .env("CORACLE_KILL_AT", "pull.layer.downloading#2")
            .args(["pull", "-q", "--tls-verify=false", &name])
            .output();
        assert_eq!(o.signal(), Some(9), "{o}");
        let partial = env.root().join("tmp/partial-blobs").join(&hex);
        let mut bytes = std::fs::read(&partial)
            .unwrap_or_else(|e| panic!("reading {}: {e}", partial.display()));
        assert!(
            bytes.len() > 1000,
            "{} bytes in the partial file",
            bytes.len()
        );
        bytes[1000] ^= 0xff;
        std::fs::write(&partial, &bytes).expect("overwriting the partial file");
        let o = pull(env, &name);
        assert!(o.status.success(), "{o}");
        assert_eq!(o.stdout().trim(), image.id());
        env.coracle().args(["run", "--rm", &name, "true"]).ok();
        env.listing();
        assert_eq!(env.store_tmp_entries(), Vec::<String>::new());
    });
}

/// When one layer is bad, the others' downloads stop but their partial files stay for the
/// next pull (the failure may have been the network's).
#[test]
fn cancelled_layer_keeps_its_partial_file() {
    let Some(reg) = start(RegistryOpts::http()) else {
        return;
    };
    let mut small = LayerBuilder::new();
    small.push(Entry::file("small", noise(100_000, 7)));
    let layers = vec![
        busybox_layer().clone(),
        big_image(4 << 20).layers[1].clone(),
        small.finish(),
    ];
    let history = (0..3)
        .map(|i| History::layer(&format!("/bin/sh -c #(nop) ADD f{i} /")))
        .collect();
    let image = Image::new(layers, history, busybox_run_config(), &["big:latest"]);
    reg.push_image_oci(&image, "team/cancel:1");
    let big = image.layers[1].gz_digest();
    reg.corrupt_blob(&image.layers[2].gz_digest());
    as_root(|env| {
        let proxy = reg.fault_proxy(Fault::SlowBlobs {
            bytes_per_sec: 1 << 20,
        });
        let o = pull(env, &proxy.image_ref("team/cancel:1"));
        assert_eq!(o.status.code(), Some(125), "{o}");
        o.assert_stderr_contains("has digest");
        let partial = env
            .root()
            .join("tmp/partial-blobs")
            .join(big.trim_start_matches("sha256:"));
        let len = std::fs::metadata(&partial)
            .unwrap_or_else(|e| panic!("{}: {e}", partial.display()))
            .len();
        assert!(len > 0, "the partial file of {big} is empty");
        assert_eq!(env.image_ids(), Vec::<String>::new());
    });
}

/// Durations too large for a clock (`--retry-delay`, the timeout variable) are refused as
/// coracle's own errors, not a panic.
#[test]
fn huge_durations_are_125() {
    as_root(|env| {
        let o = env
            .coracle()
            .args([
                "pull",
                "--retry-delay",
                "99999999999999999999s",
                "localhost:1/a:1",
            ])
            .fails(125);
        o.assert_stderr_contains("out of range");
        for timeout in ["1e300", "1e19"] {
            let o = env
                .coracle()
                .env("CORACLE_REGISTRY_TIMEOUT", timeout)
                .args(["pull", "localhost:1/a:1"])
                .fails(125);
            o.assert_stderr_contains("CORACLE_REGISTRY_TIMEOUT");
        }
    });
}

#[test]
fn run_pull_policies() {
    let Some(reg) = start(RegistryOpts::http()) else {
        return;
    };
    reg.push_image_oci(busybox(), "team/busybox:1");
    let name = reg.image_ref("team/busybox:1");
    for_each_user(|env| {
        let o = env
            .coracle()
            .args(["run", "--rm", "--pull=never", &name, "true"])
            .fails(125);
        assert_eq!(env.image_ids(), Vec::<String>::new(), "{o}");
        // missing (the default): pulled, then run.
        let o = env
            .coracle()
            .args(["run", "--rm", "--tls-verify=false", &name, "true"])
            .ok();
        o.assert_stderr_contains(&format!("Trying to pull {name}..."));
        assert_eq!(env.image_ids(), [busybox().id()]);
        // present: no pull at all.
        let o = env
            .coracle()
            .args(["run", "--rm", "--tls-verify=false", &name, "true"])
            .ok();
        assert!(!o.stderr().contains("Trying to pull"), "{o}");
        // always: asks the registry again.
        let o = env
            .coracle()
            .args([
                "run",
                "--rm",
                "--pull=always",
                "--tls-verify=false",
                &name,
                "true",
            ])
            .ok();
        o.assert_stderr_contains("skipped: already exists");

        // newer: the registry is asked; an unchanged tag is not pulled, a moved one is.
        let tag = format!("team/newer-{}:1", env.user.name());
        let newer = reg.image_ref(&tag);
        reg.push_image_oci(busybox(), &tag);
        env.coracle()
            .args(["pull", "-q", "--tls-verify=false", &newer])
            .ok();
        let run_newer = || {
            env.coracle()
                .args([
                    "run",
                    "--rm",
                    "--pull=newer",
                    "--tls-verify=false",
                    &newer,
                    "true",
                ])
                .ok()
        };
        let o = run_newer();
        assert!(!o.stderr().contains("Trying to pull"), "{o}");
        let moved = derived("moved", &[("etc/moved", "yes")], json!({}));
        reg.push_image_oci(&moved, &tag);
        let o = run_newer();
        o.assert_stderr_contains(&format!("Trying to pull {newer}..."));
        assert_eq!(env.inspect(&newer)["Id"], json!(moved.id()), "{o}");
    });
}

#[test]
fn tls_with_cert_dir() {
    let Some(reg) = start(RegistryOpts::https()) else {
        return;
    };
    let digest = reg.push_image_oci(busybox(), "team/busybox:1");
    let name = reg.image_ref("team/busybox:1");
    for_each_user(|env| {
        // The test CA is not trusted without --cert-dir.
        let o = env.coracle().args(["pull", &name]).fails(125);
        o.assert_stderr_contains(&name);
        assert_eq!(env.image_ids(), Vec::<String>::new());
        let o = env
            .coracle()
            .args(["pull", "--cert-dir"])
            .arg(reg.cert_dir())
            .arg(&name)
            .ok();
        assert_eq!(o.stdout().trim(), busybox().id(), "{o}");
        assert_eq!(env.inspect(&name)["Digest"], json!(digest));
    });
}

#[test]
fn htpasswd_auth() {
    let Some(reg) = start(RegistryOpts::http().htpasswd()) else {
        return;
    };
    reg.push_image_oci(busybox(), "team/busybox:1");
    let name = reg.image_ref("team/busybox:1");
    for_each_user(|env| {
        let listing = env.listing();
        let o = pull(env, &name);
        assert_eq!(o.status.code(), Some(125), "{o}");
        o.assert_stderr_contains(&format!("initializing source docker://{name}"))
            .assert_stderr_contains("authentication required");
        assert_eq!(env.listing(), listing);
        assert_eq!(env.store_tmp_entries(), Vec::<String>::new());
        env.coracle()
            .args(["pull", "--tls-verify=false", "--creds=alice:wrong", &name])
            .fails(125)
            .assert_stderr_contains("authentication required");
        let creds = reg.user().creds();
        let o = env
            .coracle()
            .args(["pull", "--tls-verify=false", "--creds", &creds, &name])
            .ok();
        assert_eq!(o.stdout().trim(), busybox().id());
        env.ok(&["rmi", &name]);
        let auth = env.write(
            "auth.json",
            format!(
                r#"{{"auths":{{"{}":{{"auth":"{}"}}}}}}"#,
                reg.host(),
                base64(creds.as_bytes())
            ),
        );
        let o = env
            .coracle()
            .args(["pull", "--tls-verify=false", "--authfile"])
            .arg(&auth)
            .arg(&name)
            .ok();
        assert_eq!(o.stdout().trim(), busybox().id());
    });
}

/// Bearer tokens from the registry's issuer, for a user that may only pull.
#[test]
fn token_auth() {
    let Some(reg) = start(RegistryOpts::https().token(false)) else {
        return;
    };
    reg.push_image_oci(busybox(), "team/busybox:1");
    let name = reg.image_ref("team/busybox:1");
    as_root(|env| {
        env.coracle()
            .args(["pull", "--cert-dir"])
            .arg(reg.cert_dir())
            .arg(&name)
            .fails(125);
        let o = env
            .coracle()
            .args(["pull", "--cert-dir"])
            .arg(reg.cert_dir())
            .args(["--creds", &READER.creds(), &name])
            .ok();
        assert_eq!(o.stdout().trim(), busybox().id(), "{o}");
    });
}

/// Standard base64 (for an auth.json entry).
fn base64(data: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ABC[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn connection_cut_mid_layer_is_resumed() {
    let Some(reg) = start(RegistryOpts::http()) else {
        return;
    };
    let image = big_image(4 << 20);
    reg.push_image_oci(&image, "team/big:1");
    as_root(|env| {
        let proxy = reg.fault_proxy(Fault::CloseBlobAfter {
            bytes: 1 << 20,
            times: 1,
        });
        let name = proxy.image_ref("team/big:1");
        let o = pull(env, &name);
        assert!(o.status.success(), "{o}");
        assert_eq!(proxy.cuts(), 1, "the proxy never cut a download");
        assert_eq!(o.stdout().trim(), image.id());
        // Whichever layer the cut hit (they download in parallel) was resumed.
        assert!(
            gets(&reg, "/blobs/", Some(206)) >= 1,
            "the download should have been resumed with Range"
        );
        env.coracle().args(["run", "--rm", &name, "true"]).ok();
    });
}

/// A download that stalls is given up after the time-out and resumed.
#[test]
fn stalled_download_times_out_and_resumes() {
    let Some(reg) = start(RegistryOpts::http()) else {
        return;
    };
    let image = big_image(4 << 20);
    reg.push_image_oci(&image, "team/big:1");
    as_root(|env| {
        let proxy = reg.fault_proxy(Fault::StallBlobAfter {
            bytes: 1 << 20,
            times: 1,
        });
        let o = env
            .coracle()
            .env("CORACLE_REGISTRY_TIMEOUT", "2s")
            .args(["pull", "--tls-verify=false", &proxy.image_ref("team/big:1")])
            .ok();
        assert_eq!(o.stdout().trim(), image.id());
        assert!(gets(&reg, "/blobs/", Some(206)) >= 1, "not resumed: {o}");
    });
}

#[test]
fn hung_registry_times_out() {
    let Some(reg) = start(RegistryOpts::http()) else {
        return;
    };
    as_root(|env| {
        let proxy = reg.fault_proxy(Fault::Hang);
        let name = proxy.image_ref("team/busybox:1");
        let started = Instant::now();
        let o = env
            .coracle()
            .env("CORACLE_REGISTRY_TIMEOUT", "2s")
            .args(["pull", "--tls-verify=false", "--retry=0", &name])
            .fails(125);
        assert!(
            started.elapsed() < Duration::from_secs(40),
            "took {:?}",
            started.elapsed()
        );
        o.assert_stderr_contains(&format!("initializing source docker://{name}"));
        assert_eq!(env.image_ids(), Vec::<String>::new());
    });
}

#[test]
fn all_tags() {
    let Some(reg) = start(RegistryOpts::http()) else {
        return;
    };
    let other = for_arch(busybox(), "amd64", Some("v2"));
    reg.push_image_oci(busybox(), "team/bb:1");
    reg.push_image_oci(&other, "team/bb:2");
    let repo = reg.image_ref("team/bb");
    as_root(|env| {
        let o = env
            .coracle()
            .args(["pull", "-q", "--all-tags", "--tls-verify=false", &repo])
            .ok();
        let mut ids: Vec<String> = o.stdout().lines().map(str::to_string).collect();
        ids.sort();
        let mut want = vec![busybox().id(), other.id()];
        want.sort();
        assert_eq!(ids, want, "{o}");
        env.inspect(&format!("{repo}:1"));
        env.inspect(&format!("{repo}:2"));
        env.coracle()
            .args([
                "pull",
                "--all-tags",
                "--tls-verify=false",
                &format!("{repo}:1"),
            ])
            .fails(125)
            .assert_stderr_contains("tag can't be used with --all-tags");
    });
}

/// A pull killed at each of its kill points leaves the store as it was (or, past the
/// commit, with the image whole), and the next pull succeeds.
#[test]
fn killed_at_every_point() {
    if !cfg!(feature = "failpoints") {
        eprintln!("SKIP pull::killed_at_every_point: needs --features failpoints");
        return;
    }
    let Some(reg) = start(RegistryOpts::http()) else {
        return;
    };
    let image = big_image(3 << 20);
    reg.push_image_oci(&image, "team/big:1");
    let name = reg.image_ref("team/big:1");
    as_root(|env| {
        let points: Vec<&str> = coracle::failpoint::KILL_POINTS
            .iter()
            .copied()
            .filter(|p| p.starts_with("pull.") || p.starts_with("load.commit."))
            .collect();
        let survived = points.len();
        for point in points {
            let before = env.listing();
            let o = env
                .coracle()
                .env("CORACLE_KILL_AT", point)
                .args(["pull", "-q", "--tls-verify=false", &name])
                .output();
            assert_eq!(o.signal(), Some(9), "kill point {point} not reached\n{o}");
            let after = env.listing();
            if after != before {
                // Killed after the image record became visible: it must be whole.
                assert!(env.image_ids().contains(&image.id()), "{point}: {after}");
            }
            let check = env.coracle().args(["system", "check"]).output();
            assert_eq!(check.code(), Some(0), "system check after {point}: {check}");
            env.coracle()
                .args([
                    "run",
                    "--rm",
                    "--pull=always",
                    "--tls-verify=false",
                    &name,
                    "true",
                ])
                .ok();
            env.listing();
            assert_eq!(
                env.store_tmp_entries(),
                Vec::<String>::new(),
                "after {point}"
            );
            env.ok(&["rmi", "-f", &name]);
        }
        figure(KILL_POINTS_SURVIVED, survived);
    });
}

/// Peak memory stays under 64 MiB however large the layers: blobs are streamed, never held.
#[test]
fn peak_memory_is_small() {
    let Some(reg) = start(RegistryOpts::http()) else {
        return;
    };
    let image = big_layers_image(40 << 20, 3);
    reg.push_image_oci(&image, "team/huge:1");
    let name = reg.image_ref("team/huge:1");
    as_root(|env| {
        let Some(time) = which("time").filter(|t| t.starts_with("/usr/bin")) else {
            skip(&env.test, env.user.name(), "/usr/bin/time is not installed");
            return;
        };
        let out = Command::new(time)
            .args(["-f", "maxrss=%M"])
            .arg(crate::harness::users::binary())
            .arg("--root")
            .arg(env.root())
            .arg("--runroot")
            .arg(env.runroot())
            .args(["pull", "-q", "--tls-verify=false", &name])
            .envs(env.environment())
            .output()
            .expect("time coracle pull");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{err}");
        let kib: u64 = err
            .lines()
            .find_map(|l| l.strip_prefix("maxrss="))
            .and_then(|v| v.trim().parse().ok())
            .expect("maxrss line");
        assert!(kib <= 64 * 1024, "peak RSS {kib} KiB");
        assert_eq!(env.inspect(&name)["Id"], json!(image.id()));
    });
}

/// A mirror that does not answer is skipped for the registry itself.
#[test]
fn dead_mirror_falls_through() {
    let Some(reg) = start(RegistryOpts::http()) else {
        return;
    };
    reg.push_image_oci(busybox(), "team/busybox:1");
    let dead = TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_port = dead.local_addr().unwrap().port();
    drop(dead);
    as_root(|env| {
        let conf = env.write(
            "registries.conf",
            format!(
                "[[registry]]\nlocation = \"{h}\"\ninsecure = true\n\n[[registry.mirror]]\nlocation = \"127.0.0.1:{dead_port}\"\ninsecure = true\n",
                h = reg.host()
            ),
        );
        let name = reg.image_ref("team/busybox:1");
        let o = env
            .coracle()
            .env("CONTAINERS_REGISTRIES_CONF", &conf)
            .env("CORACLE_REGISTRY_TIMEOUT", "2s")
            .args(["pull", "--retry=0", &name])
            .ok();
        assert_eq!(o.stdout().trim(), busybox().id(), "{o}");
        assert_eq!(env.inspect(&name)["Id"], json!(busybox().id()));
    });
}

/// policy.json's `reject` refuses the pull before anything is fetched.
#[test]
fn policy_reject_is_125() {
    let Some(reg) = start(RegistryOpts::http()) else {
        return;
    };
    reg.push_image_oci(busybox(), "team/busybox:1");
    let name = reg.image_ref("team/busybox:1");
    as_root(|env| {
        let policy = env.write("policy.json", r#"{"default":[{"type":"reject"}]}"#);
        let listing = env.listing();
        let fetched = gets(&reg, "/manifests/", None);
        let o = env
            .coracle()
            .args(["pull", "--tls-verify=false", "--signature-policy"])
            .arg(&policy)
            .arg(&name)
            .fails(125);
        o.assert_stderr_contains("rejected");
        assert_eq!(env.listing(), listing);
        assert_eq!(
            gets(&reg, "/manifests/", None),
            fetched,
            "nothing may be fetched"
        );
    });
}

/// No store lock is held while layers download: a writer (`tag`) does not wait for a slow pull.
#[test]
fn no_store_lock_during_download() {
    let Some(reg) = start(RegistryOpts::http()) else {
        return;
    };
    let image = big_image(4 << 20);
    reg.push_image_oci(&image, "team/big:1");
    as_root(|env| {
        env.load_image(busybox());
        let proxy = reg.fault_proxy(Fault::SlowBlobs {
            bytes_per_sec: 1 << 20,
        });
        let mut slow = Command::new(crate::harness::users::binary())
            .arg("--root")
            .arg(env.root())
            .arg("--runroot")
            .arg(env.runroot())
            .args([
                "pull",
                "-q",
                "--tls-verify=false",
                &proxy.image_ref("team/big:1"),
            ])
            .envs(env.environment())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("starting a slow pull");
        std::thread::sleep(Duration::from_millis(1500));
        let started = Instant::now();
        env.ok(&["tag", "busybox", "localhost/other:1"]);
        let waited = started.elapsed();
        let status = slow.wait().expect("waiting for the pull");
        assert!(status.success(), "the slow pull failed");
        assert!(
            waited < Duration::from_secs(2),
            "tag waited {waited:?} for the pull"
        );
        assert!(env.image_ids().contains(&image.id()));
    });
}
