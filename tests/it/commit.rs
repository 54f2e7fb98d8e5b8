//! `commit CONTAINER IMAGE` on both drivers (vfs: the copied root compared with the image
//! gives the overlay's layer): the container's changes become one new layer on top of its
//! image (exactly those changes, true owners), with Podman's history entry,
//! `--change`, `-m`, `-a`; the image runs, and Podman loads what `save` writes of it.

use std::fs;

use crate::harness::archive::read_docker_archive;
use crate::harness::images::busybox;
use crate::harness::store::{rootfs_layers, strings};
use crate::harness::tools::{podman, require};
use crate::harness::{TestEnv, User, as_root, for_each_user};

/// What the container of [`changed_container`] does to busybox's files.
const CHANGES: &str = "echo new > /new && echo x >> /etc/passwd && rm /etc/group && \
                       mkdir -p /d/e && ln -s /new /d/l";

/// The lines `diff` prints for the committed image (the runtime's `/etc/hosts`,
/// `/etc/hostname` and `/etc/resolv.conf` mount targets are not changes).
const DIFF: &[&str] = &[
    "A /d",
    "A /d/e",
    "A /d/l",
    "C /etc",
    "D /etc/group",
    "C /etc/passwd",
    "A /new",
];

/// Runs a container named `name` on the overlay driver, kept after it exits, that makes
/// [`CHANGES`] (and, where the user has subordinate ids, chowns `/owned` to 1000:1000).
fn changed_container(env: &TestEnv, name: &str) {
    changed_container_on(env, "overlay", name)
}

fn changed_container_on(env: &TestEnv, driver: &str, name: &str) {
    let chown = if env.user == User::NoSub {
        ""
    } else {
        " && touch /owned && chown 1000:1000 /owned"
    };
    env.coracle()
        .args(["--storage-driver", driver, "run", "--name", name])
        .args(["busybox", "sh", "-c"])
        .arg(format!("{CHANGES}{chown}"))
        .ok();
}

fn sorted_lines(text: &str) -> Vec<String> {
    let mut v: Vec<String> = text.lines().map(String::from).collect();
    v.sort();
    v
}

fn expected_diff(env: &TestEnv) -> Vec<String> {
    let mut want: Vec<String> = DIFF.iter().map(|s| s.to_string()).collect();
    if env.user != User::NoSub {
        want.push("A /owned".into());
    }
    want.sort();
    want
}

#[test]
fn commit_makes_one_layer_of_the_changes() {
    for_each_user(|env| {
        env.load_image(busybox());
        changed_container(env, "c1");
        let o = env
            .coracle()
            .args(["commit", "c1", "localhost/snap:1"])
            .ok();
        let id = o.stdout().trim().to_string();
        assert_eq!(id.len(), 64, "{o}");
        // Podman's progress lines on stderr, one blob line per layer.
        let err = o.stderr();
        assert!(err.starts_with("Getting image source signatures\n"), "{o}");
        assert_eq!(err.matches("Copying blob sha256:").count(), 2, "{o}");
        assert!(
            err.contains(&format!("Copying config sha256:{id}\n")),
            "{o}"
        );
        assert!(err.ends_with("Writing manifest to image destination\nStoring signatures\n"));

        let i = env.inspect("localhost/snap:1");
        assert_eq!(i["Id"], id.as_str());
        let layers = rootfs_layers(&i);
        assert_eq!(layers.len(), 2, "{i:#}");
        assert_eq!(layers[..1], busybox().diff_ids()[..], "{i:#}");
        // Podman's history entry on top.
        let h = env.ok(&[
            "history",
            "--format",
            "{{.CreatedBy}}|{{.Comment}}",
            "localhost/snap:1",
        ]);
        let first = h.lines().next().unwrap_or_default();
        assert!(
            first.starts_with("/bin/sh|FROM ") && first.contains("busybox"),
            "{h}"
        );
        assert_eq!(h.lines().count(), 3, "{h}");

        // Exactly the container's changes.
        let d = env.ok(&["diff", "localhost/snap:1"]);
        assert_eq!(sorted_lines(&d), expected_diff(env), "{d}");

        // The image runs with the changes, on both drivers.
        for driver in ["overlay", "vfs"] {
            let run = |args: &[&str]| {
                let mut c = env.coracle();
                c.args([
                    "--storage-driver",
                    driver,
                    "run",
                    "--rm",
                    "localhost/snap:1",
                ])
                .args(args);
                c
            };
            assert_eq!(run(&["cat", "/new"]).stdout(), "new\n", "{driver}");
            assert!(run(&["cat", "/etc/passwd"]).stdout().ends_with("\nx\n"));
            run(&["cat", "/etc/group"]).fails(1);
            assert_eq!(
                run(&["stat", "-c", "%N", "/d/l"]).stdout(),
                "'/d/l' -> '/new'\n"
            );
            if env.user != User::NoSub {
                let owner = run(&["stat", "-c", "%u:%g", "/owned"]).stdout();
                assert_eq!(owner, "1000:1000\n", "{driver}");
            }
        }

        // The container is still there and commits again, to the same layer.
        let o = env
            .coracle()
            .args(["commit", "-q", "-m", "a message", "--author", "Ann <a@x>"])
            .args(["-c", "CMD=/bin/true", "--change", "ENV A=1", "c1", "snap:2"])
            .ok();
        assert_eq!(o.stderr(), "", "{o}");
        let i2 = env.inspect("localhost/snap:2");
        assert_eq!(i2["Id"], o.stdout().trim());
        assert_eq!(
            rootfs_layers(&i2),
            layers,
            "the same changes give the same layer"
        );
        assert_eq!(
            i2["Config"]["Cmd"],
            serde_json::json!(["/bin/sh", "-c", "/bin/true"])
        );
        assert!(strings(&i2["Config"]["Env"]).contains(&"A=1".to_string()));
        assert_eq!(i2["Author"], "Ann <a@x>");
        assert_eq!(i2["Comment"], "a message");
        let last = i2["History"].as_array().and_then(|h| h.last()).cloned();
        let last = last.unwrap_or_default();
        assert_eq!(last["author"], "Ann <a@x>", "{i2:#}");
        assert_eq!(last["comment"], "a message", "{i2:#}");
        assert_eq!(last["created_by"], "/bin/sh", "{i2:#}");
        env.coracle().args(["run", "--rm", "snap:2"]).ok();

        assert_eq!(env.store_tmp_entries(), Vec::<String>::new());
    });
}

