//! Trust and client identity for one registry host: the system's roots, plus `*.crt` CAs and
//! `*.cert`/`*.key` client pairs from `--cert-dir` or the `certs.d/HOST` directories.
//!
//! The directory is chosen as c/image does (containers-certs.d(5)): `--cert-dir` when given,
//! else the first of `$XDG_CONFIG_HOME/containers/certs.d/HOST` (`~/.config/...`),
//! `/etc/containers/certs.d/HOST` and `/etc/docker/certs.d/HOST` that exists. The ring provider
//! is passed explicitly, so nothing depends on a process-wide default provider.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::registry::client::RegistryError;

/// What one certificates directory holds.
#[derive(Debug, Default)]
pub struct CertDir {
    /// CAs from `*.crt`, added to the system's roots.
    pub roots: Vec<CertificateDer<'static>>,
    /// The first `*.cert` + `*.key` pair (by name), presented when the server asks.
    pub identity: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
}

/// The rustls configuration for connecting to `host` (`host[:port]` as references write it).
/// `insecure` accepts any server certificate.
pub fn client_config(
    host: &str,
    cert_dir: Option<&Path>,
    insecure: bool,
) -> Result<rustls::ClientConfig, RegistryError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let dir = match cert_dir {
        Some(dir) => Some(dir.to_path_buf()),
        None => host_cert_dir(host),
    };
    let extra = match &dir {
        Some(dir) => load_cert_dir(dir)?,
        None => CertDir::default(),
    };

    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| cert_error("rustls", e.to_string()))?;
    let builder = if insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCert(provider)))
    } else {
        let mut roots = RootCertStore::empty();
        let native = rustls_native_certs::load_native_certs();
        for e in &native.errors {
            tracing::debug!("system certificates: {e}");
        }
        let (added, ignored) = roots.add_parsable_certificates(native.certs);
        tracing::debug!("system certificates: {added} roots, {ignored} ignored");
        for (i, cert) in extra.roots.into_iter().enumerate() {
            roots.add(cert).map_err(|e| {
                let dir = dir.as_deref().unwrap_or(Path::new(""));
                cert_error(&dir.display().to_string(), format!("CA #{}: {e}", i + 1))
            })?;
        }
        builder.with_root_certificates(roots)
    };
    let mut config = match extra.identity {
        Some((chain, key)) => builder.with_client_auth_cert(chain, key).map_err(|e| {
            let dir = dir.as_deref().unwrap_or(Path::new(""));
            cert_error(
                &dir.display().to_string(),
                format!("client certificate: {e}"),
            )
        })?,
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// The per-host directory c/image would read, if one exists.
fn host_cert_dir(host: &str) -> Option<PathBuf> {
    let user = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| home().map(|h| h.join(".config")))
        .map(|c| c.join("containers/certs.d"));
    let system = [
        PathBuf::from("/etc/containers/certs.d"),
        PathBuf::from("/etc/docker/certs.d"),
    ];
    user.into_iter()
        .chain(system)
        .map(|d| d.join(host))
        .find(|d| d.is_dir())
}

fn home() -> Option<PathBuf> {
    match std::env::var_os("HOME").filter(|v| !v.is_empty()) {
        Some(h) => Some(PathBuf::from(h)),
        None => crate::paths::home_from_passwd(rustix::process::geteuid().as_raw()),
    }
}

/// Reads `*.crt`, `*.cert` and `*.key` from `dir` (a missing directory holds nothing). A file
/// that does not parse, a `.cert` without its `.key` or a `.key` without its `.cert` is an
/// error naming the file.
pub fn load_cert_dir(dir: &Path) -> Result<CertDir, RegistryError> {
    let io_err = |path: &Path, source| RegistryError::Certificates {
        path: path.display().to_string(),
        source,
    };
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(CertDir::default()),
        Err(e) => return Err(io_err(dir, e)),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| io_err(dir, e))?;
        names.push(entry.file_name().to_string_lossy().into_owned());
    }
    names.sort();

    let mut out = CertDir::default();
    for name in &names {
        let path = dir.join(name);
        if name.ends_with(".crt") {
            out.roots.extend(read_certs(&path)?);
        } else if let Some(stem) = name.strip_suffix(".cert") {
            let key_name = format!("{stem}.key");
            if !names.contains(&key_name) {
                return Err(cert_error(
                    &path.display().to_string(),
                    format!("missing client key {key_name}"),
                ));
            }
            let chain = read_certs(&path)?;
            let key_path = dir.join(&key_name);
            let key = PrivateKeyDer::from_pem_file(&key_path).map_err(|e| {
                cert_error(
                    &key_path.display().to_string(),
                    pem_message(e, "private key"),
                )
            })?;
            if out.identity.is_none() {
                out.identity = Some((chain, key));
            } else {
                tracing::debug!(
                    "{}: ignored, one client certificate is used",
                    path.display()
                );
            }
        } else if let Some(stem) = name.strip_suffix(".key")
            && !names.contains(&format!("{stem}.cert"))
        {
            return Err(cert_error(
                &path.display().to_string(),
                format!("missing client certificate {stem}.cert"),
            ));
        }
    }
    Ok(out)
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, RegistryError> {
    let bytes = std::fs::read(path).map_err(|source| RegistryError::Certificates {
        path: path.display().to_string(),
        source,
    })?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| cert_error(&path.display().to_string(), pem_message(e, "certificate")))?;
    if certs.is_empty() {
        return Err(cert_error(
            &path.display().to_string(),
            "no PEM certificate in it".into(),
        ));
    }
    Ok(certs)
}

