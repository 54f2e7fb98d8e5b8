//! The registry fixtures themselves (`harness::registry`): each kind of registry starts and
//! behaves as the distribution API says, with curl and skopeo as the clients, so that a
//! failing pull or push test points at coracle and not at its test registry.

use crate::harness::cmd::Output;
use crate::harness::images::{busybox, derived};
use crate::harness::layer::sha256;
use crate::harness::registry::{self, Fault, RegistryOpts, RegistryServer, TOKEN_SERVICE};
use crate::harness::{Cmd, for_each_user};

/// `curl -s` against `reg`, trusting the test CA when it speaks HTTPS; `extra` goes before
/// the URL `reg.url() + path`.
fn curl(reg: &RegistryServer, path: &str, extra: &[&str]) -> Output {
    curl_url(reg, &format!("{}{path}", reg.url()), extra)
}

fn curl_url(reg: &RegistryServer, url: &str, extra: &[&str]) -> Output {
    let mut c = Cmd::new("curl", "root");
    // HTTP/1.1 even over TLS, so that status lines and header names read the same.
    c.args(["-s", "--http1.1", "--max-time", "20"]);
    if reg.opts().tls {
        c.arg("--cacert").arg(reg.ca_cert());
    }
    c.args(extra).arg(url);
    c.output()
}

/// The HTTP status of `GET path` (with `extra` curl arguments).
fn status(reg: &RegistryServer, path: &str, extra: &[&str]) -> String {
    let mut args = vec!["-o", "/dev/null", "-w", "%{http_code}"];
    args.extend_from_slice(extra);
    curl(reg, path, &args).stdout()
}

#[test]
fn plain_http_registry_answers_v2() {
    if !registry::available() {
        return;
    }
    let reg = RegistryServer::start(RegistryOpts::http());
    assert!(reg.url().starts_with("http://127.0.0.1:"), "{}", reg.url());
    let o = curl(&reg, "/v2/", &["-i"]);
    let out = o.stdout();
    assert!(out.starts_with("HTTP/1.1 200"), "{o}");
    assert!(
        out.to_ascii_lowercase()
            .contains("docker-distribution-api-version: registry/2.0"),
        "{o}"
    );
    assert!(reg.storage_dir().is_dir());
}

#[test]
fn https_registry_is_trusted_through_the_test_ca_only() {
    if !registry::available() {
        return;
    }
    let reg = RegistryServer::start(RegistryOpts::https());
    assert!(reg.url().starts_with("https://127.0.0.1:"));
    assert_eq!(status(&reg, "/v2/", &[]), "200");
    // By name too: the leaf has DNS:localhost.
    let url = format!("https://localhost:{}/v2/", reg.port());
    let o = curl_url(&reg, &url, &["-o", "/dev/null", "-w", "%{http_code}"]);
    assert_eq!(o.stdout(), "200", "{o}");
    // Without the CA, verification fails (curl exit 60).
    let o = Cmd::new("curl", "root")
        .args(["-s", "-o", "/dev/null"])
        .arg(format!("{}/v2/", reg.url()))
        .output();
    assert_eq!(o.code(), Some(60), "{o}");
    // The cert dir is for every test user: world-readable.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(reg.ca_cert())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o044, 0o044, "ca.crt mode {mode:o}");
}

#[test]
fn htpasswd_registry_wants_the_right_password() {
    if !registry::available() {
        return;
    }
    let reg = RegistryServer::start(RegistryOpts::http().htpasswd());
    let o = curl(&reg, "/v2/", &["-i"]);
    assert!(o.stdout().starts_with("HTTP/1.1 401"), "{o}");
    assert!(
        o.stdout()
            .to_ascii_lowercase()
            .contains("www-authenticate: basic realm=\"coracle-test\""),
        "{o}"
    );
    let alice = reg.user().creds();
    assert_eq!(status(&reg, "/v2/", &["-u", &alice]), "200");
    assert_eq!(status(&reg, "/v2/", &["-u", "alice:wrong"]), "401");
    assert_eq!(status(&reg, "/v2/", &["-u", &reg.reader().creds()]), "200");
}

/// The parameters of a `WWW-Authenticate: Bearer k="v",...` header.
fn bearer_params(headers: &str) -> Vec<(String, String)> {
    let line = headers
        .lines()
        .find(|l| {
            l.to_ascii_lowercase()
                .starts_with("www-authenticate: bearer ")
        })
        .unwrap_or_else(|| panic!("no Bearer challenge in:\n{headers}"));
    let params = line.trim()["www-authenticate: bearer ".len()..].to_string();
    let mut v = Vec::new();
    let mut rest = params.as_str();
    while let Some((k, r)) = rest.split_once("=\"") {
        let (val, r) = r.split_once('"').expect("closing quote");
        v.push((
            k.trim_start_matches(',').trim().to_string(),
            val.to_string(),
        ));
        rest = r;
    }
    v
}

