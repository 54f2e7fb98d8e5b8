//! Build arguments: `--build-arg`/`--build-arg-file` values, the global ARGs before the
//! first FROM, the predefined ARGs (proxies, `TARGETPLATFORM` & co.) and which of the given
//! values a Containerfile used (Podman warns about the rest).

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Context as _;

use crate::build::expand;
use crate::build::syntax::ArgDecl;

/// ARGs every build knows without a value from the user: usable by `ARG NAME` and, for the
/// proxy ones, passed to RUN without being declared (never recorded in the image).
pub const PROXY_ARGS: [&str; 8] = [
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
];

#[derive(Debug, Default)]
pub struct BuildArgValues {
    /// `--build-arg` and `--build-arg-file` values (later ones win).
    given: BTreeMap<String, String>,
    /// The platform ARGs (`TARGETPLATFORM`, `BUILDARCH`, ...).
    platform: BTreeMap<String, String>,
    /// Global ARGs (before the first FROM) with their values.
    global: Vec<(String, String)>,
    /// Names of given values some ARG (or FROM line) used.
    used: BTreeSet<String>,
}

impl BuildArgValues {
    /// Reads the files first, then the flags; `NAME` alone takes the value from coracle's
    /// environment (and is ignored when unset there, as Podman does).
    pub fn new(
        flags: &[String],
        files: &[std::path::PathBuf],
        os: &str,
        arch: &str,
        variant: Option<&str>,
    ) -> anyhow::Result<Self> {
        let mut given = BTreeMap::new();
        let mut put = |entry: &str| {
            let entry = entry.trim();
            if entry.is_empty() || entry.starts_with('#') {
                return;
            }
            match entry.split_once('=') {
                Some((k, v)) => {
                    given.insert(k.to_string(), v.to_string());
                }
                None => {
                    if let Ok(v) = std::env::var(entry) {
                        given.insert(entry.to_string(), v);
                    }
                }
            }
        };
        for f in files {
            let text = std::fs::read_to_string(f)
                .with_context(|| format!("reading the build-arg file {}", f.display()))?;
            text.lines().for_each(&mut put);
        }
        flags.iter().map(String::as_str).for_each(&mut put);
        let platform_name = match variant {
            Some(v) => format!("{os}/{arch}/{v}"),
            None => format!("{os}/{arch}"),
        };
        let mut platform = BTreeMap::new();
        for prefix in ["TARGET", "BUILD"] {
            platform.insert(format!("{prefix}PLATFORM"), platform_name.clone());
            platform.insert(format!("{prefix}OS"), os.to_string());
            platform.insert(format!("{prefix}ARCH"), arch.to_string());
            platform.insert(
                format!("{prefix}VARIANT"),
                variant.unwrap_or_default().to_string(),
            );
        }
        Ok(BuildArgValues {
            given,
            platform,
            global: Vec::new(),
            used: BTreeSet::new(),
        })
    }

    /// Declares the global ARGs (in order, each default expanded with the ones before it).
    pub fn declare_global(&mut self, decls: &[ArgDecl]) -> anyhow::Result<()> {
        for d in decls {
            let value = self.resolve(d, &self.global.clone())?;
            if let Some(v) = value {
                self.global.retain(|(k, _)| k != &d.name);
                self.global.push((d.name.clone(), v));
            }
        }
        Ok(())
    }

    /// A global ARG's value (for FROM lines).
    pub fn global(&self, name: &str) -> Option<String> {
        self.global
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }

    /// The value an `ARG` declaration gets in a stage whose visible variables are `visible`:
    /// the user's value, else its default (expanded), else the global ARG of that name, else
    /// a predefined value; `None` when it has none.
    pub fn resolve(
        &mut self,
        decl: &ArgDecl,
        visible: &[(String, String)],
    ) -> anyhow::Result<Option<String>> {
        if let Some(v) = self.given.get(&decl.name) {
            self.used.insert(decl.name.clone());
            return Ok(Some(v.clone()));
        }
        if let Some(raw) = &decl.default {
            let lookup = |n: &str| {
                visible
                    .iter()
                    .rev()
                    .find(|(k, _)| k == n)
                    .map(|(_, v)| v.clone())
            };
            let v = expand::word(raw, &lookup)
                .with_context(|| format!("expanding the default of ARG {}", decl.name))?;
            return Ok(Some(v));
        }
        if let Some(v) = self.global(&decl.name) {
            return Ok(Some(v));
        }
        Ok(self.platform.get(&decl.name).cloned())
    }

    /// The proxy values the user gave: passed to every RUN, recorded nowhere.
    pub fn proxies(&mut self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for name in PROXY_ARGS {
            if let Some(v) = self.given.get(name) {
                self.used.insert(name.to_string());
                out.push((name.to_string(), v.clone()));
            }
        }
        out
    }

    /// Given values no ARG used, for Podman's warning.
    pub fn unused(&self) -> Vec<String> {
        self.given
            .keys()
            .filter(|k| !self.used.contains(*k) && !PROXY_ARGS.contains(&k.as_str()))
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decl(name: &str, default: Option<&str>) -> ArgDecl {
        ArgDecl {
            name: name.into(),
            default: default.map(String::from),
        }
    }

    #[test]
    fn precedence_and_unused() {
        let mut a = BuildArgValues::new(
            &["V=2".into(), "X=9".into(), "HTTP_PROXY=p".into()],
            &[],
            "linux",
            "amd64",
            None,
        )
        .unwrap();
        a.declare_global(&[decl("G", Some("g")), decl("H", Some("${G}h"))])
            .unwrap();
        assert_eq!(a.global("H").as_deref(), Some("gh"));
        assert_eq!(
            a.resolve(&decl("V", Some("1")), &[]).unwrap().as_deref(),
            Some("2")
        );
        assert_eq!(
            a.resolve(&decl("G", None), &[]).unwrap().as_deref(),
            Some("g")
        );
        assert_eq!(
            a.resolve(&decl("TARGETARCH", None), &[])
                .unwrap()
                .as_deref(),
            Some("amd64")
        );
        assert_eq!(a.resolve(&decl("N", None), &[]).unwrap(), None);
        assert_eq!(a.proxies(), vec![("HTTP_PROXY".into(), "p".into())]);
        assert_eq!(a.unused(), vec!["X".to_string()]);
    }
}
