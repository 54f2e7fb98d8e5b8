//! Go templates over gtmpl, made to behave like Go's `text/template` where Podman users see it.
//!
//! gtmpl parses and executes; three gaps are closed by rewriting the template text before it is
//! parsed (gtmpl's syntax tree is private):
//!
//! - gtmpl prints arrays and maps with Rust's `Debug`; Go prints `[a b]` and `map[k:v]`. Every
//!   printing action `{{X}}` becomes `{{X | _print}}`, and `_print` formats as Go's `%v`.
//! - gtmpl ranges over a map in hash order; Go in key order. `{{range [$v :=] X}}` becomes
//!   `{{range [$v :=] X | _values}}` (the values, sorted by key), and
//!   `{{range $k, $v := X}}` becomes `{{range $k, $v := X | _pairs}}{{$k := $v.k}}{{$v := $v.v}}`.
//! - JSON `null` is `<nil>` when printed, and ranging over it is an empty loop, as over Go's nil
//!   slices and maps.
//!
//! - gtmpl runs a `range`'s `{{else}}` after the iterations too; Go only when there were none.
//!   That `{{else}}` becomes `{{end}}{{if _empty (X)}}`, closed by the range's `{{end}}`.
//!
//! Template data are `serde_json::Value`s converted by [`to_value`]. JSON cannot tell a struct
//! from a map: an object whose keys all look like exported Go fields (`ID`, `GraphRoot`) is
//! treated as a struct (a missing field is an error), any other object as a map (a missing key
//! prints `<no value>`). Known differences from Go that remain: struct fields print in key
//! order, `printf` formats lists and maps its own way, and `$x = value` (assignment) and
//! `break`/`continue` are not supported by gtmpl.

use std::collections::HashMap;

use gtmpl::error::{ExecError, ParseError, TemplateError};
use gtmpl::{Context, Func, FuncError, Template, Value};

use super::gofmt::format_g;
use super::json::{JsonStyle, to_json};

/// A parsed template, ready to run on data.
pub struct GoTemplate {
    template: Template,
}

impl GoTemplate {
    /// Parses `text` (already normalised) after the rewriting described in the module header.
    pub fn parse(text: &str) -> Result<GoTemplate, String> {
        let mut template = Template::with_name("format");
        template.add_funcs(FUNCS);
        template
            .parse(rewrite(text))
            .map_err(|e| describe(&TemplateError::ParseError(e)))?;
        Ok(GoTemplate { template })
    }

    pub fn execute(&self, data: Value) -> Result<String, String> {
        self.template
            .render(&Context::from(data))
            .map_err(|e| describe(&TemplateError::ExecError(e)))
    }
}

/// A readable message for gtmpl's errors; some of them print the whole receiver.
fn describe(err: &TemplateError) -> String {
    match err {
        TemplateError::ExecError(ExecError::NoFiledFor(field, _)) => {
            format!("can't evaluate field {field}")
        }
        TemplateError::ExecError(ExecError::OnlyMapsAndObjectsHaveFields) => {
            "can't evaluate a field of a value that is not a struct or map".to_owned()
        }
        TemplateError::ExecError(ExecError::InvalidRange(v)) => {
            format!("range can't iterate over {}", go_print(v))
        }
        TemplateError::ParseError(ParseError::WithContext(ctx, msg)) => {
            format!("line {}: {msg}", ctx.line)
        }
        other => other.to_string(),
    }
}

/// Podman's `NormalizeFormat`: a `table ` template has `table ` removed and its spaces turned
/// into tabs (column separators, also inside actions and string literals, as in Podman); in
/// all templates the escapes `\t` and `\n` typed on the command line become a tab and a
/// newline; a final newline is added when missing.
pub fn normalize_format(format: &str) -> String {
    let table = format.starts_with("table ");
    let mut out = String::with_capacity(format.len() + 1);
    let mut rest = format;
    while let Some(c) = rest.chars().next() {
        if table && rest.starts_with("table ") {
            rest = &rest["table ".len()..];
        } else if rest.starts_with("\\t") {
            out.push('\t');
            rest = &rest[2..];
        } else if rest.starts_with("\\n") {
            out.push('\n');
            rest = &rest[2..];
        } else {
            out.push(if table && c == ' ' { '\t' } else { c });
            rest = &rest[c.len_utf8()..];
        }
    }
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out
}

