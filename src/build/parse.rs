//! Containerfile text to [`Containerfile`].
//!
//! A first, deliberately small parser: comments, blank lines, `\` continuations, instruction
//! keywords, leading `--flag=value` options, exec (JSON) and shell forms, `KEY=VALUE` lists.
//! Not yet: parser directives (`# escape=`), here-documents, column numbers.

use std::fmt;

use super::syntax::{
    ArgDecl, Command, Containerfile, Copy, Healthcheck, Instruction, KeyValue, Kind, Run, Stage,
};

/// A Containerfile that cannot be parsed: where, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// The file as the user named it.
    pub file: String,
    /// 1-based line and column.
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

/// One logical line: continuations joined, with the line it started on.
struct Logical {
    line: usize,
    text: String,
}

/// Parses `text`, the content of the Containerfile `file` (the name is for messages).
pub fn parse(text: &str, file: &str) -> Result<Containerfile, ParseError> {
    let err = |line: usize, message: String| ParseError {
        file: file.to_string(),
        line,
        column: 1,
        message,
    };
    let mut out = Containerfile::default();
    for logical in logical_lines(text) {
        let (keyword, rest) = split_keyword(&logical.text);
        let upper = keyword.to_ascii_uppercase();
        let rest = rest.trim();
        if upper == "FROM" {
            out.stages
                .push(parse_from(rest, &logical).map_err(|m| err(logical.line, m))?);
            continue;
        }
        let kind = parse_kind(&upper, rest).map_err(|m| err(logical.line, m))?;
        match out.stages.last_mut() {
            Some(stage) => stage.instructions.push(Instruction {
                line: logical.line,
                source: logical.text.clone(),
                kind,
            }),
            None => match kind {
                Kind::Arg(decls) => out.global_args.extend(decls),
                other => {
                    return Err(err(
                        logical.line,
                        format!("{} before the first FROM", other.keyword()),
                    ));
                }
            },
        }
    }
    if out.stages.is_empty() {
        return Err(err(1, "no FROM instruction".to_string()));
    }
    Ok(out)
}

fn logical_lines(text: &str) -> Vec<Logical> {
    let mut out = Vec::new();
    let mut current: Option<Logical> = None;
    for (i, raw) in text.lines().enumerate() {
        let trimmed = raw.trim_start();
        if trimmed.starts_with('#') || (trimmed.is_empty() && current.is_none()) {
            continue;
        }
        let (body, continued) = match raw.trim_end().strip_suffix('\\') {
            Some(b) => (b, true),
            None => (raw.trim_end(), false),
        };
        let entry = current.get_or_insert_with(|| Logical {
            line: i + 1,
            text: String::new(),
        });
        if !entry.text.is_empty() && !body.trim().is_empty() {
            entry.text.push(' ');
        }
        entry.text.push_str(body.trim());
        if !continued {
            out.extend(current.take());
        }
    }
    out.extend(current);
    out
}

fn split_keyword(text: &str) -> (&str, &str) {
    match text.find(char::is_whitespace) {
        Some(i) => (&text[..i], &text[i..]),
        None => (text, ""),
    }
}

/// Leading `--name=value` options; returns them and the rest.
fn flags(mut rest: &str) -> (Vec<(String, String)>, &str) {
    let mut out = Vec::new();
    while let Some(f) = rest.strip_prefix("--") {
        let (word, after) = split_keyword(f);
        let (name, value) = word.split_once('=').unwrap_or((word, ""));
        out.push((name.to_string(), value.to_string()));
        rest = after.trim_start();
    }
    (out, rest)
}

fn parse_from(rest: &str, logical: &Logical) -> Result<Stage, String> {
    let (flags, rest) = flags(rest);
    let words: Vec<&str> = rest.split_whitespace().collect();
    let (base, name) = match words.as_slice() {
        [base] => (*base, None),
        [base, as_, name] if as_.eq_ignore_ascii_case("as") => (*base, Some(name.to_string())),
        _ => return Err("FROM takes an image and an optional `AS name`".to_string()),
    };
    let mut platform = None;
    for (k, v) in flags {
        match k.as_str() {
            "platform" => platform = Some(v),
            other => return Err(format!("FROM: unknown flag --{other}")),
        }
    }
    Ok(Stage {
        name,
        base: base.to_string(),
        platform,
        line: logical.line,
        source: logical.text.clone(),
        instructions: Vec::new(),
    })
}

