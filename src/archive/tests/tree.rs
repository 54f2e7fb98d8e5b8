//! Well-formed layers: the on-disk tree, its metadata and exact reassembly.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use tar::EntryType;

use super::*;

#[test]
fn plain_tree() {
    let mut t = Tar::new();
    t.dir("etc/").file("etc/hostname", b"box\n").file_owned(
        "etc/run.sh",
        b"#!/bin/sh\n",
        0o755,
        0,
        0,
    );
    t.dir("empty").file("etc/zero", b"");
    let tar = t.finish();
    let x = extract(&tar);
    assert_eq!(x.summary.entries, 5);
    assert_eq!(std::fs::read(x.diff("etc/hostname")).unwrap(), b"box\n");
    assert_eq!(disk_mode(&x.diff("etc/run.sh")), 0o755);
    assert_eq!(disk_mode(&x.diff("etc")), 0o755);
    // Defaults carry no attribute.
    for p in ["etc", "etc/hostname", "etc/run.sh", "empty", "etc/zero"] {
        assert_eq!(stat_xattr(&x.diff(p)), None, "{p}");
    }
    assert_eq!(
        read_stat(&x.diff("etc/run.sh")).unwrap(),
        st(0, 0, 0o755, FileKind::File)
    );
    assert_eq!(
        read_stat(&x.diff("etc")).unwrap(),
        st(0, 0, 0o755, FileKind::Dir)
    );
    // mtimes, directories included (set after their contents).
    for p in ["etc", "etc/hostname", "empty"] {
        assert_eq!(
            std::fs::symlink_metadata(x.diff(p)).unwrap().mtime(),
            1_600_000_000,
            "{p}"
        );
    }
    assert!(x.layer.join(SPLIT_FILE).exists());
    assert!(!x.layer.join(SYMLINK_TABLE).exists());
    assert!(!x.layer.join(SHADOW_DIR).exists());
}

#[test]
fn ownership_and_special_modes() {
    let mut t = Tar::new();
    t.file_owned("suid", b"x", 0o4755, 0, 0)
        .file_owned("sgid", b"x", 0o2711, 0, 50)
        .dir_owned("tmp", 0o1777, 0, 0)
        .file_owned("user", b"u", 0o640, 1000, 1000)
        .file_owned("nobody", b"n", 0o644, 65534, 65534)
        .file_owned("big", b"b", 0o600, 100_000, 100_123)
        .dir_owned("locked", 0o000, 0, 0)
        .file_owned("locked/secret", b"s", 0o000, 0, 0)
        .file_owned("ro", b"r", 0o444, 0, 0);
    let x = extract(&t.finish());
    let cases: &[(&str, u32, Stat)] = &[
        ("suid", 0o755, st(0, 0, 0o4755, FileKind::File)),
        ("sgid", 0o711, st(0, 50, 0o2711, FileKind::File)),
        ("tmp", 0o777, st(0, 0, 0o1777, FileKind::Dir)),
        ("user", 0o640, st(1000, 1000, 0o640, FileKind::File)),
        ("nobody", 0o644, st(65534, 65534, 0o644, FileKind::File)),
        ("big", 0o600, st(100_000, 100_123, 0o600, FileKind::File)),
        ("locked", 0o700, st(0, 0, 0, FileKind::Dir)),
        ("locked/secret", 0o600, st(0, 0, 0, FileKind::File)),
        ("ro", 0o644, st(0, 0, 0o444, FileKind::File)),
    ];
    for (path, disk, want) in cases {
        let p = x.diff(path);
        assert_eq!(disk_mode(&p), *disk, "{path}: disk mode");
        assert_eq!(read_stat(&p).unwrap(), *want, "{path}");
        assert_eq!(
            stat_xattr(&p).as_deref(),
            Some(want.encode().as_str()),
            "{path}"
        );
        let f = std::fs::File::open(&p).unwrap();
        assert_eq!(read_stat_fd(&f, path).unwrap(), *want, "{path} by fd");
    }
    assert_eq!(std::fs::read(x.diff("locked/secret")).unwrap(), b"s");
}

