//! Health checks, run by the container's own monitor (no systemd timers, unlike Podman).
//!
//! - this module: the check's configuration ([`HealthConfig`], from the image's
//!   `Healthcheck` and the `--health-*` flags) and its state file `health.json` beside
//!   `container.json`, in Podman's form (`Status`, `FailingStreak`, the last
//!   [`MAX_LOG_ENTRIES`] results), updated under a lock by whoever ran a check;
//! - `probe`: one check: `coracle healthcheck-probe DIR` started from `/proc/self/exe` in a
//!   process group of its own (it execs at once, so the monitor's FUSE threads are no
//!   concern), which joins the container as `exec` does; its output goes to a pipe, and the
//!   whole group is killed when the check's time is up;
//! - `schedule`: the monitor's side: a timer in its poll loop (`relay::Timer`) starting a
//!   probe every interval, recording results, acting on `--health-on-failure` and telling
//!   systemd `READY=1` for `--sdnotify=healthy`.

pub mod probe;
pub mod schedule;

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The state file, beside `container.json`.
pub const STATE_FILE: &str = "health.json";
const LOCK_FILE: &str = "health.lock";
/// The startup check's progress ([`StartupState`]), beside it.
const STARTUP_FILE: &str = "health-startup.json";
/// Podman keeps this many results.
pub const MAX_LOG_ENTRIES: usize = 5;
/// Podman keeps this much of a check's output.
pub const MAX_OUTPUT: usize = 500;

const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_RETRIES: u32 = 3;

pub const STARTING: &str = "starting";
pub const HEALTHY: &str = "healthy";
pub const UNHEALTHY: &str = "unhealthy";

/// `--health-on-failure`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnFailure {
    #[default]
    None,
    Kill,
    Restart,
    Stop,
}

impl OnFailure {
    pub fn parse(s: &str) -> Result<OnFailure, HealthError> {
        Ok(match s {
            "none" => OnFailure::None,
            "kill" => OnFailure::Kill,
            "restart" => OnFailure::Restart,
            "stop" => OnFailure::Stop,
            _ => {
                return Err(HealthError::Flag {
                    flag: "--health-on-failure",
                    value: s.into(),
                    why: "must be none, kill, restart or stop".into(),
                });
            }
        })
    }
}

/// A container's health check (a field of its spec).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthConfig {
    /// Podman's form: `["CMD-SHELL", "command"]` or `["CMD", "program", "arg"...]`.
    pub test: Vec<String>,
    /// Between two checks; zero: no timer (`--health-interval=disable`).
    pub interval_ns: u64,
    pub timeout_ns: u64,
    pub start_period_ns: u64,
    pub retries: u32,
    #[serde(default)]
    pub on_failure: OnFailure,
    /// `--health-startup-*`: the check that runs instead of this one until it passes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub startup: Option<StartupConfig>,
}

/// Podman's startup health check: run every `interval` from the container's start until it
/// passed `successes` times (any pass when 0), which starts the regular check; after
/// `retries` failures (never when 0) the container is restarted. Its results are logged
/// as the regular check's within its start period: a pass makes the container healthy, a
/// failure does not count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StartupConfig {
    pub test: Vec<String>,
    /// Zero: no timer (`--health-startup-interval=disable`).
    pub interval_ns: u64,
    pub timeout_ns: u64,
    pub retries: u32,
    pub successes: u32,
}

impl StartupConfig {
    pub fn argv(&self) -> Vec<String> {
        argv_of(&self.test)
    }

    pub fn interval(&self) -> Option<Duration> {
        (self.interval_ns > 0).then(|| Duration::from_nanos(self.interval_ns))
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_nanos(self.timeout_ns)
    }

    /// Podman's `Config.StartupHealthCheck` of `inspect`.
    pub fn to_inspect(&self) -> Value {
        serde_json::json!({
            "Test": self.test,
            "Interval": self.interval_ns,
            "Timeout": self.timeout_ns,
            "Retries": self.retries,
            "Successes": self.successes,
        })
    }
}

/// What a check's `test` executes in the container.
fn argv_of(test: &[String]) -> Vec<String> {
    match test.split_first() {
        Some((kind, rest)) if kind == "CMD-SHELL" => {
            vec!["/bin/sh".into(), "-c".into(), rest.join(" ")]
        }
        Some((kind, rest)) if kind == "CMD" => rest.to_vec(),
        _ => test.to_vec(),
    }
}

