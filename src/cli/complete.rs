//! Dynamic shell completion of image and container names (`ArgValueCompleter`s on the
//! positional arguments that name them).
//!
//! The shell runs `COMPLETE=<shell> coracle -- coracle <words...>` on every TAB (see
//! `clap_complete::env`), so this code runs inside a prompt: it must be quick and must never
//! block or change anything in the store. Image and container names come from a small name
//! index in the runroot (src/cli/complete_index.rs), checked against the store on each use;
//! volumes from their records under a shared store lock taken without waiting. It never
//! creates the store or its lock file, and answers nothing when anything is missing.
//!
//! clap gives a completer only the word being completed, not the arguments before it; the
//! store's `--root`, `--runroot` and `--storage-driver` are therefore read from the process's
//! own argument list, which holds the command line being completed after the first `--`.

use std::collections::BTreeSet;
use std::ffi::{OsStr, OsString};
use std::path::PathBuf;

use clap_complete::engine::CompletionCandidate;

use super::complete_index::{ImageEntry, NameIndex};
use crate::paths::Overrides;
use crate::store::containers::State;
use crate::store::lock::StoreLock;

/// Image names (full and short) and, once something is typed, image IDs; manifest lists
/// too, which Podman keeps as images and `rmi`, `tag` and `images` accept.
pub fn images(current: &OsStr) -> Vec<CompletionCandidate> {
    let Some(current) = current.to_str() else {
        return Vec::new();
    };
    with_index(|index| candidates(index.images.iter(), current))
}

/// Manifest list names (full and short) and, once something is typed, list IDs.
pub fn lists(current: &OsStr) -> Vec<CompletionCandidate> {
    let Some(current) = current.to_str() else {
        return Vec::new();
    };
    with_index(|index| candidates(index.images.iter().filter(|i| i.list), current))
}

/// Container names and, once something is typed, container IDs: only those the command
/// being completed can act on (running ones for `stop`, `exec`, ...; created or exited ones
/// for `start`; all for the rest, see [`wanted_state`]).
pub fn containers(current: &OsStr) -> Vec<CompletionCandidate> {
    let Some(current) = current.to_str() else {
        return Vec::new();
    };
    let wanted = wanted_state(&completed_words(std::env::args_os()));
    with_index(|index| {
        let mut out = Vec::new();
        let mut seen = BTreeSet::new();
        for c in &index.containers {
            let state = c.state();
            let running = state == State::Running;
            match wanted {
                Wanted::Running if !running => continue,
                Wanted::Stopped if running => continue,
                _ => {}
            }
            let state = match state {
                State::Created => "created",
                State::Running => "running",
                State::Exited => "exited",
            };
            let help = format!("{state} container of {}", c.image);
            let ids = (!current.is_empty()).then(|| c.id[..12.min(c.id.len())].to_string());
            for value in c.names.iter().cloned().chain(ids) {
                if value.starts_with(current) && seen.insert(value.clone()) {
                    out.push(CompletionCandidate::new(value).help(Some(help.clone().into())));
                }
            }
        }
        out
    })
}

/// Which containers a command can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wanted {
    All,
    Running,
    Stopped,
}

/// The containers the completed command (its words, without the binary) acts on.
pub fn wanted_state(words: &[String]) -> Wanted {
    let mut commands = Vec::new();
    let mut i = 0;
    while i < words.len() && commands.len() < 2 {
        let w = words[i].as_str();
        if matches!(
            w,
            "--root" | "--runroot" | "--storage-driver" | "--log-level"
        ) {
            i += 1;
        } else if !w.starts_with('-') {
            commands.push(w);
            if w != "container" {
                break;
            }
        }
        i += 1;
    }
    match commands.last().copied() {
        Some("stop" | "exec" | "kill" | "attach" | "top" | "pause" | "unpause") => Wanted::Running,
        Some("start") => Wanted::Stopped,
        _ => Wanted::All,
    }
}

