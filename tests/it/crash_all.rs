//! Kill at every step: each storage command (`create`, `run`, `start`, `rm`, `tag`, `commit`,
//! `rmi`, `volume create`/`rm`, `system check --repair`, `container`/`system prune`) is
//! SIGKILLed at each of its named kill points (`coracle::failpoint`). Then `system check` must
//! accept the store, every image still there must run a container, the container that existed
//! before must start, and the command, repeated, must succeed. `load`, `pull` and `push` have
//! their own crash tests (crash.rs, pull.rs, push.rs). `build` is killed at its own points.
//!
//! Every kill point of the library must be walked by one of these tests: the test fails on
//! one that no scenario reaches, and prints the list of points exercised.

use std::collections::BTreeSet;
use std::io::Write as _;
use std::sync::Mutex;

use crate::harness::figures::{KILL_POINTS_SURVIVED, figure};
use crate::harness::images::busybox;
use crate::harness::odd::odd;
use crate::harness::{TestEnv, for_each_user, skip};

const SIGKILL: i32 = 9;

static EXERCISED: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// One command and the kill points it reaches.
struct Scenario {
    name: &'static str,
    points: &'static [&'static str],
    /// Makes what the command needs (idempotent: also run before the repetition).
    setup: fn(&TestEnv),
    command: &'static [&'static str],
    /// Undoes the command's effect (idempotent), so the next point starts from the same state.
    cleanup: fn(&TestEnv),
    /// `system check` may fail until the command is repeated (the repair itself).
    repairs: bool,
}

fn nothing(_: &TestEnv) {}

fn ensure_base(env: &TestEnv) {
    if !exists(env, &["container", "exists", "base"]) {
        env.ok(&["create", "--name", "base", "busybox", "true"]);
    }
}

fn exists(env: &TestEnv, args: &[&str]) -> bool {
    env.coracle().args(args).output().code() == Some(0)
}

fn ensure_odd(env: &TestEnv) {
    if !exists(env, &["image", "exists", "odd"]) {
        env.load_image(odd());
    }
}

fn ensure_victim(env: &TestEnv) {
    if !exists(env, &["container", "exists", "victim"]) {
        env.ok(&["create", "--name", "victim", "busybox", "true"]);
    }
}

fn remove_victim(env: &TestEnv) {
    env.ok(&["rm", "-f", "-i", "-v", "victim"]);
}

fn ensure_changed(env: &TestEnv) {
    if !exists(env, &["container", "exists", "changed"]) {
        env.ok(&[
            "run",
            "--name",
            "changed",
            "busybox",
            "sh",
            "-c",
            "echo changed > /changed",
        ]);
    }
}

fn remove_committed(env: &TestEnv) {
    env.ok(&["rmi", "-i", "committed"]);
}

fn ensure_volume(env: &TestEnv) {
    if !exists(env, &["volume", "exists", "victim"]) {
        env.ok(&["volume", "create", "victim"]);
    }
}

fn remove_volume(env: &TestEnv) {
    if exists(env, &["volume", "exists", "victim"]) {
        env.ok(&["volume", "rm", "victim"]);
    }
}

fn ensure_odd_user(env: &TestEnv) {
    ensure_odd(env);
    if !exists(env, &["container", "exists", "oddc"]) {
        env.ok(&["create", "--name", "oddc", "--user", "0", "odd", "true"]);
    }
}

fn ensure_tag(env: &TestEnv) {
    env.ok(&["tag", "busybox", "victim:1"]);
}

fn untag(env: &TestEnv) {
    env.ok(&["rmi", "-i", "victim:1"]);
}

/// `odd` with a damaged layer of its own: `system check --repair` removes the image and moves
/// the layer out.
fn damage_odd(env: &TestEnv) {
    ensure_odd(env);
    let base: BTreeSet<String> = busybox().diff_ids().into_iter().collect();
    let own = odd()
        .diff_ids()
        .into_iter()
        .find(|d| !base.contains(d))
        .expect("odd has a layer of its own");
    let hex = own.trim_start_matches("sha256:");
    let diff = env.root().join("layers").join(hex).join("diff");
    let file = walk_files(&diff)
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("no file in {}", diff.display()));
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&file)
        .expect("open a layer file");
    f.write_all(b"damage").expect("damage a layer file");
}

fn walk_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    let mut entries: Vec<_> = rd.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let Ok(t) = e.file_type() else { continue };
        if t.is_file() {
            out.push(e.path());
        } else if t.is_dir() {
            out.extend(walk_files(&e.path()));
        }
    }
    out
}

/// A build context with a config step and a RUN (`buildctx/`, in the test's directory where
/// commands run).
fn ensure_build_context(env: &TestEnv) {
    env.write(
        "buildctx/Containerfile",
        "FROM busybox\nENV A=1\nRUN echo x > /x\n",
    );
    env.give(&env.path("buildctx"));
}