fn token_for(reg: &RegistryServer, scope: &str, creds: Option<&str>) -> String {
    let realm = reg.token_realm().expect("token auth");
    let mut args = vec!["-G", "--data-urlencode"];
    let service = format!("service={TOKEN_SERVICE}");
    let scope = format!("scope={scope}");
    args.extend([service.as_str(), "--data-urlencode", scope.as_str()]);
    if let Some(c) = creds {
        args.extend(["-u", c]);
    }
    let o = curl_url(reg, &realm, &args);
    let v = o.json();
    v["token"]
        .as_str()
        .unwrap_or_else(|| o.fail("no token in the answer"))
        .to_string()
}

#[test]
fn token_registry_challenge_token_and_access() {
    if !registry::available() {
        return;
    }
    let reg = RegistryServer::start(RegistryOpts::https().token(false));
    let o = curl(&reg, "/v2/", &["-i"]);
    assert!(o.stdout().starts_with("HTTP/1.1 401"), "{o}");
    let params = bearer_params(&o.stdout());
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    assert_eq!(get("realm"), reg.token_realm(), "{o}");
    assert_eq!(get("service").as_deref(), Some(TOKEN_SERVICE), "{o}");

    let token = token_for(
        &reg,
        "repository:team/app:pull,push",
        Some(&reg.user().creds()),
    );
    let bearer = format!("Authorization: Bearer {token}");
    assert_eq!(
        status(&reg, "/v2/", &["-H", &bearer]),
        "200",
        "{}",
        reg.log()
    );
    // The granted scope works on the repository (404: no such tag, not 401).
    assert_eq!(
        status(&reg, "/v2/team/app/manifests/latest", &["-H", &bearer]),
        "404",
        "{}",
        reg.log()
    );
    // ...and not on another repository.
    assert_eq!(
        status(&reg, "/v2/other/manifests/latest", &["-H", &bearer]),
        "401"
    );
    // The catalog (for `search`) with its own scope.
    let catalog = token_for(&reg, "registry:catalog:*", Some(&reg.user().creds()));
    let bearer = format!("Authorization: Bearer {catalog}");
    assert_eq!(status(&reg, "/v2/_catalog", &["-H", &bearer]), "200");
    // Wrong password: the issuer says 401.
    let o = curl_url(
        &reg,
        &reg.token_realm().unwrap(),
        &["-o", "/dev/null", "-w", "%{http_code}", "-u", "alice:wrong"],
    );
    assert_eq!(o.stdout(), "401", "{o}");
    // Anonymous without anonymous pull: a token that grants nothing.
    let anon = token_for(&reg, "repository:team/app:pull", None);
    let bearer = format!("Authorization: Bearer {anon}");
    assert_eq!(
        status(&reg, "/v2/team/app/manifests/latest", &["-H", &bearer]),
        "401"
    );
}

#[test]
fn token_registry_anonymous_pull_and_reader_cannot_push() {
    if !registry::available() {
        return;
    }
    let reg = RegistryServer::start(RegistryOpts::http().token(true));
    let anon = token_for(&reg, "repository:team/app:pull,push", None);
    let bearer = format!("Authorization: Bearer {anon}");
    assert_eq!(
        status(&reg, "/v2/team/app/manifests/latest", &["-H", &bearer]),
        "404"
    );
    // Starting an upload needs push, which neither anonymous nor the reader gets.
    let upload = ["-X", "POST", "-H", &bearer];
    assert_eq!(status(&reg, "/v2/team/app/blobs/uploads/", &upload), "401");
    let reader = token_for(
        &reg,
        "repository:team/app:pull,push",
        Some(&reg.reader().creds()),
    );
    let bearer = format!("Authorization: Bearer {reader}");
    assert_eq!(
        status(
            &reg,
            "/v2/team/app/blobs/uploads/",
            &["-X", "POST", "-H", &bearer]
        ),
        "401"
    );
    let alice = token_for(
        &reg,
        "repository:team/app:pull,push",
        Some(&reg.user().creds()),
    );
    let bearer = format!("Authorization: Bearer {alice}");
    assert_eq!(
        status(
            &reg,
            "/v2/team/app/blobs/uploads/",
            &["-X", "POST", "-H", &bearer]
        ),
        "202"
    );
}

