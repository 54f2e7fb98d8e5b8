//! coracle's `storage.conf`: where the store lives and which driver it uses.
//!
//! The file is `$XDG_CONFIG_HOME/coracle/storage.conf` (else `$HOME/.config/coracle/…`) for a
//! user and `/etc/coracle/storage.conf` for root. It uses the keys of containers'
//! storage.conf(5) so that one can be copied over; only these are read, others are ignored:
//!
//! ```toml
//! [storage]
//! driver = "overlay"
//! graphroot = "$HOME/.local/share/coracle/storage"
//! runroot = "/run/user/$UID/coracle"
//! ```
//!
//! An empty value counts as unset. Paths are expanded as containers/storage does
//! (`expandEnvPath`): `$UID` becomes the user ID, then `$VAR` and `${VAR}` become the
//! variable's value (empty when unset), then the path is cleaned lexically. `~` is not
//! expanded (containers/storage does not either); the result must be absolute.

use std::path::{Component, Path, PathBuf};

use serde::Deserialize;

use super::{ConfigError, Env};

/// The settings of a `storage.conf`; `None` where the file (or the key) is absent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StorageConf {
    pub driver: Option<String>,
    pub graphroot: Option<PathBuf>,
    pub runroot: Option<PathBuf>,
}

#[derive(Deserialize, Default)]
struct File {
    #[serde(default)]
    storage: Section,
}

#[derive(Deserialize, Default)]
struct Section {
    driver: Option<String>,
    graphroot: Option<String>,
    runroot: Option<String>,
}

/// The system file, read by root only.
pub const SYSTEM_PATH: &str = "/etc/coracle/storage.conf";

impl StorageConf {
    /// Where coracle's storage.conf is for this user.
    pub fn path(env: &Env) -> Result<PathBuf, ConfigError> {
        if env.uid == 0 {
            return Ok(PathBuf::from(SYSTEM_PATH));
        }
        let config_home = match env.non_empty("XDG_CONFIG_HOME") {
            Some(dir) => PathBuf::from(dir),
            None => match env.non_empty("HOME") {
                Some(home) => Path::new(&home).join(".config"),
                None => {
                    return Err(ConfigError::NoHome {
                        file: "storage.conf",
                    });
                }
            },
        };
        Ok(config_home.join("coracle/storage.conf"))
    }

    /// Reads this user's file ([`StorageConf::path`]); defaults when it does not exist.
    pub fn load(env: &Env) -> Result<Self, ConfigError> {
        Self::read(&Self::path(env)?, env)
    }

    /// Reads `path`; defaults when it does not exist.
    pub fn read(path: &Path, env: &Env) -> Result<Self, ConfigError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Self::parse(&text, path, env),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(source) => Err(ConfigError::Read {
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    /// Parses the text of the file at `path` (named in errors).
    pub fn parse(text: &str, path: &Path, env: &Env) -> Result<Self, ConfigError> {
        let file: File = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            line: e.span().map(|span| line_of(text, span.start)),
            source: Box::new(e),
        })?;
        let s = file.storage;
        let path_value = |key: &'static str, value: Option<String>| {
            value
                .filter(|v| !v.is_empty())
                .map(|v| expand_path(&v, env))
                .map(|expanded| {
                    if expanded.is_absolute() {
                        Ok(expanded)
                    } else {
                        Err(ConfigError::NotAbsolute {
                            path: path.to_path_buf(),
                            key,
                            value: expanded.display().to_string(),
                        })
                    }
                })
                .transpose()
        };
        Ok(StorageConf {
            driver: s.driver.filter(|d| !d.is_empty()),
            graphroot: path_value("graphroot", s.graphroot)?,
            runroot: path_value("runroot", s.runroot)?,
        })
    }
}

