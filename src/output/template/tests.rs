use serde_json::json;

use super::*;

const IMAGES: ListFormat = ListFormat {
    default: "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}",
    headers: &[("ID", "IMAGE ID"), ("CreatedSince", "CREATED")],
    json: JsonStyle::LIST,
};

fn rows() -> Vec<Json> {
    vec![
        json!({
            "Repository": "docker.io/library/alpine", "Tag": "latest", "ID": "c059bfaa849c",
            "CreatedSince": "2 weeks ago", "Size": "5.87 MB",
            "Names": ["docker.io/library/alpine:latest", "localhost/a:1"],
            "Labels": {"maintainer": "me", "a": "b<c"}, "Dangling": false,
        }),
        json!({
            "Repository": "quay.io/podman/hello", "Tag": "<none>", "ID": "0123456789ab",
            "CreatedSince": "3 years ago", "Size": "82.5 kB",
            "Names": [], "Labels": null, "Dangling": true,
        }),
    ]
}

fn list(format: Option<&str>, noheading: bool) -> Result<String, FormatError> {
    render_list(format, &IMAGES, &rows(), noheading, || json!([{"Id": "x"}]))
}

#[test]
fn default_table() {
    let want = "\
REPOSITORY                TAG         IMAGE ID      CREATED      SIZE
docker.io/library/alpine  latest      c059bfaa849c  2 weeks ago  5.87 MB
quay.io/podman/hello      <none>      0123456789ab  3 years ago  82.5 kB
";
    assert_eq!(list(None, false).unwrap(), want);
    assert_eq!(list(Some("table"), false).unwrap(), want);
    let body: String = want.lines().skip(1).map(|l| format!("{l}\n")).collect();
    assert_eq!(list(None, true).unwrap(), body);
}

#[test]
fn custom_table_with_spaces() {
    let want = "\
IMAGE ID      SIZE
c059bfaa849c  5.87 MB
0123456789ab  82.5 kB
";
    assert_eq!(list(Some("table {{.ID}} {{.Size}}"), false).unwrap(), want);
    assert_eq!(
        list(Some(r"table {{.ID}}\t{{.Size}}"), false).unwrap(),
        want
    );
}

#[test]
fn table_header_through_functions_and_defaults() {
    let out = list(
        Some("table {{upper .Tag}} {{.Dangling}} {{.CreatedSince}}"),
        false,
    );
    let want = "\
TAG         DANGLING    CREATED
LATEST      false       2 weeks ago
<NONE>      true        3 years ago
";
    assert_eq!(out.unwrap(), want);
}

