//! Shell completion and man pages: the committed `completions/` and `man/` equal what the
//! binary generates now, and dynamic completion answers with the names in the store the
//! completed command line points at (asked the way the shells ask: `COMPLETE=fish coracle --
//! coracle WORDS...`, and once through bash's own completion function).

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::harness::images::busybox;
use crate::harness::tools::which;
use crate::harness::{Cmd, TestEnv, for_each_user, skip};

fn source_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn built() -> &'static str {
    env!("CARGO_BIN_EXE_coracle")
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

#[test]
fn committed_completion_scripts_are_current() {
    for (shell, file) in [
        ("bash", "completions/bash/coracle"),
        ("zsh", "completions/zsh/_coracle"),
        ("fish", "completions/fish/coracle.fish"),
    ] {
        let committed = read(&source_dir().join(file));
        let from_env = Cmd::new(built(), "self").env("COMPLETE", shell).stdout();
        let from_command = Cmd::new(built(), "self")
            .args(["completion", shell])
            .stdout();
        let fix = "regenerate it with `coracle completion SHELL > FILE`";
        assert_eq!(committed, from_env, "{file} is stale: {fix}");
        assert_eq!(
            committed, from_command,
            "{file} differs from `coracle completion {shell}`"
        );
        // Packaged scripts call `coracle` from $PATH, never the binary that wrote them.
        assert!(!committed.contains(built()), "{file} names {}", built());
    }
}

#[test]
fn committed_man_pages_are_current() {
    let fresh = tempfile::tempdir().expect("tempdir");
    Cmd::new(built(), "self")
        .arg("generate-man")
        .arg(fresh.path())
        .ok();
    let listing = |dir: &Path| -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    let man = source_dir().join("man");
    let fix = "regenerate with `rm -r man && coracle generate-man man`";
    assert_eq!(listing(&man), listing(fresh.path()), "man/ is stale: {fix}");
    for page in listing(&man) {
        assert_eq!(
            read(&man.join(&page)),
            read(&fresh.path().join(&page)),
            "man/{page} is stale: {fix}"
        );
    }
    for page in [
        "coracle.1",
        "coracle-images.1",
        "coracle-image-inspect.1",
        "coracle-rm.1",
    ] {
        assert!(man.join(page).is_file(), "no man/{page}");
    }
    // Hidden commands have no page; `completion` is listed, as in Podman.
    assert!(!man.join("coracle-generate-man.1").exists());
    assert!(!man.join("coracle-overlay-mount.1").exists());
    assert!(man.join("coracle-completion.1").is_file());
}

#[test]
fn man_renders_the_run_page() {
    let Some(man) = which("man") else {
        skip(
            "completion::man_renders_the_run_page",
            "self",
            "man is not installed (tests/run-all.sh installs man-db)",
        );
        return;
    };
    let page = source_dir().join("man/coracle-run.1");
    let out = Cmd::new(man, "self")
        .args(["-P", "cat", "-l"])
        .arg(&page)
        .env("MANWIDTH", "80")
        .stdout();
    for want in [
        "coracle-run - Run a command in a new container",
        "SYNOPSIS",
        "--rm",
        "DESCRIPTION",
        "daemon",
        "EXAMPLES",
        "coracle run --rm busybox echo hello",
    ] {
        assert!(
            out.contains(want),
            "no {want:?} in the rendered page:\n{out}"
        );
    }
}

/// The candidates `coracle` offers for the last of `words` (fish's protocol: one candidate
/// per line, a tab before its description).
fn complete(env: &TestEnv, words: &[&str]) -> Vec<String> {
    let out = env
        .coracle_bare()
        .env("COMPLETE", "fish")
        .args(["--", "coracle"])
        .args(words)
        .stdout();
    out.lines()
        .map(|l| l.split('\t').next().unwrap_or_default().to_string())
        .collect()
}

fn root_args(env: &TestEnv) -> Vec<String> {
    let s = |p: PathBuf| p.to_string_lossy().into_owned();
    vec![
        "--root".into(),
        s(env.root()),
        "--runroot".into(),
        s(env.runroot()),
    ]
}

