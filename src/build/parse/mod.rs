//! Containerfile text to [`Containerfile`], as Docker, BuildKit and Buildah read it.
//!
//! - [`lexer`]: BOM, CRLF, parser directives, comments, continuations, here-document bodies,
//!   and where every byte came from;
//! - [`words`]: raw words with their offsets, leading `--flags`, the JSON (exec) form;
//! - [`flags`]: which flags each instruction takes;
//! - [`heredoc`]: `<<EOF` markers;
//! - [`instructions`]: each instruction's arguments.
//!
//! This module puts the instructions into stages. Every error names the file, the line and
//! the column where the offending token starts; no input makes it panic (a fuzz target in
//! `fuzz/` and the mutation test below hold it to that).

mod flags;
mod heredoc;
mod instructions;
mod lexer;
mod words;

#[cfg(test)]
mod tests;

use std::fmt;

use super::syntax::{Containerfile, Escape, Instruction, Kind};
use instructions::Line;
use lexer::Lexer;

/// A Containerfile that cannot be parsed: where, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// The file as the user named it.
    pub file: String,
    /// 1-based line and column (in characters).
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.column, self.message
        )
    }
}

impl std::error::Error for ParseError {}

/// A place in the file: 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pos {
    pub line: usize,
    pub column: usize,
}

/// The instructions, upper case.
pub const KEYWORDS: &[&str] = &[
    "FROM",
    "RUN",
    "CMD",
    "LABEL",
    "MAINTAINER",
    "EXPOSE",
    "ENV",
    "ADD",
    "COPY",
    "ENTRYPOINT",
    "VOLUME",
    "USER",
    "WORKDIR",
    "ARG",
    "ONBUILD",
    "STOPSIGNAL",
    "HEALTHCHECK",
    "SHELL",
];

/// The directives BuildKit knows; `check` (its linter's) is accepted and ignored like `syntax`.
const DIRECTIVES: &[&str] = &["escape", "syntax", "check"];

/// Parses `text`, the content of the Containerfile `file` (the name is for messages).
pub fn parse(text: &str, file: &str) -> Result<Containerfile, ParseError> {
    let err = |pos: Pos, message: String| ParseError {
        file: file.to_string(),
        line: pos.line,
        column: pos.column,
        message,
    };
    let mut lexer = Lexer::new(text);
    let mut out = Containerfile::default();
    let mut seen: Vec<&str> = Vec::new();
    for d in lexer.directives(DIRECTIVES) {
        let name = DIRECTIVES
            .iter()
            .copied()
            .find(|n| *n == d.name)
            .unwrap_or("");
        if seen.contains(&name) {
            return Err(err(d.pos, format!("the {name} directive is given twice")));
        }
        seen.push(name);
        if name == "escape" {
            out.escape = match d.value.as_str() {
                "\\" => Escape('\\'),
                "`" => Escape('`'),
                other => {
                    return Err(err(
                        d.value_pos,
                        format!("the escape character is \\ or `, not {other:?}"),
                    ));
                }
            };
        }
    }
    lexer.set_escape(out.escape.0);
    let mut any = false;
    while let Some(logical) = lexer.next_logical() {
        any = true;
        let line = Line::new(&logical, 0, file, out.escape.0)?;
        let keyword = line.keyword.as_str();
        if !KEYWORDS.contains(&keyword) {
            let word = &logical.text[..logical
                .text
                .find(char::is_whitespace)
                .unwrap_or(logical.text.len())];
            let hint = suggest(keyword)
                .map(|k| format!(" (did you mean {k}?)"))
                .unwrap_or_default();
            return Err(line.err(0, format!("unknown instruction {word}{hint}")));
        }
        if keyword == "FROM" {
            let stage = instructions::from(&line)?;
            if let Some(name) = &stage.name
                && let Some(other) = out.stages.iter().find(|s| {
                    s.name
                        .as_deref()
                        .is_some_and(|n| n.eq_ignore_ascii_case(name))
                })
            {
                let at = logical.text.rfind(name.as_str()).unwrap_or(0);
                return Err(line.err(
                    at,
                    format!(
                        "the stage name {name:?} is already used on line {}",
                        other.line
                    ),
                ));
            }
            out.stages.push(stage);
            continue;
        }
        let kind = instructions::instruction(&line, &mut |name, strip| lexer.heredoc(name, strip))?;
        match out.stages.last_mut() {
            Some(stage) => stage.instructions.push(Instruction {
                line: logical.line,
                source: logical.text.clone(),
                kind,
            }),
            None => match kind {
                Kind::Arg(decls) => out.global_args.extend(decls),
                other => {
                    return Err(line.err(
                        0,
                        format!(
                            "{} before the first FROM: only ARG may come before it",
                            other.keyword()
                        ),
                    ));
                }
            },
        }
    }
    if out.stages.is_empty() {
        let message = if any {
            "no FROM instruction: a Containerfile starts with FROM (after ARGs)"
        } else {
            "the file is empty: a Containerfile starts with FROM"
        };
        return Err(err(Pos { line: 1, column: 1 }, message.to_string()));
    }
    Ok(out)
}

/// The keyword closest to a misspelled one, if one is close enough to be meant.
fn suggest(word: &str) -> Option<&'static str> {
    let word: Vec<char> = word.chars().take(64).collect();
    let (best, distance) = KEYWORDS
        .iter()
        .map(|k| (*k, edit_distance(&word, &k.chars().collect::<Vec<_>>())))
        .min_by_key(|(_, d)| *d)?;
    let allowed = if word.len() <= 4 { 1 } else { 2 };
    (distance <= allowed).then_some(best)
}

/// Levenshtein distance, with a swap of neighbours counting as one edit.
fn edit_distance(a: &[char], b: &[char]) -> usize {
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}
