//! `top CONTAINER [DESCRIPTORS...]`: the container's processes as Podman's `top` (psgo)
//! shows them, default columns USER PID PPID %CPU ELAPSED TTY TIME COMMAND.
//!
//! The processes are those whose PID namespace (`/proc/PID/ns/pid`) is the init's; the user
//! reads them from the host, which it may: it owns the container's user namespace and so
//! passes the ptrace access check (ptrace(2), user_namespaces(7)). PIDs and user names are
//! shown as the container sees them: the last `NSpid` entry, the ids mapped back through the
//! init's `uid_map`/`gid_map` and named from the container's own `/etc/passwd` and
//! `/etc/group`.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};

use crate::archive::DIFF_DIR;
use crate::cli::control::TopArgs;
use crate::cmd::containers::{self, ContainerView};
use crate::cmd::{Context, out};
use crate::error::ExitStatus;
use crate::runtime::control::Init;
use crate::runtime::idmap::IdMap;
use crate::runtime::spec::{ContainerSpec, RootFs};
use crate::store::LockMode;
use crate::store::containers::{SPEC, State};
use crate::sys::pidfd::clock_ticks;

const DEFAULT: [&str; 8] = [
    "user", "pid", "ppid", "pcpu", "etime", "tty", "time", "args",
];

/// A descriptor: its header and how to get its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Column {
    Args,
    Comm,
    Etime,
    Group,
    HGroup,
    HPid,
    HUser,
    Nice,
    Pcpu,
    Pgid,
    Pid,
    Ppid,
    RGroup,
    RUser,
    Seccomp,
    State,
    Time,
    Tty,
    User,
    Vsz,
}

fn column(name: &str) -> Option<Column> {
    use Column::*;
    Some(match name {
        "args" | "%a" => Args,
        "comm" | "%c" => Comm,
        "etime" | "%t" => Etime,
        "group" | "%G" => Group,
        "hgroup" => HGroup,
        "hpid" => HPid,
        "huser" => HUser,
        "nice" | "%n" => Nice,
        "pcpu" | "%C" => Pcpu,
        "pgid" => Pgid,
        "pid" | "%p" => Pid,
        "ppid" | "%P" => Ppid,
        "rgroup" | "%g" => RGroup,
        "ruser" | "%u" => RUser,
        "seccomp" => Seccomp,
        "state" => State,
        "time" | "%x" => Time,
        "tty" | "%y" => Tty,
        "user" | "%U" => User,
        "vsz" | "%z" => Vsz,
        _ => return None,
    })
}

fn header(c: Column) -> &'static str {
    use Column::*;
    match c {
        Args | Comm => "COMMAND",
        Etime => "ELAPSED",
        Group => "GROUP",
        HGroup => "HGROUP",
        HPid => "HPID",
        HUser => "HUSER",
        Nice => "NI",
        Pcpu => "%CPU",
        Pgid => "PGID",
        Pid => "PID",
        Ppid => "PPID",
        RGroup => "RGROUP",
        RUser => "RUSER",
        Seccomp => "SECCOMP",
        State => "STATE",
        Time => "TIME",
        Tty => "TTY",
        User => "USER",
        Vsz => "VSZ",
    }
}

pub fn run(ctx: &Context, args: &TopArgs) -> anyhow::Result<ExitStatus> {
    let store = ctx.open_store(LockMode::Shared, "top")?;
    let views = containers::all(&store)?;
    drop(store);
    let (view, descriptors): (&ContainerView, &[String]) = if args.latest {
        let Some(v) = views.first() else {
            bail!("no containers to list processes of");
        };
        (v, &args.args)
    } else {
        let Some((name, rest)) = args.args.split_first() else {
            bail!("you must provide the name or id of a running container");
        };
        (containers::find(&views, name)?, rest)
    };
    let columns = columns(descriptors)?;
    let init = match view.state {
        State::Running => Init::open(&view.rec)?,
        _ => None,
    };
    let Some(init) = init else {
        bail!("top can only be used on running containers");
    };
    let dir = ctx
        .open_store(LockMode::Shared, "top")?
        .containers()
        .path(view.id());
    let table = processes(init.pid(), &dir, &columns)
        .with_context(|| format!("listing the processes of container {}", view.id()))?;
    out(&crate::output::align(&table))?;
    Ok(ExitStatus::Success)
}

