//! The container's init: the monitor's child, born by one `clone` into new mount, PID, UTS,
//! IPC and (unless `--network host`) network namespaces, PID 1 of its PID namespace. It sets
//! the container up and execs the command, which stays PID 1.
//!
//! Order: die with the monitor (`PR_SET_PDEATHSIG`), hostname, loopback, mount points made
//! real in the root, mounts (`mounts::setup`), `pivot_root`, the user from the container's own `/etc/passwd` and
//! `/etc/group`, `HOME`, working directory (made if missing, as Podman does), supplementary
//! groups, the capability bounding set (`security::apply_bounding`), gid, uid, the other
//! capability sets (`security::apply_sets`), `no_new_privs`, umask 022, close-on-exec for
//! every inherited descriptor, an empty signal mask, the seccomp filter, exec. Any failure
//! is sent to the monitor as a [`Report`] with the errno; the report pipe is close-on-exec,
//! so end of file there means the exec happened.

use std::convert::Infallible;
use std::ffi::CString;
use std::fs::{self, File};
use std::io;
use std::os::unix::process::CommandExt as _;
use std::process::Command;

use nix::errno::Errno;
use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::unistd::{Gid, Uid};

use super::channel::{self, Report, Step};
use super::spec::{ContainerSpec, Network};
use super::user::{self, UserSpec};
use super::{exec_failure_status, mounts, rootfs, security};

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

/// Runs the init in the freshly cloned child; never returns.
pub fn run(spec: &ContainerSpec, mut to_monitor: File) -> ! {
    let report = match setup_and_exec(spec) {
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

fn setup_and_exec(spec: &ContainerSpec) -> Result<Infallible, Report> {
    // The monitor may already be gone (then the pid namespace's parent is the reaper): the
    // monitor waits for this process, so it cannot have exited normally yet.
    nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)
        .map_err(errno_report(Step::Privileges, "PR_SET_PDEATHSIG"))?;
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
        !spec.security.privileged,
    )
    .map_err(|f| Report::failed(Step::Mounts, f.errno, f.detail))?;
    mounts::pivot(&spec.rootfs).map_err(|f| Report::failed(Step::PivotRoot, f.errno, f.detail))?;

    let p = &spec.process;
    let read = |path: &str| fs::read_to_string(path).unwrap_or_default();
    let user = UserSpec::parse(&p.user)
        .and_then(|u| user::resolve(&u, &read("/etc/passwd"), &read("/etc/group")))
        .map_err(|e| Report::Failed {
            step: Step::User,
            errno: 0,
            detail: e.to_string(),
        })?;
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

    // A single-mapping namespace has setgroups denied (user_namespaces(7)): the process
    // keeps the one group it has.
    let setgroups_allowed = fs::read_to_string("/proc/self/setgroups")
        .map(|s| s.trim() != "deny")
        .unwrap_or(true);
    if setgroups_allowed {
        let groups: Vec<Gid> = user
            .groups
            .iter()
            .filter(|g| spec.mapping.gid.to_host(**g).is_some())
            .map(|g| Gid::from_raw(*g))
            .collect();
        nix::unistd::setgroups(&groups).map_err(errno_report(Step::User, "setgroups"))?;
    }
    let unmapped = |what: &str, id: u32| {
        format!(
            "{what} {id} is not mapped in the container's user namespace{}",
            if spec.mapping.uid.len() == 1 {
                format!(
                    " ({} has no subordinate ids in /etc/subuid and /etc/subgid; only root \
                     exists in its containers)",
                    spec.mapping.user
                )
            } else {
                String::new()
            }
        )
    };
    // The bounding set is cut while this is root; the other sets are set after the switch
    // (PR_SET_KEEPCAPS keeps the permitted set across it); the filter is built now, while
    // failing is still cheap, and installed last.
    let cap_sets = spec.security.cap_sets(user.uid);
    let filters = if spec.security.seccomp {
        security::default_filters(cap_sets.bounding).map_err(|e| Report::Failed {
            step: Step::Privileges,
            errno: 0,
            detail: format!("{e}"),
        })?
    } else {
        Vec::new()
    };
    let caps_failed = |what: &'static str| {
        move |e: caps::errors::CapsError| Report::Failed {
            step: Step::Privileges,
            errno: 0,
            detail: format!("{what}: {e}"),
        }
    };
    security::apply_bounding(&cap_sets).map_err(caps_failed("the bounding set"))?;
    let gid = Gid::from_raw(user.gid);
    nix::unistd::setresgid(gid, gid, gid).map_err(|e| {
        let detail = match e {
            Errno::EINVAL => unmapped("group", user.gid),
            _ => format!("setresgid {}", user.gid),
        };
        Report::failed(Step::User, e, detail)
    })?;
    let uid = Uid::from_raw(user.uid);
    nix::unistd::setresuid(uid, uid, uid).map_err(|e| {
        let detail = match e {
            Errno::EINVAL => unmapped("user", user.uid),
            _ => format!("setresuid {}", user.uid),
        };
        Report::failed(Step::User, e, detail)
    })?;
    // A change of uid clears the parent-death signal (prctl(2)): arm it again, or a non-root
    // container would outlive a killed monitor.
    nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)
        .map_err(errno_report(Step::Privileges, "PR_SET_PDEATHSIG"))?;
    security::apply_sets(&cap_sets).map_err(caps_failed("the capability sets"))?;
    if !p.interactive {
        let null = File::open("/dev/null")
            .map_err(|e| Report::failed_io(Step::Privileges, &e, "opening /dev/null"))?;
        nix::unistd::dup2_stdin(&null).map_err(errno_report(Step::Privileges, "stdin"))?;
    }
    nix::sys::prctl::set_no_new_privs().map_err(errno_report(Step::Privileges, "no_new_privs"))?;
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o022));
    cloexec_from(3).map_err(|e| Report::failed_io(Step::Privileges, &e, "close_range"))?;
    let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
    for filter in &filters {
        seccompiler::apply_filter(filter).map_err(|e| Report::Failed {
            step: Step::Privileges,
            errno: 0,
            detail: format!("installing the seccomp filter: {e}"),
        })?;
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
