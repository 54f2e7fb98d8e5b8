//! The monitor's health checks: a [`Timer`] of its poll loop that starts a probe every
//! interval (the first right after the start; with a startup check, that one at its own
//! interval until it passed, then the regular one at once), records each result, emits
//! `health_status`, acts once the container turns unhealthy (`--health-on-failure`) and,
//! for `--sdnotify=healthy`, tells systemd `READY=1` at the first passing check.

use std::os::fd::BorrowedFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use nix::unistd::Pid;

use super::probe::Probe;
use super::{HealthConfig, HealthState, LogEntry, OnFailure, StartupOutcome, UNHEALTHY};
use crate::events::{Event, EventLog};
use crate::runtime::relay::Timer;
use crate::runtime::sdnotify::Notifier;
use crate::store::containers;

/// Marks a container its health check asked to restart (read by the monitor once the init
/// ended: it starts again whatever its restart policy says).
const RESTART_MARK: &str = "health-restart";

/// Who the events name.
#[derive(Debug, Clone)]
pub struct Subject {
    pub id: String,
    pub name: String,
    pub image: String,
    pub events: EventLog,
}

impl Subject {
    /// The container in `dir`, its events going to the store at `graphroot`.
    pub fn read(dir: &Path, graphroot: &Path) -> Option<Subject> {
        let rec = containers::read(dir).ok()?;
        Some(Subject {
            name: rec.names.first().cloned().unwrap_or_default(),
            id: rec.id,
            image: rec.image,
            events: EventLog::new(graphroot),
        })
    }

    pub fn health_status(&self, status: &str) {
        let mut e = Event::container("health_status", &self.id, &self.name, &self.image);
        e.attributes
            .insert("health_status".into(), status.to_string());
        self.events.record(&e);
    }
}

/// Records `entry` for the container in `dir` (started `since` ago), emits the event, and
/// returns the new state and whether it just turned unhealthy.
pub fn apply(
    dir: &Path,
    config: &HealthConfig,
    entry: LogEntry,
    since: Duration,
    subject: Option<&Subject>,
) -> Result<(HealthState, bool), super::HealthError> {
    let in_start_period = since < config.start_period();
    let (before, state) = super::update(dir, |s| s.record(entry, config.retries, in_start_period))?;
    if let Some(s) = subject {
        s.health_status(&state.status);
    }
    Ok((
        state.clone(),
        before != UNHEALTHY && state.status == UNHEALTHY,
    ))
}

/// `--health-on-failure=restart` from outside the monitor's loop: marked, then killed.
pub fn request_restart(dir: &Path) {
    let _ = std::fs::write(dir.join(RESTART_MARK), b"");
}

/// Whether a health check asked for a restart since the container started (the mark is
/// taken away).
pub fn take_restart(dir: &Path) -> bool {
    std::fs::remove_file(dir.join(RESTART_MARK)).is_ok()
}

/// The checks of one start of the container.
#[derive(Debug)]
pub struct Checker {
    config: HealthConfig,
    dir: PathBuf,
    init: Pid,
    started: Instant,
    next: Option<Instant>,
    probe: Option<Probe>,
    /// Whether the probe under way is the startup check.
    probe_startup: bool,
    subject: Option<Subject>,
    /// `--sdnotify=healthy`: sent `MAINPID`+`READY=1` at the first pass, then dropped.
    ready: Option<Notifier>,
    /// `--health-on-failure=stop`: SIGKILL at this time if the stop signal did not do.
    escalate: Option<Instant>,
}

impl Checker {
    /// The checks of the container in `dir` whose init is `init`, just started; its state
    /// starts over (`starting`).
    pub fn new(
        config: HealthConfig,
        dir: &Path,
        init: Pid,
        graphroot: &Path,
        ready: Option<Notifier>,
    ) -> Checker {
        let _ = super::reset(dir);
        let _ = take_restart(dir);
        let now = Instant::now();
        let first = match &config.startup {
            Some(s) => s.interval(),
            None => config.interval(),
        };
        Checker {
            next: first.map(|_| now),
            config,
            dir: dir.to_path_buf(),
            init,
            started: now,
            probe: None,
            probe_startup: false,
            subject: Subject::read(dir, graphroot),
            ready,
            escalate: None,
        }
    }

