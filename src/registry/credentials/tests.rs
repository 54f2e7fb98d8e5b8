use std::os::unix::fs::PermissionsExt as _;

use super::*;

fn with_env<T>(vars: &[(&str, &str)], uid: u32, f: impl FnOnce(&Env) -> T) -> T {
    let vars: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let var = move |name: &str| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    f(&Env { uid, var: &var })
}

fn creds(user: &str, password: &str) -> Credentials {
    Credentials {
        username: user.into(),
        password: password.into(),
    }
}

fn b64(s: &str) -> String {
    BASE64.encode(s)
}

#[test]
fn auth_file_location() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().display().to_string();
    let flag = Path::new("/x/flag.json");
    with_env(&[("REGISTRY_AUTH_FILE", "/x/env.json")], 1000, |env| {
        assert_eq!(auth_file(env, Some(flag)).unwrap(), flag);
        assert_eq!(auth_file(env, None).unwrap(), Path::new("/x/env.json"));
    });
    with_env(&[("XDG_RUNTIME_DIR", &run)], 1000, |env| {
        assert_eq!(
            auth_file(env, None).unwrap(),
            dir.path().join("containers/auth.json")
        );
    });
    with_env(&[("XDG_RUNTIME_DIR", &run)], 0, |env| {
        assert_eq!(
            auth_file(env, None).unwrap(),
            dir.path().join("containers/auth.json")
        );
    });
    with_env(&[], 0, |env| {
        assert_eq!(
            auth_file(env, None).unwrap(),
            Path::new("/run/containers/0/auth.json")
        );
    });
    // No /run/user/4242 here: Podman's fallback runtime directory.
    with_env(&[("TMPDIR", "/tmpx")], 4242, |env| {
        assert_eq!(
            auth_file(env, None).unwrap(),
            Path::new("/tmpx/podman-run-4242/containers/auth.json")
        );
    });
    with_env(&[("XDG_RUNTIME_DIR", "/nonexistent/run")], 1000, |env| {
        let err = auth_file(env, None).unwrap_err().to_string();
        assert!(err.contains("$XDG_RUNTIME_DIR does not exist"), "{err}");
    });
}

#[test]
fn lookup_order_and_keys() {
    let dir = tempfile::tempdir().unwrap();
    let auth = dir.path().join("auth.json");
    let home = dir.path().join("home");
    std::fs::create_dir_all(home.join(".docker")).unwrap();
    std::fs::write(
        &auth,
        serde_json::json!({
            "auths": {
                "a.io": {"auth": b64("host:h")},
                "a.io/team": {"auth": b64("team:t")},
                "a.io/team/app": {"auth": b64("app:a:with:colons")},
                "https://c.io/v2/": {"auth": b64("url:u")},
                "t.io": {"identitytoken": "tok"},
                "bad.io": {"auth": "!!!"},
            }
        })
        .to_string(),
    )
    .unwrap();
    std::fs::write(
        home.join(".docker/config.json"),
        serde_json::json!({
            "auths": {
                "https://index.docker.io/v1/": {"auth": b64("hub:d")},
                "a.io": {"auth": b64("docker:x")},
                "d.io": {"auth": b64("dockeronly:y")},
            }
        })
        .to_string(),
    )
    .unwrap();
    let home_s = home.display().to_string();
    with_env(&[("HOME", &home_s)], 1000, |env| {
        let get = |key: &str| {
            lookup(env, &auth, key)
                .unwrap()
                .map(|c| (c.username, c.password))
        };
        let pair = |u: &str, p: &str| Some((u.to_string(), p.to_string()));
        assert_eq!(get("a.io"), pair("host", "h"));
        assert_eq!(get("a.io/team/app"), pair("app", "a:with:colons"));
        assert_eq!(get("a.io/team/app/sub"), pair("app", "a:with:colons"));
        assert_eq!(get("a.io/team/other"), pair("team", "t"));
        assert_eq!(get("a.io/teams"), pair("host", "h"));
        assert_eq!(get("c.io"), pair("url", "u"));
        assert_eq!(get("t.io"), pair(TOKEN_USER, "tok"));
        assert_eq!(get("docker.io"), pair("hub", "d"));
        assert_eq!(get("docker.io/library/busybox"), pair("hub", "d"));
        assert_eq!(get("d.io"), pair("dockeronly", "y"));
        assert_eq!(get("none.io"), None);
        let err = lookup(env, &auth, "bad.io").unwrap_err().to_string();
        assert!(err.contains("auth.json") && err.contains("base64"), "{err}");
    });
}

#[test]
fn store_keeps_other_keys_and_mode() {
    let dir = tempfile::tempdir().unwrap();
    let auth = dir.path().join("new/dir/auth.json");
    with_env(&[], 1000, |env| {
        store(env, &auth, "a.io", &creds("u", "p")).unwrap();
        let meta = std::fs::metadata(&auth).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        let dmeta = std::fs::metadata(auth.parent().unwrap()).unwrap();
        assert_eq!(dmeta.permissions().mode() & 0o777, 0o700);

        let mut value: Value = serde_json::from_slice(&std::fs::read(&auth).unwrap()).unwrap();
        assert_eq!(value["auths"]["a.io"]["auth"], b64("u:p"));
        value["proxies"] = serde_json::json!({"x": 1});
        value["auths"]["a.io"]["email"] = "e@x".into();
        std::fs::write(&auth, value.to_string()).unwrap();

        store(env, &auth, "a.io", &creds("u2", "p2")).unwrap();
        store(env, &auth, "b.io/ns", &creds("n", "s")).unwrap();
        let value: Value = serde_json::from_slice(&std::fs::read(&auth).unwrap()).unwrap();
        assert_eq!(value["proxies"]["x"], 1);
        assert_eq!(value["auths"]["a.io"]["email"], "e@x");
        assert_eq!(value["auths"]["a.io"]["auth"], b64("u2:p2"));
        assert_eq!(
            lookup(env, &auth, "b.io/ns/app").unwrap(),
            Some(creds("n", "s"))
        );
        assert_eq!(lookup(env, &auth, "b.io").unwrap(), None);

        assert!(remove(env, &auth, "a.io").unwrap());
        assert!(!remove(env, &auth, "a.io").unwrap());
        assert_eq!(lookup(env, &auth, "a.io").unwrap(), None);
        assert_eq!(
            lookup(env, &auth, "b.io/ns").unwrap(),
            Some(creds("n", "s"))
        );
        remove_all(env, &auth).unwrap();
        assert_eq!(lookup(env, &auth, "b.io/ns").unwrap(), None);
        let value: Value = serde_json::from_slice(&std::fs::read(&auth).unwrap()).unwrap();
        assert_eq!(value["proxies"]["x"], 1);
        // No temporary files left behind.
        assert_eq!(
            std::fs::read_dir(auth.parent().unwrap()).unwrap().count(),
            1
        );
    });
}

