//! `system df`: the rows add up to what `du` measures of the store (within 1%), with images,
//! containers (created and exited, with data in their writable layers), volumes (used and
//! not) and layers an interrupted load left behind; `-v` and `--format`.

use serde_json::Value;

use crate::harness::images::busybox;
use crate::harness::odd::odd;
use crate::harness::{TestEnv, for_each_user};

/// `du -s --block-size=1` of the store, as root (who can read every file a container made).
pub fn du(env: &TestEnv) -> u64 {
    let o = std::process::Command::new("du")
        .args(["-s", "--block-size=1"])
        .arg(env.root())
        .output()
        .expect("running du");
    assert!(
        o.status.success(),
        "du: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout)
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .expect("du's number")
}

/// `system df --format json`: (type, RawSize, RawReclaimable, Total, Active) per row.
pub fn df(env: &TestEnv) -> Vec<(String, u64, u64, u64, u64)> {
    let v: Value = env
        .coracle()
        .args(["system", "df", "--format", "json"])
        .ok()
        .json();
    v.as_array()
        .expect("an array of rows")
        .iter()
        .map(|r| {
            (
                r["Type"].as_str().unwrap_or_default().to_string(),
                r["RawSize"].as_u64().expect("RawSize"),
                r["RawReclaimable"].as_u64().expect("RawReclaimable"),
                r["Total"].as_u64().expect("Total"),
                r["Active"].as_u64().expect("Active"),
            )
        })
        .collect()
}

pub fn row(rows: &[(String, u64, u64, u64, u64)], kind: &str) -> (u64, u64, u64, u64) {
    let r = rows
        .iter()
        .find(|r| r.0 == kind)
        .unwrap_or_else(|| panic!("no {kind} row in {rows:?}"));
    (r.1, r.2, r.3, r.4)
}

/// A store with something of everything: two images sharing a layer, a created container, an
/// exited one that wrote 300 kB into its writable layer and 200 kB into a volume, an unused
/// volume with data, and the layers and blobs of an image whose record is gone (what a load
/// killed between its layers and its record can leave).
pub fn populate(env: &TestEnv) {
    env.load_image(busybox());
    env.load_image(odd());
    let odd_id = odd().id();
    let hex = odd_id.trim_start_matches("sha256:");
    // `odd` loses its record: its own layers and blobs are now referenced by nothing.
    std::fs::remove_file(env.root().join(format!("images/{hex}.json"))).expect("rm odd's record");
    env.ok(&["create", "--name", "created", "busybox", "true"]);
    env.ok(&["volume", "create", "used"]);
    env.ok(&["volume", "create", "unused"]);
    env.ok(&[
        "run",
        "--name",
        "exited",
        "-v",
        "used:/data",
        "busybox",
        "sh",
        "-c",
        "dd if=/dev/urandom of=/big bs=1000 count=300 2>/dev/null && \
         dd if=/dev/urandom of=/data/f bs=1000 count=200 2>/dev/null",
    ]);
    env.ok(&[
        "run",
        "--rm",
        "-v",
        "unused:/data",
        "busybox",
        "sh",
        "-c",
        "dd if=/dev/urandom of=/data/g bs=1000 count=100 2>/dev/null",
    ]);
}

#[test]
fn df_adds_up_to_du() {
    for_each_user(|env| {
        populate(env);
        let rows = df(env);
        let types: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
        assert_eq!(types, ["Images", "Containers", "Local Volumes"]);
        let sum: u64 = rows.iter().map(|r| r.1).sum();
        let du = du(env);
        let diff = sum.abs_diff(du);
        assert!(
            diff * 100 <= du,
            "df's rows add up to {sum} bytes, du measures {du} ({rows:?})"
        );
        let (_, img_rec, img_total, img_active) = row(&rows, "Images");
        assert_eq!((img_total, img_active), (1, 1), "{rows:?}");
        // the orphaned layers are reclaimable
        assert!(img_rec > 0, "{rows:?}");
        let (c_size, c_rec, c_total, c_active) = row(&rows, "Containers");
        assert_eq!((c_total, c_active), (2, 0));
        assert!(c_size >= 300_000 && c_rec == c_size, "{rows:?}");
        let (v_size, v_rec, v_total, v_active) = row(&rows, "Local Volumes");
        assert_eq!((v_total, v_active), (2, 1));
        assert!(v_size >= 300_000, "{rows:?}");
        assert!(
            (100_000..200_000).contains(&v_rec),
            "only `unused` is reclaimable: {rows:?}"
        );

        // The default table and a template.
        let table = env.ok(&["system", "df"]);
        let first = table.lines().next().unwrap_or_default();
        for h in ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"] {
            assert!(first.contains(h), "{table}");
        }
        assert!(table.contains("Local Volumes"), "{table}");
        assert!(
            table.contains("(100%)"),
            "containers are all reclaimable: {table}"
        );
        let t = env.ok(&["system", "df", "--format", "{{.Type}}={{.Total}}"]);
        assert_eq!(t, "Images=1\nContainers=2\nLocal Volumes=2\n");
        // -v: a table per kind
        let v = env.ok(&["system", "df", "-v"]);
        for s in [
            "Images space usage:",
            "SHARED SIZE",
            "Containers space usage:",
            "exited",
            "Local Volumes space usage:",
            "unused",
        ] {
            assert!(v.contains(s), "{s:?} missing from\n{v}");
        }
        env.coracle()
            .args(["system", "df", "-v", "--format", "json"])
            .output()
            .assert_error()
            .assert_stderr_contains("cannot combine --format and --verbose flags");
    });
}
