//! Reading the archives coracle writes, independently of coracle: a docker archive, an OCI
//! archive or layout, a `dir:` (docker-dir) directory. Layers come back uncompressed, so
//! their digests are diff IDs.

use flate2::read::GzDecoder;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::Path;

use super::layer::sha256;

/// One image found in an archive.
#[derive(Debug)]
pub struct ReadImage {
    /// Names as the archive gives them (`RepoTags`, or the OCI `ref.name` annotation).
    pub names: Vec<String>,
    pub config: Vec<u8>,
    /// Uncompressed layer tarballs, bottom first.
    pub layers: Vec<Vec<u8>>,
    /// The manifest digest, for OCI layouts and dir: (docker archives have no manifest).
    pub manifest_digest: Option<String>,
}

impl ReadImage {
    pub fn id(&self) -> String {
        sha256(&self.config)["sha256:".len()..].to_string()
    }

    pub fn diff_ids(&self) -> Vec<String> {
        self.layers.iter().map(|l| sha256(l)).collect()
    }

    /// `rootfs.diff_ids` of the config.
    pub fn config_diff_ids(&self) -> Vec<String> {
        let c: Value = serde_json::from_slice(&self.config).expect("config JSON");
        c["rootfs"]["diff_ids"]
            .as_array()
            .expect("rootfs.diff_ids")
            .iter()
            .map(|v| v.as_str().expect("diff id string").to_string())
            .collect()
    }
}

/// The regular files of a tarball by path (leading `./` removed).
pub fn tar_files(tar: &[u8]) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut a = tar::Archive::new(tar);
    for e in a.entries().expect("reading the archive") {
        let mut e = e.expect("reading an archive entry");
        if e.header().entry_type() != tar::EntryType::Regular {
            continue;
        }
        let p = e.path().expect("entry path").to_string_lossy().into_owned();
        let p = p.trim_start_matches("./").to_string();
        let mut v = Vec::new();
        e.read_to_end(&mut v).expect("reading an archive entry");
        out.insert(p, v);
    }
    out
}

/// The bytes, gunzipped when they are gzip (zstd is not expected from coracle's savers).
pub fn decompress(bytes: &[u8]) -> Vec<u8> {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut v = Vec::new();
        GzDecoder::new(bytes)
            .read_to_end(&mut v)
            .expect("gunzip a layer");
        v
    } else {
        assert!(
            !bytes.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]),
            "zstd layer: not handled by the test reader"
        );
        bytes.to_vec()
    }
}

/// All images of a docker archive.
pub fn read_docker_archive(tar: &[u8]) -> Vec<ReadImage> {
    read_docker_files(&tar_files(tar))
}

fn read_docker_files(files: &BTreeMap<String, Vec<u8>>) -> Vec<ReadImage> {
    let manifest: Value = serde_json::from_slice(
        files
            .get("manifest.json")
            .expect("docker archive without manifest.json"),
    )
    .expect("manifest.json is JSON");
    manifest
        .as_array()
        .expect("manifest.json is an array")
        .iter()
        .map(|m| {
            let get = |name: &str| -> Vec<u8> {
                files
                    .get(name.trim_start_matches("./"))
                    .unwrap_or_else(|| panic!("docker archive names {name} but lacks it"))
                    .clone()
            };
            ReadImage {
                names: m["RepoTags"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .map(|v| v.as_str().unwrap_or_default().to_string())
                            .collect()
                    })
                    .unwrap_or_default(),
                config: get(m["Config"].as_str().expect("Config")),
                layers: m["Layers"]
                    .as_array()
                    .expect("Layers")
                    .iter()
                    .map(|l| decompress(&get(l.as_str().expect("layer name"))))
                    .collect(),
                manifest_digest: None,
            }
        })
        .collect()
}

