//! Contexts of each kind, their Containerfile and ignore file.

use std::path::Path;
use std::process::Command;

use tar::EntryType as T;

use super::*;
use crate::build::testutil::{E, Http, tar};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn context_tar() -> Vec<u8> {
    tar(&[
        E("Containerfile", T::Regular, 0o644, 0, 0, b"FROM scratch\n"),
        E("sub/", T::Directory, 0o755, 0, 0, b""),
        E("sub/Other", T::Regular, 0o644, 0, 0, b"FROM other\n"),
        E(".dockerignore", T::Regular, 0o644, 0, 0, b"*.tmp\n"),
    ])
}

#[test]
fn directory_containerfile_then_dockerfile() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("Dockerfile"), "FROM d\n").unwrap();
    let ctx = BuildContext::open(Some(s(tmp.path()))).unwrap();
    assert_eq!(ctx.containerfile(None).unwrap().text, "FROM d\n");
    std::fs::write(tmp.path().join("Containerfile"), "FROM c\n").unwrap();
    assert_eq!(ctx.containerfile(None).unwrap().text, "FROM c\n");
    let empty = tempfile::tempdir().unwrap();
    let ctx = BuildContext::open(Some(s(empty.path()))).unwrap();
    assert!(matches!(
        ctx.containerfile(None),
        Err(ContextError::NoContainerfile(_))
    ));
    assert!(matches!(
        BuildContext::open(Some("/nonexistent/ctx")),
        Err(ContextError::Missing(_))
    ));
}

#[test]
fn ignore_file_choice() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    std::fs::write(root.join("Containerfile"), "FROM x\n").unwrap();
    std::fs::write(root.join(".dockerignore"), "docker\n").unwrap();
    let (ctx, _) = BuildContext::open_build(Some(s(root)), None, None).unwrap();
    assert!(ctx.ignore.excludes("docker"));
    std::fs::write(root.join(".containerignore"), "container\n").unwrap();
    let (ctx, _) = BuildContext::open_build(Some(s(root)), None, None).unwrap();
    assert!(ctx.ignore.excludes("container") && !ctx.ignore.excludes("docker"));
    std::fs::write(root.join("Containerfile.dockerignore"), "beside\n").unwrap();
    let (ctx, _) = BuildContext::open_build(Some(s(root)), None, None).unwrap();
    assert!(ctx.ignore.excludes("beside") && !ctx.ignore.excludes("container"));
    let other = root.join("my.ignore");
    std::fs::write(&other, "flag\n").unwrap();
    let (ctx, _) = BuildContext::open_build(Some(s(root)), None, Some(&other)).unwrap();
    assert!(ctx.ignore.excludes("flag") && !ctx.ignore.excludes("beside"));
    assert!(BuildContext::open_build(Some(s(root)), None, Some(&root.join("none"))).is_err());
    std::fs::write(root.join(".containerignore"), "!\n").unwrap();
    std::fs::remove_file(root.join("Containerfile.dockerignore")).unwrap();
    assert!(matches!(
        BuildContext::open_build(Some(s(root)), None, None),
        Err(ContextError::Ignore { .. })
    ));
}

#[test]
fn tar_archive_contexts() {
    let tmp = tempfile::tempdir().unwrap();
    let plain = tmp.path().join("ctx.tar");
    std::fs::write(&plain, context_tar()).unwrap();
    let zst = tmp.path().join("ctx.tar.zst");
    std::fs::write(
        &zst,
        zstd::stream::encode_all(&context_tar()[..], 1).unwrap(),
    )
    .unwrap();
    for archive in [&plain, &zst] {
        let (ctx, cf) = BuildContext::open_build(Some(s(archive)), None, None).unwrap();
        assert_eq!(cf.text, "FROM scratch\n");
        assert!(ctx.root.join("sub/Other").is_file());
        assert!(ctx.ignore.excludes("a.tmp"));
        // -f inside an archive context is relative to it.
        let (_, cf) = BuildContext::open_build(Some(s(archive)), Some("sub/Other"), None).unwrap();
        assert_eq!(cf.text, "FROM other\n");
    }
    let root = {
        let ctx = BuildContext::open(Some(s(&plain))).unwrap();
        ctx.root.clone()
    };
    assert!(!root.exists(), "the unpacked tree goes with the context");
    let junk = tmp.path().join("junk");
    std::fs::write(&junk, "not a tar").unwrap();
    assert!(matches!(
        BuildContext::open(Some(s(&junk))),
        Err(ContextError::NotADirectory(_))
    ));
}

#[test]
fn url_contexts() {
    let served = tempfile::tempdir().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &context_tar()).unwrap();
    std::fs::write(served.path().join("ctx.tar.gz"), gz.finish().unwrap()).unwrap();
    std::fs::write(served.path().join("Containerfile"), "FROM alone\n").unwrap();
    let http = Http::serve(served.path());
    let (ctx, cf) = BuildContext::open_build(Some(&http.url("ctx.tar.gz")), None, None).unwrap();
    assert_eq!(cf.text, "FROM scratch\n");
    assert!(ctx.root.join("sub/Other").is_file());
    let (ctx, cf) = BuildContext::open_build(Some(&http.url("Containerfile")), None, None).unwrap();
    assert_eq!(cf.text, "FROM alone\n");
    assert_eq!(std::fs::read_dir(&ctx.root).unwrap().count(), 0);
    assert!(matches!(
        BuildContext::open(Some(&http.url("nothing"))),
        Err(ContextError::Download { .. })
    ));
}

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {out:?}");
}

#[test]
fn git_contexts() {
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("work");
    std::fs::create_dir(&work).unwrap();
    git(&work, &["init", "-q"]);
    std::fs::create_dir(work.join("app")).unwrap();
    std::fs::write(work.join("app/Containerfile"), "FROM v1\n").unwrap();
    git(&work, &["add", "."]);
    git(&work, &["commit", "-qm", "one"]);
    git(&work, &["tag", "v1"]);
    std::fs::write(work.join("app/Containerfile"), "FROM v2\n").unwrap();
    git(&work, &["commit", "-qam", "two"]);
    let bare = tmp.path().join("repo.git");
    git(tmp.path(), &["clone", "-q", "--bare", s(&work), s(&bare)]);

    let ctx = remote::git(&format!("{}#:app", s(&bare))).unwrap();
    assert_eq!(ctx.containerfile(None).unwrap().text, "FROM v2\n");
    assert!(!ctx.root.join("../.git").exists());
    let ctx = remote::git(&format!("{}#v1:app", s(&bare))).unwrap();
    assert_eq!(ctx.containerfile(None).unwrap().text, "FROM v1\n");
    assert!(matches!(
        remote::git(&format!("{}#main:../x", s(&bare))),
        Err(ContextError::Git { .. })
    ));
    assert!(remote::is_git("https://example.com/r.git#main:dir"));
    assert!(remote::is_git("git@github.com:o/r.git"));
    assert!(remote::is_git("github.com/o/r"));
    assert!(!remote::is_git("https://example.com/ctx.tar"));
}
