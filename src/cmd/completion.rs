//! `coracle completion SHELL` and `coracle generate-man DIR` (both hidden): the shell
//! registration scripts and the man pages, made from the same clap definitions as the
//! parser. `completions/` and `man/` in the source tree are their committed output.

use std::path::Path;

use anyhow::Context as _;
use clap::CommandFactory as _;
use clap_complete::env::{Bash, EnvCompleter, Fish, Shells, Zsh};
use clap_mangen::roff::{Roff, bold, roman};

use crate::cli::{Cli, CompletionArgs, GenerateManArgs, Shell, docs};
use crate::error::ExitStatus;

/// The variable that turns a run of `coracle` into a completion request (clap_complete's
/// default, which the scripts pass on).
pub const COMPLETE_VAR: &str = "COMPLETE";

/// The shells `COMPLETE=<shell>` answers (main.rs), with zsh's script made loadable from
/// `fpath` as well as by `source`.
pub const SHELLS: Shells<'static> = Shells(&[&BASH_WORDBREAKS, &Fish, &ZSH_AUTOLOAD]);

/// The lines of clap_complete's bash script replaced, and what replaces them.
const BASH_WORDS: &str = r#"    local words=("${COMP_WORDS[@]}")
    if [[ "${BASH_VERSINFO[0]}" -ge 4 ]]; then
        words[COMP_CWORD]="$2"
    fi
