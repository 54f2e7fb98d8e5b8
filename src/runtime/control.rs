//! A container's processes seen from outside its monitor: `stop`, `kill`, `wait`, `top`,
//! `rm -f` and `restart` find, signal and wait for them here.
//!
//! The container's init is the monitor's child (`monitor.rs`); the record names both, the
//! monitor by pid and start time. The init is opened as a pidfd first and only then checked
//! to be a live child of that very monitor, so a signal can never reach a process that
//! reused a pid: while the monitor lives and has not reaped the init, its pid stays taken.
//! Signals from outside reach processes of the container's user namespace because the user
//! owns that namespace and so holds every capability in it (user_namespaces(7)); a PID 1
//! takes from an ancestor namespace only the signals it handles, and SIGKILL
//! (pid_namespaces(7)), as in Podman.
//!
//! The record is the truth about the end: the monitor writes `exited` with the status once
//! the init is reaped. A record that says `running` while its monitor is gone (killed) is
//! corrected here: the init died with its monitor (`PR_SET_PDEATHSIG`).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::Utc;
use serde::{Deserialize, Serialize};

use super::{monitor_lock, signals};
use crate::store::containers::{self, ContainerError, ContainerRecord, State};
use crate::sys::pidfd::{Pidfd, proc_stat};
use crate::sys::process::ProcessIdentity;

/// Seconds `stop` waits after the stop signal before SIGKILL (Podman's default).
pub const DEFAULT_STOP_TIMEOUT: u32 = 10;
/// How long a monitor may take to record its container's end once the init is gone (it
/// unmounts the overlay first), and an init to go after SIGKILL.
const RECORD_WAIT: Duration = Duration::from_secs(30);
/// The status of a container killed with its monitor (SIGKILL).
const KILLED: i32 = 128 + signals::SIGKILL;
const POLL: Duration = Duration::from_millis(20);

/// What `run`/`create` were told about stopping the container, kept in its record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ControlSettings {
    /// `--stop-signal` or the image's `StopSignal`; SIGTERM when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<i32>,
    /// `--stop-timeout`; 10 seconds when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_timeout: Option<u32>,
    /// `--cidfile`: removed with the container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cidfile: Option<PathBuf>,
}

impl ControlSettings {
    pub fn stop_signal(&self) -> i32 {
        self.stop_signal.unwrap_or(signals::SIGTERM)
    }

    pub fn stop_timeout(&self) -> u32 {
        self.stop_timeout.unwrap_or(DEFAULT_STOP_TIMEOUT)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error(transparent)]
    Record(#[from] ContainerError),
    #[error(transparent)]
    Lock(#[from] monitor_lock::LockError),
    #[error("reading /proc/{pid}")]
    Proc {
        pid: i32,
        #[source]
        source: std::io::Error,
    },
    #[error("sending {} to the init (pid {pid})", signals::name(*.signal))]
    Signal {
        pid: i32,
        signal: i32,
        #[source]
        source: std::io::Error,
    },
    #[error("waiting for the init (pid {pid}) to end")]
    Wait {
        pid: i32,
        #[source]
        source: std::io::Error,
    },
    #[error("the container's init (pid {pid}) is still there {secs} seconds after SIGKILL")]
    Unkillable { pid: i32, secs: u64 },
    #[error(
        "the container's monitor (pid {pid}) did not record the container's end within {secs} \
         seconds"
    )]
    NotRecorded { pid: i32, secs: u64 },
}

/// The monitor a record names, if it names one.
pub fn monitor_of(rec: &ContainerRecord) -> Option<ProcessIdentity> {
    Some(ProcessIdentity {
        pid: rec.monitor_pid?,
        start_time: rec.monitor_start?,
    })
}

/// Whether the record describes a container that runs now (its monitor alive).
pub fn is_running(rec: &ContainerRecord) -> bool {
    rec.state == State::Running && monitor_of(rec).is_some_and(|m| m.is_alive())
}

/// A running container's init, held by a pidfd.
#[derive(Debug)]
pub struct Init {
    fd: Pidfd,
}

