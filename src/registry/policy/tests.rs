use super::*;

fn r(s: &str) -> Reference {
    crate::oci::reference::normalize_docker(s).unwrap()
}

fn policy(json: &str) -> Policy {
    Policy::parse(json, Path::new("/p.json")).unwrap()
}

#[test]
fn no_file_accepts_everything() {
    assert!(Policy::default().check_pull(&r("busybox")).is_ok());
}

#[test]
fn default_accept_and_reject() {
    let accept = policy(r#"{"default":[{"type":"insecureAcceptAnything"}]}"#);
    assert!(accept.check_pull(&r("busybox")).is_ok());
    let reject = policy(r#"{"default":[{"type":"reject"}]}"#);
    let err = reject.check_pull(&r("busybox")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "docker.io/library/busybox:latest is rejected by /p.json"
    );
}

#[test]
fn most_specific_scope_wins() {
    let p = policy(
        r#"{
        "default": [{"type": "reject"}],
        "transports": {
            "docker": {
                "": [{"type": "reject"}],
                "docker.io": [{"type": "insecureAcceptAnything"}],
                "docker.io/library/evil": [{"type": "reject"}],
                "docker.io/library/evil:ok": [{"type": "insecureAcceptAnything"}],
                "quay.io/team": [{"type": "signedBy", "keyType": "GPGKeys", "keyPath": "/k"}],
                "*.example.com": [{"type": "insecureAcceptAnything"}],
                "*.bad.example.com": [{"type": "reject"}],
                "localhost:5000": [{"type": "insecureAcceptAnything"}]
            },
            "docker-daemon": {"": [{"type": "insecureAcceptAnything"}]}
        }
    }"#,
    );
    let ok = |s: &str| p.check_pull(&r(s)).is_ok();
    assert!(ok("busybox"));
    assert!(!ok("evil"));
    assert!(ok("evil:ok"));
    assert!(!ok("docker.io/library/evil:other"));
    assert!(ok("a.example.com/x"));
    assert!(ok("a.b.example.com:5000/x"));
    assert!(!ok("x.bad.example.com/x"));
    assert!(!ok("example.com/x"));
    assert!(ok("localhost:5000/x"));
    // The transport's "" applies before default.
    assert!(!ok("ghcr.io/x"));
    let err = p.check_pull(&r("quay.io/team/app:1")).unwrap_err();
    assert!(matches!(err, PolicyError::Unverifiable { .. }), "{err}");
    assert!(err.to_string().contains("signedBy"), "{err}");
    assert!(ok("quay.io/teams/app") == p.check_pull(&r("ghcr.io/x")).is_ok());
    let digest = format!("sha256:{}", "c".repeat(64));
    let by_digest = policy(&format!(
        r#"{{"default":[{{"type":"reject"}}],"transports":{{"docker":{{"quay.io/a@{digest}":[{{"type":"insecureAcceptAnything"}}]}}}}}}"#
    ));
    assert!(
        by_digest
            .check_pull(&r(&format!("quay.io/a@{digest}")))
            .is_ok()
    );
    assert!(by_digest.check_pull(&r("quay.io/a")).is_err());
}

#[test]
fn every_requirement_must_accept() {
    let p = policy(r#"{"default":[{"type":"insecureAcceptAnything"},{"type":"sigstoreSigned"}]}"#);
    assert!(matches!(
        p.check_pull(&r("busybox")),
        Err(PolicyError::Unverifiable { .. })
    ));
}

#[test]
fn invalid_policies() {
    for (json, want) in [
        ("{", "line 1"),
        (r#"{"transports":{}}"#, "default policy is missing"),
        (r#"{"default":[]}"#, "no requirements"),
        (
            r#"{"default":[{"type":"maybe"}]}"#,
            "unknown policy requirement type",
        ),
        (
            r#"{"default":[{"type":"reject"}],"transports":{"docker":{"a.*.io":[{"type":"reject"}]}}}"#,
            "invalid scope",
        ),
    ] {
        let err = Policy::parse(json, Path::new("/p.json"))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("/p.json: ") && err.contains(want),
            "{json}: {err}"
        );
    }
}

#[test]
fn load_prefers_flag_then_user_file() {
    let dir = tempfile::tempdir().unwrap();
    let user = dir.path().join("containers/policy.json");
    std::fs::create_dir_all(user.parent().unwrap()).unwrap();
    std::fs::write(&user, r#"{"default":[{"type":"reject"}]}"#).unwrap();
    let flag = dir.path().join("flag.json");
    std::fs::write(&flag, r#"{"default":[{"type":"insecureAcceptAnything"}]}"#).unwrap();
    let home = dir.path().display().to_string();
    let var = move |name: &str| (name == "XDG_CONFIG_HOME").then(|| home.clone());
    let env = Env {
        uid: 1000,
        var: &var,
    };
    assert!(
        Policy::load(&env, None)
            .unwrap()
            .check_pull(&r("x"))
            .is_err()
    );
    assert!(
        Policy::load(&env, Some(&flag))
            .unwrap()
            .check_pull(&r("x"))
            .is_ok()
    );
    assert!(Policy::load(&env, Some(&dir.path().join("missing.json"))).is_err());
}
