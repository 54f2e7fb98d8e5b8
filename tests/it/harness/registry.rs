//! A real registry for the tests: Debian's `docker-registry` (distribution 2.8) on a free
//! loopback port, with its own storage, over plain HTTP or HTTPS (a test CA), without auth,
//! with htpasswd basic auth, or with token auth from a small issuer
//! (`tests/fixtures/registry/token-issuer.py`). Plus ways to fill it with real tools
//! (skopeo), to break it (corrupt blobs in its storage, a [`FaultProxy`] that cuts blob
//! downloads or never answers) and to look at what it holds.
//!
//! ```ignore
//! let reg = RegistryServer::start(RegistryOpts::https().htpasswd());
//! let digest = reg.push_image(images::busybox(), "team/app:1.2");
//! env.coracle().args(["pull", "--cert-dir"]).arg(reg.cert_dir())
//!     .arg("--creds").arg(reg.user().creds()).arg(reg.image_ref("team/app:1.2")).ok();
//! ```
//!
//! A plain-HTTP registry needs `--tls-verify=false`; an HTTPS one `--cert-dir
//! <reg.cert_dir()>` (or the CA as `certs.d/<host>/ca.crt`, [`RegistryServer::ca_pem`]).
//! Users: [`ALICE`] may pull and push, [`READER`] only pull (token auth); with
//! `token(true)` anyone may pull. For assertions: [`RegistryServer::access_log`] (what was
//! requested), [`RegistryServer::layer_digests`], [`RegistryServer::repo_has_blob`]; for
//! faults: [`RegistryServer::corrupt_blob`], [`RegistryServer::truncate_blob`],
//! [`RegistryServer::replace_blob`] and [`RegistryServer::fault_proxy`] ([`Fault`]).
//!
//! One server can serve every test user (root, coracle-sub, coracle-nosub): the server and
//! its issuer run as root, and what clients must read ([`RegistryServer::cert_dir`]) is
//! world-readable. Everything is stopped and removed when the `RegistryServer` drops.
//! A test should call [`available`] first and return (it prints the SKIP line) when it says no.

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use super::images::Image;
use super::users::{base_dir, skip, test_name};

mod proxy;
mod skopeo;
mod tls;

pub use proxy::{Fault, FaultProxy};
pub use skopeo::{Access, inspect, inspect_raw, push_with_skopeo, skopeo_copy, skopeo_copy_all};
use tls::{TlsMaterial, tls_material};

const REGISTRY_BIN: &str = "/usr/bin/docker-registry";
const PYTHON: &str = "/usr/bin/python3";
/// The `service` and `issuer` names the registry and the token issuer agree on.
pub const TOKEN_SERVICE: &str = "coracle-test-registry";
pub const TOKEN_ISSUER: &str = "coracle-test-issuer";
const STARTUP: Duration = Duration::from_secs(30);

/// A test user of the registry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RegUser {
    pub name: &'static str,
    pub password: &'static str,
}

impl RegUser {
    /// `name:password`, as `--creds` takes it.
    pub fn creds(&self) -> String {
        format!("{}:{}", self.name, self.password)
    }
}

/// May pull and push everywhere (and list the catalog) with either kind of auth.
pub const ALICE: RegUser = RegUser {
    name: "alice",
    password: "alice-Secret-1",
};
/// With token auth, may only pull (a push gets `insufficient_scope`/401). With htpasswd,
/// which knows no permissions, the same as [`ALICE`].
pub const READER: RegUser = RegUser {
    name: "reader",
    password: "reader-Secret-2",
};

/// How clients authenticate to the registry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Auth {
    /// Anyone may pull and push.
    None,
    /// HTTP basic auth against an htpasswd file (bcrypt) holding [`ALICE`] and [`READER`].
    Htpasswd,
    /// Bearer tokens from the harness's issuer; `anonymous_pull` lets requests without
    /// credentials pull (as on a public registry), otherwise they get nothing.
    Token { anonymous_pull: bool },
}

/// What kind of registry [`RegistryServer::start`] starts. Build with [`RegistryOpts::http`]
/// or [`RegistryOpts::https`] and chain [`RegistryOpts::htpasswd`] / [`RegistryOpts::token`].
#[derive(Clone, Copy, Debug)]
pub struct RegistryOpts {
    /// HTTPS with a certificate from the test CA ([`RegistryServer::cert_dir`]).
    pub tls: bool,
    pub auth: Auth,
    /// `storage.delete.enabled` (lets clients DELETE manifests and blobs).
    pub delete: bool,
}

