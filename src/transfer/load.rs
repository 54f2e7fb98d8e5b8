//! `load`: reading docker-archives, OCI archives and OCI layout directories into the store.
//!
//! Order of work, which is what makes a killed load harmless: everything is extracted and
//! verified in a staging directory first (no store lock held exclusively), then flushed with
//! one `syncfs`, and only then, under the exclusive lock, renamed into place with the image
//! record last (`commit.rs`).

use std::fs::{self, File};
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

use crate::oci::config::ImageConfig;
use crate::oci::digest::Digest;
use crate::oci::manifest::{self, Descriptor, DockerArchiveItem, Index, Manifest};
use crate::oci::reference;
use crate::store::{ImageRecord, Store};
use crate::transfer::TransferError;
use crate::transfer::commit::{self, ImagePlan};
use crate::transfer::scan::{self, Scan, StagedLayer};

/// Where `load` reads from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadSource {
    /// A file whose format is found from its contents (docker-archive or OCI archive), or an
    /// OCI layout directory.
    Path(PathBuf),
    /// `oci:DIR[:REF]`
    OciDir {
        dir: PathBuf,
        reference: Option<String>,
    },
    /// `oci-archive:FILE` / `docker-archive:FILE` (contents decide either way)
    Archive(PathBuf),
    Stdin,
}

impl LoadSource {
    /// Parses `-i`'s argument: a path, or `transport:path` as Podman accepts them.
    pub fn parse(input: Option<&str>) -> LoadSource {
        let Some(input) = input else {
            return LoadSource::Stdin;
        };
        if let Some(rest) = input.strip_prefix("oci:") {
            let (dir, reference) = match rest.split_once(':') {
                Some((d, r)) => (d, Some(r.to_string())),
                None => (rest, None),
            };
            return LoadSource::OciDir {
                dir: PathBuf::from(dir),
                reference,
            };
        }
        for prefix in ["oci-archive:", "docker-archive:"] {
            if let Some(rest) = input.strip_prefix(prefix) {
                // A docker-archive reference may carry `:name` or `@index`; the file is what matters.
                let file = rest.split_once(':').map(|(f, _)| f).unwrap_or(rest);
                return LoadSource::Archive(PathBuf::from(file));
            }
        }
        LoadSource::Path(PathBuf::from(input))
    }
}

/// An image a load brought in, with the names this load gave it.
#[derive(Debug)]
pub struct Loaded {
    pub record: ImageRecord,
    pub names: Vec<String>,
}

/// Loads every image the source holds.
pub fn load(store: &mut Store, source: &LoadSource) -> Result<Vec<Loaded>, TransferError> {
    crate::failpoint!("load.start");
    let staging = store.staging("load")?;
    crate::failpoint!("load.staging-created");
    let plans = match source {
        LoadSource::OciDir { dir, reference } => {
            load_oci_dir(store, dir, reference.as_deref(), staging.path())?
        }
        LoadSource::Path(p) if p.is_dir() => load_oci_dir(store, p, None, staging.path())?,
        LoadSource::Path(p) | LoadSource::Archive(p) => {
            let origin = p.display().to_string();
            let file = File::open(p).map_err(|source| TransferError::Archive {
                origin: origin.clone(),
                source,
            })?;
            let reader = BufReader::with_capacity(1 << 20, file);
            plans_from_archive(store, reader, &origin, staging.path())?
        }
        LoadSource::Stdin => {
            let stdin = io::stdin().lock();
            plans_from_archive(
                store,
                BufReader::with_capacity(1 << 20, stdin),
                "stdin",
                staging.path(),
            )?
        }
    };
    let names: Vec<Vec<String>> = plans.iter().map(|p| p.names.clone()).collect();
    let records = commit::commit(store, &staging, plans)?;
    drop(staging);
    crate::failpoint!("load.staging-removed");
    Ok(records
        .into_iter()
        .zip(names)
        .map(|(record, names)| Loaded { record, names })
        .collect())
}