/// The columns `descriptors` name (Podman's defaults for none).
fn columns(descriptors: &[String]) -> anyhow::Result<Vec<Column>> {
    // Descriptors may come as one comma- or space-separated argument too (Podman).
    let mut columns = Vec::new();
    for d in descriptors
        .iter()
        .flat_map(|d| d.split([',', ' ']))
        .filter(|d| !d.is_empty())
    {
        columns.push(column(d).ok_or_else(|| anyhow::anyhow!("unknown descriptor: {d}"))?);
    }
    if columns.is_empty() {
        columns = DEFAULT.iter().filter_map(|d| column(d)).collect();
    }
    Ok(columns)
}

/// `pod top`: the processes of every running container of `views` in one aligned table
/// (one header; a PID namespace several of them share is listed once).
pub(crate) fn pod_table(
    ctx: &Context,
    views: &[&ContainerView],
    descriptors: &[String],
) -> anyhow::Result<String> {
    let columns = columns(descriptors)?;
    let store = ctx.open_store(LockMode::Shared, "pod top")?;
    let mut seen = Vec::new();
    let mut table = String::new();
    for view in views {
        let Some(init) = Init::open(&view.rec)? else {
            continue;
        };
        let ns = fs::read_link(format!("/proc/{}/ns/pid", init.pid()))
            .with_context(|| format!("reading /proc/{}/ns/pid", init.pid()))?;
        if seen.contains(&ns) {
            continue;
        }
        seen.push(ns);
        let dir = store.containers().path(view.id());
        let part = processes(init.pid(), &dir, &columns)
            .with_context(|| format!("listing the processes of container {}", view.id()))?;
        let rows = if table.is_empty() {
            &part[..]
        } else {
            part.split_once('\n').map_or("", |(_, rows)| rows)
        };
        table.push_str(rows);
    }
    Ok(crate::output::align(&table))
}

/// The table (tab-separated cells) of the processes in the PID namespace of `init`.
fn processes(init: i32, dir: &Path, columns: &[Column]) -> anyhow::Result<String> {
    let ns = fs::read_link(format!("/proc/{init}/ns/pid"))
        .with_context(|| format!("reading /proc/{init}/ns/pid"))?;
    let ctx = Names::of(init, dir);
    let pids: Vec<i32> = fs::read_dir("/proc")
        .context("reading /proc")?
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .filter(|pid| fs::read_link(format!("/proc/{pid}/ns/pid")).is_ok_and(|l| l == ns))
        .collect();
    let mut procs: Vec<Proc> = pids.into_iter().filter_map(Proc::read).collect();
    procs.sort_by_key(|p| p.ns_pid);
    // Host pid -> pid in the container, for PPID.
    let in_ns: HashMap<i32, i32> = procs.iter().map(|p| (p.host_pid, p.ns_pid)).collect();
    let uptime = fs::read_to_string("/proc/uptime")
        .ok()
        .and_then(|t| t.split_whitespace().next()?.parse::<f64>().ok())
        .unwrap_or(0.0);
    let ticks = clock_ticks() as f64;
    let mut text = String::new();
    let row = |cells: Vec<String>| cells.join("\t") + "\n";
    text.push_str(&row(columns
        .iter()
        .map(|c| header(*c).to_string())
        .collect()));
    for p in &procs {
        let elapsed = (uptime - p.start as f64 / ticks).max(0.0);
        let cpu = (p.utime + p.stime) as f64 / ticks;
        let cells = columns
            .iter()
            .map(|c| match c {
                Column::Args => p.args.clone(),
                Column::Comm => p.comm.clone(),
                Column::Etime => go_duration(elapsed),
                Column::Group => ctx.group(p.gid),
                Column::HGroup => host_group(p.gid),
                Column::HPid => p.host_pid.to_string(),
                Column::HUser => host_user(p.uid),
                Column::Nice => p.nice.to_string(),
                Column::Pcpu => {
                    let pct = if elapsed > 0.0 {
                        cpu / elapsed * 100.0
                    } else {
                        0.0
                    };
                    format!("{pct:.3}")
                }
                Column::Pgid => in_ns.get(&p.pgid).copied().unwrap_or(0).to_string(),
                Column::Pid => p.ns_pid.to_string(),
                Column::Ppid => in_ns.get(&p.ppid).copied().unwrap_or(0).to_string(),
                Column::RGroup => ctx.group(p.rgid),
                Column::RUser => ctx.user(p.ruid),
                Column::Seccomp => match p.seccomp {
                    0 => "disabled",
                    1 => "strict",
                    _ => "filter",
                }
                .to_string(),
                Column::State => p.state.to_string(),
                Column::Time => go_duration(cpu),
                Column::Tty => tty_name(p.tty_nr),
                Column::User => ctx.user(p.uid),
                Column::Vsz => (p.vsize / 1024).to_string(),
            })
            .collect();
        text.push_str(&row(cells));
    }
    Ok(text)
}

