//! Here-document markers in RUN, COPY and ADD lines: `<<NAME`, `<<-NAME` (leading tabs
//! removed), `<<"NAME"` / `<<'NAME'` (content not expanded), optionally after a file
//! descriptor number (`3<<EOF`), as BuildKit recognises them. The bodies follow the
//! instruction, in the order of the markers.

use super::words::Word;
use crate::build::expand;
use crate::build::syntax::Heredoc;

/// A marker found in a word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Marker {
    pub name: String,
    pub expand: bool,
    pub strip_tabs: bool,
    /// Byte offset of the word in its logical line.
    pub start: usize,
}

/// The marker `word` is, if it is one. A word that merely contains `<<` (`"<<EOF"`,
/// `x<<EOF`) or is a here-string (`<<<x`) is not.
pub fn marker(word: &Word<'_>, escape: char) -> Option<Marker> {
    let rest = word.text.trim_start_matches(|c: char| c.is_ascii_digit());
    let rest = rest.strip_prefix("<<")?;
    let (strip_tabs, raw_name) = match rest.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, rest),
    };
    if raw_name.is_empty() || raw_name.contains('<') {
        return None;
    }
    let name = expand::word_with_escape(raw_name, escape, &|_| None).ok()?;
    if name.is_empty() {
        return None;
    }
    Some(Marker {
        expand: name == raw_name,
        name,
        strip_tabs,
        start: word.start,
    })
}

/// The body reader: the marker's name and `<<-`, the body, `None` when the file ends first.
pub type Reader<'r> = dyn FnMut(&str, bool) -> Option<String> + 'r;

/// Reads the bodies of `markers`; `Err(marker)` names the one the file ended inside.
pub fn read_all(markers: Vec<Marker>, reader: &mut Reader<'_>) -> Result<Vec<Heredoc>, Marker> {
    let mut out = Vec::new();
    for m in markers {
        let Some(content) = reader(&m.name, m.strip_tabs) else {
            return Err(m);
        };
        out.push(Heredoc {
            name: m.name,
            content,
            expand: m.expand,
            strip_tabs: m.strip_tabs,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(text: &str) -> Option<(String, bool, bool)> {
        marker(&Word { text, start: 0 }, '\\').map(|m| (m.name, m.expand, m.strip_tabs))
    }

    #[test]
    fn markers() {
        assert_eq!(m("<<EOF"), Some(("EOF".into(), true, false)));
        assert_eq!(m("<<-EOF"), Some(("EOF".into(), true, true)));
        assert_eq!(m("<<\"EOF\""), Some(("EOF".into(), false, false)));
        assert_eq!(m("<<-'E F'"), Some(("E F".into(), false, true)));
        assert_eq!(m("3<<X"), Some(("X".into(), true, false)));
        for not in [
            "<<",
            "<<-",
            "<<<x",
            "x<<EOF",
            "\"<<EOF\"",
            "<<''",
            "<<'open",
        ] {
            assert_eq!(m(not), None, "{not}");
        }
    }
}