impl RegistryOpts {
    /// Plain HTTP, no auth: clients need `--tls-verify=false`.
    pub fn http() -> RegistryOpts {
        RegistryOpts {
            tls: false,
            auth: Auth::None,
            delete: false,
        }
    }

    /// HTTPS with a leaf certificate for `127.0.0.1` and `localhost` signed by the test CA.
    pub fn https() -> RegistryOpts {
        RegistryOpts {
            tls: true,
            ..RegistryOpts::http()
        }
    }

    pub fn htpasswd(mut self) -> RegistryOpts {
        self.auth = Auth::Htpasswd;
        self
    }

    pub fn token(mut self, anonymous_pull: bool) -> RegistryOpts {
        self.auth = Auth::Token { anonymous_pull };
        self
    }

    pub fn delete(mut self) -> RegistryOpts {
        self.delete = true;
        self
    }
}

/// Why the registry tests cannot run here, if they cannot.
pub fn unavailable() -> Option<String> {
    for (path, pkg) in [
        (REGISTRY_BIN, "docker-registry"),
        ("/usr/bin/openssl", "openssl"),
        ("/usr/bin/htpasswd", "apache2-utils"),
        (PYTHON, "python3"),
        ("/usr/bin/curl", "curl"),
        ("/usr/bin/setpriv", "util-linux"),
        ("/usr/bin/skopeo", "skopeo"),
    ] {
        if !Path::new(path).exists() {
            return Some(format!("no {path} ({pkg}; tests/run-all.sh installs it)"));
        }
    }
    None
}

/// Whether the registry tests can run; prints the SKIP line for the running test when not.
pub fn available() -> bool {
    match unavailable() {
        None => true,
        Some(reason) => {
            skip(&test_name(), "any user", &reason);
            false
        }
    }
}

/// A running `docker-registry` (and token issuer), killed and removed on drop.
pub struct RegistryServer {
    opts: RegistryOpts,
    dir: tempfile::TempDir,
    port: u16,
    child: Child,
    issuer: Option<Issuer>,
}

struct Issuer {
    child: Child,
    url: String,
}

impl Drop for Issuer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `program` under `setpriv --pdeathsig KILL`: a server dies with the test thread that
/// started it even when the test binary is killed and no `Drop` runs. (So a server must not
/// outlive its thread, e.g. in a `static` shared by tests.)
fn server_command(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut c = Command::new("/usr/bin/setpriv");
    c.args(["--pdeathsig", "KILL", "--"]).arg(program);
    c
}