#[test]
fn devices_and_fifos_become_placeholders() {
    let mut t = Tar::new();
    t.device(EntryType::Char, "dev/null", 0o666, 1, 3)
        .device(EntryType::Block, "dev/sda", 0o660, 8, 0)
        .device(EntryType::Fifo, "run/fifo", 0o644, 0, 0);
    let x = extract(&t.finish());
    let cases = [
        (
            "dev/null",
            "0:0:0666:char-1-3",
            FileKind::Char { major: 1, minor: 3 },
            0o666,
        ),
        (
            "dev/sda",
            "0:0:0660:block-8-0",
            FileKind::Block { major: 8, minor: 0 },
            0o660,
        ),
        ("run/fifo", "0:0:0644:pipe", FileKind::Pipe, 0o644),
    ];
    for (path, value, kind, mode) in cases {
        let p = x.diff(path);
        let md = std::fs::symlink_metadata(&p).unwrap();
        assert!(
            md.file_type().is_file() && md.len() == 0,
            "{path} is a placeholder"
        );
        assert_eq!(stat_xattr(&p).as_deref(), Some(value));
        let s = read_stat(&p).unwrap();
        assert_eq!(s, st(0, 0, mode, kind));
        assert_eq!(s.st_mode() & libc::S_IFMT, kind.format_bits());
    }
}

#[test]
fn hardlinks_and_symlinks() {
    let mut t = Tar::new();
    t.file("bin/busybox", b"elf")
        .hardlink("bin/sh", "bin/busybox")
        .hardlink("./bin/ls", "./bin/busybox")
        .symlink("bin/default", "busybox")
        .link(EntryType::Symlink, "bin/owned", "/bin/busybox", 1000)
        .hardlink("bin/owned2", "bin/owned")
        .pax(&[
            ("SCHILY.xattr.user.note", b"hi"),
            ("SCHILY.xattr.security.selinux", b"ctx\0"),
        ])
        .symlink("bin/labelled", "../x");
    let x = extract(&t.finish());
    let ino = |p: &str| std::fs::metadata(x.diff(p)).unwrap().ino();
    assert_eq!(ino("bin/busybox"), ino("bin/sh"));
    assert_eq!(ino("bin/busybox"), ino("bin/ls"));
    assert_eq!(
        std::fs::read_link(x.diff("bin/default")).unwrap(),
        Path::new("busybox")
    );
    assert_eq!(
        std::fs::read_link(x.diff("bin/owned")).unwrap(),
        Path::new("/bin/busybox")
    );
    let table = SymlinkTable::load(&x.layer).unwrap();
    assert_eq!(table.get(b"bin/default"), None);
    assert_eq!(table.stat(b"bin/default"), Stat::SYMLINK_DEFAULT);
    assert_eq!(
        table.stat(b"bin/owned"),
        st(1000, 1000, 0o777, FileKind::Symlink)
    );
    // A hardlink to a symlink shares its metadata.
    assert_eq!(
        table.stat(b"bin/owned2"),
        st(1000, 1000, 0o777, FileKind::Symlink)
    );
    let labelled = table.get(b"bin/labelled").unwrap();
    assert_eq!(labelled.stat, Stat::SYMLINK_DEFAULT);
    assert_eq!(
        labelled.xattrs,
        vec![
            (b"security.selinux".to_vec(), b"ctx\0".to_vec()),
            (b"user.note".to_vec(), b"hi".to_vec())
        ]
    );
    assert_eq!(
        read_stat(&x.diff("bin/owned")).unwrap(),
        Stat::SYMLINK_DEFAULT
    );
}

