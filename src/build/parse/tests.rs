//! The parser over whole files: every construct, every error with its line and column, and
//! no panic on mangled input.

use super::*;
use crate::build::syntax::{ArgDecl, Command, Copy, Healthcheck, Heredoc, KeyValue, Run, Stage};

fn ok(text: &str) -> Containerfile {
    match parse(text, "Containerfile") {
        Ok(f) => f,
        Err(e) => panic!("{e}\n{text}"),
    }
}

/// The instructions of the one stage of `FROM a\n` + `body`.
fn kinds(body: &str) -> Vec<Kind> {
    let f = ok(&format!("FROM a\n{body}"));
    f.stages[0]
        .instructions
        .iter()
        .map(|i| i.kind.clone())
        .collect()
}

fn one(body: &str) -> Kind {
    let mut k = kinds(body);
    assert_eq!(k.len(), 1, "{body}");
    k.remove(0)
}

/// The error's line, column and message.
fn bad(text: &str) -> (usize, usize, String) {
    match parse(text, "Containerfile") {
        Ok(f) => panic!("parsed: {f:?}\n{text}"),
        Err(e) => {
            assert_eq!(e.file, "Containerfile");
            (e.line, e.column, e.message)
        }
    }
}

fn assert_bad(text: &str, line: usize, column: usize, message_part: &str) {
    let (l, c, m) = bad(text);
    assert_eq!((l, c), (line, column), "{m}\n{text}");
    assert!(m.contains(message_part), "{m:?} lacks {message_part:?}");
}

fn run(kind: &Kind) -> &Run {
    match kind {
        Kind::Run(r) => r,
        other => panic!("not RUN: {other:?}"),
    }
}

fn copy(kind: &Kind) -> &Copy {
    match kind {
        Kind::Copy(c) | Kind::Add(c) => c,
        other => panic!("not COPY/ADD: {other:?}"),
    }
}

fn kv(k: &str, v: &str) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: v.into(),
    }
}

#[test]
fn stages_and_global_args() {
    let f = ok(
        "ARG BASE=busybox V\nFROM $BASE AS one\nRUN x\nfrom --platform=linux/arm64 one As Two\n",
    );
    assert_eq!(
        f.global_args,
        [
            ArgDecl {
                name: "BASE".into(),
                default: Some("busybox".into())
            },
            ArgDecl {
                name: "V".into(),
                default: None
            }
        ]
    );
    assert_eq!(f.stages.len(), 2);
    assert_eq!(
        f.stages[0],
        Stage {
            name: Some("one".into()),
            base: "$BASE".into(),
            platform: None,
            line: 2,
            source: "FROM $BASE AS one".into(),
            instructions: f.stages[0].instructions.clone(),
        }
    );
    assert_eq!(f.stages[0].instructions[0].line, 3);
    assert_eq!(f.stages[1].name.as_deref(), Some("Two"));
    assert_eq!(f.stages[1].platform.as_deref(), Some("linux/arm64"));
    assert_eq!(f.stages[1].line, 4);
    assert_eq!(f.escape, Escape('\\'));
}

#[test]
fn comments_blank_lines_continuations_crlf_and_bom() {
    let text = "\u{feff}# a comment\r\n\r\nFROM a\r\n  run echo a \\\r\n  # a comment inside\r\n\r\n    b\\\r\nc\r\n";
    let f = ok(text);
    let i = &f.stages[0].instructions[0];
    assert_eq!(i.line, 4);
    assert_eq!(i.source, "run echo a     bc");
    assert_eq!(run(&i.kind).command, Command::Shell("echo a     bc".into()));
}

#[test]
fn directives() {
    let f = ok(
        "# syntax=docker/dockerfile:1\n#ESCAPE = `\nFROM a\nRUN dir c:\\ `\n  /w\nCOPY a\\b c:\\d\n",
    );
    assert_eq!(f.escape, Escape('`'));
    let k: Vec<_> = f.stages[0].instructions.iter().map(|i| &i.kind).collect();
    assert_eq!(run(k[0]).command, Command::Shell("dir c:\\   /w".into()));
    assert_eq!(copy(k[1]).sources, ["a\\b"]);
    // A directive after a comment, a blank line or an instruction is a comment.
    for late in [
        "# x\n# escape=`\n",
        "\n# escape=`\n",
        "# unknown=1\n# escape=`\n",
    ] {
        let f = ok(&format!("{late}FROM a\nRUN a \\\n b\n"));
        assert_eq!(f.escape, Escape('\\'), "{late}");
        assert_eq!(
            run(&f.stages[0].instructions[0].kind).command,
            Command::Shell("a  b".into())
        );
    }
    let f = ok("FROM a\n# escape=`\nRUN a \\\n b\n");
    assert_eq!(f.escape, Escape('\\'));
}

