//! Table-driven tests for reference parsing, normalisation and matching. The expectations
//! follow c/image `docker/reference` and libimage's `normalize_test.go`.

use super::*;

const HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn d() -> String {
    format!("@sha256:{HEX}")
}

#[test]
fn docker_normalisation() {
    let d = d();
    let cases: &[(&str, String)] = &[
        ("busybox", "docker.io/library/busybox:latest".into()),
        ("busybox:1.36", "docker.io/library/busybox:1.36".into()),
        ("user/app", "docker.io/user/app:latest".into()),
        ("library/busybox", "docker.io/library/busybox:latest".into()),
        (
            "docker.io/busybox",
            "docker.io/library/busybox:latest".into(),
        ),
        (
            "index.docker.io/busybox",
            "docker.io/library/busybox:latest".into(),
        ),
        ("index.docker.io/u/a:2", "docker.io/u/a:2".into()),
        ("quay.io/podman/hello", "quay.io/podman/hello:latest".into()),
        ("localhost/mine", "localhost/mine:latest".into()),
        ("localhost:5000/mine:v1", "localhost:5000/mine:v1".into()),
        ("[::1]:5000/a/b", "[::1]:5000/a/b:latest".into()),
        ("Example.COM/a", "Example.COM/a:latest".into()),
        ("a.b", "docker.io/library/a.b:latest".into()),
        ("localhost:5000", "docker.io/library/localhost:5000".into()),
        ("ns/busybox", "docker.io/ns/busybox:latest".into()),
        (
            "a__b/c-d/e--f.g_h",
            "docker.io/a__b/c-d/e--f.g_h:latest".into(),
        ),
        ("tag:V1_x.y-Z", "docker.io/library/tag:V1_x.y-Z".into()),
        (
            &format!("busybox{d}"),
            format!("docker.io/library/busybox{d}"),
        ),
        (
            &format!("quay.io/x:1{d}"),
            format!("quay.io/x:1{d}"), // docker keeps both
        ),
    ];
    for (input, want) in cases {
        let r = normalize_docker(input).unwrap_or_else(|e| panic!("{input}: {e}"));
        assert_eq!(&r.to_string(), want, "{input}");
        // Normalising a normalised name changes nothing.
        assert_eq!(normalize_docker(want).unwrap(), r, "{want}");
    }
}

#[test]
fn local_normalisation() {
    let d = d();
    let cases: &[(&str, String)] = &[
        ("mine:1", "localhost/mine:1".into()),
        ("busybox", "localhost/busybox:latest".into()),
        ("busybox:latest", "localhost/busybox:latest".into()),
        ("team/app", "localhost/team/app:latest".into()),
        ("ns/busybox:latest", "localhost/ns/busybox:latest".into()),
        ("library/busybox", "localhost/library/busybox:latest".into()),
        ("localhost/busybox", "localhost/busybox:latest".into()),
        ("example.com/busybox", "example.com/busybox:latest".into()),
        (
            "example.com/busybox:notlatest",
            "example.com/busybox:notlatest".into(),
        ),
        (
            "docker.io/busybox:latest",
            "docker.io/library/busybox:latest".into(),
        ),
        (
            "index.docker.io/busybox",
            "docker.io/library/busybox:latest".into(),
        ),
        ("host:5000/a", "host:5000/a:latest".into()),
        // A dotted first component that is no host name is a path component.
        ("a_b.c/d", "localhost/a_b.c/d:latest".into()),
        (
            &format!("example.com/busybox{d}"),
            format!("example.com/busybox{d}"),
        ),
        (
            &format!("example.com/busybox:x{d}"),
            format!("example.com/busybox{d}"),
        ),
        (
            &format!("busybox:latest{d}"),
            format!("localhost/busybox{d}"),
        ),
    ];
    for (input, want) in cases {
        let r = normalize_local(input).unwrap_or_else(|e| panic!("{input}: {e}"));
        assert_eq!(&r.to_string(), want, "{input}");
    }
}