impl HealthConfig {
    /// What the probe executes in the container.
    pub fn argv(&self) -> Vec<String> {
        argv_of(&self.test)
    }

    pub fn interval(&self) -> Option<Duration> {
        (self.interval_ns > 0).then(|| Duration::from_nanos(self.interval_ns))
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_nanos(self.timeout_ns)
    }

    pub fn start_period(&self) -> Duration {
        Duration::from_nanos(self.start_period_ns)
    }

    /// Podman's `Config.Healthcheck` of `inspect`.
    pub fn to_inspect(&self) -> Value {
        serde_json::json!({
            "Test": self.test,
            "StartPeriod": self.start_period_ns,
            "Interval": self.interval_ns,
            "Timeout": self.timeout_ns,
            "Retries": self.retries,
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HealthError {
    #[error("{flag} {value:?}: {why}")]
    Flag {
        flag: &'static str,
        value: String,
        why: String,
    },
    #[error("{what} {path}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("the container has no startup healthcheck")]
    NoStartup,
    #[error("{path} is not a valid health state")]
    Parse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

/// The `--health-*` flags as given (each `None` when absent).
#[derive(Debug, Clone, Default)]
pub struct HealthFlags<'a> {
    pub cmd: Option<&'a str>,
    pub interval: Option<&'a str>,
    pub retries: Option<u32>,
    pub start_period: Option<&'a str>,
    pub timeout: Option<&'a str>,
    pub on_failure: Option<&'a str>,
    pub disabled: bool,
    pub startup_cmd: Option<&'a str>,
    pub startup_interval: Option<&'a str>,
    pub startup_retries: Option<u32>,
    pub startup_success: Option<u32>,
    pub startup_timeout: Option<&'a str>,
}

/// The container's check: the image's `Healthcheck` (`config` object of the image) with
/// the flags over it; `None` when there is none or it is disabled (`NONE`, `none`,
/// `--no-healthcheck`).
pub fn resolve(
    image: &Value,
    flags: &HealthFlags<'_>,
) -> Result<Option<HealthConfig>, HealthError> {
    let on_failure = flags
        .on_failure
        .map(OnFailure::parse)
        .transpose()?
        .unwrap_or_default();
    let image_hc = image.get("Healthcheck").filter(|v| v.is_object());
    let image_test: Vec<String> = image_hc
        .and_then(|h| h.get("Test"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    let test = match flags.cmd {
        Some(cmd) => parse_cmd("--health-cmd", cmd)?,
        None => image_test,
    };
    let startup = startup(flags)?;
    if flags.disabled || test.is_empty() || test[0] == "NONE" {
        if startup.is_some() {
            return Err(HealthError::Flag {
                flag: "--health-startup-cmd",
                value: flags.startup_cmd.unwrap_or_default().into(),
                why: "a startup healthcheck needs a regular one (--health-cmd or the image's \
                      HEALTHCHECK)"
                    .into(),
            });
        }
        return Ok(None);
    }
    let image_ns = |key: &str| {
        image_hc
            .and_then(|h| h.get(key))
            .and_then(Value::as_u64)
            .filter(|n| *n > 0)
    };
    let duration =
        |flag: &'static str, value: Option<&str>, key: &str, default: Duration| match value {
            Some(v) => parse_duration(flag, v),
            None => Ok(image_ns(key).unwrap_or(default.as_nanos() as u64)),
        };
    let interval_ns = match flags.interval {
        Some("disable") => 0,
        other => {
            let ns = duration("--health-interval", other, "Interval", DEFAULT_INTERVAL)?;
            if flags.interval.is_some() && ns == 0 {
                return Err(HealthError::Flag {
                    flag: "--health-interval",
                    value: flags.interval.unwrap_or_default().into(),
                    why: "must be greater than 0 (or disable)".into(),
                });
            }
            ns
        }
    };
    let timeout_ns = duration(
        "--health-timeout",
        flags.timeout,
        "Timeout",
        DEFAULT_TIMEOUT,
    )?;
    if timeout_ns < 1_000_000_000 {
        return Err(HealthError::Flag {
            flag: "--health-timeout",
            value: flags.timeout.unwrap_or_default().into(),
            why: "healthcheck-timeout must be at least 1 second".into(),
        });
    }
    let start_period_ns = duration(
        "--health-start-period",
        flags.start_period,
        "StartPeriod",
        Duration::ZERO,
    )?;
    let retries = flags.retries.unwrap_or_else(|| {
        image_hc
            .and_then(|h| h.get("Retries"))
            .and_then(Value::as_u64)
            .filter(|n| *n > 0)
            .map_or(DEFAULT_RETRIES, |n| n.min(u64::from(u32::MAX)) as u32)
    });
    if retries < 1 {
        return Err(HealthError::Flag {
            flag: "--health-retries",
            value: retries.to_string(),
            why: "healthcheck-retries must be greater than 0".into(),
        });
    }
    Ok(Some(HealthConfig {
        test,
        interval_ns,
        timeout_ns,
        start_period_ns,
        retries,
        on_failure,
        startup,
    }))
}

/// The `--health-startup-*` flags; the others without `--health-startup-cmd` are refused.
fn startup(flags: &HealthFlags<'_>) -> Result<Option<StartupConfig>, HealthError> {
    let Some(cmd) = flags.startup_cmd else {
        let given = [
            (
                "--health-startup-interval",
                flags.startup_interval.is_some(),
            ),
            ("--health-startup-retries", flags.startup_retries.is_some()),
            ("--health-startup-success", flags.startup_success.is_some()),
            ("--health-startup-timeout", flags.startup_timeout.is_some()),
        ];
        if let Some((flag, _)) = given.iter().find(|(_, g)| *g) {
            return Err(HealthError::Flag {
                flag,
                value: String::new(),
                why: "needs --health-startup-cmd".into(),
            });
        }
        return Ok(None);
    };
    let test = parse_cmd("--health-startup-cmd", cmd)?;
    if test[0] == "NONE" {
        return Ok(None);
    }
    let interval_ns = match flags.startup_interval {
        Some("disable") => 0,
        Some(v) => match parse_duration("--health-startup-interval", v)? {
            0 => {
                return Err(HealthError::Flag {
                    flag: "--health-startup-interval",
                    value: v.into(),
                    why: "must be greater than 0 (or disable)".into(),
                });
            }
            ns => ns,
        },
        None => DEFAULT_INTERVAL.as_nanos() as u64,
    };
    let timeout_ns = match flags.startup_timeout {
        Some(v) => parse_duration("--health-startup-timeout", v)?,
        None => DEFAULT_TIMEOUT.as_nanos() as u64,
    };
    if timeout_ns < 1_000_000_000 {
        return Err(HealthError::Flag {
            flag: "--health-startup-timeout",
            value: flags.startup_timeout.unwrap_or_default().into(),
            why: "must be at least 1 second".into(),
        });
    }
    Ok(Some(StartupConfig {
        test,
        interval_ns,
        timeout_ns,
        retries: flags.startup_retries.unwrap_or(0),
        successes: flags.startup_success.unwrap_or(0),
    }))
}

/// `--health-cmd`: a JSON array is taken as given (`CMD` first, or `CMD` added), anything
/// else is a shell command; `none` disables.
fn parse_cmd(flag: &'static str, cmd: &str) -> Result<Vec<String>, HealthError> {
    let trimmed = cmd.trim();
    if trimmed.is_empty() {
        return Err(HealthError::Flag {
            flag,
            value: cmd.into(),
            why: "must not be empty".into(),
        });
    }
    if trimmed.eq_ignore_ascii_case("none") {
        return Ok(vec!["NONE".into()]);
    }
    if trimmed.starts_with('[')
        && let Ok(list) = serde_json::from_str::<Vec<String>>(trimmed)
    {
        return Ok(match list.first().map(String::as_str) {
            Some("CMD" | "CMD-SHELL" | "NONE") => list,
            Some(_) => std::iter::once("CMD".to_string()).chain(list).collect(),
            None => {
                return Err(HealthError::Flag {
                    flag,
                    value: cmd.into(),
                    why: "the command list is empty".into(),
                });
            }
        });
    }
    Ok(vec!["CMD-SHELL".into(), cmd.into()])
}

fn parse_duration(flag: &'static str, value: &str) -> Result<u64, HealthError> {
    crate::registry::connect::parse_duration(value)
        .map(|d| d.as_nanos() as u64)
        .map_err(|why| HealthError::Flag {
            flag,
            value: value.into(),
            why,
        })
}

/// One check's result, as Podman logs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEntry {
    #[serde(rename = "Start")]
    pub start: DateTime<Utc>,
    #[serde(rename = "End")]
    pub end: DateTime<Utc>,
    #[serde(rename = "ExitCode")]
    pub exit_code: i32,
    #[serde(rename = "Output")]
    pub output: String,
}

/// `health.json`: Podman's `State.Health`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct HealthState {
    #[serde(rename = "Status")]
    pub status: String,
    #[serde(rename = "FailingStreak")]
    pub failing_streak: u32,
    #[serde(rename = "Log", default)]
    pub log: Vec<LogEntry>,
}

impl HealthState {
    /// Adds a result as Podman does: a pass makes the container healthy; a failure after the
    /// start period adds to the streak, which at `retries` makes it unhealthy.
    pub fn record(&mut self, entry: LogEntry, retries: u32, in_start_period: bool) {
        if entry.exit_code == 0 {
            self.status = HEALTHY.into();
            self.failing_streak = 0;
        } else {
            if self.status.is_empty() {
                self.status = STARTING.into();
            }
            if !in_start_period {
                self.failing_streak += 1;
                if self.failing_streak >= retries {
                    self.status = UNHEALTHY.into();
                }
            }
        }
        self.log.push(entry);
        if self.log.len() > MAX_LOG_ENTRIES {
            let extra = self.log.len() - MAX_LOG_ENTRIES;
            self.log.drain(..extra);
        }
    }
}

/// The state of the container in `dir` (`None`: it has no check, or never had a state).
pub fn read_state(dir: &Path) -> Result<Option<HealthState>, HealthError> {
    let path = dir.join(STATE_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|source| HealthError::Parse { path, source }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(HealthError::Io {
            what: "reading",
            path,
            source,
        }),
    }
}

/// Changes the state of the container in `dir` under its lock (the monitor's checks and
/// `healthcheck run` may finish at once); returns the status before and the new state.
pub fn update(
    dir: &Path,
    change: impl FnOnce(&mut HealthState),
) -> Result<(String, HealthState), HealthError> {
    locked(dir, || {
        let mut state = read_state(dir)?.unwrap_or_default();
        let before = state.status.clone();
        change(&mut state);
        write_json(&dir.join(STATE_FILE), &state)?;
        Ok((before, state))
    })
}

/// `work` under the container's health lock.
fn locked<T>(dir: &Path, work: impl FnOnce() -> Result<T, HealthError>) -> Result<T, HealthError> {
    let lock_path = dir.join(LOCK_FILE);
    let lock = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(io_err("opening", &lock_path))?;
    let _held = nix::fcntl::Flock::lock(lock, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, e)| io_err("locking", &lock_path)(e.into()))?;
    work()
}

fn io_err(what: &'static str, path: &Path) -> impl FnOnce(io::Error) -> HealthError + use<> {
    let path = path.to_path_buf();
    move |source| HealthError::Io { what, path, source }
}

/// Writes `value` to `path` whole (a temporary file renamed over it).
fn write_json(path: &Path, value: &impl Serialize) -> Result<(), HealthError> {
    let bytes = serde_json::to_vec(value).map_err(|source| HealthError::Parse {
        path: path.to_path_buf(),
        source,
    })?;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, bytes).map_err(io_err("writing", &tmp))?;
    std::fs::rename(&tmp, path).map_err(io_err("replacing", path))
}

/// The progress of a startup check since the container started (Podman keeps it in the
/// container's state, not in `State.Health`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct StartupState {
    pub passed: bool,
    pub successes: u32,
    pub failures: u32,
}