/// Volume names.
pub fn volumes(current: &OsStr) -> Vec<CompletionCandidate> {
    let Some(current) = current.to_str() else {
        return Vec::new();
    };
    with_store(|root| {
        let vols = crate::store::volumes::Volumes::new(root.join("volumes"))
            .list()
            .ok()?;
        Some(
            vols.into_iter()
                .filter(|v| v.name.starts_with(current))
                .map(|v| {
                    CompletionCandidate::new(v.name.clone())
                        .help(Some(format!("volume ({})", v.driver).into()))
                })
                .collect(),
        )
    })
}

/// The words of the command line being completed, after `coracle -- coracle`.
fn completed_words(args: impl IntoIterator<Item = OsString>) -> Vec<String> {
    args.into_iter()
        .skip_while(|a| a != "--")
        .skip(2)
        .map(|a| a.to_string_lossy().into_owned())
        .collect()
}

/// What `inspect` accepts: containers first, then images (Podman's order).
pub fn containers_and_images(current: &OsStr) -> Vec<CompletionCandidate> {
    let mut out = containers(current);
    out.extend(images(current));
    out
}

/// The candidates for `current` among `images`: every stored name, its short form
/// (`busybox:latest` for `docker.io/library/busybox:latest` or `localhost/busybox:latest`,
/// both of which the lookup resolves), and short IDs when `current` is not empty.
fn candidates<'a>(
    images: impl Iterator<Item = &'a ImageEntry>,
    current: &str,
) -> Vec<CompletionCandidate> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    let mut sorted: Vec<&ImageEntry> = images.collect();
    sorted.sort_by_key(|i| std::cmp::Reverse(i.added));
    for img in sorted {
        let kind = if img.list { "manifest list" } else { "image" };
        let id = &img.id;
        let mut values = Vec::new();
        for name in &img.names {
            values.push(name.clone());
            if let Some(short) = ["docker.io/library/", "localhost/"]
                .iter()
                .find_map(|p| name.strip_prefix(p))
            {
                values.push(short.to_string());
            }
        }
        if !current.is_empty() {
            values.push(id.clone());
        }
        for value in values {
            if value.starts_with(current) && seen.insert(value.clone()) {
                out.push(CompletionCandidate::new(value).help(Some(format!("{kind} {id}").into())));
            }
        }
    }
    out
}

/// Runs `answer` on the store's name index (see [`super::complete_index`]); no candidates
/// when there is no store.
fn with_index(
    answer: impl FnOnce(&NameIndex) -> Vec<CompletionCandidate>,
) -> Vec<CompletionCandidate> {
    let flags = store_flags(std::env::args_os());
    let Ok(paths) = (crate::cmd::Context { flags }).paths() else {
        return Vec::new();
    };
    match super::complete_index::load(&paths.graphroot, &paths.runroot) {
        Some(index) => answer(&index),
        None => Vec::new(),
    }
}

/// Runs `read` with the store's graph root under a shared lock taken without waiting; no
/// candidates when there is no store, the lock is busy or `read` fails.
fn with_store(
    read: impl FnOnce(&std::path::Path) -> Option<Vec<CompletionCandidate>>,
) -> Vec<CompletionCandidate> {
    let flags = store_flags(std::env::args_os());
    let Ok(paths) = (crate::cmd::Context { flags }).paths() else {
        return Vec::new();
    };
    let root = paths.graphroot;
    let Some(_lock) = StoreLock::try_shared_existing(&root.join("storage.lock")) else {
        return Vec::new();
    };
    read(&root).unwrap_or_default()
}

/// `--root`, `--runroot` and `--storage-driver` from the command line being completed: the
/// words after the first `--` of `coracle -- coracle WORDS...`, up to a later `--`.
pub fn store_flags(args: impl IntoIterator<Item = OsString>) -> Overrides {
    let words: Vec<String> = args
        .into_iter()
        .skip_while(|a| a != "--")
        .skip(2)
        .take_while(|a| a != "--")
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let mut flags = Overrides::default();
    let mut i = 0;
    while i < words.len() {
        let (name, value) = match words[i].split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (words[i].as_str(), None),
        };
        let slot = match name {
            "--root" => Some(0),
            "--runroot" => Some(1),
            "--storage-driver" => Some(2),
            _ => None,
        };
        if let Some(slot) = slot {
            let value = match value {
                Some(v) => Some(v),
                None => {
                    i += 1;
                    words.get(i).cloned()
                }
            };
            if let Some(v) = value.filter(|v| !v.is_empty()) {
                match slot {
                    0 => flags.root = Some(expand_tilde(&v)),
                    1 => flags.runroot = Some(expand_tilde(&v)),
                    _ => flags.driver = Some(v),
                }
            }
        }
        i += 1;
    }
    flags
}

