//! Arbitrary bytes as a layer stream into the extractor, in a fresh directory each time: any
//! input is extracted or refused, never a panic or a hang; nothing is written outside the
//! layer directory; memory stays bounded (libFuzzer's -rss_limit_mb); and what is accepted
//! reassembles to the identical stream, so its diff ID holds.
#![no_main]

use std::path::{Path, PathBuf};

use coracle_fuzz::archive;
use coracle_fuzz::oci::digest::Digest;
use libfuzzer_sys::fuzz_target;

/// What a layer directory may hold after extraction.
const LAYER_FILES: &[&str] = &[
    archive::DIFF_DIR,
    archive::SPLIT_FILE,
    archive::SYMLINK_TABLE,
    archive::SHADOW_DIR,
];

/// A directory of this process's own, in memory where there is a tmpfs (several times the
/// executions per second of a disk).
fn scratch() -> PathBuf {
    let base = std::env::var_os("TMPDIR")
        .map(PathBuf::from)
        .or_else(|| Path::new("/dev/shm").is_dir().then(|| "/dev/shm".into()))
        .unwrap_or_else(|| "/tmp".into());
    base.join(format!("coracle-fuzz-tar-{}", std::process::id()))
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .expect("the scratch directory is readable")
        .map(|e| {
            e.expect("a directory entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    v.sort();
    v
}

/// Removes a tree the extractor made, whose directories may have lost their write bit.
fn remove(dir: &Path) {
    if std::fs::remove_dir_all(dir).is_ok() || !dir.exists() {
        return;
    }
    let _ = std::process::Command::new("chmod")
        .args(["-R", "u+rwx"])
        .arg(dir)
        .status();
    std::fs::remove_dir_all(dir).expect("the scratch directory is removable");
}

fuzz_target!(|data: &[u8]| {
    let root = scratch();
    remove(&root);
    let layer = root.join("layer");
    std::fs::create_dir_all(&layer).expect("the scratch directory is made");
    let result = archive::extract_layer(data, &layer);
    // Nothing beside the layer directory, nothing in it but the extractor's own files.
    assert_eq!(
        names(&root),
        ["layer"],
        "written outside the layer directory"
    );
    for name in names(&layer) {
        assert!(
            LAYER_FILES.contains(&name.as_str()),
            "unexpected {name} in the layer directory"
        );
    }
    if let Ok(summary) = result {
        assert_eq!(summary.diff_id, Digest::of_bytes(data));
        assert_eq!(summary.tar_size, data.len() as u64);
        let mut out = Vec::new();
        let (digest, size) =
            archive::reassemble_layer(&layer, &mut out).expect("an accepted layer reassembles");
        assert_eq!((digest, size), (summary.diff_id, data.len() as u64));
        assert!(out == data, "the reassembled stream differs");
    }
    remove(&root);
});
