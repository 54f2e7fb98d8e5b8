//! Completion of `--format` Go templates (the fields each command's template sees) and of
//! `-v`/`--volume` (volume names or host paths, then container paths, then options).
//!
//! Candidates are whole words, as Podman's completion gives them: `{{.` for an empty word,
//! `{{.Names}}` for a field, `{{.State.` for a field with fields of its own. The field lists
//! are the keys of the values the commands render (`template_row` in src/cmd/ps.rs and
//! src/cmd/images.rs, the inspect documents); tests/it/completion.rs checks them against the
//! real output, so a field added there without being added here fails a test.

use std::ffi::OsStr;

use clap_complete::engine::{CompletionCandidate, PathCompleter, ValueCompleter as _};

/// `ps --format`: the keys of ps's `template_row`.
pub const PS: &[&str] = &[
    "AutoRemove",
    "Command",
    "Created",
    "CreatedAt",
    "CreatedHuman",
    "ExitCode",
    "Exited",
    "ExitedAt",
    "ID",
    "Id",
    "Image",
    "ImageID",
    "IsInfra",
    "Labels",
    "Mounts",
    "Names",
    "Networks",
    "Pid",
    "Pod",
    "PodName",
    "Ports",
    "Restarts",
    "RunningFor",
    "Size",
    "StartedAt",
    "State",
    "Status",
];

/// `images --format`: the keys of images' `template_row`.
pub const IMAGES: &[&str] = &[
    "Containers",
    "Created",
    "CreatedAt",
    "CreatedSince",
    "CreatedTime",
    "Dangling",
    "Digest",
    "History",
    "ID",
    "Id",
    "Labels",
    "Names",
    "ParentId",
    "ReadOnly",
    "RepoDigests",
    "RepoTags",
    "Repository",
    "SharedSize",
    "Size",
    "Tag",
    "VirtualSize",
];

/// `container inspect --format`: the paths of the inspect document's fields. Maps whose
/// keys are data (labels, annotations, ports, driver data) are leaves.
pub const CONTAINER_INSPECT: &[&str] = &[
    "AppArmorProfile",
    "Args",
    "Config.Annotations",
    "Config.AttachStderr",
    "Config.AttachStdin",
    "Config.AttachStdout",
    "Config.Cmd",
    "Config.Domainname",
    "Config.Entrypoint",
    "Config.Env",
    "Config.Hostname",
    "Config.Image",
    "Config.Labels",
    "Config.OnBuild",
    "Config.OpenStdin",
    "Config.StdinOnce",
    "Config.StopSignal",
    "Config.Tty",
    "Config.User",
    "Config.Volumes",
    "Config.WorkingDir",
    "Created",
    "Dependencies",
    "Driver",
    "ExecIDs",
    "GraphDriver.Data",
    "GraphDriver.Name",
    "HostConfig.AutoRemove",
    "HostConfig.NetworkMode",
    "HostConfig.PortBindings",
    "HostnamePath",
    "HostsPath",
    "Id",
    "Image",
    "ImageDigest",
    "ImageName",
    "IsInfra",
    "IsService",
    "MountLabel",
    "Mounts",
    "Name",
    "Namespace",
    "NetworkSettings.Bridge",
    "NetworkSettings.EndpointID",
    "NetworkSettings.Gateway",
    "NetworkSettings.GlobalIPv6Address",
    "NetworkSettings.GlobalIPv6PrefixLen",
    "NetworkSettings.HairpinMode",
    "NetworkSettings.IPAddress",
    "NetworkSettings.IPPrefixLen",
    "NetworkSettings.IPv6Gateway",
    "NetworkSettings.LinkLocalIPv6Address",
    "NetworkSettings.LinkLocalIPv6PrefixLen",
    "NetworkSettings.MacAddress",
    "NetworkSettings.Ports",
    "NetworkSettings.SandboxID",
    "NetworkSettings.SandboxKey",
    "OCIRuntime",
    "Path",
    "Pod",
    "ProcessLabel",
    "ResolvConfPath",
    "RestartCount",
    "Rootfs",
    "State.ConmonPid",
    "State.Dead",
    "State.Error",
    "State.ExitCode",
    "State.FinishedAt",
    "State.Health",
    "State.OOMKilled",
    "State.OciVersion",
    "State.Paused",
    "State.Pid",
    "State.Restarting",
    "State.Running",
    "State.StartedAt",
    "State.Status",
    "StaticDir",
];