#[test]
fn directive_errors() {
    assert_bad("# escape=x\nFROM a\n", 1, 10, "escape character is \\ or `");
    assert_bad(
        "# escape=`\n# Escape=\\\nFROM a\n",
        2,
        1,
        "escape directive is given twice",
    );
}

#[test]
fn keywords_are_case_insensitive() {
    let k = kinds("Run a\nworkDIR /w\ncmd [\"x\"]\n");
    assert_eq!(k[1], Kind::Workdir("/w".into()));
    assert_eq!(k[2], Kind::Cmd(Command::Exec(vec!["x".into()])));
}

#[test]
fn exec_and_shell_forms() {
    assert_eq!(
        run(&one("RUN [\"sh\", \"-c\", \"echo $A\"]")).command,
        Command::Exec(vec!["sh".into(), "-c".into(), "echo $A".into()])
    );
    // Not JSON (or not strings): the shell form, as Docker has it.
    assert_eq!(
        run(&one("RUN [ -f x ] && y")).command,
        Command::Shell("[ -f x ] && y".into())
    );
    assert_eq!(
        one("CMD [\"a\", 1]"),
        Kind::Cmd(Command::Shell("[\"a\", 1]".into()))
    );
    assert_eq!(
        one("ENTRYPOINT [\"a\""),
        Kind::Entrypoint(Command::Shell("[\"a\"".into()))
    );
    assert_eq!(
        one("ENTRYPOINT exec top -b"),
        Kind::Entrypoint(Command::Shell("exec top -b".into()))
    );
    assert_eq!(one("CMD []"), Kind::Cmd(Command::Exec(vec![])));
    assert_eq!(
        one("SHELL [\"/bin/bash\", \"-c\"]"),
        Kind::Shell(vec!["/bin/bash".into(), "-c".into()])
    );
}

#[test]
fn run_flags() {
    let r = one(
        "RUN --mount=type=cache,target=/c --mount=type=tmpfs,target=/t --network=none --security=insecure make",
    );
    let r = run(&r);
    assert_eq!(r.mounts, ["type=cache,target=/c", "type=tmpfs,target=/t"]);
    assert_eq!(r.network.as_deref(), Some("none"));
    assert_eq!(r.security.as_deref(), Some("insecure"));
    assert_eq!(r.command, Command::Shell("make".into()));
    let r = one("RUN --network=host -- --version");
    assert_eq!(run(&r).command, Command::Shell("--version".into()));
}

#[test]
fn run_heredocs() {
    let f = ok("FROM a\nRUN <<EOF\n# not a comment\necho $A \\\nEOF\nRUN x\n");
    let i = &f.stages[0].instructions;
    assert_eq!(i.len(), 2);
    let r = run(&i[0].kind);
    assert_eq!(r.command, Command::Shell("<<EOF".into()));
    assert_eq!(
        r.heredocs,
        [Heredoc {
            name: "EOF".into(),
            content: "# not a comment\necho $A \\\n".into(),
            expand: true,
            strip_tabs: false
        }]
    );
    assert_eq!(i[1].line, 6);

    let k = kinds(
        "RUN <<-'ONE' cat - <<\"TWO\" > /f\n\t\tone\n\tONE\ntwo\nTWO\nRUN python3 <<PY\nprint(1)\nPY\n",
    );
    let r = run(&k[0]);
    assert_eq!(
        r.command,
        Command::Shell("<<-'ONE' cat - <<\"TWO\" > /f".into())
    );
    assert_eq!(r.heredocs.len(), 2);
    assert_eq!(
        (
            r.heredocs[0].name.as_str(),
            r.heredocs[0].content.as_str(),
            r.heredocs[0].expand,
            r.heredocs[0].strip_tabs
        ),
        ("ONE", "one\n", false, true)
    );
    assert_eq!(
        (
            r.heredocs[1].name.as_str(),
            r.heredocs[1].content.as_str(),
            r.heredocs[1].expand,
            r.heredocs[1].strip_tabs
        ),
        ("TWO", "two\n", false, false)
    );
    assert_eq!(run(&k[1]).heredocs[0].content, "print(1)\n");
    // Quoted, or in the exec form: no here-document.
    assert!(run(&one("RUN echo \"<<EOF\"")).heredocs.is_empty());
    assert!(run(&one("RUN [\"cat\", \"<<EOF\"]")).heredocs.is_empty());
}