fn plans_from_archive<R: Read>(
    store: &Store,
    reader: R,
    origin: &str,
    staging: &Path,
) -> Result<Vec<ImagePlan>, TransferError> {
    // The archive may be gzip-compressed as a whole (`docker save | gzip`).
    let mut reader = reader;
    let head = scan::read_head(&mut reader, 4).map_err(|source| TransferError::Archive {
        origin: origin.to_string(),
        source,
    })?;
    let chained = io::Cursor::new(head.clone()).chain(reader);
    let archive_err = |source: io::Error| TransferError::Archive {
        origin: origin.to_string(),
        source,
    };
    let mut tar: Box<dyn Read + '_> = match scan::sniff(&head) {
        scan::Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(chained)),
        scan::Compression::Zstd => Box::new(zstd::Decoder::new(chained).map_err(archive_err)?),
        scan::Compression::None => Box::new(chained),
    };
    // Refuse what is not a tar archive before the tar parser quotes its bytes back.
    let first = scan::read_head(&mut tar, 512).map_err(archive_err)?;
    if !scan::is_tar_header(&first) {
        return Err(TransferError::UnknownFormat {
            origin: origin.to_string(),
        });
    }
    let scan = scan::scan_archive(io::Cursor::new(first).chain(tar), origin, staging, store)?;
    if scan.file("manifest.json").is_some() {
        docker_plans(&scan, origin, staging)
    } else if scan.file("index.json").is_some() {
        let index = parse_json::<Index>(
            scan.file("index.json").unwrap_or_default(),
            origin,
            "index.json",
        )?;
        let source = ScanBlobs { scan: &scan };
        oci_plans(&source, &index, None, origin, staging)
    } else {
        Err(TransferError::UnknownFormat {
            origin: origin.to_string(),
        })
    }
}

fn parse_json<T: serde::de::DeserializeOwned>(
    data: &[u8],
    origin: &str,
    what: &str,
) -> Result<T, TransferError> {
    serde_json::from_slice(data).map_err(|source| TransferError::Json {
        origin: origin.to_string(),
        what: what.to_string(),
        source,
    })
}