/// All images of an OCI layout given as its files (path -> bytes).
pub fn read_oci_files(files: &BTreeMap<String, Vec<u8>>) -> Vec<ReadImage> {
    let blob = |digest: &str| -> Vec<u8> {
        let (alg, hex) = digest.split_once(':').expect("digest with algorithm");
        let b = files
            .get(&format!("blobs/{alg}/{hex}"))
            .unwrap_or_else(|| panic!("OCI layout lacks blob {digest}"))
            .clone();
        assert_eq!(sha256(&b), digest, "blob content does not match its name");
        b
    };
    let index: Value = serde_json::from_slice(
        files
            .get("index.json")
            .expect("OCI layout without index.json"),
    )
    .expect("index.json is JSON");
    assert!(
        files.contains_key("oci-layout"),
        "OCI layout without oci-layout"
    );
    let mut out = Vec::new();
    for desc in index["manifests"].as_array().expect("index manifests") {
        let digest = desc["digest"].as_str().expect("manifest digest");
        let manifest_bytes = blob(digest);
        let manifest: Value = serde_json::from_slice(&manifest_bytes).expect("manifest JSON");
        let name = desc["annotations"]["org.opencontainers.image.ref.name"]
            .as_str()
            .map(str::to_string);
        out.push(ReadImage {
            names: name.into_iter().collect(),
            config: blob(
                manifest["config"]["digest"]
                    .as_str()
                    .expect("config digest"),
            ),
            layers: manifest["layers"]
                .as_array()
                .expect("manifest layers")
                .iter()
                .map(|l| decompress(&blob(l["digest"].as_str().expect("layer digest"))))
                .collect(),
            manifest_digest: Some(digest.to_string()),
        });
    }
    out
}

/// All images of an OCI archive.
pub fn read_oci_archive(tar: &[u8]) -> Vec<ReadImage> {
    read_oci_files(&tar_files(tar))
}

/// The regular files below `dir`, by relative path.
pub fn dir_files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(base: &Path, d: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in fs::read_dir(d).unwrap_or_else(|e| panic!("reading {}: {e}", d.display())) {
            let p = e.expect("dir entry").path();
            let m = p.symlink_metadata().expect("stat");
            if m.is_dir() {
                walk(base, &p, out);
            } else if m.is_file() {
                let rel = p.strip_prefix(base).expect("below base");
                out.insert(
                    rel.to_string_lossy().into_owned(),
                    fs::read(&p).expect("read"),
                );
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// All images of an OCI layout directory.
pub fn read_oci_dir(dir: &Path) -> Vec<ReadImage> {
    read_oci_files(&dir_files(dir))
}

/// The image of a `dir:` directory (containers/image's directory transport, Podman's
/// `--format docker-dir`): `manifest.json`, `version`, blobs named by hex digest.
pub fn read_docker_dir(dir: &Path) -> ReadImage {
    let files = dir_files(dir);
    let version = files.get("version").expect("docker-dir without version");
    assert!(
        String::from_utf8_lossy(version).starts_with("Directory Transport Version: "),
        "docker-dir version file: {:?}",
        String::from_utf8_lossy(version)
    );
    let manifest_bytes = files
        .get("manifest.json")
        .expect("docker-dir manifest.json");
    let manifest: Value = serde_json::from_slice(manifest_bytes).expect("manifest JSON");
    let blob = |digest: &str| -> Vec<u8> {
        let hex = digest.strip_prefix("sha256:").expect("sha256 digest");
        let b = files
            .get(hex)
            .unwrap_or_else(|| panic!("docker-dir lacks blob {digest}"))
            .clone();
        assert_eq!(sha256(&b), digest, "blob content does not match its name");
        b
    };
    ReadImage {
        names: Vec::new(),
        config: blob(
            manifest["config"]["digest"]
                .as_str()
                .expect("config digest"),
        ),
        layers: manifest["layers"]
            .as_array()
            .expect("layers")
            .iter()
            .map(|l| decompress(&blob(l["digest"].as_str().expect("layer digest"))))
            .collect(),
        manifest_digest: Some(sha256(manifest_bytes)),
    }
}
