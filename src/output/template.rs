//! `--format` as Podman handles it (containers/common `pkg/report`).
//!
//! - `json` (Podman's `IsJSON`: `json`, `{{json}}` or `{{ json. }}`, white space around
//!   allowed; `{{json .}}` is an ordinary template) prints the command's JSON.
//! - `table ...` renders each row, aligns the columns with [`align`] and puts a header line
//!   first (unless `--noheading`). The header is the template run on a map from each field to
//!   its title, as Podman does, so `{{.ID}}` gives `IMAGE ID` and `{{upper .Tag}}` gives `TAG`.
//!   Where Podman would fail on the header (`{{.Store.GraphRoot}}`, `{{join .Names ","}}`),
//!   each column is titled after the first field it uses.
//! - Any other template is run once over the list of rows (wrapped in `{{range .}}` unless it
//!   has its own), neither aligned nor headed.
//!
//! The default format of a command is a table whether or not it says `table `.

use serde_json::Value as Json;

use super::gotmpl::{GoTemplate, Piece, enforce_range, field_chains, pieces, to_value};
use super::json::{JsonStyle, to_json};
use super::table::align;

pub use super::gotmpl::normalize_format;

/// A `--format` template that could not be used; Podman exits 125 on these.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error("parsing --format template {format:?}: {message}")]
    Parse { format: String, message: String },
    #[error("executing --format template {format:?}: {message}")]
    Execute { format: String, message: String },
}

/// How a listing command prints: its default template, its column titles and its JSON.
#[derive(Debug, Clone, Copy)]
pub struct ListFormat {
    /// The output without `--format`, e.g.
    /// `"table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"`.
    pub default: &'static str,
    /// Column titles that differ from the field name split at case changes and upper-cased
    /// (`CreatedSince` → `CREATED SINCE`), e.g. `("ID", "IMAGE ID")`. Upper-cased on use.
    pub headers: &'static [(&'static str, &'static str)],
    /// How `--format json` is written.
    pub json: JsonStyle,
}

/// Podman's `IsJSON`: `json`, `{{json}}`, `{{ json }}` or `{{json.}}`, with optional white
/// space around. `{{json .}}` is a template and is run as one.
pub fn is_json(format: &str) -> bool {
    let f = format.trim();
    if f == "json" {
        return true;
    }
    f.strip_prefix("{{")
        .and_then(|f| f.strip_suffix("}}"))
        .map(str::trim)
        .and_then(|f| f.strip_prefix("json"))
        .is_some_and(|rest| matches!(rest.trim(), "" | "."))
}

/// Renders a listing (`images`, `ps`, `history`...).
///
/// `format`: the user's `--format` (`None` or empty: `spec.default`; `table` alone also means
/// the default). `rows`: one object per row, keyed by Podman's field names; give every row
/// every field (`null` when absent), as a template reading a missing field fails like a Go
/// struct without it. `json`: called only
/// for `--format json`, whose output is written in `spec.json`'s style.
pub fn render_list(
    format: Option<&str>,
    spec: &ListFormat,
    rows: &[Json],
    noheading: bool,
    json: impl FnOnce() -> Json,
) -> Result<String, FormatError> {
    let (text, table) = match format {
        None | Some("" | "table") => (spec.default, true),
        Some(f) if is_json(f) => return Ok(to_json(&json(), spec.json) + "\n"),
        Some(f) => (f, f.starts_with("table ")),
    };
    let error_format = format.unwrap_or(text);
    let normalized = normalize_format(text);
    let body = if table {
        format!("{{{{range .}}}}{normalized}{{{{end -}}}}")
    } else {
        enforce_range(&normalized)
    };
    let template = GoTemplate::parse(&body).map_err(|message| FormatError::Parse {
        format: error_format.to_owned(),
        message,
    })?;
    let mut out = String::new();
    if table && !noheading {
        out = header(&template, &normalized, spec.headers);
    }
    let data = gtmpl::Value::Array(rows.iter().map(to_value).collect());
    out += &template
        .execute(data)
        .map_err(|message| FormatError::Execute {
            format: error_format.to_owned(),
            message,
        })?;
    Ok(if table { align(&out) } else { out })
}

/// Renders one object (`info`, `version`): `--format json` (or no format) prints `json` in
/// `style`; a template is run once on `data`.
pub fn render_object(
    format: Option<&str>,
    data: &Json,
    json: &Json,
    style: JsonStyle,
) -> Result<String, FormatError> {
    match format {
        None | Some("") => Ok(to_json(json, style) + "\n"),
        Some(f) if is_json(f) => Ok(to_json(json, style) + "\n"),
        Some(f) => run(f, &normalize_format(f), to_value(data), false),
    }
}