/// `complete` on the test's store: `--root ... --runroot ...` before `words`.
pub(crate) fn complete_in_store(env: &TestEnv, words: &[&str]) -> Vec<String> {
    let args = root_args(env);
    let mut all: Vec<&str> = args.iter().map(String::as_str).collect();
    all.extend(words);
    complete(env, &all)
}

/// The candidates that are not flags (clap offers the flags too for an empty word).
fn names(got: Vec<String>) -> Vec<String> {
    got.into_iter().filter(|g| !g.starts_with('-')).collect()
}

fn has(got: &[String], want: &str) -> bool {
    got.iter().any(|g| g == want)
}

#[test]
fn names_complete_from_the_store() {
    for_each_user(|env| {
        env.load_image(busybox());
        env.ok(&["tag", "busybox", "extra:1"]);
        env.ok(&[
            "--storage-driver",
            "vfs",
            "run",
            "--name",
            "ctr1",
            "busybox",
            "true",
        ]);
        let id = busybox().short_id();

        // Image commands complete image names, full and short, and no containers.
        for cmd in [
            &["rmi"][..],
            &["tag"],
            &["untag"],
            &["save"],
            &["history"],
            &["diff"],
            &["run"],
            &["run", "--rm", "-e", "A=1"],
            &["image", "inspect"],
            &["image", "tree"],
            &["image", "rm"],
            &["rmi", "--force", "busybox"],
        ] {
            let mut words = cmd.to_vec();
            words.push("");
            let got = complete_in_store(env, &words);
            for want in [
                "docker.io/library/busybox:latest",
                "busybox:latest",
                "localhost/extra:1",
            ] {
                assert!(has(&got, want), "{cmd:?}: no {want} in {got:?}");
            }
            assert!(!has(&got, "ctr1"), "{cmd:?}: a container in {got:?}");
            // IDs only once something is typed.
            assert!(!has(&got, &id), "{cmd:?}: {got:?}");
        }
        let got = complete_in_store(env, &["rmi", "ex"]);
        assert_eq!(got, ["extra:1"], "rmi ex");
        let got = complete_in_store(env, &["history", &id[..3]]);
        assert!(has(&got, &id), "history {}: {got:?}", &id[..3]);

        // Container commands complete container names, and no images.
        for cmd in [
            &["rm"][..],
            &["container", "rm"],
            &["container", "inspect"],
            &["commit"],
        ] {
            let mut words = cmd.to_vec();
            // "ct": a container ID, all hex digits, cannot start with it.
            words.push("ct");
            let got = complete_in_store(env, &words);
            assert_eq!(got, ["ctr1"], "{cmd:?}");
        }
        // `inspect` takes both.
        let got = complete_in_store(env, &["inspect", ""]);
        assert!(
            has(&got, "ctr1") && has(&got, "busybox:latest"),
            "inspect: {got:?}"
        );

        // Subcommands for a prefix; hidden ones are not offered.
        let got = complete(env, &["co"]);
        assert!(
            has(&got, "commit") && has(&got, "container") && has(&got, "completion"),
            "co: {got:?}"
        );
        let got = complete(env, &["gen"]);
        assert!(has(&got, "generate"), "gen: {got:?}");
        assert!(!has(&got, "generate-man"), "gen: {got:?}");
        let got = complete(env, &["image", "t"]);
        assert_eq!(got, ["tree", "tag"], "image t");

        // Flags with fixed values offer them.
        let got = complete(env, &["run", "--restart", "un"]);
        assert_eq!(got, ["unless-stopped"], "run --restart un");
        let got = complete(env, &["run", "--health-on-failure", ""]);
        assert_eq!(
            got,
            ["none", "kill", "restart", "stop"],
            "--health-on-failure"
        );
        let got = complete(env, &["ps", "--filter", "restart"]);
        assert_eq!(got, ["restart-policy="], "ps --filter restart");
        let got = complete(env, &["stop", "--filter", "status=r"]);
        assert_eq!(got, ["status=running"], "stop --filter status=r");
        let got = complete(env, &["run", "--network", "n"]);
        assert_eq!(got, ["none"], "run --network n");

        // `--root=DIR` works too; a store that does not exist offers nothing and is not made.
        let root = format!("--root={}", env.root().display());
        assert!(has(&complete(env, &[&root, "rmi", "bu"]), "busybox:latest"));
        let missing = env.path("no-store");
        let flag = format!("--root={}", missing.display());
        assert_eq!(
            names(complete(env, &[&flag, "rmi", ""])),
            Vec::<String>::new()
        );
        assert!(
            !missing.exists(),
            "completion created {}",
            missing.display()
        );

        // A writer holding the store lock: the name index answers, at once, rather than a
        // wait (it was made in the runroot by the completions above).
        let before = names(complete_in_store(env, &["rmi", ""]));
        assert!(
            env.runroot().join("completion-names.json").is_file(),
            "no name index in the runroot"
        );
        let lock = File::open(env.root().join("storage.lock")).expect("opening storage.lock");
        lock.lock().expect("locking storage.lock");
        let start = Instant::now();
        assert_eq!(names(complete_in_store(env, &["rmi", ""])), before);
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "completion waited for the lock"
        );
        drop(lock);
        // The index follows the store: a new tag, a removed container.
        env.ok(&["tag", "busybox", "later:2"]);
        env.ok(&["rm", "ctr1"]);
        assert!(has(&complete_in_store(env, &["rmi", "la"]), "later:2"));
        assert_eq!(
            names(complete_in_store(env, &["rm", "ct"])),
            Vec::<String>::new()
        );
    });
}