/// docker-archive: `manifest.json` lists config and layer files per image.
fn docker_plans(
    scan: &Scan,
    origin: &str,
    staging: &Path,
) -> Result<Vec<ImagePlan>, TransferError> {
    let items: Vec<DockerArchiveItem> = parse_json(
        scan.file("manifest.json").unwrap_or_default(),
        origin,
        "manifest.json",
    )?;
    if items.is_empty() {
        return Err(TransferError::Invalid {
            origin: origin.to_string(),
            message: "manifest.json lists no image".into(),
        });
    }
    let mut plans = Vec::new();
    for item in items {
        let config = scan
            .file(&item.config)
            .ok_or_else(|| TransferError::Missing {
                origin: origin.to_string(),
                what: "manifest.json".into(),
                missing: item.config.clone(),
            })?;
        let config_digest = Digest::of_bytes(config);
        // Docker and Podman name the config after its digest; a name that is a digest must match.
        let stem = item
            .config
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .trim_end_matches(".json");
        let stem = stem.strip_prefix("sha256:").unwrap_or(stem);
        if let Ok(named) = Digest::from_hex(stem)
            && named != config_digest
        {
            return Err(TransferError::DigestMismatch {
                origin: origin.to_string(),
                what: format!("config {}", item.config),
                expected: named,
                actual: config_digest,
            });
        }
        let parsed =
            ImageConfig::parse(&config_digest, config).map_err(|e| TransferError::Json {
                origin: origin.to_string(),
                what: item.config.clone(),
                source: e.source,
            })?;
        let mut layers = Vec::new();
        for path in &item.layers {
            if let Some(e) = scan.take_failure(path) {
                return Err(e);
            }
            let layer = scan.layer(path).ok_or_else(|| TransferError::Missing {
                origin: origin.to_string(),
                what: "manifest.json".into(),
                missing: path.clone(),
            })?;
            layers.push(layer.clone());
        }
        check_diff_ids(&parsed, &layers, &item.layers, origin, &item.config)?;
        // The manifest Podman's docker-archive source makes up: Docker schema 2, layers named by
        // their uncompressed digests.
        let descriptors: Vec<manifest::LayerDescriptor> = layers
            .iter()
            .map(|l| manifest::LayerDescriptor {
                media_type: manifest::DOCKER_LAYER_GZIP.into(),
                digest: l.diff_id.clone(),
                size: l.tar_size,
            })
            .collect();
        let (manifest_bytes, _) = manifest::build(
            manifest::Schema::Docker,
            &config_digest,
            config.len() as u64,
            &descriptors,
        );
        let names = item
            .repo_tags
            .iter()
            .map(|t| {
                reference::normalize_docker(t)
                    .map(|r| r.to_string())
                    .map_err(|e| TransferError::Invalid {
                        origin: origin.to_string(),
                        message: format!("manifest.json: bad RepoTag {t:?}: {e}"),
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        plans.push(ImagePlan::new(
            config.to_vec(),
            manifest_bytes,
            manifest::DOCKER_MANIFEST.into(),
            layers,
            names,
            staging,
            origin,
        )?);
    }
    Ok(plans)
}

/// Checks the layers against the config's diff IDs; `names` says where each layer came from
/// in the archive, for the error.
fn check_diff_ids(
    config: &ImageConfig,
    layers: &[StagedLayer],
    names: &[String],
    origin: &str,
    what: &str,
) -> Result<(), TransferError> {
    let want = &config.rootfs.diff_ids;
    if want.len() != layers.len() {
        return Err(TransferError::Invalid {
            origin: origin.to_string(),
            message: format!(
                "{what} lists {} layers (rootfs.diff_ids) but the manifest has {}",
                want.len(),
                layers.len()
            ),
        });
    }
    for (i, (expected, layer)) in want.iter().zip(layers).enumerate() {
        if *expected != layer.diff_id {
            return Err(TransferError::DigestMismatch {
                origin: origin.to_string(),
                what: format!(
                    "layer {} ({})",
                    i + 1,
                    names.get(i).map(String::as_str).unwrap_or("?")
                ),
                expected: expected.clone(),
                actual: layer.diff_id.clone(),
            });
        }
    }
    crate::failpoint!("load.blob.verified");
    Ok(())
}

/// Where the blobs of an OCI layout come from: an archive already scanned, or a directory.
trait BlobSource {
    fn json(&self, digest: &Digest) -> Result<Option<Vec<u8>>, TransferError>;
    fn layer(
        &self,
        desc: &Descriptor,
        staging: &Path,
    ) -> Result<Option<StagedLayer>, TransferError>;
}

struct ScanBlobs<'a> {
    scan: &'a Scan,
}

impl BlobSource for ScanBlobs<'_> {
    fn json(&self, digest: &Digest) -> Result<Option<Vec<u8>>, TransferError> {
        Ok(self
            .scan
            .file(&format!("blobs/sha256/{}", digest.hex()))
            .map(<[u8]>::to_vec))
    }
    fn layer(
        &self,
        desc: &Descriptor,
        _staging: &Path,
    ) -> Result<Option<StagedLayer>, TransferError> {
        let path = format!("blobs/sha256/{}", desc.digest.hex());
        if let Some(e) = self.scan.take_failure(&path) {
            return Err(e);
        }
        Ok(self.scan.layer(&path).cloned())
    }
}

struct DirBlobs<'a> {
    dir: &'a Path,
    store: &'a Store,
    origin: &'a str,
}

impl BlobSource for DirBlobs<'_> {
    fn json(&self, digest: &Digest) -> Result<Option<Vec<u8>>, TransferError> {
        let path = self.dir.join("blobs/sha256").join(digest.hex());
        match fs::read(&path) {
            Ok(d) => Ok(Some(d)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(TransferError::Entry {
                origin: self.origin.to_string(),
                path: path.display().to_string(),
                source,
            }),
        }
    }
    fn layer(
        &self,
        desc: &Descriptor,
        staging: &Path,
    ) -> Result<Option<StagedLayer>, TransferError> {
        if let Some(known) = scan::known_layer(self.store, &desc.digest) {
            return Ok(Some(known));
        }
        let path = self.dir.join("blobs/sha256").join(desc.digest.hex());
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(TransferError::Entry {
                    origin: self.origin.to_string(),
                    path: path.display().to_string(),
                    source,
                });
            }
        };
        let what = format!("blob {}", desc.digest);
        let dir = staging
            .join("layers")
            .join(format!("dir-{}", desc.digest.hex()));
        let layer = scan::stage_layer(
            BufReader::with_capacity(1 << 20, file),
            &what,
            &dir,
            staging,
            self.origin,
        )?;
        if layer.blob_digest != desc.digest {
            return Err(TransferError::DigestMismatch {
                origin: self.origin.to_string(),
                what,
                expected: desc.digest.clone(),
                actual: layer.blob_digest,
            });
        }
        crate::failpoint!("load.layer.extracted");
        Ok(Some(layer))
    }
}