#[test]
fn copy_and_add() {
    let c = one(
        "COPY --from=build --chown=1:2 --chmod=755 --link --parents --exclude=*.o --exclude=x a b /dest/",
    );
    assert_eq!(
        copy(&c),
        &Copy {
            sources: vec!["a".into(), "b".into()],
            dest: "/dest/".into(),
            from: Some("build".into()),
            chown: Some("1:2".into()),
            chmod: Some("755".into()),
            link: true,
            parents: true,
            exclude: vec!["*.o".into(), "x".into()],
            ..Copy::default()
        }
    );
    let a = one("ADD --checksum=sha256:00 --keep-git-dir=true --link=false https://x/y.tar /y");
    assert!(matches!(a, Kind::Add(_)));
    let a = copy(&a);
    assert_eq!(
        (a.checksum.as_deref(), a.keep_git_dir, a.link),
        (Some("sha256:00"), true, false)
    );
    let c = one("COPY [\"a b\", \"/c d/\"]");
    assert_eq!(
        (copy(&c).sources.clone(), copy(&c).dest.as_str()),
        (vec!["a b".to_string()], "/c d/")
    );
    // A malformed JSON array is words.
    let c = one("COPY [\"a\" /b");
    assert_eq!(
        (copy(&c).sources.clone(), copy(&c).dest.as_str()),
        (vec!["[\"a\"".to_string()], "/b")
    );
}

#[test]
fn copy_heredocs() {
    let k = kinds(
        "COPY <<EOF /etc/motd\nhello $USER\nEOF\nCOPY --chmod=755 <<a <<'b' /dir/\nA\na\nB\nb\n",
    );
    let c = copy(&k[0]);
    assert!(c.sources.is_empty());
    assert_eq!(c.dest, "/etc/motd");
    assert_eq!(
        (c.heredocs[0].name.as_str(), c.heredocs[0].content.as_str()),
        ("EOF", "hello $USER\n")
    );
    let c = copy(&k[1]);
    assert_eq!(c.dest, "/dir/");
    assert_eq!(c.chmod.as_deref(), Some("755"));
    let names: Vec<_> = c
        .heredocs
        .iter()
        .map(|h| (h.name.as_str(), h.content.as_str(), h.expand))
        .collect();
    assert_eq!(names, [("a", "A\n", true), ("b", "B\n", false)]);
}

#[test]
fn env_and_label() {
    assert_eq!(
        one("ENV A=1 B=\"two words\" C=three\\ words D="),
        Kind::Env(vec![
            kv("A", "1"),
            kv("B", "\"two words\""),
            kv("C", "three\\ words"),
            kv("D", "")
        ])
    );
    assert_eq!(
        one("ENV PATH /usr/bin:$PATH x"),
        Kind::Env(vec![kv("PATH", "/usr/bin:$PATH x")])
    );
    assert_eq!(
        one("LABEL \"com.example.vendor\"=\"ACME\" version=1.0"),
        Kind::Label(vec![
            kv("\"com.example.vendor\"", "\"ACME\""),
            kv("version", "1.0")
        ])
    );
    assert_eq!(
        one("LABEL multi=\"a \\\n  b\""),
        Kind::Label(vec![kv("multi", "\"a   b\"")])
    );
}

