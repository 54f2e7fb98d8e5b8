//! What the monitor needs to know about a container's life beyond the process it runs: its
//! terminal, where its output goes (`--log-driver`, `--log-opt`) and whether it is started
//! again when it ends (`--restart`). Parsed from the command line with Podman's spellings and
//! kept in `spec.json` ([`super::spec::ContainerSpec::lifecycle`]).

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// A container's lifecycle settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lifecycle {
    /// `-t`: the command's standard streams are a terminal the monitor holds the master of.
    #[serde(default)]
    pub tty: bool,
    #[serde(default)]
    pub log: LogConfig,
    #[serde(default)]
    pub restart: RestartPolicy,
}

/// `--log-driver`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LogDriver {
    /// Kubernetes' file format, written by the monitor (Podman's `k8s-file`).
    #[default]
    K8sFile,
    /// Nothing is kept.
    None,
    /// The container writes to the command's own standard streams (foreground only).
    Passthrough,
}

/// The size a log may reach before it is rotated when `--log-opt max-size` does not say:
/// a log is never unbounded (one rotated generation is kept beside it).
pub const DEFAULT_LOG_MAX: u64 = 64 * 1000 * 1000;

/// `--log-driver` and `--log-opt`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogConfig {
    #[serde(default)]
    pub driver: LogDriver,
    /// `path=`: the log file (default `<container dir>/userdata/ctr.log`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// `max-size=`, in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_size: Option<u64>,
}

impl LogConfig {
    /// The settings from `--log-driver` and the `--log-opt` values.
    pub fn parse(driver: Option<&str>, opts: &[String]) -> Result<LogConfig, LifecycleError> {
        let driver = match driver {
            None | Some("k8s-file") => LogDriver::K8sFile,
            Some("none") => LogDriver::None,
            Some("passthrough") => LogDriver::Passthrough,
            Some(other) => return Err(LifecycleError::LogDriver(other.to_string())),
        };
        let mut cfg = LogConfig {
            driver,
            ..LogConfig::default()
        };
        for opt in opts {
            match opt.split_once('=') {
                Some(("max-size", v)) => {
                    let size = parse_size(v).ok_or_else(|| LifecycleError::Size(v.to_string()))?;
                    cfg.max_size = (size > 0).then_some(size);
                }
                Some(("path", v)) if v.starts_with('/') => cfg.path = Some(PathBuf::from(v)),
                Some(("path", v)) => return Err(LifecycleError::LogPath(v.to_string())),
                // Podman accepts these and coracle has nothing to do for them.
                Some(("tag" | "max-file", _)) => {}
                _ => return Err(LifecycleError::LogOpt(opt.clone())),
            }
        }
        Ok(cfg)
    }

    /// The size at which the log is rotated.
    pub fn limit(&self) -> u64 {
        self.max_size.unwrap_or(DEFAULT_LOG_MAX)
    }
}

/// A size with an optional unit as Podman reads `max-size` (`10m`, `1k`, `512`, `2MiB`):
/// k, m, g, t are powers of 1000, and of 1024 with an `i`.
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let digits = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(digits);
    let num: f64 = num.parse().ok()?;
    let unit = unit.to_ascii_lowercase();
    let unit = unit.strip_suffix('b').unwrap_or(&unit);
    let (unit, base) = match unit.strip_suffix('i') {
        Some(u) => (u, 1024f64),
        None => (unit, 1000f64),
    };
    let power = match unit {
        "" => 0,
        "k" => 1,
        "m" => 2,
        "g" => 3,
        "t" => 4,
        _ => return None,
    };
    let v = num * base.powi(power);
    (v.is_finite() && v >= 0.0).then_some(v as u64)
}

/// `--restart`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RestartPolicy {
    #[default]
    No,
    /// Restarted after a non-zero exit, at most `max` times (0: no limit).
    OnFailure {
        max: u32,
    },
    Always,
    /// As `always` (a container a user stopped is never restarted by its monitor anyway).
    UnlessStopped,
}

impl RestartPolicy {
    pub fn parse(s: &str) -> Result<RestartPolicy, LifecycleError> {
        let bad = || LifecycleError::Restart(s.to_string());
        Ok(match s.split_once(':') {
            None if s.is_empty() || s == "no" => RestartPolicy::No,
            None if s == "always" => RestartPolicy::Always,
            None if s == "unless-stopped" => RestartPolicy::UnlessStopped,
            None if s == "on-failure" => RestartPolicy::OnFailure { max: 0 },
            Some(("on-failure", n)) => RestartPolicy::OnFailure {
                max: n.parse().map_err(|_| bad())?,
            },
            Some(_) => return Err(LifecycleError::RestartRetries(s.to_string())),
            None => return Err(bad()),
        })
    }

    /// Whether a container that ended with `status` after `restarts` restarts is started
    /// again; `stopped`: a user stopped or killed it (`stop`, `kill`).
    pub fn restarts(self, status: i32, restarts: u32, stopped: bool) -> bool {
        if stopped {
            return false;
        }
        match self {
            RestartPolicy::No => false,
            RestartPolicy::Always | RestartPolicy::UnlessStopped => true,
            RestartPolicy::OnFailure { max } => status != 0 && (max == 0 || restarts < max),
        }
    }
}