/// What a startup check's result leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartupOutcome {
    /// Not yet decided: the next startup check runs at its interval.
    Pending,
    /// Passed: the regular check takes over.
    Passed,
    /// Failed its retries: the container is restarted.
    Restart,
}

/// Whether the container in `dir` must still pass its startup check.
pub fn in_startup(dir: &Path, config: &HealthConfig) -> bool {
    config.startup.is_some() && !read_startup(dir).passed
}

fn read_startup(dir: &Path) -> StartupState {
    std::fs::read(dir.join(STARTUP_FILE))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

/// Records a startup check's `entry` for the container in `dir`: in the log as a check of
/// the start period, and in its progress; returns the new state and what follows.
pub fn record_startup(
    dir: &Path,
    config: &HealthConfig,
    entry: LogEntry,
) -> Result<(HealthState, StartupOutcome), HealthError> {
    let Some(startup) = &config.startup else {
        return Err(HealthError::NoStartup);
    };
    locked(dir, || {
        let mut progress = read_startup(dir);
        let passed = entry.exit_code == 0;
        let mut state = read_state(dir)?.unwrap_or_default();
        state.record(entry, config.retries, true);
        write_json(&dir.join(STATE_FILE), &state)?;
        let outcome = if progress.passed {
            StartupOutcome::Passed
        } else if passed {
            progress.successes += 1;
            if progress.successes >= startup.successes {
                progress = StartupState {
                    passed: true,
                    ..StartupState::default()
                };
                StartupOutcome::Passed
            } else {
                StartupOutcome::Pending
            }
        } else {
            progress.failures += 1;
            if startup.retries != 0 && progress.failures >= startup.retries {
                StartupOutcome::Restart
            } else {
                StartupOutcome::Pending
            }
        };
        write_json(&dir.join(STARTUP_FILE), &progress)?;
        Ok((state, outcome))
    })
}

/// A container (re)started: its check starts over (`starting`; the startup check, if any,
/// runs again), its log is kept.
pub fn reset(dir: &Path) -> Result<(), HealthError> {
    locked(dir, || {
        let mut state = read_state(dir)?.unwrap_or_default();
        state.status = STARTING.into();
        state.failing_streak = 0;
        write_json(&dir.join(STATE_FILE), &state)?;
        match std::fs::remove_file(dir.join(STARTUP_FILE)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                Err(io_err("removing", &dir.join(STARTUP_FILE))(e))
            }
            _ => Ok(()),
        }
    })
}

