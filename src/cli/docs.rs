//! The long text of every command (`--help`'s description and examples, the man pages'
//! DESCRIPTION and EXAMPLES) and the section-5 pages for the files coracle reads.
//!
//! The sources are plain text files embedded at build time (build.rs):
//! `docs/commands/<page>.md` for the command whose man page is `<page>.1` (`coracle-run`,
//! `coracle-image-inspect`), `docs/config/<page>.md` for `<page>.5`. The format:
//!
//! - the text before the first `## HEADING` line is the description (for a section-5 page its
//!   first line is the NAME line: `coracle-storage.conf - what it is`);
//! - each `## HEADING` starts a section (`## EXAMPLES`, `## FILES`, ...);
//! - blank lines separate paragraphs; a paragraph whose lines are indented by four spaces is
//!   a command line or file excerpt, shown verbatim; a paragraph whose first line starts
//!   with `* ` is a definition: that line is the term, the rest its text;
//! - a file that holds only `alias: coracle-rm` is another name's page: the named page's
//!   text, introduced by a sentence saying so.

include!(concat!(env!("OUT_DIR"), "/docs.rs"));

/// One block of a section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Block {
    /// Running text (its lines are joined; the formatter fills them).
    Para(String),
    /// Lines shown as written: command lines, file excerpts.
    Code(Vec<String>),
    /// A term and its explanation (a key of a file, an option value).
    Item { term: String, text: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// As written after `## ` (man pages print it as is: `EXAMPLES`, `FILES`).
    pub title: String,
    pub blocks: Vec<Block>,
}

/// A page's text, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// The paragraphs before the first heading.
    pub description: Vec<Block>,
    pub sections: Vec<Section>,
    /// For an alias page: the page it names (`coracle-rm`).
    pub alias_of: Option<String>,
}

impl Page {
    pub fn section(&self, title: &str) -> Option<&Section> {
        self.sections.iter().find(|s| s.title == title)
    }
}

/// The text source of command page `name` (`coracle-run`); an alias resolves to its target's
/// text with a first paragraph naming the target.
pub fn command(name: &str) -> Option<Page> {
    let text = lookup(COMMANDS, name)?;
    let page = parse(text);
    let Some(target) = page.alias_of.clone() else {
        return Some(page);
    };
    let mut resolved = parse(lookup(COMMANDS, &target)?);
    let spell = |page: &str| page.replacen('-', " ", usize::MAX);
    resolved.description.insert(
        0,
        Block::Para(format!(
            "{} is another name for {}; the two take the same options.",
            spell(name),
            spell(&target)
        )),
    );
    resolved.alias_of = Some(target);
    Some(resolved)
}

/// The section-5 pages: `(name, parsed text)`, `name` as in `coracle-storage.conf`.
pub fn config_files() -> impl Iterator<Item = (&'static str, Page)> {
    CONFIG_FILES.iter().map(|(name, text)| (*name, parse(text)))
}

/// Where a command's text lives in the source tree (for messages that ask for it).
pub fn source_path(name: &str) -> String {
    format!("docs/commands/{name}.md")
}

