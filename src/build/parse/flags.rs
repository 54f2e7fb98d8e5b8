//! Which `--flags` each instruction takes, and checking the ones a line gives against them.

use super::words::FlagWord;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagKind {
    /// `--name=value`, once.
    Value,
    /// `--name`, `--name=true` or `--name=false`, once.
    Bool,
    /// `--name=value`, any number of times.
    Repeated,
}

use FlagKind::{Bool, Repeated, Value};

/// The flags of `keyword` (upper case), as Docker's reference lists them.
pub fn accepted(keyword: &str) -> &'static [(&'static str, FlagKind)] {
    match keyword {
        "FROM" => &[("platform", Value)],
        "RUN" => &[("mount", Repeated), ("network", Value), ("security", Value)],
        "COPY" => &[
            ("from", Value),
            ("chown", Value),
            ("chmod", Value),
            ("link", Bool),
            ("parents", Bool),
            ("exclude", Repeated),
        ],
        "ADD" => &[
            ("chown", Value),
            ("chmod", Value),
            ("link", Bool),
            ("checksum", Value),
            ("keep-git-dir", Bool),
            ("exclude", Repeated),
        ],
        "HEALTHCHECK" => &[
            ("interval", Value),
            ("timeout", Value),
            ("start-period", Value),
            ("start-interval", Value),
            ("retries", Value),
        ],
        _ => &[],
    }
}

/// A line's flags, checked: each known, given once unless repeatable, with a value when it
/// needs one.
#[derive(Debug, Default)]
pub struct Flags {
    found: Vec<(String, String, usize)>,
}

/// A flag that is not right: the message and the byte offset of the flag.
pub type FlagError = (String, usize);

impl Flags {
    pub fn check(keyword: &str, words: &[FlagWord<'_>]) -> Result<Flags, FlagError> {
        let accepted = accepted(keyword);
        let mut out = Flags::default();
        for w in words {
            let Some(&(name, kind)) = accepted.iter().find(|(n, _)| *n == w.name) else {
                let takes = if accepted.is_empty() {
                    format!("{keyword} takes no flags")
                } else {
                    let names: Vec<String> =
                        accepted.iter().map(|(n, _)| format!("--{n}")).collect();
                    format!("{keyword} takes {}", names.join(", "))
                };
                return Err((format!("unknown flag --{} ({takes})", w.name), w.start));
            };
            if kind != Repeated && out.found.iter().any(|(n, _, _)| n == name) {
                return Err((format!("flag --{name} given twice"), w.start));
            }
            let value = match (kind, w.value) {
                (Bool, None) => "true".to_string(),
                (Bool, Some(v @ ("true" | "false"))) => v.to_string(),
                (Bool, Some(v)) => {
                    return Err((
                        format!("flag --{name} is true or false, not {v:?}"),
                        w.start,
                    ));
                }
                (_, Some(v)) => v.to_string(),
                (_, None) => {
                    return Err((
                        format!("flag --{name} needs a value: --{name}=..."),
                        w.start,
                    ));
                }
            };
            out.found.push((name.to_string(), value, w.start));
        }
        Ok(out)
    }

    pub fn value(&self, name: &str) -> Option<String> {
        self.found.iter().find(|f| f.0 == name).map(|f| f.1.clone())
    }

    /// The value and where its flag starts.
    pub fn value_at(&self, name: &str) -> Option<(String, usize)> {
        self.found
            .iter()
            .find(|f| f.0 == name)
            .map(|f| (f.1.clone(), f.2))
    }

    pub fn bool(&self, name: &str) -> bool {
        self.value(name).as_deref() == Some("true")
    }

    pub fn all(&self, name: &str) -> Vec<String> {
        self.found
            .iter()
            .filter(|f| f.0 == name)
            .map(|f| f.1.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(name: &'static str, value: Option<&'static str>, start: usize) -> FlagWord<'static> {
        FlagWord { name, value, start }
    }

    #[test]
    fn checks_names_counts_and_values() {
        let f = Flags::check(
            "RUN",
            &[
                w("mount", Some("a"), 4),
                w("mount", Some("b"), 9),
                w("network", Some("none"), 20),
            ],
        )
        .unwrap();
        assert_eq!(f.all("mount"), ["a", "b"]);
        assert_eq!(f.value("network").as_deref(), Some("none"));
        let e = Flags::check("RUN", &[w("mnt", Some("x"), 4)]).unwrap_err();
        assert_eq!(
            e,
            (
                "unknown flag --mnt (RUN takes --mount, --network, --security)".to_string(),
                4
            )
        );
        let e = Flags::check("ENV", &[w("x", None, 4)]).unwrap_err();
        assert_eq!(e.0, "unknown flag --x (ENV takes no flags)");
        let e =
            Flags::check("COPY", &[w("from", Some("a"), 5), w("from", Some("b"), 14)]).unwrap_err();
        assert_eq!(e, ("flag --from given twice".to_string(), 14));
        let e = Flags::check("COPY", &[w("from", None, 5)]).unwrap_err();
        assert_eq!(e.0, "flag --from needs a value: --from=...");
        let f = Flags::check(
            "COPY",
            &[w("link", None, 5), w("parents", Some("false"), 12)],
        )
        .unwrap();
        assert!(f.bool("link") && !f.bool("parents"));
        assert!(Flags::check("ADD", &[w("link", Some("yes"), 5)]).is_err());
    }
}
