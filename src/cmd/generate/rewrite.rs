//! The container's create command line (`CreateCommand`) turned into the `run` a `--new`
//! unit starts: the flags that would fight the unit (`-d`, `--rm`, `--replace`,
//! `--sdnotify`, `--cidfile`, `--restart`: systemd restarts the unit) taken out, the image
//! and its command kept word for word.
//!
//! Which flags take a value comes from clap's own definition of `run`, so a flag's value
//! (`--name d`) is never mistaken for a flag, nor the container's command for `run`'s.

use clap::CommandFactory as _;

use crate::cli::Cli;

/// The create command split into the global flags before the subcommand and `run`'s flags
/// before the image, without the dropped ones, and the image with its command.
#[derive(Debug, PartialEq, Eq)]
pub struct CreateLine {
    pub globals: Vec<String>,
    pub run_flags: Vec<String>,
    pub image_and_command: Vec<String>,
}

/// `run`'s flags that a `--new` unit sets itself.
const DROPPED: &[&str] = &["detach", "rm", "replace", "sdnotify", "cidfile", "restart"];

/// Splits `argv` (`coracle [GLOBALS] run|create [FLAGS] IMAGE [COMMAND...]`).
pub fn split(argv: &[String]) -> anyhow::Result<CreateLine> {
    let tail = command_len(argv)? + 1;
    if argv.len() < tail + 2 {
        anyhow::bail!("the container's create command {argv:?} cannot be read back");
    }
    let split_at = argv.len() - tail;
    let before = &argv[1..split_at];
    let cmd = Cli::command();
    let (globals, sub_at) = globals(&cmd, before)?;
    let run = cmd
        .find_subcommand("run")
        .ok_or_else(|| anyhow::anyhow!("no run command"))?;
    let mut run_flags = Vec::new();
    let mut words = before[sub_at + 1..].iter();
    while let Some(w) = words.next() {
        if w == "--" {
            continue;
        }
        if let Some(long) = w.strip_prefix("--") {
            let (name, inline) = match long.split_once('=') {
                Some((n, _)) => (n, true),
                None => (long, false),
            };
            let arg = run.get_arguments().find(|a| {
                a.get_long() == Some(name)
                    || a.get_all_aliases().is_some_and(|al| al.contains(&name))
            });
            let takes = arg.is_some_and(|a| a.get_action().takes_values());
            let drop = arg.is_some_and(|a| DROPPED.contains(&a.get_id().as_str()));
            let mut group = vec![w.clone()];
            if takes && !inline {
                let optional = arg
                    .and_then(|a| a.get_num_args())
                    .is_some_and(|n| n.min_values() == 0);
                if let Some(v) = words.as_slice().first()
                    && !(optional && v.starts_with('-'))
                {
                    group.push(v.clone());
                    words.next();
                }
            }
            if !drop {
                run_flags.extend(group);
            }
        } else if let Some(shorts) = w.strip_prefix('-').filter(|s| !s.is_empty()) {
            let mut kept = String::new();
            let mut value: Option<String> = None;
            let mut drop_value = false;
            for (i, c) in shorts.char_indices() {
                let arg = run.get_arguments().find(|a| a.get_short() == Some(c));
                let drop = arg.is_some_and(|a| DROPPED.contains(&a.get_id().as_str()));
                if arg.is_some_and(|a| a.get_action().takes_values()) {
                    let rest = &shorts[i + c.len_utf8()..];
                    if drop {
                        drop_value = true;
                    } else {
                        kept.push(c);
                        kept.push_str(rest);
                    }
                    if rest.is_empty() {
                        value = words.next().cloned();
                    }
                    break;
                }
                if !drop {
                    kept.push(c);
                }
            }
            if !kept.is_empty() {
                run_flags.push(format!("-{kept}"));
            }
            if let Some(v) = value
                && !drop_value
            {
                run_flags.push(v);
            }
        } else {
            run_flags.push(w.clone());
        }
    }
    Ok(CreateLine {
        globals,
        run_flags,
        image_and_command: argv[split_at..].to_vec(),
    })
}

/// The global flags before the subcommand, and the subcommand's index in `before`.
fn globals(cmd: &clap::Command, before: &[String]) -> anyhow::Result<(Vec<String>, usize)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < before.len() {
        let w = &before[i];
        if w == "run" || w == "create" {
            return Ok((out, i));
        }
        out.push(w.clone());
        let name = w.strip_prefix("--").unwrap_or(w);
        if !name.contains('=')
            && cmd
                .get_arguments()
                .any(|a| a.get_long() == Some(name) && a.get_action().takes_values())
        {
            i += 1;
            if let Some(v) = before.get(i) {
                out.push(v.clone());
            }
        }
        i += 1;
    }
    anyhow::bail!("the container's create command {before:?} has no run or create")
}

/// How many words at the end of `argv` are the container's command (clap's reading).
fn command_len(argv: &[String]) -> anyhow::Result<usize> {
    use clap::Parser as _;
    let cli = Cli::try_parse_from(argv).map_err(|e| {
        anyhow::anyhow!("the container's create command cannot be parsed again: {e}")
    })?;
    match cli.command {
        Some(crate::cli::Command::Run(a)) | Some(crate::cli::Command::Create(a)) => {
            Ok(a.command().len())
        }
        _ => anyhow::bail!("the container's create command {argv:?} is not run or create"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split(' ').map(String::from).collect()
    }

    #[test]
    fn unit_flags_are_dropped_and_the_command_kept() {
        let line = split(&words(
            "coracle --root /r run -dit --rm --name web -e=-d --cidfile=/x --sdnotify conmon -l a=b busybox sh -c -d",
        ))
        .unwrap();
        assert_eq!(line.globals, ["--root", "/r"]);
        assert_eq!(line.run_flags, words("-it --name web -e=-d -l a=b"));
        assert_eq!(line.image_and_command, words("busybox sh -c -d"));
        let line = split(&words("coracle create --replace -e A=1 busybox")).unwrap();
        assert!(line.globals.is_empty());
        assert_eq!(line.run_flags, words("-e A=1"));
        assert_eq!(line.image_and_command, ["busybox"]);
    }
}
