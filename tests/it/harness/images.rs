//! Small real images made offline: a busybox image from Debian's `busybox-static`, images
//! derived from it, and the layouts they are shipped in (docker-archive, OCI archive with gzip
//! layers, OCI layout directory). Everything is deterministic, so digests are stable.

use serde_json::{Value, json};
use std::fs;
use std::path::Path;
use std::sync::OnceLock;

use super::layer::{Entry, Layer, LayerBuilder, gzip, sha256};

/// Creation time written into every config and history entry the makers write.
pub const CREATED: &str = "2024-01-02T03:04:05Z";

pub const MEDIA_OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const MEDIA_OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const MEDIA_OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const MEDIA_OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// One entry of the config's history.
#[derive(Clone, Debug)]
pub struct History {
    pub created_by: String,
    pub empty_layer: bool,
    pub comment: Option<String>,
}

impl History {
    pub fn layer(created_by: &str) -> History {
        History {
            created_by: created_by.into(),
            empty_layer: false,
            comment: None,
        }
    }

    pub fn empty(created_by: &str) -> History {
        History {
            created_by: created_by.into(),
            empty_layer: true,
            comment: None,
        }
    }

    pub fn comment(mut self, c: &str) -> History {
        self.comment = Some(c.into());
        self
    }
}

/// An image: layers, config and the names a docker archive gives it.
#[derive(Clone, Debug)]
pub struct Image {
    pub layers: Vec<Layer>,
    /// `RepoTags` of a docker archive, e.g. `busybox:latest`.
    pub repo_tags: Vec<String>,
    /// The config blob exactly as written.
    pub config: Vec<u8>,
}

impl Image {
    pub fn new(
        layers: Vec<Layer>,
        history: Vec<History>,
        run_config: Value,
        repo_tags: &[&str],
    ) -> Image {
        assert_eq!(
            layers.len(),
            history.iter().filter(|h| !h.empty_layer).count(),
            "one non-empty history entry per layer"
        );
        let history_json: Vec<Value> = history
            .iter()
            .map(|h| {
                let mut o = json!({"created": CREATED, "created_by": h.created_by});
                if let Some(c) = &h.comment {
                    o["comment"] = json!(c);
                }
                if h.empty_layer {
                    o["empty_layer"] = json!(true);
                }
                o
            })
            .collect();
        let config = json!({
            "created": CREATED,
            "architecture": "amd64",
            "os": "linux",
            "config": run_config,
            "rootfs": {
                "type": "layers",
                "diff_ids": layers.iter().map(|l| l.diff_id()).collect::<Vec<_>>(),
            },
            "history": history_json,
        });
        Image {
            layers,
            repo_tags: repo_tags.iter().map(|s| s.to_string()).collect(),
            config: serde_json::to_vec(&config).expect("config to JSON"),
        }
    }

    /// The same image under other docker-archive names.
    pub fn named(&self, repo_tags: &[&str]) -> Image {
        let mut i = self.clone();
        i.repo_tags = repo_tags.iter().map(|s| s.to_string()).collect();
        i
    }

    /// The image ID: the hex sha256 of the config, as Podman prints it in full.
    pub fn id(&self) -> String {
        self.config_digest()
            .strip_prefix("sha256:")
            .expect("sha256")
            .to_string()
    }

    /// The 12-hex short ID of `images`.
    pub fn short_id(&self) -> String {
        self.id()[..12].to_string()
    }

    pub fn config_digest(&self) -> String {
        sha256(&self.config)
    }

    pub fn diff_ids(&self) -> Vec<String> {
        self.layers.iter().map(|l| l.diff_id()).collect()
    }

    /// Sum of the uncompressed layer sizes.
    pub fn layers_size(&self) -> u64 {
        self.layers.iter().map(|l| l.tar.len() as u64).sum()
    }

