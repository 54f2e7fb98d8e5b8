//! Crash safety: `load` is SIGKILLed at every named kill point (`coracle::failpoint`); the
//! next command must list exactly what was listed before (or, for a kill after the load
//! became visible, exactly what a finished load lists, with the image whole), `tmp/` must be
//! empty after a second command, `system check` must find every object whole, and a repeated
//! load must succeed.

use crate::harness::archive::read_docker_archive;
use crate::harness::figures::{KILL_POINTS_SURVIVED, figure};
use crate::harness::images::busybox;
use crate::harness::odd::odd;
use crate::harness::store::assert_same_layers;
use crate::harness::{TestEnv, for_each_user, skip};
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

/// Kill points exercised in this run, for the report.
static EXERCISED: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// The load kill points, as the library lists them.
fn load_points() -> Vec<&'static str> {
    coracle::failpoint::KILL_POINTS
        .iter()
        .copied()
        .filter(|p| p.starts_with("load."))
        .collect()
}

const SIGKILL: i32 = 9;

/// Kills `load -i input` at `point` and checks recovery. `must_reach`: a load that finishes
/// without reaching the point fails the test.
fn kill_and_recover(env: &TestEnv, input: &Path, point: &str, must_reach: bool) -> bool {
    let before = env.listing();
    let o = env
        .coracle()
        .env("CORACLE_KILL_AT", point)
        .args(["load", "-i"])
        .arg(input)
        .output();
    match o.signal() {
        Some(SIGKILL) => {}
        None if o.status.success() && !must_reach => {
            // the point is not reached that often by this load: undo and move on
            env.ok(&["rmi", "odd"]);
            assert_eq!(
                env.listing(),
                before,
                "rmi after an unkilled load ({point})"
            );
            return false;
        }
        _ => o.fail(format_args!(
            "load with CORACLE_KILL_AT={point} should have been killed by SIGKILL \
             (is the kill point reached by a load of {}?)",
            input.display()
        )),
    }
    let after_kill = env.listing();
    // a second command: the first one may clean up lazily, this one must find tmp/ empty
    env.listing();
    assert_eq!(
        env.store_tmp_entries(),
        Vec::<String>::new(),
        "tmp/ still holds debris two commands after a load killed at {point}"
    );
    // Whatever the kill left, every object in the store checks whole.
    let check = env.coracle().args(["system", "check"]).output();
    assert_eq!(
        check.code(),
        Some(0),
        "`system check` after a load killed at {point}: {check}"
    );
    let committed = after_kill != before;
    if committed {
        // killed after the load became visible: the image must then be whole
        let p = env.path("crash-check.tar");
        env.coracle()
            .args(["save", "-o"])
            .arg(&p)
            .arg(odd().id())
            .ok();
        let r = read_docker_archive(&std::fs::read(&p).expect("read"));
        let want: Vec<Vec<u8>> = odd().layers.iter().map(|l| l.tar.clone()).collect();
        assert_same_layers(
            &format!("image visible after a kill at {point}"),
            &want,
            &r[0].layers,
        );
    }
    env.load(input);
    let ids = env.image_ids();
    assert!(
        ids.contains(&odd().id()),
        "repeated load after {point}: {ids:?}"
    );
    if committed {
        assert_eq!(
            after_kill,
            env.listing(),
            "after a load killed at {point}, `images` should list what it listed before the \
             load, or (killed after the commit) what a finished load lists"
        );
    }
    // back to the state before the killed load
    env.ok(&["rmi", "odd"]);
    assert_eq!(
        env.listing(),
        before,
        "rmi after the repeated load ({point})"
    );
    true
}

#[test]
fn load_killed_at_every_point() {
    if !cfg!(feature = "failpoints") {
        skip(
            &crate::harness::users::test_name(),
            "all",
            "built without the `failpoints` feature (cargo test --features failpoints)",
        );
        return;
    }
    let points = load_points();
    assert!(
        points.len() >= 20,
        "the issue asks for at least 20 load kill points, found {points:?}"
    );
    for_each_user(|env| {
        // a store that already holds an image sharing the base layer with the one loaded
        env.load_image(busybox());
        let docker = env.docker_archive("odd.tar", odd());
        let oci = env.oci_archive("odd-oci.tar", odd(), Some("docker.io/library/odd:latest"));
        let mut survived = 0;
        for point in &points {
            for (format, input) in [("docker-archive", &docker), ("oci-archive", &oci)] {
                kill_and_recover(env, input, point, true);
                let second = format!("{point}#2");
                let reached = kill_and_recover(env, input, &second, false);
                survived += 1 + usize::from(reached);
                let mut ex = EXERCISED.lock().unwrap_or_else(|p| p.into_inner());
                ex.push(format!("{point} ({format}, as {})", env.user.name()));
                if reached {
                    ex.push(format!("{second} ({format}, as {})", env.user.name()));
                }
            }
        }
        figure(KILL_POINTS_SURVIVED, survived);
    });
    let ex = EXERCISED.lock().unwrap_or_else(|p| p.into_inner());
    if ex.is_empty() {
        return;
    }
    let mut report = format!("crash test: {} kills survived:\n", ex.len());
    for e in ex.iter() {
        report.push_str(&format!("  killed at {e}\n"));
    }
    let _ = std::io::stderr().lock().write_all(report.as_bytes());
}
