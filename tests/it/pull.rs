//! `pull` and `run --pull` against a real `docker-registry` on a loopback port, with images
//! pushed by skopeo: what ends up in the store is what the registry says (`skopeo inspect`),
//! layers the store has are not downloaded again, and every failure (404, a corrupt blob, a
//! kill in the middle) is a clear error with the store as before, or a resumed download.

use std::fs;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::images::{History, Image, busybox, busybox_layer, busybox_run_config};
use crate::harness::layer::{Entry, LayerBuilder, sha256};
use crate::harness::tools::which;
use crate::harness::{TestEnv, as_root, for_each_user, skip};

/// A `docker-registry` serving plain HTTP on a free loopback port, with its own storage,
/// stopped on drop. Its access log (`log`) shows every request with the bytes it sent.
struct LocalRegistry {
    child: Child,
    port: u16,
    storage: PathBuf,
    log: PathBuf,
    /// With TLS: the directory holding the test CA (`ca.crt`), for `--cert-dir`.
    cert_dir: Option<PathBuf>,
    /// With htpasswd authentication: `user:password`.
    creds: Option<String>,
}

/// How a [`LocalRegistry`] is set up.
#[derive(Default)]
struct Setup {
    tls: bool,
    htpasswd: bool,
}

/// A test CA and a leaf certificate for 127.0.0.1 in `dir` (`ca.crt`, `leaf.crt`,
/// `leaf.key`), made with openssl.
fn make_certificates(dir: &std::path::Path) {
    fs::create_dir_all(dir).unwrap();
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    let mut ca = vec!["req", "-x509"];
    ca.extend(ec);
    ca.extend([
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "2",
        "-subj",
        "/CN=coracle test CA",
    ]);
    openssl(&ca);
    let mut csr = vec!["req"];
    csr.extend(ec);
    csr.extend([
        "-keyout",
        "leaf.key",
        "-out",
        "leaf.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    openssl(&csr);
    fs::write(
        dir.join("leaf.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "leaf.crt",
        "-days",
        "2",
        "-extfile",
        "leaf.ext",
    ]);
    // Only the CA in the directory given to --cert-dir.
    let certs = dir.join("certs");
    fs::create_dir_all(&certs).unwrap();
    fs::copy(dir.join("ca.crt"), certs.join("ca.crt")).unwrap();
}

impl LocalRegistry {
    /// Starts one, or prints the SKIP line when `docker-registry` or `skopeo` is missing.
    fn start(env: &TestEnv) -> Option<LocalRegistry> {
        LocalRegistry::start_with(env, Setup::default())
    }

    fn start_with(env: &TestEnv, setup: Setup) -> Option<LocalRegistry> {
        let mut tools = vec!["docker-registry", "skopeo"];
        if setup.tls {
            tools.push("openssl");
        }
        if setup.htpasswd {
            tools.push("htpasswd");
        }
        for tool in tools {
            if which(tool).is_none() {
                skip(
                    &env.test,
                    env.user.name(),
                    &format!("{tool} is not installed"),
                );
                return None;
            }
        }
        let dir = env.path("registry");
        fs::create_dir_all(&dir).expect("registry dir");
        let mut extra = String::new();
        let mut http_extra = String::new();
        let cert_dir = setup.tls.then(|| {
            let tls = dir.join("tls");
            make_certificates(&tls);
            http_extra = format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                tls.join("leaf.crt").display(),
                tls.join("leaf.key").display()
            );
            env.give(&tls.join("certs"));
            tls.join("certs")
        });
        let creds = setup.htpasswd.then(|| {
            let file = dir.join("htpasswd");
            let out = Command::new("htpasswd")
                .args(["-Bbn", "alice", "s3cret"])
                .output()
                .expect("htpasswd");
            assert!(out.status.success());
            fs::write(&file, out.stdout).unwrap();
            extra.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: coracle-tests\n    path: {}\n",
                file.display()
            ));
            "alice:s3cret".to_string()
        });
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free port")
                .port();
            let storage = dir.join(format!("storage-{port}"));
            let config = dir.join(format!("config-{port}.yml"));
            let log = dir.join(format!("log-{port}"));
            fs::write(
                &config,
                format!(
                    "version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: false\n\
                     storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
                     http:\n  addr: 127.0.0.1:{port}\n  secret: coracle-tests\n{http_extra}{extra}",
                    storage.display()
                ),
            )
            .expect("registry config");
            let out = fs::File::create(&log).expect("registry log");
            let child = Command::new("docker-registry")
                .arg("serve")
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(out.try_clone().expect("log"))
                .stderr(out)
                .spawn()
                .expect("starting docker-registry");
            let mut reg = LocalRegistry {
                child,
                port,
                storage,
                log,
                cert_dir: cert_dir.clone(),
                creds: creds.clone(),
            };
            if reg.wait_ready() {
                return Some(reg);
            }
        }
        panic!("docker-registry did not start");
    }

    fn wait_ready(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Pushes `image` as `repo:tag` with skopeo (from an OCI layout, so the manifest is the
    /// image's own OCI manifest).
    fn push(&self, env: &TestEnv, image: &Image, repo_tag: &str) {
        let dir = env.path(format!("layout-{}", &image.id()[..12]));
        if !dir.exists() {
            image.write_oci_layout(&dir, None);
        }
        let mut args = vec!["copy".to_string(), "--dest-tls-verify=false".to_string()];
        if let Some(c) = &self.creds {
            args.push(format!("--dest-creds={c}"));
        }
        args.push(format!("oci:{}", dir.display()));
        args.push(format!("docker://{}/{repo_tag}", self.host()));
        skopeo(&args.iter().map(String::as_str).collect::<Vec<_>>());
    }

    /// What `skopeo inspect` says of `repo:tag` (`Digest`, ...).
    fn inspect(&self, repo_tag: &str) -> Value {
        let mut args = vec!["inspect".to_string(), "--tls-verify=false".to_string()];
        if let Some(c) = &self.creds {
            args.push(format!("--creds={c}"));
        }
        args.push(format!("docker://{}/{repo_tag}", self.host()));
        let out = skopeo(&args.iter().map(String::as_str).collect::<Vec<_>>());
        serde_json::from_slice(&out).expect("skopeo inspect JSON")
    }

    /// `PUT` of a manifest (an index) with curl.
    fn put_manifest(&self, repo_ref: &str, media_type: &str, bytes: &[u8]) {
        let (repo, reference) = repo_ref.split_once(':').expect("repo:ref");
        let file = self
            .storage
            .with_extension(format!("{}.json", &sha256(bytes)[7..19]));
        fs::write(&file, bytes).expect("manifest file");
        let out = Command::new("curl")
            .args(["-sS", "-f", "-X", "PUT", "-H"])
            .arg(format!("Content-Type: {media_type}"))
            .arg("--data-binary")
            .arg(format!("@{}", file.display()))
            .arg(format!(
                "http://{}/v2/{repo}/manifests/{reference}",
                self.host()
            ))
            .output()
            .expect("curl");
        assert!(out.status.success(), "PUT manifest: {out:?}");
    }

    /// The file the registry keeps `digest`'s bytes in.
    fn blob_path(&self, digest: &str) -> PathBuf {
        let hex = digest.trim_start_matches("sha256:");
        self.storage
            .join("docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }

    /// Access-log lines of coracle's requests for `path_part` (`blobs/sha256:…`).
    fn requests(&self, path_part: &str) -> Vec<String> {
        let log = fs::read(&self.log).unwrap_or_default();
        String::from_utf8_lossy(&log)
            .lines()
            .filter(|l| l.contains("\"GET ") && l.contains(path_part) && l.contains("\"coracle/"))
            .map(str::to_string)
            .collect()
    }
}

impl Drop for LocalRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn skopeo(args: &[&str]) -> Vec<u8> {
    let out = Command::new("skopeo")
        .args(args)
        .output()
        .expect("running skopeo");
    assert!(
        out.status.success(),
        "skopeo {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
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
    for_each_user(|env| {
        let Some(reg) = LocalRegistry::start(env) else {
            return;
        };
        reg.push(env, busybox(), "team/busybox:1");
        let want = reg.inspect("team/busybox:1");
        let name = format!("{}/team/busybox:1", reg.host());
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
            format!(
                "{}/team/busybox 1 {}",
                reg.host(),
                want["Digest"].as_str().unwrap()
            )
        );
        env.coracle().args(["run", "--rm", &name, "true"]).ok();

        // Again: every layer is there, nothing is downloaded.
        let blob = format!("blobs/{}", busybox_layer().gz_digest());
        let before = reg.requests(&blob).len();
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
            reg.requests(&blob).len(),
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

#[test]
fn by_digest() {
    for_each_user(|env| {
        let Some(reg) = LocalRegistry::start(env) else {
            return;
        };
        reg.push(env, busybox(), "team/busybox:1");
        let digest = reg.inspect("team/busybox:1")["Digest"]
            .as_str()
            .unwrap()
            .to_string();
        let name = format!("{}/team/busybox@{digest}", reg.host());
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
    for_each_user(|env| {
        let Some(reg) = LocalRegistry::start(env) else {
            return;
        };
        let other_arch = if host_arch() == "arm64" {
            "amd64"
        } else {
            "arm64"
        };
        let native = busybox().clone();
        let other = for_arch(busybox(), other_arch, None);
        reg.push(env, &native, "multi/bb:native");
        reg.push(env, &other, "multi/bb:other");
        let desc = |tag: &str, arch: &str| {
            let i = reg.inspect(&format!("multi/bb:{tag}"));
            let digest = i["Digest"].as_str().unwrap().to_string();
            let raw = skopeo(&[
                "inspect",
                "--raw",
                "--tls-verify=false",
                &format!("docker://{}/multi/bb@{digest}", reg.host()),
            ]);
            json!({
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": digest,
                "size": raw.len(),
                "platform": {"architecture": arch, "os": "linux"},
            })
        };
        let index = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [desc("other", other_arch), desc("native", host_arch())],
        });
        reg.put_manifest(
            "multi/bb:list",
            "application/vnd.oci.image.index.v1+json",
            &serde_json::to_vec(&index).unwrap(),
        );
        let name = format!("{}/multi/bb:list", reg.host());
        let o = pull(env, &name);
        assert!(o.status.success(), "{o}");
        assert_eq!(o.stdout().trim(), native.id(), "the host's platform");
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
    for_each_user(|env| {
        let Some(reg) = LocalRegistry::start(env) else {
            return;
        };
        reg.push(env, busybox(), "library/shorty:latest");
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
        let i = env.inspect(&format!("{}/library/shorty:latest", reg.host()));
        assert_eq!(i["Id"], json!(busybox().id()));
        // Not in the registry: Podman's message for each candidate.
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

#[test]
fn missing_manifest_is_125() {
    for_each_user(|env| {
        let Some(reg) = LocalRegistry::start(env) else {
            return;
        };
        reg.push(env, busybox(), "team/busybox:1");
        let name = format!("{}/team/busybox:nope", reg.host());
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
    for_each_user(|env| {
        let Some(reg) = LocalRegistry::start(env) else {
            return;
        };
        let image = big_image(300_000);
        reg.push(env, &image, "team/big:1");
        let layer = image.layers[1].gz_digest();
        let path = reg.blob_path(&layer);
        let mut bytes = fs::read(&path).expect("blob in the registry");
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0xff;
        fs::write(&path, bytes).unwrap();
        let listing = env.listing();
        let o = pull(env, &format!("{}/team/big:1", reg.host()));
        assert_eq!(o.status.code(), Some(125), "{o}");
        o.assert_stderr_contains(&layer)
            .assert_stderr_contains(&format!("/v2/team/big/blobs/{layer}"));
        assert!(
            o.stderr().contains("digest") || o.stderr().contains("invalid"),
            "{o}"
        );
        assert_eq!(env.listing(), listing);
        assert_eq!(env.image_ids(), Vec::<String>::new());
        env.listing();
        assert_eq!(env.store_tmp_entries(), Vec::<String>::new());
    });
}

#[test]
fn killed_download_resumes_with_range() {
    if !cfg!(feature = "failpoints") {
        eprintln!("SKIP pull::killed_download_resumes_with_range: needs --features failpoints");
        return;
    }
    for_each_user(|env| {
        let Some(reg) = LocalRegistry::start(env) else {
            return;
        };
        let image = big_image(4 << 20);
        reg.push(env, &image, "team/big:1");
        let name = format!("{}/team/big:1", reg.host());
        let o = env
            .coracle()
            .env("CORACLE_KILL_AT", "pull.layer.downloading#2")
            .args(["pull", "-q", "--tls-verify=false", &name])
            .output();
        assert_eq!(o.signal(), Some(9), "{o}");
        assert_eq!(env.image_ids(), Vec::<String>::new());
        let o = pull(env, &name);
        assert!(o.status.success(), "{o}");
        assert_eq!(o.stdout().trim(), image.id());
        let layer = image.layers[1].gz_digest();
        let gets = reg.requests(&format!("blobs/{layer}"));
        assert!(
            gets.last().is_some_and(|l| l.contains("\" 206 ")),
            "the second pull should ask for the rest only: {gets:#?}"
        );
        env.coracle().args(["run", "--rm", &name, "true"]).ok();
        env.listing();
        assert_eq!(env.store_tmp_entries(), Vec::<String>::new());
    });
}

#[test]
fn run_pull_policies() {
    for_each_user(|env| {
        let Some(reg) = LocalRegistry::start(env) else {
            return;
        };
        reg.push(env, busybox(), "team/busybox:1");
        let name = format!("{}/team/busybox:1", reg.host());
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
    });
}

/// A TCP proxy to `upstream` that cuts the first connection carrying more than `cut_after`
/// bytes of responses (a blob download) there, once; later connections pass untouched.
fn cut_proxy(upstream: u16, cut_after: usize) -> (u16, Arc<AtomicBool>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("proxy port");
    let port = listener.local_addr().unwrap().port();
    let cut = Arc::new(AtomicBool::new(false));
    let done = cut.clone();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                continue;
            };
            let (mut c_in, mut s_out) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut c_in, &mut s_out);
                let _ = s_out.shutdown(Shutdown::Write);
            });
            let done = done.clone();
            std::thread::spawn(move || {
                let (mut server, mut client) = (server, client);
                let mut buf = vec![0u8; 64 << 10];
                let mut sent = 0usize;
                loop {
                    let n = match server.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    if client.write_all(&buf[..n]).is_err() {
                        break;
                    }
                    sent += n;
                    if sent > cut_after && !done.swap(true, Ordering::SeqCst) {
                        break;
                    }
                }
                let _ = client.shutdown(Shutdown::Both);
                let _ = server.shutdown(Shutdown::Both);
            });
        }
    });
    (port, cut)
}

/// A server that accepts connections and never answers.
fn hung_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("port");
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for c in listener.incoming().flatten() {
            held.push(c);
        }
    });
    port
}

#[test]
fn tls_with_cert_dir() {
    as_root(|env| {
        let Some(reg) = LocalRegistry::start_with(
            env,
            Setup {
                tls: true,
                ..Setup::default()
            },
        ) else {
            return;
        };
        reg.push(env, busybox(), "team/busybox:1");
        let want = reg.inspect("team/busybox:1");
        let name = format!("{}/team/busybox:1", reg.host());
        // The test CA is not trusted without --cert-dir.
        let o = env.coracle().args(["pull", &name]).fails(125);
        o.assert_stderr_contains(&name);
        assert_eq!(env.image_ids(), Vec::<String>::new());
        let certs = reg.cert_dir.clone().expect("TLS registry");
        let o = env
            .coracle()
            .args(["pull", "--cert-dir"])
            .arg(&certs)
            .arg(&name)
            .ok();
        assert_eq!(o.stdout().trim(), busybox().id(), "{o}");
        assert_eq!(env.inspect(&name)["Digest"], want["Digest"]);
    });
}

#[test]
fn htpasswd_auth() {
    as_root(|env| {
        let Some(reg) = LocalRegistry::start_with(
            env,
            Setup {
                htpasswd: true,
                ..Setup::default()
            },
        ) else {
            return;
        };
        reg.push(env, busybox(), "team/busybox:1");
        let name = format!("{}/team/busybox:1", reg.host());
        let listing = env.listing();
        let o = pull(env, &name);
        assert_eq!(o.status.code(), Some(125), "{o}");
        o.assert_stderr_contains(&format!("initializing source docker://{name}"));
        assert!(
            o.stderr().contains("authentication required") || o.stderr().contains("unauthorized"),
            "{o}"
        );
        assert_eq!(env.listing(), listing);
        assert_eq!(env.store_tmp_entries(), Vec::<String>::new());
        let o = env
            .coracle()
            .args(["pull", "--tls-verify=false", "--creds=alice:wrong", &name])
            .fails(125);
        assert!(
            o.stderr().contains("authentication required") || o.stderr().contains("unauthorized"),
            "{o}"
        );
        let o = env
            .coracle()
            .args(["pull", "--tls-verify=false", "--creds=alice:s3cret", &name])
            .ok();
        assert_eq!(o.stdout().trim(), busybox().id());
        env.ok(&["rmi", &name]);
        let auth = env.write(
            "auth.json",
            format!(
                r#"{{"auths":{{"{}":{{"auth":"YWxpY2U6czNjcmV0"}}}}}}"#,
                reg.host()
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

#[test]
fn connection_cut_mid_layer_is_resumed() {
    as_root(|env| {
        let Some(reg) = LocalRegistry::start(env) else {
            return;
        };
        let image = big_image(4 << 20);
        reg.push(env, &image, "team/big:1");
        let (port, cut) = cut_proxy(reg.port, 1 << 20);
        let name = format!("127.0.0.1:{port}/team/big:1");
        let o = pull(env, &name);
        assert!(o.status.success(), "{o}");
        assert!(cut.load(Ordering::SeqCst), "the proxy never cut a download");
        assert_eq!(o.stdout().trim(), image.id());
        // Whichever layer the cut hit (they download in parallel) was resumed.
        let gets = reg.requests("/blobs/");
        assert!(
            gets.iter().any(|l| l.contains("\" 206 ")),
            "the download should have been resumed with Range: {gets:#?}"
        );
        env.coracle().args(["run", "--rm", &name, "true"]).ok();
    });
}

#[test]
fn hung_registry_times_out() {
    as_root(|env| {
        let port = hung_server();
        let name = format!("127.0.0.1:{port}/team/busybox:1");
        let start = Instant::now();
        let o = env
            .coracle()
            .env("CORACLE_REGISTRY_TIMEOUT", "2s")
            .args(["pull", "--tls-verify=false", "--retry=0", &name])
            .fails(125);
        assert!(
            start.elapsed() < Duration::from_secs(40),
            "took {:?}",
            start.elapsed()
        );
        o.assert_stderr_contains(&format!("initializing source docker://{name}"));
        assert_eq!(env.image_ids(), Vec::<String>::new());
    });
}

#[test]
fn all_tags() {
    as_root(|env| {
        let Some(reg) = LocalRegistry::start(env) else {
            return;
        };
        let other = for_arch(busybox(), "amd64", Some("v2"));
        reg.push(env, busybox(), "team/bb:1");
        reg.push(env, &other, "team/bb:2");
        let repo = format!("{}/team/bb", reg.host());
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
    as_root(|env| {
        let Some(reg) = LocalRegistry::start(env) else {
            return;
        };
        let image = big_image(3 << 20);
        reg.push(env, &image, "team/big:1");
        let name = format!("{}/team/big:1", reg.host());
        let points: Vec<&str> = coracle::failpoint::KILL_POINTS
            .iter()
            .copied()
            .filter(|p| p.starts_with("pull.") || p.starts_with("load.commit."))
            .collect();
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
    });
}

/// Peak memory stays under 64 MiB however large the layers: blobs are streamed, never held.
#[test]
fn peak_memory_is_small() {
    as_root(|env| {
        let Some(time) = which("time").filter(|t| t.starts_with("/usr/bin")) else {
            skip(&env.test, env.user.name(), "/usr/bin/time is not installed");
            return;
        };
        let Some(reg) = LocalRegistry::start(env) else {
            return;
        };
        let image = big_layers_image(40 << 20, 3);
        reg.push(env, &image, "team/huge:1");
        let name = format!("{}/team/huge:1", reg.host());
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
    as_root(|env| {
        let Some(reg) = LocalRegistry::start(env) else {
            return;
        };
        reg.push(env, busybox(), "team/busybox:1");
        let dead = TcpListener::bind("127.0.0.1:0").unwrap();
        let dead_port = dead.local_addr().unwrap().port();
        drop(dead);
        let conf = env.write(
            "registries.conf",
            format!(
                "[[registry]]\nlocation = \"{h}\"\ninsecure = true\n\n[[registry.mirror]]\nlocation = \"127.0.0.1:{dead_port}\"\ninsecure = true\n",
                h = reg.host()
            ),
        );
        let name = format!("{}/team/busybox:1", reg.host());
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
    as_root(|env| {
        let Some(reg) = LocalRegistry::start(env) else {
            return;
        };
        reg.push(env, busybox(), "team/busybox:1");
        let policy = env.write("policy.json", r#"{"default":[{"type":"reject"}]}"#);
        let name = format!("{}/team/busybox:1", reg.host());
        let listing = env.listing();
        let o = env
            .coracle()
            .args(["pull", "--tls-verify=false", "--signature-policy"])
            .arg(&policy)
            .arg(&name)
            .fails(125);
        o.assert_stderr_contains("rejected");
        assert_eq!(env.listing(), listing);
        assert!(
            reg.requests("/manifests/").is_empty(),
            "nothing may be fetched"
        );
    });
}
