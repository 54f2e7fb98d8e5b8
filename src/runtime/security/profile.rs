//! Seccomp profiles in the containers JSON format (`--security-opt seccomp=FILE`, and
//! containers' default profile in [`super::default_profile`]), as containers/common reads
//! them:
//!
//! ```json
//! {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38,
//!  "architectures": ["SCMP_ARCH_X86_64"],
//!  "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13,
//!                "args": [{"index": 0, "value": 1, "valueTwo": 0, "op": "SCMP_CMP_EQ"}],
//!                "includes": {"caps": ["CAP_SYS_ADMIN"], "arches": ["amd64"]},
//!                "excludes": {}}]}
//! ```
//!
//! Fields coracle has no use for (`comment`, `archMap`, `flags`, `listenerPath`...) are
//! ignored, as Go's decoder ignores them. Everything it uses is checked when the profile is
//! read, so that a bad profile is refused by `create` with the file's name, not by the
//! container's init: actions, comparison operators, argument indexes, capability names.

use std::path::Path;
use std::str::FromStr;

use caps::Capability;

use super::CapMask;
use serde::{Deserialize, Serialize};

/// What a filter does with a system call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Action {
    Allow,
    /// Fail with this errno.
    Errno(u16),
    KillThread,
    KillProcess,
    Trap,
    Log,
    /// Notify a tracer, with this value.
    Trace(u16),
}

/// A comparison of one system call argument (64 bits) with the rule's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    /// `(arg & value) == value_two`.
    MaskedEq,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArgCmp {
    /// 0 to 5.
    pub index: u8,
    pub op: CmpOp,
    pub value: u64,
    pub value_two: u64,
}

/// Conditions on the container for a rule to be part of its filter.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Filter {
    /// Go architecture names (`amd64`, `arm64`, ...).
    pub arches: Vec<String>,
    /// All of them (an empty mask: no condition).
    pub caps: CapMask,
    /// `major.minor` the running kernel must reach.
    pub min_kernel: Option<(u32, u32)>,
}

impl Filter {
    fn is_empty(&self) -> bool {
        self.arches.is_empty() && self.caps.is_empty() && self.min_kernel.is_none()
    }
}

/// One entry of `syscalls`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    pub names: Vec<String>,
    pub action: Action,
    /// All must hold (an empty list: always).
    pub args: Vec<ArgCmp>,
    pub includes: Filter,
    pub excludes: Filter,
}

/// A checked profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    pub default_action: Action,
    /// The architectures named in `architectures` (`SCMP_ARCH_X86_64`...); empty: native only.
    pub architectures: Vec<String>,
    pub syscalls: Vec<Rule>,
}

#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("reading the seccomp profile {path}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the seccomp profile {path} is not valid: {reason}")]
    Invalid { path: String, reason: String },
}

