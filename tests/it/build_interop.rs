//! `build` next to Podman's: the same Containerfile built by both gives the same file tree
//! (`export` tars compared entry by entry), an image Podman builds is a good `FROM` base for
//! coracle, and an image coracle builds runs in Podman. Podman runs rootless as the test's
//! subordinate-id user (root Podman's crun cannot set its rlimits on this machine).

use std::collections::BTreeMap;
use std::path::Path;

use crate::harness::images::busybox;
use crate::harness::tools::{RootlessPodman, require};
use crate::harness::{TestEnv, User, for_users};

/// One entry of an `export` tar, without its times.
#[derive(Debug, PartialEq, Eq)]
struct Entry {
    kind: u8,
    mode: u32,
    owner: (u64, u64),
    link: Option<String>,
    data: Vec<u8>,
}

/// The entries of a tar by normalised path (no leading `./` or `/`, no trailing `/`).
fn tree(tar: &[u8]) -> BTreeMap<String, Entry> {
    let mut out = BTreeMap::new();
    let mut a = tar::Archive::new(tar);
    for e in a.entries().expect("tar entries") {
        let mut e = e.expect("tar entry");
        let name = e.path().expect("path").to_string_lossy().into_owned();
        let name = name
            .trim_start_matches("./")
            .trim_start_matches('/')
            .trim_end_matches('/')
            .to_string();
        if name.is_empty() || name == "." {
            continue;
        }
        let h = e.header().clone();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut data).expect("tar data");
        let link = e
            .link_name()
            .expect("link name")
            .map(|l| l.to_string_lossy().into_owned());
        out.insert(
            name,
            Entry {
                kind: h.entry_type().as_byte(),
                mode: h.mode().expect("mode") & 0o7777,
                owner: (h.uid().expect("uid"), h.gid().expect("gid")),
                link,
                data,
            },
        );
    }
    out
}

/// Podman adds mount points for what it bind-mounts into every container (`/etc/hosts`,
/// `/etc/resolv.conf`, `/run/.containerenv`, ...) to the tree it exports; coracle keeps them
/// out of the image as Buildah does for build steps. They are not part of what was built.
fn runtime_only(name: &str) -> bool {
    matches!(
        name,
        "etc/hosts"
            | "etc/hostname"
            | "etc/resolv.conf"
            | "run"
            | "run/.containerenv"
            | "run/secrets"
            | "dev"
            | "proc"
            | "sys"
    ) || name.starts_with("dev/")
        || name.starts_with("proc/")
        || name.starts_with("sys/")
}

const SIMPLE: &str = "FROM busybox\n\
    RUN mkdir -p /data/sub && echo made > /data/f && chmod 0640 /data/f \
    && chown 1000:1001 /data/f && ln -s f /data/l && ln /data/f /data/hard \
    && chmod 1777 /data/sub && rm -f /bin/true\n\
    COPY a.txt /data/a.txt\n\
    COPY --chown=7:8 --chmod=0600 b.txt /data/b.txt\n\
    ENV X=1\n\
    WORKDIR /work/here\n\
    USER 1000\n";

fn write_context(env: &TestEnv, dir: &str, containerfile: &str) -> String {
    env.write(format!("{dir}/Containerfile"), containerfile);
    env.write(format!("{dir}/a.txt"), "copied a\n");
    env.write(format!("{dir}/b.txt"), "copied b\n");
    env.give(&env.path(dir));
    env.path(dir).to_string_lossy().into_owned()
}

/// Podman, rootless, with busybox loaded; `None` (and a SKIP line) without Podman.
fn podman_with_busybox(env: &TestEnv) -> Option<RootlessPodman<'_>> {
    let bin = require(env, "podman")?;
    let p = RootlessPodman::new(env, bin);
    let archive = env.docker_archive("busybox-for-podman.tar", busybox());
    env.give(&archive);
    p.cmd().arg("load").arg("-i").arg(&archive).ok();
    p.cmd()
        .args(["tag", &busybox().id(), "docker.io/library/busybox:latest"])
        .ok();
    Some(p)
}

fn compare_trees(what: &str, ours: &BTreeMap<String, Entry>, theirs: &BTreeMap<String, Entry>) {
    let names = |t: &BTreeMap<String, Entry>| -> Vec<String> {
        t.keys().filter(|n| !runtime_only(n)).cloned().collect()
    };
    assert_eq!(names(ours), names(theirs), "{what}: the same names");
    for (name, e) in ours.iter().filter(|(n, _)| !runtime_only(n)) {
        assert_eq!(Some(e), theirs.get(name), "{what}: {name}");
    }
}