#[test]
fn arg_expose_volume_and_the_rest() {
    assert_eq!(
        one("ARG A B=2 C=\"x y\""),
        Kind::Arg(vec![
            ArgDecl {
                name: "A".into(),
                default: None
            },
            ArgDecl {
                name: "B".into(),
                default: Some("2".into())
            },
            ArgDecl {
                name: "C".into(),
                default: Some("\"x y\"".into())
            },
        ])
    );
    assert_eq!(
        one("EXPOSE 80/tcp 53/udp $P"),
        Kind::Expose(vec!["80/tcp".into(), "53/udp".into(), "$P".into()])
    );
    assert_eq!(
        one("VOLUME [\"/a\", \"/b c\"]"),
        Kind::Volume(vec!["/a".into(), "/b c".into()])
    );
    assert_eq!(
        one("VOLUME /a /b"),
        Kind::Volume(vec!["/a".into(), "/b".into()])
    );
    assert_eq!(one("USER 1000:1000"), Kind::User("1000:1000".into()));
    assert_eq!(one("WORKDIR /a b"), Kind::Workdir("/a b".into()));
    assert_eq!(
        one("STOPSIGNAL SIGKILL"),
        Kind::StopSignal("SIGKILL".into())
    );
    assert_eq!(
        one("MAINTAINER A <a@b.c>"),
        Kind::Maintainer("A <a@b.c>".into())
    );
    assert_eq!(
        one("ONBUILD RUN make \\\n install"),
        Kind::Onbuild("RUN make  install".into())
    );
    assert_eq!(
        one("onbuild copy . /src"),
        Kind::Onbuild("copy . /src".into())
    );
}

#[test]
fn healthchecks() {
    assert_eq!(
        one("HEALTHCHECK NONE"),
        Kind::Healthcheck(Healthcheck::None)
    );
    assert_eq!(
        one(
            "HEALTHCHECK --interval=5s --timeout=3s --start-period=1m --start-interval=1s --retries=4 CMD curl -f http://x/ || exit 1"
        ),
        Kind::Healthcheck(Healthcheck::Check {
            command: Command::Shell("curl -f http://x/ || exit 1".into()),
            interval: Some("5s".into()),
            timeout: Some("3s".into()),
            start_period: Some("1m".into()),
            start_interval: Some("1s".into()),
            retries: Some(4),
        })
    );
    assert!(matches!(
        one("healthcheck cmd [\"true\"]"),
        Kind::Healthcheck(Healthcheck::Check { command: Command::Exec(c), retries: None, .. }) if c == ["true"]
    ));
}

#[test]
fn sources_for_step_lines() {
    let f = ok("FROM a\nCOPY <<EOF /x\nbody\nEOF\n");
    assert_eq!(f.stages[0].instructions[0].source, "COPY <<EOF /x");
}

#[test]
fn unknown_instructions_suggest_a_keyword() {
    assert_bad(
        "FROM a\n  RUUN x\n",
        2,
        3,
        "unknown instruction RUUN (did you mean RUN?)",
    );
    assert_bad("FROM a\nENTRYPIONT x\n", 2, 1, "(did you mean ENTRYPOINT?)");
    let (_, _, m) = bad("FROM a\nFOO bar\n");
    assert_eq!(m, "unknown instruction FOO");
    assert_bad(
        "FROM a\nONBUILD CPY . /\n",
        2,
        9,
        "unknown instruction CPY (did you mean COPY?)",
    );
}

#[test]
fn missing_arguments() {
    for (text, column, message) in [
        ("FROM a\nRUN\n", 1, "RUN needs a command"),
        ("FROM a\n  CMD  \n", 3, "CMD needs a command"),
        ("FROM a\nENV\n", 1, "ENV needs KEY=VALUE"),
        ("FROM a\nARG\n", 1, "ARG needs a name"),
        ("FROM a\nEXPOSE\n", 1, "EXPOSE needs a port"),
        ("FROM a\nUSER\n", 1, "USER needs a user"),
        (
            "FROM a\nCOPY x\n",
            1,
            "COPY needs a source and a destination",
        ),
        (
            "FROM a\nADD [\"x\"]\n",
            1,
            "ADD needs a source and a destination",
        ),
        ("FROM a\nHEALTHCHECK\n", 1, "HEALTHCHECK needs NONE or CMD"),
        ("FROM\n", 1, "FROM needs an image"),
    ] {
        assert_bad(text, 2.min(text.lines().count()), column, message);
    }
    assert_bad("FROM a\nENV A\n", 2, 5, "ENV A needs a value");
    assert_bad(
        "FROM a\nHEALTHCHECK CMD\n",
        2,
        13,
        "HEALTHCHECK CMD needs a command",
    );
    assert_bad("FROM a\nHEALTHCHECK NONE x\n", 2, 18, "takes no arguments");
    assert_bad(
        "FROM a\nHEALTHCHECK ls\n",
        2,
        13,
        "NONE or CMD command, not \"ls\"",
    );
    assert_bad(
        "FROM a\nCOPY a <<EOF\nx\nEOF\n",
        2,
        8,
        "destination after the here-document",
    );
}