#[test]
fn skopeo_push_and_inspect_round_trip() {
    if !registry::available() {
        return;
    }
    let reg = RegistryServer::start(RegistryOpts::http());
    let image = busybox();
    let digest = reg.push_image(image, "team/app:1.2");
    assert_eq!(reg.manifest_digest("team/app:1.2"), digest);
    let layers = reg.layer_digests("team/app:1.2");
    assert_eq!(layers.len(), image.layers.len());
    for l in &layers {
        assert!(reg.has_blob(l), "{l}");
        assert!(reg.repo_has_blob("team/app", l), "{l}");
    }
    let inspected = reg.inspect("team/app:1.2");
    assert_eq!(inspected["Digest"].as_str(), Some(digest.as_str()));
    // skopeo copies the config unchanged: the image ID is the same.
    let m: serde_json::Value = serde_json::from_slice(&reg.raw_manifest("team/app:1.2")).unwrap();
    assert_eq!(
        m["config"]["digest"].as_str(),
        Some(image.config_digest().as_str())
    );

    let log = reg.access_log();
    assert!(
        log.iter()
            .any(|r| r.is("PUT", "/v2/team/app/manifests/1.2") && r.status == 201),
        "{log:?}"
    );
    for l in &layers {
        assert!(
            log.iter()
                .any(|r| r.is("PUT", "/v2/team/app/blobs/uploads/")
                    && r.path.contains(&l.replace(':', "%3A"))),
            "{l} not uploaded: {log:?}"
        );
    }

    // Registry to registry, digests preserved.
    let copied = registry::skopeo_copy(
        &format!("docker://{}", reg.image_ref("team/app:1.2")),
        &format!("docker://{}", reg.image_ref("team/copy:1")),
        &reg.access(),
    );
    assert_eq!(copied, digest);

    let oci = reg.push_image_oci(image, "team/app:oci");
    let m: serde_json::Value = serde_json::from_slice(&reg.raw_manifest("team/app:oci")).unwrap();
    assert_eq!(
        m["mediaType"].as_str(),
        Some("application/vnd.oci.image.manifest.v1+json")
    );
    assert_eq!(reg.manifest_digest("team/app:oci"), oci);
    // The OCI archive goes up as it is: the image's own manifest and gzip layers.
    assert_eq!(oci, image.oci_manifest_digest());
    assert_eq!(
        reg.layer_digests("team/app:oci"),
        image
            .layers
            .iter()
            .map(|l| l.gz_digest())
            .collect::<Vec<_>>()
    );
}

#[test]
fn skopeo_push_through_token_auth_over_https() {
    if !registry::available() {
        return;
    }
    let reg = RegistryServer::start(RegistryOpts::https().token(false));
    let digest = reg.push_image(busybox(), "team/app:1");
    assert_eq!(
        reg.inspect("team/app:1")["Digest"].as_str(),
        Some(digest.as_str())
    );
}

