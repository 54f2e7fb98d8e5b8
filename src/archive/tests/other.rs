//! Interop with GNU tar, compression, the unprivileged run and the benchmark.

use std::io::Read;
use std::path::Path;

use super::*;

#[test]
fn gnu_tar_interop() {
    // A tree packed by GNU tar, with hardlinks, long names and xattrs, reassembles exactly.
    if std::process::Command::new("tar")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("skipping: no tar(1)");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    let deep = src.join("a".repeat(60)).join("b".repeat(60));
    std::fs::create_dir_all(&deep).unwrap();
    std::fs::write(deep.join("c".repeat(80)), vec![1u8; 100_000]).unwrap();
    std::fs::write(src.join("small"), b"s").unwrap();
    std::fs::hard_link(src.join("small"), src.join("hard")).unwrap();
    std::os::unix::fs::symlink("small", src.join("sym")).unwrap();
    rustix::fs::setxattr(
        src.join("small"),
        "user.k",
        b"v",
        rustix::fs::XattrFlags::empty(),
    )
    .unwrap();
    for format in ["gnu", "posix"] {
        let mut cmd = std::process::Command::new("tar");
        if format == "posix" {
            cmd.arg("--xattrs");
        }
        let out = cmd
            .arg("-C")
            .arg(&src)
            .args([&format!("--format={format}"), "-cf", "-", "."])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let x = extract(&out.stdout);
        assert_eq!(std::fs::read(x.diff("hard")).unwrap(), b"s");
        if format == "posix" {
            assert_eq!(
                xattr(&x.diff("small"), "user.k").as_deref(),
                Some(&b"v"[..])
            );
        }
    }
}

#[test]
fn compressed_layer_round_trip() {
    let mut t = Tar::new();
    t.file("f", &[3u8; 5000]);
    let tar = t.finish();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, &tar).unwrap();
    let gz = gz.finish().unwrap();
    let (c, mut r) = decompress(&gz[..]).unwrap();
    assert_eq!(c, Compression::Gzip);
    let mut plain = Vec::new();
    r.read_to_end(&mut plain).unwrap();
    let x = extract(&plain);
    assert_eq!(x.summary.diff_id, Digest::of_bytes(&tar));
}

/// Runs this module's tests again as `nobody` (no CAP_CHOWN, no mknod, no `security.*`),
/// when the suite runs as root and `setpriv(1)` is there.
#[test]
fn same_results_without_privileges() {
    const GUARD: &str = "CORACLE_ARCHIVE_TESTS_UNPRIVILEGED";
    if std::env::var_os(GUARD).is_some() || !rustix::process::geteuid().is_root() {
        return;
    }
    let setpriv = ["/usr/bin/setpriv", "/bin/setpriv"]
        .into_iter()
        .find(|p| Path::new(p).exists());
    let Some(setpriv) = setpriv else {
        eprintln!("skipping: setpriv(1) not installed");
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    std::os::unix::fs::chown(tmp.path(), Some(65534), Some(65534)).unwrap();
    let exe = std::env::current_exe().unwrap();
    let out = std::process::Command::new(setpriv)
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
        ])
        .arg(&exe)
        .args(["archive::", "--test-threads=2"])
        .env(GUARD, "1")
        .env("TMPDIR", tmp.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains(" passed; 0 failed"),
        "as nobody: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Synthetic image: 4 layers, 400 MB, 18.6k files. Run with
/// `cargo test --release --lib archive::tests::other::bench_extract -- --ignored --nocapture`.
#[test]
#[ignore]
fn bench_extract() {
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut layers = Vec::new();
    for l in 0..4 {
        let mut t = Tar::new();
        let mut bytes = 0usize;
        for i in 0..4650 {
            if i % 20 == 0 {
                t.dir(&format!("l{l}/d{}", i / 20));
            }
            // 50 large files of ~1.6 MB, the rest small (0-8 KiB).
            let size = if i % 93 == 0 {
                1_600_000
            } else {
                (next() % 8192) as usize
            };
            let data: Vec<u8> = (0..size).map(|j| (j as u8) ^ (i as u8)).collect();
            bytes += size;
            t.file_owned(&format!("l{l}/d{}/f{i}", i / 20), &data, 0o644, 0, 0);
        }
        let tar = t.finish();
        eprintln!(
            "layer {l}: {} MB content, {} MB tar",
            bytes >> 20,
            tar.len() >> 20
        );
        layers.push(tar);
    }
    let tmp = tempfile::tempdir().unwrap();
    let start = std::time::Instant::now();
    let mut dirs = Vec::new();
    for (i, tar) in layers.iter().enumerate() {
        let layer = tmp.path().join(format!("layer{i}"));
        std::fs::create_dir(&layer).unwrap();
        let t0 = std::time::Instant::now();
        extract_layer(&tar[..], &layer).unwrap();
        eprintln!("extract layer {i}: {:?}", t0.elapsed());
        dirs.push(layer);
    }
    eprintln!("extract total (sequential): {:?}", start.elapsed());
    // Two layers at a time, as a pull on two cores would.
    let start = std::time::Instant::now();
    std::thread::scope(|s| {
        for pair in layers
            .chunks(2)
            .collect::<Vec<_>>()
            .iter()
            .enumerate()
            .map(|(j, c)| (j, *c))
        {
            let (j, chunk) = pair;
            let root = tmp.path().to_path_buf();
            s.spawn(move || {
                for (k, tar) in chunk.iter().enumerate() {
                    let layer = root.join(format!("par{j}-{k}"));
                    std::fs::create_dir(&layer).unwrap();
                    extract_layer(&tar[..], &layer).unwrap();
                }
            });
        }
    });
    eprintln!("extract total (2 threads): {:?}", start.elapsed());
    let start = std::time::Instant::now();
    for d in &dirs {
        reassemble_layer(d, std::io::sink()).unwrap();
    }
    eprintln!("reassemble total: {:?}", start.elapsed());
}