/// Bash's own completion function from `completions/bash/coracle`, as TAB calls it.
#[test]
fn bash_completes_through_the_registered_function() {
    for_each_user(|env| {
        env.load_image(busybox());
        let bin_dir = crate::harness::users::binary()
            .parent()
            .expect("binary directory")
            .to_path_buf();
        // A copy the user can read wherever the source tree is.
        let script = env.write(
            "coracle.bash",
            read(&source_dir().join("completions/bash/coracle")),
        );
        let words = root_args(env).join(" ");
        // TAB on a line bash split into `line_words`, the last one `cur` after `prev`:
        // what the registered function puts in COMPREPLY.
        let tab = |line_words: &str, cur: &str, prev: &str| {
            let program = format!(
                r#"source {script}
complete -p coracle >/dev/null || exit 9
COMP_WORDS=(coracle {words} {line_words})
COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 ))
COMP_TYPE=9
_clap_complete_coracle coracle '{cur}' '{prev}'
printf '%s\n' "${{COMPREPLY[@]}}"
"#,
                script = script.display(),
            );
            env.run_as("/bin/bash", "bash")
                .args(["--norc", "-c", &program])
                .env(
                    "PATH",
                    format!("{}:/usr/sbin:/usr/bin:/sbin:/bin", bin_dir.display()),
                )
                .stdout()
        };
        assert_eq!(
            tab("rmi bu", "bu", "rmi").lines().collect::<Vec<_>>(),
            ["busybox:latest"],
            "bash completion of `rmi bu`"
        );

        // Words as bash splits them at `:` and `=` (COMP_WORDBREAKS): the completer sees
        // `busybox:la`, `busybox:` and `--format={{.Na` whole, and the replies are cut to
        // what bash replaces (the part after the last `:`/`=`).
        for (line_words, cur, prev, want) in [
            ("rmi busybox : la", "la", ":", "latest"),
            ("rmi busybox :", ":", "busybox", "latest"),
            (
                "images --format = {{.Repo",
                "{{.Repo",
                "=",
                "{{.Repository}}",
            ),
        ] {
            let out = tab(line_words, cur, prev);
            let got: Vec<&str> = out.lines().collect();
            assert!(
                got.contains(&want),
                "bash completion of `{line_words}`: {got:?}"
            );
        }
    });
}

/// The text of section `title` of a roff page: its text lines, without requests.
fn man_section(page: &str, title: &str) -> String {
    let mut out = Vec::new();
    let mut inside = false;
    for line in page.lines() {
        if let Some(heading) = line.strip_prefix(".SH ") {
            inside = heading.trim_matches('"') == title;
        } else if inside && !line.starts_with('.') {
            out.push(line.replace("\\-", "-"));
        }
    }
    out.join("\n")
}