impl RegistryServer {
    /// Starts a registry and returns once `GET /v2/` answers. Panics (with the registry's
    /// log) when it does not start.
    pub fn start(opts: RegistryOpts) -> RegistryServer {
        let dir = tempfile::Builder::new()
            .prefix("reg")
            .rand_bytes(6)
            .tempdir_in(base_dir())
            .unwrap_or_else(|e| panic!("creating a registry dir in {}: {e}", base_dir().display()));
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755))
            .expect("chmod registry dir");
        fs::create_dir(dir.path().join("storage")).expect("creating registry storage");
        let tls = opts.tls.then(tls_material);
        let issuer = match opts.auth {
            Auth::Token { anonymous_pull } => Some(start_issuer(dir.path(), anonymous_pull, tls)),
            _ => None,
        };
        if opts.auth == Auth::Htpasswd {
            write_htpasswd(&dir.path().join("htpasswd"));
        }
        // A free port can be taken between asking and binding; try again with another.
        let config_path = dir.path().join("config.yml");
        let log_path = dir.path().join("registry.log");
        let mut last_log = String::new();
        for _ in 0..5 {
            let port = free_port();
            let config = config_yaml(&opts, dir.path(), port, tls, issuer.as_ref());
            fs::write(&config_path, &config).expect("writing config.yml");
            let log = fs::File::create(&log_path).expect("creating registry.log");
            let mut child = server_command(REGISTRY_BIN)
                .arg("serve")
                .arg(&config_path)
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("dup log"))
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| panic!("starting {REGISTRY_BIN}: {e}"));
            match wait_ready(&mut child, port, tls.is_some()) {
                Ok(()) => {
                    return RegistryServer {
                        opts,
                        dir,
                        port,
                        child,
                        issuer,
                    };
                }
                Err(why) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    last_log = fs::read_to_string(&log_path).unwrap_or_default();
                    if !last_log.contains("address already in use") {
                        panic!(
                            "docker-registry did not start ({why}); config:\n{config}\nlog:\n{last_log}"
                        );
                    }
                }
            }
        }
        panic!("docker-registry found no free port; last log:\n{last_log}");
    }

    pub fn opts(&self) -> RegistryOpts {
        self.opts
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:PORT`, the registry part of image references.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `http://127.0.0.1:PORT` or `https://127.0.0.1:PORT` (no trailing slash).
    pub fn url(&self) -> String {
        let scheme = if self.opts.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.host())
    }

    /// `127.0.0.1:PORT/<repo_tag>`, e.g. `image_ref("team/app:1.2")`.
    pub fn image_ref(&self, repo_tag: &str) -> String {
        format!("{}/{repo_tag}", self.host())
    }

    /// A directory with the test CA as `ca.crt`, usable as `--cert-dir` by every test user
    /// (the same CA for every HTTPS registry of this test run).
    pub fn cert_dir(&self) -> PathBuf {
        tls_material().cert_dir.clone()
    }

    /// The test CA certificate (PEM file) that signed the registry's certificate.
    pub fn ca_cert(&self) -> PathBuf {
        self.cert_dir().join("ca.crt")
    }

    /// The registry's storage root (`rootdirectory`; blobs are below `docker/registry/v2`).
    pub fn storage_dir(&self) -> PathBuf {
        self.dir.path().join("storage")
    }

    /// The registry's own log (and, with token auth, `issuer.log` beside it).
    pub fn log(&self) -> String {
        let mut s = fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default();
        if self.issuer.is_some() {
            s.push_str("\n--- token issuer ---\n");
            s.push_str(&fs::read_to_string(self.dir.path().join("issuer.log")).unwrap_or_default());
        }
        s
    }

    /// The requests the registry has answered so far, from its access log, oldest first:
    /// e.g. to check that a second push sent no `PUT`/`PATCH` for a blob, or that a pull
    /// did not `GET` a layer the store had. Waits until the log stops growing (the registry
    /// logs a request just after answering it).
    pub fn access_log(&self) -> Vec<Logged> {
        let path = self.dir.path().join("registry.log");
        let mut last = fs::read_to_string(&path).unwrap_or_default();
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline {
            thread::sleep(Duration::from_millis(100));
            let now = fs::read_to_string(&path).unwrap_or_default();
            if now == last {
                break;
            }
            last = now;
        }
        last.lines().filter_map(Logged::parse).collect()
    }

    /// The test CA certificate (PEM), e.g. to write as
    /// `~/.config/containers/certs.d/<host>/ca.crt` for a user.
    pub fn ca_pem(&self) -> Vec<u8> {
        fs::read(self.ca_cert()).expect("reading the test CA")
    }

    /// The user who may pull and push ([`ALICE`]).
    pub fn user(&self) -> RegUser {
        ALICE
    }

    /// The user who may only pull with token auth ([`READER`]).
    pub fn reader(&self) -> RegUser {
        READER
    }

    /// The token endpoint (realm) with token auth, e.g. `http://127.0.0.1:PORT/token`.
    pub fn token_realm(&self) -> Option<String> {
        self.issuer.as_ref().map(|i| format!("{}/token", i.url))
    }

    /// How a root-run tool (skopeo, curl) reaches this registry as [`ALICE`].
    pub fn access(&self) -> Access {
        Access {
            cert_dir: self.opts.tls.then(|| self.cert_dir()),
            creds: (self.opts.auth != Auth::None).then_some(ALICE),
        }
    }

    /// Pushes `image` (as a docker-archive, so the registry gets a Docker v2 schema 2
    /// manifest) to `<host>/<repo_tag>` with skopeo; returns the manifest digest. skopeo
    /// compresses the layers itself: ask [`RegistryServer::layer_digests`] for their digests.
    /// The config, hence the image ID, is the image's own.
    pub fn push_image(&self, image: &Image, repo_tag: &str) -> String {
        let archive = self.scratch_file("docker-archive.tar", &image.docker_archive());
        push_with_skopeo(&archive, &self.image_ref(repo_tag), &self.access())
    }

    /// Pushes `image` as an OCI archive; the registry gets the image's own OCI manifest and
    /// gzip layers unchanged, so the digest returned is [`Image::oci_manifest_digest`].
    pub fn push_image_oci(&self, image: &Image, repo_tag: &str) -> String {
        let archive = self.scratch_file("oci-archive.tar", &image.oci_archive(None));
        push_with_skopeo(&archive, &self.image_ref(repo_tag), &self.access())
    }

    /// Pushes an OCI image index of `images`, each with its platform (`os/arch[/variant]`,
    /// e.g. `linux/arm64/v8`), to `<host>/<repo_tag>` with `skopeo copy --all`; returns the
    /// index digest. The images' manifests are [`Image::oci_manifest`], so their digests are
    /// [`Image::oci_manifest_digest`].
    pub fn push_index(&self, images: &[(&Image, &str)], repo_tag: &str) -> String {
        use super::images::{MEDIA_OCI_INDEX, MEDIA_OCI_MANIFEST};
        use super::layer::sha256;
        let layout = self.scratch_file("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#);
        let dir = layout.parent().expect("scratch dir").to_path_buf();
        let put_blob = |bytes: &[u8]| {
            let hex = &sha256(bytes)["sha256:".len()..];
            let p = dir.join("blobs/sha256").join(hex);
            fs::create_dir_all(p.parent().unwrap()).expect("creating blobs/sha256");
            fs::write(&p, bytes).unwrap_or_else(|e| panic!("writing {}: {e}", p.display()));
        };
        let mut manifests = Vec::new();
        for (image, platform) in images {
            for l in &image.layers {
                put_blob(&l.gz);
            }
            put_blob(&image.config);
            let manifest = image.oci_manifest();
            put_blob(&manifest);
            let mut parts = platform.split('/');
            let mut p = serde_json::json!({
                "os": parts.next().expect("platform os"),
                "architecture": parts.next().expect("platform architecture"),
            });
            if let Some(v) = parts.next() {
                p["variant"] = v.into();
            }
            manifests.push(serde_json::json!({
                "mediaType": MEDIA_OCI_MANIFEST,
                "digest": sha256(&manifest),
                "size": manifest.len(),
                "platform": p,
            }));
        }
        let index = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": MEDIA_OCI_INDEX,
            "manifests": manifests,
        }))
        .expect("index to JSON");
        put_blob(&index);
        // The layout's own index.json names the image index, which is what gets copied.
        let top = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": MEDIA_OCI_INDEX,
            "manifests": [{
                "mediaType": MEDIA_OCI_INDEX,
                "digest": sha256(&index),
                "size": index.len(),
                "annotations": {"org.opencontainers.image.ref.name": "index"},
            }],
        });
        fs::write(dir.join("index.json"), serde_json::to_vec(&top).unwrap()).expect("index.json");
        skopeo_copy_all(
            &format!("oci:{}:index", dir.display()),
            &format!("docker://{}", self.image_ref(repo_tag)),
            &self.access(),
        )
    }

    fn scratch_file(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let scratch = tempfile::Builder::new()
            .prefix("push")
            .tempdir_in(self.dir.path())
            .expect("scratch dir")
            .keep();
        let p = scratch.join(name);
        fs::write(&p, bytes).unwrap_or_else(|e| panic!("writing {}: {e}", p.display()));
        p
    }

    /// The manifest of `<repo_tag>` exactly as the registry serves it (`skopeo inspect --raw`).
    pub fn raw_manifest(&self, repo_tag: &str) -> Vec<u8> {
        inspect_raw(&self.image_ref(repo_tag), &self.access())
    }

    /// `skopeo inspect` of `<repo_tag>` (`Digest`, `Layers`, `Labels`, ...).
    pub fn inspect(&self, repo_tag: &str) -> serde_json::Value {
        inspect(&self.image_ref(repo_tag), &self.access())
    }

    /// The manifest digest of `<repo_tag>` (sha256 of the raw manifest).
    pub fn manifest_digest(&self, repo_tag: &str) -> String {
        super::layer::sha256(&self.raw_manifest(repo_tag))
    }

    /// The layer digests the manifest of `<repo_tag>` lists, in order.
    pub fn layer_digests(&self, repo_tag: &str) -> Vec<String> {
        let m: serde_json::Value =
            serde_json::from_slice(&self.raw_manifest(repo_tag)).expect("manifest JSON");
        m["layers"]
            .as_array()
            .expect("manifest has layers")
            .iter()
            .map(|l| l["digest"].as_str().expect("layer digest").to_string())
            .collect()
    }

    /// Where the registry keeps the blob `sha256:<hex>` (its `data` file).
    pub fn blob_path(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
        self.storage_dir()
            .join("docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }

    /// Whether the registry stores blob `digest` at all (in any repository).
    pub fn has_blob(&self, digest: &str) -> bool {
        self.blob_path(digest).is_file()
    }

    /// Whether `digest` is linked into `repo` (pushed or mounted there), i.e. what a
    /// `HEAD /v2/<repo>/blobs/<digest>` finds.
    pub fn repo_has_blob(&self, repo: &str, digest: &str) -> bool {
        let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
        self.storage_dir()
            .join("docker/registry/v2/repositories")
            .join(repo)
            .join("_layers/sha256")
            .join(hex)
            .join("link")
            .is_file()
    }

    /// Flips one byte in the middle of blob `digest`: same size, wrong digest.
    pub fn corrupt_blob(&self, digest: &str) {
        let p = self.blob_path(digest);
        let mut bytes = fs::read(&p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display()));
        assert!(!bytes.is_empty(), "blob {digest} is empty");
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0xff;
        fs::write(&p, bytes).unwrap_or_else(|e| panic!("writing {}: {e}", p.display()));
    }

    /// Cuts blob `digest` to `len` bytes: the registry then serves fewer bytes than the
    /// manifest's size says.
    pub fn truncate_blob(&self, digest: &str, len: u64) {
        let p = self.blob_path(digest);
        let f = fs::OpenOptions::new()
            .write(true)
            .open(&p)
            .unwrap_or_else(|e| panic!("opening {}: {e}", p.display()));
        f.set_len(len)
            .unwrap_or_else(|e| panic!("truncating {}: {e}", p.display()));
    }

    /// Replaces what the registry serves for `digest` (a blob, or a manifest: the registry
    /// stores manifests as blobs too) with `bytes`.
    pub fn replace_blob(&self, digest: &str, bytes: &[u8]) {
        let p = self.blob_path(digest);
        assert!(p.is_file(), "the registry has no blob {digest}");
        fs::write(&p, bytes).unwrap_or_else(|e| panic!("writing {}: {e}", p.display()));
    }

    /// A [`FaultProxy`] in front of this (plain HTTP) registry.
    pub fn fault_proxy(&self, fault: Fault) -> FaultProxy {
        assert!(!self.opts.tls, "the fault proxy speaks plain HTTP only");
        FaultProxy::start(&self.host(), fault)
    }
}