/// Podman's `EnforceRange`: wraps `format` in `{{range .}}...{{end -}}` unless it already has
/// a `{{range .}}...{{end}}` of its own (then it is run once on the whole list).
pub fn enforce_range(format: &str) -> String {
    // Podman's regular expression: `{{\s*range\s*\.\s*}}.*{{\s*end\s*-?\s*}}`.
    let bodies: Vec<&str> = pieces(format)
        .into_iter()
        .filter_map(|p| match p {
            Piece::Action(a) if !a.left_trim => Some(a.body.trim()),
            _ => None,
        })
        .collect();
    let range_dot = bodies.iter().position(|b| {
        b.strip_prefix("range")
            .is_some_and(|rest| rest.trim() == ".")
    });
    let has_range = range_dot.is_some_and(|i| bodies[i + 1..].contains(&"end"));
    if has_range {
        format.to_owned()
    } else {
        format!("{{{{range .}}}}{format}{{{{end -}}}}")
    }
}

/// A piece of template text: literal text or one `{{...}}` action.
#[derive(Debug, PartialEq)]
pub enum Piece<'a> {
    Text(&'a str),
    Action(Action<'a>),
}

/// An action; `body` excludes the delimiters and the trim markers' dashes.
#[derive(Debug, PartialEq)]
pub struct Action<'a> {
    pub left_trim: bool,
    pub right_trim: bool,
    pub body: &'a str,
}

/// Splits `text` into literal text and actions, as Go's lexer delimits them (string, raw
/// string and character literals may contain `}}`). An unterminated action is left as text
/// for the parser to report.
pub fn pieces(text: &str) -> Vec<Piece<'_>> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        let Some(len) = action_len(&rest[open..]) else {
            break;
        };
        if open > 0 {
            out.push(Piece::Text(&rest[..open]));
        }
        let raw = &rest[open + 2..open + len - 2];
        let left_trim = raw.starts_with('-') && raw[1..].starts_with(is_go_space);
        let body = if left_trim { &raw[1..] } else { raw };
        let right_trim =
            body.len() >= 2 && body.ends_with('-') && body[..body.len() - 1].ends_with(is_go_space);
        let body = if right_trim {
            &body[..body.len() - 1]
        } else {
            body
        };
        out.push(Piece::Action(Action {
            left_trim,
            right_trim,
            body,
        }));
        rest = &rest[open + len..];
    }
    if !rest.is_empty() {
        out.push(Piece::Text(rest));
    }
    out
}

fn is_go_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