/// Every visible command has a text source (`docs/commands/<page>.md`) and its generated
/// page a DESCRIPTION that says more than the one-line about, and an EXAMPLES section with
/// a `coracle ...` command line. A new command without text fails here, naming the file.
#[test]
fn every_command_has_a_page_with_description_and_examples() {
    use clap::CommandFactory as _;
    use coracle::cli::docs;

    let fresh = tempfile::tempdir().expect("tempdir");
    Cmd::new(built(), "self")
        .arg("generate-man")
        .arg(fresh.path())
        .ok();
    let mut root = coracle::cli::Cli::command().disable_help_subcommand(true);
    root.build();
    let mut commands = vec![&root];
    let mut missing = Vec::new();
    let mut problems = Vec::new();
    let mut checked = 0;
    let mut seen = Vec::new();
    while let Some(cmd) = commands.pop() {
        commands.extend(cmd.get_subcommands().filter(|s| !s.is_hide_set()));
        let name = cmd.get_display_name().unwrap_or_else(|| cmd.get_name());
        seen.push(name.to_owned());
        if docs::command(name).is_none() {
            missing.push(docs::source_path(name));
            continue;
        }
        let path = fresh.path().join(format!("{name}.1"));
        assert!(path.is_file(), "no page {name}.1 for a visible command");
        let page = read(&path);
        let about = cmd.get_about().map(|a| a.to_string()).unwrap_or_default();
        let description = man_section(&page, "DESCRIPTION");
        if description.len() <= about.len() + 40 {
            problems.push(format!("{name}: DESCRIPTION says no more than {about:?}"));
        }
        let examples = man_section(&page, "EXAMPLES");
        if !examples
            .lines()
            .any(|l| l.trim().trim_start_matches("$ ").starts_with("coracle "))
        {
            problems.push(format!("{name}: no `coracle ...` line under EXAMPLES"));
        }
        checked += 1;
    }
    missing.sort();
    assert!(
        missing.is_empty(),
        "commands without a text source; write (format: src/cli/docs.rs):\n{}",
        missing.join("\n")
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    // A text source for a command that is gone (renamed, hidden) is stale.
    for (name, _) in docs::COMMANDS {
        assert!(
            seen.iter().any(|s| s == name),
            "{} documents no visible command",
            docs::source_path(name)
        );
    }
    assert!(checked > 90, "only {checked} commands checked");

    // The files coracle reads have section-5 pages.
    for page in [
        "coracle-storage.conf.5",
        "coracle-registries.conf.5",
        "coracle-policy.json.5",
        "coracle-auth.json.5",
        "coracle-containers.conf.5",
    ] {
        let page = read(&fresh.path().join(page));
        assert!(man_section(&page, "DESCRIPTION").len() > 100, "{page}");
    }
}

/// Every generated page renders without a warning from groff (`-ww`: all of them).
#[test]
fn man_pages_render_without_warnings() {
    let Some(groff) = which("groff") else {
        skip(
            "completion::man_pages_render_without_warnings",
            "self",
            "groff is not installed (tests/run-all.sh installs man-db, which needs it)",
        );
        return;
    };
    let fresh = tempfile::tempdir().expect("tempdir");
    Cmd::new(built(), "self")
        .arg("generate-man")
        .arg(fresh.path())
        .ok();
    let mut pages: Vec<PathBuf> = fs::read_dir(fresh.path())
        .expect("reading the pages")
        .flatten()
        .map(|e| e.path())
        .collect();
    pages.sort();
    assert!(pages.len() > 90, "{} pages", pages.len());
    for page in pages {
        let out = std::process::Command::new(&groff)
            .args(["-man", "-Tutf8", "-k", "-ww", "-z"])
            .arg(&page)
            .output()
            .expect("running groff");
        let warnings = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && warnings.trim().is_empty(),
            "{}: {warnings}",
            page.display()
        );
    }
}

