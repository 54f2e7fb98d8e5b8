//! Hostile, truncated and unsupported tars are refused, naming the entry.

use tar::{EntryType, Header};

use super::*;

fn assert_refused(tar: &[u8], entry: &str, reason: Refusal) {
    match refused(tar) {
        ArchiveError::Refused {
            entry: e,
            reason: r,
        } => {
            assert_eq!((e.as_str(), r), (entry, reason));
        }
        other => panic!("{entry}: unexpected {other:?}"),
    }
}

#[test]
fn hostile_entries_are_refused() {
    let file = |name: &[u8]| {
        let mut t = Tar::new();
        let h = t.header(EntryType::Regular, 0o644, 0, 0);
        t.raw(h, name, b"evil");
        t.finish()
    };
    assert_refused(&file(b"../evil"), "../evil", Refusal::DotDot);
    assert_refused(&file(b"a/../../evil"), "a/../../evil", Refusal::DotDot);
    assert_refused(&file(b"a/.."), "a/..", Refusal::DotDot);
    assert_refused(&file(b"/etc/passwd"), "/etc/passwd", Refusal::Absolute);

    // Parents that leave the layer through symlinks.
    for (link, target) in [
        ("out", "/"),
        ("out", "../.."),
        ("out", "/tmp"),
        ("deep/out", "../../.."),
    ] {
        let mut t = Tar::new();
        t.symlink(link, target)
            .file(&format!("{link}/etc/evil"), b"evil");
        assert_refused(&t.finish(), &format!("{link}/etc/evil"), Refusal::Escapes);
    }

    // Hardlinks.
    let hard = |target: &[u8]| {
        let mut t = Tar::new();
        t.file("f", b"f");
        let mut h = t.header(EntryType::Link, 0o644, 0, 0);
        h.as_old_mut().linkname[..target.len()].copy_from_slice(target);
        t.raw(h, b"link", b"");
        t.finish()
    };
    assert_refused(
        &hard(b"../f"),
        "link",
        Refusal::HardlinkTarget("leaves the layer"),
    );
    assert_refused(
        &hard(b"/etc/passwd"),
        "link",
        Refusal::HardlinkTarget("leaves the layer"),
    );
    assert_refused(
        &hard(b"missing"),
        "link",
        Refusal::HardlinkTarget("is not an earlier entry"),
    );
    assert_refused(
        &hard(b"./"),
        "link",
        Refusal::HardlinkTarget("is the root directory"),
    );
    {
        let mut t = Tar::new();
        t.symlink("esc", "/etc").hardlink("link", "esc/passwd");
        assert_refused(
            &t.finish(),
            "link",
            Refusal::HardlinkTarget("leaves the layer"),
        );
    }
    {
        let mut t = Tar::new();
        t.dir("d").hardlink("link", "d");
        assert_refused(
            &t.finish(),
            "link",
            Refusal::HardlinkTarget("is a directory"),
        );
    }

    // Our own attribute namespace.
    for name in [
        "user.coracle.stat",
        "user.coracle.xattr.security.capability",
    ] {
        let mut t = Tar::new();
        t.pax(&[(&format!("SCHILY.xattr.{name}"), b"0:0:4755:file")])
            .file("f", b"f");
        assert_refused(&t.finish(), "f", Refusal::ReservedXattr(name.to_string()));
    }

    // NUL inside a PAX path.
    let mut t = Tar::new();
    t.pax(&[("path", b"a\0b")]).file("x", b"x");
    assert_refused(&t.finish(), "a\0b", Refusal::NulInName);
}

#[test]
fn nothing_is_written_outside() {
    let tmp = tempfile::tempdir().unwrap();
    let layer = tmp.path().join("layer");
    std::fs::create_dir(&layer).unwrap();
    let mut t = Tar::new();
    t.symlink("out", "../../").file("out/escaped", b"x");
    assert!(extract_layer(&t.finish()[..], &layer).is_err());
    assert!(!tmp.path().join("escaped").exists());
    assert!(!tmp.path().parent().unwrap().join("escaped").exists());
}

#[test]
fn truncated_tars_are_errors() {
    let mut t = Tar::new();
    t.file("first", &[7u8; 700]).file("second", b"2");
    let tar = t.finish();
    // Inside a header, inside content, inside padding, inside the second header.
    for (cut, entry) in [
        (100, "first header"),
        (600, "first"),
        (1300, "first"),
        (1600, "header after first"),
    ] {
        match try_extract(&tar[..cut]).2 {
            Err(ArchiveError::Truncated { entry: e }) => assert_eq!(e, entry, "cut at {cut}"),
            other => panic!("cut at {cut}: {other:?}"),
        }
    }
    // A PAX record with no entry after it.
    let mut t = Tar::new();
    t.pax(&[("path", b"x")]);
    assert!(matches!(
        try_extract(&t.finish()).2,
        Err(ArchiveError::Truncated { .. })
    ));
}

