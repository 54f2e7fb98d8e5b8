//! Physical lines to logical lines: the UTF-8 byte order mark and CR of CRLF go, parser
//! directives are read from the top, comments and blank lines are skipped (also inside a
//! continuation), lines ending in the escape character are joined to the next. Every byte of
//! a logical line can be traced back to its line and column for messages. Here-document
//! bodies are read from the lines that follow their instruction.

use super::Pos;

/// One instruction's text, continuations joined as BuildKit joins them: the escape
/// character and the line break go, nothing is added, the continued line keeps its
/// indentation.
#[derive(Debug, Clone)]
pub struct Logical {
    /// The line the instruction starts on (1-based).
    pub line: usize,
    pub text: String,
    /// `(offset in text, line, column)` where each physical line's part starts.
    spans: Vec<(usize, usize, usize)>,
}

impl Logical {
    /// Where the byte at `offset` of `text` came from (the end of the text maps to just
    /// after its last character).
    pub fn pos(&self, offset: usize) -> Pos {
        let offset = offset.min(self.text.len());
        let i = self
            .spans
            .partition_point(|s| s.0 <= offset)
            .saturating_sub(1);
        let Some(&(start, line, column)) = self.spans.get(i) else {
            return Pos {
                line: self.line,
                column: 1,
            };
        };
        let chars = self
            .text
            .get(start..offset)
            .map_or(0, |s| s.chars().count());
        Pos {
            line,
            column: column + chars,
        }
    }
}

/// A `# name=value` directive at the top of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive {
    pub name: String,
    pub value: String,
    pub pos: Pos,
    /// Where the value starts.
    pub value_pos: Pos,
}

pub struct Lexer<'a> {
    lines: Vec<&'a str>,
    next: usize,
    escape: char,
}

impl<'a> Lexer<'a> {
    pub fn new(text: &'a str) -> Lexer<'a> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut lines: Vec<&str> = text
            .split('\n')
            .map(|l| l.strip_suffix('\r').unwrap_or(l))
            .collect();
        if text.ends_with('\n') {
            lines.pop();
        }
        Lexer {
            lines,
            next: 0,
            escape: '\\',
        }
    }

    pub fn set_escape(&mut self, escape: char) {
        self.escape = escape;
    }

    /// The parser directives: `# name = value` lines before anything else. The first line
    /// that is not one (a blank line, a comment, an instruction) ends them; an unknown name
    /// is a comment and ends them too, as in BuildKit.
    pub fn directives(&mut self, known: &[&str]) -> Vec<Directive> {
        let mut out = Vec::new();
        while let Some(line) = self.lines.get(self.next) {
            let Some(d) = directive(line, self.next + 1) else {
                break;
            };
            if !known.contains(&d.name.as_str()) {
                break;
            }
            out.push(d);
            self.next += 1;
        }
        out
    }

    /// The next logical line; `None` at the end of the file.
    pub fn next_logical(&mut self) -> Option<Logical> {
        loop {
            let raw = *self.lines.get(self.next)?;
            self.next += 1;
            let body = raw.trim_start();
            if body.is_empty() || body.starts_with('#') {
                continue;
            }
            let indent = raw[..raw.len() - body.len()].chars().count();
            let mut logical = Logical {
                line: self.next,
                text: String::new(),
                spans: Vec::new(),
            };
            let mut continued = self.push_part(&mut logical, body, self.next, indent + 1);
            while continued {
                let Some(raw) = self.lines.get(self.next).copied() else {
                    break;
                };
                self.next += 1;
                let trimmed = raw.trim_start();
                if trimmed.is_empty() || trimmed.starts_with('#') {
                    continue;
                }
                continued = self.push_part(&mut logical, raw, self.next, 1);
            }
            let end = logical.text.trim_end().len();
            logical.text.truncate(end);
            return Some(logical);
        }
    }

    /// Appends one physical line's part; whether it ends in a continuation.
    fn push_part(&self, logical: &mut Logical, part: &str, line: usize, column: usize) -> bool {
        let trimmed = part.trim_end_matches([' ', '\t']);
        let (part, continued) = match trimmed.strip_suffix(self.escape) {
            Some(p) => (p, true),
            None => (part, false),
        };
        logical.spans.push((logical.text.len(), line, column));
        logical.text.push_str(part);
        continued
    }