/// The length of the action at the start of `s` (which starts with `{{`), delimiters included.
fn action_len(s: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut i = 2;
    let inner = s[2..].trim_start_matches('-').trim_start();
    if inner.starts_with("/*") {
        let start = s.len() - inner.len();
        let end = s[start..].find("*/")? + start + 2;
        return Some(s[end..].find("}}")? + end + 2);
    }
    while i < bytes.len() {
        match bytes[i] {
            b'}' if bytes.get(i + 1) == Some(&b'}') => return Some(i + 2),
            quote @ (b'"' | b'\'') => {
                i += 1;
                while i < bytes.len() && bytes[i] != quote {
                    if bytes[i] == b'\n' {
                        return None;
                    }
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'`' => i += s[i + 1..].find('`')? + 1,
            _ => {}
        }
        i += 1;
    }
    None
}

const KEYWORDS: &[&str] = &[
    "if", "else", "end", "range", "with", "define", "template", "block", "break", "continue",
];

/// The rewriting described in the module header.
fn rewrite(text: &str) -> String {
    // Open blocks, to find the `{{else}}` of a `range`: gtmpl would run it after iterations.
    // It becomes `{{end}}{{if _empty (pipeline)}}`, closed by the range's own `{{end}}`.
    let mut blocks: Vec<Option<String>> = Vec::new();
    let mut out = String::with_capacity(text.len() + 64);
    for piece in pieces(text) {
        let action = match piece {
            Piece::Text(t) => {
                out.push_str(t);
                continue;
            }
            Piece::Action(a) => a,
        };
        let trimmed = action.body.trim();
        let keyword = trimmed
            .split(|c: char| is_go_space(c) || c == '(')
            .next()
            .unwrap_or("");
        let (body, after) = if trimmed.is_empty()
            || trimmed.starts_with("/*")
            || (trimmed.starts_with('$') && declaration(trimmed).is_some())
        {
            (action.body.to_owned(), String::new())
        } else if keyword == "range" {
            let (body, after, pipeline) = rewrite_range(&trimmed["range".len()..]);
            blocks.push(Some(pipeline));
            (body, after)
        } else if trimmed == "else" && matches!(blocks.last(), Some(Some(_))) {
            let pipeline = blocks.pop().flatten().unwrap_or_default();
            blocks.push(None);
            (
                " end ".to_owned(),
                format!("{{{{if _empty ({pipeline})}}}}"),
            )
        } else if KEYWORDS.contains(&keyword) {
            match keyword {
                "if" | "with" | "define" | "block" => blocks.push(None),
                "end" => drop(blocks.pop()),
                _ => {}
            }
            (action.body.to_owned(), String::new())
        } else {
            (format!(" {trimmed} | _print "), String::new())
        };
        out.push_str(if action.left_trim { "{{-" } else { "{{" });
        out.push_str(&body);
        if after.is_empty() {
            out.push_str(if action.right_trim { "-}}" } else { "}}" });
        } else {
            out.push_str("}}");
            out.push_str(&after);
            if action.right_trim {
                // Move the trim marker to the last action we added.
                out.truncate(out.len() - 2);
                out.push_str(" -}}");
            }
        }
    }
    out
}

/// `rest` follows `range`; returns the new action body, the actions to put after it and the
/// pipeline ranged over.
fn rewrite_range(rest: &str) -> (String, String, String) {
    match declaration(rest.trim()) {
        Some((vars, pipeline)) if vars.len() == 2 => {
            let (k, v) = (vars[0], vars[1]);
            let pipeline = pipeline.trim();
            (
                format!(" range {k}, {v} := {pipeline} | _pairs "),
                format!("{{{{{k} := {v}.k}}}}{{{{{v} := {v}.v}}}}"),
                pipeline.to_owned(),
            )
        }
        Some((vars, pipeline)) => (
            format!(
                " range {} := {} | _values ",
                vars.join(", "),
                pipeline.trim()
            ),
            String::new(),
            pipeline.trim().to_owned(),
        ),
        None => (
            format!(" range {} | _values ", rest.trim()),
            String::new(),
            rest.trim().to_owned(),
        ),
    }
}

/// `$a[, $b] := pipeline` (or `=`): the variables and the pipeline.
fn declaration(s: &str) -> Option<(Vec<&str>, &str)> {
    let mut vars = Vec::new();
    let mut rest = s;
    loop {
        let name_len = rest
            .strip_prefix('$')?
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .map_or(rest.len(), |n| n + 1);
        vars.push(&rest[..name_len]);
        rest = rest[name_len..].trim_start();
        match rest.strip_prefix(',') {
            Some(r) if vars.len() < 2 => rest = r.trim_start(),
            _ => break,
        }
    }
    let pipeline = rest
        .strip_prefix(":=")
        .or_else(|| rest.strip_prefix('=').filter(|r| !r.starts_with('=')))?;
    Some((vars, pipeline))
}

/// The field chains (`.Store.GraphRoot` → `["Store", "GraphRoot"]`) that actions of `text`
/// read from dot or `$`, in order. Fields of variables (`$v.Name`) are not included.
pub fn field_chains(text: &str) -> Vec<Vec<String>> {
    let mut chains = Vec::new();
    for piece in pieces(text) {
        if let Piece::Action(action) = piece {
            field_chains_in(action.body, &mut chains);
        }
    }
    chains
}

fn field_chains_in(body: &str, chains: &mut Vec<Vec<String>>) {
    let chars: Vec<char> = body.chars().collect();
    let mut i = 0;
    let mut prev = ' ';
    while i < chars.len() {
        let c = chars[i];
        if matches!(c, '"' | '\'' | '`') {
            // Skip the literal.
            i += 1;
            while i < chars.len() && chars[i] != c {
                i += if chars[i] == '\\' && c != '`' { 2 } else { 1 };
            }
            prev = c;
            i += 1;
            continue;
        }
        let starts_chain = c == '.'
            && !(prev.is_alphanumeric() || matches!(prev, '_' | ')' | ']' | '.'))
            && chars
                .get(i + 1)
                .is_some_and(|n| n.is_alphabetic() || *n == '_');
        if !starts_chain {
            prev = c;
            i += 1;
            continue;
        }
        let mut chain = Vec::new();
        while i < chars.len() && chars[i] == '.' {
            let start = i + 1;
            let mut end = start;
            while end < chars.len() && (chars[end].is_alphanumeric() || chars[end] == '_') {
                end += 1;
            }
            if end == start {
                break;
            }
            chain.push(chars[start..end].iter().collect());
            i = end;
        }
        chains.push(chain);
        prev = 'x';
    }
}

/// Converts template data; see the module header for objects.
pub fn to_value(v: &serde_json::Value) -> Value {
    match v {
        serde_json::Value::Null => Value::Nil,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                Value::from(u)
            } else if let Some(i) = n.as_i64() {
                Value::from(i)
            } else {
                Value::from(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        serde_json::Value::String(s) => Value::String(s.clone()),
        serde_json::Value::Array(a) => Value::Array(a.iter().map(to_value).collect()),
        serde_json::Value::Object(o) => {
            let map: HashMap<String, Value> =
                o.iter().map(|(k, v)| (k.clone(), to_value(v))).collect();
            let is_struct = !o.is_empty()
                && o.keys()
                    .all(|k| k.starts_with(|c: char| c.is_ascii_uppercase()));
            if is_struct {
                Value::Object(map)
            } else {
                Value::Map(map)
            }
        }
    }
}

/// Back to JSON for the `json` function; map keys sorted as Go's encoder sorts them.
fn to_json_value(v: &Value) -> serde_json::Value {
    match v {
        Value::NoValue | Value::Nil | Value::Function(_) => serde_json::Value::Null,
        Value::Bool(b) => serde_json::Value::Bool(*b),
        Value::String(s) => serde_json::Value::String(s.clone()),
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                u.into()
            } else if let Some(i) = n.as_i64() {
                i.into()
            } else {
                n.as_f64()
                    .and_then(serde_json::Number::from_f64)
                    .map_or(serde_json::Value::Null, serde_json::Value::Number)
            }
        }
        Value::Array(a) => serde_json::Value::Array(a.iter().map(to_json_value).collect()),
        Value::Object(m) | Value::Map(m) => serde_json::Value::Object(
            sorted(m)
                .into_iter()
                .map(|(k, v)| (k.clone(), to_json_value(v)))
                .collect(),
        ),
    }
}

fn sorted(m: &HashMap<String, Value>) -> Vec<(&String, &Value)> {
    let mut entries: Vec<_> = m.iter().collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    entries
}

/// Go's `%v` of a template value.
pub fn go_print(v: &Value) -> String {
    match v {
        Value::NoValue => "<no value>".to_owned(),
        Value::Nil => "<nil>".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::String(s) => s.clone(),
        Value::Function(_) => "<func>".to_owned(),
        Value::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
            (Some(u), _, _) => u.to_string(),
            (None, Some(i), _) => i.to_string(),
            (None, None, Some(f)) => format_g(f, None),
            (None, None, None) => n.to_string(),
        },
        Value::Array(a) => {
            let items: Vec<String> = a.iter().map(go_print).collect();
            format!("[{}]", items.join(" "))
        }
        Value::Map(m) => {
            let items: Vec<String> = sorted(m)
                .into_iter()
                .map(|(k, v)| format!("{k}:{}", go_print(v)))
                .collect();
            format!("map[{}]", items.join(" "))
        }
        Value::Object(m) => {
            let items: Vec<String> = sorted(m).into_iter().map(|(_, v)| go_print(v)).collect();
            format!("{{{}}}", items.join(" "))
        }
    }
}