/// The shell passes words as typed, so `~/x` has not been expanded yet.
fn expand_tilde(word: &str) -> PathBuf {
    match (word.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => PathBuf::from(word),
    }
}

/// Fixed words for a flag's value, each offered while it starts with what is typed (the
/// shells filter, but bash's `compgen` is not run on these).
fn words(current: &OsStr, list: &[&'static str]) -> Vec<CompletionCandidate> {
    let current = current.to_str().unwrap_or("");
    list.iter()
        .filter(|w| w.starts_with(current))
        .map(|w| CompletionCandidate::new(*w))
        .collect()
}

/// `--restart`'s policies.
pub fn restart_policies(current: &OsStr) -> Vec<CompletionCandidate> {
    words(current, &["no", "on-failure", "always", "unless-stopped"])
}

/// `--network`'s modes for a container.
pub fn network_modes(current: &OsStr) -> Vec<CompletionCandidate> {
    words(
        current,
        &["private", "pasta", "slirp4netns", "none", "host"],
    )
}

/// `--health-on-failure`'s actions.
pub fn health_actions(current: &OsStr) -> Vec<CompletionCandidate> {
    words(current, &["none", "kill", "restart", "stop"])
}

/// `ps --filter`, `start --filter`, `stop --filter`: the keys, then a key's fixed values.
pub fn container_filters(current: &OsStr) -> Vec<CompletionCandidate> {
    let typed = current.to_str().unwrap_or("");
    let values: &[&str] = match typed.split_once('=') {
        None => {
            return words(
                current,
                &[
                    "id=",
                    "name=",
                    "status=",
                    "ancestor=",
                    "exited=",
                    "health=",
                    "label=",
                    "restart-policy=",
                ],
            );
        }
        Some(("status", _)) => &["status=created", "status=running", "status=exited"],
        Some(("health", _)) => &[
            "health=healthy",
            "health=unhealthy",
            "health=starting",
            "health=none",
        ],
        Some(("restart-policy", _)) => &[
            "restart-policy=no",
            "restart-policy=always",
            "restart-policy=on-failure",
            "restart-policy=unless-stopped",
        ],
        Some(_) => &[],
    };
    words(current, values)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<OsString> {
        s.split(' ').map(OsString::from).collect()
    }

    #[test]
    fn store_flags_come_from_the_completed_line() {
        let f = store_flags(args("coracle -- coracle --root /r rmi --runroot=/rr bu"));
        assert_eq!(f.root, Some(PathBuf::from("/r")));
        assert_eq!(f.runroot, Some(PathBuf::from("/rr")));
        assert_eq!(f.driver, None);
        // The binary's own name is skipped, a later `--` ends the options.
        let f = store_flags(args("coracle -- --root -- --root /x"));
        assert_eq!(f.root, None);
        // A flag still being typed has no value.
        let f = store_flags(args("coracle -- coracle --root"));
        assert_eq!(f.root, None);
        // Not a completion request.
        assert_eq!(store_flags(args("coracle --root /r images")).root, None);
    }

    #[test]
    fn the_command_decides_which_containers() {
        let w = |s: &str| completed_words(args(s));
        assert_eq!(
            wanted_state(&w("coracle -- coracle stop ")),
            Wanted::Running
        );
        assert_eq!(
            wanted_state(&w("coracle -- coracle --root stop container exec -it x")),
            Wanted::Running
        );
        assert_eq!(
            wanted_state(&w("coracle -- coracle container start c")),
            Wanted::Stopped
        );
        assert_eq!(wanted_state(&w("coracle -- coracle rm -f ")), Wanted::All);
        assert_eq!(wanted_state(&w("coracle -- coracle logs")), Wanted::All);
    }
}
