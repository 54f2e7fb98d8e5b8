//! COPY and ADD on small contexts and base layer stacks built here.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use tar::EntryType as T;

use super::*;
use crate::build::context::BuildContext;
use crate::build::syntax::{Copy, Heredoc};
use crate::build::testutil::{E, Http, Seen, entries, layer, tar};

const PASSWD: &[u8] = b"root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n";
const GROUP: &[u8] = b"root:x:0:\nstaff:x:50:app\n";

/// A base image: /etc (passwd, group), /app owned 1000:1000 0750, /link -> /app, /file.
fn base(dir: &Path) -> Vec<PathBuf> {
    vec![layer(
        &dir.join("base"),
        &[
            E("etc/", T::Directory, 0o755, 0, 0, b""),
            E("etc/passwd", T::Regular, 0o644, 0, 0, PASSWD),
            E("etc/group", T::Regular, 0o644, 0, 0, GROUP),
            E("app/", T::Directory, 0o750, 1000, 1000, b""),
            E("link", T::Symlink, 0o777, 0, 0, b"/app"),
            E("file", T::Regular, 0o644, 0, 0, b"x"),
        ],
    )]
}

fn write(p: &Path, content: &str, mode: u32) {
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, content).unwrap();
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

struct Setup {
    _tmp: tempfile::TempDir,
    ctx: BuildContext,
    base: Vec<PathBuf>,
}

/// A context with `files` (path, content, mode) and the base above.
fn setup(files: &[(&str, &str, u32)]) -> Setup {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("ctx");
    std::fs::create_dir(&root).unwrap();
    for (p, c, m) in files {
        write(&root.join(p), c, *m);
    }
    let base = base(tmp.path());
    let ctx = BuildContext::open(Some(root.to_str().unwrap())).unwrap();
    Setup {
        _tmp: tmp,
        ctx,
        base,
    }
}

fn copy(sources: &[&str], dest: &str) -> Copy {
    Copy {
        sources: sources.iter().map(|s| s.to_string()).collect(),
        dest: dest.to_string(),
        ..Copy::default()
    }
}

impl Setup {
    fn req<'a>(&'a self, copy: &'a Copy) -> CopyRequest<'a> {
        CopyRequest {
            copy,
            add: false,
            source: Source::Context(&self.ctx),
            base: &self.base,
            workdir: "/",
            timestamp: None,
        }
    }

    fn layer(&self, copy: &Copy) -> Vec<Seen> {
        layer_of(&self.req(copy))
    }

    fn digest(&self, copy: &Copy) -> Digest {
        sources_digest(&self.req(copy)).unwrap()
    }
}

fn layer_of(req: &CopyRequest<'_>) -> Vec<Seen> {
    let mut out = Vec::new();
    write_layer(req, &mut out).unwrap();
    // The layer is one the store accepts.
    let tmp = tempfile::tempdir().unwrap();
    crate::archive::extract_layer(&out[..], tmp.path()).unwrap();
    entries(&out)
}

fn names(seen: &[Seen]) -> Vec<&str> {
    seen.iter().map(|s| s.name.as_str()).collect()
}

fn find<'a>(seen: &'a [Seen], name: &str) -> &'a Seen {
    seen.iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no {name} in {:?}", names(seen)))
}

#[test]
fn file_into_an_existing_directory_keeps_the_directory() {
    let s = setup(&[("a.txt", "hello", 0o640)]);
    let seen = s.layer(&copy(&["a.txt"], "/app"));
    assert_eq!(names(&seen), ["app/a.txt"]);
    let a = &seen[0];
    assert_eq!((a.kind, a.mode, a.uid, a.gid), (b'0', 0o640, 0, 0));
    assert_eq!(a.data, b"hello");
    // Through a symlink of the base, to where it points.
    let seen = s.layer(&copy(&["a.txt"], "/link/"));
    assert_eq!(names(&seen), ["app/a.txt"]);
}