/// One request from the registry's access log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Logged {
    pub method: String,
    /// The request target: path and query, e.g. `/v2/team/app/blobs/uploads/?mount=...`.
    pub path: String,
    pub status: u16,
}

impl Logged {
    /// Parses a combined-log-format line: `ADDR - - [DATE] "METHOD PATH PROTO" STATUS ...`.
    fn parse(line: &str) -> Option<Logged> {
        let (_, rest) = line.split_once("] \"")?;
        let (request, rest) = rest.split_once('"')?;
        let mut r = request.split(' ');
        let (method, path) = (r.next()?, r.next()?);
        let status = rest.split_whitespace().next()?.parse().ok()?;
        Some(Logged {
            method: method.to_string(),
            path: path.to_string(),
            status,
        })
    }

    /// Whether this is `method` on a path containing `part` (e.g. `("GET", "/blobs/sha256:ab")`).
    pub fn is(&self, method: &str, part: &str) -> bool {
        self.method == method && self.path.contains(part)
    }
}

impl Drop for RegistryServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // The issuer stops when its field drops.
        if thread::panicking() {
            let _ = std::io::stderr().write_all(
                format!("--- registry {} log ---\n{}\n", self.host(), self.log()).as_bytes(),
            );
        }
    }
}

/// Waits until the registry at `port` answers `GET /v2/` (200, or 401 with auth).
fn wait_ready(child: &mut Child, port: u16, tls: bool) -> Result<(), String> {
    let deadline = Instant::now() + STARTUP;
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("it exited with {status}"));
        }
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            let mut c = Command::new("curl");
            c.args([
                "-s",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "--max-time",
                "5",
            ]);
            let scheme = if tls {
                c.arg("--cacert")
                    .arg(tls_material().cert_dir.join("ca.crt"));
                "https"
            } else {
                "http"
            };
            c.arg(format!("{scheme}://127.0.0.1:{port}/v2/"));
            let code = c
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default();
            if code == "200" || code == "401" {
                return Ok(());
            }
        }
        thread::sleep(Duration::from_millis(50));
    }
    Err(format!("GET /v2/ did not answer within {STARTUP:?}"))
}