/// `image inspect --format`: the inspect document's fields; `Config` holds the image
/// config's fields (those the image sets).
pub const IMAGE_INSPECT: &[&str] = &[
    "Annotations",
    "Architecture",
    "Author",
    "Comment",
    "Config.ArgsEscaped",
    "Config.Cmd",
    "Config.Entrypoint",
    "Config.Env",
    "Config.ExposedPorts",
    "Config.Healthcheck",
    "Config.Labels",
    "Config.OnBuild",
    "Config.Shell",
    "Config.StopSignal",
    "Config.User",
    "Config.Volumes",
    "Config.WorkingDir",
    "Created",
    "Digest",
    "GraphDriver.Data",
    "GraphDriver.Name",
    "HealthCheck",
    "History",
    "Id",
    "Labels",
    "ManifestType",
    "NamesHistory",
    "Os",
    "Parent",
    "RepoDigests",
    "RepoTags",
    "RootFS.Layers",
    "RootFS.Type",
    "Size",
    "User",
    "Version",
    "VirtualSize",
];

pub fn ps_format(current: &OsStr) -> Vec<CompletionCandidate> {
    format(current, &[PS])
}

pub fn images_format(current: &OsStr) -> Vec<CompletionCandidate> {
    format(current, &[IMAGES])
}

pub fn container_inspect_format(current: &OsStr) -> Vec<CompletionCandidate> {
    format(current, &[CONTAINER_INSPECT])
}

pub fn image_inspect_format(current: &OsStr) -> Vec<CompletionCandidate> {
    format(current, &[IMAGE_INSPECT])
}

/// `inspect --format`: a container's fields or an image's, whichever the name turns out to be.
pub fn inspect_format(current: &OsStr) -> Vec<CompletionCandidate> {
    format(current, &[CONTAINER_INSPECT, IMAGE_INSPECT])
}

fn format(current: &OsStr, tables: &[&[&str]]) -> Vec<CompletionCandidate> {
    let Some(current) = current.to_str() else {
        return Vec::new();
    };
    template_candidates(current, tables)
        .into_iter()
        .map(CompletionCandidate::new)
        .collect()
}

/// The completions of `current`, a partly typed template, from the field paths of `tables`.
pub fn template_candidates(current: &str, tables: &[&[&str]]) -> Vec<String> {
    let Some(open) = current.rfind("{{") else {
        // Nothing of a template yet: JSON or the start of one.
        return ["json", "{{."]
            .into_iter()
            .filter(|c| c.starts_with(current))
            .map(String::from)
            .collect();
    };
    let action = &current[open + 2..];
    if action.contains("}}") {
        return Vec::new();
    }
    // The field chain being typed is the action's last word (`{{json .Config.` too).
    let word = action.rsplit([' ', '(', '|']).next().unwrap_or_default();
    let Some(chain) = word.strip_prefix('.') else {
        return Vec::new();
    };
    let (parents, partial) = match chain.rsplit_once('.') {
        Some((p, last)) => (Some(p), last),
        None => (None, chain),
    };
    let base = &current[..current.len() - partial.len()];
    // A word inside a longer action (`{{json .Config`) is not closed by the completion.
    let closes = action.trim_start() == word;
    let mut out: Vec<String> = Vec::new();
    for path in tables.iter().flat_map(|t| t.iter()) {
        let rest = match parents {
            Some(p) => match path.strip_prefix(p).and_then(|r| r.strip_prefix('.')) {
                Some(r) => r,
                None => continue,
            },
            None => path,
        };
        let (name, more) = match rest.split_once('.') {
            Some((name, _)) => (name, "."),
            None => (rest, if closes { "}}" } else { "" }),
        };
        if name.starts_with(partial) {
            let candidate = format!("{base}{name}{more}");
            if !out.contains(&candidate) {
                out.push(candidate);
            }
        }
    }
    out
}

