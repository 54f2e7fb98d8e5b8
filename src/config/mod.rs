//! coracle's own configuration files. Each reader takes the environment as an [`Env`] rather
//! than reading the process's, so tests never depend on the real one; a missing file means
//! defaults, a malformed one an error naming the file and the line.
//!
//! coracle keeps its own store and never reads containers' `storage.conf` (which would point
//! it into `~/.local/share/containers`).

pub mod storage;

use std::io;
use std::path::PathBuf;

pub use storage::StorageConf;

/// The environment a configuration reader sees.
pub struct Env<'a> {
    /// The effective user ID: 0 selects the system files under `/etc/coracle`; it also
    /// replaces `$UID` in paths.
    pub uid: u32,
    /// Looks up an environment variable (`None` when unset or not UTF-8).
    pub var: &'a dyn Fn(&str) -> Option<String>,
}

fn process_var(name: &str) -> Option<String> {
    let value = std::env::var_os(name).and_then(|v| v.into_string().ok());
    if name == "HOME" && value.as_deref().is_none_or(str::is_empty) {
        // As Podman does: without $HOME, the home directory in the password database.
        let uid = rustix::process::geteuid().as_raw();
        return crate::paths::home_from_passwd(uid).map(|p| p.display().to_string());
    }
    value
}

impl Env<'static> {
    /// The running process's environment and effective user ID.
    pub fn process() -> Self {
        Env {
            uid: rustix::process::geteuid().as_raw(),
            var: &process_var,
        }
    }
}

impl Env<'_> {
    /// A variable that is set and not empty.
    fn non_empty(&self, name: &str) -> Option<String> {
        (self.var)(name).filter(|v| !v.is_empty())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot locate {file}: neither XDG_CONFIG_HOME nor HOME is set")]
    NoHome { file: &'static str },
    #[error("reading {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{}: invalid TOML{}", path.display(), line.map(|l| format!(" at line {l}")).unwrap_or_default())]
    Parse {
        path: PathBuf,
        line: Option<usize>,
        #[source]
        source: Box<toml::de::Error>,
    },
    #[error("{}: {key} must be an absolute path, got {value:?}", path.display())]
    NotAbsolute {
        path: PathBuf,
        key: &'static str,
        value: String,
    },
}
