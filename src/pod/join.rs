//! A container of a pod: its monitor joins the user namespace of the pod's pause process
//! (instead of making one: containers of a pod share it, so they may share its other
//! namespaces) and makes only a mount namespace of its own; before the init is cloned, the
//! monitor joins the shared network, UTS and IPC namespaces, which the clone then does not
//! create ([`enter_shared`]).
//!
//! The pause process is found from the pod's record and held by a pidfd, trusted only as a
//! living child of the infra's monitor the record names (pid and start time), as
//! `runtime::join` does for a container's init.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use nix::sched::CloneFlags;
use serde::{Deserialize, Serialize};

use super::infra;
use super::record::{self, PodRecord};
use crate::runtime::channel::{Report, Step};
use crate::runtime::spec::ContainerSpec;
use crate::runtime::userns::{self, NamespacedChild};

/// What a container's spec says about its pod.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodJoin {
    pub id: String,
    /// The pod's directory (`<graphroot>/pods/<id>`).
    pub dir: PathBuf,
    /// The namespaces shared: of `ipc`, `net`, `pid`, `uts`.
    pub share: Vec<String>,
}

impl PodJoin {
    /// The clone flags of the shared namespaces.
    pub fn flags(&self) -> CloneFlags {
        let mut flags = CloneFlags::empty();
        for s in &self.share {
            flags |= match s.as_str() {
                "ipc" => CloneFlags::CLONE_NEWIPC,
                "net" => CloneFlags::CLONE_NEWNET,
                "pid" => CloneFlags::CLONE_NEWPID,
                "uts" => CloneFlags::CLONE_NEWUTS,
                _ => CloneFlags::empty(),
            };
        }
        flags
    }
}

#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    #[error("the infra process of pod {0} does not run")]
    NotRunning(String),
    #[error("opening a pidfd for the infra process {pid} of pod {pod}")]
    Pidfd {
        pod: String,
        pid: i32,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Infra(#[from] infra::InfraError),
    #[error(transparent)]
    Record(#[from] record::PodError),
    #[error("starting the container's monitor in the user namespace of pod {pod}")]
    Spawn {
        pod: String,
        #[source]
        source: userns::UserNsError,
    },
}

/// A pidfd of the pod's pause process, checked to be the infra monitor's living child.
pub(super) fn pause_pidfd(rec: &PodRecord) -> Result<OwnedFd, JoinError> {
    let infra = rec
        .live_infra()
        .ok_or_else(|| JoinError::NotRunning(rec.name.clone()))?;
    let raw = rustix::process::Pid::from_raw(infra.pid)
        .ok_or_else(|| JoinError::NotRunning(rec.name.clone()))?;
    let fd =
        rustix::process::pidfd_open(raw, rustix::process::PidfdFlags::empty()).map_err(|e| {
            JoinError::Pidfd {
                pod: rec.name.clone(),
                pid: infra.pid,
                source: e.into(),
            }
        })?;
    // After the pidfd: the pid is the pause process if it is still the monitor's child.
    let parent = std::fs::read_to_string(format!("/proc/{}/stat", infra.pid))
        .ok()
        .and_then(|t| {
            let rest = t[t.rfind(')')? + 1..].to_string();
            rest.split_ascii_whitespace().nth(1)?.parse::<i32>().ok()
        });
    if parent != Some(infra.monitor_pid) || !infra.monitor().is_alive() {
        return Err(JoinError::NotRunning(rec.name.clone()));
    }
    Ok(fd)
}

/// Forks the monitor of `spec` with `body`: in a new user namespace of its own
/// (`userns::spawn_process`), or, for a container of a pod, in the pod's (its infra started
/// first if it does not run). Call single-threaded.
pub fn spawn_monitor<F>(spec: &ContainerSpec, body: F) -> anyhow::Result<NamespacedChild>
where
    F: FnOnce() -> i32,
{
    let Some(pod) = &spec.pod else {
        return Ok(userns::spawn_process(&spec.mapping, body)?);
    };
    let rec = infra::ensure(&pod.dir)?;
    if spec.mapping.is_identity() {
        return Ok(userns::spawn_process(&spec.mapping, body)?);
    }
    let pidfd = pause_pidfd(&rec)?;
    let child = userns::spawn_process_joined(&pidfd, body).map_err(|source| JoinError::Spawn {
        pod: rec.name.clone(),
        source,
    })?;
    Ok(child)
}

/// In the monitor, before the init is cloned: joins the pod's shared namespaces; the flags
/// the clone must then leave out (none for a container without a pod).
pub fn enter_shared(spec: &ContainerSpec) -> Result<CloneFlags, Report> {
    let Some(pod) = &spec.pod else {
        return Ok(CloneFlags::empty());
    };
    let fail = |e: JoinError| Report::Failed {
        step: Step::Join,
        errno: 0,
        detail: format!("{:#}", anyhow::Error::new(e)),
    };
    let rec = record::read(&pod.dir).map_err(|e| fail(e.into()))?;
    let pidfd = pause_pidfd(&rec).map_err(fail)?;
    let flags = pod.flags();
    nix::sched::setns(&pidfd, flags).map_err(|e| {
        Report::failed(
            Step::Join,
            e,
            format!("joining the namespaces of pod {}", rec.name),
        )
    })?;
    Ok(flags)
}

/// The pod directory of a pod ID.
pub fn pod_dir(graphroot: &Path, id: &str) -> PathBuf {
    record::Pods::new(graphroot).path(id)
}
