//! `search` against a real registry, which (like most private registries) has no `/v1/search`:
//! the `/v2/_catalog` repositories containing the term, as Podman lists them; `--list-tags`
//! lists a repository's tags; `--limit`, `--format`, `--filter` as Podman.

use crate::harness::images::busybox;
use crate::harness::registry::{self, ALICE, RegistryOpts, RegistryServer};
use crate::harness::{TestEnv, as_root, for_each_user};

/// A plain-HTTP registry holding `team/app:1`, `team/app:2`, `team/web:1` and `other/tool:1`.
fn populated() -> RegistryServer {
    let reg = RegistryServer::start(RegistryOpts::http());
    for r in ["team/app:1", "team/app:2", "team/web:1", "other/tool:1"] {
        reg.push_image_oci(busybox(), r);
    }
    reg
}

fn search(env: &TestEnv, args: &[&str]) -> crate::harness::Cmd {
    let mut c = env.coracle();
    c.args(["search", "--tls-verify=false"]).args(args);
    c
}

#[test]
fn search_lists_matching_repositories_and_tags() {
    if !registry::available() {
        return;
    }
    let reg = populated();
    let host = reg.host();
    for_each_user(|env| {
        let out = search(env, &[&format!("{host}/team")]).ok();
        let text = out.stdout();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0].split_whitespace().collect::<Vec<_>>(),
            ["NAME", "DESCRIPTION"],
            "{out}"
        );
        let names: Vec<&str> = lines[1..].iter().map(|l| l.trim_end()).collect();
        assert_eq!(
            names,
            [format!("{host}/team/app"), format!("{host}/team/web")],
            "{out}"
        );

        let out = search(
            env,
            &["--limit", "1", "--format", "{{.Name}}", &format!("{host}/")],
        )
        .ok();
        assert_eq!(out.stdout(), format!("{host}/other/tool\n"), "{out}");

        let out = search(env, &["--format", "json", &format!("{host}/tool")]).ok();
        let json = out.json();
        assert_eq!(json[0]["Name"], format!("{host}/other/tool"), "{out}");
        assert_eq!(json[0]["Index"], host.as_str(), "{out}");
        assert_eq!(json[0]["Stars"], 0, "{out}");

        let out = search(env, &["--list-tags", &format!("{host}/team/app")]).ok();
        let text = out.stdout();
        // In the registry's order, which is not necessarily sorted.
        let mut rows: Vec<Vec<&str>> = text
            .lines()
            .map(|l| l.split_whitespace().collect())
            .collect();
        rows[1..].sort();
        let repo = format!("{host}/team/app");
        assert_eq!(
            rows,
            [vec!["NAME", "TAG"], vec![&repo, "1"], vec![&repo, "2"]],
            "{out}"
        );

        // Nothing matches: nothing printed, not even the header (as Podman).
        let out = search(env, &[&format!("{host}/nothing-like-this")]).ok();
        assert_eq!(out.stdout(), "", "{out}");
    });
}

#[test]
fn search_errors_are_podmans() {
    if !registry::available() {
        return;
    }
    let reg = populated();
    as_root(|env| errors(env, &reg));
}

fn errors(env: &TestEnv, reg: &RegistryServer) {
    let host = reg.host();
    search(
        env,
        &[
            "--list-tags",
            "--filter",
            "stars=1",
            &format!("{host}/team/app"),
        ],
    )
    .fails(125)
    .assert_stderr_contains("filters are not applicable to list tags result");
    search(env, &["--filter", "color=red", &format!("{host}/team")])
        .fails(125)
        .assert_stderr_contains("invalid filter type");
    // HTTPS is required unless --tls-verify=false says otherwise.
    env.coracle()
        .args(["search", &format!("{host}/team")])
        .fails(125)
        .assert_error();
    // A registry that wants credentials gets them from --creds.
    let auth = RegistryServer::start(RegistryOpts::https().htpasswd());
    auth.push_image_oci(busybox(), "team/app:1");
    let ah = auth.host();
    let cert_dir = auth.cert_dir();
    let cert_dir = cert_dir.to_str().unwrap();
    env.coracle()
        .args(["search", "--cert-dir", cert_dir, &format!("{ah}/team")])
        .fails(125)
        .assert_error();
    let out = env
        .coracle()
        .args([
            "search",
            "--cert-dir",
            cert_dir,
            "--creds",
            &ALICE.creds(),
            "--format",
            "{{.Name}}",
        ])
        .arg(format!("{ah}/team"))
        .ok();
    assert_eq!(out.stdout(), format!("{ah}/team/app\n"), "{out}");
}
