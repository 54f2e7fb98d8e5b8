use serde_json::json;

use super::*;

fn run(text: &str, data: serde_json::Value) -> Result<String, String> {
    GoTemplate::parse(text)?.execute(to_value(&data))
}

#[test]
fn normalize_format_as_podman() {
    // containers/common's TestNormalizeFormat cases, plus `\n`.
    let cases = [
        ("{{.ID}}\t{{.ID}}", "{{.ID}}\t{{.ID}}\n"),
        (r"{{.ID}}\t{{.ID}}", "{{.ID}}\t{{.ID}}\n"),
        ("{{.ID}} {{.ID}}", "{{.ID}} {{.ID}}\n"),
        (r"table {{.ID}}\t{{.ID}}", "{{.ID}}\t{{.ID}}\n"),
        ("table {{.ID}} {{.ID}}", "{{.ID}}\t{{.ID}}\n"),
        (r"{{.ID}}\n", "{{.ID}}\n"),
        (r"{{.A}}\n{{.B}}", "{{.A}}\n{{.B}}\n"),
    ];
    for (input, want) in cases {
        assert_eq!(normalize_format(input), want, "{input}");
    }
}

#[test]
fn enforce_range_as_podman() {
    assert_eq!(enforce_range("{{.ID}}\n"), "{{range .}}{{.ID}}\n{{end -}}");
    let own = "{{range . }}{{.ID}}{{end}}";
    assert_eq!(enforce_range(own), own);
}

#[test]
fn pieces_split_actions() {
    let p = pieces("a{{- .X -}}b{{ \"}}\" }}{{/* c }} */}}");
    assert_eq!(
        p,
        vec![
            Piece::Text("a"),
            Piece::Action(Action {
                left_trim: true,
                right_trim: true,
                body: " .X "
            }),
            Piece::Text("b"),
            Piece::Action(Action {
                left_trim: false,
                right_trim: false,
                body: " \"}}\" "
            }),
            Piece::Action(Action {
                left_trim: false,
                right_trim: false,
                body: "/* c }} */"
            }),
        ]
    );
    assert_eq!(pieces("{{.X"), vec![Piece::Text("{{.X")]);
    assert_eq!(pieces("{{-3}}").len(), 1);
}

#[test]
fn prints_like_go() {
    let data = json!({
        "Names": ["a", "b"],
        "Labels": {"z": "1", "a": "2"},
        "Nothing": null,
        "Size": 12,
        "Ratio": 0.5,
        "Ok": true,
        "Nested": [[1, 2], []],
    });
    let out = run(
        "{{.Names}}|{{.Labels}}|{{.Nothing}}|{{.Size}}|{{.Ratio}}|{{.Ok}}|{{.Nested}}|{{.Labels.missing}}",
        data,
    );
    assert_eq!(
        out.as_deref(),
        Ok("[a b]|map[a:2 z:1]|<nil>|12|0.5|true|[[1 2] []]|<no value>")
    );
}

#[test]
fn ranges_over_maps_in_key_order() {
    let data = json!({"Labels": {"c": "3", "a": "1", "b": "2"}, "Nil": null});
    let out = run(
        "{{range $k, $v := .Labels}}{{$k}}={{$v}},{{end}}|{{range .Labels}}{{.}}{{end}}|{{range .Nil}}x{{end}}",
        data,
    );
    assert_eq!(out.as_deref(), Ok("a=1,b=2,c=3,|123|"));
    let out = run(
        "{{range $i, $n := .Names -}}\n {{$i}}:{{$n}} {{end}}",
        json!({"Names": ["x", "y"]}),
    );
    assert_eq!(out.as_deref(), Ok("0:x 1:y "));
}

#[test]
fn range_else_runs_only_when_empty() {
    let data = json!({"N": ["a", "b"], "E": [], "M": {"k": "v"}, "Nil": null});
    let out = run(
        "{{range .N}}{{.}}{{else}}none{{end}}|{{range .E}}x{{else}}none{{end}}|\
         {{range $k, $v := .M -}} {{$k}}{{$v}} {{- else -}} none {{- end}}|\
         {{range .Nil}}x{{else}}{{if .N}}nil{{else}}?{{end}}{{end}}",
        data,
    );
    assert_eq!(out.as_deref(), Ok("ab|none|kv|nil"));
}

#[test]
fn declarations_and_keywords_are_not_printed() {
    let out = run(
        "{{$x := .A}}{{if eq $x \"a\"}}yes{{else}}no{{end}}{{with .B}}{{.}}{{end}}{{/* note */}}",
        json!({"A": "a", "B": ["q"]}),
    );
    assert_eq!(out.as_deref(), Ok("yes[q]"));
}

#[test]
fn functions_as_containers_common() {
    let data = json!({
        "Names": ["a", "b"], "Tag": "latest", "ID": "0123456789abcdef",
        "Labels": {"b": "<x>", "a": 1}, "Text": "hello wide-world foo_bar",
    });
    let cases = [
        ("{{join .Names \",\"}}", "a,b"),
        ("{{json .Labels}}", r#"{"a":1,"b":"<x>"}"#),
        ("{{json .Names}}", r#"["a","b"]"#),
        ("{{upper .Tag}}", "LATEST"),
        ("{{.Tag | upper | lower}}", "latest"),
        ("{{truncate .ID 5}}", "01234"),
        ("{{truncate .Tag 50}}", "latest"),
        ("{{pad .Tag 2 1}}|", "  latest |"),
        ("{{split \"a:b:c\" \":\"}}", "[a b c]"),
        ("{{title .Text}}", "Hello Wide-World Foo_bar"),
        ("{{len .Names}}", "2"),
        ("{{index .Names 1}}", "b"),
        ("{{printf \"%s-%d\" .Tag 3}}", "latest-3"),
    ];
    for (text, want) in cases {
        assert_eq!(run(text, data.clone()).as_deref(), Ok(want), "{text}");
    }
}

#[test]
fn tabs_inside_actions_are_white_space() {
    // `table {{join .Names ","}}` becomes this after normalize_format.
    let out = run("{{join\t.Names\t\",\"}}", json!({"Names": ["a", "b"]}));
    assert_eq!(out.as_deref(), Ok("a,b"));
}

#[test]
fn errors() {
    assert!(run("{{.Missing}}", json!({"ID": "x"})).is_err_and(|e| e.contains("Missing")));
    assert!(run("{{nosuchfunc .ID}}", json!({"ID": "x"})).is_err());
    assert!(run("{{.ID", json!({"ID": "x"})).is_err());
    assert!(run("{{if .ID}}", json!({"ID": "x"})).is_err());
    assert!(run("{{upper .N}}", json!({"N": 1})).is_err());
}

#[test]
fn field_chains_found() {
    let chains = field_chains(
        "{{.ID}}\t{{join .Names \",\"}} {{$v.X}} {{ \".Not\" }} {{.Store.GraphRoot}} {{1.5}} {{$.Top}}",
    );
    let want: Vec<Vec<String>> = vec![
        vec!["ID".into()],
        vec!["Names".into()],
        vec!["Store".into(), "GraphRoot".into()],
        vec!["Top".into()],
    ];
    assert_eq!(chains, want);
}
