//! `container prune` and `system prune`: each reclaims exactly what `system df` called
//! reclaimable before it (the printed total equals df's figure, and `du` drops by it within
//! 1%), including layers an interrupted load left; prompts and filters.

use crate::df::{df, du, populate, row};
use crate::harness::images::busybox;
use crate::harness::{TestEnv, for_each_user};

fn within_1pct(what: &str, want: u64, got: u64) {
    assert!(
        want.abs_diff(got) * 100 <= want.max(1) || want.abs_diff(got) <= 64 * 1024,
        "{what}: df said {want} bytes are reclaimable, {got} were"
    );
}

/// go-units HumanSize with four digits, as the commands print sizes.
fn human(bytes: u64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB"];
    let mut size = bytes as f64;
    let mut u = 0;
    while size >= 1000.0 && u < units.len() - 1 {
        size /= 1000.0;
        u += 1;
    }
    // %.4g
    let s = format!(
        "{:.*}",
        3usize.saturating_sub(size.log10().floor().max(0.0) as usize),
        size
    );
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    };
    format!("{s}{}", units[u])
}

fn ids(env: &TestEnv) -> Vec<String> {
    let mut v: Vec<String> = env
        .ok(&["ps", "-aq", "--no-trunc"])
        .lines()
        .map(String::from)
        .collect();
    v.sort();
    v
}

#[test]
fn prune_reclaims_what_df_calls_reclaimable() {
    for_each_user(|env| {
        populate(env);
        // container prune: asks first (no answer: nothing removed)
        let o = env.coracle().args(["container", "prune"]).stdin("n\n").ok();
        assert!(
            o.stderr()
                .contains("WARNING! This will remove all non running containers."),
            "{}",
            o.stderr()
        );
        assert_eq!(ids(env).len(), 2);
        let before = df(env);
        let (_, c_rec, _, _) = row(&before, "Containers");
        let du0 = du(env);
        let mut want = ids(env);
        let mut removed: Vec<String> = env
            .ok(&["container", "prune", "-f"])
            .lines()
            .map(String::from)
            .collect();
        removed.sort();
        want.sort();
        assert_eq!(removed, want);
        assert_eq!(ids(env), Vec::<String>::new());
        within_1pct("container prune", c_rec, du0 - du(env));

        // system prune -a --volumes: images, orphaned layers and the unused volumes
        let before = df(env);
        let (_, i_rec, _, _) = row(&before, "Images");
        let (_, v_rec, _, _) = row(&before, "Local Volumes");
        let du1 = du(env);
        let o = env
            .coracle()
            .args(["system", "prune", "-a", "--volumes", "-f"])
            .ok();
        let text = o.stdout();
        let total = text
            .lines()
            .find_map(|l| l.strip_prefix("Total reclaimed space: "))
            .unwrap_or_else(|| panic!("no total in {text}"));
        assert_eq!(total, human(i_rec + v_rec), "{text} (df: {before:?})");
        assert!(text.contains("Deleted Images\n"), "{text}");
        assert!(
            text.contains("Deleted Volumes\nunused\nused\n")
                || text.contains("Deleted Volumes\nused\nunused\n"),
            "{text}"
        );
        within_1pct("system prune", i_rec + v_rec, du1 - du(env));
        let after = df(env);
        for r in &after {
            assert_eq!(r.2, 0, "nothing is reclaimable after the prune: {after:?}");
        }
        assert_eq!(env.ok(&["images", "-q"]), "");
        assert_eq!(env.store_tmp_entries(), Vec::<String>::new());
        let check = env.coracle().args(["system", "check"]).output();
        assert_eq!(check.code(), Some(0), "{check}");
    });
}

#[test]
fn system_prune_keeps_what_is_used_and_filters() {
    for_each_user(|env| {
        env.load_image(busybox());
        env.ok(&["create", "--name", "keep", "busybox", "true"]);
        // without -a nothing but stopped containers goes; the prompt names what goes
        let o = env.coracle().args(["system", "prune"]).stdin("\n").ok();
        assert!(
            o.stderr().contains("WARNING! This command removes:"),
            "{}",
            o.stderr()
        );
        assert!(o.stderr().contains("all dangling images"), "{}", o.stderr());
        assert_eq!(ids(env).len(), 1, "answering no removes nothing");
        // until= in the past keeps the container
        let o = env.ok(&[
            "container",
            "prune",
            "-f",
            "--filter",
            "until=2000-01-01T00:00:00Z",
        ]);
        assert_eq!(o, "");
        assert_eq!(ids(env).len(), 1);
        env.coracle()
            .args(["container", "prune", "-f", "--filter", "bogus=1"])
            .output()
            .assert_error();
        let text = env.ok(&["system", "prune", "-f"]);
        assert!(text.starts_with("Deleted Containers\n"), "{text}");
        assert!(text.contains("Total reclaimed space: "), "{text}");
        assert_eq!(ids(env).len(), 0);
        // busybox is named: not dangling, kept
        assert_eq!(env.ok(&["images", "-q"]).lines().count(), 1);
    });
}