impl Init {
    /// Opens the init of the container `rec` describes; `None` when it does not run (any
    /// more): not recorded running, its monitor gone, or the init already ended.
    pub fn open(rec: &ContainerRecord) -> Result<Option<Init>, ControlError> {
        let (Some(monitor), Some(pid), State::Running) = (monitor_of(rec), rec.pid, rec.state)
        else {
            return Ok(None);
        };
        let proc_err = |source| ControlError::Proc { pid, source };
        let Some(fd) = Pidfd::open(pid).map_err(proc_err)? else {
            return Ok(None);
        };
        // After the pidfd: if `pid` is now the monitor's child, the descriptor holds either
        // that child or a process already gone (signals to it fail with ESRCH).
        let Some(stat) = proc_stat(pid).map_err(proc_err)? else {
            return Ok(None);
        };
        if stat.ppid != monitor.pid || matches!(stat.state, 'Z' | 'X') || !monitor.is_alive() {
            return Ok(None);
        }
        Ok(Some(Init { fd }))
    }

    pub fn pid(&self) -> i32 {
        self.fd.pid()
    }

    /// Sends `signal`; `false` when the init was already gone.
    pub fn signal(&self, signal: i32) -> Result<bool, ControlError> {
        self.fd
            .send_signal(signal)
            .map_err(|source| ControlError::Signal {
                pid: self.pid(),
                signal,
                source,
            })
    }

    /// Waits for the init's end, `timeout` at most (`None`: forever); whether it ended.
    pub fn wait(&self, timeout: Option<Duration>) -> Result<bool, ControlError> {
        self.fd
            .wait_exit(timeout)
            .map_err(|source| ControlError::Wait {
                pid: self.pid(),
                source,
            })
    }
}

/// How a stop went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// It was not running.
    NotRunning,
    /// It ended after the stop signal.
    BySignal,
    /// It ignored the stop signal for the whole timeout and was killed.
    Killed { signal: i32, timeout: u64 },
}

/// Stops the container in `dir`: `stop_requested` recorded, its stop signal sent to the
/// init, `timeout` seconds given (`None`: the container's own; negative: forever), then
/// SIGKILL; returns once the record says the container exited. A record left `running` by
/// a dead monitor is corrected.
pub fn stop(dir: &Path, timeout: Option<i64>) -> Result<Stopped, ControlError> {
    let rec = containers::read(dir)?;
    if !is_running(&rec) {
        if monitor_lock::is_held(dir)? {
            return stop_between_runs(dir, timeout);
        }
        correct_dead_monitor(dir)?;
        return Ok(Stopped::NotRunning);
    }
    let rec = containers::update(dir, |r| r.stop_requested = true)?;
    let signal = rec.control.stop_signal();
    let timeout = timeout.unwrap_or_else(|| i64::from(rec.control.stop_timeout()));
    let grace = u64::try_from(timeout).ok().map(Duration::from_secs);
    let mut outcome = Stopped::BySignal;
    if let Some(init) = Init::open(&rec)? {
        let gone = !init.signal(signal)? || init.wait(grace)?;
        if !gone {
            outcome = Stopped::Killed {
                signal,
                timeout: timeout.max(0) as u64,
            };
            kill_and_wait(&init)?;
        }
    }
    wait_recorded(dir, &rec)?;
    Ok(outcome)
}