#[test]
fn table_header_falls_back_per_column() {
    // Podman fails on this header (join of a string); we title the column instead.
    let out = list(Some(r#"table {{.ID}}\t{{join .Names ","}}"#), false).unwrap();
    let want = "\
IMAGE ID      NAMES
c059bfaa849c  docker.io/library/alpine:latest,localhost/a:1
0123456789ab  
";
    assert_eq!(out, want);
}

#[test]
fn plain_templates() {
    let cases = [
        (
            "{{.Repository}}:{{.Tag}}",
            "docker.io/library/alpine:latest\nquay.io/podman/hello:<none>\n",
        ),
        (
            r"{{.ID}}\t{{.Size}}",
            "c059bfaa849c\t5.87 MB\n0123456789ab\t82.5 kB\n",
        ),
        (
            "{{json .Labels}}",
            "{\"a\":\"b<c\",\"maintainer\":\"me\"}\nnull\n",
        ),
        ("{{upper .Tag}}", "LATEST\n<NONE>\n"),
        (
            "{{join .Names \",\"}}",
            "docker.io/library/alpine:latest,localhost/a:1\n\n",
        ),
        (
            "{{range .Names}}{{.}} {{end}}",
            "docker.io/library/alpine:latest localhost/a:1 \n\n",
        ),
        ("{{.Labels}}", "map[a:b<c maintainer:me]\n<nil>\n"),
        // A template with its own range runs once over the list.
        ("{{range .}}{{.ID}},{{end}}", "c059bfaa849c,0123456789ab,\n"),
    ];
    for (format, want) in cases {
        assert_eq!(list(Some(format), false).unwrap(), want, "{format}");
    }
}

#[test]
fn json_format() {
    let want = "[\n    {\n        \"Id\": \"x\"\n    }\n]\n";
    assert_eq!(list(Some("json"), false).unwrap(), want);
    assert_eq!(list(Some(" {{ json }} "), false).unwrap(), want);
    // `{{json .}}` is a template over each row.
    let out = list(Some("{{json .Tag}}"), false).unwrap();
    assert_eq!(out, "\"latest\"\n\"<none>\"\n");
}

#[test]
fn is_json_as_podman() {
    for yes in [
        "json",
        " json ",
        "{{json}}",
        "{{ json }}",
        "{{json.}}",
        "{{ json. }}",
        // Podman 4.3 prints the whole list for these too (checked against podman images).
        "{{json .}}",
        "{{ json . }}",
    ] {
        assert!(is_json(yes), "{yes}");
    }
    for no in ["JSON", "{{json .ID}}", "jsonx", "table json", ""] {
        assert!(!is_json(no), "{no}");
    }
}

#[test]
fn nested_object_fields() {
    let info = json!({"Store": {"GraphRoot": "/var/lib/containers/storage", "GraphDriverName": "overlay"},
                      "Host": {"Arch": "amd64"}});
    let out = render_object(
        Some("{{.Store.GraphRoot}} {{.Host.Arch}}"),
        &info,
        &info,
        JsonStyle::LIST,
    );
    assert_eq!(out.unwrap(), "/var/lib/containers/storage amd64\n");
    let out = render_object(None, &info, &json!({"a": 1}), JsonStyle::LIST);
    assert_eq!(out.unwrap(), "{\n    \"a\": 1\n}\n");
    let out = render_object(Some("{{.Store.Missing}}"), &info, &info, JsonStyle::LIST);
    assert!(matches!(out, Err(FormatError::Execute { .. })));
}

#[test]
fn nested_field_table_header() {
    let rows = [json!({"Store": {"GraphRoot": "/x"}})];
    let spec = ListFormat {
        default: "table {{.Store.GraphRoot}}",
        headers: &[],
        json: JsonStyle::LIST,
    };
    let out = render_list(None, &spec, &rows, false, || Json::Null).unwrap();
    assert_eq!(out, "GRAPH ROOT\n/x\n");
}

#[test]
fn inspect() {
    let items = [json!({"Id": "abc", "Config": {"Labels": {"b": "2", "a": "1"}}})];
    let out = render_inspect(None, &items).unwrap();
    assert!(
        out.starts_with("[\n     {\n          \"Id\": \"abc\""),
        "{out}"
    );
    let out = render_inspect(Some("{{.Id}}"), &items).unwrap();
    assert_eq!(out, "abc\n");
    let out = render_inspect(
        Some(r"{{range $k, $v := .Config.Labels}}{{$k}}={{$v}}\n{{end}}"),
        &items,
    );
    // NormalizeFormat appends a newline after `{{end}}`: Podman prints the blank line too.
    assert_eq!(out.unwrap(), "a=1\nb=2\n\n");
}

#[test]
fn errors_name_the_template() {
    let err = list(Some("{{.Nope}}"), false).unwrap_err();
    assert!(matches!(err, FormatError::Execute { .. }));
    let msg = err.to_string();
    assert!(msg.contains("{{.Nope}}") && msg.contains("Nope"), "{msg}");

    let err = list(Some("{{nosuch .ID}}"), false).unwrap_err();
    assert!(matches!(err, FormatError::Parse { .. }), "{err}");
    assert!(err.to_string().contains("nosuch"), "{err}");

    let err = list(Some("{{.ID"), false).unwrap_err();
    assert!(matches!(err, FormatError::Parse { .. }), "{err}");

    let err = list(Some("table {{.Nope}}"), false).unwrap_err();
    assert!(matches!(err, FormatError::Execute { .. }), "{err}");
}

#[test]
fn camel_case_titles() {
    let cases = [
        ("ID", "ID"),
        ("CreatedSince", "CREATED SINCE"),
        ("ReadOnly", "READ ONLY"),
        ("PDFLoader", "PDF LOADER"),
        ("GL11Version", "GL 11 VERSION"),
        ("FieldA", "FIELD A"),
        ("Fieldb", "FIELDB"),
    ];
    for (field, want) in cases {
        assert_eq!(title_of(&[field.to_owned()], &[]), want, "{field}");
    }
    assert_eq!(
        title_of(&["ID".to_owned()], &[("ID", "image id")]),
        "IMAGE ID"
    );
}