fn load_oci_dir(
    store: &Store,
    dir: &Path,
    reference: Option<&str>,
    staging: &Path,
) -> Result<Vec<ImagePlan>, TransferError> {
    let origin = dir.display().to_string();
    let index_path = dir.join("index.json");
    let data = fs::read(&index_path).map_err(|source| match source.kind() {
        io::ErrorKind::NotFound => TransferError::UnknownFormat {
            origin: origin.clone(),
        },
        _ => TransferError::Entry {
            origin: origin.clone(),
            path: "index.json".into(),
            source,
        },
    })?;
    let index: Index = parse_json(&data, &origin, "index.json")?;
    let source = DirBlobs {
        dir,
        store,
        origin: &origin,
    };
    oci_plans(&source, &index, reference, &origin, staging)
}

/// The image manifests an OCI index leads to: nested indexes are followed, choosing the
/// host's platform when an index offers several.
fn oci_plans(
    source: &dyn BlobSource,
    index: &Index,
    reference: Option<&str>,
    origin: &str,
    staging: &Path,
) -> Result<Vec<ImagePlan>, TransferError> {
    let mut plans = Vec::new();
    for desc in &index.manifests {
        let ref_name = desc.annotations.get(manifest::REF_NAME).cloned();
        if let Some(want) = reference
            && ref_name.as_deref() != Some(want)
        {
            continue;
        }
        let Some(manifest_desc) = pick_manifest(source, desc, origin, 0)? else {
            continue;
        };
        let names = match &ref_name {
            Some(r) => name_from_oci_ref(r).into_iter().collect(),
            None => Vec::new(),
        };
        plans.push(oci_plan(source, &manifest_desc, names, origin, staging)?);
    }
    if plans.is_empty() {
        return Err(match reference {
            Some(r) => TransferError::NoSuchReference {
                origin: origin.to_string(),
                reference: r.to_string(),
            },
            None => TransferError::Invalid {
                origin: origin.to_string(),
                message: "index.json lists no image".into(),
            },
        });
    }
    Ok(plans)
}

fn read_verified(
    source: &dyn BlobSource,
    desc: &Descriptor,
    origin: &str,
    what: &str,
) -> Result<Vec<u8>, TransferError> {
    let data = source
        .json(&desc.digest)?
        .ok_or_else(|| TransferError::Missing {
            origin: origin.to_string(),
            what: what.to_string(),
            missing: format!("blob {}", desc.digest),
        })?;
    let actual = Digest::of_bytes(&data);
    if actual != desc.digest {
        return Err(TransferError::DigestMismatch {
            origin: origin.to_string(),
            what: format!("blob {}", desc.digest),
            expected: desc.digest.clone(),
            actual,
        });
    }
    if data.len() as u64 != desc.size {
        return Err(TransferError::SizeMismatch {
            origin: origin.to_string(),
            what: format!("blob {}", desc.digest),
            expected: desc.size,
            actual: data.len() as u64,
        });
    }
    Ok(data)
}

