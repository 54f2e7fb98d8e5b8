//! The parsed form of a Containerfile.
//!
//! Every string here is *raw*: quotes and escapes are still in place and `$VAR` is not
//! expanded, because expansion depends on the ARG and ENV values of the step that uses it
//! ([`super::expand`] does both, in the executor). Exec-form (JSON) arrays are the exception:
//! their elements are the decoded JSON strings.

/// A whole Containerfile.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Containerfile {
    /// ARGs declared before the first FROM: they are visible to FROM lines only (and to a
    /// stage that declares them again without a value).
    pub global_args: Vec<ArgDecl>,
    pub stages: Vec<Stage>,
    /// The escape character (`# escape=` directive), which [`super::expand`] needs too.
    pub escape: Escape,
}

/// The character that escapes the next one and continues lines: `\` unless the file's
/// `# escape=` directive says `` ` ``.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Escape(pub char);

impl Default for Escape {
    fn default() -> Escape {
        Escape('\\')
    }
}

/// One FROM and the instructions after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    /// `AS name`, as written.
    pub name: Option<String>,
    /// The base image reference (raw; `scratch` or an earlier stage's name are possible).
    pub base: String,
    /// `--platform=...` (raw).
    pub platform: Option<String>,
    /// The FROM line (1-based).
    pub line: usize,
    /// The FROM instruction as written (continuations joined), for `STEP n/m: ...`.
    pub source: String,
    pub instructions: Vec<Instruction>,
}

/// One instruction after a FROM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instruction {
    /// The line the instruction starts on (1-based).
    pub line: usize,
    /// The instruction as written, continuations joined with a space, comments left out:
    /// what `STEP n/m:` prints.
    pub source: String,
    pub kind: Kind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Run(Run),
    Copy(Copy),
    Add(Copy),
    Env(Vec<KeyValue>),
    Arg(Vec<ArgDecl>),
    Label(Vec<KeyValue>),
    Workdir(String),
    User(String),
    Expose(Vec<String>),
    Volume(Vec<String>),
    Entrypoint(Command),
    Cmd(Command),
    Shell(Vec<String>),
    StopSignal(String),
    Healthcheck(Healthcheck),
    /// The trigger instruction's text (`ONBUILD RUN x` keeps `RUN x`), stored in the image.
    Onbuild(String),
    Maintainer(String),
}

impl Kind {
    /// The instruction's keyword, upper case.
    pub fn keyword(&self) -> &'static str {
        match self {
            Kind::Run(_) => "RUN",
            Kind::Copy(_) => "COPY",
            Kind::Add(_) => "ADD",
            Kind::Env(_) => "ENV",
            Kind::Arg(_) => "ARG",
            Kind::Label(_) => "LABEL",
            Kind::Workdir(_) => "WORKDIR",
            Kind::User(_) => "USER",
            Kind::Expose(_) => "EXPOSE",
            Kind::Volume(_) => "VOLUME",
            Kind::Entrypoint(_) => "ENTRYPOINT",
            Kind::Cmd(_) => "CMD",
            Kind::Shell(_) => "SHELL",
            Kind::StopSignal(_) => "STOPSIGNAL",
            Kind::Healthcheck(_) => "HEALTHCHECK",
            Kind::Onbuild(_) => "ONBUILD",
            Kind::Maintainer(_) => "MAINTAINER",
        }
    }
}

/// RUN, CMD and ENTRYPOINT's two forms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `["prog", "arg"]`: run as is.
    Exec(Vec<String>),
    /// `prog arg`: run by the stage's SHELL (`/bin/sh -c` by default).
    Shell(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    pub command: Command,
    /// `--mount=...` values (raw), in order.
    pub mounts: Vec<String>,
    /// `--network=...`.
    pub network: Option<String>,
    /// `--security=...`.
    pub security: Option<String>,
    /// Here-documents (`RUN <<EOF ... EOF`), in the order their markers appear.
    pub heredocs: Vec<Heredoc>,
}

/// A here-document: `<<NAME` (expanded), `<<"NAME"`/`<<'NAME'` (not expanded), `<<-NAME`
/// (leading tabs removed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heredoc {
    pub name: String,
    /// The lines between the marker and the terminator, each ending in `\n`.
    pub content: String,
    /// Whether `$VAR` in the content is expanded (the marker was not quoted).
    pub expand: bool,
    /// Whether leading tabs are removed (`<<-`).
    pub strip_tabs: bool,
}

/// COPY and ADD.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Copy {
    /// Sources (raw), at least one unless `heredocs` gives the content.
    pub sources: Vec<String>,
    /// The destination (raw): absolute, or relative to WORKDIR.
    pub dest: String,
    /// `--from=stage|image`.
    pub from: Option<String>,
    /// `--chown=user[:group]`.
    pub chown: Option<String>,
    /// `--chmod=MODE`.
    pub chmod: Option<String>,
    /// `--link`.
    pub link: bool,
    /// `--checksum=sha256:...` (ADD of a URL).
    pub checksum: Option<String>,
    /// `--keep-git-dir` (ADD of a git repository).
    pub keep_git_dir: bool,
    /// `--exclude=PATTERN`, repeated.
    pub exclude: Vec<String>,
    /// `--parents`.
    pub parents: bool,
    /// `COPY <<EOF /dest`: files whose content is a here-document, named by their marker.
    pub heredocs: Vec<Heredoc>,
}

/// `KEY=VALUE` of ENV and LABEL (raw; the legacy `ENV KEY value` form gives one pair).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    pub key: String,
    pub value: String,
}

/// `ARG NAME[=default]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgDecl {
    pub name: String,
    pub default: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Healthcheck {
    /// `HEALTHCHECK NONE`: the base image's check is disabled.
    None,
    Check {
        command: Command,
        /// `--interval`, `--timeout`, `--start-period`, `--start-interval` (durations as
        /// written, e.g. `30s`), `--retries`.
        interval: Option<String>,
        timeout: Option<String>,
        start_period: Option<String>,
        start_interval: Option<String>,
        retries: Option<u32>,
    },
}
