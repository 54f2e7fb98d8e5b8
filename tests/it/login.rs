//! `login` and `logout` against a real registry with htpasswd auth: credentials are checked
//! before they are stored, wrong ones never reach the auth file, and the file is where Podman
//! keeps it (`$XDG_RUNTIME_DIR/containers/auth.json`, `--authfile`, `REGISTRY_AUTH_FILE`).

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use base64::Engine as _;

use crate::harness::registry::{self, ALICE, RegistryOpts, RegistryServer};
use crate::harness::{TestEnv, for_each_user};

fn auth_json(path: &Path) -> serde_json::Value {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}\n{text}", path.display()))
}

fn encoded(user: &str, password: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
}

fn default_auth_file(env: &TestEnv) -> std::path::PathBuf {
    env.path("xdg-run/containers/auth.json")
}

/// `coracle login` of `key` on the HTTPS registry, with `extra` arguments.
fn login(env: &TestEnv, reg: &RegistryServer, key: &str, extra: &[&str]) -> crate::harness::Cmd {
    let mut c = env.coracle();
    c.arg("login")
        .arg("--cert-dir")
        .arg(reg.cert_dir())
        .arg(key)
        .args(extra);
    c
}

#[test]
fn login_saves_checked_credentials_and_logout_removes_them() {
    if !registry::available() {
        return;
    }
    let reg = RegistryServer::start(RegistryOpts::https().htpasswd());
    let host = reg.host();
    for_each_user(|env| {
        let out = login(env, &reg, &host, &["-u", ALICE.name, "-p", ALICE.password]).ok();
        assert_eq!(out.stdout(), "Login Succeeded!\n", "{out}");
        let file = default_auth_file(env);
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", file.display());
        let json = auth_json(&file);
        assert_eq!(
            json["auths"][&host]["auth"],
            encoded(ALICE.name, ALICE.password),
            "{json}"
        );

        let out = env.coracle().args(["login", "--get-login", &host]).ok();
        assert_eq!(out.stdout(), format!("{}\n", ALICE.name));

        // Already logged in: no prompt, the stored credentials are checked and kept.
        let out = login(env, &reg, &host, &[]).stdin("").ok();
        assert!(
            out.stdout().contains("Existing credentials are valid"),
            "{out}"
        );

        let out = env.coracle().args(["logout", &host]).ok();
        assert_eq!(
            out.stdout(),
            format!("Removed login credentials for {host}\n")
        );
        assert!(auth_json(&file)["auths"].get(&host).is_none());

        env.coracle()
            .args(["logout", &host])
            .fails(125)
            .assert_error()
            .assert_stderr_contains(&format!("not logged into {host}"));
        env.coracle()
            .args(["login", "--get-login", &host])
            .fails(125)
            .assert_stderr_contains(&format!("not logged into {host}"));
    });
}

#[test]
fn login_with_wrong_password_saves_nothing() {
    if !registry::available() {
        return;
    }
    let reg = RegistryServer::start(RegistryOpts::https().htpasswd());
    let host = reg.host();
    for_each_user(|env| {
        let file = default_auth_file(env);
        login(env, &reg, &host, &["-u", ALICE.name, "-p", "wrong"])
            .fails(125)
            .assert_error()
            .assert_stderr_contains(&format!(
                "logging into \"{host}\": invalid username/password"
            ));
        assert!(!file.exists(), "{} was written", file.display());

        login(env, &reg, &host, &["-u", ALICE.name, "-p", ALICE.password]).ok();
        let before = std::fs::read(&file).unwrap();
        login(env, &reg, &host, &["-u", "mallory", "-p", ALICE.password])
            .fails(125)
            .assert_stderr_contains("invalid username/password");
        login(env, &reg, &host, &["-u", ALICE.name, "-p", "wrong"]).fails(125);
        assert_eq!(
            std::fs::read(&file).unwrap(),
            before,
            "the auth file changed"
        );
        // Still the good ones.
        let out = env.coracle().args(["login", "--get-login", &host]).ok();
        assert_eq!(out.stdout(), format!("{}\n", ALICE.name));
    });
}