/// The 1-based line of byte `offset` in `text`.
fn line_of(text: &str, offset: usize) -> usize {
    let offset = offset.min(text.len());
    text.as_bytes()[..offset]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// containers/storage's `expandEnvPath` without its symlink resolution: `$UID`, then
/// [`expand_env`], then a lexical clean.
fn expand_path(value: &str, env: &Env) -> PathBuf {
    let value = value.replace("$UID", &env.uid.to_string());
    clean(&expand_env(&value, env))
}

/// Go's `os.ExpandEnv`: `$NAME` (`[A-Za-z0-9_]+`, or one special character or digit) and
/// `${NAME}` become the variable's value, empty when unset; a `$` followed by anything else is
/// kept; malformed `${` forms are dropped.
fn expand_env(s: &str, env: &Env) -> String {
    let special = |c: char| "*#$@!?-".contains(c) || c.is_ascii_digit();
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        // (name, bytes consumed after the `$`); an empty name with 0 bytes keeps the `$`.
        let (name, used) = if let Some(braced) = after.strip_prefix('{') {
            match braced.find('}') {
                Some(0) => ("", 2),
                Some(end) => (&braced[..end], end + 2),
                None => ("", 1),
            }
        } else if after.starts_with(special) {
            (&after[..1], 1)
        } else {
            let end = after.find(|c| !word(c)).unwrap_or(after.len());
            (&after[..end], end)
        };
        if !name.is_empty() {
            out.push_str(&(env.var)(name).unwrap_or_default());
        } else if used == 0 {
            out.push('$');
        }
        rest = &after[used..];
    }
    out.push_str(rest);
    out
}