"#;
const BASH_JOINED_WORDS: &str = r#"    local words=() _i _w _n
    for ((_i = 0; _i < ${#COMP_WORDS[@]}; _i++)); do
        _w="${COMP_WORDS[_i]}"
        # The word up to the cursor (bash 4+), unless it is the `:` or `=` itself.
        if ((_i == COMP_CWORD)) && [[ "${BASH_VERSINFO[0]}" -ge 4 && ! $_w =~ ^[:=]+$ ]]; then
            _w="$2"
        fi
        _n=${#words[@]}
        if ((_n > 0)) && [[ $_w =~ ^[:=]+$ || ${words[_n-1]} =~ [:=]$ ]]; then
            words[_n-1]+="$_w"
        else
            words+=("$_w")
        fi
        if ((_i == COMP_CWORD)); then
            _CLAP_COMPLETE_INDEX=$((${#words[@]} - 1))
        fi
    done
    local _cur="${words[_CLAP_COMPLETE_INDEX]}"
"#;
const BASH_REPLY_CHECK: &str = r#"    if [[ $? != 0 ]]; then
        unset COMPREPLY
"#;
const BASH_REPLY_TRIMMED: &str = r#"    if [[ $? != 0 ]]; then
        unset COMPREPLY
    elif [[ $_cur =~ [:=] ]]; then
        local _lead="${_cur%"${_cur##*[:=]}"}"
        for _i in "${!COMPREPLY[@]}"; do
            COMPREPLY[_i]="${COMPREPLY[_i]#"$_lead"}"
        done
        if [[ $_CLAP_COMPLETE_SPACE == false ]] && [[ "${COMPREPLY-}" =~ [=/:]$ ]]; then
            compopt -o nospace
        fi
"#;

/// How clap_complete's zsh script passes the line to coracle, and the same with each word's
/// quoting removed (`${(Q)...}`, and the opening quote of the word being typed, which has
/// no closing one yet) as the command will see it: a `--format "{{.Na` (quoted, as zsh
/// users write templates) reached coracle with its `"` and matched nothing.
const ZSH_WORDS: &str = "coracle -- \"${words[@]}\"";
const ZSH_WORDS_UNQUOTED: &str = "coracle -- \"${(@)${(Q)words[@]}#[\\\"']}\"";

/// One of clap_complete's completers with its registration script edited (each edit: a
/// text the script must contain, once, and what replaces it); completion requests go to it
/// unchanged. A clap_complete whose script no longer has a text fails loudly.
struct Edited {
    base: &'static dyn EnvCompleter,
    edits: fn(function: &str, bin: &str) -> Vec<(String, String)>,
}

/// clap_complete's bash completer, with the words bash split at `:` and `=`
/// (`COMP_WORDBREAKS`) joined again before coracle is asked: `image:tag`, `8080:80`,
/// `--format={{.Names}}` and `-e K=V` are one word each to coracle, as in the command line
/// that runs. Replies are trimmed back to the part after the last `:`/`=`, which is all bash
/// replaces (bash-completion's `__ltrim_colon_completions`); without this a tag completed
/// to `image:` and the next TAB inserted `--`.
const BASH_WORDBREAKS: Edited = Edited {
    base: &Bash,
    edits: |_, _| {
        vec![
            (BASH_WORDS.into(), BASH_JOINED_WORDS.into()),
            (BASH_REPLY_CHECK.into(), BASH_REPLY_TRIMMED.into()),
        ]
    },
};

/// clap_complete's zsh completer, whose script ends in `compdef`: sourced, that registers
/// the completer; installed as `_coracle` in `fpath` (what packages do) and autoloaded on
/// the first TAB, it only registered it and that first TAB completed nothing. The script
/// here completes at once when it runs as the autoloaded `_coracle`.
const ZSH_AUTOLOAD: Edited = Edited {
    base: &Zsh,
    edits: |function, bin| {
        let compdef = format!("compdef {function} {bin}");
        let ending = format!(
            "if [[ \"${{funcstack[1]}}\" == \"_{bin}\" ]]; then\n    \
             # Autoloaded from fpath by the first TAB: answer it.\n    \
             {function} \"$@\"\nelse\n    {compdef}\nfi"
        );
        vec![
            (compdef, ending),
            (ZSH_WORDS.into(), ZSH_WORDS_UNQUOTED.into()),
        ]
    },
};

impl EnvCompleter for Edited {
    fn name(&self) -> &'static str {
        self.base.name()
    }

    fn is(&self, name: &str) -> bool {
        self.base.is(name)
    }

    fn write_registration(
        &self,
        var: &str,
        name: &str,
        bin: &str,
        completer: &str,
        buf: &mut dyn std::io::Write,
    ) -> Result<(), std::io::Error> {
        let mut script = Vec::new();
        self.base
            .write_registration(var, name, bin, completer, &mut script)?;
        let mut script = String::from_utf8_lossy(&script).into_owned();
        let function = format!("_clap_dynamic_completer_{name}");
        for (from, to) in (self.edits)(&function, bin) {
            if !script.contains(&from) {
                return Err(std::io::Error::other(format!(
                    "clap_complete's {} script changed: {from:?} is not in it \
                     (src/cmd/completion.rs)",
                    self.base.name()
                )));
            }
            script = script.replacen(&from, &to, 1);
        }
        buf.write_all(script.as_bytes())
    }

    fn write_complete(
        &self,
        cmd: &mut clap::Command,
        args: Vec<std::ffi::OsString>,
        current_dir: Option<&Path>,
        buf: &mut dyn std::io::Write,
    ) -> Result<(), std::io::Error> {
        self.base.write_complete(cmd, args, current_dir, buf)
    }
}

/// The script a shell sources to ask `coracle` for completions on every TAB; the same text
/// `COMPLETE=<shell> coracle` prints. It calls `coracle` through `$PATH`, never the absolute
/// path of the binary that wrote it.
pub fn registration(shell: Shell) -> Vec<u8> {
    let completer: &dyn EnvCompleter = match shell {
        Shell::Bash => &BASH_WORDBREAKS,
        Shell::Zsh => &ZSH_AUTOLOAD,
        Shell::Fish => &Fish,
    };
    let mut buf = Vec::new();
    // Writing into a Vec cannot fail.
    let _ = completer.write_registration(COMPLETE_VAR, "coracle", "coracle", "coracle", &mut buf);
    buf
}

pub fn completion(args: &CompletionArgs) -> anyhow::Result<ExitStatus> {
    let script = registration(args.shell);
    super::out(&String::from_utf8_lossy(&script))?;
    Ok(ExitStatus::Success)
}

/// Writes `coracle.1`, a page per visible command (`coracle-image-inspect.1`, ...) and a
/// section-5 page per file coracle reads (`coracle-storage.conf.5`, ...). SYNOPSIS, OPTIONS
/// and SUBCOMMANDS come from the clap definitions; DESCRIPTION, EXAMPLES and any other
/// section from the text sources in `docs/` (src/cli/docs.rs).
pub fn write_man_pages(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut cmd = Cli::command().disable_help_subcommand(true);
    // Sets every subcommand's display name (`coracle-image-inspect`) and usage name.
    cmd.build();
    command_pages(&cmd, None, dir)?;
    for (name, page) in docs::config_files() {
        let path = dir.join(format!("{name}.5"));
        std::fs::write(&path, config_page(name, &page))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

fn page_name(cmd: &clap::Command) -> &str {
    cmd.get_display_name().unwrap_or_else(|| cmd.get_name())
}

fn command_pages(cmd: &clap::Command, parent: Option<&str>, dir: &Path) -> anyhow::Result<()> {
    let name = page_name(cmd);
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        command_pages(sub, Some(name), dir)?;
    }
    let path = dir.join(format!("{name}.1"));
    let text = command_page(cmd, parent).with_context(|| format!("rendering {name}.1"))?;
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))
}

/// The text every `Roff` rendering starts with (a string definition for apostrophes): kept
/// once, at the top of a page assembled from several renderings.
fn preamble() -> String {
    Roff::new().render()
}

/// One command's page: clap_mangen's sections where clap knows the content, the text
/// source's where it does not. A command without a text source still gets a page (its
/// one-line about as DESCRIPTION); the tests fail on it and name the missing file.
fn command_page(cmd: &clap::Command, parent: Option<&str>) -> std::io::Result<String> {
    let name = page_name(cmd);
    let text = docs::command(name);
    let man = clap_mangen::Man::new(cmd.clone());
    let mut parts: Vec<Vec<u8>> = Vec::new();
    let part = |render: &dyn Fn(&mut Vec<u8>) -> std::io::Result<()>| {
        let mut buf = Vec::new();
        render(&mut buf).map(|()| buf)
    };
    parts.push(part(&|w| man.render_title(w))?);
    parts.push(part(&|w| man.render_name_section(w))?);
    parts.push(part(&|w| man.render_synopsis_section(w))?);
    let mut roff = Roff::new();
    roff.control("SH", ["DESCRIPTION"]);
    match &text {
        Some(text) => blocks(&mut roff, &text.description),
        None => {
            roff.text([roman(
                cmd.get_about().map(|a| a.to_string()).unwrap_or_default(),
            )]);
        }
    }
    parts.push(roff.render().into_bytes());
    if cmd.get_arguments().any(|a| !a.is_hide_set()) {
        parts.push(part(&|w| man.render_options_section(w))?);
    }
    if cmd.get_subcommands().any(|s| !s.is_hide_set()) {
        parts.push(part(&|w| man.render_subcommands_section(w))?);
    }
    let mut roff = Roff::new();
    for section in text.iter().flat_map(|t| &t.sections) {
        roff.control("SH", [section.title.as_str()]);
        blocks(&mut roff, &section.blocks);
    }
    let mut see_also: Vec<(String, &str)> = Vec::new();
    if let Some(parent) = parent {
        see_also.push((parent.to_owned(), "1"));
    }
    if let Some(target) = text.as_ref().and_then(|t| t.alias_of.clone()) {
        see_also.push((target, "1"));
    }
    if parent.is_none() {
        see_also.extend(docs::config_files().map(|(n, _)| (n.to_owned(), "5")));
    }
    see_also_section(&mut roff, &see_also);
    parts.push(roff.render().into_bytes());
    if cmd.get_version().is_some() {
        parts.push(part(&|w| man.render_version_section(w))?);
    }
    Ok(assemble(parts))
}

/// A section-5 page: NAME from the source's first line, DESCRIPTION from the rest of the
/// text before the first heading, then the source's sections.
fn config_page(name: &str, page: &docs::Page) -> String {
    let mut roff = Roff::new();
    let version = format!("coracle {}", env!("CARGO_PKG_VERSION"));
    roff.control("TH", [name, "5", "", version.as_str()]);
    roff.control("SH", ["NAME"]);
    let (summary, description) = match page.description.split_first() {
        Some((docs::Block::Para(first), rest)) => (first.clone(), rest),
        _ => (name.to_owned(), &page.description[..]),
    };
    roff.text([roman(summary)]);
    roff.control("SH", ["DESCRIPTION"]);
    blocks(&mut roff, description);
    for section in &page.sections {
        roff.control("SH", [section.title.as_str()]);
        blocks(&mut roff, &section.blocks);
    }
    let mut see_also = vec![("coracle".to_owned(), "1")];
    see_also.extend(
        docs::config_files()
            .filter(|(n, _)| *n != name)
            .map(|(n, _)| (n.to_owned(), "5")),
    );
    see_also_section(&mut roff, &see_also);
    roff.render()
}

fn see_also_section(roff: &mut Roff, pages: &[(String, &str)]) {
    if pages.is_empty() {
        return;
    }
    roff.control("SH", ["SEE ALSO"]);
    let mut line = Vec::new();
    for (i, (page, section)) in pages.iter().enumerate() {
        let sep = if i + 1 < pages.len() { ", " } else { "" };
        line.push(bold(page.as_str()));
        line.push(roman(format!("({section}){sep}")));
    }
    roff.text(line);
}

fn blocks(roff: &mut Roff, blocks: &[docs::Block]) {
    for block in blocks {
        match block {
            docs::Block::Para(text) => {
                roff.control("PP", []);
                roff.text([roman(text.as_str())]);
            }
            docs::Block::Code(lines) => {
                roff.control("PP", []);
                roff.control("RS", ["4"]);
                roff.control("nf", []);
                for line in lines {
                    roff.text([roman(line.as_str())]);
                }
                roff.control("fi", []);
                roff.control("RE", []);
            }
            docs::Block::Item { term, text } => {
                roff.control("TP", []);
                roff.text([bold(term.as_str())]);
                roff.text([roman(text.as_str())]);
            }
        }
    }
}

/// Joins separately rendered parts, dropping the repeated preamble from all but the first.
fn assemble(parts: Vec<Vec<u8>>) -> String {
    let preamble = preamble();
    let mut page = String::new();
    for (i, part) in parts.into_iter().enumerate() {
        let text = String::from_utf8_lossy(&part).into_owned();
        match text.strip_prefix(&preamble) {
            Some(rest) if i > 0 => page.push_str(rest),
            _ => page.push_str(&text),
        }
    }
    page
}

pub fn generate_man(args: &GenerateManArgs) -> anyhow::Result<ExitStatus> {
    write_man_pages(&args.dir)?;
    Ok(ExitStatus::Success)
}