fn pick_manifest(
    source: &dyn BlobSource,
    desc: &Descriptor,
    origin: &str,
    depth: u32,
) -> Result<Option<Descriptor>, TransferError> {
    if manifest::is_manifest(&desc.media_type) {
        return Ok(Some(desc.clone()));
    }
    if !manifest::is_index(&desc.media_type) || depth > 4 {
        return Ok(None);
    }
    let data = read_verified(source, desc, origin, "index.json")?;
    let nested: Index = parse_json(&data, origin, &format!("index {}", desc.digest))?;
    let arch = manifest::host_arch();
    let chosen = nested
        .manifests
        .iter()
        .find(|m| {
            m.platform
                .as_ref()
                .is_some_and(|p| p.architecture == arch && p.os == "linux")
        })
        .or_else(|| nested.manifests.iter().find(|m| m.platform.is_none()));
    match chosen {
        Some(m) => pick_manifest(source, m, origin, depth + 1),
        None => Err(TransferError::Invalid {
            origin: origin.to_string(),
            message: format!("index {} has no image for linux/{arch}", desc.digest),
        }),
    }
}

fn oci_plan(
    source: &dyn BlobSource,
    desc: &Descriptor,
    names: Vec<String>,
    origin: &str,
    staging: &Path,
) -> Result<ImagePlan, TransferError> {
    let manifest_bytes = read_verified(source, desc, origin, "index.json")?;
    let what = format!("manifest {}", desc.digest);
    let m: Manifest = parse_json(&manifest_bytes, origin, &what)?;
    let config = read_verified(source, &m.config, origin, &what)?;
    let parsed =
        ImageConfig::parse(&m.config.digest, &config).map_err(|e| TransferError::Json {
            origin: origin.to_string(),
            what: format!("config {}", m.config.digest),
            source: e.source,
        })?;
    let mut layers = Vec::new();
    for l in &m.layers {
        let layer = source
            .layer(l, staging)?
            .ok_or_else(|| TransferError::Missing {
                origin: origin.to_string(),
                what: what.clone(),
                missing: format!("layer blob {}", l.digest),
            })?;
        if layer.dir.is_some() {
            let size = layer
                .compressed
                .as_ref()
                .map(|(c, _)| c.size)
                .unwrap_or(layer.tar_size);
            if size != l.size {
                return Err(TransferError::SizeMismatch {
                    origin: origin.to_string(),
                    what: format!("layer blob {}", l.digest),
                    expected: l.size,
                    actual: size,
                });
            }
        }
        let mut layer = layer;
        if let Some((c, _)) = layer.compressed.as_mut() {
            c.media_type = l.media_type.clone();
        }
        layers.push(layer);
    }
    let layer_names: Vec<String> = m
        .layers
        .iter()
        .map(|l| format!("blob {}", l.digest))
        .collect();
    check_diff_ids(
        &parsed,
        &layers,
        &layer_names,
        origin,
        &format!("config {}", m.config.digest),
    )?;
    let media_type = m
        .media_type
        .clone()
        .unwrap_or_else(|| desc.media_type.clone());
    ImagePlan::new(
        config,
        manifest_bytes,
        media_type,
        layers,
        names,
        staging,
        origin,
    )
}

/// The image name an OCI layout's `ref.name` annotation gives: a full reference is a name; a
/// bare tag (`latest`), as `skopeo copy oci:DIR:latest` writes, names nothing.
fn name_from_oci_ref(r: &str) -> Option<String> {
    if !r.contains('/') && !r.contains(':') {
        return None;
    }
    reference::normalize_docker(r).ok().map(|r| r.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sources() {
        assert_eq!(LoadSource::parse(None), LoadSource::Stdin);
        assert_eq!(
            LoadSource::parse(Some("x.tar")),
            LoadSource::Path("x.tar".into())
        );
        assert_eq!(
            LoadSource::parse(Some("oci:/d:latest")),
            LoadSource::OciDir {
                dir: "/d".into(),
                reference: Some("latest".into())
            }
        );
        assert_eq!(
            LoadSource::parse(Some("oci:/d")),
            LoadSource::OciDir {
                dir: "/d".into(),
                reference: None
            }
        );
        assert_eq!(
            LoadSource::parse(Some("docker-archive:/a.tar:busybox:latest")),
            LoadSource::Archive("/a.tar".into())
        );
    }
}