    /// The OCI manifest (gzip layers).
    pub fn oci_manifest(&self) -> Vec<u8> {
        let m = json!({
            "schemaVersion": 2,
            "mediaType": MEDIA_OCI_MANIFEST,
            "config": {
                "mediaType": MEDIA_OCI_CONFIG,
                "digest": self.config_digest(),
                "size": self.config.len(),
            },
            "layers": self.layers.iter().map(|l| json!({
                "mediaType": MEDIA_OCI_LAYER_GZIP,
                "digest": l.gz_digest(),
                "size": l.gz.len(),
            })).collect::<Vec<_>>(),
        });
        serde_json::to_vec(&m).expect("manifest to JSON")
    }

    /// The digest of [`Image::oci_manifest`].
    pub fn oci_manifest_digest(&self) -> String {
        sha256(&self.oci_manifest())
    }

    /// The files of an OCI layout (path, bytes), `ref_name` as the manifest's
    /// `org.opencontainers.image.ref.name` annotation when given.
    pub fn oci_layout_files(&self, ref_name: Option<&str>) -> Vec<(String, Vec<u8>)> {
        let manifest = self.oci_manifest();
        let mut desc = json!({
            "mediaType": MEDIA_OCI_MANIFEST,
            "digest": sha256(&manifest),
            "size": manifest.len(),
        });
        if let Some(r) = ref_name {
            desc["annotations"] = json!({"org.opencontainers.image.ref.name": r});
        }
        let index = json!({"schemaVersion": 2, "mediaType": MEDIA_OCI_INDEX, "manifests": [desc]});
        let blob = |b: &[u8]| {
            (
                format!("blobs/sha256/{}", &sha256(b)["sha256:".len()..]),
                b.to_vec(),
            )
        };
        let mut files = vec![
            (
                "oci-layout".to_string(),
                br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec(),
            ),
            (
                "index.json".to_string(),
                serde_json::to_vec(&index).expect("index to JSON"),
            ),
        ];
        for l in &self.layers {
            files.push(blob(&l.gz));
        }
        files.push(blob(&self.config));
        files.push(blob(&manifest));
        files.dedup_by(|a, b| a.0 == b.0);
        files
    }

    /// An OCI archive: the OCI layout as a tarball.
    pub fn oci_archive(&self, ref_name: Option<&str>) -> Vec<u8> {
        let mut b = LayerBuilder::new();
        b.push(Entry::dir("blobs"));
        b.push(Entry::dir("blobs/sha256"));
        for (p, bytes) in self.oci_layout_files(ref_name) {
            b.push(Entry::file(&p, bytes));
        }
        b.finish().tar
    }

    /// Writes the OCI layout into `dir` (created).
    pub fn write_oci_layout(&self, dir: &Path, ref_name: Option<&str>) {
        for (p, bytes) in self.oci_layout_files(ref_name) {
            let path = dir.join(p);
            fs::create_dir_all(path.parent().expect("parent"))
                .unwrap_or_else(|e| panic!("creating {}: {e}", path.display()));
            fs::write(&path, bytes).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        }
    }

    /// The files of a docker archive, as `podman save` writes one: `manifest.json`,
    /// `<config-hex>.json`, `<diff-id-hex>.tar` per layer.
    pub fn docker_archive_files(&self) -> Vec<(String, Vec<u8>)> {
        let config_name = format!("{}.json", self.id());
        let layer_names: Vec<String> = self
            .layers
            .iter()
            .map(|l| format!("{}.tar", &l.diff_id()["sha256:".len()..]))
            .collect();
        let manifest = json!([{
            "Config": config_name,
            "RepoTags": self.repo_tags,
            "Layers": layer_names,
        }]);
        let mut files = vec![(config_name, self.config.clone())];
        for (name, l) in layer_names.iter().zip(&self.layers) {
            files.push((name.clone(), l.tar.clone()));
        }
        files.push((
            "manifest.json".into(),
            serde_json::to_vec(&manifest).expect("manifest to JSON"),
        ));
        files.dedup_by(|a, b| a.0 == b.0);
        files
    }

    /// A docker archive (`docker save` / `podman save` format).
    pub fn docker_archive(&self) -> Vec<u8> {
        tar_of_files(&self.docker_archive_files())
    }
}