#[test]
fn parts_and_familiar() {
    let r = normalize_docker(&format!("localhost:5000/a/b:t{}", d())).unwrap();
    assert_eq!(r.registry(), "localhost:5000");
    assert_eq!(r.path(), "a/b");
    assert_eq!(r.tag(), Some("t"));
    assert_eq!(r.digest().map(|d| d.hex()), Some(HEX));
    assert_eq!(r.name(), "localhost:5000/a/b");
    for (input, familiar) in [
        ("busybox", "busybox:latest"),
        ("user/app:1", "user/app:1"),
        ("library/a/b", "library/a/b:latest"),
        ("quay.io/x/y", "quay.io/x/y:latest"),
        ("localhost/x", "localhost/x:latest"),
        // Found by fuzz/ (reference): a short form that would name another registry.
        ("docker.io/example.com/x", "docker.io/example.com/x:latest"),
        ("docker.io/localhost/x", "docker.io/localhost/x:latest"),
    ] {
        assert_eq!(
            normalize_docker(input).unwrap().familiar(),
            familiar,
            "{input}"
        );
    }
    let digest: Digest = format!("sha256:{HEX}").parse().unwrap();
    let b = normalize_docker("busybox:1").unwrap();
    assert_eq!(
        b.canonical(digest.clone()).to_string(),
        format!("docker.io/library/busybox@sha256:{HEX}")
    );
    assert_eq!(
        b.with_digest(digest).to_string(),
        format!("docker.io/library/busybox:1@sha256:{HEX}")
    );
    assert!(b.same_repository(&normalize_docker("docker.io/busybox:2").unwrap()));
    assert!(!b.same_repository(&normalize_docker("quay.io/busybox:1").unwrap()));
}

#[test]
fn serde_round_trip() {
    let r = normalize_local("team/app:3").unwrap();
    let json = serde_json::to_string(&r).unwrap();
    assert_eq!(json, "\"localhost/team/app:3\"");
    assert_eq!(serde_json::from_str::<Reference>(&json).unwrap(), r);
    assert!(serde_json::from_str::<Reference>("\"Bad\"").is_err());
}

#[test]
fn invalid_inputs() {
    let long_tag = "t".repeat(129);
    let long_name = format!("quay.io/{}", "a".repeat(250));
    let cases: Vec<(String, Invalid)> = vec![
        ("".into(), Invalid::Empty),
        (":tag".into(), Invalid::Empty),
        (format!("@sha256:{HEX}"), Invalid::Empty),
        ("Busybox".into(), Invalid::Uppercase),
        ("user/App:1".into(), Invalid::Uppercase),
        ("quay.io/Foo/bar".into(), Invalid::Uppercase),
        ("busybox:".into(), Invalid::Tag("".into())),
        ("busybox:-x".into(), Invalid::Tag("-x".into())),
        ("busybox:a+b".into(), Invalid::Tag("a+b".into())),
        (format!("busybox:{long_tag}"), Invalid::TagTooLong),
        ("a//b".into(), Invalid::Component("".into())),
        ("a/".into(), Invalid::Component("".into())),
        ("/a".into(), Invalid::Component("".into())),
        ("a..b".into(), Invalid::Component("a..b".into())),
        ("a___b".into(), Invalid::Component("a___b".into())),
        ("-a".into(), Invalid::Component("-a".into())),
        ("a b".into(), Invalid::Component("a b".into())),
        ("$$garbage".into(), Invalid::Component("$$garbage".into())),
        ("ex-.com/a".into(), Invalid::Registry("ex-.com".into())),
        ("host:port/a".into(), Invalid::Registry("host:port".into())),
        ("[::1/a".into(), Invalid::Registry("[::1".into())),
        (long_name, Invalid::NameTooLong),
    ];
    for (input, reason) in cases {
        for result in [normalize_docker(&input), normalize_local(&input)] {
            let err = result.expect_err(&input);
            assert_eq!(err.input, input);
            assert_eq!(err.reason, reason, "{input}");
        }
    }
    // Bad digests carry the digest error.
    for input in [
        "busybox@sha256:abc",
        "busybox@md5:abc",
        "busybox@",
        "busybox@sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",
    ] {
        let err = normalize_docker(input).expect_err(input);
        assert!(matches!(err.reason, Invalid::Digest(_)), "{input}: {err}");
    }
    // A bare 64-hex string is an ID, never a Docker name.
    assert_eq!(normalize_docker(HEX).unwrap_err().reason, Invalid::HexName);
    assert_eq!(
        normalize_docker("Busybox").unwrap_err().to_string(),
        "invalid image reference \"Busybox\": repository name must be lowercase"
    );
}

