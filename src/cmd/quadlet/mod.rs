//! `quadlet`: Podman Quadlet `.container` files converted into systemd user units that run
//! the container with `coracle run` (Podman's `podman-system-generator`, as a command).
//!
//! `[Unit]`, `[Service]` and `[Install]` pass through; `[Container]` becomes the `run`
//! command line, and each of its keys must map onto a `run` flag this coracle has: a key
//! that is unknown, or whose flag is missing, is an error naming the file, the line and the
//! key, never dropped. `[Install]`'s `WantedBy=`/`RequiredBy=` become the `.wants`/
//! `.requires` links `systemctl enable` would make.

pub mod ini;

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::CommandFactory as _;

use crate::cli::Cli;
use crate::cli::quadlet::QuadletArgs;
use crate::cmd::generate::unit::{Unit, Word, env_assignment, exec_line};
use crate::error::ExitStatus;
use ini::{Entry, Section};

pub fn run(args: &QuadletArgs) -> anyhow::Result<ExitStatus> {
    let exe = crate::cmd::generate::self_path()?;
    let mut units = Vec::new();
    for file in &args.files {
        let text =
            std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        let unit = convert(file, &text, &exe).with_context(|| format!("{}", file.display()))?;
        units.push(unit);
    }
    if args.dryrun {
        for u in &units {
            crate::cmd::out(&format!("---{}---\n{}\n", u.name, u.text))?;
        }
        return Ok(ExitStatus::Success);
    }
    let dir = match &args.output {
        Some(d) => d.clone(),
        None => user_unit_dir()?,
    };
    for u in &units {
        write_unit(&dir, u)?;
        crate::cmd::out(&format!("{}\n", dir.join(&u.name).display()))?;
    }
    Ok(ExitStatus::Success)
}

/// Where `systemctl --user daemon-reload` reads the user's own units:
/// `$XDG_CONFIG_HOME/systemd/user` (else `~/.config/systemd/user`). Not the generator
/// directory under `$XDG_RUNTIME_DIR`: systemd empties that on every reload, as its
/// generators write it again, and coracle is a command, not a generator.
fn user_unit_dir() -> anyhow::Result<PathBuf> {
    let config = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|h| PathBuf::from(h).join(".config"))
        })
        .ok_or_else(|| {
            anyhow::anyhow!(
                "neither XDG_CONFIG_HOME nor HOME is set: give the directory with --output"
            )
        })?;
    Ok(config.join("systemd/user"))
}

/// A converted unit.
#[derive(Debug)]
pub struct Converted {
    pub name: String,
    pub text: String,
    /// `(target.wants or .requires directory, unit)` links to make.
    pub links: Vec<String>,
}

fn write_unit(dir: &Path, u: &Converted) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join(&u.name);
    std::fs::write(&path, &u.text).with_context(|| format!("writing {}", path.display()))?;
    for link_dir in &u.links {
        let d = dir.join(link_dir);
        std::fs::create_dir_all(&d).with_context(|| format!("creating {}", d.display()))?;
        let link = d.join(&u.name);
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(format!("../{}", u.name), &link)
            .with_context(|| format!("linking {}", link.display()))?;
    }
    Ok(())
}

/// An error in the file: its line and what is wrong.
fn at(entry: &Entry, what: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("line {}: {}: {what}", entry.line, entry.key)
}

