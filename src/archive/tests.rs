//! Extraction and reassembly tests on tars built here, hostile ones included.

use std::io::Read;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use tar::{EntryType, Header};

use super::*;
use crate::oci::digest::Digest;

/// Builds test tars entry by entry, with full control of the header fields.
struct Tar {
    b: tar::Builder<Vec<u8>>,
    gnu: bool,
}

impl Tar {
    fn new() -> Self {
        Tar {
            b: tar::Builder::new(Vec::new()),
            gnu: false,
        }
    }

    fn gnu() -> Self {
        Tar {
            b: tar::Builder::new(Vec::new()),
            gnu: true,
        }
    }

    fn header(&self, kind: EntryType, mode: u32, uid: u64, gid: u64) -> Header {
        let mut h = if self.gnu {
            Header::new_gnu()
        } else {
            Header::new_ustar()
        };
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_uid(uid);
        h.set_gid(gid);
        h.set_mtime(1_600_000_000);
        h.set_size(0);
        h
    }

    /// Appends with the name written verbatim into the header (no validation).
    fn raw(&mut self, mut h: Header, name: &[u8], data: &[u8]) -> &mut Self {
        let field = &mut h.as_old_mut().name;
        field.fill(0);
        field[..name.len()].copy_from_slice(name);
        h.set_size(data.len() as u64);
        h.set_cksum();
        self.b.append(&h, data).unwrap();
        self
    }

    fn file_owned(&mut self, name: &str, data: &[u8], mode: u32, uid: u64, gid: u64) -> &mut Self {
        let mut h = self.header(EntryType::Regular, mode, uid, gid);
        h.set_size(data.len() as u64);
        self.b.append_data(&mut h, name, data).unwrap();
        self
    }

    fn file(&mut self, name: &str, data: &[u8]) -> &mut Self {
        self.file_owned(name, data, 0o644, 0, 0)
    }

    fn dir_owned(&mut self, name: &str, mode: u32, uid: u64, gid: u64) -> &mut Self {
        let h = self.header(EntryType::Directory, mode, uid, gid);
        self.raw(h, name.as_bytes(), b"")
    }

    fn dir(&mut self, name: &str) -> &mut Self {
        self.dir_owned(name, 0o755, 0, 0)
    }

    fn link(&mut self, kind: EntryType, name: &str, target: &str, uid: u64) -> &mut Self {
        let mut h = self.header(kind, 0o777, uid, uid);
        self.b.append_link(&mut h, name, target).unwrap();
        self
    }

    fn symlink(&mut self, name: &str, target: &str) -> &mut Self {
        self.link(EntryType::Symlink, name, target, 0)
    }

    fn hardlink(&mut self, name: &str, target: &str) -> &mut Self {
        self.link(EntryType::Link, name, target, 0)
    }

    fn device(
        &mut self,
        kind: EntryType,
        name: &str,
        mode: u32,
        major: u32,
        minor: u32,
    ) -> &mut Self {
        let mut h = self.header(kind, mode, 0, 0);
        h.set_device_major(major).unwrap();
        h.set_device_minor(minor).unwrap();
        self.raw(h, name.as_bytes(), b"")
    }

    fn pax(&mut self, records: &[(&str, &[u8])]) -> &mut Self {
        self.b
            .append_pax_extensions(records.iter().copied())
            .unwrap();
        self
    }

    fn finish(self) -> Vec<u8> {
        self.b.into_inner().unwrap()
    }
}

struct Extracted {
    _tmp: tempfile::TempDir,
    layer: PathBuf,
    summary: ExtractSummary,
}

impl Extracted {
    fn diff(&self, rel: &str) -> PathBuf {
        self.layer.join(DIFF_DIR).join(rel)
    }
}

fn try_extract(
    tar: &[u8],
) -> (
    tempfile::TempDir,
    PathBuf,
    Result<ExtractSummary, ArchiveError>,
) {
    let tmp = tempfile::tempdir().unwrap();
    let layer = tmp.path().join("layer");
    std::fs::create_dir(&layer).unwrap();
    let r = extract_layer(tar, &layer);
    (tmp, layer, r)
}

/// Extracts, then checks the reassembled stream is the original byte for byte.
fn extract(tar: &[u8]) -> Extracted {
    let (tmp, layer, r) = try_extract(tar);
    let summary = r.unwrap_or_else(|e| panic!("extract: {e:#?}"));
    assert_eq!(summary.diff_id, Digest::of_bytes(tar));
    assert_eq!(summary.tar_size, tar.len() as u64);
    let mut out = Vec::new();
    let (digest, size) =
        reassemble_layer(&layer, &mut out).unwrap_or_else(|e| panic!("reassemble: {e:#?}"));
    assert_eq!(size, tar.len() as u64);
    assert!(out == tar, "reassembled stream differs");
    assert_eq!(digest, summary.diff_id);
    Extracted {
        _tmp: tmp,
        layer,
        summary,
    }
}

fn refused(tar: &[u8]) -> ArchiveError {
    let (_tmp, _layer, r) = try_extract(tar);
    r.expect_err("hostile tar was accepted")
}

fn xattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 4096];
    match rustix::fs::lgetxattr(path, name, &mut buf[..]) {
        Ok(n) => Some(buf[..n].to_vec()),
        Err(rustix::io::Errno::NODATA) => None,
        Err(e) => panic!("getxattr {}: {e}", path.display()),
    }
}

fn stat_xattr(path: &Path) -> Option<String> {
    xattr(path, ownership::STAT_XATTR).map(|v| String::from_utf8(v).unwrap())
}

fn disk_mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap()
        .permissions()
        .mode()
        & 0o7777
}

fn st(uid: u32, gid: u32, mode: u32, kind: FileKind) -> Stat {
    Stat {
        uid,
        gid,
        mode,
        kind,
    }
}

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
    let x = extract(&t.finish());
    assert_eq!(std::fs::read(x.diff("real/f")).unwrap(), b"via alias");
    assert_eq!(std::fs::read(x.diff("real/g")).unwrap(), b"via up");
}

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
/// `cargo test --release --lib archive::tests::bench_extract -- --ignored --nocapture`.
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