/// `--help` shows the long description and the examples of the text source; `-h` stays the
/// one-line summary.
#[test]
fn long_help_shows_description_and_examples() {
    let long = Cmd::new(built(), "self").args(["rm", "--help"]).stdout();
    for want in [
        "coracle rm removes containers",
        "Examples:",
        "$ coracle rm web",
    ] {
        assert!(long.contains(want), "no {want:?} in `rm --help`:\n{long}");
    }
    let short = Cmd::new(built(), "self").args(["rm", "-h"]).stdout();
    assert!(short.contains("Remove one or more containers"), "{short}");
    assert!(!short.contains("Examples:"), "`rm -h` is long:\n{short}");
    // `run` has `-h` for --hostname: only --help asks for help there.
    let run = Cmd::new(built(), "self").args(["run", "--help"]).stdout();
    assert!(
        run.contains("rootless by design") && run.contains("Examples:"),
        "{run}"
    );
    let nested = Cmd::new(built(), "self")
        .args(["container", "rm", "--help"])
        .stdout();
    assert!(
        nested.contains("coracle container rm is another name for coracle rm"),
        "{nested}"
    );
    let group = Cmd::new(built(), "self").args(["help", "volume"]).stdout();
    assert!(group.contains("named volumes"), "`help volume`:\n{group}");
}

/// Containers complete by what the command can act on: running ones for `stop`/`exec`/...,
/// created or exited ones for `start`, all for `rm`/`inspect`/`logs`; volumes for `volume
/// rm`/`inspect`; after grouped short flags (`exec -it`) too, and through bash's function.
#[test]
fn containers_complete_by_state_and_volumes_by_name() {
    for_each_user(|env| {
        env.load_image(busybox());
        env.ok(&[
            "--storage-driver",
            "vfs",
            "run",
            "-d",
            "--name",
            "up1",
            "busybox",
            "sleep",
            "1000",
        ]);
        env.ok(&[
            "--storage-driver",
            "vfs",
            "create",
            "--name",
            "new1",
            "busybox",
            "true",
        ]);
        env.ok(&["volume", "create", "vol1"]);
        let running = ["stop", "exec", "kill", "attach", "top", "pause"];
        for cmd in running {
            let got = names(complete_in_store(env, &[cmd, ""]));
            assert_eq!(got, ["up1"], "{cmd}");
        }
        assert_eq!(
            names(complete_in_store(env, &["exec", "-it", ""])),
            ["up1"],
            "exec -it"
        );
        assert_eq!(
            names(complete_in_store(env, &["container", "stop", "u"])),
            ["up1"]
        );
        assert_eq!(
            names(complete_in_store(env, &["start", ""])),
            ["new1"],
            "start"
        );
        assert_eq!(
            names(complete_in_store(env, &["container", "start", ""])),
            ["new1"]
        );
        for cmd in [
            "rm", "logs", "wait", "rename", "export", "commit", "inspect",
        ] {
            let mut got = names(complete_in_store(env, &[cmd, ""]));
            got.sort();
            assert!(
                got.contains(&"new1".to_string()) && got.contains(&"up1".to_string()),
                "{cmd}: {got:?}"
            );
        }
        for cmd in [&["volume", "rm"][..], &["volume", "inspect"]] {
            let mut words = cmd.to_vec();
            words.push("");
            assert_eq!(names(complete_in_store(env, &words)), ["vol1"], "{cmd:?}");
        }

        // Bash, as TAB calls the registered function, after `exec -it`.
        let bin_dir = crate::harness::users::binary()
            .parent()
            .expect("binary directory")
            .to_path_buf();
        let script = env.write(
            "coracle.bash",
            read(&source_dir().join("completions/bash/coracle")),
        );
        let words = root_args(env).join(" ");
        let program = format!(
            r#"source {script}
COMP_WORDS=(coracle {words} exec -it "")
COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 ))
COMP_TYPE=9
_clap_complete_coracle coracle "" -it
printf '%s\n' "${{COMPREPLY[@]}}"
"#,
            script = script.display(),
        );
        let out = env
            .run_as("/bin/bash", "bash")
            .args(["--norc", "-c", &program])
            .env(
                "PATH",
                format!("{}:/usr/sbin:/usr/bin:/sbin:/bin", bin_dir.display()),
            )
            .stdout();
        let got: Vec<&str> = out.lines().filter(|l| !l.starts_with('-')).collect();
        assert_eq!(got, ["up1"], "bash completion of `exec -it `");
        env.ok(&["rm", "-f", "up1"]);
    });
}

