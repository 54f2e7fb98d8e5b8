//! systemd's unit file syntax as Quadlet files use it: `[Section]` headers, `Key=value`
//! lines (a trailing backslash continues a line), `#` and `;` comments; and the word
//! splitting systemd applies to values such as `Exec=`.

use thiserror::Error;

/// One `Key=value` with the line it started on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub line: usize,
    pub key: String,
    pub value: String,
}

/// A section, its header's line and its entries in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    pub name: String,
    pub line: usize,
    pub entries: Vec<Entry>,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ParseError {
    #[error("line {line}: {what}")]
    Syntax { line: usize, what: String },
}

/// The sections of `text`, in order.
pub fn parse(text: &str) -> Result<Vec<Section>, ParseError> {
    let mut sections: Vec<Section> = Vec::new();
    let mut lines = text.lines().enumerate();
    while let Some((i, raw)) = lines.next() {
        let line = i + 1;
        let mut l = raw.trim().to_string();
        if l.is_empty() || l.starts_with('#') || l.starts_with(';') {
            continue;
        }
        while l.ends_with('\\') {
            l.pop();
            match lines.next() {
                Some((_, next)) => {
                    let next = next.trim();
                    if next.starts_with('#') || next.starts_with(';') {
                        continue;
                    }
                    l.truncate(l.trim_end().len());
                    l.push(' ');
                    l.push_str(next);
                }
                None => break,
            }
        }
        if let Some(name) = l.strip_prefix('[') {
            let name = name.strip_suffix(']').ok_or_else(|| ParseError::Syntax {
                line,
                what: format!("unterminated section header {l:?}"),
            })?;
            sections.push(Section {
                name: name.to_string(),
                line,
                entries: Vec::new(),
            });
            continue;
        }
        let (key, value) = l.split_once('=').ok_or_else(|| ParseError::Syntax {
            line,
            what: format!("{l:?} is neither a section header nor Key=value"),
        })?;
        let section = sections.last_mut().ok_or_else(|| ParseError::Syntax {
            line,
            what: format!("{key} before any [Section]"),
        })?;
        section.entries.push(Entry {
            line,
            key: key.trim().to_string(),
            value: value.trim().to_string(),
        });
    }
    Ok(sections)
}

/// systemd's word splitting: blanks separate words, `"..."` and `'...'` group, a
/// backslash escapes the next character (C escapes `\n`, `\t` are read).
pub fn split_words(value: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut chars = value.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let Some(&first) = chars.peek() else {
            return Ok(out);
        };
        let mut word = String::new();
        let quote = if first == '"' || first == '\'' {
            chars.next();
            Some(first)
        } else {
            None
        };
        let mut closed = quote.is_none();
        while let Some(c) = chars.next() {
            match (c, quote) {
                ('\\', _) => match chars.next() {
                    Some('n') => word.push('\n'),
                    Some('t') => word.push('\t'),
                    Some(c) => word.push(c),
                    None => return Err(format!("{value:?} ends with a backslash")),
                },
                (c, Some(q)) if c == q => {
                    closed = true;
                    break;
                }
                (c, None) if c.is_whitespace() => break,
                (c, _) => word.push(c),
            }
        }
        if !closed {
            return Err(format!("unterminated quote in {value:?}"));
        }
        out.push(word);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_entries_and_continuations() {
        let text = "# c\n[Unit]\nDescription=A web\n\n[Container]\nImage=busybox\nExec=sh -c \\\n  'echo hi'\n; x\nLabel=a=b\n";
        let s = parse(text).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[1].name, "Container");
        assert_eq!(s[1].entries[1].value, "sh -c 'echo hi'");
        assert_eq!(s[1].entries[1].line, 7);
        assert_eq!(s[1].entries[2].line, 10);
        assert!(matches!(
            parse("Image=x\n"),
            Err(ParseError::Syntax { line: 1, .. })
        ));
        assert!(parse("[Container]\nnonsense\n").is_err());
    }

    #[test]
    fn words_split_as_systemd_does() {
        assert_eq!(
            split_words(r#"sh -c "echo \"a b\"" 'c d' e\ f"#).unwrap(),
            ["sh", "-c", "echo \"a b\"", "c d", "e f"]
        );
        assert!(split_words("\"open").is_err());
        assert_eq!(split_words("  ").unwrap(), Vec::<String>::new());
    }
}