/// A flat tarball of regular files (the archive formats' outer tar).
pub fn tar_of_files(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut b = LayerBuilder::new();
    for (p, bytes) in files {
        b.push(Entry::file(p, bytes.clone()));
    }
    b.finish().tar
}

/// The applets that get a symlink in `/bin`.
pub const APPLETS: &[&str] = &[
    "sh", "ls", "cat", "echo", "id", "true", "false", "sleep", "env", "mkdir", "rm", "touch",
    "stat", "wc", "head", "test", "printf", "chmod", "chown", "ln", "mv", "cp", "grep",
];

/// `/bin/busybox` of the machine (Debian's `busybox-static`).
pub fn busybox_binary() -> &'static [u8] {
    static BIN: OnceLock<Vec<u8>> = OnceLock::new();
    BIN.get_or_init(|| {
        fs::read("/bin/busybox").unwrap_or_else(|e| {
            panic!(
                "reading /bin/busybox: {e} (apt-get install busybox-static; tests/run-all.sh does)"
            )
        })
    })
}

/// The entries of a minimal busybox root file system.
pub fn busybox_rootfs() -> Vec<Entry> {
    let mut v = vec![Entry::dir("bin")];
    v.push(Entry::file("bin/busybox", busybox_binary()).mode(0o755));
    for a in APPLETS {
        v.push(Entry::symlink(&format!("bin/{a}"), "busybox"));
    }
    v.extend([
        Entry::dir("dev"),
        Entry::dir("etc"),
        Entry::file("etc/group", "root:x:0:\nnogroup:x:65534:\n"),
        Entry::file(
            "etc/passwd",
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
        ),
        Entry::dir("home"),
        Entry::dir("proc").mode(0o555),
        Entry::dir("root").mode(0o700),
        Entry::dir("sys").mode(0o555),
        Entry::dir("tmp").mode(0o1777),
        Entry::dir("usr"),
        Entry::dir("usr/bin"),
        Entry::dir("var"),
    ]);
    v
}

/// The busybox base layer.
pub fn busybox_layer() -> &'static Layer {
    static L: OnceLock<Layer> = OnceLock::new();
    L.get_or_init(|| LayerBuilder::new().extend(busybox_rootfs()).finish())
}

pub fn busybox_run_config() -> Value {
    json!({
        "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
        "Cmd": ["sh"],
    })
}

/// `busybox:latest`: one layer, history with one `empty_layer` entry (the CMD).
pub fn busybox() -> &'static Image {
    static I: OnceLock<Image> = OnceLock::new();
    I.get_or_init(|| {
        Image::new(
            vec![busybox_layer().clone()],
            vec![
                History::layer("/bin/sh -c #(nop) ADD file:busybox in / "),
                History::empty("/bin/sh -c #(nop)  CMD [\"sh\"]"),
            ],
            busybox_run_config(),
            &["busybox:latest"],
        )
    })
}

/// An image on top of busybox's layer with one more layer holding `files`, named
/// `repo_tags`; it shares its base layer with [`busybox`].
pub fn derived(tag: &str, files: &[(&str, &str)], labels: Value) -> Image {
    let mut b = LayerBuilder::new();
    let mut dirs = std::collections::BTreeSet::new();
    for (p, content) in files {
        if let Some((dir, _)) = p.rsplit_once('/')
            && dirs.insert(dir.to_string())
        {
            b.push(Entry::dir(dir));
        }
        b.push(Entry::file(p, content.as_bytes().to_vec()));
    }
    let mut run = busybox_run_config();
    run["Labels"] = labels;
    Image::new(
        vec![busybox_layer().clone(), b.finish()],
        vec![
            History::layer("/bin/sh -c #(nop) ADD file:busybox in / "),
            History::empty("/bin/sh -c #(nop)  CMD [\"sh\"]"),
            History::layer(&format!("/bin/sh -c #(nop) COPY files for {tag}")),
        ],
        run,
        &[tag],
    )
}

/// A flat root file system tarball (for `import`), optionally gzip-compressed.
pub fn rootfs_tar(gz: bool) -> Vec<u8> {
    let tar = busybox_layer().tar.clone();
    if gz { gzip(&tar) } else { tar }
}