/// A port nobody listens on right now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("binding 127.0.0.1:0")
}

fn config_yaml(
    opts: &RegistryOpts,
    dir: &Path,
    port: u16,
    tls: Option<&TlsMaterial>,
    issuer: Option<&Issuer>,
) -> String {
    let mut y = format!(
        "version: 0.1\n\
         log:\n  level: info\n  formatter: text\n\
         storage:\n  filesystem:\n    rootdirectory: {storage}\n  delete:\n    enabled: {delete}\n  \
         maintenance:\n    uploadpurging:\n      enabled: false\n\
         http:\n  addr: 127.0.0.1:{port}\n  secret: coracle-test-secret\n  headers:\n    \
         X-Content-Type-Options: [nosniff]\n",
        storage = dir.join("storage").display(),
        delete = opts.delete,
    );
    if let Some(t) = tls {
        y.push_str(&format!(
            "  tls:\n    certificate: {}\n    key: {}\n",
            t.leaf_crt.display(),
            t.leaf_key.display()
        ));
    }
    match opts.auth {
        Auth::None => {}
        Auth::Htpasswd => y.push_str(&format!(
            "auth:\n  htpasswd:\n    realm: coracle-test\n    path: {}\n",
            dir.join("htpasswd").display()
        )),
        Auth::Token { .. } => {
            let t = tls_material();
            let i = issuer.expect("token auth has an issuer");
            y.push_str(&format!(
                "auth:\n  token:\n    realm: {}/token\n    service: {TOKEN_SERVICE}\n    \
                 issuer: {TOKEN_ISSUER}\n    rootcertbundle: {}\n",
                i.url,
                t.token_crt.display()
            ));
        }
    }
    y
}