/// containers/common `report.DefaultFuncs`, plus the helpers the rewriting inserts.
const FUNCS: &[(&str, Func)] = &[
    ("join", join),
    ("json", json),
    ("lower", lower),
    ("pad", pad),
    ("split", split),
    ("title", title),
    ("truncate", truncate),
    ("upper", upper),
    ("_print", print_go),
    ("_values", range_values),
    ("_pairs", range_pairs),
    ("_empty", range_empty),
];

fn arity(name: &str, args: &[Value], n: usize) -> Result<(), FuncError> {
    if args.len() == n {
        Ok(())
    } else {
        Err(FuncError::ExactlyXArgs(name.to_owned(), n))
    }
}

fn string_arg<'a>(name: &str, v: &'a Value) -> Result<&'a str, FuncError> {
    match v {
        Value::String(s) => Ok(s),
        other => Err(FuncError::Generic(format!(
            "{name}: expected a string, got {}",
            go_print(other)
        ))),
    }
}

fn int_arg(name: &str, v: &Value) -> Result<i64, FuncError> {
    match v {
        Value::Number(n) => n.as_i64().ok_or(()),
        _ => Err(()),
    }
    .map_err(|()| FuncError::Generic(format!("{name}: expected an integer, got {}", go_print(v))))
}

/// `strings.Join(elems, sep)`; elements that are not strings are printed as Go prints them.
fn join(args: &[Value]) -> Result<Value, FuncError> {
    arity("join", args, 2)?;
    let sep = string_arg("join", &args[1])?;
    let items: Vec<String> = match &args[0] {
        Value::Array(a) => a.iter().map(go_print).collect(),
        Value::Nil | Value::NoValue => Vec::new(),
        other => {
            return Err(FuncError::Generic(format!(
                "join: expected a list, got {}",
                go_print(other)
            )));
        }
    };
    Ok(Value::String(items.join(sep)))
}