/// One process as `/proc` shows it to the host.
struct Proc {
    host_pid: i32,
    ns_pid: i32,
    ppid: i32,
    pgid: i32,
    state: char,
    tty_nr: u32,
    utime: u64,
    stime: u64,
    nice: i64,
    start: u64,
    vsize: u64,
    /// Effective and real ids, as the host sees them.
    uid: u32,
    ruid: u32,
    gid: u32,
    rgid: u32,
    seccomp: u8,
    comm: String,
    args: String,
}

impl Proc {
    /// `None` when the process went away meanwhile.
    fn read(pid: i32) -> Option<Proc> {
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let comm = stat[stat.find('(')? + 1..stat.rfind(')')?].to_string();
        let f: Vec<&str> = stat[stat.rfind(')')? + 1..].split_whitespace().collect();
        // f[0] is field 3 (state).
        let field = |n: usize| f.get(n - 3).copied().unwrap_or("0");
        let num = |n: usize| field(n).parse::<u64>().unwrap_or(0);
        let line = |key: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .map(|v| v.split_whitespace().map(String::from).collect::<Vec<_>>())
                .unwrap_or_default()
        };
        let id = |key: &str, i: usize| line(key).get(i).and_then(|v| v.parse().ok()).unwrap_or(0);
        let ns_pid = line("NSpid:")
            .last()
            .and_then(|v| v.parse().ok())
            .unwrap_or(pid);
        let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let args = cmdline
            .split(|b| *b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect::<Vec<_>>()
            .join(" ");
        Some(Proc {
            host_pid: pid,
            ns_pid,
            ppid: field(4).parse().unwrap_or(0),
            pgid: field(5).parse().unwrap_or(0),
            state: field(3).chars().next().unwrap_or('?'),
            tty_nr: num(7) as u32,
            utime: num(14),
            stime: num(15),
            nice: field(19).parse().unwrap_or(0),
            start: num(22),
            vsize: num(23),
            ruid: id("Uid:", 0),
            uid: id("Uid:", 1),
            rgid: id("Gid:", 0),
            gid: id("Gid:", 1),
            seccomp: id("Seccomp:", 0) as u8,
            args: if args.is_empty() {
                format!("[{comm}]")
            } else {
                args
            },
            comm,
        })
    }
}

/// Host ids mapped into the container and named from its own files.
struct Names {
    uid_map: IdMap,
    gid_map: IdMap,
    users: HashMap<u32, String>,
    groups: HashMap<u32, String>,
}

impl Names {
    fn of(init: i32, dir: &Path) -> Names {
        let map = |file: &str| {
            IdMap::from_proc_text(
                &fs::read_to_string(format!("/proc/{init}/{file}")).unwrap_or_default(),
            )
        };
        let names = |file: &str| -> HashMap<u32, String> {
            container_file(init, dir, &format!("etc/{file}"))
                .unwrap_or_default()
                .lines()
                .filter_map(|l| {
                    let mut f = l.split(':');
                    let name = f.next()?.to_string();
                    let id = f.nth(1)?.parse().ok()?;
                    Some((id, name))
                })
                .collect()
        };
        Names {
            uid_map: map("uid_map"),
            gid_map: map("gid_map"),
            users: names("passwd"),
            groups: names("group"),
        }
    }