#[test]
fn short_names() {
    for (input, short) in [
        ("busybox", true),
        ("busybox:1", true),
        ("library/fedora", true),
        (&format!("busybox{}", d()) as &str, true),
        ("quay.io/image", false),
        ("localhost/image:tag", false),
        ("server.org:5000/lib/image", false),
    ] {
        assert_eq!(is_short_name(input).unwrap(), short, "{input}");
    }
    assert!(is_short_name("UPPER").is_err());
}

fn strings(refs: &[Reference]) -> Vec<String> {
    refs.iter().map(ToString::to_string).collect()
}

#[test]
fn lookup_candidates() {
    let usr = vec![
        "registry.fedoraproject.org".to_string(),
        "docker.io".to_string(),
    ];
    let d = d();
    let cases: Vec<(String, &[String], Vec<String>)> = vec![
        (
            "busybox".into(),
            &[],
            vec![
                "localhost/busybox:latest".into(),
                "docker.io/library/busybox:latest".into(),
            ],
        ),
        (
            "busybox:1".into(),
            &usr,
            vec![
                "localhost/busybox:1".into(),
                "registry.fedoraproject.org/busybox:1".into(),
                "docker.io/library/busybox:1".into(),
            ],
        ),
        (
            "ns/app".into(),
            &[],
            vec![
                "localhost/ns/app:latest".into(),
                "docker.io/ns/app:latest".into(),
            ],
        ),
        (
            format!("busybox:1{d}"),
            &[],
            vec![
                format!("localhost/busybox{d}"),
                format!("docker.io/library/busybox{d}"),
            ],
        ),
        ("quay.io/x".into(), &usr, vec!["quay.io/x:latest".into()]),
        (
            "docker.io/busybox".into(),
            &[],
            vec!["docker.io/library/busybox:latest".into()],
        ),
        ("localhost/b:2".into(), &[], vec!["localhost/b:2".into()]),
    ];
    for (input, registries, want) in cases {
        let got = candidates(&input, registries).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(strings(&got), want, "{input}");
    }
}

#[test]
fn lookup_repo_suffix() {
    let cases: &[(&str, &str, bool)] = &[
        ("busybox", "docker.io/library/busybox:latest", true),
        ("busybox", "quay.io/busybox:latest", true),
        ("busybox", "example.com/deep/ns/busybox:latest", true),
        ("busybox:latest", "localhost/busybox:latest", true),
        ("busybox", "docker.io/library/busybox:1", false),
        ("busybox", "docker.io/library/mybusybox:latest", false),
        ("busybox", "docker.io/library/busybox-x:latest", false),
        ("busybox:1", "quay.io/busybox:1", true),
        ("busybox:1", "quay.io/busybox:2", false),
        ("library/busybox", "docker.io/library/busybox:latest", true),
        ("library/busybox", "quay.io/busybox:latest", false),
        ("ns/app:1", "quay.io/ns/app:1", true),
        ("ns/app:1", "quay.io/other/app:1", false),
        // Qualified inputs only match exactly, through the candidates.
        ("quay.io/busybox", "quay.io/busybox:latest", false),
        ("localhost/busybox", "localhost/busybox:latest", false),
    ];
    for (input, stored, want) in cases {
        let name = LookupName::parse(input, &[]).unwrap();
        let stored = normalize_docker(stored).unwrap();
        assert_eq!(
            name.matches_repo_suffix(&stored),
            *want,
            "{input} vs {stored}"
        );
    }
    // A digested short name accepts any tag; the caller checks the image's digests.
    let name = LookupName::parse(&format!("busybox:9{}", d()), &[]).unwrap();
    assert!(name.is_short());
    assert_eq!(name.digest().map(|d| d.hex()), Some(HEX));
    assert!(name.matches_repo_suffix(&normalize_docker("quay.io/busybox:1").unwrap()));
    assert!(!LookupName::parse("quay.io/x", &[]).unwrap().is_short());
}