/// Compact JSON without HTML escaping, as Podman's `json` (an encoder, trimmed).
fn json(args: &[Value]) -> Result<Value, FuncError> {
    arity("json", args, 1)?;
    Ok(Value::String(to_json(
        &to_json_value(&args[0]),
        JsonStyle::TEMPLATE,
    )))
}

fn lower(args: &[Value]) -> Result<Value, FuncError> {
    arity("lower", args, 1)?;
    Ok(Value::String(string_arg("lower", &args[0])?.to_lowercase()))
}

fn upper(args: &[Value]) -> Result<Value, FuncError> {
    arity("upper", args, 1)?;
    Ok(Value::String(string_arg("upper", &args[0])?.to_uppercase()))
}

/// `pad s prefix suffix`: spaces around a non-empty string.
fn pad(args: &[Value]) -> Result<Value, FuncError> {
    arity("pad", args, 3)?;
    let s = string_arg("pad", &args[0])?;
    if s.is_empty() {
        return Ok(Value::String(String::new()));
    }
    let count = |v| int_arg("pad", v).map(|n| usize::try_from(n).unwrap_or(0));
    let (before, after) = (count(&args[1])?, count(&args[2])?);
    Ok(Value::String(format!(
        "{}{s}{}",
        " ".repeat(before),
        " ".repeat(after)
    )))
}