    fn user(&self, host: u32) -> String {
        match self.uid_map.to_container(host) {
            Some(id) => self
                .users
                .get(&id)
                .cloned()
                .unwrap_or_else(|| id.to_string()),
            None => "nobody".into(),
        }
    }

    fn group(&self, host: u32) -> String {
        match self.gid_map.to_container(host) {
            Some(id) => self
                .groups
                .get(&id)
                .cloned()
                .unwrap_or_else(|| id.to_string()),
            None => "nogroup".into(),
        }
    }
}

/// A file of the container's root file system: through `/proc/INIT/root` (a `vfs` copy), or
/// else from the store, as the overlay would show it (the upper layer, then the image's
/// layers from the top): a FUSE mount refuses every process outside the user namespace
/// that mounted it, root included, unless mounted `allow_other`.
fn container_file(init: i32, dir: &Path, rel: &str) -> Option<String> {
    if let Some(text) = read_in_root(Path::new(&format!("/proc/{init}/root")), rel) {
        return Some(text);
    }
    let spec: ContainerSpec = serde_json::from_slice(&fs::read(dir.join(SPEC)).ok()?).ok()?;
    let mut candidates: Vec<PathBuf> = Vec::new();
    match &spec.root_kind {
        RootFs::Vfs => candidates.push(spec.rootfs.clone()),
        RootFs::Overlay { upper, .. } => {
            candidates.push(upper.clone());
            candidates.extend(spec.layers.iter().rev().map(|l| l.join(DIFF_DIR)));
        }
    }
    candidates.iter().find_map(|p| read_in_root(p, rel))
}

/// The most of a container's `/etc/passwd` or `/etc/group` read.
const MAX_FILE: u64 = 1 << 20;

/// The regular file `rel` below `root`, every symlink resolved inside `root`
/// (`RESOLVE_IN_ROOT`): the container's files must not lead this command to the host's, nor
/// hang it on a fifo or an endless device. At most [`MAX_FILE`] bytes.
fn read_in_root(root: &Path, rel: &str) -> Option<String> {
    use rustix::fs::{FileType, Mode, OFlags, ResolveFlags};
    use std::io::Read as _;
    let dir = rustix::fs::open(
        root,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ok()?;
    let fd = crate::sys::openat::openat2_retry(
        &dir,
        rel.trim_start_matches('/').as_bytes(),
        OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC,
        ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
    )
    .ok()?;
    let st = rustix::fs::fstat(&fd).ok()?;
    if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
        return None;
    }
    let mut text = String::new();
    fs::File::from(fd)
        .take(MAX_FILE)
        .read_to_string(&mut text)
        .ok()?;
    Some(text)
}

fn host_user(uid: u32) -> String {
    nix::unistd::User::from_uid(uid.into())
        .ok()
        .flatten()
        .map_or_else(|| uid.to_string(), |u| u.name)
}

fn host_group(gid: u32) -> String {
    nix::unistd::Group::from_gid(gid.into())
        .ok()
        .flatten()
        .map_or_else(|| gid.to_string(), |g| g.name)
}

/// `pts/N` for a pseudo-terminal (majors 136-143, devices.txt), `?` for none.
fn tty_name(tty_nr: u32) -> String {
    if tty_nr == 0 {
        return "?".into();
    }
    let major = (tty_nr >> 8) & 0xfff;
    let minor = (tty_nr & 0xff) | ((tty_nr >> 12) & 0xfff00);
    match major {
        136..=143 => format!("pts/{}", (major - 136) * 256 + minor),
        4 if minor < 64 => format!("tty{minor}"),
        4 => format!("ttyS{}", minor - 64),
        _ => "?".into(),
    }
}