#[test]
fn trailer_and_trailing_bytes_are_kept() {
    let mut t = Tar::new();
    t.file("f", b"f");
    let mut tar = t.finish();
    // Pad to a 10 KiB record like tar(1), then garbage.
    tar.resize(10240, 0);
    tar.extend_from_slice(b"trailing garbage");
    let x = extract(&tar);
    assert_eq!(x.summary.entries, 1);
    // No trailer at all: end of stream at a header boundary.
    let mut t = Tar::new();
    t.file("f", b"f");
    let tar = t.finish();
    extract(&tar[..1024]);
    extract(&tar[..1536]);
    extract(b"");
    // Content hidden after a single zero block is refused, like Go's reader does.
    let mut hidden = tar[..1536].to_vec();
    hidden.extend_from_slice(&tar[..1024]);
    assert!(matches!(
        try_extract(&hidden).2,
        Err(ArchiveError::Malformed { .. })
    ));
}

#[test]
fn sparse_and_unknown_types_are_unsupported() {
    let mut t = Tar::gnu();
    let h = t.header(EntryType::GNUSparse, 0o644, 0, 0);
    t.raw(h, b"sparse", b"");
    assert!(
        matches!(refused(&t.finish()), ArchiveError::Unsupported { entry, .. } if entry == "sparse")
    );
    let mut t = Tar::new();
    t.pax(&[("GNU.sparse.major", b"1"), ("GNU.sparse.minor", b"0")])
        .file("s", b"x");
    assert!(
        matches!(refused(&t.finish()), ArchiveError::Unsupported { entry, .. } if entry == "s")
    );
    let mut t = Tar::new();
    let h = t.header(EntryType::new(b'V'), 0o644, 0, 0);
    t.raw(h, b"volume", b"");
    assert!(
        matches!(refused(&t.finish()), ArchiveError::Unsupported { entry, .. } if entry == "volume")
    );
}

#[test]
fn bad_checksum_is_malformed() {
    let mut t = Tar::new();
    t.file("f", b"f");
    let mut tar = t.finish();
    tar[0] = b'g';
    assert!(matches!(
        try_extract(&tar).2,
        Err(ArchiveError::Malformed { .. })
    ));
}

#[test]
fn changed_content_fails_reassembly() {
    let mut t = Tar::new();
    t.file("dir/f", b"content").file("g", b"gggg");
    let x = extract(&t.finish());
    std::fs::write(x.diff("dir/f"), b"cont").unwrap();
    match reassemble_layer(&x.layer, std::io::sink()) {
        Err(ArchiveError::ContentMismatch { entry, .. }) => assert_eq!(entry, "dir/f"),
        other => panic!("{other:?}"),
    }
    std::fs::remove_file(x.diff("dir/f")).unwrap();
    match reassemble_layer(&x.layer, std::io::sink()) {
        Err(e @ ArchiveError::ContentMismatch { .. }) => {
            assert!(e.to_string().contains("dir/f"), "{e}")
        }
        other => panic!("{other:?}"),
    }
    // Same length, different bytes: caught by the digest.
    std::fs::write(x.diff("dir/f"), b"CONTENT").unwrap();
    assert!(matches!(
        reassemble_layer(&x.layer, std::io::sink()),
        Err(ArchiveError::DigestMismatch { .. })
    ));
}

#[test]
fn mutated_tars_never_panic() {
    let mut t = Tar::gnu();
    t.pax(&[("SCHILY.xattr.user.a", b"1"), ("mtime", b"1.5")])
        .dir("d")
        .file("d/f", &[1u8; 1500])
        .symlink("d/s", "f")
        .hardlink("d/h", "d/f")
        .device(EntryType::Char, "d/c", 0o600, 1, 2)
        .file(&"n".repeat(150), b"long");
    let tar = t.finish();
    // Header blocks, whose checksum is fixed after mutation so that parsing goes deeper.
    let headers: Vec<usize> = (0..tar.len() / 512)
        .filter(|i| {
            let h = Header::from_byte_slice(&tar[i * 512..(i + 1) * 512]);
            let mut copy = h.clone();
            copy.set_cksum();
            h.as_bytes().iter().any(|b| *b != 0) && copy.as_bytes() == h.as_bytes()
        })
        .collect();
    assert!(headers.len() >= 8);
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let mut accepted = 0;
    for round in 0..300 {
        let mut bytes = tar.clone();
        for _ in 0..1 + round % 4 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let block = headers[(seed % headers.len() as u64) as usize];
            let at = block * 512 + ((seed >> 20) % 512) as usize;
            bytes[at] = (seed >> 40) as u8;
            if round % 2 == 0 {
                let mut h = Header::from_byte_slice(&bytes[block * 512..(block + 1) * 512]).clone();
                h.set_cksum();
                bytes[block * 512..(block + 1) * 512].copy_from_slice(h.as_bytes());
            }
        }
        // Errors are fine; panics are not. Whatever is accepted must reassemble exactly.
        let (_tmp, layer, r) = try_extract(&bytes);
        if r.is_ok() {
            accepted += 1;
            let mut out = Vec::new();
            reassemble_layer(&layer, &mut out).unwrap();
            assert!(out == bytes, "round {round}");
        }
    }
    assert!(accepted > 20, "only {accepted} mutated tars were accepted");
}