/// The built image untagged, and a RUN container a killed build left removed.
fn remove_built(env: &TestEnv) {
    env.ok(&["rmi", "-i", "built"]);
    let names = env.ok(&["ps", "-a", "--format", "{{.Names}}"]);
    for n in names.lines().filter(|n| n.starts_with("coracle-build-")) {
        env.ok(&["rm", "-f", n]);
    }
}

/// `system prune` removes every stopped container, `base` too: it is made again.
fn prune_setup(env: &TestEnv) {
    ensure_base(env);
    ensure_victim(env);
    ensure_volume(env);
}

const SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "build",
        points: &[
            "build.image.staging-created",
            "build.image.planned",
            "build.image.store-locked",
            "build.image.committed",
            "build.cache.staged",
            "build.cache.recorded",
            "build.run.before",
            "build.run.committing",
            "build.run.committed",
            "build.run.container-removed",
            "build.tag.store-locked",
            "build.tag.record-written",
            "build.tagged",
        ],
        setup: ensure_build_context,
        command: &["build", "--no-cache", "-t", "built", "buildctx"],
        cleanup: remove_built,
        repairs: false,
    },
    Scenario {
        name: "build --layers=false",
        points: &["build.intermediate-removed"],
        setup: ensure_build_context,
        command: &["build", "--layers=false", "-t", "built", "buildctx"],
        cleanup: remove_built,
        repairs: false,
    },
    Scenario {
        name: "create",
        points: &[
            "create.start",
            "create.store-locked",
            "create.volumes-created",
            "create.staging-created",
            "create.dir-staged",
            "create.record-renamed",
            "create.root-dirs-made",
            "create.done",
        ],
        setup: remove_victim,
        command: &[
            "create", "--name", "victim", "-v", "/anon", "busybox", "true",
        ],
        cleanup: remove_victim,
        repairs: false,
    },
    Scenario {
        name: "run",
        points: &[
            "run.created",
            "run.lock-shared",
            "run.monitor-launched",
            "run.started",
        ],
        setup: remove_victim,
        command: &["run", "--name", "victim", "busybox", "true"],
        cleanup: remove_victim,
        repairs: false,
    },
    Scenario {
        name: "start",
        points: &[
            "start.store-locked",
            "start.root-dirs-made",
            "start.monitor-launched",
            "start.started",
        ],
        setup: ensure_victim,
        command: &["start", "victim"],
        cleanup: remove_victim,
        repairs: false,
    },
    Scenario {
        name: "rm",
        points: &[
            "rm.store-locked",
            "rm.dir-hidden",
            "rm.dirs-deleted",
            "rm.done",
        ],
        setup: ensure_victim,
        command: &["rm", "victim"],
        cleanup: remove_victim,
        repairs: false,
    },
    Scenario {
        name: "tag",
        points: &["tag.store-locked", "tag.record-renamed", "tag.names-moved"],
        setup: untag,
        command: &["tag", "busybox", "victim:1"],
        cleanup: untag,
        repairs: false,
    },
    Scenario {
        name: "commit",
        points: &[
            "commit.store-locked",
            "commit.staging-created",
            "commit.layer-tarred",
            "commit.image-planned",
            "load.blob.synced",
            "load.store-locked",
            "load.commit.begin",
            "load.commit.blob-renamed",
            "load.commit.layer-renamed",
            "load.commit.layers-renamed",
            "load.commit.dir-synced",
            "load.commit.image-record-staged",
            "load.commit.image-record-renamed",
            "load.commit.old-names-dropped",
            "load.commit.done",
            "commit.done",
        ],
        setup: ensure_changed,
        command: &["commit", "-q", "changed", "committed"],
        cleanup: remove_committed,
        repairs: false,
    },
    Scenario {
        name: "rmi",
        points: &[
            "rmi.store-locked",
            "rmi.record-moved",
            "rmi.layer-moved",
            "rmi.collected",
            "rmi.done",
        ],
        setup: ensure_odd,
        command: &["rmi", "odd"],
        cleanup: nothing,
        repairs: false,
    },
    Scenario {
        name: "rmi (untag)",
        points: &["rmi.untagged"],
        setup: ensure_tag,
        command: &["rmi", "victim:1"],
        cleanup: untag,
        repairs: false,
    },
    Scenario {
        name: "rmi -f (in use)",
        points: &["rmi.containers-removed"],
        setup: ensure_odd_user,
        command: &["rmi", "-f", "odd"],
        cleanup: nothing,
        repairs: false,
    },
    Scenario {
        name: "volume create",
        points: &[
            "volume.create.store-locked",
            "volume.create.staged",
            "volume.create.done",
        ],
        setup: remove_volume,
        command: &["volume", "create", "victim"],
        cleanup: remove_volume,
        repairs: false,
    },
    Scenario {
        name: "volume rm",
        points: &[
            "volume.rm.store-locked",
            "volume.rm.hidden",
            "volume.rm.deleted",
        ],
        setup: ensure_volume,
        command: &["volume", "rm", "victim"],
        cleanup: remove_volume,
        repairs: false,
    },
    Scenario {
        name: "system check --repair",
        points: &[
            "check.repair.begin",
            "check.repair.image-removed",
            "check.repair.layer-moved",
            "check.repair.collecting",
            "check.repair.done",
        ],
        setup: damage_odd,
        command: &["system", "check", "--repair"],
        cleanup: nothing,
        repairs: true,
    },
    Scenario {
        name: "system prune",
        points: &[
            "prune.containers-removed",
            "prune.images-removed",
            "prune.volumes-removed",
            "prune.done",
        ],
        setup: prune_setup,
        command: &["system", "prune", "-f", "--volumes"],
        cleanup: nothing,
        repairs: false,
    },
];

