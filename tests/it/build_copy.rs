//! `build` with COPY and ADD through the whole command: the context's files in the image,
//! the ignore file, `--from` another stage, `--chown`, ADD of a local archive, and the cache
//! rule that a changed file under `COPY . .` misses (and everything after it), while a
//! changed ignored file does not.

use std::fs;

use crate::harness::images::busybox;
use crate::harness::{TestEnv, User, for_each_user, for_users};

/// Builds `dir` (a context with a Containerfile) as `tag`; returns the output.
fn build(env: &TestEnv, dir: &std::path::Path, tag: &str) -> crate::harness::cmd::Output {
    env.coracle()
        .args(["build", "--pull=never", "-t", tag])
        .arg(dir)
        .ok()
}

fn run_in(env: &TestEnv, image: &str, script: &str) -> String {
    env.coracle()
        .args([
            "run",
            "--rm",
            "--network",
            "none",
            image,
            "sh",
            "-c",
            script,
        ])
        .ok()
        .stdout()
}

fn cache_hits(o: &crate::harness::cmd::Output) -> usize {
    o.stdout().matches("--> Using cache").count() + o.stderr().matches("--> Using cache").count()
}

const COPY_ALL: &str =
    "FROM busybox\nRUN echo one > /one\nCOPY . /app\nRUN cat /app/a.txt > /copied\nENV DONE=1\n";

#[test]
fn a_changed_file_under_copy_misses_from_that_step_on() {
    for_each_user(|env| {
        env.load_image(busybox());
        let ctx = env.mkdir("ctx");
        env.write("ctx/Containerfile", COPY_ALL);
        env.write("ctx/a.txt", "first\n");
        env.write("ctx/sub/b.txt", "b\n");
        build(env, &ctx, "localhost/copy:1");
        assert_eq!(
            run_in(env, "localhost/copy:1", "cat /copied /app/sub/b.txt"),
            "first\nb\n"
        );
        // Unchanged: every step after FROM comes from the cache.
        let again = build(env, &ctx, "localhost/copy:1");
        assert_eq!(cache_hits(&again), 4, "{again}");
        // Same size, same mtime, other content: COPY and what follows run again.
        let a = ctx.join("a.txt");
        let mtime = fs::metadata(&a).unwrap().modified().unwrap();
        env.write("ctx/a.txt", "secnd\n");
        fs::File::options()
            .write(true)
            .open(&a)
            .unwrap()
            .set_modified(mtime)
            .unwrap();
        let changed = build(env, &ctx, "localhost/copy:2");
        assert_eq!(cache_hits(&changed), 1, "{changed}");
        assert_eq!(run_in(env, "localhost/copy:2", "cat /copied"), "secnd\n");
    });
}

#[test]
fn the_ignore_file_hides_files_and_their_changes() {
    for_users(&[User::Sub], |env| {
        env.load_image(busybox());
        let ctx = env.mkdir("ctx");
        env.write("ctx/Containerfile", "FROM busybox\nCOPY . /app\n");
        env.write("ctx/.containerignore", "*.log\n!keep.log\nsecret/\n");
        env.write("ctx/a.log", "no\n");
        env.write("ctx/keep.log", "yes\n");
        env.write("ctx/secret/key", "k\n");
        env.write("ctx/main.c", "int main;\n");
        build(env, &ctx, "localhost/ign:1");
        let listing = run_in(env, "localhost/ign:1", "ls -A /app | sort");
        assert_eq!(
            listing,
            ".containerignore\nContainerfile\nkeep.log\nmain.c\n"
        );
        env.write("ctx/a.log", "changed\n");
        let again = build(env, &ctx, "localhost/ign:1");
        assert_eq!(cache_hits(&again), 1, "{again}");
    });
}

#[test]
fn copy_from_a_stage_with_chown() {
    for_users(&[User::Root, User::Sub], |env| {
        env.load_image(busybox());
        let ctx = env.mkdir("ctx");
        env.write(
            "ctx/Containerfile",
            "FROM busybox AS make\nRUN mkdir /out && echo made > /out/f && chmod 640 /out/f\n\
             FROM busybox\nCOPY --from=make --chown=1000:1001 /out/f /dst/f\n",
        );
        build(env, &ctx, "localhost/stages:1");
        let stat = run_in(
            env,
            "localhost/stages:1",
            "stat -c '%u:%g %a' /dst/f; cat /dst/f",
        );
        assert_eq!(stat, "1000:1001 640\nmade\n");
    });
}

#[test]
fn add_unpacks_a_local_archive() {
    for_each_user(|env| {
        env.load_image(busybox());
        let ctx = env.mkdir("ctx");
        env.mkdir("src/d");
        env.write("src/d/x", "x\n");
        let tar = ctx.join("files.tar.gz");
        let st = std::process::Command::new("tar")
            .arg("czf")
            .arg(&tar)
            .args(["-C"])
            .arg(env.path("src"))
            .arg("d")
            .status()
            .unwrap();
        assert!(st.success());
        env.give(&tar);
        env.write(
            "ctx/Containerfile",
            "FROM busybox\nADD files.tar.gz /unpacked/\nCOPY files.tar.gz /kept/\n",
        );
        build(env, &ctx, "localhost/add:1");
        let out = run_in(env, "localhost/add:1", "cat /unpacked/d/x; ls /kept");
        assert_eq!(out, "x\nfiles.tar.gz\n");
    });
}

#[test]
fn sources_outside_the_context_or_missing_are_refused() {
    for_users(&[User::NoSub], |env| {
        env.load_image(busybox());
        let ctx = env.mkdir("ctx");
        env.write("outside", "o\n");
        for (file, needle) in [
            ("FROM busybox\nCOPY ../outside /x\n", "outside"),
            ("FROM busybox\nCOPY nothere /x\n", "nothere"),
        ] {
            env.write("ctx/Containerfile", file);
            let o = env
                .coracle()
                .args(["build", "--pull=never", "-t", "localhost/bad:1"])
                .arg(&ctx)
                .fails(125);
            o.assert_stderr_contains(needle);
            env.coracle()
                .args(["image", "exists", "localhost/bad:1"])
                .fails(1);
            assert_eq!(env.container_leftovers(), Vec::<String>::new());
        }
    });
}