fn parse_kind(keyword: &str, rest: &str) -> Result<Kind, String> {
    let (flags, rest) = match keyword {
        "RUN" | "COPY" | "ADD" | "HEALTHCHECK" => flags(rest),
        _ => (Vec::new(), rest),
    };
    let unknown = |k: &str| Err(format!("{keyword}: unknown flag --{k}"));
    Ok(match keyword {
        "RUN" => {
            let mut run = Run {
                command: command(rest)?,
                mounts: Vec::new(),
                network: None,
                security: None,
                heredocs: Vec::new(),
            };
            for (k, v) in flags {
                match k.as_str() {
                    "mount" => run.mounts.push(v),
                    "network" => run.network = Some(v),
                    "security" => run.security = Some(v),
                    other => return unknown(other),
                }
            }
            Kind::Run(run)
        }
        "COPY" | "ADD" => {
            let mut words = match json_array(rest) {
                Some(w) => w?,
                None => rest.split_whitespace().map(str::to_string).collect(),
            };
            if words.len() < 2 {
                return Err(format!("{keyword} needs a source and a destination"));
            }
            let dest = words.pop().unwrap_or_default();
            let mut copy = Copy {
                sources: words,
                dest,
                ..Copy::default()
            };
            for (k, v) in flags {
                match k.as_str() {
                    "from" => copy.from = Some(v),
                    "chown" => copy.chown = Some(v),
                    "chmod" => copy.chmod = Some(v),
                    "link" => copy.link = v.is_empty() || v == "true",
                    "checksum" => copy.checksum = Some(v),
                    "exclude" => copy.exclude.push(v),
                    "parents" => copy.parents = v.is_empty() || v == "true",
                    "keep-git-dir" => copy.keep_git_dir = v.is_empty() || v == "true",
                    other => return unknown(other),
                }
            }
            if keyword == "COPY" {
                Kind::Copy(copy)
            } else {
                Kind::Add(copy)
            }
        }
        "ENV" | "LABEL" => {
            let pairs = key_values(rest, keyword)?;
            if keyword == "ENV" {
                Kind::Env(pairs)
            } else {
                Kind::Label(pairs)
            }
        }
        "ARG" => Kind::Arg(
            rest.split_whitespace()
                .map(|w| match w.split_once('=') {
                    Some((n, d)) => ArgDecl {
                        name: n.to_string(),
                        default: Some(d.to_string()),
                    },
                    None => ArgDecl {
                        name: w.to_string(),
                        default: None,
                    },
                })
                .collect(),
        ),
        "WORKDIR" => Kind::Workdir(non_empty(rest, keyword)?),
        "USER" => Kind::User(non_empty(rest, keyword)?),
        "EXPOSE" => Kind::Expose(rest.split_whitespace().map(str::to_string).collect()),
        "VOLUME" => Kind::Volume(match json_array(rest) {
            Some(w) => w?,
            None => rest.split_whitespace().map(str::to_string).collect(),
        }),
        "ENTRYPOINT" => Kind::Entrypoint(command(rest)?),
        "CMD" => Kind::Cmd(command(rest)?),
        "SHELL" => Kind::Shell(
            json_array(rest).ok_or("SHELL takes a JSON array, e.g. [\"/bin/sh\", \"-c\"]")??,
        ),
        "STOPSIGNAL" => Kind::StopSignal(non_empty(rest, keyword)?),
        "HEALTHCHECK" => {
            if rest.eq_ignore_ascii_case("none") {
                Kind::Healthcheck(Healthcheck::None)
            } else {
                let rest = rest
                    .strip_prefix("CMD")
                    .or_else(|| rest.strip_prefix("cmd"))
                    .ok_or("HEALTHCHECK takes NONE or CMD ...")?;
                let mut check = (None, None, None, None, None);
                for (k, v) in flags {
                    match k.as_str() {
                        "interval" => check.0 = Some(v),
                        "timeout" => check.1 = Some(v),
                        "start-period" => check.2 = Some(v),
                        "start-interval" => check.3 = Some(v),
                        "retries" => {
                            check.4 = Some(v.parse().map_err(|_| {
                                format!("HEALTHCHECK: --retries {v:?} is not a number")
                            })?)
                        }
                        other => return unknown(other),
                    }
                }
                Kind::Healthcheck(Healthcheck::Check {
                    command: command(rest.trim())?,
                    interval: check.0,
                    timeout: check.1,
                    start_period: check.2,
                    start_interval: check.3,
                    retries: check.4,
                })
            }
        }
        "ONBUILD" => Kind::Onbuild(non_empty(rest, keyword)?),
        "MAINTAINER" => Kind::Maintainer(non_empty(rest, keyword)?),
        other => return Err(format!("unknown instruction: {other}")),
    })
}