#[test]
fn reference_filter() {
    let d = d();
    let tagged = "docker.io/library/busybox:1";
    let digested = format!("quay.io/ns/app{d}");
    let cases: Vec<(&str, &str, bool)> = vec![
        ("busybox", tagged, true),
        ("busybox:1", tagged, true),
        ("busybox:2", tagged, false),
        ("library/busybox", tagged, true),
        ("library/busybox:1", tagged, true),
        ("docker.io/library/busybox", tagged, true),
        ("docker.io/library/busybox:1", tagged, true),
        ("docker.io/library/busybox:*", tagged, true),
        ("busy*", tagged, true),
        ("*box:?", tagged, true),
        ("b[a-v]sybox", tagged, true),
        ("b[^u]sybox", tagged, false),
        ("b\\usybox", tagged, true),
        // `*` never crosses a `/`.
        ("*", tagged, true),
        ("*/busybox", tagged, true),
        ("docker.io/*", tagged, false),
        ("docker.io/*/*", tagged, true),
        ("*busybox:1", tagged, true),
        ("box", tagged, false),
        ("busybox:1.0", tagged, false),
        // Malformed patterns match nothing.
        ("busybox[", tagged, false),
        ("[]busybox", tagged, false),
        ("busybox\\", tagged, false),
        ("app", &digested, true),
        ("ns/app", &digested, true),
        ("quay.io/ns/app", &digested, true),
        ("app@sha256:*", &digested, true),
    ];
    for (pattern, stored, want) in cases {
        let stored = normalize_docker(stored).unwrap();
        assert_eq!(
            matches_reference_filter(pattern, &stored),
            want,
            "{pattern} vs {stored}"
        );
    }
}

/// Mutated references never panic the parsers, and what they accept is stable: its text and
/// its familiar name parse back to it (fuzz/ reference does the same with coverage guidance).
#[test]
fn mutated_references_never_panic() {
    let long = format!("{}/x", "a".repeat(250));
    let digested = format!("docker.io/library/busybox:1.36@sha256:{HEX}");
    let seeds: &[&[u8]] = &[
        digested.as_bytes(),
        b"localhost:5000/ns/app:v1",
        b"[::1]:5000/a__b/c-d.e:T_1",
        b"index.docker.io/u/a",
        long.as_bytes(),
    ];
    let registries = ["quay.io".to_string()];
    let stars = "*a".repeat(12) + "b";
    let count = crate::oci::mutate::each_mutation(seeds, b"/:@.-_[]*?\\A\0\xff", |bytes| {
        let text = String::from_utf8_lossy(bytes);
        for (how, f) in [
            ("docker", normalize_docker as fn(&str) -> _),
            ("local", normalize_local),
        ] {
            if let Ok(r) = f(&text) {
                assert_eq!(f(&r.to_string()).as_ref(), Ok(&r), "{how} {text:?}");
                assert_eq!(normalize_docker(&r.familiar()).as_ref(), Ok(&r), "{text:?}");
                let _ = matches_reference_filter(&stars, &r);
                let _ = matches_reference_filter(&text, &r);
            }
        }
        let _ = is_short_name(&text);
        if let Ok(l) = LookupName::parse(&text, &registries) {
            assert!(!l.candidates().is_empty(), "{text:?}");
        }
    });
    assert!(count > 5_000, "{count} mutations");
}