/// What must hold after any kill: the store checks whole, every image runs a container, the
/// container made before starts.
fn verify(env: &TestEnv, context: &str, repairs: bool) {
    if !repairs {
        let check = env.coracle().args(["system", "check"]).output();
        assert_eq!(
            check.code(),
            Some(0),
            "`system check` after {context}: {check}"
        );
    }
    let images = env.ok(&["images", "-q", "--no-trunc"]);
    assert!(
        images.contains(&busybox().id()),
        "busybox is gone after {context}: {images}"
    );
    if !repairs {
        for id in images.lines() {
            let o = env
                .coracle()
                .args(["run", "--rm", "--user", "0", id, "true"])
                .output();
            assert_eq!(o.code(), Some(0), "running image {id} after {context}: {o}");
        }
    }
    let o = env.coracle().args(["start", "base"]).output();
    assert_eq!(
        o.code(),
        Some(0),
        "starting container base after {context}: {o}"
    );
}

fn kill_and_recover(env: &TestEnv, s: &Scenario, point: &str) {
    (s.setup)(env);
    let context = format!("`{}` killed at {point}", s.command.join(" "));
    let o = env
        .coracle()
        .env("CORACLE_KILL_AT", point)
        .args(s.command)
        .output();
    if o.signal() != Some(SIGKILL) {
        o.fail(format_args!(
            "{context}: the command should have been killed by SIGKILL (is the point reached?)"
        ));
    }
    if s.name == "system prune" {
        // pruned, as it should be, when the kill came after the containers went
        ensure_base(env);
    }
    verify(env, &context, s.repairs);
    // The command, repeated, succeeds (after the setup, if the kill had done part of it).
    if !s.repairs {
        (s.cleanup)(env);
    }
    (s.setup)(env);
    let again = env.coracle().args(s.command).output();
    assert_eq!(again.code(), Some(0), "repeating {context}: {again}");
    if s.repairs {
        verify(env, &format!("{context}, then repeated"), false);
        let check = env.coracle().args(["system", "check"]).output();
        assert_eq!(check.code(), Some(0), "{check}");
    }
    (s.cleanup)(env);
}

#[test]
fn every_command_killed_at_every_point() {
    if !cfg!(feature = "failpoints") {
        skip(
            &crate::harness::users::test_name(),
            "all",
            "built without the `failpoints` feature (cargo test --features failpoints)",
        );
        return;
    }
    // Every point of the library is walked here or by the load/pull/push crash tests.
    let walked: BTreeSet<&str> = SCENARIOS
        .iter()
        .flat_map(|s| s.points.iter().copied())
        .collect();
    let missing: Vec<&str> = coracle::failpoint::KILL_POINTS
        .iter()
        .copied()
        .filter(|p| {
            !walked.contains(p)
                && !p.starts_with("load.")
                && !p.starts_with("pull.")
                && !p.starts_with("push.")
        })
        .collect();
    assert_eq!(missing, Vec::<&str>::new(), "kill points no scenario walks");
    assert!(
        coracle::failpoint::KILL_POINTS.len() >= 60,
        "the issue asks for at least 60 kill points"
    );
    for_each_user(|env| {
        env.load_image(busybox());
        ensure_base(env);
        let mut survived = 0;
        for s in SCENARIOS {
            for point in s.points {
                kill_and_recover(env, s, point);
                survived += 1;
                EXERCISED
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(format!("{point} ({}, as {})", s.name, env.user.name()));
            }
        }
        figure(KILL_POINTS_SURVIVED, survived);
    });
    let ex = EXERCISED.lock().unwrap_or_else(|p| p.into_inner());
    let points: BTreeSet<&str> = SCENARIOS
        .iter()
        .flat_map(|s| s.points.iter().copied())
        .collect();
    let mut report = format!(
        "crash test (all commands): {} kills survived at {} points ({} kill points in all, \
         load/pull/push walked by their own tests):\n",
        ex.len(),
        points.len(),
        coracle::failpoint::KILL_POINTS.len()
    );
    for e in ex.iter() {
        report.push_str(&format!("  killed at {e}\n"));
    }
    let _ = std::io::stderr().lock().write_all(report.as_bytes());
}