#[test]
fn file_to_a_new_name_and_missing_parents() {
    let s = setup(&[("a.txt", "hello", 0o644)]);
    let seen = s.layer(&copy(&["a.txt"], "/new/dir/b.txt"));
    assert_eq!(names(&seen), ["new/", "new/dir/", "new/dir/b.txt"]);
    for d in &seen[..2] {
        assert_eq!((d.kind, d.mode, d.uid, d.gid), (b'5', 0o755, 0, 0));
    }
    // A trailing slash makes it a directory.
    let seen = s.layer(&copy(&["a.txt"], "/new/"));
    assert_eq!(names(&seen), ["new/", "new/a.txt"]);
    // Relative to WORKDIR.
    let c = copy(&["a.txt"], "sub/");
    let mut req = s.req(&c);
    req.workdir = "/app";
    assert_eq!(names(&layer_of(&req)), ["app/sub/", "app/sub/a.txt"]);
}

#[test]
fn directory_contents_links_and_several_sources() {
    let s = setup(&[
        ("dir/one", "1", 0o644),
        ("dir/sub/two", "2", 0o755),
        ("other", "o", 0o600),
    ]);
    let root = &s.ctx.root;
    std::os::unix::fs::symlink("one", root.join("dir/link")).unwrap();
    std::fs::hard_link(root.join("dir/one"), root.join("dir/sub/hard")).unwrap();
    let seen = s.layer(&copy(&["dir"], "/dst"));
    assert_eq!(
        names(&seen),
        [
            "dst/",
            "dst/link",
            "dst/one",
            "dst/sub/",
            "dst/sub/hard",
            "dst/sub/two"
        ]
    );
    let link = find(&seen, "dst/link");
    assert_eq!((link.kind, link.link.as_str()), (b'2', "one"));
    let hard = find(&seen, "dst/sub/hard");
    assert_eq!((hard.kind, hard.link.as_str()), (b'1', "dst/one"));
    assert_eq!(find(&seen, "dst/sub/two").mode, 0o755);

    // Several sources: the destination is a directory; a glob.
    let seen = s.layer(&copy(&["other", "dir/one"], "/many"));
    assert_eq!(names(&seen), ["many/", "many/other", "many/one"]);
    let seen = s.layer(&copy(&["dir/o*"], "/g/"));
    assert_eq!(names(&seen), ["g/", "g/one"]);
}

#[test]
fn chown_and_chmod() {
    let s = setup(&[("d/f", "x", 0o644)]);
    let mut c = copy(&["d"], "/out");
    c.chown = Some("app:staff".into());
    c.chmod = Some("0750".into());
    let seen = s.layer(&c);
    for e in &seen {
        assert_eq!((e.uid, e.gid, e.mode), (1000, 50, 0o750), "{}", e.name);
    }
    c.chown = Some("app".into());
    c.chmod = None;
    let f = find(&s.layer(&c), "out/f").clone();
    assert_eq!((f.uid, f.gid, f.mode), (1000, 1000, 0o644));
    c.chown = Some("7:8".into());
    let f = find(&s.layer(&c), "out/f").clone();
    assert_eq!((f.uid, f.gid), (7, 8));
    c.chown = Some("nobody".into());
    let err = sources_digest(&s.req(&c)).unwrap_err();
    assert!(matches!(err, CopyError::Chown { .. }), "{err}");
    c.chown = None;
    // Symbolic: each entry's own mode changes (`X` gives directories execute).
    c.chmod = Some("u+x,g-w,o=r".into());
    assert_eq!(find(&s.layer(&c), "out/f").mode, 0o744);
    c.chmod = Some("go-rx".into());
    assert_eq!(find(&s.layer(&c), "out/").mode & 0o777, 0o700);
    c.chmod = Some("u+q".into());
    assert!(matches!(
        sources_digest(&s.req(&c)),
        Err(CopyError::Chmod(_))
    ));
}

