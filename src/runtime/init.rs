//! The container's init: the monitor's child, born by one `clone` into new mount, PID, UTS,
//! IPC and (unless `--network host`) network namespaces, PID 1 of its PID namespace. It sets
//! the container up and execs the command, which stays PID 1.
//!
//! Order: die with the monitor (`PR_SET_PDEATHSIG`), the network namespace the monitor made
//! for the container (`network::InitGate::enter`), hostname, loopback, mount points made
//! real in the root, mounts (`mounts::setup`), `pivot_root`, the user from the container's
//! own `/etc/passwd` and `/etc/group`, `HOME`, working directory (made if missing, as Podman
//! does), then `security::confine` (supplementary groups, capabilities, gid, uid, seccomp,
//! `no_new_privs` when asked), umask 022, close-on-exec for every inherited descriptor, an
//! empty signal mask, the network's go-ahead (`network::InitGate`), exec. Any failure
//! is sent to the monitor as a [`Report`] with the errno; the report pipe is close-on-exec,
//! so end of file there means the exec happened.

use std::convert::Infallible;
use std::ffi::CString;
use std::fs::{self, File};
use std::io;
use std::os::fd::{AsFd as _, OwnedFd};
use std::os::unix::process::CommandExt as _;
use std::process::Command;

use nix::errno::Errno;
use nix::sys::signal::{SigSet, SigmaskHow, Signal};

use super::channel::{self, Report, Step};
use super::container_user;
use super::spec::{ContainerSpec, Network};
use super::{exec_failure_status, mounts, rootfs, security, volumes};

/// The mount points the init mounts on: (path in the root, is a directory). They are made
/// real directories and files in the container's root first (its own copy or upper layer).
const MOUNT_POINTS: &[(&str, bool)] = &[
    ("proc", true),
    ("dev", true),
    ("sys", true),
    ("etc/hosts", false),
    ("etc/hostname", false),
    ("etc/resolv.conf", false),
];
use crate::sys::process::{cloexec_from, exit_child};
use crate::sys::pty;

/// Makes `stdio` the process's standard streams.
fn attach_stdio(stdio: InitStdio) -> Result<(), Report> {
    let failed = |what: &'static str| move |e: io::Error| Report::failed_io(Step::Stdio, &e, what);
    let (stdin, stdout, stderr) = match stdio {
        InitStdio::Streams {
            stdin,
            stdout,
            stderr,
        } => {
            let stdin = match stdin {
                Some(fd) => fd,
                None => OwnedFd::from(File::open("/dev/null").map_err(failed("/dev/null"))?),
            };
            (stdin, stdout, stderr)
        }
        InitStdio::Tty { console, size } => {
            let master = pty::open_master(std::path::Path::new("/dev/ptmx"))
                .map_err(failed("opening /dev/ptmx"))?;
            let slave = pty::open_slave(master.as_fd()).map_err(failed("opening the terminal"))?;
            if let Some((rows, cols)) = size {
                let _ = super::terminal::set_window_size(&master, rows, cols);
            }
            pty::set_controlling(slave.as_fd()).map_err(failed("TIOCSCTTY"))?;
            super::console::send_fd(&console, master.as_fd())
                .map_err(failed("sending the terminal to the monitor"))?;
            let out = slave.try_clone().map_err(failed("dup"))?;
            let err = slave.try_clone().map_err(failed("dup"))?;
            (slave, out, err)
        }
    };
    nix::unistd::dup2_stdin(&stdin).map_err(errno_report(Step::Stdio, "stdin"))?;
    nix::unistd::dup2_stdout(&stdout).map_err(errno_report(Step::Stdio, "stdout"))?;
    nix::unistd::dup2_stderr(&stderr).map_err(errno_report(Step::Stdio, "stderr"))?;
    Ok(())
}

/// The container's standard streams as the monitor hands them to the init.
#[derive(Debug)]
pub enum InitStdio {
    /// Descriptors to become 0, 1 and 2: pipes from the monitor, or the command's own
    /// (`--log-driver passthrough`); no input reads `/dev/null`.
    Streams {
        stdin: Option<OwnedFd>,
        stdout: OwnedFd,
        stderr: OwnedFd,
    },
    /// `-t`: the init opens a terminal in the container's `/dev/pts`, makes it its controlling
    /// terminal and standard streams, and sends the master to the monitor on `console`.
    Tty {
        console: OwnedFd,
        size: Option<(u16, u16)>,
    },
}