#[test]
fn long_names() {
    let long_dir = "d".repeat(90);
    let long = format!("{long_dir}/{}", "f".repeat(120));
    let long_target = format!("{long_dir}/{}", "t".repeat(150));
    // GNU long names and link names ('L', 'K').
    let mut t = Tar::gnu();
    t.file(&long, b"gnu")
        .symlink(&format!("{long_dir}/link"), &long_target)
        .hardlink(&format!("{long_dir}/{}", "h".repeat(110)), &long);
    let tar = t.finish();
    assert!(tar.windows(13).any(|w| w == b"././@LongLink"));
    let x = extract(&tar);
    assert_eq!(std::fs::read(x.diff(&long)).unwrap(), b"gnu");
    assert_eq!(
        std::fs::read_link(x.diff(&format!("{long_dir}/link"))).unwrap(),
        Path::new(&long_target)
    );

    // PAX path and linkpath.
    let mut t = Tar::new();
    let pax_name = format!("p/{}", "x".repeat(200));
    t.pax(&[("path", pax_name.as_bytes()), ("mtime", b"1234567890.5")]);
    let h = t.header(EntryType::Regular, 0o644, 0, 0);
    t.raw(h, b"truncated-name", b"pax content");
    t.pax(&[
        ("linkpath", long_target.as_bytes()),
        ("uid", b"4000000"),
        ("gid", b"7"),
    ]);
    let h = t.header(EntryType::Symlink, 0o777, 0, 0);
    t.raw(h, b"p/sym", b"");
    let x = extract(&t.finish());
    assert_eq!(std::fs::read(x.diff(&pax_name)).unwrap(), b"pax content");
    let md = std::fs::metadata(x.diff(&pax_name)).unwrap();
    assert_eq!((md.mtime(), md.mtime_nsec()), (1_234_567_890, 500_000_000));
    assert!(!x.diff("truncated-name").exists());
    assert_eq!(
        std::fs::read_link(x.diff("p/sym")).unwrap(),
        Path::new(&long_target)
    );
    let table = SymlinkTable::load(&x.layer).unwrap();
    assert_eq!(
        table.stat(b"p/sym"),
        st(4_000_000, 7, 0o777, FileKind::Symlink)
    );
}

#[test]
fn xattrs_are_kept_without_privileges() {
    let cap: &[u8] =
        b"\x01\x00\x00\x02\n\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00";
    let mut t = Tar::new();
    t.pax(&[
        ("SCHILY.xattr.security.capability", cap),
        ("SCHILY.xattr.user.foo", b"bar"),
        ("SCHILY.xattr.trusted.overlay.opaque", b"y"),
        ("SCHILY.xattr.system.posix_acl_access", b"\x02\x00\x00\x00"),
    ]);
    t.file_owned("usr/bin/ping", b"elf", 0o755, 0, 0);
    t.pax(&[("SCHILY.xattr.user.dir", b"1")]);
    t.dir("usr/share");
    let x = extract(&t.finish());
    let ping = x.diff("usr/bin/ping");
    assert_eq!(xattr(&ping, "user.foo").as_deref(), Some(&b"bar"[..]));
    assert_eq!(
        xattr(&ping, "user.coracle.xattr.security.capability").as_deref(),
        Some(cap)
    );
    assert_eq!(
        xattr(&ping, "user.coracle.xattr.trusted.overlay.opaque").as_deref(),
        Some(&b"y"[..])
    );
    assert_eq!(xattr(&ping, "security.capability"), None);
    assert_eq!(stat_xattr(&ping), None);
    let f = std::fs::File::open(&ping).unwrap();
    let names: Vec<Vec<u8>> = ownership::read_xattrs(&f)
        .unwrap()
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(
        names,
        vec![
            b"security.capability".to_vec(),
            b"system.posix_acl_access".to_vec(),
            b"trusted.overlay.opaque".to_vec(),
            b"user.foo".to_vec()
        ]
    );
    assert_eq!(
        xattr(&x.diff("usr/share"), "user.dir").as_deref(),
        Some(&b"1"[..])
    );
}

#[test]
fn whiteouts_stay_oci_files() {
    let mut t = Tar::new();
    t.dir("etc")
        .file("etc/.wh.passwd", b"")
        .dir("opt")
        .file("opt/.wh..wh..opq", b"");
    let x = extract(&t.finish());
    let wh = x.diff("etc/.wh.passwd");
    assert!(
        std::fs::symlink_metadata(&wh)
            .unwrap()
            .file_type()
            .is_file()
    );
    let name = wh.file_name().unwrap();
    assert_eq!(
        whiteout::whiteout_target(name),
        Some(std::ffi::OsStr::new("passwd"))
    );
    assert!(whiteout::is_opaque_marker(
        x.diff("opt/.wh..wh..opq").file_name().unwrap()
    ));
}