#[test]
fn bad_sources_are_named() {
    let s = setup(&[("a", "x", 0o644)]);
    let err = sources_digest(&s.req(&copy(&["missing"], "/"))).unwrap_err();
    assert!(err.to_string().contains("missing"), "{err}");
    assert!(matches!(err, CopyError::NoSuchSource(_)));
    let err = sources_digest(&s.req(&copy(&["../etc/passwd"], "/"))).unwrap_err();
    assert!(
        matches!(err, CopyError::Escapes(ref p) if p == "../etc/passwd"),
        "{err}"
    );
    let err = sources_digest(&s.req(&copy(&["*.nothing"], "/"))).unwrap_err();
    assert!(matches!(err, CopyError::NoMatch(_)), "{err}");
    // An absolute symlink points inside the context, never to the host's file.
    std::os::unix::fs::symlink("/a", s.ctx.root.join("abs")).unwrap();
    let seen = s.layer(&copy(&["abs"], "/x"));
    assert_eq!(find(&seen, "x").data, b"x");
    std::os::unix::fs::symlink("/etc/hostname", s.ctx.root.join("host")).unwrap();
    assert!(matches!(
        sources_digest(&s.req(&copy(&["host"], "/x"))),
        Err(CopyError::NoSuchSource(_))
    ));
}

#[test]
fn ignored_files_are_invisible() {
    let s = setup(&[
        ("keep.txt", "k", 0o644),
        ("drop.log", "d", 0o644),
        ("logs/a.log", "a", 0o644),
        ("logs/important.log", "i", 0o644),
        (".dockerignore", "*.log\nlogs\n!logs/important.log\n", 0o644),
    ]);
    let ctx = BuildContext::open(Some(s.ctx.root.to_str().unwrap())).unwrap();
    let c = copy(&["."], "/dst/");
    let req = CopyRequest {
        source: Source::Context(&ctx),
        ..s.req(&c)
    };
    let seen = layer_of(&req);
    assert_eq!(
        names(&seen),
        [
            "dst/",
            "dst/.dockerignore",
            "dst/keep.txt",
            "dst/logs/",
            "dst/logs/important.log"
        ]
    );
    let err = sources_digest(&CopyRequest {
        source: Source::Context(&ctx),
        ..s.req(&copy(&["drop.log"], "/"))
    })
    .unwrap_err();
    assert!(matches!(err, CopyError::NoSuchSource(_)), "{err}");
    // --exclude too.
    let mut c = copy(&["."], "/dst/");
    c.exclude = vec!["*.txt".into(), ".*".into()];
    let seen = layer_of(&CopyRequest {
        source: Source::Context(&ctx),
        ..s.req(&c)
    });
    assert_eq!(
        names(&seen),
        ["dst/", "dst/logs/", "dst/logs/important.log"]
    );
}

#[test]
fn digest_follows_what_is_copied() {
    let s = setup(&[("d/f", "aaaa", 0o644), ("d/g", "g", 0o644)]);
    let c = copy(&["d"], "/out");
    let first = s.digest(&c);
    assert_eq!(first, s.digest(&c));
    // Same size, same mtime, different content.
    let f = s.ctx.root.join("d/f");
    let mtime = std::fs::metadata(&f).unwrap().modified().unwrap();
    std::fs::write(&f, "bbbb").unwrap();
    std::fs::File::options()
        .write(true)
        .open(&f)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    let changed = s.digest(&c);
    assert_ne!(first, changed);
    // Mode.
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
    let moded = s.digest(&c);
    assert_ne!(changed, moded);
    // Owner, chmod, destination.
    let mut o = copy(&["d"], "/out");
    o.chown = Some("1:1".into());
    assert_ne!(moded, s.digest(&o));
    o.chown = None;
    o.chmod = Some("700".into());
    assert_ne!(moded, s.digest(&o));
    assert_ne!(moded, s.digest(&copy(&["d"], "/elsewhere")));
    // A new ignore file hides g.
    write(
        &s.ctx.root.join(".containerignore"),
        "d/g\n.containerignore\n",
        0o644,
    );
    let ctx = BuildContext::open(Some(s.ctx.root.to_str().unwrap())).unwrap();
    let ignored = sources_digest(&CopyRequest {
        source: Source::Context(&ctx),
        ..s.req(&c)
    })
    .unwrap();
    assert_ne!(moded, ignored);
    // --timestamp sets every time.
    let mut req = s.req(&c);
    req.timestamp = Some(1234);
    assert!(layer_of(&req).iter().all(|e| e.mtime == 1234));
}