#[test]
fn unknown_and_bad_flags() {
    assert_bad(
        "FROM a\nRUN --mount=x \\\n  --nope=1 true\n",
        3,
        3,
        "unknown flag --nope (RUN takes --mount, --network, --security)",
    );
    assert_bad(
        "FROM a\nCOPY --from=a --checksum=x a b\n",
        2,
        15,
        "unknown flag --checksum",
    );
    assert_bad("FROM a\nADD --from=a a b\n", 2, 5, "unknown flag --from");
    assert_bad(
        "FROM --plat=x a\n",
        1,
        6,
        "unknown flag --plat (FROM takes --platform)",
    );
    assert_bad("FROM a\nWORKDIR --x /\n", 2, 9, "WORKDIR takes no flags");
    assert_bad(
        "FROM a\nCOPY --from=a --from=b a b\n",
        2,
        15,
        "flag --from given twice",
    );
    assert_bad("FROM a\nCOPY --chown a b\n", 2, 6, "--chown needs a value");
    assert_bad("FROM a\nCOPY --link=yes a b\n", 2, 6, "true or false");
    assert_bad(
        "FROM a\nHEALTHCHECK --retries=x CMD true\n",
        2,
        13,
        "--retries=x is not a whole number",
    );
}

#[test]
fn bad_json() {
    assert_bad(
        "FROM a\nSHELL [\"/bin/sh\", -c]\n",
        2,
        19,
        "SHELL: bad JSON",
    );
    assert_bad("FROM a\nSHELL [\"a\" \"b\"]\n", 2, 12, "SHELL: bad JSON");
    assert_bad(
        "FROM a\nSHELL /bin/sh -c\n",
        2,
        7,
        "SHELL takes a JSON array",
    );
    assert_bad("FROM a\nSHELL []\n", 2, 7, "SHELL needs");
    assert_bad("FROM a\nVOLUME [\"\"]\n", 2, 8, "VOLUME: a path is empty");
}

#[test]
fn from_errors() {
    assert_bad("FROM a AS 1x\n", 1, 11, "invalid stage name \"1x\"");
    assert_bad("FROM a AS b/c\n", 1, 11, "invalid stage name");
    assert_bad(
        "FROM a b\n",
        1,
        8,
        "FROM takes an image and an optional AS name, not \"b\"",
    );
    assert_bad("FROM a AS b c\n", 1, 8, "not \"AS\"");
    assert_bad(
        "FROM a AS b\nFROM c AS B\n",
        2,
        11,
        "already used on line 1",
    );
}

#[test]
fn order_and_empty_files() {
    assert_bad(
        "ARG A\n\nRUN x\nFROM a\n",
        3,
        1,
        "RUN before the first FROM",
    );
    assert_bad("", 1, 1, "the file is empty");
    assert_bad("\u{feff}\n# only a comment\n\n", 1, 1, "the file is empty");
    assert_bad("ARG A\n", 1, 1, "no FROM instruction");
}

#[test]
fn heredoc_errors() {
    assert_bad(
        "FROM a\nRUN cat <<EOF\nx\n",
        2,
        9,
        "unterminated here-document \"EOF\" (started on line 2)",
    );
    assert_bad("FROM a\nCOPY <<one <<two /d\none\n", 2, 12, "\"two\"");
    // The terminator must be alone on its line (without <<-, tabs count).
    assert_bad(
        "FROM a\nRUN <<EOF\n\tEOF\n",
        2,
        5,
        "unterminated here-document",
    );
}