/// `-v`/`--volume` of `run`/`create`: `SOURCE:DEST[:OPTIONS]`. Before the first `:`, volume
/// names and host paths; after it, paths (the destination inside the container; the host's
/// are the best guess there is); after the second, the mount options.
pub fn volume_flag(current: &OsStr) -> Vec<CompletionCandidate> {
    let Some(current) = current.to_str() else {
        return Vec::new();
    };
    let parts: Vec<&str> = current.splitn(3, ':').collect();
    match parts.as_slice() {
        [source] => {
            let mut out = Vec::new();
            if !source.starts_with(['/', '.', '~']) {
                out.extend(
                    super::complete::volumes(OsStr::new(source))
                        .into_iter()
                        .map(|c| {
                            let value = format!("{}:", c.get_value().to_string_lossy());
                            CompletionCandidate::new(value).help(c.get_help().cloned())
                        }),
                );
            }
            out.extend(paths(source, ""));
            out
        }
        [source, dest] => paths(dest, &format!("{source}:")),
        [source, dest, options] => {
            let prefix = format!("{source}:{dest}:");
            // Only the option being typed, after the last comma.
            let (done, partial) = match options.rsplit_once(',') {
                Some((d, p)) => (format!("{d},"), p),
                None => (String::new(), *options),
            };
            VOLUME_OPTIONS
                .iter()
                .filter(|o| o.starts_with(partial))
                .map(|o| CompletionCandidate::new(format!("{prefix}{done}{o}")))
                .collect()
        }
        _ => Vec::new(),
    }
}

/// The options of a `-v` bind or volume that coracle accepts (Podman's names).
const VOLUME_OPTIONS: &[&str] = &[
    "ro", "rw", "z", "Z", "U", "O", "copy", "nocopy", "noexec", "exec", "nosuid", "suid", "nodev",
    "dev", "rbind", "bind", "private", "rprivate", "shared", "rshared", "slave", "rslave", "idmap",
];

/// Paths for `typed`, each with `prefix` (the part of the word before it) in front.
fn paths(typed: &str, prefix: &str) -> Vec<CompletionCandidate> {
    if typed.is_empty() && !prefix.is_empty() {
        // A destination is absolute: start it.
        return vec![CompletionCandidate::new(format!("{prefix}/"))];
    }
    PathCompleter::any()
        .complete(OsStr::new(typed))
        .into_iter()
        .map(|c| {
            let value = format!("{prefix}{}", c.get_value().to_string_lossy());
            CompletionCandidate::new(value)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_complete_field_by_field() {
        let ps = |s: &str| template_candidates(s, &[PS]);
        let ci = |s: &str| template_candidates(s, &[CONTAINER_INSPECT]);
        assert_eq!(ps(""), ["json", "{{."]);
        assert_eq!(ps("j"), ["json"]);
        assert_eq!(ps("{{.Na"), ["{{.Names}}"]);
        assert_eq!(
            ps("table {{.ID}} {{.Ima"),
            ["table {{.ID}} {{.Image}}", "table {{.ID}} {{.ImageID}}"]
        );
        assert_eq!(ci("{{.Stat"), ["{{.State.", "{{.StaticDir}}"]);
        assert_eq!(
            ci("{{.State.S"),
            ["{{.State.StartedAt}}", "{{.State.Status}}"]
        );
        // Inside a longer action the field is not closed.
        assert_eq!(ci("{{json .Config.Cm"), ["{{json .Config.Cmd"]);
        assert_eq!(ci("{{.Nope."), Vec::<String>::new());
        assert_eq!(ci("{{range"), Vec::<String>::new());
        assert_eq!(ps("{{.ID}}"), Vec::<String>::new());
    }
}