#[test]
fn commit_of_an_unchanged_container_adds_a_layer() {
    for_each_user(|env| {
        env.load_image(busybox());
        env.coracle()
            .args(["--storage-driver", "overlay", "run", "--name", "idle"])
            .args(["busybox", "true"])
            .ok();
        env.ok(&["commit", "-q", "idle", "same"]);
        let layers = rootfs_layers(&env.inspect("localhost/same:latest"));
        assert_eq!(layers.len(), 2);
        // Only the directory that holds the runtime's mount targets, as with Podman.
        assert_eq!(env.ok(&["diff", "same"]), "C /etc\n");
    });
}

/// The top layer of `image` as `(name, type, uid, gid, mode, link, data)` per entry, times
/// left out.
type TarEntry = (String, char, u64, u64, u32, String, Vec<u8>);

fn top_layer_entries(env: &TestEnv, image: &str) -> Vec<TarEntry> {
    use std::io::Read as _;
    let archive = env.path(format!("{}.tar", image.replace([':', '/'], "_")));
    env.coracle()
        .args(["save", "-o"])
        .arg(&archive)
        .arg(image)
        .ok();
    let read = read_docker_archive(&fs::read(&archive).unwrap());
    let top = read[0].layers.last().cloned().unwrap_or_default();
    let mut a = tar::Archive::new(top.as_slice());
    let mut out = Vec::new();
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        let h = e.header().clone();
        let name = String::from_utf8_lossy(&e.path_bytes()).into_owned();
        let link = e
            .link_name_bytes()
            .map(|l| String::from_utf8_lossy(&l).into_owned())
            .unwrap_or_default();
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        out.push((
            name,
            h.entry_type().as_byte() as char,
            h.uid().unwrap(),
            h.gid().unwrap(),
            h.mode().unwrap(),
            link,
            data,
        ));
    }
    out
}

/// A vfs container (a copied root, compared with the image's layers) commits to the layer an
/// overlay container with the same changes commits to: the same `diff` of the container and
/// of the image, the same tar entries (times aside), also for an unchanged container.
#[test]
fn commit_on_vfs_gives_the_overlay_layer() {
    for_each_user(|env| {
        env.load_image(busybox());
        let mut seen = Vec::new();
        for driver in ["overlay", "vfs"] {
            let c = format!("c-{driver}");
            changed_container_on(env, driver, &c);
            let container_diff = sorted_lines(&env.ok(&["diff", &c]));
            let image = format!("localhost/snap-{driver}:1");
            env.ok(&["commit", "-q", &c, &image]);
            let d = sorted_lines(&env.ok(&["diff", &image]));
            assert_eq!(d, expected_diff(env), "{driver}");
            let entries = top_layer_entries(env, &image);
            let idle = format!("idle-{driver}");
            env.coracle()
                .args(["--storage-driver", driver, "run", "--name", &idle])
                .args(["busybox", "true"])
                .ok();
            let same = format!("localhost/same-{driver}:1");
            env.ok(&["commit", "-q", &idle, &same]);
            assert_eq!(env.ok(&["diff", &same]), "C /etc\n", "{driver}");
            let idle_entries = top_layer_entries(env, &same);
            seen.push((driver, container_diff, entries, idle_entries));
        }
        let (_, o_diff, o_tar, o_idle) = &seen[0];
        let (_, v_diff, v_tar, v_idle) = &seen[1];
        assert_eq!(v_diff, o_diff);
        assert_eq!(v_tar, o_tar);
        assert_eq!(v_idle, o_idle);
        // The committed vfs image runs with the changes.
        let o = env
            .coracle()
            .args([
                "--storage-driver",
                "vfs",
                "run",
                "--rm",
                "localhost/snap-vfs:1",
            ])
            .args([
                "sh",
                "-c",
                "cat /new /etc/passwd; test -e /etc/group || echo gone",
            ])
            .ok();
        assert!(
            o.stdout().starts_with("new\n") && o.stdout().ends_with("x\ngone\n"),
            "{o}"
        );
        assert_eq!(env.store_tmp_entries(), Vec::<String>::new());
    });
}