/// What a `[Container]` key turns into.
enum Map {
    /// `--flag=value`, once per occurrence.
    Flag(&'static str),
    /// `--flag=word` for each word of the value.
    Words(&'static str),
    /// `--flag` when the value is true.
    Bool(&'static str),
    /// `--flag=value` when the value is true.
    BoolValue(&'static str, &'static str),
    /// `--flag=PREFIXvalue`.
    Prefixed(&'static str, &'static str),
}

fn mapping(key: &str) -> Option<Map> {
    use Map::*;
    Some(match key {
        "Entrypoint" => Flag("entrypoint"),
        "Environment" => Words("env"),
        "EnvironmentFile" => Flag("env-file"),
        "EnvironmentHost" => Bool("env-host"),
        "PublishPort" => Flag("publish"),
        "ExposeHostPort" => Flag("expose"),
        "Volume" => Flag("volume"),
        "Mount" => Flag("mount"),
        "Tmpfs" => Flag("tmpfs"),
        "Network" => Flag("network"),
        "HostName" => Flag("hostname"),
        "WorkingDir" => Flag("workdir"),
        "Label" => Words("label"),
        "RunInit" => Bool("init"),
        "ReadOnly" => Bool("read-only"),
        "NoNewPrivileges" => BoolValue("security-opt", "no-new-privileges"),
        "SeccompProfile" => Prefixed("security-opt", "seccomp="),
        "AddCapability" => Words("cap-add"),
        "DropCapability" => Words("cap-drop"),
        "UserNS" => Flag("userns"),
        "UIDMap" => Flag("uidmap"),
        "GIDMap" => Flag("gidmap"),
        "GroupAdd" => Flag("group-add"),
        "StopTimeout" => Flag("stop-timeout"),
        "StopSignal" => Flag("stop-signal"),
        "Pull" => Flag("pull"),
        "LogDriver" => Flag("log-driver"),
        "Ulimit" => Flag("ulimit"),
        "AddDevice" => Flag("device"),
        "AutoUpdate" => Prefixed("label", "io.containers.autoupdate="),
        "HealthCmd" => Flag("health-cmd"),
        "HealthInterval" => Flag("health-interval"),
        "HealthRetries" => Flag("health-retries"),
        "HealthStartPeriod" => Flag("health-start-period"),
        "HealthTimeout" => Flag("health-timeout"),
        "HealthOnFailure" => Flag("health-on-failure"),
        "DNS" => Flag("dns"),
        "DNSSearch" => Flag("dns-search"),
        "DNSOption" => Flag("dns-option"),
        "AddHost" => Flag("add-host"),
        "Memory" => Flag("memory"),
        "PidsLimit" => Flag("pids-limit"),
        "ShmSize" => Flag("shm-size"),
        _ => return None,
    })
}

/// systemd's booleans.
fn boolean(entry: &Entry) -> anyhow::Result<bool> {
    match entry.value.to_ascii_lowercase().as_str() {
        "1" | "yes" | "true" | "on" => Ok(true),
        "0" | "no" | "false" | "off" => Ok(false),
        v => Err(at(entry, format!("{v:?} is not a boolean"))),
    }
}

fn words(entry: &Entry) -> anyhow::Result<Vec<String>> {
    ini::split_words(&entry.value).map_err(|e| at(entry, e))
}

/// Converts the Quadlet file `path` (its text `text`) into a unit running `exe`.
pub fn convert(path: &Path, text: &str, exe: &Path) -> anyhow::Result<Converted> {
    let file_name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| anyhow::anyhow!("{} has no file name", path.display()))?;
    let base = file_name.strip_suffix(".container").ok_or_else(|| {
        anyhow::anyhow!("{file_name}: only .container files are supported (not .pod, .volume, .network, .kube, ...)")
    })?;
    let sections = ini::parse(text)?;
    let run_cmd = Cli::command();
    let run_cmd = run_cmd
        .find_subcommand("run")
        .ok_or_else(|| anyhow::anyhow!("no run command"))?;
    let has_flag = |long: &str| run_cmd.get_arguments().any(|a| a.get_long() == Some(long));

    let mut image = None;
    let mut exec: Vec<String> = Vec::new();
    let mut name = "systemd-%N".to_string();
    let mut flags: Vec<String> = Vec::new();
    let mut podman_args: Vec<String> = Vec::new();
    let mut global_args: Vec<String> = Vec::new();
    let mut notify = "conmon";
    let (mut user, mut group): (Option<String>, Option<String>) = (None, None);
    let mut unit = Unit::default();
    let mut container_seen = false;
    let mut links = Vec::new();
    let mut service: Vec<Entry> = Vec::new();
    let mut install: Vec<Entry> = Vec::new();

    for Section {
        name: section,
        line,
        entries,
    } in &sections
    {
        match section.as_str() {
            "Unit" => {
                for e in entries {
                    unit.add("Unit", &e.key, e.value.clone());
                }
            }
            "Service" => service.extend(entries.iter().cloned()),
            "Install" => install.extend(entries.iter().cloned()),
            "Container" => {
                container_seen = true;
                for e in entries {
                    match e.key.as_str() {
                        "Image" => image = Some(e.value.clone()),
                        "Exec" => exec = words(e)?,
                        "ContainerName" => name = e.value.clone(),
                        "PodmanArgs" => podman_args.extend(words(e)?),
                        "GlobalArgs" => global_args.extend(words(e)?),
                        "User" => user = Some(e.value.clone()),
                        "Group" => group = Some(e.value.clone()),
                        "Notify" => {
                            notify = match e.value.as_str() {
                                "healthy" => "healthy",
                                _ if boolean(e)? => "container",
                                _ => "conmon",
                            }
                        }
                        // A Quadlet `.network` unit makes a network first; coracle has
                        // none to make, and the name would only fail at the unit's start.
                        "Network" if e.value.ends_with(".network") => {
                            return Err(at(
                                e,
                                "Network= names a Quadlet .network unit, which coracle does not \
                                 convert (use none, host or pasta)",
                            ));
                        }
                        key => {
                            let map = mapping(key).ok_or_else(|| {
                                at(e, "unknown or unsupported key in [Container]")
                            })?;
                            let flag = match &map {
                                Map::Flag(f)
                                | Map::Words(f)
                                | Map::Bool(f)
                                | Map::BoolValue(f, _)
                                | Map::Prefixed(f, _) => *f,
                            };
                            if !has_flag(flag) {
                                return Err(at(
                                    e,
                                    format!(
                                        "needs `run --{flag}`, which this coracle does not have"
                                    ),
                                ));
                            }
                            match map {
                                Map::Flag(f) => flags.push(format!("--{f}={}", e.value)),
                                Map::Words(f) => {
                                    for w in words(e)? {
                                        flags.push(format!("--{f}={w}"));
                                    }
                                }
                                Map::Bool(f) => {
                                    if boolean(e)? {
                                        flags.push(format!("--{f}"));
                                    }
                                }
                                Map::BoolValue(f, v) => {
                                    if boolean(e)? {
                                        flags.push(format!("--{f}={v}"));
                                    }
                                }
                                Map::Prefixed(f, p) => flags.push(format!("--{f}={p}{}", e.value)),
                            }
                        }
                    }
                }
            }
            other => anyhow::bail!(
                "line {line}: section [{other}] is not supported in a .container file (only [Unit], [Container], [Service], [Install])"
            ),
        }
    }
    if !container_seen {
        anyhow::bail!("no [Container] section");
    }
    let image = image.ok_or_else(|| anyhow::anyhow!("[Container] has no Image="))?;
    if let Some(u) = user {
        flags.push(match group {
            Some(g) => format!("--user={u}:{g}"),
            None => format!("--user={u}"),
        });
    } else if group.is_some() {
        anyhow::bail!("[Container] has Group= without User=");
    }

    let source = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    unit.add("Unit", "SourcePath", source.display().to_string());
    // The original, for people reading the unit (systemd ignores X- sections).
    for s in sections.iter().filter(|s| s.name == "Container") {
        for e in &s.entries {
            unit.add("X-Container", &e.key, e.value.clone());
        }
    }

    let exe = exe.to_string_lossy().into_owned();
    let coracle = |tail: Vec<Word<'_>>| {
        let mut w = vec![Word::Quoted(&exe)];
        w.extend(global_args.iter().map(|s| Word::Specifiers(s)));
        w.extend(tail);
        exec_line(w)
    };
    const CIDFILE: &str = "--cidfile=%t/%N.cid";
    let mut start = vec![
        Word::Raw("run"),
        Word::Specifiers(&name),
        Word::Raw(CIDFILE),
        Word::Raw("--replace"),
        Word::Raw("--rm"),
    ];
    let name_flag = format!("--name={name}");
    start[1] = Word::Specifiers(&name_flag);
    let notify_flag = format!("--sdnotify={notify}");
    start.push(Word::Raw(&notify_flag));
    start.push(Word::Raw("-d"));
    start.extend(flags.iter().map(|s| Word::Specifiers(s)));
    start.extend(podman_args.iter().map(|s| Word::Specifiers(s)));
    start.push(Word::Specifiers(&image));
    start.extend(exec.iter().map(|s| Word::Specifiers(s)));

    let user_set = |k: &str| service.iter().any(|e| e.key == k);
    for e in &service {
        unit.add("Service", &e.key, e.value.clone());
    }
    unit.add(
        "Service",
        "Environment",
        env_assignment("PODMAN_SYSTEMD_UNIT=%n").replace("%%", "%"),
    );
    let defaults: [(&str, String); 7] = [
        ("ExecStartPre", "-/bin/rm -f %t/%N.cid".to_string()),
        ("ExecStart", coracle(start)),
        (
            "ExecStop",
            coracle(["rm", "-v", "-f", "-i", CIDFILE].map(Word::Raw).to_vec()),
        ),
        (
            "ExecStopPost",
            format!(
                "-{}",
                coracle(["rm", "-v", "-f", "-i", CIDFILE].map(Word::Raw).to_vec())
            ),
        ),
        ("Type", "notify".to_string()),
        ("NotifyAccess", "all".to_string()),
        ("SyslogIdentifier", "%N".to_string()),
    ];
    for (k, v) in defaults {
        if !user_set(k) {
            unit.add("Service", k, v);
        }
    }
    for e in &install {
        match e.key.as_str() {
            "WantedBy" | "RequiredBy" => {
                let suffix = if e.key == "WantedBy" {
                    "wants"
                } else {
                    "requires"
                };
                for target in words(e)? {
                    links.push(format!("{target}.{suffix}"));
                }
            }
            "Alias" | "Also" | "DefaultInstance" => {}
            _ => return Err(at(e, "unknown key in [Install]")),
        }
        unit.add("Install", &e.key, e.value.clone());
    }
    Ok(Converted {
        name: format!("{base}.service"),
        text: unit.render(),
        links,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conv(text: &str) -> anyhow::Result<Converted> {
        convert(
            Path::new("/q/web.container"),
            text,
            Path::new("/usr/bin/coracle"),
        )
    }

    #[test]
    fn a_container_becomes_a_notify_unit() {
        let u = conv(
            "[Unit]\nDescription=Web\n\n[Container]\nImage=busybox\nExec=sh -c 'echo a b'\nEnvironment=A=1 \"B=x y\"\nLabel=k=v\nVolume=/srv:/data:ro\n\n[Service]\nRestart=always\n\n[Install]\nWantedBy=default.target\n",
        )
        .unwrap();
        assert_eq!(u.name, "web.service");
        assert_eq!(u.links, ["default.target.wants"]);
        let start = u
            .text
            .lines()
            .find(|l| l.starts_with("ExecStart="))
            .unwrap();
        assert_eq!(
            start,
            "ExecStart=/usr/bin/coracle run --name=systemd-%N --cidfile=%t/%N.cid --replace --rm --sdnotify=conmon -d --env=A=1 \"--env=B=x y\" --label=k=v --volume=/srv:/data:ro busybox sh -c \"echo a b\""
        );
        assert!(u.text.contains("\nRestart=always\n"), "{}", u.text);
        assert!(u.text.contains("\nType=notify\n"), "{}", u.text);
    }

    #[test]
    fn unknown_keys_are_errors_naming_the_line() {
        let e = conv("[Container]\nImage=busybox\nFrobnicate=yes\n").unwrap_err();
        assert!(format!("{e:#}").contains("line 3: Frobnicate"), "{e:#}");
        let e = conv("[Container]\nExec=true\n").unwrap_err();
        assert!(format!("{e:#}").contains("Image="), "{e:#}");
        let e = conv("[Container]\nImage=b\n[Pod]\nX=1\n").unwrap_err();
        assert!(format!("{e:#}").contains("[Pod]"), "{e:#}");
        let e = conv("[Container]\nImage=b\nReadOnly=perhaps\n").unwrap_err();
        assert!(format!("{e:#}").contains("line 3: ReadOnly"), "{e:#}");
    }
}
