//! skopeo as the registry tests' reference client: put images in, read manifests back.

use std::fs;
use std::path::{Path, PathBuf};

use super::super::cmd::Cmd;
use super::super::users::base_dir;
use super::RegUser;

/// How a tool run by the test process (as root) reaches a registry.
#[derive(Clone, Debug, Default)]
pub struct Access {
    /// `--cert-dir` for HTTPS; `None` means plain HTTP (`--tls-verify=false`).
    pub cert_dir: Option<PathBuf>,
    pub creds: Option<RegUser>,
}

fn skopeo() -> Cmd {
    let mut c = Cmd::new("skopeo", "root");
    c.arg("--insecure-policy");
    c
}

/// skopeo's flags for `access` on the side `side` (`src` or `dest`; "" for `inspect`).
fn skopeo_access(c: &mut Cmd, side: &str, access: &Access) {
    let flag = |name: &str| {
        if side.is_empty() {
            format!("--{name}")
        } else {
            format!("--{side}-{name}")
        }
    };
    match &access.cert_dir {
        Some(d) => {
            c.arg(flag("cert-dir")).arg(d);
        }
        None => {
            c.arg(format!("{}=false", flag("tls-verify")));
        }
    }
    match access.creds {
        Some(u) => {
            c.arg(flag("creds")).arg(u.creds());
        }
        None => {
            c.arg(flag("no-creds"));
        }
    }
}

/// Copies an archive (docker-archive or OCI archive, told apart by its `oci-layout` entry)
/// to `docker://<dest>` with `skopeo copy`; returns the manifest digest the registry got.
pub fn push_with_skopeo(archive: &Path, dest: &str, access: &Access) -> String {
    let dest = format!("docker://{dest}");
    if archive_is_oci(archive) {
        // Without --preserve-digests, skopeo's blob-info cache (shared by every run on the
        // machine) may swap a layer for another compression of it pushed earlier.
        let src = format!("oci-archive:{}", archive.display());
        copy(&src, &dest, access, &["--preserve-digests"])
    } else {
        let src = format!("docker-archive:{}", archive.display());
        copy(&src, &dest, access, &[])
    }
}

/// `skopeo copy SRC DEST` with `access` for the `docker://` side(s); returns the digest of
/// the manifest written (`--digestfile`).
pub fn skopeo_copy(src: &str, dest: &str, access: &Access) -> String {
    copy(src, dest, access, &[])
}

/// Like [`skopeo_copy`] with `--all --preserve-digests`: a manifest list or index with every
/// image in it, byte for byte.
pub fn skopeo_copy_all(src: &str, dest: &str, access: &Access) -> String {
    copy(src, dest, access, &["--all", "--preserve-digests"])
}

fn copy(src: &str, dest: &str, access: &Access, flags: &[&str]) -> String {
    let digestfile = tempfile::NamedTempFile::new_in(base_dir()).expect("digest file");
    let mut c = skopeo();
    c.args(["copy", "--quiet", "--retry-times", "0"])
        .arg("--digestfile")
        .arg(digestfile.path())
        .args(flags);
    if src.starts_with("docker://") {
        skopeo_access(&mut c, "src", access);
    }
    if dest.starts_with("docker://") {
        skopeo_access(&mut c, "dest", access);
    }
    c.arg(src).arg(dest).ok();
    fs::read_to_string(digestfile.path())
        .expect("reading skopeo's digest file")
        .trim()
        .to_string()
}

/// `skopeo inspect --raw docker://<image_ref>`: the manifest bytes as served.
pub fn inspect_raw(image_ref: &str, access: &Access) -> Vec<u8> {
    let mut c = skopeo();
    c.args(["inspect", "--raw"]);
    skopeo_access(&mut c, "", access);
    c.arg(format!("docker://{image_ref}")).ok().stdout
}

/// `skopeo inspect docker://<image_ref>` as JSON (`Digest`, `Layers`, `Labels`, ...).
pub fn inspect(image_ref: &str, access: &Access) -> serde_json::Value {
    let mut c = skopeo();
    c.arg("inspect");
    skopeo_access(&mut c, "", access);
    c.arg(format!("docker://{image_ref}")).ok().json()
}

fn archive_is_oci(path: &Path) -> bool {
    let f = fs::File::open(path).unwrap_or_else(|e| panic!("opening {}: {e}", path.display()));
    let mut a = tar::Archive::new(f);
    a.entries()
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
        .flatten()
        .any(|e| {
            e.path().is_ok_and(|p| {
                let p = p.to_string_lossy();
                p.trim_start_matches("./") == "oci-layout"
            })
        })
}