/// Renders `inspect`: no format or `json` prints the array of `items` as Podman's inspect
/// does; a template is run for each item (unless it ranges itself). A `table ` template is
/// aligned but has no header, as in Podman.
pub fn render_inspect(format: Option<&str>, items: &[Json]) -> Result<String, FormatError> {
    match format {
        None | Some("") => Ok(to_json(&Json::Array(items.to_vec()), JsonStyle::INSPECT) + "\n"),
        Some(f) if is_json(f) => {
            Ok(to_json(&Json::Array(items.to_vec()), JsonStyle::INSPECT) + "\n")
        }
        Some(f) => {
            let table = f.starts_with("table ");
            let normalized = normalize_format(f);
            let body = if table {
                format!("{{{{range .}}}}{normalized}{{{{end -}}}}")
            } else {
                enforce_range(&normalized)
            };
            let data = gtmpl::Value::Array(items.iter().map(to_value).collect());
            run(f, &body, data, table)
        }
    }
}

fn run(format: &str, body: &str, data: gtmpl::Value, table: bool) -> Result<String, FormatError> {
    let template = GoTemplate::parse(body).map_err(|message| FormatError::Parse {
        format: format.to_owned(),
        message,
    })?;
    let out = template
        .execute(data)
        .map_err(|message| FormatError::Execute {
            format: format.to_owned(),
            message,
        })?;
    Ok(if table { align(&out) } else { out })
}

/// The header line of a table: the template run on `[{field: title}]` as Podman does, or, if
/// that fails, each tab-separated column titled after its first field.
fn header(template: &GoTemplate, normalized: &str, overrides: &[(&str, &str)]) -> String {
    let mut titles = std::collections::HashMap::new();
    for chain in field_chains(normalized) {
        if let Some(first) = chain.first() {
            titles.entry(first.clone()).or_insert_with(|| {
                gtmpl::Value::String(title_of(std::slice::from_ref(first), overrides))
            });
        }
    }
    let data = gtmpl::Value::Array(vec![gtmpl::Value::Map(titles)]);
    if let Ok(line) = template.execute(data) {
        return line;
    }
    let mut line = String::new();
    for (i, column) in columns(normalized).iter().enumerate() {
        if i > 0 {
            line.push('\t');
        }
        if let Some(chain) = field_chains(column).first() {
            line.push_str(&title_of(chain, overrides));
        }
    }
    line.push('\n');
    line
}

/// The columns of a normalised table template: its text split at tabs outside actions (the
/// actions are kept only for their field references).
fn columns(normalized: &str) -> Vec<String> {
    let mut columns = vec![String::new()];
    for piece in pieces(normalized.trim_end_matches('\n')) {
        match piece {
            Piece::Text(text) => {
                let mut parts = text.split('\t');
                if let (Some(first), Some(current)) = (parts.next(), columns.last_mut()) {
                    current.push_str(first);
                }
                columns.extend(parts.map(str::to_owned));
            }
            Piece::Action(action) => {
                if let Some(current) = columns.last_mut() {
                    current.push_str("{{");
                    current.push_str(action.body);
                    current.push_str("}}");
                }
            }
        }
    }
    columns
}

/// A column title: the caller's title for the field chain (`Store.GraphRoot`) or its last
/// field, else the last field split at case changes and upper-cased, as Podman's `Headers`.
fn title_of(chain: &[String], overrides: &[(&str, &str)]) -> String {
    let full = chain.join(".");
    let last = chain.last().map_or("", String::as_str);
    overrides
        .iter()
        .find(|(field, _)| *field == full)
        .or_else(|| overrides.iter().find(|(field, _)| *field == last))
        .map_or_else(
            || split_camel_case(last).join(" ").to_uppercase(),
            |(_, title)| title.to_uppercase(),
        )
}

/// containers/common `camelcase.Split`: words at changes between lower case, upper case,
/// digits and other characters, an upper-case run giving its last letter to a following
/// lower-case word ("PDFLoader" → "PDF", "Loader").
fn split_camel_case(s: &str) -> Vec<String> {
    fn class(c: char) -> u8 {
        if c.is_lowercase() {
            1
        } else if c.is_uppercase() {
            2
        } else if c.is_numeric() {
            3
        } else {
            4
        }
    }
    let mut runs: Vec<Vec<char>> = Vec::new();
    let mut last_class = 0;
    for c in s.chars() {
        let cl = class(c);
        match runs.last_mut() {
            Some(run) if cl == last_class => run.push(c),
            _ => runs.push(vec![c]),
        }
        last_class = cl;
    }
    for i in 0..runs.len().saturating_sub(1) {
        let upper_then_lower = runs[i].first().is_some_and(|c| c.is_uppercase())
            && runs[i + 1].first().is_some_and(|c| c.is_lowercase());
        if upper_then_lower && let Some(moved) = runs[i].pop() {
            runs[i + 1].insert(0, moved);
        }
    }
    runs.into_iter()
        .filter(|r| !r.is_empty())
        .map(|r| r.into_iter().collect())
        .collect()
}

#[cfg(test)]
mod tests;