// The JSON as written; `Option` wherever Go's decoder would take a missing field or null.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawProfile {
    default_action: String,
    default_errno_ret: Option<u32>,
    architectures: Option<Vec<String>>,
    syscalls: Option<Vec<RawRule>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawRule {
    name: Option<String>,
    names: Option<Vec<String>>,
    action: String,
    errno_ret: Option<u32>,
    args: Option<Vec<RawArg>>,
    includes: Option<RawFilter>,
    excludes: Option<RawFilter>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawArg {
    index: u32,
    value: u64,
    #[serde(default)]
    value_two: u64,
    op: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawFilter {
    arches: Option<Vec<String>>,
    caps: Option<Vec<String>>,
    min_kernel: Option<String>,
}

/// The errno of an `SCMP_ACT_ERRNO` without `errnoRet` (runtime-spec's default).
const DEFAULT_ERRNO: u32 = libc::EPERM as u32;

fn action(name: &str, errno: Option<u32>) -> Result<Action, String> {
    let errno = || -> Result<u16, String> {
        let e = errno.unwrap_or(DEFAULT_ERRNO);
        u16::try_from(e).map_err(|_| format!("errno {e} is out of range"))
    };
    Ok(match name {
        "SCMP_ACT_ALLOW" => Action::Allow,
        "SCMP_ACT_ERRNO" => Action::Errno(errno()?),
        "SCMP_ACT_KILL" | "SCMP_ACT_KILL_THREAD" => Action::KillThread,
        "SCMP_ACT_KILL_PROCESS" => Action::KillProcess,
        "SCMP_ACT_TRAP" => Action::Trap,
        "SCMP_ACT_LOG" => Action::Log,
        "SCMP_ACT_TRACE" => Action::Trace(errno()?),
        "SCMP_ACT_NOTIFY" => {
            return Err("SCMP_ACT_NOTIFY is not supported (coracle runs no seccomp agent)".into());
        }
        other => return Err(format!("unknown action {other:?}")),
    })
}

fn cmp_op(name: &str) -> Result<CmpOp, String> {
    Ok(match name {
        "SCMP_CMP_EQ" => CmpOp::Eq,
        "SCMP_CMP_NE" => CmpOp::Ne,
        "SCMP_CMP_LT" => CmpOp::Lt,
        "SCMP_CMP_LE" => CmpOp::Le,
        "SCMP_CMP_GT" => CmpOp::Gt,
        "SCMP_CMP_GE" => CmpOp::Ge,
        "SCMP_CMP_MASKED_EQ" => CmpOp::MaskedEq,
        other => return Err(format!("unknown comparison {other:?}")),
    })
}

fn filter(raw: Option<RawFilter>) -> Result<Filter, String> {
    let Some(raw) = raw else {
        return Ok(Filter::default());
    };
    let caps = raw
        .caps
        .unwrap_or_default()
        .iter()
        .map(|c| {
            let upper = c.to_ascii_uppercase();
            let full = if upper.starts_with("CAP_") {
                upper
            } else {
                format!("CAP_{upper}")
            };
            Capability::from_str(&full).map_err(|_| format!("unknown capability {c:?}"))
        })
        .collect::<Result<_, _>>()?;
    let min_kernel = match raw.min_kernel.as_deref() {
        None | Some("") => None,
        Some(v) => Some(parse_kernel_version(v).ok_or_else(|| format!("bad minKernel {v:?}"))?),
    };
    Ok(Filter {
        arches: raw.arches.unwrap_or_default(),
        caps,
        min_kernel,
    })
}

/// `major.minor` from a version such as `5.8` or `6.18.44-fc-v769`.
pub fn parse_kernel_version(v: &str) -> Option<(u32, u32)> {
    let mut parts = v.split(['.', '-']);
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next().map_or(Some(0), |m| m.parse().ok())?;
    Some((major, minor))
}

impl Profile {
    /// Reads and checks the profile at `path`.
    pub fn read(path: &Path) -> Result<Profile, ProfileError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ProfileError::Read {
            path: shown.clone(),
            source,
        })?;
        Profile::parse(&text).map_err(|reason| ProfileError::Invalid {
            path: shown,
            reason,
        })
    }

    /// Parses and checks a profile's text; the error says what is wrong (and where, for JSON).
    pub fn parse(text: &str) -> Result<Profile, String> {
        let raw: RawProfile = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let default_action = action(&raw.default_action, raw.default_errno_ret)
            .map_err(|e| format!("defaultAction: {e}"))?;
        let mut syscalls = Vec::new();
        for (i, r) in raw.syscalls.unwrap_or_default().into_iter().enumerate() {
            let at = |e: String| format!("syscalls[{i}]: {e}");
            let mut names = r.names.unwrap_or_default();
            names.extend(r.name);
            if names.is_empty() {
                return Err(at("no syscall names".into()));
            }
            let action = action(&r.action, r.errno_ret).map_err(at)?;
            let args = r
                .args
                .unwrap_or_default()
                .into_iter()
                .map(|a| {
                    if a.index > 5 {
                        return Err(format!("argument index {} is beyond 5", a.index));
                    }
                    Ok(ArgCmp {
                        index: a.index as u8,
                        op: cmp_op(&a.op)?,
                        value: a.value,
                        value_two: a.value_two,
                    })
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(at)?;
            syscalls.push(Rule {
                names,
                action,
                args,
                includes: filter(r.includes).map_err(at)?,
                excludes: filter(r.excludes).map_err(at)?,
            });
        }
        Ok(Profile {
            default_action,
            architectures: raw.architectures.unwrap_or_default(),
            syscalls,
        })
    }
}

/// What a rule's `includes`/`excludes` are checked against.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    /// The Go name of the architecture (`amd64`, `arm64`).
    pub arch: &'a str,
    /// The container's bounding set.
    pub caps: CapMask,
    pub kernel: (u32, u32),
}

impl Rule {
    /// Whether the rule is part of the filter for `t`, as containers/common decides: the
    /// architecture is one of `includes.arches`, every one of `includes.caps` is there and
    /// the kernel reaches `includes.minKernel`; and the architecture is none of
    /// `excludes.arches`, none of `excludes.caps` is there, and the kernel is older than
    /// `excludes.minKernel`.
    pub fn applies(&self, t: &Target<'_>) -> bool {
        let inc = &self.includes;
        let exc = &self.excludes;
        (inc.arches.is_empty() || inc.arches.iter().any(|a| a == t.arch))
            && t.caps.intersect(inc.caps) == inc.caps
            && inc.min_kernel.is_none_or(|k| t.kernel >= k)
            && (exc.is_empty()
                || !(exc.arches.iter().any(|a| a == t.arch)
                    || !t.caps.intersect(exc.caps).is_empty()
                    || exc.min_kernel.is_some_and(|k| t.kernel >= k)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_containers_format() {
        let p = Profile::parse(
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "archMap": [], "syscalls": [
                {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13,
                 "comment": "", "args": null, "includes": {}, "excludes": {}},
                {"name": "personality", "action": "SCMP_ACT_ERRNO",
                 "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_NE"}],
                 "includes": {"caps": ["sys_admin"], "minKernel": "4.8"}}]}"#,
        )
        .unwrap();
        assert_eq!(p.default_action, Action::Allow);
        assert_eq!(p.syscalls[0].action, Action::Errno(13));
        assert_eq!(p.syscalls[1].action, Action::Errno(1));
        assert_eq!(p.syscalls[1].names, ["personality"]);
        assert_eq!(
            p.syscalls[1].args,
            [ArgCmp {
                index: 0,
                op: CmpOp::Ne,
                value: 8,
                value_two: 0
            }]
        );
        assert_eq!(
            p.syscalls[1].includes.caps,
            [Capability::CAP_SYS_ADMIN].into_iter().collect()
        );
        assert_eq!(p.syscalls[1].includes.min_kernel, Some((4, 8)));
    }

    #[test]
    fn malformed_profiles_say_what_is_wrong() {
        let cases = [
            ("{", "EOF"),
            (r#"{"syscalls": []}"#, "defaultAction"),
            (r#"{"defaultAction": "SCMP_ACT_NOPE"}"#, "unknown action"),
            (r#"{"defaultAction": "SCMP_ACT_NOTIFY"}"#, "not supported"),
            (
                r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": [], "action": "SCMP_ACT_ALLOW"}]}"#,
                "syscalls[0]: no syscall names",
            ),
            (
                r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["a"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]}"#,
                "beyond 5",
            ),
            (
                r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["a"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 1, "op": "EQ"}]}]}"#,
                "unknown comparison",
            ),
            (
                r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["a"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_NOPE"]}}]}"#,
                "unknown capability",
            ),
            (
                r#"{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 70000}"#,
                "out of range",
            ),
        ];
        for (text, want) in cases {
            let e = Profile::parse(text).unwrap_err();
            assert!(e.contains(want), "{text}: {e}");
        }
    }

    #[test]
    fn includes_and_excludes() {
        let t = Target {
            arch: "amd64",
            caps: [Capability::CAP_CHOWN].into_iter().collect(),
            kernel: (6, 1),
        };
        let rule = |inc: Filter, exc: Filter| Rule {
            names: vec!["x".into()],
            action: Action::Allow,
            args: vec![],
            includes: inc,
            excludes: exc,
        };
        let caps = |c: &[Capability]| Filter {
            caps: c.iter().copied().collect(),
            ..Filter::default()
        };
        let arches = |a: &[&str]| Filter {
            arches: a.iter().map(|s| s.to_string()).collect(),
            ..Filter::default()
        };
        let kernel = |k| Filter {
            min_kernel: Some(k),
            ..Filter::default()
        };
        let none = Filter::default;
        assert!(rule(none(), none()).applies(&t));
        assert!(rule(caps(&[Capability::CAP_CHOWN]), none()).applies(&t));
        assert!(!rule(caps(&[Capability::CAP_SYS_ADMIN]), none()).applies(&t));
        assert!(!rule(none(), caps(&[Capability::CAP_CHOWN])).applies(&t));
        assert!(rule(none(), caps(&[Capability::CAP_SYS_ADMIN])).applies(&t));
        assert!(rule(arches(&["amd64", "x32"]), none()).applies(&t));
        assert!(!rule(arches(&["arm64"]), none()).applies(&t));
        assert!(!rule(none(), arches(&["amd64"])).applies(&t));
        assert!(rule(kernel((5, 8)), none()).applies(&t));
        assert!(!rule(kernel((6, 2)), none()).applies(&t));
        assert_eq!(parse_kernel_version("6.18.44-fc-v769"), Some((6, 18)));
        assert_eq!(parse_kernel_version("5"), Some((5, 0)));
    }
}