/// Stops a container whose monitor lives while the container does not run: its root being
/// built, or a pause between restarts (`--restart`). The stop is recorded (no restart
/// follows, and a start under way ends at once: its monitor forwards the signal to the
/// init), the monitor signalled (a pause ends on it), and its end awaited; a container that
/// reaches `running` meanwhile is stopped as any other.
fn stop_between_runs(dir: &Path, timeout: Option<i64>) -> Result<Stopped, ControlError> {
    containers::update(dir, |r| r.stop_requested = true)?;
    let deadline = Instant::now() + RECORD_WAIT;
    let mut signalled = None;
    loop {
        if !monitor_lock::is_held(dir)? {
            return Ok(Stopped::NotRunning);
        }
        let now = match containers::read(dir) {
            Ok(r) => r,
            // Removed by its own monitor (`--rm`).
            Err(ContainerError::Read { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                return Ok(Stopped::NotRunning);
            }
            Err(e) => return Err(e.into()),
        };
        if is_running(&now) {
            return stop(dir, timeout);
        }
        if let Some(monitor) = monitor_of(&now)
            && signalled != Some(monitor)
            && monitor
                .signal(signals::SIGTERM)
                .map_err(|source| ControlError::Signal {
                    pid: monitor.pid,
                    signal: signals::SIGTERM,
                    source,
                })?
        {
            signalled = Some(monitor);
        }
        if Instant::now() > deadline {
            return Err(ControlError::NotRecorded {
                pid: monitor_of(&now).map_or(0, |m| m.pid),
                secs: RECORD_WAIT.as_secs(),
            });
        }
        std::thread::sleep(POLL);
    }
}

/// SIGKILL to the init, and its end awaited.
fn kill_and_wait(init: &Init) -> Result<(), ControlError> {
    if init.signal(signals::SIGKILL)? && !init.wait(Some(RECORD_WAIT))? {
        return Err(ControlError::Unkillable {
            pid: init.pid(),
            secs: RECORD_WAIT.as_secs(),
        });
    }
    Ok(())
}

/// Waits until the record no longer says `running` for the monitor `rec` names (a new start
/// writes another monitor), correcting it if that monitor dies without writing.
fn wait_recorded(dir: &Path, rec: &ContainerRecord) -> Result<(), ControlError> {
    let Some(monitor) = monitor_of(rec) else {
        return Ok(());
    };
    let deadline = Instant::now() + RECORD_WAIT;
    loop {
        let now = match containers::read(dir) {
            Ok(r) => r,
            // Removed meanwhile (`run --rm` in the foreground): it has ended.
            Err(ContainerError::Read { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        };
        if now.state != State::Running || monitor_of(&now) != Some(monitor) {
            // The monitor still removes its run directory after writing the record: a start
            // right after this stop must not have its new socket removed under it.
            while monitor.is_alive() && Instant::now() < deadline {
                std::thread::sleep(POLL);
            }
            return Ok(());
        }
        if !monitor.is_alive() {
            correct_dead_monitor(dir)?;
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(ControlError::NotRecorded {
                pid: monitor.pid,
                secs: RECORD_WAIT.as_secs(),
            });
        }
        std::thread::sleep(POLL);
    }
}

/// Rewrites a record that says `running` while its monitor is gone: exited, killed with it.
pub fn correct_dead_monitor(dir: &Path) -> Result<(), ControlError> {
    let rec = containers::read(dir)?;
    if rec.state != State::Running || is_running(&rec) {
        return Ok(());
    }
    containers::update(dir, |r| {
        // Checked again under the record's lock: a start may have come in between.
        if r.state == State::Running && !is_running(r) {
            r.state = State::Exited;
            r.exit_code = Some(r.exit_code.unwrap_or(KILLED));
            r.finished_at = Some(r.finished_at.unwrap_or_else(Utc::now));
            r.pid = None;
            r.monitor_pid = None;
            r.monitor_start = None;
        }
    })?;
    Ok(())
}

/// Sends `signal` to the container's init; `false` when it does not run.
pub fn kill(rec: &ContainerRecord, signal: i32) -> Result<bool, ControlError> {
    match Init::open(rec)? {
        Some(init) => init.signal(signal),
        None => Ok(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_default_to_podmans() {
        let s = ControlSettings::default();
        assert_eq!(s.stop_signal(), 15);
        assert_eq!(s.stop_timeout(), 10);
        let s: ControlSettings =
            serde_json::from_str(r#"{"stop_signal":1,"stop_timeout":2}"#).unwrap();
        assert_eq!((s.stop_signal(), s.stop_timeout()), (1, 2));
        assert_eq!(
            serde_json::to_string(&ControlSettings::default()).unwrap(),
            "{}"
        );
    }
}