#[test]
fn fault_proxy_cuts_a_blob_then_passes_and_hangs() {
    if !registry::available() {
        return;
    }
    let reg = RegistryServer::start(RegistryOpts::http());
    reg.push_image(busybox(), "team/app:1");
    let layer = reg.layer_digests("team/app:1")[0].clone();
    let proxy = reg.fault_proxy(Fault::PassThrough);
    let through = registry::inspect_raw(&proxy.image_ref("team/app:1"), &reg.access());
    assert_eq!(through, reg.raw_manifest("team/app:1"));
    // Uploads (POST, PATCH, PUT with bodies, Location through the proxy) pass too.
    let archive = reg.storage_dir().join("../other.tar");
    let other = derived("other", &[("etc/x", "x\n")], serde_json::json!({}));
    std::fs::write(&archive, other.docker_archive()).unwrap();
    let pushed =
        registry::push_with_skopeo(&archive, &proxy.image_ref("team/other:1"), &reg.access());
    assert_eq!(reg.manifest_digest("team/other:1"), pushed);
    assert!(
        proxy
            .requests()
            .iter()
            .any(|r| r.starts_with("PATCH ") || r.starts_with("PUT "))
    );
    proxy.set_fault(Fault::CloseBlobAfter {
        bytes: 1000,
        times: 1,
    });
    let url = format!("{}/v2/team/app/blobs/{layer}", proxy.url());
    let get = || {
        Cmd::new("curl", "root")
            .args(["-s", "-L", "--max-time", "20"])
            .arg(&url)
            .output()
    };
    // Manifests and other requests pass.
    let o = Cmd::new("curl", "root")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}"])
        .arg(format!("{}/v2/team/app/manifests/1", proxy.url()))
        .output();
    assert_eq!(o.stdout(), "200", "{o}");
    // The first download stops after 1000 bytes (curl 18: transfer closed early)...
    let o = get();
    assert_eq!(o.code(), Some(18), "{o}");
    assert_eq!(o.stdout.len(), 1000);
    assert_eq!(proxy.cuts(), 1);
    // ...a resumed one (Range) and a whole one succeed.
    let o = Cmd::new("curl", "root")
        .args(["-s", "-r", "1000-", "--max-time", "20"])
        .arg(&url)
        .output();
    assert_eq!(o.code(), Some(0), "{o}");
    let whole = get();
    assert_eq!(whole.code(), Some(0), "{whole}");
    assert_eq!(sha256(&whole.stdout), layer);
    assert_eq!(proxy.cuts(), 1);
    assert!(
        proxy
            .requests()
            .iter()
            .any(|r| r.contains("Range: bytes=1000-")),
        "{:?}",
        proxy.requests()
    );

    // A stalled download: curl gives up on its own time-out.
    proxy.set_fault(Fault::StallBlobAfter {
        bytes: 1000,
        times: 1,
    });
    let o = Cmd::new("curl", "root")
        .args(["-s", "--max-time", "2"])
        .arg(&url)
        .output();
    assert_eq!(o.code(), Some(28), "{o}");
    assert_eq!(o.stdout.len(), 1000);
    assert_eq!(proxy.cuts(), 2);

    // An injected 503 with Retry-After, then the blob.
    proxy.set_fault(Fault::FailBlob {
        status: 503,
        times: 1,
        retry_after: Some(2),
    });
    let o = Cmd::new("curl", "root")
        .args(["-s", "-i", "--max-time", "20"])
        .arg(&url)
        .output();
    assert!(o.stdout().starts_with("HTTP/1.1 503"), "{o}");
    assert!(o.stdout().contains("Retry-After: 2\r\n"), "{o}");
    assert_eq!(sha256(&get().stdout), layer);
    assert_eq!(proxy.cuts(), 3);

    // A slow download still arrives whole.
    proxy.set_fault(Fault::SlowBlobs {
        bytes_per_sec: 4 << 20,
    });
    let start = std::time::Instant::now();
    let o = get();
    assert_eq!(sha256(&o.stdout), layer, "{o}");
    let at_least = std::time::Duration::from_secs_f64(o.stdout.len() as f64 / (4 << 20) as f64);
    assert!(
        start.elapsed() >= at_least.mul_f64(0.8),
        "{:?} < {at_least:?}",
        start.elapsed()
    );

    proxy.set_fault(Fault::Hang);
    let o = Cmd::new("curl", "root")
        .args(["-s", "--max-time", "1"])
        .arg(format!("{}/v2/", proxy.url()))
        .output();
    assert_eq!(o.code(), Some(28), "{o}"); // time-out
}

#[test]
fn corrupt_blob_is_served_with_the_wrong_digest() {
    if !registry::available() {
        return;
    }
    let reg = RegistryServer::start(RegistryOpts::http());
    reg.push_image(busybox(), "team/app:1");
    let layer = reg.layer_digests("team/app:1")[0].clone();
    let path = format!("/v2/team/app/blobs/{layer}");
    assert_eq!(sha256(&curl(&reg, &path, &["-L"]).stdout), layer);
    let size = std::fs::metadata(reg.blob_path(&layer)).unwrap().len();
    reg.corrupt_blob(&layer);
    let o = curl(&reg, &path, &["-L"]);
    assert_eq!(o.stdout.len() as u64, size);
    assert_ne!(sha256(&o.stdout), layer);
    reg.truncate_blob(&layer, 10);
    assert_eq!(curl(&reg, &path, &["-L"]).stdout.len(), 10);
    reg.replace_blob(&layer, b"other bytes");
    assert_eq!(curl(&reg, &path, &["-L"]).stdout, b"other bytes");
}

#[test]
fn delete_option_lets_clients_delete_manifests() {
    if !registry::available() {
        return;
    }
    let reg = RegistryServer::start(RegistryOpts::http().delete());
    let digest = reg.push_image(busybox(), "team/app:1");
    let path = format!("/v2/team/app/manifests/{digest}");
    assert_eq!(status(&reg, &path, &["-X", "DELETE"]), "202");
    assert_eq!(status(&reg, "/v2/team/app/manifests/1", &[]), "404");
}

