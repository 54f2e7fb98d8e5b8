//! Shorthands on a test's store: load a made image, inspect, snapshot what is listed and
//! what is on disk.

use serde_json::Value;
use std::fs;
use std::path::{Path, PathBuf};

use super::cmd::Output;
use super::images::Image;
use super::users::TestEnv;

impl TestEnv {
    /// Writes `image` as a docker archive `<file>` in the test's directory; its path.
    pub fn docker_archive(&self, file: &str, image: &Image) -> PathBuf {
        self.write(file, image.docker_archive())
    }

    /// Writes `image` as an OCI archive `<file>` with `ref_name`; its path.
    pub fn oci_archive(&self, file: &str, image: &Image, ref_name: Option<&str>) -> PathBuf {
        self.write(file, image.oci_archive(ref_name))
    }

    /// Writes `image` as an OCI layout directory `<dir>`; its path.
    pub fn oci_layout(&self, dir: &str, image: &Image, ref_name: Option<&str>) -> PathBuf {
        let p = self.path(dir);
        image.write_oci_layout(&p, ref_name);
        self.give(&p);
        p
    }

    /// `coracle load -i <path>`, asserting success.
    pub fn load(&self, path: &Path) -> Output {
        self.coracle().arg("load").arg("-i").arg(path).ok()
    }

    /// Loads `image` from a docker archive, asserting success.
    pub fn load_image(&self, image: &Image) -> Output {
        let file = format!("{}.docker.tar", image.id());
        let p = self.docker_archive(&file, image);
        self.load(&p)
    }

    /// `coracle image inspect <name>`: the one object of its array.
    pub fn inspect(&self, name: &str) -> Value {
        let o = self.coracle().args(["image", "inspect", name]).ok();
        let v = o.json();
        match v.as_array() {
            Some(a) if a.len() == 1 => a[0].clone(),
            _ => o.fail("expected a JSON array of one image"),
        }
    }

    /// What `images -a --no-trunc` prints: the store as a user sees it.
    pub fn listing(&self) -> String {
        self.coracle().args(["images", "-a", "--no-trunc"]).stdout()
    }

    /// Full IDs of all images (`images -a -q --no-trunc`), sorted.
    pub fn image_ids(&self) -> Vec<String> {
        let out = self
            .coracle()
            .args(["images", "-a", "-q", "--no-trunc"])
            .stdout();
        let mut v: Vec<String> = out
            .lines()
            .map(|l| l.trim().trim_start_matches("sha256:").to_string())
            .filter(|l| !l.is_empty())
            .collect();
        v.sort();
        v.dedup();
        v
    }

    /// Every path in the store (`--root`) with its type and size, except the staging
    /// directory `tmp/`, the event log and lock files: what must not change when a command
    /// fails.
    pub fn store_tree(&self) -> Vec<String> {
        fn walk(base: &Path, d: &Path, out: &mut Vec<String>) {
            let Ok(rd) = fs::read_dir(d) else { return };
            for e in rd.flatten() {
                let p = e.path();
                let rel = p
                    .strip_prefix(base)
                    .expect("below base")
                    .to_string_lossy()
                    .into_owned();
                let name = e.file_name().to_string_lossy().into_owned();
                // The event log grows with every command: it is not part of what a failed
                // command must leave as it was.
                if rel == "tmp" || rel == "events" || name.ends_with(".lock") || name == "lock" {
                    continue;
                }
                let Ok(m) = p.symlink_metadata() else {
                    continue;
                };
                if m.is_dir() {
                    out.push(format!("{rel}/"));
                    walk(base, &p, out);
                } else {
                    out.push(format!("{rel} {}", m.len()));
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.root(), &self.root(), &mut out);
        out.sort();
        out
    }
}

/// `RootFS.Layers` of an inspect object.
pub fn rootfs_layers(inspect: &Value) -> Vec<String> {
    inspect["RootFS"]["Layers"]
        .as_array()
        .unwrap_or_else(|| panic!("no RootFS.Layers in {inspect:#}"))
        .iter()
        .map(|v| v.as_str().expect("layer string").to_string())
        .collect()
}

/// A JSON array of strings as a `Vec` (null counts as empty).
pub fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|s| s.as_str().expect("string").to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// Compares layers by diff ID and, on a mismatch, shows the headers that differ.
pub fn assert_same_layers(what: &str, want: &[Vec<u8>], got: &[Vec<u8>]) {
    use super::layer::{list_tar, sha256};
    assert_eq!(want.len(), got.len(), "{what}: number of layers");
    for (i, (w, g)) in want.iter().zip(got).enumerate() {
        if sha256(w) == sha256(g) {
            continue;
        }
        let (lw, lg) = (list_tar(w), list_tar(g));
        let mut diff = String::new();
        for l in &lw {
            if !lg.contains(l) {
                diff.push_str(&format!("- {l}\n"));
            }
        }
        for l in &lg {
            if !lw.contains(l) {
                diff.push_str(&format!("+ {l}\n"));
            }
        }
        if diff.is_empty() {
            diff = "(same headers in the same set; order, padding or end blocks differ)\n".into();
        }
        panic!(
            "{what}: layer {i} differs: want {} ({} bytes), got {} ({} bytes)\n{diff}",
            sha256(w),
            w.len(),
            sha256(g),
            g.len()
        );
    }
}