/// Runs the init in the freshly cloned child; never returns.
pub fn run(
    spec: &ContainerSpec,
    mut to_monitor: File,
    stdio: InitStdio,
    mut gate: super::network::InitGate,
) -> ! {
    // The monitor's FUSE device must not live on in here if the monitor is killed.
    let _ = crate::sys::process::close_device_fds("/dev/fuse");
    // Armed first, then the monitor looked for: one killed between the clone and the prctl
    // never sends the signal, but it closed its end of the report pipe (POLLERR on ours).
    // Outside this PID namespace the parent is not visible (getppid is 0), so the pipe is
    // the way to ask.
    if nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).is_err() || monitor_gone(&to_monitor) {
        exit_child(125);
    }
    // Before the mounts: /sys shows the network namespace of the process that mounts it.
    if let Err(e) = gate.enter() {
        let r = Report::failed_io(
            Step::Clone,
            &e,
            "entering the container's network namespace",
        );
        let _ = channel::send(&mut to_monitor, &r);
        exit_child(125);
    }
    let report = match setup_and_exec(spec, stdio, gate) {
        Ok(never) => match never {},
        Err(r) => r,
    };
    let code = match &report {
        Report::ExecFailed { errno } => i32::from(exec_failure_status(Errno::from_raw(*errno))),
        _ => 125,
    };
    let _ = channel::send(&mut to_monitor, &report);
    exit_child(code)
}

fn errno_report(step: Step, detail: impl Into<String>) -> impl FnOnce(Errno) -> Report {
    let detail = detail.into();
    move |e| Report::failed(step, e, detail)
}

/// Whether the reader of `to_monitor` (the monitor) is gone.
fn monitor_gone(to_monitor: &File) -> bool {
    use std::os::fd::AsFd as _;
    let ready = crate::sys::poll::poll(
        &[(to_monitor.as_fd(), crate::sys::poll::OUT)],
        Some(std::time::Duration::ZERO),
    );
    ready.is_ok_and(|r| r[0] & (crate::sys::poll::ERR | crate::sys::poll::HUP) != 0)
}

fn setup_and_exec(
    spec: &ContainerSpec,
    stdio: InitStdio,
    gate: super::network::InitGate,
) -> Result<Infallible, Report> {
    if let Ok(name) = CString::new("coracle:init") {
        let _ = nix::sys::prctl::set_name(&name);
    }
    // A session of its own, without a controlling terminal: the container must not be able
    // to push input into the caller's terminal (TIOCSTI) or take its job control. The
    // monitor passes ^C and ^\ on instead (see `wait_relaying`).
    nix::unistd::setsid().map_err(errno_report(Step::Privileges, "setsid"))?;
    nix::unistd::sethostname(&spec.hostname)
        .map_err(errno_report(Step::Hostname, spec.hostname.clone()))?;
    if spec.network != Network::Host {
        crate::sys::net::loopback_up().map_err(|e| Report::failed_io(Step::Loopback, &e, "lo"))?;
    }
    for (path, dir) in MOUNT_POINTS {
        rootfs::mount_point(&spec.rootfs, path, *dir).map_err(|e| {
            Report::failed_io(
                Step::Mounts,
                &e.source,
                format!("{} {}", e.what, e.path.display()),
            )
        })?;
    }
    mounts::setup(
        &spec.rootfs,
        &spec.userdata,
        &spec.mapping,
        &spec.security.masked_paths,
        &spec.security.read_only_paths,
    )
    .map_err(|f| Report::failed(Step::Mounts, f.errno, f.detail))?;
    volumes::setup::setup(&spec.rootfs, &spec.storage, &spec.process.user)
        .map_err(|f| Report::failed(Step::Mounts, f.errno, f.detail))?;
    mounts::pivot(&spec.rootfs).map_err(|f| Report::failed(Step::PivotRoot, f.errno, f.detail))?;

    let p = &spec.process;
    let user = container_user::resolve(&p.user)?;
    let mut env = p.env.clone();
    if env.get("HOME").is_none() {
        env.set("HOME", &user.home);
    }

    if fs::symlink_metadata(&p.cwd).is_err() {
        fs::create_dir_all(&p.cwd)
            .map_err(|e| Report::failed_io(Step::Workdir, &e, format!("creating {}", p.cwd)))?;
        let _ = std::os::unix::fs::chown(&p.cwd, Some(user.uid), Some(user.gid));
    }
    nix::unistd::chdir(p.cwd.as_str()).map_err(errno_report(Step::Workdir, p.cwd.clone()))?;

    let who = container_user::identity(&user, &p.group_add, &spec.mapping)?;
    security::confine(&spec.security, &who, &spec.mapping).map_err(|e| Report::Failed {
        step: e.step,
        errno: e.errno,
        detail: e.detail,
    })?;
    // After the switch: a terminal opened now belongs to the container's user (devpts(4)).
    attach_stdio(stdio)?;
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o022));
    cloexec_from(3).map_err(|e| Report::failed_io(Step::Privileges, &e, "close_range"))?;
    let _ = crate::sys::reaper::default_dispositions();
    let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);

    // The network helper started with the monitor, and its start is the longest step: the
    // command must find the network configured, so the wait is the last thing before it.
    gate.wait();
    if p.init {
        super::init_process::fork_reaper()?;
    }
    let err: io::Error = Command::new(&p.args[0])
        .args(&p.args[1..])
        .env_clear()
        .envs(env.vars().iter().map(|(k, v)| (k, v)))
        .exec();
    Err(Report::ExecFailed {
        errno: err.raw_os_error().unwrap_or(libc::EINVAL),
    })
}
