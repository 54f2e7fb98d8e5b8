//! Where the store lives: `--root`/`--runroot`, coracle's own storage.conf, then the defaults
//! (XDG base directories for an ordinary user, `/var/lib/coracle` + `/run/coracle` for root).

use std::path::PathBuf;

/// The resolved locations and driver of the store this command works on.
#[derive(Debug, Clone)]
pub struct StorePaths {
    /// Persistent data: blobs, layers, images, containers (`graphroot`).
    pub graphroot: PathBuf,
    /// Runtime state: pids, sockets, mount points (`runroot`).
    pub runroot: PathBuf,
    /// `overlay` (coracle's FUSE overlay) or `vfs`.
    pub driver: String,
}

/// What may override the defaults, strongest first: flags, then storage.conf.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub root: Option<PathBuf>,
    pub runroot: Option<PathBuf>,
    pub driver: Option<String>,
}

pub const DEFAULT_DRIVER: &str = "overlay";
pub const DRIVERS: &[&str] = &["overlay", "vfs"];

/// The process environment as far as store paths care; a struct so tests can fake it.
#[derive(Debug, Clone)]
pub struct Env {
    pub euid: u32,
    pub home: Option<PathBuf>,
    pub xdg_data_home: Option<PathBuf>,
    pub xdg_runtime_dir: Option<PathBuf>,
    pub xdg_config_home: Option<PathBuf>,
}

impl Env {
    pub fn current() -> Self {
        let var = |k: &str| {
            std::env::var_os(k)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        Env {
            euid: rustix::process::geteuid().as_raw(),
            home: var("HOME").or_else(|| home_from_passwd(rustix::process::geteuid().as_raw())),
            xdg_data_home: var("XDG_DATA_HOME"),
            xdg_runtime_dir: var("XDG_RUNTIME_DIR"),
            xdg_config_home: var("XDG_CONFIG_HOME"),
        }
    }

    pub fn is_root(&self) -> bool {
        self.euid == 0
    }

    /// `$XDG_CONFIG_HOME` or `~/.config`.
    pub fn config_home(&self) -> Option<PathBuf> {
        self.xdg_config_home
            .clone()
            .or_else(|| self.home.as_ref().map(|h| h.join(".config")))
    }
}

/// The home directory `/etc/passwd` gives `uid`, for when `$HOME` is unset.
pub fn home_from_passwd(uid: u32) -> Option<PathBuf> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        (fields.len() >= 6 && fields[2].parse::<u32>().ok() == Some(uid) && !fields[5].is_empty())
            .then(|| PathBuf::from(fields[5]))
    })
}

#[derive(Debug, thiserror::Error)]
pub enum PathsError {
    #[error(
        "cannot find a place for the store: neither $XDG_DATA_HOME nor $HOME is set (use --root)"
    )]
    NoHome,
    #[error("unknown storage driver {0:?} (known: overlay, vfs)")]
    UnknownDriver(String),
}

/// Resolves the store's paths: `flags` beat `conf` (coracle's storage.conf) beat the defaults.
pub fn resolve(env: &Env, flags: &Overrides, conf: &Overrides) -> Result<StorePaths, PathsError> {
    let graphroot = match flags.root.clone().or_else(|| conf.root.clone()) {
        Some(p) => p,
        None if env.is_root() => PathBuf::from("/var/lib/coracle"),
        None => env
            .xdg_data_home
            .clone()
            .or_else(|| env.home.as_ref().map(|h| h.join(".local/share")))
            .ok_or(PathsError::NoHome)?
            .join("coracle"),
    };
    let runroot = match flags.runroot.clone().or_else(|| conf.runroot.clone()) {
        Some(p) => p,
        None if env.is_root() => PathBuf::from("/run/coracle"),
        None => match &env.xdg_runtime_dir {
            Some(dir) => dir.join("coracle"),
            None => PathBuf::from(format!("/tmp/coracle-run-{}", env.euid)),
        },
    };
    let driver = flags
        .driver
        .clone()
        .or_else(|| conf.driver.clone())
        .unwrap_or_else(|| DEFAULT_DRIVER.to_string());
    if !DRIVERS.contains(&driver.as_str()) {
        return Err(PathsError::UnknownDriver(driver));
    }
    Ok(StorePaths {
        graphroot,
        runroot,
        driver,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user_env() -> Env {
        Env {
            euid: 1000,
            home: Some("/home/u".into()),
            xdg_data_home: None,
            xdg_runtime_dir: Some("/run/user/1000".into()),
            xdg_config_home: None,
        }
    }

    #[test]
    fn rootless_defaults_follow_xdg() {
        let p = resolve(&user_env(), &Overrides::default(), &Overrides::default()).unwrap();
        assert_eq!(p.graphroot, PathBuf::from("/home/u/.local/share/coracle"));
        assert_eq!(p.runroot, PathBuf::from("/run/user/1000/coracle"));
        assert_eq!(p.driver, "overlay");

        let mut env = user_env();
        env.xdg_data_home = Some("/data".into());
        env.xdg_runtime_dir = None;
        let p = resolve(&env, &Overrides::default(), &Overrides::default()).unwrap();
        assert_eq!(p.graphroot, PathBuf::from("/data/coracle"));
        assert_eq!(p.runroot, PathBuf::from("/tmp/coracle-run-1000"));
    }

    #[test]
    fn root_defaults() {
        let mut env = user_env();
        env.euid = 0;
        let p = resolve(&env, &Overrides::default(), &Overrides::default()).unwrap();
        assert_eq!(p.graphroot, PathBuf::from("/var/lib/coracle"));
        assert_eq!(p.runroot, PathBuf::from("/run/coracle"));
    }

    #[test]
    fn flags_beat_conf_beat_defaults() {
        let conf = Overrides {
            root: Some("/conf".into()),
            runroot: None,
            driver: Some("vfs".into()),
        };
        let flags = Overrides {
            root: Some("/flag".into()),
            runroot: None,
            driver: None,
        };
        let p = resolve(&user_env(), &flags, &conf).unwrap();
        assert_eq!(p.graphroot, PathBuf::from("/flag"));
        assert_eq!(p.driver, "vfs");
        let bad = Overrides {
            driver: Some("btrfs".into()),
            ..Default::default()
        };
        assert!(resolve(&user_env(), &bad, &Overrides::default()).is_err());
    }

    #[test]
    fn no_home_is_an_error() {
        let env = Env {
            euid: 1000,
            home: None,
            xdg_data_home: None,
            xdg_runtime_dir: None,
            xdg_config_home: None,
        };
        assert!(matches!(
            resolve(&env, &Overrides::default(), &Overrides::default()),
            Err(PathsError::NoHome)
        ));
    }
}
