//! JSON as Podman's Go code writes it.
//!
//! Podman is not consistent across commands, so the style is the caller's choice:
//! `images`/`ps --format json` use `json.MarshalIndent(v, "", "    ")` (4 spaces, HTML
//! characters escaped), `inspect` an encoder with `SetIndent("", "     ")` (5 spaces) and
//! `SetEscapeHTML(false)`, `history --format json` a plain encoder (one line). The template
//! function `json` is compact without HTML escaping. In all of them Go writes floats its own
//! way and always escapes U+2028 and U+2029.

use std::io;

use serde_json::ser::{CharEscape, CompactFormatter, Formatter, PrettyFormatter};

use super::gofmt::format_json_float;

/// How to write JSON; see the module documentation for which Podman command uses which.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JsonStyle {
    /// Indentation per level; empty for one compact line.
    pub indent: &'static str,
    /// Escape `<`, `>` and `&` as `\u003c`, `\u003e`, `\u0026` (Go's default).
    pub escape_html: bool,
}

impl JsonStyle {
    /// `json.MarshalIndent(v, "", "    ")`: `images`, `ps`, `volume ls`... `--format json`.
    pub const LIST: JsonStyle = JsonStyle {
        indent: "    ",
        escape_html: true,
    };
    /// `podman inspect`: five spaces, HTML characters kept.
    pub const INSPECT: JsonStyle = JsonStyle {
        indent: "     ",
        escape_html: false,
    };
    /// `json.NewEncoder(os.Stdout).Encode(v)`: `history --format json`.
    pub const COMPACT: JsonStyle = JsonStyle {
        indent: "",
        escape_html: true,
    };
    /// The `{{json .}}` template function.
    pub const TEMPLATE: JsonStyle = JsonStyle {
        indent: "",
        escape_html: false,
    };
}

/// `value` written in `style`, without a trailing newline.
pub fn to_json(value: &serde_json::Value, style: JsonStyle) -> String {
    let mut out = Vec::new();
    let result = if style.indent.is_empty() {
        let mut ser = serde_json::Serializer::with_formatter(
            &mut out,
            GoFormatter {
                inner: CompactFormatter,
                escape_html: style.escape_html,
            },
        );
        serde::Serialize::serialize(value, &mut ser)
    } else {
        let mut ser = serde_json::Serializer::with_formatter(
            &mut out,
            GoFormatter {
                inner: PrettyFormatter::with_indent(style.indent.as_bytes()),
                escape_html: style.escape_html,
            },
        );
        serde::Serialize::serialize(value, &mut ser)
    };
    // Serializing a `Value` into a Vec cannot fail: keys are strings, floats are finite.
    debug_assert!(result.is_ok());
    String::from_utf8(out).unwrap_or_default()
}

/// Wraps serde_json's formatters with Go's string escaping and float layout.
struct GoFormatter<F> {
    inner: F,
    escape_html: bool,
}

impl<F: Formatter> Formatter for GoFormatter<F> {
    fn write_f64<W: ?Sized + io::Write>(&mut self, writer: &mut W, value: f64) -> io::Result<()> {
        writer.write_all(format_json_float(value).as_bytes())
    }

    fn write_f32<W: ?Sized + io::Write>(&mut self, writer: &mut W, value: f32) -> io::Result<()> {
        self.write_f64(writer, f64::from(value))
    }

    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let mut rest = fragment;
        while let Some(i) = rest.find(|c| needs_go_escape(c, self.escape_html)) {
            writer.write_all(&rest.as_bytes()[..i])?;
            let c = rest[i..].chars().next().unwrap_or_default();
            write!(writer, "\\u{:04x}", u32::from(c))?;
            rest = &rest[i + c.len_utf8()..];
        }
        writer.write_all(rest.as_bytes())
    }

    fn write_char_escape<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        char_escape: CharEscape,
    ) -> io::Result<()> {
        self.inner.write_char_escape(writer, char_escape)
    }

    fn begin_array<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.inner.begin_array(writer)
    }

    fn end_array<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.inner.end_array(writer)
    }

    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.inner.begin_array_value(writer, first)
    }

    fn end_array_value<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.inner.end_array_value(writer)
    }

    fn begin_object<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.inner.begin_object(writer)
    }

    fn end_object<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.inner.end_object(writer)
    }

    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.inner.begin_object_key(writer, first)
    }

    fn end_object_key<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.inner.end_object_key(writer)
    }

    fn begin_object_value<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.inner.begin_object_value(writer)
    }

    fn end_object_value<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.inner.end_object_value(writer)
    }
}

fn needs_go_escape(c: char, escape_html: bool) -> bool {
    matches!(c, '\u{2028}' | '\u{2029}') || (escape_html && matches!(c, '<' | '>' | '&'))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn list_style_is_four_spaces_with_html_escaped() {
        let v = json!([{"Names": ["<none>"], "Size": 5, "Empty": [], "Map": {}}]);
        let want = "[\n    {\n        \"Names\": [\n            \"\\u003cnone\\u003e\"\n        ],\n        \"Size\": 5,\n        \"Empty\": [],\n        \"Map\": {}\n    }\n]";
        assert_eq!(to_json(&v, JsonStyle::LIST), want);
    }

    #[test]
    fn inspect_style_is_five_spaces_and_keeps_html() {
        let v = json!([{"Cmd": ["sh", "-c", "a && b > c"]}]);
        let want = "[\n     {\n          \"Cmd\": [\n               \"sh\",\n               \"-c\",\n               \"a && b > c\"\n          ]\n     }\n]";
        assert_eq!(to_json(&v, JsonStyle::INSPECT), want);
    }

    #[test]
    fn compact_styles() {
        let v = json!({"a": "x&y", "b": 1.0, "c": 0.5, "d": null, "e": "\u{2028}\n\u{1b}"});
        assert_eq!(
            to_json(&v, JsonStyle::COMPACT),
            r#"{"a":"x\u0026y","b":1,"c":0.5,"d":null,"e":"\u2028\n\u001b"}"#
        );
        assert_eq!(
            to_json(&v, JsonStyle::TEMPLATE),
            r#"{"a":"x&y","b":1,"c":0.5,"d":null,"e":"\u2028\n\u001b"}"#
        );
    }
}