    fn finish(&mut self, entry: LogEntry, startup: bool) {
        if startup {
            return self.finish_startup(entry);
        }
        let passed = entry.exit_code == 0;
        let since = self.started.elapsed();
        let Ok((_, turned_unhealthy)) =
            apply(&self.dir, &self.config, entry, since, self.subject.as_ref())
        else {
            return;
        };
        if passed && let Some(n) = self.ready.take() {
            let _ = n.notify(&format!("MAINPID={}\nREADY=1", std::process::id()));
        }
        if turned_unhealthy {
            self.act();
        }
    }

    fn finish_startup(&mut self, entry: LogEntry) {
        let passed = entry.exit_code == 0;
        let Ok((state, outcome)) = super::record_startup(&self.dir, &self.config, entry) else {
            return;
        };
        if let Some(s) = &self.subject {
            s.health_status(&state.status);
        }
        if passed && let Some(n) = self.ready.take() {
            let _ = n.notify(&format!("MAINPID={}\nREADY=1", std::process::id()));
        }
        match outcome {
            StartupOutcome::Pending => {}
            StartupOutcome::Passed => {
                self.next = self.config.interval().map(|_| Instant::now());
            }
            StartupOutcome::Restart => {
                request_restart(&self.dir);
                let _ = nix::sys::signal::kill(self.init, Signal::SIGKILL);
            }
        }
    }

    /// The interval and timeout of the next check, and whether it is the startup check
    /// (until it passed, here or by `healthcheck run`).
    fn next_check(&self) -> (Option<Duration>, Duration, bool) {
        match &self.config.startup {
            Some(s) if super::in_startup(&self.dir, &self.config) => {
                (s.interval(), s.timeout(), true)
            }
            _ => (self.config.interval(), self.config.timeout(), false),
        }
    }

    fn act(&mut self) {
        match self.config.on_failure {
            OnFailure::None => {}
            OnFailure::Kill => {
                let _ = nix::sys::signal::kill(self.init, Signal::SIGKILL);
            }
            OnFailure::Restart => {
                request_restart(&self.dir);
                let _ = nix::sys::signal::kill(self.init, Signal::SIGKILL);
            }
            OnFailure::Stop => {
                let rec = containers::update(&self.dir, |r| r.stop_requested = true).ok();
                let (signal, grace) = rec.map_or((libc::SIGTERM, 10), |r| {
                    (r.control.stop_signal(), r.control.stop_timeout())
                });
                if let Ok(sig) = Signal::try_from(signal) {
                    let _ = nix::sys::signal::kill(self.init, sig);
                }
                self.escalate = Some(Instant::now() + Duration::from_secs(u64::from(grace)));
            }
        }
    }
}

impl Timer for Checker {
    fn fd(&self) -> Option<BorrowedFd<'_>> {
        self.probe.as_ref().map(Probe::fd)
    }

    fn deadline(&self) -> Option<Instant> {
        let check = match &self.probe {
            Some(p) => Some(p.deadline()),
            None => self.next,
        };
        match (check, self.escalate) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn wake(&mut self, now: Instant) {
        if self.escalate.is_some_and(|at| now >= at) {
            self.escalate = None;
            let _ = nix::sys::signal::kill(self.init, Signal::SIGKILL);
        }
        if let Some(probe) = &mut self.probe {
            match probe.poll(now) {
                Ok(None) => return,
                Ok(Some(entry)) => {
                    self.probe = None;
                    self.finish(entry, self.probe_startup);
                }
                Err(_) => self.probe = None,
            }
        }
        if let Some(at) = self.next
            && now >= at
            && self.probe.is_none()
        {
            let (interval, timeout, startup) = self.next_check();
            self.next = interval.map(|i| now + i);
            match Probe::spawn(&self.dir, timeout, startup) {
                Ok(p) => {
                    self.probe = Some(p);
                    self.probe_startup = startup;
                }
                Err(e) => {
                    let entry = LogEntry {
                        start: chrono::Utc::now(),
                        end: chrono::Utc::now(),
                        exit_code: 125,
                        output: format!("starting the health check: {e}"),
                    };
                    self.finish(entry, startup);
                }
            }
        }
    }
}