impl fmt::Display for RestartPolicy {
    /// Podman's `HostConfig.RestartPolicy.Name`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RestartPolicy::No => "no",
            RestartPolicy::OnFailure { .. } => "on-failure",
            RestartPolicy::Always => "always",
            RestartPolicy::UnlessStopped => "unless-stopped",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LifecycleError {
    #[error("--log-driver {0}: unknown log driver (k8s-file, none and passthrough are supported)")]
    LogDriver(String),
    #[error("--log-opt {0}: unknown log option (max-size=SIZE and path=FILE are supported)")]
    LogOpt(String),
    #[error("--log-opt max-size={0}: not a size (e.g. 10m, 512k)")]
    Size(String),
    #[error("--log-opt path={0}: the log path must be absolute")]
    LogPath(String),
    #[error("--restart {0}: invalid restart policy (no, on-failure[:N], always, unless-stopped)")]
    Restart(String),
    #[error("--restart {0}: restart retries may only be given with on-failure")]
    RestartRetries(String),
}

/// The key sequence that detaches a client from a container's terminal (`--detach-keys`):
/// Docker's syntax, comma-separated `ctrl-<letter>`, `ctrl-@`, `ctrl-[`, `ctrl-\\`,
/// `ctrl-]`, `ctrl-^`, `ctrl-_` or single characters; empty disables detaching.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DetachKeys(pub Vec<u8>);

/// Podman's default, ^P^Q.
pub const DEFAULT_DETACH_KEYS: &str = "ctrl-p,ctrl-q";

impl DetachKeys {
    pub fn parse(s: &str) -> Result<DetachKeys, String> {
        if s.is_empty() {
            return Ok(DetachKeys(Vec::new()));
        }
        let mut keys = Vec::new();
        for part in s.split(',') {
            let key = if let Some(c) = part.strip_prefix("ctrl-") {
                match c.as_bytes() {
                    [b @ b'a'..=b'z'] => b - b'a' + 1,
                    [b @ b'A'..=b'Z'] => b - b'A' + 1,
                    [b'@'] => 0,
                    [b'['] => 27,
                    [b'\\'] => 28,
                    [b']'] => 29,
                    [b'^'] => 30,
                    [b'_'] => 31,
                    _ => return Err(format!("invalid detach key {part:?} in {s:?}")),
                }
            } else if part.len() == 1 {
                part.as_bytes()[0]
            } else {
                return Err(format!("invalid detach key {part:?} in {s:?}"));
            };
            keys.push(key);
        }
        Ok(DetachKeys(keys))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        for (s, want) in [
            ("10m", Some(10_000_000)),
            ("10M", Some(10_000_000)),
            ("10mb", Some(10_000_000)),
            ("1k", Some(1000)),
            ("2MiB", Some(2 << 20)),
            ("512", Some(512)),
            ("1.5k", Some(1500)),
            ("x", None),
            ("10q", None),
        ] {
            assert_eq!(parse_size(s), want, "{s}");
        }
    }

    #[test]
    fn log_options() {
        let c = LogConfig::parse(Some("k8s-file"), &["max-size=1k".into()]).unwrap();
        assert_eq!(c.max_size, Some(1000));
        assert_eq!(c.limit(), 1000);
        assert_eq!(
            LogConfig::parse(None, &[]).unwrap().limit(),
            DEFAULT_LOG_MAX
        );
        let c = LogConfig::parse(None, &["path=/tmp/x.log".into()]).unwrap();
        assert_eq!(c.path, Some(PathBuf::from("/tmp/x.log")));
        assert!(LogConfig::parse(None, &["path=rel".into()]).is_err());
        assert!(LogConfig::parse(Some("journald"), &[]).is_err());
        assert!(LogConfig::parse(None, &["bogus=1".into()]).is_err());
        assert_eq!(
            LogConfig::parse(Some("none"), &[]).unwrap().driver,
            LogDriver::None
        );
    }

    #[test]
    fn restart_policies() {
        use RestartPolicy::*;
        assert_eq!(RestartPolicy::parse("no").unwrap(), No);
        assert_eq!(RestartPolicy::parse("always").unwrap(), Always);
        assert_eq!(
            RestartPolicy::parse("on-failure:3").unwrap(),
            OnFailure { max: 3 }
        );
        assert_eq!(
            RestartPolicy::parse("on-failure").unwrap(),
            OnFailure { max: 0 }
        );
        assert!(RestartPolicy::parse("always:3").is_err());
        assert!(RestartPolicy::parse("sometimes").is_err());
        assert!(!No.restarts(1, 0, false));
        assert!(Always.restarts(0, 9, false));
        assert!(!Always.restarts(0, 9, true));
        assert!(OnFailure { max: 2 }.restarts(1, 1, false));
        assert!(!OnFailure { max: 2 }.restarts(1, 2, false));
        assert!(!OnFailure { max: 0 }.restarts(0, 0, false));
        assert!(OnFailure { max: 0 }.restarts(3, 100, false));
    }

    #[test]
    fn detach_keys() {
        assert_eq!(
            DetachKeys::parse(DEFAULT_DETACH_KEYS).unwrap(),
            DetachKeys(vec![16, 17])
        );
        assert_eq!(
            DetachKeys::parse("ctrl-a,x").unwrap(),
            DetachKeys(vec![1, b'x'])
        );
        assert_eq!(DetachKeys::parse("").unwrap(), DetachKeys(vec![]));
        assert!(DetachKeys::parse("ctrl-1").is_err());
        assert!(DetachKeys::parse("abc").is_err());
    }
}
