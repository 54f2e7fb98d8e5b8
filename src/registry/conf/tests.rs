use std::path::Path;

use super::*;

fn parse(files: &[&str]) -> Result<RegistriesConf, ConfError> {
    let mut conf = RegistriesConf::default();
    for (i, text) in files.iter().enumerate() {
        conf.merge(text, Path::new(&format!("/f{i}.conf")))?;
    }
    Ok(conf)
}

fn r(s: &str) -> Reference {
    reference::normalize_docker(s).unwrap()
}

fn sources(conf: &RegistriesConf, input: &str) -> Vec<(String, bool, String, bool)> {
    conf.pull_sources(&r(input))
        .unwrap()
        .into_iter()
        .map(|s| {
            (
                s.endpoint.host,
                s.endpoint.insecure,
                s.reference.to_string(),
                s.mirror,
            )
        })
        .collect()
}

fn with_env<T>(vars: &[(&str, &str)], f: impl FnOnce(&Env) -> T) -> T {
    let vars: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let var = move |name: &str| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    f(&Env {
        uid: 1000,
        var: &var,
    })
}

#[test]
fn no_file_means_docker_io_and_permissive() {
    let conf = parse(&[]).unwrap();
    assert_eq!(conf.search_registries(), ["docker.io"]);
    assert_eq!(conf.short_name_mode(), ShortNameMode::Permissive);
    assert_eq!(
        sources(&conf, "quay.io/a/b:1"),
        [("quay.io".into(), false, "quay.io/a/b:1".into(), false)]
    );
    assert!(!conf.is_insecure("quay.io"));
}

#[test]
fn search_registries_and_mode() {
    let conf = parse(&[
        "unqualified-search-registries = [\"quay.io\", \"docker.io\"]\nshort-name-mode = \"enforcing\"\n",
    ])
    .unwrap();
    assert_eq!(conf.search_registries(), ["quay.io", "docker.io"]);
    assert_eq!(conf.short_name_mode(), ShortNameMode::Enforcing);
    let empty = parse(&["unqualified-search-registries = []"]).unwrap();
    assert!(empty.search_registries().is_empty());
}

#[test]
fn later_files_override_keys_and_same_prefix() {
    let conf = parse(&[
        r#"unqualified-search-registries = ["a.io"]
short-name-mode = "disabled"
[[registry]]
prefix = "x.io"
insecure = true
[[registry]]
location = "y.io"
blocked = true
"#,
        r#"short-name-mode = "permissive"
[[registry]]
prefix = "x.io"
location = "z.io"
"#,
    ])
    .unwrap();
    // Not set again: kept.
    assert_eq!(conf.search_registries(), ["a.io"]);
    assert_eq!(conf.short_name_mode(), ShortNameMode::Permissive);
    // Replaced as a whole: no longer insecure.
    assert!(!conf.is_insecure("x.io"));
    assert_eq!(
        sources(&conf, "x.io/app:1"),
        [("z.io".into(), false, "z.io/app:1".into(), false)]
    );
    assert!(conf.is_blocked("y.io"));
}