#[test]
fn invalid_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let auth = dir.path().join("auth.json");
    std::fs::write(&auth, "{not json").unwrap();
    with_env(&[], 1000, |env| {
        let err = lookup(env, &auth, "a.io").unwrap_err().to_string();
        assert!(err.contains(&auth.display().to_string()), "{err}");
        assert!(store(env, &auth, "a.io", &creds("u", "p")).is_err());
        assert_eq!(std::fs::read_to_string(&auth).unwrap(), "{not json");
    });
    std::fs::write(&auth, "").unwrap();
    with_env(&[], 1000, |env| {
        assert_eq!(lookup(env, &auth, "a.io").unwrap(), None)
    });
}

/// A real `docker-credential-*` program speaking the protocol, keeping its secrets in a
/// directory.
fn write_helper(bin: &Path, store: &Path) {
    let script = format!(
        r#"#!/bin/sh
set -e
d={store}
case "$1" in
get) url=$(cat); f="$d/$url"; if [ -f "$f" ]; then cat "$f"; else echo "credentials not found in native keychain"; exit 1; fi ;;
store) input=$(cat); url=$(printf '%s' "$input" | sed 's/.*"ServerURL":"\([^"]*\)".*/\1/'); printf '%s' "$input" > "$d/$url" ;;
erase) url=$(cat); if [ -f "$d/$url" ]; then rm "$d/$url"; else echo "credentials not found in native keychain"; exit 1; fi ;;
*) echo "unknown action" >&2; exit 2 ;;
esac
"#,
        store = store.display()
    );
    let path = bin.join("docker-credential-test");
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    let broken = bin.join("docker-credential-broken");
    std::fs::write(&broken, "#!/bin/sh\necho kaputt >&2\nexit 3\n").unwrap();
    std::fs::set_permissions(&broken, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn credential_helpers() {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    let secrets = dir.path().join("secrets");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::create_dir_all(&secrets).unwrap();
    write_helper(&bin, &secrets);
    let auth = dir.path().join("auth.json");
    std::fs::write(
        &auth,
        serde_json::json!({
            "credHelpers": {"h.io": "test", "broken.io": "broken", "missing.io": "nosuch"},
            "credsStore": "test",
            "auths": {"plain.io": {"auth": b64("p:q")}},
        })
        .to_string(),
    )
    .unwrap();
    let path = format!("{}:/usr/bin:/bin", bin.display());
    with_env(&[("PATH", &path), ("HOME", "/nonexistent")], 1000, |env| {
        assert_eq!(lookup(env, &auth, "h.io").unwrap(), None);
        store(env, &auth, "h.io", &creds("hu", "helper-secret-1")).unwrap();
        assert!(secrets.join("h.io").exists());
        // Not in the file.
        assert!(
            !std::fs::read_to_string(&auth)
                .unwrap()
                .contains("helper-secret-1")
        );
        assert_eq!(
            lookup(env, &auth, "h.io/any/repo").unwrap(),
            Some(creds("hu", "helper-secret-1"))
        );
        assert!(store(env, &auth, "h.io/ns", &creds("a", "b")).is_err());
        // credsStore answers for hosts without an auths entry.
        std::fs::write(
            secrets.join("s.io"),
            r#"{"ServerURL":"s.io","Username":"su","Secret":"ss"}"#,
        )
        .unwrap();
        assert_eq!(lookup(env, &auth, "s.io").unwrap(), Some(creds("su", "ss")));
        assert_eq!(
            lookup(env, &auth, "plain.io").unwrap(),
            Some(creds("p", "q"))
        );
        assert!(remove(env, &auth, "h.io").unwrap());
        assert!(!remove(env, &auth, "h.io").unwrap());

        let err = lookup(env, &auth, "broken.io").unwrap_err().to_string();
        assert!(
            err.contains("docker-credential-broken get") && err.contains("kaputt"),
            "{err}"
        );
        let err = lookup(env, &auth, "missing.io").unwrap_err().to_string();
        assert!(err.contains("not found in $PATH"), "{err}");
    });
}

#[test]
fn parse_creds_cases() {
    assert_eq!(parse_creds("u:p").unwrap(), ("u".into(), Some("p".into())));
    assert_eq!(
        parse_creds("u:p:q").unwrap(),
        ("u".into(), Some("p:q".into()))
    );
    assert_eq!(
        parse_creds("u:").unwrap(),
        ("u".into(), Some(String::new()))
    );
    assert_eq!(parse_creds("u").unwrap(), ("u".into(), None));
    assert!(parse_creds("").is_err());
    assert!(parse_creds(":p").is_err());
}
