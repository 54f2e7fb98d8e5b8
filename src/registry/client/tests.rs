use super::*;
use reqwest::header::HeaderMap;

#[test]
fn link_next() {
    assert_eq!(
        next_link(r#"</v2/_catalog?last=b&n=2>; rel="next""#).as_deref(),
        Some("/v2/_catalog?last=b&n=2")
    );
    assert_eq!(
        next_link(r#"<https://r.example/v2/x/tags/list?n=10&last=c>; rel=next"#).as_deref(),
        Some("https://r.example/v2/x/tags/list?n=10&last=c")
    );
    assert_eq!(
        next_link(r#"</a?x=1,2>; rel="prev", </b>; type="x"; rel="next""#).as_deref(),
        Some("/b")
    );
    assert_eq!(next_link(r#"</a>; rel="prev""#), None);
    assert_eq!(next_link(""), None);
    assert_eq!(next_link("<unterminated; rel=next"), None);
}

#[test]
fn retry_after_seconds_and_dates() {
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480); // 2015-10-21 07:28:00
    assert_eq!(retry_after("5", now), Some(Duration::from_secs(5)));
    assert_eq!(retry_after(" 0 ", now), Some(Duration::ZERO));
    assert_eq!(retry_after("3600", now), Some(MAX_RETRY_AFTER));
    assert_eq!(
        retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now),
        Some(Duration::from_secs(30))
    );
    assert_eq!(
        retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now),
        Some(Duration::ZERO)
    );
    assert_eq!(retry_after("soon", now), None);
    assert_eq!(retry_after("-1", now), None);
}

fn loc(current: &str, location: &str) -> String {
    let mut headers = HeaderMap::new();
    headers.insert(header::LOCATION, location.parse().unwrap());
    next_location(&Url::parse(current).unwrap(), &headers)
        .unwrap()
        .to_string()
}

#[test]
fn upload_locations() {
    let post = "https://r.example:5000/v2/team/app/blobs/uploads/";
    assert_eq!(
        loc(post, "/v2/team/app/blobs/uploads/u1?_state=abc"),
        "https://r.example:5000/v2/team/app/blobs/uploads/u1?_state=abc"
    );
    assert_eq!(
        loc(post, "u2"),
        "https://r.example:5000/v2/team/app/blobs/uploads/u2"
    );
    assert_eq!(
        loc(post, "https://storage.example/up/1?sig=x"),
        "https://storage.example/up/1?sig=x"
    );
    // The digest is appended to whatever query the location already has.
    let mut put = Url::parse(&loc(post, "/v2/team/app/blobs/uploads/u1?_state=a%2Bb")).unwrap();
    let digest = Digest::of_bytes(b"x");
    put.query_pairs_mut()
        .append_pair("digest", &digest.to_string());
    assert_eq!(
        put.as_str(),
        format!(
            "https://r.example:5000/v2/team/app/blobs/uploads/u1?_state=a%2Bb&digest=sha256%3A{}",
            digest.hex()
        )
    );
    let mut put = Url::parse(&loc(post, "u3")).unwrap();
    put.query_pairs_mut().append_pair("digest", "sha256:00");
    assert_eq!(put.query(), Some("digest=sha256%3A00"));

    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, "x".parse().unwrap());
    assert!(next_location(&Url::parse(post).unwrap(), &headers).is_err());
}

#[test]
fn origins() {
    let base = Url::parse("https://r.example/").unwrap();
    assert!(same_origin(
        &base,
        &Url::parse("https://r.example:443/v2/x").unwrap()
    ));
    assert!(!same_origin(
        &base,
        &Url::parse("http://r.example/v2/x").unwrap()
    ));
    assert!(!same_origin(
        &base,
        &Url::parse("https://r.example:5000/").unwrap()
    ));
    assert!(!same_origin(
        &base,
        &Url::parse("https://s3.example/").unwrap()
    ));
}

#[test]
fn registry_errors() {
    let body = br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"Tag":"2"}}]}"#;
    let e = status_error("https://r/v2/x/manifests/2", 404, body, "manifest");
    assert!(
        matches!(
            e,
            RegistryError::NotFound {
                what: "manifest",
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(
        e.to_string(),
        "https://r/v2/x/manifests/2: manifest unknown"
    );

    let body = br#"{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to registry","detail":{"name":"x"}}]}"#;
    let e = status_error("u", 404, body, "blob");
    assert!(matches!(
        e,
        RegistryError::NotFound {
            what: "repository",
            ..
        }
    ));

    let body =
        br#"{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}"#;
    assert!(matches!(
        status_error("u", 401, body, "x"),
        RegistryError::Denied { .. }
    ));
    let body = br#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":[{"Type":"repository"}]}]}"#;
    assert!(matches!(
        status_error("u", 401, body, "x"),
        RegistryError::Unauthorized { .. }
    ));
    let body = br#"{"errors":[{"code":"TOOMANYREQUESTS","message":"You have reached your pull rate limit."}]}"#;
    let e = status_error("u", 429, body, "x");
    assert!(e.is_retryable());
    assert!(e.to_string().contains("pull rate limit"));

    let e = status_error("u", 403, b"", "x");
    assert!(matches!(e, RegistryError::Denied { .. }));
    let e = status_error("u", 404, b"", "blob");
    assert!(matches!(e, RegistryError::NotFound { what: "blob", .. }));
    let e = status_error("u", 502, b"<html>\n<h1>Bad Gateway</h1>\n</html>", "x");
    assert!(e.is_retryable());
    assert_eq!(e.to_string(), "u: 502: <html>");
    assert!(!status_error("u", 400, b"", "x").is_retryable());
    assert!(status_error("u", 408, b"", "x").is_retryable());
}

#[test]
fn media_types() {
    let oci = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{}}"#;
    assert_eq!(
        manifest_media_type(
            Some("application/vnd.docker.distribution.manifest.v2+json"),
            oci
        )
        .unwrap(),
        crate::oci::manifest::DOCKER_MANIFEST
    );
    assert_eq!(
        manifest_media_type(Some("application/json; charset=utf-8"), oci).unwrap(),
        crate::oci::manifest::OCI_MANIFEST
    );
    assert_eq!(
        manifest_media_type(None, br#"{"schemaVersion":2,"manifests":[]}"#).unwrap(),
        crate::oci::manifest::OCI_INDEX
    );
    let err = manifest_media_type(
        Some("application/vnd.docker.distribution.manifest.v1+prettyjws"),
        b"{}",
    )
    .unwrap_err();
    assert!(err.contains("schema 1"), "{err}");
    let err = manifest_media_type(Some("text/plain"), br#"{"schemaVersion":1,"fsLayers":[]}"#)
        .unwrap_err();
    assert!(err.contains("schema 1"), "{err}");
    assert!(manifest_media_type(None, b"{}").is_err());
    assert!(manifest_media_type(None, b"nope").is_err());
}

#[test]
fn content_ranges() {
    assert_eq!(
        parse_content_range("bytes 100-199/200"),
        Some((100, Some(200)))
    );
    assert_eq!(parse_content_range("bytes 5-9/*"), Some((5, None)));
    assert_eq!(parse_content_range("items 1-2/3"), None);
}

#[test]
fn chunk_requests() {
    assert!(needs_chunks(413, b""));
    assert!(needs_chunks(
        400,
        br#"{"errors":[{"code":"BLOB_UPLOAD_INVALID","message":"use chunked upload"}]}"#
    ));
    assert!(!needs_chunks(
        400,
        br#"{"errors":[{"code":"DIGEST_INVALID"}]}"#
    ));
}

#[test]
fn client_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Client>();
}