#[test]
fn build_gives_the_same_file_tree_as_podman_build() {
    for_users(&[User::Sub], |env| {
        let Some(podman) = podman_with_busybox(env) else {
            return;
        };
        env.load_image(busybox());
        let ctx = write_context(env, "simple", SIMPLE);
        env.coracle()
            .args([
                "--storage-driver",
                "overlay",
                "build",
                "-q",
                "-t",
                "simple:c",
            ])
            .arg(&ctx)
            .ok();
        podman
            .cmd()
            .args(["build", "-q", "--network", "none", "-t", "simple:p"])
            .arg(&ctx)
            .ok();
        env.ok(&[
            "--storage-driver",
            "overlay",
            "create",
            "--name",
            "ec",
            "simple:c",
        ]);
        let ours = env
            .coracle()
            .args(["--storage-driver", "overlay", "export", "ec"])
            .ok()
            .stdout
            .clone();
        podman
            .cmd()
            .args(["create", "--name", "ep", "localhost/simple:p"])
            .ok();
        let out = env.path("podman-export.tar");
        podman.cmd().args(["export", "-o"]).arg(&out).arg("ep").ok();
        let theirs = std::fs::read(&out).expect("podman's export");
        let (ours, theirs) = (tree(&ours), tree(&theirs));
        // The tree holds what the steps made, with their owners and modes.
        assert_eq!(ours["data/f"].owner, (1000, 1001));
        assert_eq!(ours["data/f"].mode, 0o640);
        assert_eq!(ours["data/sub"].mode, 0o1777);
        assert_eq!(ours["data/b.txt"].owner, (7, 8));
        assert_eq!(ours["data/l"].link.as_deref(), Some("f"));
        assert!(!ours.contains_key("bin/true"));
        compare_trees("coracle build vs podman build", &ours, &theirs);
        // The configs agree on what the instructions set.
        let c = env.inspect("localhost/simple:c");
        let p = podman
            .cmd()
            .args(["image", "inspect", "localhost/simple:p"])
            .ok()
            .json();
        for key in ["Env", "WorkingDir", "User", "Cmd"] {
            assert_eq!(c["Config"][key], p[0]["Config"][key], "Config.{key}");
        }
    });
}

#[test]
fn an_image_podman_builds_is_a_from_base_for_coracle() {
    for_users(&[User::Sub], |env| {
        let Some(podman) = podman_with_busybox(env) else {
            return;
        };
        let ctx = write_context(env, "base", SIMPLE);
        podman
            .cmd()
            .args([
                "build",
                "-q",
                "--network",
                "none",
                "-t",
                "example.com/pbase:1",
            ])
            .arg(&ctx)
            .ok();
        let archive = env.path("pbase.tar");
        podman
            .cmd()
            .args(["save", "-o"])
            .arg(&archive)
            .arg("example.com/pbase:1")
            .ok();
        env.load(Path::new(&archive));
        let ctx = env.path("on-top");
        env.write(
            "on-top/Containerfile",
            "FROM example.com/pbase:1\nUSER 0\n\
             RUN cat /data/f /data/a.txt > /data/both && stat -c %u:%g /data/f >> /data/both\n\
             CMD [\"cat\", \"/data/both\"]\n",
        );
        env.give(&ctx);
        let o = env
            .coracle()
            .args(["--storage-driver", "overlay", "build", "-t", "ontop"])
            .arg(&ctx)
            .ok();
        let o2 = env
            .coracle()
            .args(["--storage-driver", "overlay", "run", "--rm", "ontop"])
            .ok();
        assert_eq!(o2.stdout(), "made\ncopied a\n1000:1001\n", "{o}\n{o2}");
        // Podman's history lines are kept under coracle's new ones.
        let h = env.ok(&["history", "-q", "ontop"]).lines().count();
        let base = env
            .ok(&["history", "-q", "example.com/pbase:1"])
            .lines()
            .count();
        assert_eq!(h, base + 3);
    });
}

#[test]
fn podman_runs_what_coracle_builds() {
    for_users(&[User::Sub], |env| {
        let Some(podman) = podman_with_busybox(env) else {
            return;
        };
        env.load_image(busybox());
        let ctx = write_context(
            env,
            "runs",
            &format!(
                "{SIMPLE}CMD [\"sh\", \"-c\", \"pwd; id -u; echo $X; cat /data/f /data/b.txt\"]\n"
            ),
        );
        env.coracle()
            .args(["--storage-driver", "overlay", "build", "-q", "-t", "crun:1"])
            .arg(&ctx)
            .ok();
        let archive = env.path("crun.tar");
        env.coracle()
            .args(["--storage-driver", "overlay", "save", "-o"])
            .arg(&archive)
            .arg("crun:1")
            .ok();
        podman.cmd().arg("load").arg("-i").arg(&archive).ok();
        // USER 1000 cannot read /data/b.txt (0600, 7:8): run the command as root to see both.
        let o = podman
            .cmd()
            .args(["run", "--rm", "--network", "none", "localhost/crun:1"])
            .output();
        assert_eq!(
            o.stdout(),
            "/work/here\n1000\n1\nmade\n",
            "the built image runs in Podman as its USER in its WORKDIR: {o}"
        );
        let o = podman
            .cmd()
            .args(["run", "--rm", "--network", "none", "--user", "0"])
            .args(["localhost/crun:1", "sh", "-c"])
            .arg("cat /data/f /data/b.txt; stat -c %u:%g:%a /data/b.txt")
            .ok();
        assert_eq!(o.stdout(), "made\ncopied b\n7:8:600\n", "{o}");
    });
}