/// `strings.Split(s, sep)`; an empty separator splits into characters.
fn split(args: &[Value]) -> Result<Value, FuncError> {
    arity("split", args, 2)?;
    let s = string_arg("split", &args[0])?;
    let sep = string_arg("split", &args[1])?;
    let parts: Vec<Value> = if sep.is_empty() {
        s.chars().map(|c| Value::String(c.to_string())).collect()
    } else {
        s.split(sep).map(|p| Value::String(p.to_owned())).collect()
    };
    Ok(Value::Array(parts))
}

/// `strings.Title`: upper-cases the first letter of each word.
fn title(args: &[Value]) -> Result<Value, FuncError> {
    arity("title", args, 1)?;
    let s = string_arg("title", &args[0])?;
    let mut out = String::with_capacity(s.len());
    let mut prev_separator = true;
    for c in s.chars() {
        if prev_separator {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        // Go's isSeparator: ASCII letters, digits and `_` are not; other ASCII is; letters
        // and digits are not; white space is.
        prev_separator = if c.is_ascii() {
            !(c.is_ascii_alphanumeric() || c == '_')
        } else {
            !c.is_alphanumeric() && c.is_whitespace()
        };
    }
    Ok(Value::String(out))
}

/// `truncate s n`: the first `n` bytes of `s` (never splitting a character).
fn truncate(args: &[Value]) -> Result<Value, FuncError> {
    arity("truncate", args, 2)?;
    let s = string_arg("truncate", &args[0])?;
    let n = usize::try_from(int_arg("truncate", &args[1])?).unwrap_or(0);
    if s.len() < n {
        return Ok(Value::String(s.to_owned()));
    }
    let mut end = n;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    Ok(Value::String(s[..end].to_owned()))
}

fn print_go(args: &[Value]) -> Result<Value, FuncError> {
    arity("_print", args, 1)?;
    Ok(Value::String(go_print(&args[0])))
}

/// What `range` iterates: a map's values in key order; nothing for nil.
fn range_values(args: &[Value]) -> Result<Value, FuncError> {
    arity("_values", args, 1)?;
    Ok(match &args[0] {
        Value::Map(m) | Value::Object(m) => {
            Value::Array(sorted(m).into_iter().map(|(_, v)| v.clone()).collect())
        }
        Value::Nil => Value::Array(Vec::new()),
        other => other.clone(),
    })
}

/// Whether `range` over the value has no iteration (its `else` runs).
fn range_empty(args: &[Value]) -> Result<Value, FuncError> {
    arity("_empty", args, 1)?;
    Ok(Value::Bool(match &args[0] {
        Value::Map(m) | Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Nil | Value::NoValue => true,
        _ => false,
    }))
}

/// `range $k, $v`: `{k, v}` pairs of a map in key order, or of a list with indexes.
fn range_pairs(args: &[Value]) -> Result<Value, FuncError> {
    arity("_pairs", args, 1)?;
    let pair = |k: Value, v: &Value| {
        Value::Map(HashMap::from([
            ("k".to_owned(), k),
            ("v".to_owned(), v.clone()),
        ]))
    };
    Ok(match &args[0] {
        Value::Map(m) | Value::Object(m) => Value::Array(
            sorted(m)
                .into_iter()
                .map(|(k, v)| pair(Value::String(k.clone()), v))
                .collect(),
        ),
        Value::Array(a) => Value::Array(
            a.iter()
                .enumerate()
                .map(|(i, v)| pair(Value::from(i), v))
                .collect(),
        ),
        Value::Nil => Value::Array(Vec::new()),
        other => other.clone(),
    })
}

#[cfg(test)]
mod tests;