/// The dotted paths of `doc`'s fields, descending into objects except those whose keys are
/// data (labels, ports, ...), which a template indexes rather than names.
fn field_paths(doc: &serde_json::Value, prefix: &str, out: &mut Vec<String>) {
    const DATA_MAPS: &[&str] = &[
        "Labels",
        "Annotations",
        "Config.Labels",
        "Config.Annotations",
        "Config.Volumes",
        "Config.ExposedPorts",
        "GraphDriver.Data",
        "NetworkSettings.Ports",
        "HostConfig.PortBindings",
    ];
    let Some(map) = doc.as_object() else { return };
    for (k, v) in map {
        let path = format!("{prefix}{k}");
        if v.is_object() && !DATA_MAPS.contains(&path.as_str()) {
            field_paths(v, &format!("{path}."), out);
        } else {
            out.push(path);
        }
    }
}

/// Every field completion offers, one template that names them all.
fn all_fields_template(env: &TestEnv, cmd: &[&str]) -> String {
    let mut words = cmd.to_vec();
    words.extend(["--format", "{{."]);
    let got = complete_in_store(env, &words);
    assert!(got.len() > 10, "{cmd:?} {{{{.: {got:?}");
    got.iter()
        .map(|g| {
            assert!(g.starts_with("{{."), "{cmd:?}: {g}");
            g.trim_end_matches('.').trim_end_matches("}}").to_string() + "}}"
        })
        .collect::<Vec<_>>()
        .join("|")
}

/// `--format` completes the fields of the command's template, field by field (`{{.State.`
/// then `{{.State.Status}}`), after grouped short flags too; every field offered renders, and
/// the inspect documents have no field completion does not offer.
#[test]
fn format_templates_complete_their_fields() {
    use coracle::cli::complete_fields::{CONTAINER_INSPECT, IMAGE_INSPECT};
    for_each_user(|env| {
        env.load_image(busybox());
        env.ok(&[
            "--storage-driver",
            "vfs",
            "create",
            "--name",
            "ctr1",
            "busybox",
            "true",
        ]);
        assert_eq!(
            complete_in_store(env, &["ps", "--format", ""]),
            ["json", "{{."]
        );
        assert_eq!(
            complete_in_store(env, &["ps", "--format", "{{.Na"]),
            ["{{.Names}}"]
        );
        assert_eq!(
            complete_in_store(env, &["ps", "--format=table {{.ID}} {{.Sta"]),
            [
                "--format=table {{.ID}} {{.StartedAt}}",
                "--format=table {{.ID}} {{.State}}",
                "--format=table {{.ID}} {{.Status}}"
            ]
        );
        assert_eq!(
            complete_in_store(env, &["images", "--format", "{{.Rep"]),
            ["{{.RepoDigests}}", "{{.RepoTags}}", "{{.Repository}}"]
        );
        assert_eq!(
            complete_in_store(env, &["container", "inspect", "--format", "{{.Stat"]),
            ["{{.State.", "{{.StaticDir}}"]
        );
        // Grouped short flags: `-lf` is --latest then --format's value.
        assert_eq!(
            complete_in_store(env, &["container", "inspect", "-lf", "{{.State.Sta"]),
            ["{{.State.StartedAt}}", "{{.State.Status}}"]
        );
        assert_eq!(
            complete_in_store(env, &["image", "inspect", "-f", "{{.RootFS."]),
            ["{{.RootFS.Layers}}", "{{.RootFS.Type}}"]
        );
        // `inspect` takes either kind.
        let got = complete_in_store(env, &["inspect", "--format", "{{.Root"]);
        assert!(
            has(&got, "{{.Rootfs}}") && has(&got, "{{.RootFS."),
            "{got:?}"
        );

        // Every field offered renders.
        for (cmd, run) in [(&["ps"][..], &["ps", "-a"][..]), (&["images"], &["images"])] {
            let template = all_fields_template(env, cmd);
            let mut args = run.to_vec();
            args.extend(["--format", &template]);
            let out = env.ok(&args);
            assert!(!out.contains("<no value>"), "{run:?} {template}: {out}");
        }
        // (`State.Health` is there for containers with a health check only.)
        let nested = CONTAINER_INSPECT
            .iter()
            .filter(|f| **f != "State.Health")
            .map(|f| format!("{{{{.{f}}}}}"))
            .collect::<Vec<_>>()
            .join("|");
        env.ok(&["container", "inspect", "--format", &nested, "ctr1"]);

        // The inspect documents name no field the completion lacks.
        let doc = env
            .coracle()
            .args(["container", "inspect", "ctr1"])
            .ok()
            .json();
        let mut paths = Vec::new();
        field_paths(&doc[0], "", &mut paths);
        for p in &paths {
            assert!(
                CONTAINER_INSPECT.contains(&p.as_str()),
                "container inspect has {p}, completion does not offer it"
            );
        }
        let doc = env
            .coracle()
            .args(["image", "inspect", "busybox"])
            .ok()
            .json();
        let mut paths = Vec::new();
        field_paths(&doc[0], "", &mut paths);
        for p in &paths {
            assert!(
                IMAGE_INSPECT.contains(&p.as_str()),
                "image inspect has {p}, completion does not offer it"
            );
        }
        env.ok(&["rm", "ctr1"]);
    });
}

