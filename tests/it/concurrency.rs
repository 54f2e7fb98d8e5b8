//! Concurrency: many commands on one store at once must neither fail with "locked" errors nor
//! deadlock, nor leave a half-written record or remove a layer in use. Every wait for the
//! store lock is bounded (`CORACLE_LOCK_TIMEOUT`), so a deadlock would show as a failure
//! naming the holder, not as a hung test.

use std::io::Write as _;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::harness::cmd::Output;
use crate::harness::figures::{PARALLEL_OPERATIONS_HELD, figure};
use crate::harness::images::busybox;
use crate::harness::odd::odd;
use crate::harness::registry::{self, RegistryOpts, RegistryServer};
use crate::harness::{TestEnv, as_root, for_each_user};

/// Runs every command line at once; their outputs, in order.
fn together(env: &TestEnv, lines: &[Vec<String>]) -> Vec<Output> {
    thread::scope(|s| {
        let handles: Vec<_> = lines
            .iter()
            .map(|args| {
                s.spawn(move || {
                    env.coracle()
                        .env("CORACLE_LOCK_TIMEOUT", "90")
                        .args(args)
                        .output()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a command thread"))
            .collect()
    })
}

fn line(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

fn check_store(env: &TestEnv, context: &str) {
    let check = env.coracle().args(["system", "check"]).output();
    assert_eq!(
        check.code(),
        Some(0),
        "`system check` after {context}: {check}"
    );
}

#[test]
fn sixteen_parallel_run_rm() {
    for_each_user(|env| {
        env.load_image(busybox());
        let lines: Vec<Vec<String>> = (0..16)
            .map(|i| {
                line(&[
                    "run",
                    "--rm",
                    "busybox",
                    "sh",
                    "-c",
                    &format!("echo run{i}"),
                ])
            })
            .collect();
        let started = Instant::now();
        let outs = together(env, &lines);
        let took = started.elapsed();
        for (i, o) in outs.iter().enumerate() {
            assert_eq!(o.code(), Some(0), "parallel run {i}: {o}");
            assert_eq!(o.stdout(), format!("run{i}\n"), "{o}");
            assert!(!o.stderr().to_lowercase().contains("locked"), "{o}");
        }
        assert!(took < Duration::from_secs(120), "16 runs took {took:?}");
        assert_eq!(env.ok(&["ps", "-aq"]), "", "--rm left containers");
        assert_eq!(env.container_leftovers(), Vec::<String>::new());
        check_store(env, "16 parallel runs");
        let _ = std::io::stderr()
            .lock()
            .write_all(format!("concurrency: 16 parallel `run --rm` held ({took:?})\n").as_bytes());
        figure(PARALLEL_OPERATIONS_HELD, outs.len());
    });
}

#[test]
fn parallel_pulls_of_overlapping_images() {
    if !registry::available() {
        return;
    }
    let reg = RegistryServer::start(RegistryOpts::http());
    reg.push_image(busybox(), "conc/busybox:latest");
    reg.push_image(odd(), "conc/odd:latest");
    let (a, b) = (
        reg.image_ref("conc/busybox:latest"),
        reg.image_ref("conc/odd:latest"),
    );
    for_each_user(|env| {
        let lines: Vec<Vec<String>> = [&a, &b, &a, &b, &b, &a]
            .iter()
            .map(|r| line(&["pull", "-q", "--tls-verify=false", r]))
            .collect();
        let outs = together(env, &lines);
        for o in &outs {
            assert_eq!(o.code(), Some(0), "parallel pull: {o}");
        }
        let ids = env.ok(&["images", "-q", "--no-trunc"]);
        assert!(
            ids.contains(&busybox().id()) && ids.contains(&odd().id()),
            "{ids}"
        );
        assert_eq!(ids.lines().count(), 2, "{ids}");
        check_store(env, "parallel pulls");
        env.ok(&["run", "--rm", "--user", "0", &b, "true"]);
        env.ok(&["run", "--rm", &a, "true"]);
        figure(PARALLEL_OPERATIONS_HELD, outs.len());
    });
}

#[test]
fn rmi_racing_run_of_the_same_image() {
    for_each_user(|env| {
        env.load_image(busybox());
        let (mut ran, mut refused, mut removed_first) = (0, 0, 0);
        let mut held = 0;
        for round in 0..6 {
            env.load_image(odd());
            let outs = together(
                env,
                &[
                    line(&["run", "--rm", "--user", "0", "odd", "true"]),
                    line(&["rmi", "odd"]),
                ],
            );
            let (run, rmi) = (&outs[0], &outs[1]);
            match (run.code(), rmi.code()) {
                // the run had its container first: rmi refuses, the image stays
                (Some(0), Some(2)) => {
                    assert!(rmi.stderr().contains("in use"), "{rmi}");
                    refused += 1;
                    env.ok(&["rmi", "odd"]);
                }
                // the run was done before rmi looked
                (Some(0), Some(0)) => ran += 1,
                // rmi first: the run did not find the image, and said so cleanly
                (Some(125), Some(0)) => {
                    assert!(run.stderr().contains("odd"), "{run}");
                    removed_first += 1;
                }
                _ => panic!("round {round}: run and rmi racing:\n{run}\n{rmi}"),
            }
            check_store(env, &format!("rmi racing run, round {round}"));
            assert_eq!(env.ok(&["ps", "-aq"]), "");
            held += outs.len();
        }
        let _ = std::io::stderr().lock().write_all(
            format!(
                "concurrency: rmi racing run as {}: {ran} ran first, {refused} refused (in use), \
                 {removed_first} removed first\n",
                env.user.name()
            )
            .as_bytes(),
        );
        figure(PARALLEL_OPERATIONS_HELD, held);
    });
}

#[test]
fn image_prune_racing_create() {
    for_each_user(|env| {
        env.load_image(busybox());
        let mut held = 0;
        for round in 0..6 {
            let name = format!("c{round}");
            let outs = together(
                env,
                &[
                    line(&["create", "--name", &name, "busybox", "true"]),
                    line(&["image", "prune", "-a", "-f"]),
                ],
            );
            let (create, prune) = (&outs[0], &outs[1]);
            assert_eq!(prune.code(), Some(0), "{prune}");
            check_store(env, &format!("image prune racing create, round {round}"));
            if create.code() == Some(0) {
                // the container's image and layers stayed: it starts
                env.ok(&["start", &name]);
                env.ok(&["wait", &name]);
                env.ok(&["rm", &name]);
            } else {
                assert!(create.stderr().contains("busybox"), "{create}");
            }
            if env.ok(&["images", "-q"]).is_empty() {
                env.load_image(busybox());
            }
            held += outs.len();
        }
        figure(PARALLEL_OPERATIONS_HELD, held);
    });
}

#[test]
fn a_lock_wait_gives_up_and_names_the_holder() {
    as_root(|env| {
        env.load_image(busybox());
        let lock = env.root().join("storage.lock");
        let mut holder = Command::new("flock")
            .arg(&lock)
            .args(["sleep", "30"])
            .stdout(Stdio::null())
            .spawn()
            .expect("running flock");
        // until flock has the lock
        let deadline = Instant::now() + Duration::from_secs(10);
        while !std::fs::read_to_string("/proc/locks")
            .unwrap_or_default()
            .contains(&format!(" {} ", holder.id()))
        {
            assert!(Instant::now() < deadline, "flock never took the lock");
            thread::sleep(Duration::from_millis(20));
        }
        let started = Instant::now();
        let o = env
            .coracle()
            .env("CORACLE_LOCK_TIMEOUT", "1.5")
            .args(["images"])
            .output();
        let took = started.elapsed();
        let _ = holder.kill();
        let _ = holder.wait();
        assert_eq!(o.code(), Some(125), "{o}");
        o.assert_stderr_contains("gave up waiting for the store lock")
            .assert_stderr_contains(&format!("pid {} (flock", holder.id()));
        assert!(
            took >= Duration::from_millis(1500) && took < Duration::from_secs(10),
            "{took:?}"
        );
        // and with the holder gone, the same command works at once
        env.ok(&["images"]);
    });
}

/// `coracle --storage-driver overlay ARGS` (a RUN step needs the overlay driver).
fn overlay(env: &TestEnv, args: &[&str]) -> Output {
    env.coracle()
        .env("CORACLE_LOCK_TIMEOUT", "90")
        .args(["--storage-driver", "overlay"])
        .args(args)
        .output()
}

#[test]
fn build_racing_image_prune_and_rmi_of_the_base() {
    use std::sync::atomic::{AtomicBool, Ordering};
    for_each_user(|env| {
        env.load_image(busybox());
        env.write("racectx/f", "from the context\n");
        env.write(
            "racectx/Containerfile",
            "FROM busybox\nCOPY f /f\nRUN cat /f > /g && echo ran >> /g\nENV X=1\nCOPY f /h\n",
        );
        env.give(&env.path("racectx"));
        let ctx = env.path("racectx").to_string_lossy().into_owned();
        let (mut built, mut failed, mut pruned_after) = (0, 0, 0);
        let mut held = 0;
        for round in 0..5 {
            let tag = format!("localhost/raced:{round}");
            let done = AtomicBool::new(false);
            let (build, racers) = thread::scope(|s| {
                let racer = s.spawn(|| {
                    // each round's race starts later, to meet the build at another step
                    thread::sleep(Duration::from_millis(250 * round));
                    let mut outs = Vec::new();
                    while !done.load(Ordering::SeqCst) {
                        outs.push(overlay(env, &["image", "prune", "-a", "-f"]));
                        outs.push(overlay(env, &["rmi", "busybox"]));
                        // the base comes back, to be removed again
                        env.load_image(busybox());
                    }
                    outs
                });
                // --pull=never: a base removed before FROM is an error, not a pull from the network
                let b = overlay(
                    env,
                    &["build", "--pull=never", "--no-cache", "-t", &tag, &ctx],
                );
                done.store(true, Ordering::SeqCst);
                (b, racer.join().expect("the racing thread"))
            });
            for o in &racers {
                // prune never fails; rmi succeeds, or says the image is in use or gone
                assert!(
                    matches!(o.code(), Some(0..=2)),
                    "round {round}: a racer failed: {o}"
                );
            }
            check_store(env, &format!("build racing prune/rmi, round {round}"));
            let leftovers = env.ok(&["ps", "-a", "--format", "{{.Names}}"]);
            assert!(
                !leftovers.contains("coracle-build-"),
                "round {round}: a RUN container stayed: {leftovers}"
            );
            let exists = env.coracle().args(["image", "exists", &tag]).output();
            if build.code() == Some(0) {
                let id = build
                    .stdout()
                    .lines()
                    .last()
                    .unwrap_or_default()
                    .to_string();
                if exists.code() == Some(0) {
                    let o = overlay(
                        env,
                        &["run", "--rm", &tag, "sh", "-c", "cat /g /h; echo $X"],
                    );
                    assert_eq!(
                        o.stdout(),
                        "from the context\nran\nfrom the context\n1\n",
                        "round {round}: {o}"
                    );
                    built += 1;
                } else {
                    // only a prune that ran after the build finished may take it
                    assert!(
                        racers.iter().any(|o| o.stdout().contains(&id)),
                        "round {round}: the built image {id} is gone: {build}"
                    );
                    pruned_after += 1;
                }
            } else {
                let err = build.stderr();
                assert_eq!(build.code(), Some(125), "round {round}: {build}");
                assert!(
                    err.contains("Error:") && !err.contains("panicked"),
                    "round {round}: {build}"
                );
                // The build pins every image it has resolved: only a base removed before
                // its FROM was resolved can fail it.
                assert!(
                    err.contains("STEP \"FROM busybox\""),
                    "round {round}: the build failed after its base was resolved: {build}"
                );
                assert_ne!(exists.code(), Some(0), "a failed build left {tag}: {build}");
                let _ = std::io::stderr()
                    .lock()
                    .write_all(format!("round {round}: the build failed: {err}").as_bytes());
                failed += 1;
            }
            env.ok(&["rmi", "-i", &tag]);
            // the build and every prune and rmi that ran beside it
            held += 1 + racers.len();
        }
        let _ = std::io::stderr().lock().write_all(
            format!(
                "concurrency: build racing image prune -a and rmi of its base as {}: {built} \
                 built, {pruned_after} built then pruned, {failed} failed cleanly\n",
                env.user.name()
            )
            .as_bytes(),
        );
        figure(PARALLEL_OPERATIONS_HELD, held);
    });
}

/// A running build pins the images it resolved and wrote: `image prune -a` and `rmi` while a
/// RUN sleeps leave them (rmi says why, exit 2), and the build finishes. A pin file whose lock
/// nobody holds (a build that died) pins nothing and is removed.
#[test]
fn a_running_build_pins_its_images() {
    for_each_user(|env| {
        env.load_image(busybox());
        env.write("pinctx/f", "from the context\n");
        env.write(
            "pinctx/Containerfile",
            "FROM busybox\nCOPY f /f\nRUN touch /started && sleep 3\nCOPY f /h\n",
        );
        env.give(&env.path("pinctx"));
        let ctx = env.path("pinctx").to_string_lossy().into_owned();
        let mut c = env.coracle();
        c.env("CORACLE_LOCK_TIMEOUT", "90")
            .args([
                "--storage-driver",
                "overlay",
                "build",
                "--no-cache",
                "-t",
                "pinned",
            ])
            .arg(&ctx);
        let build = thread::scope(|s| {
            let b = s.spawn(move || c.output());
            // Wait for the RUN's container, then race it.
            let start = Instant::now();
            while !env
                .ok(&["ps", "-a", "--format", "{{.Names}}"])
                .contains("coracle-build-")
            {
                assert!(
                    start.elapsed() < Duration::from_secs(60),
                    "no RUN container"
                );
                thread::sleep(Duration::from_millis(100));
            }
            let pruned = overlay(env, &["image", "prune", "-a", "-f"]);
            assert_eq!(pruned.code(), Some(0), "{pruned}");
            let rmi = overlay(env, &["rmi", "-f", &busybox().id()]);
            assert_eq!(rmi.code(), Some(2), "{rmi}");
            assert!(rmi.stderr().contains("in use by a running build"), "{rmi}");
            b.join().expect("the build thread")
        });
        assert_eq!(build.code(), Some(0), "{build}");
        let o = overlay(env, &["run", "--rm", "pinned", "cat", "/f", "/h"]);
        assert_eq!(o.stdout(), "from the context\nfrom the context\n", "{o}");
        let active = env.root().join("build/active");
        let left: Vec<_> = std::fs::read_dir(&active)
            .map(|d| d.flatten().map(|e| e.file_name()).collect())
            .unwrap_or_default();
        assert!(left.is_empty(), "pin files left: {left:?}");

        // A dead build's pins: ignored, and removed by the prune.
        env.write("stale.lock", "");
        env.write("stale.json", format!("[\"sha256:{}\"]", busybox().id()));
        std::fs::create_dir_all(&active).expect("mkdir");
        for f in ["stale.lock", "stale.json"] {
            std::fs::rename(env.path(f), active.join(format!("1-1.{}", &f[6..])))
                .expect("placing the stale pin");
        }
        env.ok(&["rmi", "pinned"]);
        let o = overlay(env, &["image", "prune", "-a", "-f"]);
        assert!(o.stdout().contains(&busybox().id()), "{o}");
        let left: Vec<_> = std::fs::read_dir(&active)
            .map(|d| d.flatten().map(|e| e.file_name()).collect())
            .unwrap_or_default();
        assert!(left.is_empty(), "stale pin files left: {left:?}");
        // the build, and the prune and rmi that ran during its RUN
        figure(PARALLEL_OPERATIONS_HELD, 3);
    });
}