#[test]
fn from_layers_with_true_owners_and_whiteouts() {
    let tmp = tempfile::tempdir().unwrap();
    let lower = layer(
        &tmp.path().join("l1"),
        &[
            E("srv/", T::Directory, 0o755, 0, 0, b""),
            E("srv/gone", T::Regular, 0o644, 0, 0, b"old"),
            E("srv/kept", T::Regular, 0o4755, 33, 44, b"k"),
            E("srv/opq/", T::Directory, 0o700, 5, 5, b""),
            E("srv/opq/hidden", T::Regular, 0o644, 0, 0, b"h"),
        ],
    );
    let upper = layer(
        &tmp.path().join("l2"),
        &[
            E("srv/", T::Directory, 0o755, 0, 0, b""),
            E("srv/.wh.gone", T::Regular, 0o644, 0, 0, b""),
            E("srv/opq/", T::Directory, 0o700, 5, 5, b""),
            E("srv/opq/.wh..wh..opq", T::Regular, 0o644, 0, 0, b""),
            E("srv/opq/new", T::Regular, 0o600, 7, 7, b"n"),
            E("srv/ln", T::Symlink, 0o777, 9, 9, b"kept"),
        ],
    );
    let stage = [lower, upper];
    let base = base(tmp.path());
    let c = copy(&["/srv"], "/copied");
    let req = CopyRequest {
        copy: &c,
        add: false,
        source: Source::Layers(&stage),
        base: &base,
        workdir: "/",
        timestamp: None,
    };
    let seen = layer_of(&req);
    assert_eq!(
        names(&seen),
        [
            "copied/",
            "copied/kept",
            "copied/ln",
            "copied/opq/",
            "copied/opq/new"
        ]
    );
    let kept = find(&seen, "copied/kept");
    assert_eq!((kept.uid, kept.gid, kept.mode), (33, 44, 0o4755));
    let ln = find(&seen, "copied/ln");
    assert_eq!((ln.kind, ln.uid, ln.link.as_str()), (b'2', 9, "kept"));
    assert_eq!(find(&seen, "copied/opq/").uid, 5);
}

#[test]
fn heredocs() {
    let s = setup(&[]);
    let mut c = copy(&["<<EOF"], "/etc/motd");
    c.heredocs = vec![Heredoc {
        name: "EOF".into(),
        content: "\thello\n".into(),
        expand: true,
        strip_tabs: true,
    }];
    let seen = s.layer(&c);
    assert_eq!(names(&seen), ["etc/motd"]);
    assert_eq!(seen[0].data, b"hello\n");
}

#[test]
fn add_unpacks_local_archives() {
    let s = setup(&[("plain.txt", "p", 0o644)]);
    let archive = tar(&[
        E("top/", T::Directory, 0o755, 0, 0, b""),
        E("top/f", T::Regular, 0o640, 12, 34, b"in the tar"),
    ]);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &archive).unwrap();
    std::fs::write(s.ctx.root.join("a.tar.gz"), gz.finish().unwrap()).unwrap();
    let xz = std::process::Command::new("xz")
        .arg("-c")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        let mut stdin = xz.stdin.as_ref().unwrap();
        std::io::Write::write_all(&mut stdin, &archive).unwrap();
    }
    let mut xz = xz;
    drop(xz.stdin.take());
    let out = xz.wait_with_output().unwrap();
    std::fs::write(s.ctx.root.join("a.tar.xz"), out.stdout).unwrap();
    for name in ["a.tar.gz", "a.tar.xz"] {
        let c = copy(&[name], "/opt");
        let mut req = s.req(&c);
        req.add = true;
        let seen = layer_of(&req);
        assert_eq!(names(&seen), ["opt/", "opt/top/", "opt/top/f"], "{name}");
        let f = find(&seen, "opt/top/f");
        assert_eq!(
            (f.uid, f.gid, f.mode, &f.data[..]),
            (12, 34, 0o640, &b"in the tar"[..])
        );
        // COPY does not unpack.
        assert_eq!(names(&s.layer(&c)), ["opt"]);
    }
    // A file that is no archive is copied.
    let c = copy(&["plain.txt"], "/opt/");
    let mut req = s.req(&c);
    req.add = true;
    assert_eq!(names(&layer_of(&req)), ["opt/", "opt/plain.txt"]);
}