fn lookup(table: &'static [(&'static str, &'static str)], name: &str) -> Option<&'static str> {
    table
        .binary_search_by(|(n, _)| (*n).cmp(name))
        .ok()
        .map(|i| table[i].1)
}

/// Parses the format described in the module documentation.
pub fn parse(text: &str) -> Page {
    let trimmed = text.trim();
    if let Some(target) = trimmed.strip_prefix("alias:")
        && !target.contains('\n')
    {
        return Page {
            description: Vec::new(),
            sections: Vec::new(),
            alias_of: Some(target.trim().to_owned()),
        };
    }
    let mut description = Vec::new();
    let mut sections: Vec<Section> = Vec::new();
    let mut para: Vec<&str> = Vec::new();
    let flush =
        |para: &mut Vec<&str>, description: &mut Vec<Block>, sections: &mut Vec<Section>| {
            if para.is_empty() {
                return;
            }
            let block = block(para);
            para.clear();
            match sections.last_mut() {
                Some(section) => section.blocks.push(block),
                None => description.push(block),
            }
        };
    for line in text.lines() {
        if let Some(title) = line.strip_prefix("## ") {
            flush(&mut para, &mut description, &mut sections);
            sections.push(Section {
                title: title.trim().to_owned(),
                blocks: Vec::new(),
            });
        } else if line.trim().is_empty() {
            flush(&mut para, &mut description, &mut sections);
        } else {
            para.push(line);
        }
    }
    flush(&mut para, &mut description, &mut sections);
    Page {
        description,
        sections,
        alias_of: None,
    }
}

fn block(lines: &[&str]) -> Block {
    if lines.iter().all(|l| l.starts_with("    ")) {
        return Block::Code(lines.iter().map(|l| l[4..].to_owned()).collect());
    }
    let join = |lines: &[&str]| lines.iter().map(|l| l.trim()).collect::<Vec<_>>().join(" ");
    if let Some(term) = lines[0].strip_prefix("* ") {
        return Block::Item {
            term: term.trim().to_owned(),
            text: join(&lines[1..]),
        };
    }
    Block::Para(join(lines))
}

/// Plain text for `--help`: paragraphs as written (clap wraps them), code indented.
pub fn plain(blocks: &[Block]) -> String {
    let mut out = Vec::new();
    for block in blocks {
        out.push(match block {
            Block::Para(text) => text.clone(),
            Block::Code(lines) => lines
                .iter()
                .map(|l| format!("    {l}"))
                .collect::<Vec<_>>()
                .join("\n"),
            Block::Item { term, text } => format!("{term}\n    {text}"),
        });
    }
    out.join("\n\n")
}

/// The command tree with each command's long text: `--help` shows the description and
/// the examples (`-h` stays short). Only built when help is asked for: the parse of an
/// ordinary command line does not pay for it.
pub fn with_long_help(cmd: clap::Command) -> clap::Command {
    fn apply(cmd: clap::Command, page: &str) -> clap::Command {
        let mut cmd = match command(page) {
            Some(text) => {
                let mut after = Vec::new();
                for section in &text.sections {
                    let mut title = section.title.to_lowercase();
                    if let Some(first) = title.get(..1) {
                        title = first.to_uppercase() + &title[1..];
                    }
                    after.push(format!("{title}:\n\n{}", plain(&section.blocks)));
                }
                cmd.long_about(plain(&text.description))
                    .after_long_help(after.join("\n\n"))
            }
            None => cmd,
        };
        let page = page.to_owned();
        cmd = cmd.mut_subcommands(move |sub| {
            let name = format!("{page}-{}", sub.get_name());
            apply(sub, &name)
        });
        cmd
    }
    let name = cmd.get_name().to_owned();
    apply(cmd, &name)
}

/// Parses the process's command line as `Cli::try_parse` does, with the long text added to
/// the tree when the line asks for help.
pub fn try_parse() -> Result<super::Cli, clap::Error> {
    use clap::{CommandFactory as _, FromArgMatches as _, Parser as _};
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if !wants_help(&args) {
        return super::Cli::try_parse_from(args);
    }
    let mut matches = with_long_help(super::Cli::command()).try_get_matches_from(args)?;
    super::Cli::from_arg_matches_mut(&mut matches)
}

/// Whether a command line asks for help (`--help`, `-h`, `help`): a word anywhere
/// counts, so a false alarm (`coracle run busybox echo help`) only costs the slower path.
pub fn wants_help<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> bool {
    args.iter()
        .skip(1)
        .any(|a| matches!(a.as_ref().to_str(), Some("--help" | "-h" | "help")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_paragraphs_sections_code_and_items() {
        let page = parse(
            "First line\ncontinues.\n\nSecond.\n\n## EXAMPLES\n\nRun it:\n\n    $ coracle run x\n    $ coracle ps\n\n## KEYS\n\n* driver\nThe driver.\n",
        );
        assert_eq!(
            page.description,
            [
                Block::Para("First line continues.".into()),
                Block::Para("Second.".into())
            ]
        );
        let examples = page.section("EXAMPLES").expect("examples");
        assert_eq!(
            examples.blocks,
            [
                Block::Para("Run it:".into()),
                Block::Code(vec!["$ coracle run x".into(), "$ coracle ps".into()])
            ]
        );
        assert_eq!(
            page.section("KEYS").expect("keys").blocks,
            [Block::Item {
                term: "driver".into(),
                text: "The driver.".into()
            }]
        );
    }

    #[test]
    fn aliases_resolve_to_their_target() {
        let page = command("coracle-container-rm").expect("coracle-container-rm");
        assert_eq!(page.alias_of.as_deref(), Some("coracle-rm"));
        assert!(page.section("EXAMPLES").is_some());
        let Block::Para(first) = &page.description[0] else {
            panic!("{:?}", page.description)
        };
        assert!(first.starts_with("coracle container rm is another name for coracle rm"));
    }

    #[test]
    fn tables_are_sorted_for_lookup() {
        assert!(COMMANDS.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(lookup(COMMANDS, "coracle-run").is_some());
    }

    #[test]
    fn help_words_are_found() {
        assert!(wants_help(&["coracle", "run", "--help"]));
        assert!(wants_help(&["coracle", "help", "run"]));
        assert!(!wants_help(&["coracle", "run", "busybox"]));
    }
}