#[test]
fn login_password_stdin_authfile_and_registry_auth_file() {
    if !registry::available() {
        return;
    }
    let reg = RegistryServer::start(RegistryOpts::https().htpasswd());
    let host = reg.host();
    for_each_user(|env| {
        let flag_file = env.path("flag/auth.json");
        let flag = flag_file.to_string_lossy().into_owned();
        let out = login(
            env,
            &reg,
            &host,
            &["-u", ALICE.name, "--password-stdin", "--authfile", &flag],
        )
        .stdin(format!("{}\n", ALICE.password))
        .ok();
        assert_eq!(out.stdout(), "Login Succeeded!\n", "{out}");
        let json = auth_json(&flag_file);
        assert_eq!(
            json["auths"][&host]["auth"],
            encoded(ALICE.name, ALICE.password)
        );
        assert!(!default_auth_file(env).exists());

        let env_file = env.path("env/auth.json");
        let out = login(
            env,
            &reg,
            &host,
            &["-u", ALICE.name, "-p", ALICE.password, "-v"],
        )
        .env("REGISTRY_AUTH_FILE", &env_file)
        .ok();
        assert!(
            out.stdout()
                .contains(&format!("Used: {}", env_file.display())),
            "{out}"
        );
        assert_eq!(
            auth_json(&env_file)["auths"][&host]["auth"],
            encoded(ALICE.name, ALICE.password)
        );
        let out = env
            .coracle()
            .args(["logout", &host])
            .env("REGISTRY_AUTH_FILE", &env_file)
            .ok();
        assert!(out.stdout().contains("Removed login credentials"), "{out}");
        assert!(auth_json(&env_file)["auths"].get(&host).is_none());
        // The --authfile one is untouched.
        assert!(auth_json(&flag_file)["auths"].get(&host).is_some());

        // Nothing to prompt on: an error, not a hang.
        login(env, &reg, &host, &[])
            .stdin("")
            .fails(125)
            .assert_error();
        login(env, &reg, &host, &["--password-stdin"])
            .stdin("x\n")
            .fails(125)
            .assert_stderr_contains("must provide --username with --password-stdin");
        login(
            env,
            &reg,
            &host,
            &["-u", ALICE.name, "-p", "x", "--password-stdin"],
        )
        .stdin("x\n")
        .fails(125)
        .assert_stderr_contains("--password");
    });
}

#[test]
fn logout_all_and_repository_keys() {
    if !registry::available() {
        return;
    }
    let reg = RegistryServer::start(RegistryOpts::https().htpasswd());
    let host = reg.host();
    let repo_key = format!("{host}/team/app");
    for_each_user(|env| {
        login(env, &reg, &host, &["-u", ALICE.name, "-p", ALICE.password]).ok();
        login(
            env,
            &reg,
            &repo_key,
            &["-u", ALICE.name, "-p", ALICE.password],
        )
        .ok();
        let file = default_auth_file(env);
        let json = auth_json(&file);
        assert!(json["auths"].get(&host).is_some(), "{json}");
        assert!(json["auths"].get(&repo_key).is_some(), "{json}");

        let out = env.coracle().args(["logout", "--all"]).ok();
        assert_eq!(
            out.stdout(),
            "Removed login credentials for all registries\n"
        );
        let json = auth_json(&file);
        assert_eq!(json["auths"], serde_json::json!({}), "{json}");
        env.coracle().args(["logout", &repo_key]).fails(125);
        // With nothing stored at all.
        env.coracle().args(["logout", "-a"]).ok();
    });
}

#[test]
fn login_over_plain_http_needs_tls_verify_false() {
    if !registry::available() {
        return;
    }
    let reg = RegistryServer::start(RegistryOpts::http().htpasswd());
    let host = reg.host();
    for_each_user(|env| {
        let out = env
            .coracle()
            .args([
                "login",
                "--tls-verify=false",
                "-u",
                ALICE.name,
                "-p",
                ALICE.password,
                &host,
            ])
            .ok();
        assert_eq!(out.stdout(), "Login Succeeded!\n", "{out}");
        env.coracle()
            .args([
                "login",
                "--tls-verify=false",
                "-u",
                ALICE.name,
                "-p",
                "wrong",
                &host,
            ])
            .fails(125)
            .assert_stderr_contains("invalid username/password");
    });
}

#[test]
fn login_with_token_auth() {
    if !registry::available() {
        return;
    }
    let reg = RegistryServer::start(RegistryOpts::https().token(false));
    let host = reg.host();
    for_each_user(|env| {
        login(env, &reg, &host, &["-u", ALICE.name, "-p", "wrong"])
            .fails(125)
            .assert_stderr_contains("invalid username/password");
        assert!(!default_auth_file(env).exists());
        let out = login(env, &reg, &host, &["-u", ALICE.name, "-p", ALICE.password]).ok();
        assert_eq!(out.stdout(), "Login Succeeded!\n", "{out}");
        let json = auth_json(&default_auth_file(env));
        assert_eq!(
            json["auths"][&host]["auth"],
            encoded(ALICE.name, ALICE.password)
        );
    });
}