#[test]
fn add_downloads_urls() {
    let s = setup(&[]);
    let served = tempfile::tempdir().unwrap();
    std::fs::write(served.path().join("file.txt"), "remote").unwrap();
    let http = Http::serve(served.path());
    let url = http.url("file.txt");
    let c = copy(&[&url], "/dl/");
    let mut req = s.req(&c);
    req.add = true;
    let seen = layer_of(&req);
    assert_eq!(names(&seen), ["dl/", "dl/file.txt"]);
    let f = find(&seen, "dl/file.txt");
    assert_eq!((f.mode, &f.data[..]), (0o600, &b"remote"[..]));
    assert!(f.mtime > 0, "mtime from Last-Modified");

    let good = format!("sha256:{}", Digest::of_bytes(b"remote").hex());
    let mut c = copy(&[&url], "/dl/");
    c.checksum = Some(good);
    let mut req = s.req(&c);
    req.add = true;
    assert_eq!(names(&layer_of(&req)), ["dl/", "dl/file.txt"]);
    let mut c = copy(&[&url], "/dl/");
    c.checksum = Some(format!("sha256:{}", "0".repeat(64)));
    let mut req = s.req(&c);
    req.add = true;
    assert!(matches!(
        sources_digest(&req),
        Err(CopyError::ChecksumMismatch { .. })
    ));
    c.checksum = Some("md5:x".into());
    let mut req = s.req(&c);
    req.add = true;
    assert!(matches!(
        sources_digest(&req),
        Err(CopyError::ChecksumSyntax(_))
    ));
    let c = copy(&[&http.url("missing")], "/dl/");
    let mut req = s.req(&c);
    req.add = true;
    assert!(matches!(
        sources_digest(&req),
        Err(CopyError::Download { .. })
    ));
}

#[test]
fn parents_keep_the_sources_directories() {
    let s = setup(&[
        ("x/a.txt", "xa", 0o644),
        ("y/a.txt", "ya", 0o644),
        ("x/sub/b", "b", 0o600),
    ]);
    let mut c = copy(&["x/a.txt", "./y/a.txt"], "/p");
    c.parents = true;
    assert_eq!(
        names(&s.layer(&c)),
        ["p/", "p/x/", "p/x/a.txt", "p/y/", "p/y/a.txt"]
    );
    // Globs keep what they matched; one source is still put below the destination.
    let mut c = copy(&["*/a.txt"], "/q");
    c.parents = true;
    assert_eq!(
        names(&s.layer(&c)),
        ["q/", "q/x/", "q/x/a.txt", "q/y/", "q/y/a.txt"]
    );
    let mut c = copy(&["x/sub"], "/d/");
    c.parents = true;
    assert_eq!(names(&s.layer(&c)), ["d/", "d/x/", "d/x/sub/", "d/x/sub/b"]);
    // `/./` pivots: only what follows it is kept.
    let mut c = copy(&["x/./sub/b"], "/r/");
    c.parents = true;
    assert_eq!(names(&s.layer(&c)), ["r/", "r/sub/", "r/sub/b"]);
    // Without --parents, only the names.
    let c = copy(&["x/a.txt"], "/n/");
    assert_eq!(names(&s.layer(&c)), ["n/", "n/a.txt"]);
}

#[test]
fn link_layers_do_not_look_at_the_base() {
    let s = setup(&[("f", "x", 0o644)]);
    // The base has /app (a directory) and /link -> /app.
    let mut c = copy(&["f"], "/app");
    assert_eq!(names(&s.layer(&c)), ["app/f"]);
    c.link = true;
    assert_eq!(names(&s.layer(&c)), ["app"]);
    let mut c = copy(&["f"], "/app/sub/");
    c.link = true;
    c.chown = Some("app".into());
    let seen = s.layer(&c);
    assert_eq!(names(&seen), ["app/", "app/sub/", "app/sub/f"]);
    assert_eq!(
        (find(&seen, "app/").uid, find(&seen, "app/").mode),
        (0, 0o755)
    );
    assert_eq!(find(&seen, "app/sub/f").uid, 1000);
    // The same layer (so the same digest) whatever the base.
    let mut on_empty = s.req(&c);
    on_empty.base = &[];
    let mut c2 = c.clone();
    c2.chown = Some("1000".into());
    assert_eq!(
        s.digest(&c2),
        sources_digest(&CopyRequest {
            copy: &c2,
            ..on_empty
        })
        .unwrap()
    );
}