/// Go's `filepath.Clean`: drops `.` and duplicate separators and resolves `..` lexically.
fn clean(path: &str) -> PathBuf {
    let absolute = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for component in Path::new(path).components() {
        match component {
            Component::Normal(c) => parts.push(c.to_str().unwrap_or_default()),
            Component::ParentDir => match parts.last() {
                Some(&last) if last != ".." => {
                    parts.pop();
                }
                _ if absolute => {}
                _ => parts.push(".."),
            },
            Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
        }
    }
    let joined = parts.join("/");
    match (absolute, joined.is_empty()) {
        (true, _) => PathBuf::from(format!("/{joined}")),
        (false, true) => PathBuf::from("."),
        (false, false) => PathBuf::from(joined),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn with_env<T>(uid: u32, vars: &[(&str, &str)], f: impl FnOnce(&Env) -> T) -> T {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let var = move |name: &str| map.get(name).cloned();
        f(&Env { uid, var: &var })
    }

    type Vars<'a> = &'a [(&'a str, &'a str)];

    #[test]
    fn locates_the_file() {
        let cases: &[(u32, Vars, Option<&str>)] = &[
            (0, &[("HOME", "/root")], Some("/etc/coracle/storage.conf")),
            (
                1000,
                &[("HOME", "/home/u"), ("XDG_CONFIG_HOME", "/x")],
                Some("/x/coracle/storage.conf"),
            ),
            (
                1000,
                &[("HOME", "/home/u"), ("XDG_CONFIG_HOME", "")],
                Some("/home/u/.config/coracle/storage.conf"),
            ),
            (1000, &[], None),
        ];
        for (uid, vars, want) in cases {
            let got = with_env(*uid, vars, |env| StorageConf::path(env).ok());
            assert_eq!(got.as_deref(), want.map(Path::new), "{uid} {vars:?}");
        }
    }

    #[test]
    fn reads_keys_and_expands_paths() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("storage.conf");
        std::fs::write(
            &path,
            r#"
# copied from containers' storage.conf
[storage]
driver = "overlay"
graphroot = "$HOME/.local/share/coracle//storage/./x/.."
runroot = "/run/user/$UID/${APP}"
rootless_storage_path = "ignored"

[storage.options.overlay]
mount_program = "/usr/bin/fuse-overlayfs"
"#,
        )
        .unwrap();
        let conf = with_env(1000, &[("HOME", "/home/u"), ("APP", "coracle")], |env| {
            StorageConf::read(&path, env)
        })
        .unwrap();
        assert_eq!(
            conf,
            StorageConf {
                driver: Some("overlay".into()),
                graphroot: Some("/home/u/.local/share/coracle/storage".into()),
                runroot: Some("/run/user/1000/coracle".into()),
            }
        );
    }

    #[test]
    fn missing_file_and_empty_values_are_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let missing = with_env(1000, &[], |env| {
            StorageConf::read(&dir.path().join("nope.conf"), env)
        });
        assert_eq!(missing.unwrap(), StorageConf::default());

        let empty = dir.path().join("empty.conf");
        std::fs::write(&empty, "[storage]\ndriver = \"\"\ngraphroot = \"\"\n").unwrap();
        let conf = with_env(1000, &[], |env| StorageConf::read(&empty, env)).unwrap();
        assert_eq!(conf, StorageConf::default());

        let conf = with_env(1000, &[], |env| StorageConf::parse("", Path::new("x"), env));
        assert_eq!(conf.unwrap(), StorageConf::default());
    }

    #[test]
    fn load_uses_xdg_config_home() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("coracle")).unwrap();
        std::fs::write(
            dir.path().join("coracle/storage.conf"),
            "[storage]\ndriver = \"vfs\"\n",
        )
        .unwrap();
        let xdg = dir.path().to_str().unwrap();
        let conf = with_env(1000, &[("XDG_CONFIG_HOME", xdg)], StorageConf::load).unwrap();
        assert_eq!(conf.driver.as_deref(), Some("vfs"));
    }

    #[test]
    fn malformed_files_name_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("storage.conf");
        let cases: &[(&str, usize)] = &[
            ("[storage]\ndriver = overlay\n", 2),
            ("[storage]\n\ndriver = 3\n", 3),
            ("[storage\n", 1),
        ];
        for (text, line) in cases {
            std::fs::write(&path, text).unwrap();
            let err = with_env(1000, &[], |env| StorageConf::read(&path, env)).unwrap_err();
            let ConfigError::Parse { line: got, .. } = &err else {
                panic!("{text:?}: {err:?}");
            };
            assert_eq!(*got, Some(*line), "{text:?}");
            let message = err.to_string();
            assert!(
                message.starts_with(&path.display().to_string()),
                "{message}"
            );
            assert!(message.ends_with(&format!("at line {line}")), "{message}");
        }
    }

    #[test]
    fn relative_paths_are_refused() {
        for (text, key) in [
            ("[storage]\ngraphroot = \"~/store\"\n", "graphroot"),
            ("[storage]\nrunroot = \"run/$UID\"\n", "runroot"),
        ] {
            let err = with_env(1000, &[], |env| {
                StorageConf::parse(text, Path::new("/c/storage.conf"), env)
            })
            .unwrap_err();
            assert!(
                matches!(&err, ConfigError::NotAbsolute { key: k, .. } if *k == key),
                "{err:?}"
            );
        }
    }

    #[test]
    fn unreadable_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        // A directory where the file should be.
        let err = with_env(1000, &[], |env| StorageConf::read(dir.path(), env)).unwrap_err();
        assert!(matches!(err, ConfigError::Read { .. }), "{err:?}");
    }

    #[test]
    fn expands_like_go() {
        let cases = [
            ("/a/$X/b", "/a/x/b"),
            ("/a/${X}b", "/a/xb"),
            ("/a/$Xb", "/a/"),
            ("/a/$UNSET/b", "/a//b"),
            ("/cost/$", "/cost/$"),
            ("/a/$/b", "/a/$/b"),
            ("/a/${}/b", "/a//b"),
            ("/a/${X", "/a/X"),
            ("$1/x", "one/x"),
        ];
        with_env(7, &[("X", "x"), ("1", "one")], |env| {
            for (input, want) in cases {
                assert_eq!(expand_env(input, env), want, "{input}");
            }
        });
        for (input, want) in [
            ("/a//b/./c/../d/", "/a/b/d"),
            ("/../x", "/x"),
            ("a/../../b", "../b"),
            ("", "."),
            ("/", "/"),
        ] {
            assert_eq!(clean(input), Path::new(want), "{input}");
        }
        with_env(1234, &[], |env| {
            assert_eq!(expand_path("/run/$UID/x", env), Path::new("/run/1234/x"));
        });
    }
}
