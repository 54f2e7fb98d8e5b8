//! One logical line to an instruction: its flags, its forms and its arguments, each error
//! pointing at the token that is wrong.

use super::ParseError;
use super::flags::Flags;
use super::heredoc::{self, Reader};
use super::lexer::Logical;
use super::words::{self, Word};
use crate::build::syntax::{
    ArgDecl, Command, Copy, Healthcheck, Heredoc, KeyValue, Kind, Run, Stage,
};

/// An instruction line taken apart: keyword, flags, the arguments after them.
pub struct Line<'a> {
    pub logical: &'a Logical,
    pub file: &'a str,
    pub escape: char,
    /// Upper case.
    pub keyword: String,
    /// Byte offsets in the logical text.
    pub keyword_start: usize,
    /// The arguments after the flags (raw).
    pub args: &'a str,
    pub args_start: usize,
    pub flags: Flags,
}

type Result<T> = std::result::Result<T, ParseError>;

impl<'a> Line<'a> {
    /// Takes apart the instruction that starts at byte `start` of `logical` (0, or where
    /// an ONBUILD trigger starts).
    pub fn new(
        logical: &'a Logical,
        start: usize,
        file: &'a str,
        escape: char,
    ) -> Result<Line<'a>> {
        let text = &logical.text[start..];
        let keyword_len = text.find(char::is_whitespace).unwrap_or(text.len());
        let after = &text[keyword_len..];
        let args_base = start + keyword_len + (after.len() - after.trim_start().len());
        let mut line = Line {
            logical,
            file,
            escape,
            keyword: text[..keyword_len].to_ascii_uppercase(),
            keyword_start: start,
            args: "",
            args_start: args_base,
            flags: Flags::default(),
        };
        let all_args = &logical.text[args_base..];
        let (flag_words, rest) = words::flags(all_args, args_base, escape);
        line.flags = Flags::check(&line.keyword, &flag_words).map_err(|(m, at)| line.err(at, m))?;
        let rest_text = &all_args[rest..];
        let trimmed = rest_text.trim_start();
        line.args_start = args_base + rest + (rest_text.len() - trimmed.len());
        line.args = trimmed;
        Ok(line)
    }

    pub fn err(&self, offset: usize, message: impl Into<String>) -> ParseError {
        let pos = self.logical.pos(offset);
        ParseError {
            file: self.file.to_string(),
            line: pos.line,
            column: pos.column,
            message: message.into(),
        }
    }

    fn words(&self) -> Vec<Word<'a>> {
        words::split(self.args, self.args_start, self.escape)
    }

    /// The arguments, which must not be empty.
    fn required(&self, what: &str) -> Result<String> {
        if self.args.is_empty() {
            return Err(self.err(self.keyword_start, format!("{} needs {what}", self.keyword)));
        }
        Ok(self.args.to_string())
    }

    /// `CMD x` / `CMD ["x"]`.
    fn command(&self, what: &str) -> Result<Command> {
        let args = self.required(what)?;
        Ok(match words::json_array(&args) {
            Some(list) => Command::Exec(list),
            None => Command::Shell(args),
        })
    }

    /// A JSON array that must be one (SHELL): a message pointing into the JSON when it is
    /// malformed.
    fn strict_json(&self) -> Result<Vec<String>> {
        let args = self.required("a JSON array, e.g. [\"/bin/sh\", \"-c\"]")?;
        if !args.starts_with('[') {
            return Err(self.err(
                self.args_start,
                format!(
                    "{} takes a JSON array, e.g. [\"/bin/sh\", \"-c\"]",
                    self.keyword
                ),
            ));
        }
        serde_json::from_str::<Vec<String>>(&args).map_err(|e| {
            // The logical line has no line breaks: the error's column is a byte offset + 1.
            // serde_json points at the character it stopped on: back up to the start of
            // that token.
            let text = &self.logical.text;
            let mut at = (self.args_start + e.column().saturating_sub(1)).min(text.len());
            while !text.is_char_boundary(at) {
                at -= 1;
            }
            while at > self.args_start {
                let Some(prev) = text[..at].chars().next_back() else {
                    break;
                };
                if prev.is_whitespace() || matches!(prev, ',' | '[' | ']') {
                    break;
                }
                at -= prev.len_utf8();
            }
            self.err(
                at,
                format!("{}: bad JSON array of strings: {e}", self.keyword),
            )
        })
    }
}

/// FROM: `[--platform=P] image [AS name]`.
pub fn from(line: &Line<'_>) -> Result<Stage> {
    let words = line.words();
    let (base, name) = match words.as_slice() {
        [] => return Err(line.err(line.keyword_start, "FROM needs an image")),
        [base] => (base, None),
        [base, as_, name] if as_.text.eq_ignore_ascii_case("as") => (base, Some(name)),
        [_, bad, ..] => {
            return Err(line.err(
                bad.start,
                format!(
                    "FROM takes an image and an optional AS name, not {:?}",
                    bad.text
                ),
            ));
        }
    };
    if let Some(name) = name
        && !valid_stage_name(name.text)
    {
        return Err(line.err(
            name.start,
            format!(
                "invalid stage name {:?}: it starts with a letter and holds only letters, digits, '-', '_' and '.'",
                name.text
            ),
        ));
    }
    Ok(Stage {
        name: name.map(|n| n.text.to_string()),
        base: base.text.to_string(),
        platform: line.flags.value("platform"),
        line: line.logical.line,
        source: line.logical.text.clone(),
        instructions: Vec::new(),
    })
}