/// `-v`/`--volume`: volume names (with the `:` that follows) and host paths, then the
/// destination, then the options; after grouped short flags (`-itv`) and in `--volume=`.
#[test]
fn volume_flag_completes_sources_destinations_and_options() {
    for_each_user(|env| {
        env.ok(&["volume", "create", "vol1"]);
        for words in [
            &["run", "-v", "vo"][..],
            &["create", "--volume", "vo"],
            &["run", "-itv", "vo"],
        ] {
            assert_eq!(complete_in_store(env, words), ["vol1:"], "{words:?}");
        }
        assert_eq!(
            complete_in_store(env, &["run", "--volume=vo"]),
            ["--volume=vol1:"]
        );
        // Host paths for a source, no volume names once it is a path.
        let got = complete_in_store(env, &["run", "-v", "/us"]);
        assert_eq!(got, ["/usr/"], "-v /us");
        // The destination: absolute, then paths.
        assert_eq!(complete_in_store(env, &["run", "-v", "vol1:"]), ["vol1:/"]);
        let got = complete_in_store(env, &["run", "-v", "vol1:/et"]);
        assert_eq!(got, ["vol1:/etc/"], "-v vol1:/et");
        // Options, after a comma too.
        let got = complete_in_store(env, &["run", "-v", "vol1:/data:r"]);
        for want in ["vol1:/data:ro", "vol1:/data:rw", "vol1:/data:rbind"] {
            assert!(has(&got, want), "no {want} in {got:?}");
        }
        assert_eq!(
            complete_in_store(env, &["run", "-v", "/srv:/data:ro,nos"]),
            ["/srv:/data:ro,nosuid"]
        );
    });
}

/// The directory of the binary under test, for a shell's `PATH`.
fn bin_dir() -> PathBuf {
    crate::harness::users::binary()
        .parent()
        .expect("binary directory")
        .to_path_buf()
}