#[test]
fn every_test_user_reaches_an_https_registry_with_its_cert_dir() {
    if !registry::available() {
        return;
    }
    let reg = RegistryServer::start(RegistryOpts::https().htpasswd());
    for_each_user(|env| {
        let o = env
            .run_as("/usr/bin/curl", "curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-u"])
            .arg(reg.user().creds())
            .arg("--cacert")
            .arg(reg.cert_dir().join("ca.crt"))
            .arg(format!("{}/v2/", reg.url()))
            .output();
        assert_eq!(o.stdout(), "200", "{o}");
        // The CA as a user's certs.d entry works the same way.
        let certs_d = format!("home/.config/containers/certs.d/{}/ca.crt", reg.host());
        let ca = env.write(&certs_d, reg.ca_pem());
        let o = env
            .run_as("/usr/bin/curl", "curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert"])
            .arg(ca)
            .arg(format!("{}/v2/", reg.url()))
            .output();
        assert_eq!(o.stdout(), "401", "{o}");
    });
}

/// The leaf certificate passes rustls' (webpki's) checks, which are stricter than curl's
/// OpenSSL: coracle's client is rustls.
#[test]
fn rustls_trusts_the_registry_and_issuer_certificates() {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, ServerName};
    use std::io::{Read, Write};
    use std::sync::Arc;

    if !registry::available() {
        return;
    }
    let reg = RegistryServer::start(RegistryOpts::https().token(true));
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(reg.ca_cert()).expect("reading ca.crt") {
        roots
            .add(c.expect("a PEM certificate"))
            .expect("adding the CA");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_root_certificates(roots)
            .with_no_client_auth(),
    );
    let realm = reg.token_realm().unwrap();
    let issuer_host = realm
        .trim_start_matches("https://")
        .split('/')
        .next()
        .unwrap()
        .to_string();
    for (host, name, path) in [
        (reg.host(), "127.0.0.1", "/v2/"),
        (reg.host(), "localhost", "/v2/"),
        (
            issuer_host,
            "127.0.0.1",
            "/token?service=coracle-test-registry&scope=repository:a:pull",
        ),
    ] {
        let server_name = ServerName::try_from(name.to_string()).unwrap();
        let conn = rustls::ClientConnection::new(config.clone(), server_name).unwrap();
        let sock = std::net::TcpStream::connect(&host).unwrap();
        let mut tls = rustls::StreamOwned::new(conn, sock);
        write!(
            tls,
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
        )
        .unwrap_or_else(|e| panic!("TLS to {host} as {name}: {e}"));
        let mut answer = Vec::new();
        let _ = tls.read_to_end(&mut answer);
        let answer = String::from_utf8_lossy(&answer);
        assert!(
            answer.starts_with("HTTP/1.1 401") || answer.starts_with("HTTP/1.1 200"),
            "{host} as {name}{path}: {answer}"
        );
    }
}

#[test]
fn skopeo_pushes_a_multi_platform_index() {
    if !registry::available() {
        return;
    }
    let reg = RegistryServer::start(RegistryOpts::http());
    let other = derived("other", &[("etc/arm", "arm\n")], serde_json::json!({}));
    let digest = reg.push_index(
        &[(busybox(), "linux/amd64"), (&other, "linux/arm64/v8")],
        "team/multi:1",
    );
    assert_eq!(reg.manifest_digest("team/multi:1"), digest);
    let index: serde_json::Value =
        serde_json::from_slice(&reg.raw_manifest("team/multi:1")).unwrap();
    assert_eq!(
        index["mediaType"].as_str(),
        Some("application/vnd.oci.image.index.v1+json")
    );
    let m = index["manifests"].as_array().unwrap();
    assert_eq!(m.len(), 2);
    assert_eq!(
        m[0]["digest"].as_str(),
        Some(busybox().oci_manifest_digest().as_str())
    );
    assert_eq!(m[1]["platform"]["variant"].as_str(), Some("v8"));
    assert_eq!(
        m[1]["digest"].as_str(),
        Some(other.oci_manifest_digest().as_str())
    );
    assert!(reg.has_blob(&other.config_digest()));
}

#[test]
fn a_replaced_manifest_is_served_under_its_old_digest() {
    if !registry::available() {
        return;
    }
    let reg = RegistryServer::start(RegistryOpts::http());
    let digest = reg.push_image(busybox(), "team/app:1");
    let mut tampered = reg.raw_manifest("team/app:1");
    tampered.extend_from_slice(b"\n");
    reg.replace_blob(&digest, &tampered);
    let accept = "Accept: application/vnd.docker.distribution.manifest.v2+json";
    for path in [
        "/v2/team/app/manifests/1".to_string(),
        format!("/v2/team/app/manifests/{digest}"),
    ] {
        let o = curl(&reg, &path, &["-H", accept]);
        assert_eq!(o.stdout, tampered, "{o}");
        assert_ne!(sha256(&o.stdout), digest);
    }
}
