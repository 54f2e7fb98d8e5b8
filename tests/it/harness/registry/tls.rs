//! The test CA, the registry's certificate and the token signing key, made once per test run.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use super::super::users::base_dir;

/// The test CA, the registry's leaf certificate and the token signing key, made once per
/// test run with the `openssl` CLI.
pub(super) struct TlsMaterial {
    /// World-readable; holds `ca.crt` only.
    pub cert_dir: PathBuf,
    pub leaf_crt: PathBuf,
    pub leaf_key: PathBuf,
    pub token_crt: PathBuf,
    pub token_key: PathBuf,
}

pub(super) fn tls_material() -> &'static TlsMaterial {
    static TLS: OnceLock<TlsMaterial> = OnceLock::new();
    TLS.get_or_init(|| {
        let base = base_dir();
        remove_stale(base, "registry-tls-");
        let dir = base.join(format!("registry-tls-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let keys = dir.join("private");
        let certs = dir.join("certs");
        fs::create_dir_all(&keys).expect("creating the TLS dir");
        fs::create_dir_all(&certs).expect("creating the cert dir");
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).expect("chmod");
        fs::set_permissions(&certs, fs::Permissions::from_mode(0o755)).expect("chmod");
        fs::set_permissions(&keys, fs::Permissions::from_mode(0o700)).expect("chmod");
        // Arguments split at spaces (none of them contains one).
        let openssl = |args: &str| {
            let out = Command::new("openssl")
                .args(args.split_whitespace())
                .current_dir(&keys)
                .output()
                .expect("running openssl");
            assert!(
                out.status.success(),
                "openssl {args} failed:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        fs::write(
            keys.join("leaf.ext"),
            "basicConstraints=critical,CA:FALSE\n\
             keyUsage=critical,digitalSignature,keyEncipherment\n\
             extendedKeyUsage=serverAuth\n\
             subjectAltName=IP:127.0.0.1,DNS:localhost\n",
        )
        .expect("writing leaf.ext");
        openssl(
            "req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key \
             -out ca.crt -days 3650 -subj /CN=coracle-test-CA \
             -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign",
        );
        openssl(
            "req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout leaf.key \
             -out leaf.csr -subj /CN=localhost",
        );
        openssl(
            "x509 -req -in leaf.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out leaf.crt \
             -days 3650 -extfile leaf.ext",
        );
        // RS256 tokens: an RSA key with a self-signed certificate, which is the registry's
        // rootcertbundle and the `x5c` chain of every token.
        openssl(
            "req -x509 -newkey rsa:2048 -nodes -keyout token.key -out token.crt -days 3650 \
             -subj /CN=coracle-test-token-issuer",
        );
        let ca = certs.join("ca.crt");
        fs::copy(keys.join("ca.crt"), &ca).expect("copying ca.crt");
        fs::set_permissions(&ca, fs::Permissions::from_mode(0o644)).expect("chmod ca.crt");
        TlsMaterial {
            cert_dir: certs,
            leaf_crt: keys.join("leaf.crt"),
            leaf_key: keys.join("leaf.key"),
            token_crt: keys.join("token.crt"),
            token_key: keys.join("token.key"),
        }
    })
}

/// Removes `<base>/<prefix><pid>` directories of test runs whose process is gone.
fn remove_stale(base: &Path, prefix: &str) {
    let Ok(entries) = fs::read_dir(base) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(pid) = name.strip_prefix(prefix)
            && !Path::new("/proc").join(pid).exists()
        {
            let _ = fs::remove_dir_all(e.path());
        }
    }
}
