//! Round trips through [`create_layer`]: tar → extract → create → extract gives the same tree
//! and metadata, and a tar already in the canonical form comes back byte for byte.

use std::collections::{BTreeMap, HashMap};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use tar::{EntryType, Header};

use super::*;

/// Everything about an extracted tree that a layer tar carries.
#[derive(Debug, PartialEq, Eq)]
struct Node {
    stat: Stat,
    /// File content or symlink target.
    data: Vec<u8>,
    xattrs: Vec<(Vec<u8>, Vec<u8>)>,
    mtime: i64,
    /// The first path (in sorted order) sharing this inode.
    link_group: String,
}

fn snapshot(layer: &Path) -> BTreeMap<String, Node> {
    let table = SymlinkTable::load(layer).unwrap();
    let mut out = BTreeMap::new();
    let mut inodes: HashMap<u64, String> = HashMap::new();
    let root = layer.join(DIFF_DIR);
    walk(&root, "", &table, &mut inodes, &mut out);
    out
}

fn walk(
    root: &Path,
    rel: &str,
    table: &SymlinkTable,
    inodes: &mut HashMap<u64, String>,
    out: &mut BTreeMap<String, Node>,
) {
    let dir = if rel.is_empty() {
        root.to_path_buf()
    } else {
        root.join(rel)
    };
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    for name in names {
        let path = if rel.is_empty() {
            name.clone()
        } else {
            format!("{rel}/{name}")
        };
        let full = root.join(&path);
        let md = std::fs::symlink_metadata(&full).unwrap();
        let group = inodes
            .entry(md.ino())
            .or_insert_with(|| path.clone())
            .clone();
        let node = if md.file_type().is_symlink() {
            let meta = table.get(path.as_bytes()).cloned();
            Node {
                stat: meta.as_ref().map_or(Stat::SYMLINK_DEFAULT, |m| m.stat),
                data: std::fs::read_link(&full)
                    .unwrap()
                    .into_os_string()
                    .into_encoded_bytes(),
                xattrs: meta.map(|m| m.xattrs).unwrap_or_default(),
                mtime: md.mtime(),
                link_group: group,
            }
        } else {
            let f = std::fs::File::open(&full).unwrap();
            Node {
                stat: read_stat(&full).unwrap(),
                data: if md.is_file() {
                    std::fs::read(&full).unwrap()
                } else {
                    Vec::new()
                },
                xattrs: ownership::read_xattrs(&f).unwrap(),
                mtime: md.mtime(),
                link_group: group,
            }
        };
        let is_dir = md.is_dir();
        out.insert(path.clone(), node);
        if is_dir {
            walk(root, &path, table, inodes, out);
        }
    }
}

fn create(layer: &Path) -> (Vec<u8>, CreateSummary) {
    let table = SymlinkTable::load(layer).unwrap();
    let (summary, out) = create_layer(&layer.join(DIFF_DIR), &table, Vec::new())
        .unwrap_or_else(|e| panic!("create: {e:#?}"));
    assert_eq!(summary.diff_id, Digest::of_bytes(&out));
    assert_eq!(summary.tar_size, out.len() as u64);
    (out, summary)
}

/// tar → extract → create → extract: the same tree; and create is a fixed point from there.
fn round_trip(tar: &[u8]) -> Vec<u8> {
    let first = extract(tar);
    let (created, _) = create(&first.layer);
    let second = extract(&created);
    assert_eq!(snapshot(&first.layer), snapshot(&second.layer));
    let (again, _) = create(&second.layer);
    assert!(again == created, "create is not reproducible");
    created
}

/// A header in the canonical form (`create`'s module documentation).
fn canonical(kind: EntryType, name: &str, link: &str, mode: u32, uid: u64, gid: u64) -> Header {
    let mut h = Header::new_ustar();
    let n = name.len().min(100);
    h.as_old_mut().name[..n].copy_from_slice(&name.as_bytes()[..n]);
    let l = link.len().min(100);
    h.as_old_mut().linkname[..l].copy_from_slice(&link.as_bytes()[..l]);
    h.set_mode(mode);
    h.set_uid(uid);
    h.set_gid(gid);
    h.set_size(0);
    h.set_mtime(1_600_000_000);
    h.set_entry_type(kind);
    h
}

fn append(t: &mut Tar, mut h: Header, data: &[u8]) {
    h.set_size(data.len() as u64);
    h.set_cksum();
    t.b.append(&h, data).unwrap();
}