#[test]
fn longest_prefix_wins_and_location_remaps() {
    let conf = parse(&[r#"
[[registry]]
prefix = "example.com"
location = "mirror.local:5000"
insecure = true
[[registry]]
prefix = "example.com/team"
location = "other.io/t"
[[registry]]
prefix = "example.com/teamster"
blocked = true
location = "example.com/teamster"
"#])
    .unwrap();
    assert_eq!(
        sources(&conf, "example.com/team/app:1"),
        [("other.io".into(), false, "other.io/t/app:1".into(), false)]
    );
    assert_eq!(
        sources(&conf, "example.com/teams/app"),
        [(
            "mirror.local:5000".into(),
            true,
            "mirror.local:5000/teams/app:latest".into(),
            false
        )]
    );
    // A prefix only matches at a component boundary.
    assert!(matches!(
        conf.pull_sources(&r("example.com/teamster/app")),
        Err(ConfError::Blocked { .. })
    ));
    assert!(conf.push_source(&r("example.com/teamster/app")).is_err());
    assert!(conf.is_insecure("example.com"));
    assert!(!conf.is_insecure("example.co"));
    assert!(!conf.is_insecure("example.com.evil"));
}

#[test]
fn wildcard_prefix() {
    let conf = parse(&[r#"
[[registry]]
prefix = "*.example.com"
insecure = true
[[registry.mirror]]
location = "cache.local/proxy"
[[registry]]
prefix = "blocked.example.com"
blocked = true
"#])
    .unwrap();
    assert!(conf.is_insecure("a.example.com"));
    assert!(conf.is_insecure("a.b.example.com:5000"));
    assert!(!conf.is_insecure("example.com"));
    assert!(!conf.is_insecure("aexample.com"));
    assert_eq!(
        sources(&conf, "a.example.com/x/y:1"),
        [
            (
                "cache.local".into(),
                false,
                "cache.local/proxy/x/y:1".into(),
                true
            ),
            (
                "a.example.com".into(),
                true,
                "a.example.com/x/y:1".into(),
                false
            ),
        ]
    );
    // The exact prefix is longer than the wildcard's match.
    assert!(conf.is_blocked("blocked.example.com"));
}

#[test]
fn mirrors_by_digest_and_tag() {
    let digest = format!("sha256:{}", "a".repeat(64));
    let conf = parse(&[r#"
[[registry]]
prefix = "docker.io"
[[registry.mirror]]
location = "all.local"
insecure = true
[[registry.mirror]]
location = "digest.local"
pull-from-mirror = "digest-only"
[[registry.mirror]]
location = "tag.local"
pull-from-mirror = "tag-only"
[[registry]]
prefix = "quay.io"
mirror-by-digest-only = true
[[registry.mirror]]
location = "q.local"
"#])
    .unwrap();
    let hosts = |input: &str| -> Vec<String> {
        conf.pull_sources(&r(input))
            .unwrap()
            .into_iter()
            .map(|s| s.endpoint.host)
            .collect()
    };
    assert_eq!(hosts("busybox"), ["all.local", "tag.local", "docker.io"]);
    assert_eq!(
        hosts(&format!("busybox@{digest}")),
        ["all.local", "digest.local", "docker.io"]
    );
    assert_eq!(hosts("quay.io/a:1"), ["quay.io"]);
    assert_eq!(
        hosts(&format!("quay.io/a@{digest}")),
        ["q.local", "quay.io"]
    );
    let sources = conf.pull_sources(&r("busybox")).unwrap();
    assert_eq!(
        sources[0].reference.to_string(),
        "all.local/library/busybox:latest"
    );
    assert!(sources[0].endpoint.insecure && sources[0].mirror);
    // Never pushed to a mirror.
    assert_eq!(
        conf.push_source(&r("busybox")).unwrap().endpoint.host,
        "docker.io"
    );
}

#[test]
fn invalid_files_name_file_and_line() {
    let cases: &[(&str, &str)] = &[
        (
            "[[registry]]\nprefix = \"a.io\"\nlocation = \"https://a.io\"\n",
            "URI schemes",
        ),
        (
            "\n[[registry]]\nprefix = \"a.io\"\n[[registry.mirror]]\nlocation = \"b.io\"\npull-from-mirror = \"sometimes\"\n",
            "pull-from-mirror",
        ),
        (
            "[[registry]]\nprefix = \"*.a.io\"\nlocation = \"b.io\"\n",
            "wildcarded prefix",
        ),
        ("[[registry]]\nprefix = \"a.*.io\"\n", "wildcard"),
        (
            "[[registry]]\ninsecure = true\n",
            "neither prefix nor location",
        ),
        (
            "[[registry]]\nprefix = \"a.io\"\nmirror-by-digest-only = true\n[[registry.mirror]]\nlocation = \"b.io\"\npull-from-mirror = \"tag-only\"\n",
            "at the same time",
        ),
        ("short-name-mode = \"strict\"\n", "short-name-mode"),
        (
            "unqualified-search-registries = [\"a.io/x\"]\n",
            "not a registry host",
        ),
        (
            "[aliases]\n\"docker.io/x\" = \"docker.io/library/x\"\n",
            "must be a short name",
        ),
        ("[aliases]\nx = \"x\"\n", "registry and repository"),
        ("[aliases]\nx = \"quay.io/x:1\"\n", "tag not supported"),
        ("[aliases]\n\"x:1\" = \"quay.io/x\"\n", "tag not supported"),
        ("[[registries.search]\n", "invalid TOML"),
        (
            "unqualified-search-registries = [\"a.io\"]\n[registries.search]\nregistries = [\"b.io\"]\n",
            "mixing",
        ),
    ];
    for (text, want) in cases {
        let err = parse(&[text]).unwrap_err();
        let msg = format!("{err}");
        assert!(msg.contains("/f0.conf"), "{text:?}: {msg}");
        assert!(msg.contains(want), "{text:?}: {msg}");
    }
    let err =
        parse(&["\n\n[[registry]]\nprefix = \"a.io\"\nlocation = \"https://a.io\"\n"]).unwrap_err();
    assert!(err.to_string().starts_with("/f0.conf:3: "), "{err}");
    let err = parse(&["\nshort-name-mode = [\n"]).unwrap_err();
    assert!(err.to_string().contains("line 2"), "{err}");
}

#[test]
fn version_1_is_read() {
    let conf = parse(&[r#"
[registries.search]
registries = ["quay.io", "docker.io"]
[registries.insecure]
registries = ["localhost:5000"]
[registries.block]
registries = ["evil.io"]
"#])
    .unwrap();
    assert_eq!(conf.search_registries(), ["quay.io", "docker.io"]);
    assert!(conf.is_insecure("localhost:5000"));
    assert!(conf.is_blocked("evil.io"));
}

#[test]
fn aliases_carry_tag_and_digest_and_later_files_win() {
    let conf = parse(&[
        "[aliases]\nbusybox = \"docker.io/library/busybox\"\n\"team/app\" = \"quay.io/team/app\"\nold = \"quay.io/old\"\n",
        "[aliases]\nbusybox = \"quay.io/mirror/busybox\"\nold = \"\"\n",
    ])
    .unwrap();
    assert_eq!(
        conf.alias("busybox").unwrap().to_string(),
        "quay.io/mirror/busybox:latest"
    );
    assert_eq!(
        conf.alias("busybox:1.36").unwrap().to_string(),
        "quay.io/mirror/busybox:1.36"
    );
    let digest = format!("sha256:{}", "b".repeat(64));
    assert_eq!(
        conf.alias(&format!("team/app@{digest}"))
            .unwrap()
            .to_string(),
        format!("quay.io/team/app@{digest}")
    );
    assert_eq!(conf.alias("old"), None);
    assert_eq!(conf.alias("nothing"), None);
}

#[test]
fn short_name_resolution() {
    let conf = parse(&[
        "unqualified-search-registries = [\"quay.io\", \"docker.io\"]\n[aliases]\nbb = \"docker.io/library/busybox\"\n",
    ])
    .unwrap();
    let names = |res: ShortNameResolution| -> Vec<String> {
        res.candidates.iter().map(|c| c.to_string()).collect()
    };
    let res = conf.resolve_short_name("bb:1", false).unwrap();
    assert_eq!(res.alias_from.as_deref(), Some(Path::new("/f0.conf")));
    assert_eq!(names(res), ["docker.io/library/busybox:1"]);
    let res = conf.resolve_short_name("alpine", false).unwrap();
    assert_eq!(res.alias_from, None);
    assert!(!res.record);
    assert_eq!(
        names(res),
        ["quay.io/alpine:latest", "docker.io/library/alpine:latest"]
    );
    assert_eq!(
        names(conf.resolve_short_name("localhost:5000/x", false).unwrap()),
        ["localhost:5000/x:latest"]
    );
    assert_eq!(
        names(conf.resolve_short_name("busybox", false).unwrap()),
        ["quay.io/busybox:latest", "docker.io/library/busybox:latest"]
    );

    let enforcing = parse(&[
        "unqualified-search-registries = [\"quay.io\", \"docker.io\"]\nshort-name-mode = \"enforcing\"\n[aliases]\nbb = \"docker.io/library/busybox\"\n",
    ])
    .unwrap();
    let err = enforcing.resolve_short_name("alpine", false).unwrap_err();
    assert_eq!(
        err.to_string(),
        "short-name resolution enforced but cannot prompt without a TTY"
    );
    assert_eq!(
        enforcing
            .resolve_short_name("alpine", true)
            .unwrap()
            .candidates
            .len(),
        2
    );
    assert!(enforcing.resolve_short_name("bb", false).is_ok());
    assert!(
        enforcing
            .resolve_short_name("quay.io/alpine", false)
            .is_ok()
    );

    let single = parse(&[
        "unqualified-search-registries = [\"quay.io\"]\nshort-name-mode = \"enforcing\"\n",
    ])
    .unwrap();
    assert_eq!(
        names(single.resolve_short_name("alpine", false).unwrap()),
        ["quay.io/alpine:latest"]
    );

    // Disabled mode ignores aliases.
    let disabled =
        parse(&["short-name-mode = \"disabled\"\n[aliases]\nbb = \"quay.io/busybox\"\n"]).unwrap();
    assert_eq!(
        names(disabled.resolve_short_name("bb", false).unwrap()),
        ["docker.io/library/bb:latest"]
    );

    let none = parse(&["unqualified-search-registries = []\n"]).unwrap();
    let err = none.resolve_short_name("alpine", false).unwrap_err();
    assert!(
        err.to_string()
            .contains("no unqualified-search registries are defined in \"/f0.conf\""),
        "{err}"
    );
}

#[test]
fn load_files_drop_ins_and_alias_cache() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("config");
    let containers = home.join("containers");
    std::fs::create_dir_all(containers.join("registries.conf.d")).unwrap();
    std::fs::write(
        containers.join("registries.conf"),
        "unqualified-search-registries = [\"a.io\"]\n[aliases]\nx = \"a.io/x\"\ny = \"a.io/y\"\n",
    )
    .unwrap();
    std::fs::write(
        containers.join("registries.conf.d/20-b.conf"),
        "unqualified-search-registries = [\"b.io\"]\n",
    )
    .unwrap();
    std::fs::write(
        containers.join("registries.conf.d/10-c.conf"),
        "unqualified-search-registries = [\"c.io\"]\nshort-name-mode = \"enforcing\"\n",
    )
    .unwrap();
    std::fs::write(
        containers.join("registries.conf.d/30-ignored.txt"),
        "garbage [",
    )
    .unwrap();
    std::fs::write(
        containers.join("short-name-aliases.conf"),
        "[aliases]\nx = \"cache.io/x\"\n",
    )
    .unwrap();
    let home_s = home.display().to_string();
    let conf = with_env(&[("XDG_CONFIG_HOME", &home_s)], |env| {
        RegistriesConf::load(env)
    })
    .unwrap();
    assert_eq!(conf.search_registries(), ["b.io"]);
    assert_eq!(conf.short_name_mode(), ShortNameMode::Enforcing);
    assert_eq!(conf.alias("x").unwrap().to_string(), "cache.io/x:latest");
    assert_eq!(conf.alias("y").unwrap().to_string(), "a.io/y:latest");

    // CONTAINERS_REGISTRIES_CONF alone.
    let only = dir.path().join("only.conf");
    std::fs::write(&only, "unqualified-search-registries = [\"only.io\"]\n").unwrap();
    let only_s = only.display().to_string();
    let conf = with_env(
        &[
            ("XDG_CONFIG_HOME", &home_s),
            ("CONTAINERS_REGISTRIES_CONF", &only_s),
        ],
        RegistriesConf::load,
    )
    .unwrap();
    assert_eq!(conf.search_registries(), ["only.io"]);

    // A malformed drop-in names itself.
    std::fs::write(containers.join("registries.conf.d/40-bad.conf"), "x = [").unwrap();
    let err = with_env(&[("XDG_CONFIG_HOME", &home_s)], |env| {
        RegistriesConf::load(env)
    })
    .unwrap_err();
    assert!(err.to_string().contains("40-bad.conf"), "{err}");
}

#[test]
fn record_alias_keeps_others() {
    let dir = tempfile::tempdir().unwrap();
    let home_s = dir.path().display().to_string();
    with_env(&[("XDG_CONFIG_HOME", &home_s)], |env| {
        record_alias(env, "alpine:3", &r("quay.io/lib/alpine:3")).unwrap();
        record_alias(env, "busybox", &r("busybox")).unwrap();
        let conf = RegistriesConf::load(env).unwrap();
        assert_eq!(
            conf.alias("alpine").unwrap().to_string(),
            "quay.io/lib/alpine:latest"
        );
        assert_eq!(
            conf.alias("busybox").unwrap().to_string(),
            "docker.io/library/busybox:latest"
        );
        assert!(record_alias(env, "quay.io/x", &r("quay.io/x")).is_err());
    });
}

#[test]
fn split_name_cases() {
    assert_eq!(split_name("a"), ("a", ""));
    assert_eq!(split_name("a:1"), ("a", ":1"));
    assert_eq!(split_name("ns/a:1@sha256:x"), ("ns/a", ":1@sha256:x"));
    assert_eq!(split_name("ns/a@sha256:x"), ("ns/a", "@sha256:x"));
    assert_eq!(split_name("host:5000/a"), ("host:5000/a", ""));
}