fn non_empty(rest: &str, keyword: &str) -> Result<String, String> {
    if rest.is_empty() {
        return Err(format!("{keyword} needs an argument"));
    }
    Ok(rest.to_string())
}

fn command(rest: &str) -> Result<Command, String> {
    match json_array(rest) {
        Some(words) => Ok(Command::Exec(words?)),
        None => Ok(Command::Shell(rest.to_string())),
    }
}

/// `Some` when `rest` is a JSON array of strings (the exec form); `None` when it is not JSON
/// at all (the shell form).
fn json_array(rest: &str) -> Option<Result<Vec<String>, String>> {
    if !rest.starts_with('[') {
        return None;
    }
    serde_json::from_str::<Vec<String>>(rest).ok().map(Ok)
}

fn key_values(rest: &str, keyword: &str) -> Result<Vec<KeyValue>, String> {
    let first = rest.split_whitespace().next().unwrap_or_default();
    if !first.contains('=') {
        // The legacy form: `ENV KEY value with spaces`.
        let (key, value) = split_keyword(rest);
        if key.is_empty() {
            return Err(format!("{keyword} needs KEY=VALUE"));
        }
        return Ok(vec![KeyValue {
            key: key.to_string(),
            value: value.trim().to_string(),
        }]);
    }
    words(rest)
        .into_iter()
        .map(|w| match w.split_once('=') {
            Some((k, v)) => Ok(KeyValue {
                key: k.to_string(),
                value: v.to_string(),
            }),
            None => Err(format!("{keyword}: {w:?} is not KEY=VALUE")),
        })
        .collect()
}

/// Splits on unquoted white space, keeping quotes and escapes in the words.
fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote = None;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match (c, quote) {
            ('\\', _) => {
                cur.push(c);
                cur.extend(chars.next());
            }
            ('"' | '\'', None) => {
                quote = Some(c);
                cur.push(c);
            }
            (q, Some(open)) if q == open => {
                quote = None;
                cur.push(c);
            }
            (c, None) if c.is_whitespace() => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            _ => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_instructions_and_forms() {
        let text = "ARG BASE=busybox\nFROM $BASE AS one\n# comment\nRUN echo a \\\n  b\nCMD [\"sh\", \"-c\", \"x\"]\nENV A=1 B=\"two words\"\nFROM one\nCOPY --from=one /a /b\n";
        let f = parse(text, "Containerfile").unwrap();
        assert_eq!(f.global_args[0].name, "BASE");
        assert_eq!(f.stages.len(), 2);
        assert_eq!(f.stages[0].name.as_deref(), Some("one"));
        let run = &f.stages[0].instructions[0];
        assert_eq!(run.line, 4);
        assert_eq!(run.source, "RUN echo a b");
        assert!(
            matches!(&run.kind, Kind::Run(r) if r.command == Command::Shell("echo a b".into()))
        );
        assert!(
            matches!(&f.stages[0].instructions[1].kind, Kind::Cmd(Command::Exec(w)) if w.len() == 3)
        );
        let Kind::Env(env) = &f.stages[0].instructions[2].kind else {
            panic!("not ENV")
        };
        assert_eq!(env[1].value, "\"two words\"");
        let Kind::Copy(c) = &f.stages[1].instructions[0].kind else {
            panic!("not COPY")
        };
        assert_eq!(c.from.as_deref(), Some("one"));
        assert_eq!(c.dest, "/b");
    }

    #[test]
    fn errors_name_the_line() {
        let e = parse("FROM a\nFOO bar\n", "Containerfile").unwrap_err();
        assert_eq!(
            (e.line, e.message.as_str()),
            (2, "unknown instruction: FOO")
        );
        assert!(parse("RUN x\n", "F").is_err());
    }
}