/// Keeps at most [`MAX_OUTPUT`] bytes of `output`, cut at a character boundary.
pub fn cap_output(output: &[u8]) -> String {
    let text = String::from_utf8_lossy(output);
    if text.len() <= MAX_OUTPUT {
        return text.into_owned();
    }
    let mut end = MAX_OUTPUT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn flags() -> HealthFlags<'static> {
        HealthFlags::default()
    }

    #[test]
    fn shell_and_json_commands() {
        let c = resolve(
            &json!({}),
            &HealthFlags {
                cmd: Some("test -f /x"),
                ..flags()
            },
        )
        .unwrap()
        .unwrap();
        assert_eq!(c.test, ["CMD-SHELL", "test -f /x"]);
        assert_eq!(c.argv(), ["/bin/sh", "-c", "test -f /x"]);
        assert_eq!(c.interval(), Some(Duration::from_secs(30)));
        assert_eq!(c.timeout(), Duration::from_secs(30));
        assert_eq!(c.retries, 3);

        let c = resolve(
            &json!({}),
            &HealthFlags {
                cmd: Some(r#"["CMD", "true", "x"]"#),
                interval: Some("disable"),
                retries: Some(1),
                on_failure: Some("kill"),
                ..flags()
            },
        )
        .unwrap()
        .unwrap();
        assert_eq!(c.argv(), ["true", "x"]);
        assert_eq!(c.interval(), None);
        assert_eq!(c.on_failure, OnFailure::Kill);

        let c = resolve(
            &json!({}),
            &HealthFlags {
                cmd: Some(r#"["ls", "/"]"#),
                ..flags()
            },
        )
        .unwrap()
        .unwrap();
        assert_eq!(c.test, ["CMD", "ls", "/"]);
    }

    #[test]
    fn image_check_and_overrides() {
        let image = json!({"Healthcheck": {"Test": ["CMD-SHELL", "true"], "Interval": 5_000_000_000u64,
            "Timeout": 2_000_000_000u64, "Retries": 2}});
        let c = resolve(&image, &flags()).unwrap().unwrap();
        assert_eq!(c.interval(), Some(Duration::from_secs(5)));
        assert_eq!(c.timeout(), Duration::from_secs(2));
        assert_eq!(c.retries, 2);
        let c = resolve(
            &image,
            &HealthFlags {
                interval: Some("1m"),
                ..flags()
            },
        )
        .unwrap()
        .unwrap();
        assert_eq!(c.interval(), Some(Duration::from_secs(60)));
        assert!(
            resolve(
                &image,
                &HealthFlags {
                    disabled: true,
                    ..flags()
                }
            )
            .unwrap()
            .is_none()
        );
        assert!(
            resolve(
                &image,
                &HealthFlags {
                    cmd: Some("none"),
                    ..flags()
                }
            )
            .unwrap()
            .is_none()
        );
        assert!(
            resolve(&json!({"Healthcheck": {"Test": ["NONE"]}}), &flags())
                .unwrap()
                .is_none()
        );
        assert!(resolve(&json!({}), &flags()).unwrap().is_none());
    }

    #[test]
    fn bad_flags() {
        for f in [
            HealthFlags {
                cmd: Some("true"),
                interval: Some("5"),
                ..flags()
            },
            HealthFlags {
                cmd: Some("true"),
                interval: Some("0s"),
                ..flags()
            },
            HealthFlags {
                cmd: Some("true"),
                timeout: Some("10ms"),
                ..flags()
            },
            HealthFlags {
                cmd: Some("true"),
                retries: Some(0),
                ..flags()
            },
            HealthFlags {
                cmd: Some("true"),
                on_failure: Some("explode"),
                ..flags()
            },
            HealthFlags {
                cmd: Some(" "),
                ..flags()
            },
        ] {
            assert!(resolve(&json!({}), &f).is_err(), "{f:?}");
        }
    }

    fn entry(code: i32) -> LogEntry {
        LogEntry {
            start: Utc::now(),
            end: Utc::now(),
            exit_code: code,
            output: String::new(),
        }
    }

    #[test]
    fn status_follows_results() {
        let mut s = HealthState {
            status: STARTING.into(),
            ..HealthState::default()
        };
        s.record(entry(1), 2, true);
        assert_eq!((s.status.as_str(), s.failing_streak), (STARTING, 0));
        s.record(entry(1), 2, false);
        assert_eq!((s.status.as_str(), s.failing_streak), (STARTING, 1));
        s.record(entry(1), 2, false);
        assert_eq!((s.status.as_str(), s.failing_streak), (UNHEALTHY, 2));
        s.record(entry(0), 2, false);
        assert_eq!((s.status.as_str(), s.failing_streak), (HEALTHY, 0));
        for _ in 0..10 {
            s.record(entry(0), 2, false);
        }
        assert_eq!(s.log.len(), MAX_LOG_ENTRIES);
    }

    #[test]
    fn state_file_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read_state(dir.path()).unwrap().is_none());
        reset(dir.path()).unwrap();
        let (before, after) = update(dir.path(), |s| s.record(entry(0), 3, false)).unwrap();
        assert_eq!(before, STARTING);
        assert_eq!(after.status, HEALTHY);
        let text = std::fs::read_to_string(dir.path().join(STATE_FILE)).unwrap();
        assert!(text.contains("\"FailingStreak\":0"), "{text}");
        assert_eq!(read_state(dir.path()).unwrap().unwrap(), after);
    }

    #[test]
    fn startup_progress() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = resolve(
            &json!({}),
            &HealthFlags {
                cmd: Some("true"),
                startup_cmd: Some("test -f /up"),
                startup_success: Some(2),
                startup_retries: Some(2),
                ..flags()
            },
        )
        .unwrap()
        .unwrap();
        assert_eq!(config.startup.as_ref().unwrap().argv()[2], "test -f /up");
        reset(dir.path()).unwrap();
        let record = |code| record_startup(dir.path(), &config, entry(code)).unwrap();
        assert!(in_startup(dir.path(), &config));
        let (state, outcome) = record(1);
        assert_eq!(
            (state.status.as_str(), outcome),
            (STARTING, StartupOutcome::Pending)
        );
        assert_eq!(state.failing_streak, 0);
        assert_eq!(record(0).1, StartupOutcome::Pending);
        let (state, outcome) = record(0);
        assert_eq!(
            (state.status.as_str(), outcome),
            (HEALTHY, StartupOutcome::Passed)
        );
        assert!(!in_startup(dir.path(), &config));
        // A restart starts it over; failures reach the retries.
        reset(dir.path()).unwrap();
        assert!(in_startup(dir.path(), &config));
        assert_eq!(record(1).1, StartupOutcome::Pending);
        assert_eq!(record(1).1, StartupOutcome::Restart);
        config.startup = None;
        assert!(!in_startup(dir.path(), &config));
    }

    #[test]
    fn output_is_capped() {
        assert_eq!(cap_output(b"ok\n"), "ok\n");
        let long = "é".repeat(400);
        let capped = cap_output(long.as_bytes());
        assert!(capped.len() <= MAX_OUTPUT && capped.len() >= MAX_OUTPUT - 1);
    }
}