/// BuildKit's rule, which compares names in lower case.
fn valid_stage_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Every instruction but FROM.
pub fn instruction(line: &Line<'_>, reader: &mut Reader<'_>) -> Result<Kind> {
    let keyword = line.keyword.as_str();
    Ok(match keyword {
        "RUN" => Kind::Run(run(line, reader)?),
        "COPY" => Kind::Copy(copy(line, reader)?),
        "ADD" => Kind::Add(copy(line, reader)?),
        "ENV" => Kind::Env(key_values(line)?),
        "LABEL" => Kind::Label(key_values(line)?),
        "ARG" => Kind::Arg(args(line)?),
        "WORKDIR" => Kind::Workdir(line.required("a directory")?),
        "USER" => Kind::User(line.required("a user")?),
        "EXPOSE" => {
            line.required("a port")?;
            Kind::Expose(line.words().iter().map(|w| w.text.to_string()).collect())
        }
        "VOLUME" => Kind::Volume(volumes(line)?),
        "ENTRYPOINT" => Kind::Entrypoint(line.command("a command")?),
        "CMD" => Kind::Cmd(line.command("a command")?),
        "SHELL" => {
            let shell = line.strict_json()?;
            if shell.is_empty() {
                return Err(line.err(line.args_start, "SHELL needs at least the shell's path"));
            }
            Kind::Shell(shell)
        }
        "STOPSIGNAL" => Kind::StopSignal(line.required("a signal")?),
        "HEALTHCHECK" => Kind::Healthcheck(healthcheck(line)?),
        "ONBUILD" => Kind::Onbuild(onbuild(line)?),
        "MAINTAINER" => Kind::Maintainer(line.required("a name")?),
        other => {
            let hint = super::suggest(other)
                .map(|k| format!(" (did you mean {k}?)"))
                .unwrap_or_default();
            return Err(line.err(
                line.keyword_start,
                format!("unknown instruction {other}{hint}"),
            ));
        }
    })
}

fn run(line: &Line<'_>, reader: &mut Reader<'_>) -> Result<Run> {
    let command = line.command("a command")?;
    let heredocs = match command {
        Command::Shell(_) => heredocs(line, &line.words(), reader)?,
        Command::Exec(_) => Vec::new(),
    };
    Ok(Run {
        command,
        mounts: line.flags.all("mount"),
        network: line.flags.value("network"),
        security: line.flags.value("security"),
        heredocs,
    })
}

fn heredocs(line: &Line<'_>, words: &[Word<'_>], reader: &mut Reader<'_>) -> Result<Vec<Heredoc>> {
    let markers = words
        .iter()
        .filter_map(|w| heredoc::marker(w, line.escape))
        .collect();
    heredoc::read_all(markers, reader).map_err(|m| {
        let pos = line.logical.pos(m.start);
        line.err(
            m.start,
            format!(
                "unterminated here-document {:?} (started on line {}): no line {:?} before the end of the file",
                m.name, pos.line, m.name
            ),
        )
    })
}

fn copy(line: &Line<'_>, reader: &mut Reader<'_>) -> Result<Copy> {
    let flags = &line.flags;
    let mut copy = Copy {
        from: flags.value("from"),
        chown: flags.value("chown"),
        chmod: flags.value("chmod"),
        link: flags.bool("link"),
        checksum: flags.value("checksum"),
        keep_git_dir: flags.bool("keep-git-dir"),
        exclude: flags.all("exclude"),
        parents: flags.bool("parents"),
        ..Copy::default()
    };
    // A mode without variables is checked here, so the error names its line and column; one
    // with `$` is checked once expanded, at its step.
    if let Some((mode, at)) = flags.value_at("chmod")
        && !mode.contains('$')
        && let Err(e) = crate::build::copy::chmod::Chmod::parse(&mode)
    {
        return Err(line.err(at, e.to_string()));
    }
    let usage = format!("{} needs a source and a destination", line.keyword);
    if let Some(mut list) = words::json_array(line.args) {
        let Some(dest) = list.pop().filter(|_| !list.is_empty()) else {
            return Err(line.err(line.keyword_start, usage));
        };
        copy.sources = list;
        copy.dest = dest;
        return Ok(copy);
    }
    let words = line.words();
    let Some((dest, sources)) = words.split_last() else {
        return Err(line.err(line.keyword_start, usage));
    };
    if heredoc::marker(dest, line.escape).is_some() {
        return Err(line.err(
            dest.start,
            format!(
                "{} needs a destination after the here-document",
                line.keyword
            ),
        ));
    }
    let (markers, paths): (Vec<Word<'_>>, Vec<Word<'_>>) = sources
        .iter()
        .copied()
        .partition(|w| heredoc::marker(w, line.escape).is_some());
    if sources.is_empty() {
        return Err(line.err(line.keyword_start, usage));
    }
    copy.heredocs = heredocs(line, &markers, reader)?;
    copy.sources = paths.iter().map(|w| w.text.to_string()).collect();
    copy.dest = dest.text.to_string();
    Ok(copy)
}