#[test]
fn duplicates_replace_and_still_reassemble() {
    let mut t = Tar::new();
    t.file("a", b"first")
        .file("a", b"second version")
        .hardlink("keep", "a")
        .file("a", b"third")
        .dir("d")
        .file("d/inner", b"inner content")
        .symlink("d/s", "inner")
        .file("d", b"now a file")
        .symlink("x", "a")
        .file("x", b"x file")
        .file("y", b"y file")
        .symlink("y", "x")
        .dir_owned("z", 0o700, 1000, 1000)
        .dir_owned("z", 0o755, 0, 0)
        .dir_owned("w", 0o755, 0, 0)
        .dir_owned("w", 0o750, 5, 5);
    let x = extract(&t.finish());
    assert_eq!(std::fs::read(x.diff("a")).unwrap(), b"third");
    assert_eq!(std::fs::read(x.diff("keep")).unwrap(), b"second version");
    assert_eq!(std::fs::read(x.diff("d")).unwrap(), b"now a file");
    assert_eq!(std::fs::read(x.diff("x")).unwrap(), b"x file");
    assert_eq!(std::fs::read_link(x.diff("y")).unwrap(), Path::new("x"));
    assert!(x.layer.join(SHADOW_DIR).exists());
    // A directory over a directory updates its metadata, dropping a stale attribute.
    assert_eq!(stat_xattr(&x.diff("z")), None);
    assert_eq!(disk_mode(&x.diff("z")), 0o755);
    assert_eq!(
        read_stat(&x.diff("w")).unwrap(),
        st(5, 5, 0o750, FileKind::Dir)
    );
}

#[test]
fn root_entry() {
    for name in ["./", ".", "/"] {
        let mut t = Tar::new();
        let h = t.header(EntryType::Directory, 0o750, 0, 0);
        t.raw(h, name.as_bytes(), b"");
        t.file("f", b"f");
        let x = extract(&t.finish());
        assert_eq!(disk_mode(&x.layer.join(DIFF_DIR)), 0o750, "{name}");
        assert_eq!(
            std::fs::metadata(x.layer.join(DIFF_DIR)).unwrap().mtime(),
            1_600_000_000
        );
    }
    for kind in [EntryType::Regular, EntryType::Symlink] {
        let mut t = Tar::new();
        let h = t.header(kind, 0o644, 0, 0);
        t.raw(h, b"./", b"");
        let e = refused(&t.finish());
        assert!(
            matches!(
                e,
                ArchiveError::Refused {
                    reason: Refusal::RootTypeChange,
                    ..
                }
            ),
            "{e:?}"
        );
    }
}

#[test]
fn symlinked_parent_inside_is_followed() {
    let mut t = Tar::new();
    t.dir("real")
        .symlink("alias", "real")
        .symlink("sub/up", "../real")
        .file("alias/f", b"via alias");
    t.file("sub/up/g", b"via up");
    // The same file again under its physical name, then under the alias.
    t.file("real/g", b"direct").file("alias/g", b"alias again");
    let x = extract(&t.finish());
    assert_eq!(std::fs::read(x.diff("real/f")).unwrap(), b"via alias");
    assert_eq!(std::fs::read(x.diff("real/g")).unwrap(), b"alias again");
    assert!(x.diff("alias").is_symlink());
}

#[test]
fn global_pax_records_are_kept_raw() {
    let mut t = Tar::new();
    let mut g = t.header(EntryType::XGlobalHeader, 0o644, 0, 0);
    g.set_size(0);
    let data = b"22 comment=hello world\n";
    t.raw(g, b"pax_global_header", data);
    t.file("f", b"f");
    let x = extract(&t.finish());
    assert_eq!(x.summary.entries, 1);
    assert_eq!(std::fs::read(x.diff("f")).unwrap(), b"f");
    assert!(!x.diff("pax_global_header").exists());
}