/// Seconds as Go's `time.Duration.String` prints them (`0s`, `10ms`, `4.5s`, `1m2.25s`),
/// which psgo uses for ELAPSED and TIME.
fn go_duration(seconds: f64) -> String {
    let nanos = (seconds * 1e9).round() as u128;
    if nanos == 0 {
        return "0s".into();
    }
    let trim = |whole: u128, frac: u128, digits: usize| {
        let mut s = whole.to_string();
        let f = format!("{frac:0digits$}");
        let f = f.trim_end_matches('0');
        if !f.is_empty() {
            s.push('.');
            s.push_str(f);
        }
        s
    };
    if nanos < 1_000 {
        return format!("{nanos}ns");
    }
    if nanos < 1_000_000 {
        return format!("{}µs", trim(nanos / 1_000, nanos % 1_000, 3));
    }
    if nanos < 1_000_000_000 {
        return format!("{}ms", trim(nanos / 1_000_000, nanos % 1_000_000, 6));
    }
    let secs = nanos / 1_000_000_000;
    let frac = nanos % 1_000_000_000;
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if h > 0 || m > 0 {
        out.push_str(&format!("{m}m"));
    }
    out.push_str(&trim(s, frac, 9));
    out.push('s');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The container's files are read inside its root: an absolute symlink stays in it, a
    /// fifo or device is not read (no hang), a huge file is cut at [`MAX_FILE`].
    #[test]
    fn container_files_are_read_inside_the_root_and_bounded() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        fs::create_dir_all(root.join("etc")).unwrap();
        let outside = tmp.path().join("secret");
        fs::write(&outside, "host secret\n").unwrap();
        std::os::unix::fs::symlink(&outside, root.join("etc/passwd")).unwrap();
        assert_eq!(read_in_root(&root, "etc/passwd"), None);
        std::fs::remove_file(root.join("etc/passwd")).unwrap();
        std::os::unix::fs::symlink("/etc/real", root.join("etc/passwd")).unwrap();
        fs::write(root.join("etc/real"), "root:x:0:0::/root:/bin/sh\n").unwrap();
        assert_eq!(
            read_in_root(&root, "etc/passwd").as_deref(),
            Some("root:x:0:0::/root:/bin/sh\n")
        );
        nix::unistd::mkfifo(
            &root.join("etc/group"),
            nix::sys::stat::Mode::from_bits_truncate(0o600),
        )
        .unwrap();
        assert_eq!(read_in_root(&root, "etc/group"), None);
        std::os::unix::fs::symlink("/dev/zero", root.join("etc/zero")).unwrap();
        assert_eq!(read_in_root(&root, "etc/zero"), None);
        fs::write(root.join("etc/big"), vec![b'a'; 3 << 20]).unwrap();
        assert_eq!(
            read_in_root(&root, "etc/big").map(|t| t.len() as u64),
            Some(MAX_FILE)
        );
    }

    #[test]
    fn durations_as_go_prints_them() {
        assert_eq!(go_duration(0.0), "0s");
        assert_eq!(go_duration(0.01), "10ms");
        assert_eq!(go_duration(4.5), "4.5s");
        assert_eq!(go_duration(62.25), "1m2.25s");
        assert_eq!(go_duration(3600.0), "1h0m0s");
        assert_eq!(go_duration(20.386825206), "20.386825206s");
    }

    #[test]
    fn descriptors_and_headers() {
        let cols: Vec<&str> = DEFAULT.iter().map(|d| header(column(d).unwrap())).collect();
        assert_eq!(
            cols,
            [
                "USER", "PID", "PPID", "%CPU", "ELAPSED", "TTY", "TIME", "COMMAND"
            ]
        );
        assert_eq!(column("%C"), Some(Column::Pcpu));
        assert_eq!(column("bogus"), None);
    }

    #[test]
    fn ttys() {
        assert_eq!(tty_name(0), "?");
        assert_eq!(tty_name((136 << 8) | 3), "pts/3");
        assert_eq!(tty_name((4 << 8) | 1), "tty1");
    }
}