fn pem_message(e: rustls::pki_types::pem::Error, what: &str) -> String {
    match e {
        rustls::pki_types::pem::Error::NoItemsFound => format!("no PEM {what} in it"),
        e => format!("malformed PEM: {e}"),
    }
}

fn cert_error(path: &str, message: String) -> RegistryError {
    RegistryError::Certificates {
        path: path.to_string(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, message),
    }
}

/// `--tls-verify=false`: any certificate is accepted, but the handshake signatures are still
/// checked so the session is at least bound to the presented key.
#[derive(Debug)]
struct AcceptAnyCert(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // A throwaway self-signed certificate, only parsed.
    const CERT: &str = "-----BEGIN CERTIFICATE-----
MIIBczCCARmgAwIBAgIUdLfQB9a5LbpMWZl5O9Ma249GtoswCgYIKoZIzj0EAwIw
DzENMAsGA1UEAwwEdGVzdDAeFw0yNjExMjMyMDU1NTRaFw0zNjExMjAyMDU1NTRa
MA8xDTALBgNVBAMMBHRlc3QwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAATn/E6A
dWNnhXEoqRhmxIaXlP65VTqHM8BHY2x6EdfEHVeoEO6zw7uBVBPLsehT0lrJe2Pi
FTujhw3oDWN4PUEVo1MwUTAdBgNVHQ4EFgQUp50SQSCHkZp3cKTCOZGSLpJmRasw
HwYDVR0jBBgwFoAUp50SQSCHkZp3cKTCOZGSLpJmRaswDwYDVR0TAQH/BAUwAwEB
/zAKBggqhkjOPQQDAgNIADBFAiA9v6pIme9F//BRYMI/O/1s3BvE9a1lFk3AI0TE
TGSmdwIhAPzEEueoQl124R2swKTq/avmJ+acEv76Xjf1QO7Mhqb+
-----END CERTIFICATE-----
";

    #[test]
    fn missing_dir_is_empty() {
        let tmp = tempfile::tempdir().unwrap();
        let got = load_cert_dir(&tmp.path().join("nope")).unwrap();
        assert!(got.roots.is_empty() && got.identity.is_none());
    }

    #[test]
    fn crt_files_are_read_and_other_files_ignored() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("ca.crt"), CERT).unwrap();
        std::fs::write(tmp.path().join("README"), "not a cert").unwrap();
        let got = load_cert_dir(tmp.path()).unwrap();
        assert_eq!(got.roots.len(), 1);
    }

    #[test]
    fn malformed_crt_names_the_file() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("bad.crt"), "garbage\n").unwrap();
        let err = load_cert_dir(tmp.path()).unwrap_err();
        let text = format!("{err}: {}", std::error::Error::source(&err).unwrap());
        assert!(text.contains("bad.crt"), "{text}");
        assert!(text.contains("no PEM certificate"), "{text}");

        std::fs::write(
            tmp.path().join("bad.crt"),
            "-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let err = load_cert_dir(tmp.path()).unwrap_err();
        assert!(err.to_string().contains("bad.crt"), "{err}");
    }

    #[test]
    fn cert_without_key_and_key_without_cert_are_errors() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("client.cert"), CERT).unwrap();
        let err = load_cert_dir(tmp.path()).unwrap_err();
        assert!(err.to_string().contains("client.cert"), "{err}");
        assert!(
            std::error::Error::source(&err)
                .unwrap()
                .to_string()
                .contains("client.key")
        );

        std::fs::remove_file(tmp.path().join("client.cert")).unwrap();
        std::fs::write(tmp.path().join("other.key"), "x").unwrap();
        let err = load_cert_dir(tmp.path()).unwrap_err();
        assert!(err.to_string().contains("other.key"), "{err}");
    }

    #[test]
    fn malformed_key_names_the_key_file() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("client.cert"), CERT).unwrap();
        std::fs::write(tmp.path().join("client.key"), "not a key").unwrap();
        let err = load_cert_dir(tmp.path()).unwrap_err();
        assert!(err.to_string().contains("client.key"), "{err}");
    }

    #[test]
    fn config_builds_without_a_global_provider() {
        let tmp = tempfile::tempdir().unwrap();
        client_config("localhost:5000", Some(tmp.path()), false).unwrap();
        client_config("localhost:5000", Some(tmp.path()), true).unwrap();
    }
}