/// ENV and LABEL: `k=v k2="v 2"`, or the legacy `k value with spaces`.
fn key_values(line: &Line<'_>) -> Result<Vec<KeyValue>> {
    let keyword = &line.keyword;
    let words = line.words();
    let Some(first) = words.first() else {
        return Err(line.err(line.keyword_start, format!("{keyword} needs KEY=VALUE")));
    };
    if !first.text.contains('=') {
        let value = line.args[first.text.len()..].trim_start();
        if value.is_empty() {
            return Err(line.err(
                first.start,
                format!(
                    "{keyword} {0} needs a value: {0}=VALUE or {0} VALUE",
                    first.text
                ),
            ));
        }
        return Ok(vec![KeyValue {
            key: first.text.to_string(),
            value: value.to_string(),
        }]);
    }
    words
        .iter()
        .map(|w| match w.text.split_once('=') {
            Some(("", _)) => Err(line.err(w.start, format!("{keyword}: a name is missing before '='"))),
            Some((k, v)) => Ok(KeyValue {
                key: k.to_string(),
                value: v.to_string(),
            }),
            None => Err(line.err(
                w.start,
                format!("{keyword}: {:?} is not KEY=VALUE (mixing with the KEY VALUE form is not possible)", w.text),
            )),
        })
        .collect()
}

fn args(line: &Line<'_>) -> Result<Vec<ArgDecl>> {
    let words = line.words();
    if words.is_empty() {
        return Err(line.err(line.keyword_start, "ARG needs a name"));
    }
    words
        .iter()
        .map(|w| {
            let (name, default) = match w.text.split_once('=') {
                Some((n, d)) => (n, Some(d.to_string())),
                None => (w.text, None),
            };
            if name.is_empty() {
                return Err(line.err(w.start, "ARG: a name is missing before '='"));
            }
            Ok(ArgDecl {
                name: name.to_string(),
                default,
            })
        })
        .collect()
}

fn volumes(line: &Line<'_>) -> Result<Vec<String>> {
    line.required("a path")?;
    match words::json_array(line.args) {
        Some(list) if list.is_empty() => Err(line.err(line.args_start, "VOLUME needs a path")),
        Some(list) if list.iter().any(|p| p.trim().is_empty()) => {
            Err(line.err(line.args_start, "VOLUME: a path is empty"))
        }
        Some(list) => Ok(list),
        None => Ok(line.words().iter().map(|w| w.text.to_string()).collect()),
    }
}

fn healthcheck(line: &Line<'_>) -> Result<Healthcheck> {
    let words = line.words();
    let Some(first) = words.first() else {
        return Err(line.err(line.keyword_start, "HEALTHCHECK needs NONE or CMD command"));
    };
    if first.text.eq_ignore_ascii_case("none") {
        if let Some(extra) = words.get(1) {
            return Err(line.err(extra.start, "HEALTHCHECK NONE takes no arguments"));
        }
        return Ok(Healthcheck::None);
    }
    if !first.text.eq_ignore_ascii_case("cmd") {
        return Err(line.err(
            first.start,
            format!(
                "HEALTHCHECK takes NONE or CMD command, not {:?}",
                first.text
            ),
        ));
    }
    let rest = line.args[first.text.len()..].trim_start();
    if rest.is_empty() {
        return Err(line.err(first.start, "HEALTHCHECK CMD needs a command"));
    }
    let retries = match line.flags.value_at("retries") {
        None => None,
        Some((v, at)) => Some(v.parse::<u32>().map_err(|_| {
            line.err(
                at,
                format!("HEALTHCHECK: --retries={v} is not a whole number"),
            )
        })?),
    };
    Ok(Healthcheck::Check {
        command: match words::json_array(rest) {
            Some(list) => Command::Exec(list),
            None => Command::Shell(rest.to_string()),
        },
        interval: line.flags.value("interval"),
        timeout: line.flags.value("timeout"),
        start_period: line.flags.value("start-period"),
        start_interval: line.flags.value("start-interval"),
        retries,
    })
}

/// ONBUILD: the trigger is checked as an instruction of its own, and kept as text.
fn onbuild(line: &Line<'_>) -> Result<String> {
    let trigger = line.required("an instruction to run in the images built from this one")?;
    let inner = Line::new(line.logical, line.args_start, line.file, line.escape)?;
    match inner.keyword.as_str() {
        "ONBUILD" => Err(line.err(inner.keyword_start, "ONBUILD ONBUILD is not allowed")),
        k @ ("FROM" | "MAINTAINER") => Err(line.err(
            inner.keyword_start,
            format!("{k} is not allowed as an ONBUILD trigger"),
        )),
        _ => {
            // Here-documents of a trigger are read when it runs, not now.
            instruction(&inner, &mut |_, _| Some(String::new()))?;
            Ok(trigger)
        }
    }
}