#[test]
fn canonical_tar_comes_back_byte_for_byte() {
    let long = format!("long-{}", "n".repeat(140));
    let mut t = Tar::new();
    append(
        &mut t,
        canonical(EntryType::Regular, ".wh.gone", "", 0o644, 0, 0),
        b"",
    );
    append(
        &mut t,
        canonical(EntryType::Directory, "a/", "", 0o755, 0, 0),
        b"",
    );
    append(
        &mut t,
        canonical(EntryType::Regular, "a/.wh..wh..opq", "", 0o644, 0, 0),
        b"",
    );
    t.pax(&[
        ("SCHILY.xattr.user.x", b"v\n1"),
        ("SCHILY.xattr.user.y", b""),
    ]);
    append(
        &mut t,
        canonical(EntryType::Regular, "a/file", "", 0o640, 1000, 1000),
        b"hello\n",
    );
    append(
        &mut t,
        canonical(EntryType::Link, "a/hard", "a/file", 0o640, 1000, 1000),
        b"",
    );
    t.pax(&[(
        "SCHILY.xattr.security.capability",
        &[1, 0, 0, 2, 0, 0x20, 0, 0][..],
    )]);
    append(
        &mut t,
        canonical(EntryType::Regular, "a/ping", "", 0o755, 0, 0),
        b"elf",
    );
    append(
        &mut t,
        canonical(EntryType::Regular, "a/setuid", "", 0o4755, 0, 50),
        b"#!\n",
    );
    append(
        &mut t,
        canonical(EntryType::Directory, "b/", "", 0o1777, 0, 0),
        b"",
    );
    let mut chr = canonical(EntryType::Char, "b/chr", "", 0o620, 0, 5);
    chr.set_device_major(136).unwrap();
    chr.set_device_minor(3).unwrap();
    append(&mut t, chr, b"");
    append(
        &mut t,
        canonical(EntryType::Fifo, "b/fifo", "", 0o600, 1000, 1000),
        b"",
    );
    append(
        &mut t,
        canonical(EntryType::Symlink, "b/link", "../a/file", 0o777, 1000, 100),
        b"",
    );
    append(
        &mut t,
        canonical(EntryType::Directory, "c/", "", 0o000, 0, 0),
        b"",
    );
    let long_path = format!("c/{long}");
    t.pax(&[("path", long_path.as_bytes()), ("uid", b"3000000")]);
    append(
        &mut t,
        canonical(EntryType::Regular, &long_path, "", 0o644, 0, 7),
        b"deep\n",
    );
    let mut old = canonical(EntryType::Regular, "c/old", "", 0o444, 0, 0);
    old.set_mtime(0);
    append(&mut t, old, b"1970\n");
    t.pax(&[("SCHILY.xattr.user.dir", b"on a dir")]);
    append(
        &mut t,
        canonical(EntryType::Directory, "d/", "", 0o2775, 0, 50),
        b"",
    );
    let tar = t.finish();

    let x = extract(&tar);
    let (created, summary) = create(&x.layer);
    if created != tar {
        let show = |b: &[u8]| String::from_utf8_lossy(b).replace('\0', ".");
        let at = created
            .chunks(512)
            .zip(tar.chunks(512))
            .position(|(a, b)| a != b)
            .unwrap_or(0);
        let block = |b: &[u8]| show(&b[(at * 512).min(b.len())..((at + 1) * 512).min(b.len())]);
        panic!(
            "created tar ({} bytes) differs from the canonical one ({} bytes) at block {at}:\n--- want\n{}\n--- got\n{}",
            created.len(),
            tar.len(),
            block(&tar),
            block(&created)
        );
    }
    assert_eq!(summary.diff_id, x.summary.diff_id);
    assert_eq!(summary.entries, x.summary.entries);
    round_trip(&tar);
}

#[test]
fn any_tar_round_trips() {
    // Not canonical: `./` prefixes, GNU headers, unsorted, a root entry, owners by PAX,
    // hardlinks to symlinks, a devices beside its own whiteout.
    let mut t = Tar::gnu();
    t.dir_owned("./", 0o700, 0, 0)
        .file("./z", b"last")
        .dir("./m/")
        .file_owned("./m/b", b"b", 0o600, 5, 6)
        .file("./m/a", b"a")
        .hardlink("./m/a2", "./m/a")
        .link(EntryType::Symlink, "m/s", "a", 42)
        .hardlink("m/s2", "m/s")
        .device(EntryType::Block, "m/blk", 0o660, 8, 1)
        .file("m/.wh.old", b"")
        .pax(&[("uid", b"4000000"), ("gid", b"4000001")])
        .file("m/big-owner", b"x")
        .pax(&[("SCHILY.xattr.trusted.overlay.x", b"y")])
        .dir("m/d/");
    let created = round_trip(&t.finish());
    // The root's mode made it in as `./`.
    let x = extract(&created);
    assert_eq!(read_stat(&x.diff("")).unwrap().mode, 0o700);
}

#[test]
fn default_root_is_not_written_and_sockets_are_left_out() {
    let mut t = Tar::new();
    t.file("f", b"1");
    let x = extract(&t.finish());
    let diff = x.layer.join(DIFF_DIR);
    // A socket placeholder as the overlay writes one.
    let sock = diff.join("sock");
    std::fs::write(&sock, b"").unwrap();
    rustix::fs::setxattr(
        &sock,
        ownership::STAT_XATTR,
        b"0:0:0755:socket",
        rustix::fs::XattrFlags::empty(),
    )
    .unwrap();
    std::os::unix::net::UnixListener::bind(diff.join("real-sock")).unwrap();
    let (created, summary) = create(&x.layer);
    let names: Vec<String> = tar::Archive::new(&created[..])
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect();
    assert_eq!(names, ["f"]);
    assert_eq!(summary.entries, 1);
}

#[test]
fn excluded_paths_are_left_out() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("upper");
    std::fs::create_dir_all(tree.join("etc")).unwrap();
    std::fs::write(tree.join("etc/hosts"), b"").unwrap();
    std::fs::write(tree.join("etc/passwd"), b"x\n").unwrap();
    let table = SymlinkTable::default();
    let exclude = [b"etc/hosts".to_vec()];
    let (_, out) =
        crate::archive::create_layer_excluding(&tree, &table, &exclude, Vec::new()).unwrap();
    let mut names = Vec::new();
    for e in tar::Archive::new(out.as_slice()).entries().unwrap() {
        names.push(e.unwrap().path().unwrap().display().to_string());
    }
    assert_eq!(names, ["etc/", "etc/passwd"]);
}