fn write_htpasswd(path: &Path) {
    let mut lines = String::new();
    for u in [ALICE, READER] {
        let out = Command::new("htpasswd")
            .args(["-Bbn", u.name, u.password])
            .output()
            .expect("running htpasswd (apache2-utils)");
        assert!(out.status.success(), "htpasswd failed: {out:?}");
        lines.push_str(String::from_utf8_lossy(&out.stdout).trim());
        lines.push('\n');
    }
    fs::write(path, lines).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/registry")
        .join(name)
}

fn start_issuer(dir: &Path, anonymous_pull: bool, tls: Option<&TlsMaterial>) -> Issuer {
    let t = tls_material();
    let users = dir.join("issuer-users");
    fs::write(
        &users,
        format!(
            "{}:{}:pull,push\n{}:{}:pull\n",
            ALICE.name, ALICE.password, READER.name, READER.password
        ),
    )
    .expect("writing issuer-users");
    let log_path = dir.join("issuer.log");
    let log = fs::File::create(&log_path).expect("creating issuer.log");
    let mut c = server_command(PYTHON);
    c.arg(fixture("token-issuer.py"))
        .arg("--sign-key")
        .arg(&t.token_key)
        .arg("--sign-cert")
        .arg(&t.token_crt)
        .args(["--issuer", TOKEN_ISSUER, "--service", TOKEN_SERVICE])
        .arg("--users")
        .arg(&users);
    if anonymous_pull {
        c.arg("--anonymous-pull");
    }
    if let Some(t) = tls {
        c.arg("--tls-cert")
            .arg(&t.leaf_crt)
            .arg("--tls-key")
            .arg(&t.leaf_key);
    }
    let mut child = c
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("starting the token issuer: {e}"));
    let stdout = child.stdout.take().expect("issuer stdout");
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx.recv_timeout(STARTUP).unwrap_or_default();
    let mut issuer = Issuer {
        child,
        url: String::new(),
    };
    let Some(port) = line.trim().strip_prefix("PORT ") else {
        drop(issuer);
        panic!(
            "the token issuer did not start; log:\n{}",
            fs::read_to_string(&log_path).unwrap_or_default()
        );
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    issuer.url = format!("{scheme}://127.0.0.1:{}", port.trim());
    issuer
}
