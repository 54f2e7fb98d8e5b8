//! `info`, `version`, global flags and the error convention.

use crate::harness::for_each_user;
use crate::harness::images::busybox;

#[test]
fn info_store_fields() {
    for_each_user(|env| {
        let root = env.root().display().to_string();
        let runroot = env.runroot().display().to_string();
        assert_eq!(
            env.ok(&["info", "--format", "{{.Store.GraphRoot}}"]),
            format!("{root}\n")
        );
        assert_eq!(
            env.ok(&["info", "--format", "{{.Store.RunRoot}}"]),
            format!("{runroot}\n")
        );
        env.load_image(busybox());
        assert_eq!(
            env.ok(&["info", "--format", "{{.Store.ImageStore.Number}}"]),
            "1\n"
        );
        let name = env.ok(&["info", "--format", "{{.Host.OCIRuntime.Name}}"]);
        assert!(!name.trim().is_empty());
        let o = env.coracle().args(["info", "--format", "json"]).ok();
        let v = o.json();
        assert_eq!(v["store"]["graphRoot"], serde_json::json!(root), "{o}");
        let plain = env.ok(&["info"]);
        assert!(plain.contains(&format!("graphRoot: {root}")), "{plain}");
    });
}

#[test]
fn storage_driver_flag() {
    for_each_user(|env| {
        // a store keeps the driver it was made with: one store per driver
        for driver in ["vfs", "overlay"] {
            let out = env
                .coracle_at(driver)
                .args([
                    "--storage-driver",
                    driver,
                    "info",
                    "--format",
                    "{{.Store.GraphDriverName}}",
                ])
                .stdout();
            assert_eq!(out, format!("{driver}\n"));
        }
        env.coracle()
            .args(["--storage-driver", "vfs", "--log-level", "debug", "images"])
            .ok();
        env.coracle()
            .args(["--storage-driver", "nosuch", "images"])
            .output()
            .assert_error();
    });
}

#[test]
fn version() {
    for_each_user(|env| {
        let v = env!("CARGO_PKG_VERSION");
        let out = env.ok(&["version"]);
        assert!(
            out.lines()
                .any(|l| l.starts_with("Version:") && l.ends_with(v)),
            "{out}"
        );
        assert_eq!(
            env.ok(&["version", "--format", "{{.Client.Version}}"]),
            format!("{v}\n")
        );
        assert!(env.ok(&["--version"]).contains(v));
    });
}

#[test]
fn usage_errors_exit_125() {
    for_each_user(|env| {
        env.coracle().arg("nosuchcommand").output().assert_error();
        env.coracle()
            .args(["images", "--nosuchflag"])
            .output()
            .assert_error();
    });
}