    /// The body of a here-document: the lines up to the one that is `name` (after its
    /// leading tabs with `<<-`), each ending in `\n`, tabs removed with `<<-`. `None` when
    /// the file ends first.
    pub fn heredoc(&mut self, name: &str, strip_tabs: bool) -> Option<String> {
        let mut content = String::new();
        loop {
            let raw = *self.lines.get(self.next)?;
            self.next += 1;
            let line = if strip_tabs {
                raw.trim_start_matches('\t')
            } else {
                raw
            };
            if line == name {
                return Some(content);
            }
            content.push_str(line);
            content.push('\n');
        }
    }
}

/// `# name = value` (white space allowed around each part), the name folded to lower case.
fn directive(line: &str, number: usize) -> Option<Directive> {
    let body = line.trim_start();
    let after_hash = body.strip_prefix('#')?;
    let name_part = after_hash.trim_start();
    let name_len = name_part
        .find(|c: char| !c.is_ascii_alphanumeric())
        .unwrap_or(name_part.len());
    let name = &name_part[..name_len];
    if !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return None;
    }
    let value_part = name_part[name_len..].trim_start().strip_prefix('=')?;
    let value = value_part.trim();
    if value.is_empty() {
        return None;
    }
    let column_of = |s: &str| line[..line.len() - s.len()].chars().count() + 1;
    let value_start = value_part.len() - value_part.trim_start().len();
    Some(Directive {
        name: name.to_ascii_lowercase(),
        value: value.to_string(),
        pos: Pos {
            line: number,
            column: column_of(body),
        },
        value_pos: Pos {
            line: number,
            column: column_of(&value_part[value_start..]),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logicals(text: &str) -> Vec<(usize, String)> {
        let mut lexer = Lexer::new(text);
        std::iter::from_fn(|| lexer.next_logical())
            .map(|l| (l.line, l.text))
            .collect()
    }

    #[test]
    fn continuations_comments_and_blank_lines() {
        let text =
            "\u{feff}FROM a\r\n\r\n  RUN echo a \\\r\n# inside\r\n\r\n   b\\  \nc\n# end\nCMD x \\";
        assert_eq!(
            logicals(text),
            [
                (1, "FROM a".to_string()),
                (3, "RUN echo a    bc".to_string()),
                (9, "CMD x".to_string())
            ]
        );
    }

    #[test]
    fn positions_cross_continuations() {
        let mut lexer = Lexer::new("\n  RUN a \\\n   bcd\n");
        let l = lexer.next_logical().unwrap();
        assert_eq!(l.text, "RUN a    bcd");
        assert_eq!(l.pos(0), Pos { line: 2, column: 3 });
        assert_eq!(l.pos(4), Pos { line: 2, column: 7 });
        assert_eq!(l.pos(9), Pos { line: 3, column: 4 });
        assert_eq!(l.pos(99), Pos { line: 3, column: 7 });
    }

    #[test]
    fn directives_only_at_the_top() {
        let mut lexer = Lexer::new("#  Escape = ` \n# syntax=docker/dockerfile:1\n\n# escape=\\\n");
        let d = lexer.directives(&["escape", "syntax"]);
        assert_eq!(d.len(), 2);
        assert_eq!((d[0].name.as_str(), d[0].value.as_str()), ("escape", "`"));
        assert_eq!(
            d[0].value_pos,
            Pos {
                line: 1,
                column: 13
            }
        );
        let mut lexer = Lexer::new("# unknown=1\n# escape=`\n");
        assert!(lexer.directives(&["escape"]).is_empty());
        assert_eq!(directive("# no value=", 1), None);
        assert_eq!(directive("#1x=y", 1), None);
    }

    #[test]
    fn heredoc_bodies() {
        let mut lexer = Lexer::new("RUN <<EOF\n# not a comment\n\tx\nEOF\nNEXT\n");
        lexer.next_logical();
        assert_eq!(
            lexer.heredoc("EOF", false).unwrap(),
            "# not a comment\n\tx\n"
        );
        let mut lexer = Lexer::new("RUN <<-EOF\n\t\tx\n\tEOF\n");
        lexer.next_logical();
        assert_eq!(lexer.heredoc("EOF", true).unwrap(), "x\n");
        let mut lexer = Lexer::new("RUN <<EOF\nx\n");
        lexer.next_logical();
        assert_eq!(lexer.heredoc("EOF", false), None);
    }
}