#[test]
fn onbuild_triggers() {
    assert_bad(
        "FROM a\nONBUILD ONBUILD RUN x\n",
        2,
        9,
        "ONBUILD ONBUILD is not allowed",
    );
    assert_bad(
        "FROM a\nONBUILD from b\n",
        2,
        9,
        "FROM is not allowed as an ONBUILD trigger",
    );
    assert_bad(
        "FROM a\nONBUILD MAINTAINER me\n",
        2,
        9,
        "MAINTAINER is not allowed",
    );
    assert_bad("FROM a\nONBUILD RUN --bad x\n", 2, 13, "unknown flag --bad");
    assert_bad("FROM a\nONBUILD\n", 2, 1, "ONBUILD needs an instruction");
}

#[test]
fn columns_count_characters_and_follow_continuations() {
    assert_bad(
        "FROM a\nRUN echo ä \\\n  é --x\nCPY\n",
        4,
        1,
        "unknown instruction CPY",
    );
    assert_bad(
        "FROM a\nLABEL ä=1 \\\n   é\n",
        3,
        4,
        "\"é\" is not KEY=VALUE",
    );
    assert_bad("FROM a\nENV =x\n", 2, 5, "a name is missing");
}

#[test]
fn errors_display_file_line_column() {
    let e = parse("FROM a\nNOPE\n", "dir/Containerfile").unwrap_err();
    assert_eq!(
        e.to_string(),
        "dir/Containerfile:2:1: unknown instruction NOPE"
    );
}

/// The seed files of the mutation test: one of each construct.
const SEEDS: &[&str] = &[
    "# syntax=docker/dockerfile:1\n# escape=`\nARG B=busybox\nFROM ${B:-x} AS one\nRUN echo a `\n  b\nCOPY <<EOF /x\ny\nEOF\n",
    "\u{feff}FROM a\r\nRUN --mount=type=cache,target=/c <<-'X' sh\r\n\tls\r\n\tX\r\nENV A=1 B=\"2 3\"\r\nLABEL k v\r\n",
    "FROM a AS b\nSHELL [\"/bin/sh\", \"-c\"]\nHEALTHCHECK --interval=1s CMD [\"true\"]\nONBUILD RUN x\nVOLUME [\"/v\"]\nEXPOSE 80\nUSER u\nWORKDIR /w\nSTOPSIGNAL 9\nMAINTAINER m\nCMD [\"a\"]\nENTRYPOINT b\nADD --checksum=sha256:0 u /d\nCOPY --from=b [\"a\", \"b\"]\n",
];

/// Truncations, byte flips and insertions of the seeds never panic the parser or the
/// expander (`fuzz/` does the same with coverage guidance, in CI).
#[test]
fn mangled_input_never_panics() {
    let lookup = |name: &str| name.len().is_multiple_of(2).then(|| name.to_string());
    let check = |bytes: &[u8]| {
        let text = String::from_utf8_lossy(bytes);
        let _ = parse(&text, "F");
        let _ = crate::build::expand::word(&text, &lookup);
        let _ = crate::build::expand::words(&text, '`', &lookup);
    };
    let specials = b"\\`\"'$<{}[]#=-:\n\r\t -+?%/*";
    let mut count = 0;
    for seed in SEEDS {
        let bytes = seed.as_bytes();
        for cut in 0..=bytes.len() {
            check(&bytes[..cut]);
            check(&bytes[cut..]);
            count += 2;
        }
        for i in 0..bytes.len() {
            for &b in specials.iter().chain(&[0u8, 0xff, 0xc3]) {
                let mut m = bytes.to_vec();
                m[i] = b;
                check(&m);
                m.insert(i, b);
                check(&m);
                count += 2;
            }
        }
    }
    assert!(count > 10_000, "{count} mutations");
}

#[test]
fn chmod_is_checked_where_it_is_written() {
    let (line, column, message) = bad("FROM a\nCOPY a /a\nCOPY --chmod=u+q a /b\n");
    assert_eq!((line, column), (3, 6), "{message}");
    assert!(message.contains("invalid --chmod \"u+q\""), "{message}");
    // Symbolic modes parse; a mode with a variable waits for its step.
    let Kind::Copy(c) = one("COPY --chmod=u+x,g-w,o=r a /b\n") else {
        panic!("not COPY")
    };
    assert_eq!(c.chmod.as_deref(), Some("u+x,g-w,o=r"));
    assert!(matches!(one("ADD --chmod=$MODE a /b\n"), Kind::Add(_)));
}