#[test]
fn commit_refuses_what_it_cannot_do() {
    for_each_user(|env| {
        env.load_image(busybox());
        env.coracle()
            .args(["commit", "nosuch", "x"])
            .fails(125)
            .assert_stderr_contains("no such container");
        env.coracle()
            .args([
                "--storage-driver",
                "overlay",
                "run",
                "--name",
                "o",
                "busybox",
                "true",
            ])
            .ok();
        env.coracle()
            .args(["commit", "-c", "FROB=1", "o", "x"])
            .fails(125)
            .assert_stderr_contains("FROB");
        env.coracle()
            .args(["commit", "--format", "v1", "o", "x"])
            .fails(125)
            .assert_stderr_contains("unrecognized image type");
        assert!(!env.listing().contains("localhost/x"));
        assert_eq!(env.store_tmp_entries(), Vec::<String>::new());
    });
}

#[test]
fn podman_loads_a_committed_image() {
    as_root(|env| {
        env.load_image(busybox());
        changed_container(env, "c1");
        let id = env.ok(&["commit", "-q", "--format", "docker", "c1", "snap:1"]);
        let id = id.trim();
        let archive = env.path("snap.tar");
        env.coracle()
            .args(["save", "-o"])
            .arg(&archive)
            .arg("snap:1")
            .ok();
        // The new layer holds the true owner of the chowned file.
        let read = read_docker_archive(&fs::read(&archive).unwrap());
        let top = read[0].layers.last().cloned().unwrap_or_default();
        let mut a = tar::Archive::new(top.as_slice());
        let owned = a
            .entries()
            .unwrap()
            .map(|e| e.unwrap())
            .find(|e| e.path().unwrap().to_string_lossy() == "owned")
            .map(|e| (e.header().uid().unwrap(), e.header().gid().unwrap()));
        assert_eq!(owned, Some((1000, 1000)));

        let Some(bin) = require(env, "podman") else {
            return;
        };
        let o = podman(env, &bin).arg("load").arg("-i").arg(&archive).ok();
        let i = podman(env, &bin).args(["image", "inspect", id]).ok().json();
        assert_eq!(i[0]["Id"], id, "{o}");
        assert_eq!(rootfs_layers(&i[0]), rootfs_layers(&env.inspect(id)));
        let d = podman(env, &bin).args(["image", "diff", id]).ok().stdout();
        assert_eq!(sorted_lines(&d), expected_diff(env), "{d}");
    });
}

/// A committed image runs in (rootless) Podman: the container sees the committed file with
/// its owner, and the `--change` CMD is what runs.
#[test]
fn podman_runs_a_committed_image() {
    crate::harness::for_users(&[User::Sub], |env| {
        let Some(bin) = require(env, "podman") else {
            return;
        };
        env.load_image(busybox());
        env.coracle()
            .args(["run", "--name", "src", "busybox", "sh", "-c"])
            .arg("echo committed > /note && chown 1000:1000 /note")
            .ok();
        env.ok(&[
            "commit",
            "-q",
            "--change",
            "CMD [\"sh\", \"-c\", \"cat /note; stat -c %u:%g /note\"]",
            "src",
            "localhost/snap:run",
        ]);
        let archive = env.path("snap-run.tar");
        env.coracle()
            .args(["save", "-o"])
            .arg(&archive)
            .arg("localhost/snap:run")
            .ok();
        let podman = crate::harness::tools::RootlessPodman::new(env, bin);
        podman.cmd().arg("load").arg("-i").arg(&archive).ok();
        let o = podman
            .cmd()
            .args(["run", "--rm", "--network", "none", "localhost/snap:run"])
            .ok();
        assert_eq!(o.stdout(), "committed\n1000:1000\n", "{o}");
    });
}