/// fish's own completion API (`complete -C`, what TAB asks) with the committed script:
/// a command name, a flag and a container name from the store.
#[test]
fn fish_completes_commands_flags_and_names() {
    let Some(fish) = which("fish") else {
        skip(
            "completion::fish_completes_commands_flags_and_names",
            "self",
            "fish is not installed (tests/run-all.sh installs it)",
        );
        return;
    };
    for_each_user(|env| {
        env.load_image(busybox());
        env.ok(&[
            "--storage-driver",
            "vfs",
            "create",
            "--name",
            "web1",
            "busybox",
            "true",
        ]);
        let script = env.write(
            "coracle.fish",
            read(&source_dir().join("completions/fish/coracle.fish")),
        );
        let words = root_args(env).join(" ");
        let program = format!(
            "source {script}\n\
             complete -C 'coracle st'\n echo ==\n\
             complete -C 'coracle run --hostn'\n echo ==\n\
             complete -C 'coracle {words} start we'\n",
            script = script.display(),
        );
        let out = env
            .run_as(&fish, "fish")
            .args(["--no-config", "-c", &program])
            .env(
                "PATH",
                format!("{}:/usr/sbin:/usr/bin:/sbin:/bin", bin_dir().display()),
            )
            .stdout();
        let parts: Vec<Vec<&str>> = out
            .split("==\n")
            .map(|p| {
                p.lines()
                    .map(|l| l.split('\t').next().unwrap_or_default())
                    .collect()
            })
            .collect();
        assert_eq!(parts.len(), 3, "{out}");
        assert!(
            parts[0].contains(&"start") && parts[0].contains(&"stop"),
            "{out}"
        );
        assert_eq!(parts[1], ["--hostname"], "{out}");
        assert_eq!(parts[2], ["web1"], "{out}");
    });
}

/// zsh, as a person presses TAB: an interactive zsh on a pseudo-terminal (zsh/zpty) with
/// compinit and the script `coracle completion zsh` prints installed as `_coracle` in
/// `fpath` (where packages put it); after each TAB a key bound to a widget writes the edit
/// buffer to a file. A command name, a flag, a container name and a `--format` field (in
/// quotes, as zsh users write templates) complete in place.
#[test]
fn zsh_completes_on_tab() {
    let Some(zsh) = which("zsh") else {
        skip(
            "completion::zsh_completes_on_tab",
            "self",
            "zsh is not installed (tests/run-all.sh installs it)",
        );
        return;
    };
    for_each_user(|env| {
        env.load_image(busybox());
        env.ok(&[
            "--storage-driver",
            "vfs",
            "create",
            "--name",
            "web1",
            "busybox",
            "true",
        ]);
        let fpath = env.mkdir("zfunc");
        let script = Cmd::new(built(), "self")
            .args(["completion", "zsh"])
            .stdout();
        env.write("zfunc/_coracle", script);
        let out = env.path("buffers");
        let driver = env.write(
            "drive.zsh",
            format!(
                r#"zmodload zsh/zpty
out={out}
zpty z zsh -f -i
zpty -w z "PS1='> '; fpath=({fpath} \$fpath); autoload -U compinit; compinit -u -D"
zpty -w z 'dump() {{ print -r -- "[$BUFFER]" >> {out}; BUFFER= }}; zle -N dump; bindkey "^T" dump'
# zle reads keys once an empty buffer comes back
zpty -w -n z $'\C-t'
n=1
for i in {{1..300}}; do [[ -f $out ]] && break; sleep 0.1; done
for line in "$@"; do
  n=$((n+1))
  zpty -w -n z "$line"$'\t'
  zpty -w -n z $'\C-t'
  for i in {{1..300}}; do
    [[ -f $out && $(wc -l < $out) -ge $n ]] && break
    sleep 0.1
  done
done
zpty -d z
"#,
                out = out.display(),
                fpath = fpath.display(),
            ),
        );
        let words = root_args(env).join(" ");
        env.run_as(&zsh, "zsh")
            .arg("-f")
            .arg(&driver)
            .args([
                "coracle star".to_string(),
                "coracle run --hostn".to_string(),
                format!("coracle {words} start we"),
                format!("coracle {words} ps --format \"{{{{.Nam"),
            ])
            .env(
                "PATH",
                format!("{}:/usr/sbin:/usr/bin:/sbin:/bin", bin_dir().display()),
            )
            .ok();
        let got = read(&out);
        let lines: Vec<&str> = got.lines().collect();
        assert_eq!(
            lines,
            [
                "[]".to_string(),
                "[coracle start ]".to_string(),
                "[coracle run --hostname ]".to_string(),
                format!("[coracle {words} start web1 ]"),
                format!("[coracle {words} ps --format \"{{{{.Names}}}}\" ]"),
            ],
            "zsh buffers after TAB"
        );
    });
}
