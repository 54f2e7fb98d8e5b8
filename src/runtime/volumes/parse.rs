//! The text of `-v`, `--mount`, `--tmpfs`, `--device` and `--ulimit`, with Podman's syntax
//! and messages (`pkg/specgen/volumes.go`, `pkg/specgenutil/volumes.go`). Nothing here
//! touches the file system: paths are checked by `resolve`.

use serde::{Deserialize, Serialize};

use super::{MountFlags, Propagation};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("incorrect volume format {0:?}, should be [host-dir:]ctr-dir[:option]")]
    VolumeFormat(String),
    #[error("host directory cannot be empty")]
    EmptySource,
    #[error("invalid container path {0:?}, must be an absolute path")]
    RelativeDestination(String),
    #[error("invalid option type {0:?}")]
    UnknownOption(String),
    #[error("invalid options {0:?}, can only specify 1 {1} option")]
    Conflicting(String, &'static str),
    #[error("invalid volume name {0:?}: names must match [a-zA-Z0-9][a-zA-Z0-9_.-]*")]
    VolumeName(String),
    #[error("invalid option {option:?} for {what}")]
    NotFor { option: String, what: &'static str },
    #[error("invalid filesystem type {0:?}")]
    MountType(String),
    #[error("{0}: invalid mount option")]
    MountOption(String),
    #[error("{0}: must provide an argument for option")]
    MissingValue(String),
    #[error("must set volume destination")]
    NoDestination,
    #[error("--mount type=bind: src= is required")]
    NoSource,
    #[error("{0:?}: duplicate mount destination")]
    Duplicate(String),
    #[error("invalid device {0:?}: {1}")]
    Device(String, &'static str),
    #[error("invalid ulimit {0:?}: {1}")]
    Ulimit(String, String),
}

type Result<T> = std::result::Result<T, ParseError>;

/// The options of a bind mount or a volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub flags: MountFlags,
    /// `rbind` (the default) or `bind`.
    pub recursive: bool,
    pub propagation: Option<Propagation>,
    /// `U`.
    pub chown: bool,
    /// `O`.
    pub overlay: bool,
    /// `nocopy`: a new volume is not filled from the image.
    pub nocopy: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            flags: MountFlags::default(),
            recursive: true,
            propagation: None,
            chown: false,
            overlay: false,
            nocopy: false,
        }
    }
}

/// One mount as the user asked for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// A host path as given (absolute, or relative to the working directory).
    Bind {
        source: String,
        destination: String,
        options: Options,
    },
    /// A named volume, or an anonymous one (`name: None`).
    Volume {
        name: Option<String>,
        destination: String,
        options: Options,
    },
    Tmpfs {
        destination: String,
        flags: MountFlags,
        /// mount(2)'s data: `size=`, `mode=`, `nr_inodes=`, `uid=`, `gid=`.
        data: Vec<String>,
        copy_up: bool,
    },
    Devpts {
        destination: String,
        flags: MountFlags,
        data: Vec<String>,
    },
}

impl Request {
    pub fn destination(&self) -> &str {
        match self {
            Request::Bind { destination, .. }
            | Request::Volume { destination, .. }
            | Request::Tmpfs { destination, .. }
            | Request::Devpts { destination, .. } => destination,
        }
    }
}

/// A volume name as Podman accepts it.
pub fn valid_volume_name(name: &str) -> bool {
    let mut b = name.bytes();
    b.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && b.all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

/// An absolute container path, cleaned (`//a/./b/` → `/a/b`; `..` cannot leave `/`).
pub fn destination(path: &str) -> Result<String> {
    if !path.starts_with('/') {
        return Err(ParseError::RelativeDestination(path.to_string()));
    }
    let mut parts: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    Ok(format!("/{}", parts.join("/")))
}

/// Tracks the options given once at most (`ro`/`rw`, `suid`/`nosuid`...).
#[derive(Default)]
struct Seen(Vec<&'static str>);

impl Seen {
    fn once(&mut self, all: &str, group: &'static str) -> Result<()> {
        if self.0.contains(&group) {
            return Err(ParseError::Conflicting(all.to_string(), group));
        }
        self.0.push(group);
        Ok(())
    }
}

/// Applies a flag option (`ro`, `nosuid`...) shared by every kind of mount; `false` when
/// `opt` is not one.
fn flag_option(opt: &str, all: &str, flags: &mut MountFlags, seen: &mut Seen) -> Result<bool> {
    match opt {
        "ro" | "rw" => {
            seen.once(all, "'rw' or 'ro'")?;
            flags.read_only = opt == "ro";
        }
        "nosuid" | "suid" => {
            seen.once(all, "'nosuid' or 'suid'")?;
            flags.nosuid = opt == "nosuid";
        }
        "nodev" | "dev" => {
            seen.once(all, "'nodev' or 'dev'")?;
            flags.nodev = opt == "nodev";
        }
        "noexec" | "exec" => {
            seen.once(all, "'noexec' or 'exec'")?;
            flags.noexec = opt == "noexec";
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// Applies one option of `-v` (or the same word in `--mount`); `false` when unknown.
fn volume_option(opt: &str, all: &str, o: &mut Options, seen: &mut Seen) -> Result<bool> {
    if flag_option(opt, all, &mut o.flags, seen)? {
        return Ok(true);
    }
    match opt {
        // No SELinux here: the labels are accepted and nothing is relabelled.
        "z" | "Z" => seen.once(all, "'z' or 'Z'")?,
        "U" => o.chown = true,
        "O" => o.overlay = true,
        "bind" | "rbind" => {
            seen.once(all, "'bind' or 'rbind'")?;
            o.recursive = opt == "rbind";
        }
        "nocopy" | "copy" => {
            seen.once(all, "'copy' or 'nocopy'")?;
            o.nocopy = opt == "nocopy";
        }
        _ => match Propagation::parse(opt) {
            Some(p) => {
                seen.once(all, "propagation")?;
                o.propagation = Some(p);
            }
            None => return Ok(false),
        },
    }
    Ok(true)
}

/// `-v [SRC:]DEST[:OPTIONS]`: a host path (starting with `/` or `.`), a volume name, or no
/// source (an anonymous volume).
pub fn volume(spec: &str) -> Result<Request> {
    let parts: Vec<&str> = spec.split(':').collect();
    let (source, dest, opts) = match parts.as_slice() {
        [dest] => (None, *dest, ""),
        [src, dest] => (Some(*src), *dest, ""),
        [src, dest, opts] => (Some(*src), *dest, *opts),
        _ => return Err(ParseError::VolumeFormat(spec.to_string())),
    };
    if source == Some("") {
        return Err(ParseError::EmptySource);
    }
    let destination = destination(dest)?;
    let mut options = Options::default();
    let mut seen = Seen::default();
    for opt in opts.split(',').filter(|o| !o.is_empty()) {
        if !volume_option(opt, opts, &mut options, &mut seen)? {
            return Err(ParseError::UnknownOption(opt.to_string()));
        }
    }
    match source {
        Some(src) if src.starts_with('/') || src.starts_with('.') => {
            if options.nocopy {
                return Err(ParseError::NotFor {
                    option: "nocopy".into(),
                    what: "a bind mount",
                });
            }
            Ok(Request::Bind {
                source: src.to_string(),
                destination,
                options,
            })
        }
        name => {
            if let Some(n) = name
                && !valid_volume_name(n)
            {
                return Err(ParseError::VolumeName(n.to_string()));
            }
            if options.overlay {
                return Err(ParseError::NotFor {
                    option: "O".into(),
                    what: "a volume (only host directories are overlay-mounted)",
                });
            }
            Ok(Request::Volume {
                name: name.map(str::to_string),
                destination,
                options,
            })
        }
    }
}

/// Splits tmpfs options into flags, `tmpcopyup` and mount(2) data.
fn tmpfs_options<'a>(
    opts: impl Iterator<Item = &'a str>,
    all: &str,
    flags: &mut MountFlags,
    copy_up: &mut bool,
) -> Result<Vec<String>> {
    let mut seen = Seen::default();
    let mut data = Vec::new();
    for opt in opts.filter(|o| !o.is_empty()) {
        if flag_option(opt, all, flags, &mut seen)? {
            continue;
        }
        let (key, value) = opt.split_once('=').unwrap_or((opt, ""));
        match key {
            "tmpcopyup" | "notmpcopyup" => {
                seen.once(all, "'tmpcopyup' or 'notmpcopyup'")?;
                *copy_up = key == "tmpcopyup";
            }
            "size" | "mode" | "nr_inodes" | "nr_blocks" | "uid" | "gid" if !value.is_empty() => {
                data.push(opt.to_string())
            }
            "size" | "mode" | "nr_inodes" | "nr_blocks" | "uid" | "gid" => {
                return Err(ParseError::MissingValue(key.to_string()));
            }
            // The defaults of every mount here.
            "rprivate" | "private" | "z" | "Z" => {}
            _ => return Err(ParseError::UnknownOption(opt.to_string())),
        }
    }
    Ok(data)
}

/// `--tmpfs DEST[:OPTIONS]`: Podman's defaults are `rw,noexec,nosuid,nodev` and `tmpcopyup`.
pub fn tmpfs(spec: &str) -> Result<Request> {
    let (dest, opts) = spec.split_once(':').unwrap_or((spec, ""));
    let destination = destination(dest)?;
    let mut flags = MountFlags {
        read_only: false,
        nosuid: true,
        nodev: true,
        noexec: true,
    };
    let mut copy_up = true;
    let data = tmpfs_options(opts.split(','), opts, &mut flags, &mut copy_up)?;
    Ok(Request::Tmpfs {
        destination,
        flags,
        data,
        copy_up,
    })
}

/// `--mount type=TYPE,KEY=VALUE,...` (Docker's and Podman's syntax; the type defaults to
/// `volume`).
pub fn mount<'a>(spec: &'a str) -> Result<Request> {
    let mut kind = "volume";
    let mut source: Option<String> = None;
    let mut dest: Option<String> = None;
    let mut rest: Vec<&str> = Vec::new();
    for field in spec.split(',').filter(|f| !f.is_empty()) {
        let (key, value) = match field.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (field, None),
        };
        let needs = |v: Option<&'a str>| v.ok_or_else(|| ParseError::MissingValue(key.to_string()));
        match key {
            "type" => kind = needs(value)?,
            "src" | "source" => {
                let v = needs(value)?;
                if v.is_empty() {
                    return Err(ParseError::EmptySource);
                }
                source = Some(v.to_string());
            }
            "dst" | "destination" | "target" => dest = Some(destination(needs(value)?)?),
            _ => rest.push(field),
        }
    }
    let destination = dest.ok_or(ParseError::NoDestination)?;
    match kind {
        "bind" | "volume" => {
            let mut options = Options::default();
            let mut seen = Seen::default();
            for field in rest {
                let (key, value) = match field.split_once('=') {
                    Some((k, v)) => (k, Some(v)),
                    None => (field, None),
                };
                let truth = |v: Option<&str>| match v.map(str::to_ascii_lowercase).as_deref() {
                    None | Some("true") => Ok(true),
                    Some("false") => Ok(false),
                    Some(_) => Err(ParseError::MountOption(field.to_string())),
                };
                match key {
                    "readonly" | "ro" => {
                        seen.once(spec, "'rw' or 'ro'")?;
                        options.flags.read_only = truth(value)?;
                    }
                    "rw" => {
                        seen.once(spec, "'rw' or 'ro'")?;
                        options.flags.read_only = !truth(value)?;
                    }
                    "bind-propagation" => {
                        let v = value.ok_or_else(|| ParseError::MissingValue(key.into()))?;
                        options.propagation = Some(
                            Propagation::parse(v)
                                .ok_or_else(|| ParseError::MountOption(field.to_string()))?,
                        );
                    }
                    "bind-nonrecursive" => options.recursive = !truth(value)?,
                    "chown" => options.chown = truth(value)?,
                    "volume-nocopy" => options.nocopy = truth(value)?,
                    "relabel" | "consistency" | "volume-label" | "volume-opt" | "volume-driver" => {
                    }
                    _ if value.is_none()
                        && volume_option(field, spec, &mut options, &mut seen)? => {}
                    _ => return Err(ParseError::MountOption(key.to_string())),
                }
            }
            if kind == "bind" {
                let source = source.ok_or(ParseError::NoSource)?;
                if options.overlay {
                    return Err(ParseError::MountOption("O".into()));
                }
                Ok(Request::Bind {
                    source,
                    destination,
                    options,
                })
            } else {
                if let Some(n) = &source
                    && !valid_volume_name(n)
                {
                    return Err(ParseError::VolumeName(n.clone()));
                }
                Ok(Request::Volume {
                    name: source,
                    destination,
                    options,
                })
            }
        }
        "tmpfs" => {
            if source.is_some() {
                return Err(ParseError::MountOption("src".into()));
            }
            let mut flags = MountFlags {
                read_only: false,
                nosuid: true,
                nodev: true,
                noexec: false,
            };
            let mut copy_up = false;
            let renamed: Vec<String> = rest
                .iter()
                .map(|f| {
                    f.strip_prefix("tmpfs-size=")
                        .map(|v| format!("size={v}"))
                        .or_else(|| f.strip_prefix("tmpfs-mode=").map(|v| format!("mode={v}")))
                        .unwrap_or_else(|| f.to_string())
                })
                .collect();
            let data = tmpfs_options(
                renamed.iter().map(String::as_str),
                spec,
                &mut flags,
                &mut copy_up,
            )?;
            Ok(Request::Tmpfs {
                destination,
                flags,
                data,
                copy_up,
            })
        }
        "devpts" => {
            if source.is_some() {
                return Err(ParseError::MountOption("src".into()));
            }
            let mut flags = MountFlags {
                nosuid: true,
                noexec: true,
                ..MountFlags::default()
            };
            let mut seen = Seen::default();
            let mut data = vec!["newinstance".to_string(), "ptmxmode=0666".to_string()];
            for field in rest {
                if flag_option(field, spec, &mut flags, &mut seen)? {
                    continue;
                }
                match field.split_once('=').map(|(k, _)| k) {
                    Some("uid" | "gid" | "mode" | "ptmxmode" | "max") => {
                        data.push(field.to_string())
                    }
                    _ => return Err(ParseError::MountOption(field.to_string())),
                }
            }
            Ok(Request::Devpts {
                destination,
                flags,
                data,
            })
        }
        other => Err(ParseError::MountType(other.to_string())),
    }
}

/// `--device /dev/X[:/dev/Y][:PERMISSIONS]`: (host path, container path, permissions).
pub fn device(spec: &str) -> Result<(String, String, String)> {
    let is_perms =
        |s: &str| !s.is_empty() && s.len() <= 3 && s.chars().all(|c| matches!(c, 'r' | 'w' | 'm'));
    let parts: Vec<&str> = spec.split(':').collect();
    let (src, dst, perms) = match parts.as_slice() {
        [src] => (*src, *src, "rwm"),
        [src, p] if is_perms(p) => (*src, *src, *p),
        [src, dst] => (*src, *dst, "rwm"),
        [src, dst, p] if is_perms(p) => (*src, *dst, *p),
        [_, _, _] => {
            return Err(ParseError::Device(
                spec.into(),
                "permissions are a combination of r, w and m",
            ));
        }
        _ => {
            return Err(ParseError::Device(
                spec.into(),
                "expected /dev/HOST[:/dev/CONTAINER][:PERMISSIONS]",
            ));
        }
    };
    if !src.starts_with('/') {
        return Err(ParseError::Device(
            spec.into(),
            "the host path must be absolute",
        ));
    }
    let dst = destination(dst)
        .map_err(|_| ParseError::Device(spec.into(), "the container path must be absolute"))?;
    Ok((src.to_string(), dst, perms.to_string()))
}

/// An rlimit resource `--ulimit` names (setrlimit(2)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Resource {
    As,
    Core,
    Cpu,
    Data,
    Fsize,
    Locks,
    Memlock,
    Msgqueue,
    Nice,
    Nofile,
    Nproc,
    Rss,
    Rtprio,
    Rttime,
    Sigpending,
    Stack,
}

impl Resource {
    const ALL: [(&'static str, Resource); 16] = [
        ("as", Resource::As),
        ("core", Resource::Core),
        ("cpu", Resource::Cpu),
        ("data", Resource::Data),
        ("fsize", Resource::Fsize),
        ("locks", Resource::Locks),
        ("memlock", Resource::Memlock),
        ("msgqueue", Resource::Msgqueue),
        ("nice", Resource::Nice),
        ("nofile", Resource::Nofile),
        ("nproc", Resource::Nproc),
        ("rss", Resource::Rss),
        ("rtprio", Resource::Rtprio),
        ("rttime", Resource::Rttime),
        ("sigpending", Resource::Sigpending),
        ("stack", Resource::Stack),
    ];

    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, r)| *r == self)
            .map_or("?", |(n, _)| n)
    }
}

/// `--ulimit NAME=SOFT[:HARD]` (`-1`: unlimited; no hard limit: the soft one); `host` (keep
/// coracle's own limits) is `None`.
pub fn ulimit(spec: &str) -> Result<Option<super::Ulimit>> {
    if spec == "host" {
        return Ok(None);
    }
    let bad = |why: &str| ParseError::Ulimit(spec.to_string(), why.to_string());
    let (name, values) = spec
        .split_once('=')
        .ok_or_else(|| bad("expected NAME=SOFT[:HARD]"))?;
    let resource = Resource::ALL
        .iter()
        .find(|(n, _)| *n == name.strip_prefix("RLIMIT_").unwrap_or(name).to_lowercase())
        .map(|(_, r)| *r)
        .ok_or_else(|| bad(&format!("unknown resource {name:?}")))?;
    let value = |v: &str| -> Result<Option<u64>> {
        match v.parse::<i64>() {
            Ok(-1) => Ok(None),
            Ok(n) if n >= 0 => Ok(Some(n as u64)),
            _ => Err(bad(&format!("{v:?} is not a number (or -1 for unlimited)"))),
        }
    };
    let (soft, hard) = match values.split_once(':') {
        Some((s, h)) => (value(s)?, value(h)?),
        None => {
            let v = value(values)?;
            (v, v)
        }
    };
    let above = |a: Option<u64>, b: Option<u64>| match (a, b) {
        (None, Some(_)) => true,
        (Some(a), Some(b)) => a > b,
        _ => false,
    };
    if above(soft, hard) {
        return Err(bad("the soft limit is above the hard limit"));
    }
    Ok(Some(super::Ulimit {
        resource,
        soft,
        hard,
    }))
}

/// Refuses two mounts on one destination.
pub fn check_duplicates(requests: &[Request]) -> Result<()> {
    let mut seen = std::collections::HashSet::new();
    for r in requests {
        if !seen.insert(r.destination()) {
            return Err(ParseError::Duplicate(r.destination().to_string()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bind(src: &str, dst: &str, options: Options) -> Request {
        Request::Bind {
            source: src.into(),
            destination: dst.into(),
            options,
        }
    }

    #[test]
    fn volume_specs() {
        assert_eq!(
            volume("/host:/data").unwrap(),
            bind("/host", "/data", Options::default())
        );
        assert_eq!(
            volume("./rel:/data/:ro,z,U").unwrap(),
            bind(
                "./rel",
                "/data",
                Options {
                    flags: MountFlags {
                        read_only: true,
                        ..Default::default()
                    },
                    chown: true,
                    ..Default::default()
                }
            )
        );
        let v = volume("/h:/d:O,nosuid,nodev,noexec,bind,rshared").unwrap();
        let Request::Bind { options, .. } = v else {
            panic!("{v:?}")
        };
        assert!(options.overlay && !options.recursive);
        assert!(options.flags.nosuid && options.flags.nodev && options.flags.noexec);
        assert_eq!(options.propagation, Some(Propagation::Rshared));
        assert_eq!(
            volume("vol:/data").unwrap(),
            Request::Volume {
                name: Some("vol".into()),
                destination: "/data".into(),
                options: Options::default()
            }
        );
        assert!(matches!(
            volume("/data").unwrap(),
            Request::Volume { name: None, .. }
        ));
    }

    #[test]
    fn bad_volume_specs() {
        let cases = [
            ("a:b:c:d", "incorrect volume format"),
            (":/data", "host directory cannot be empty"),
            ("/h:data", "must be an absolute path"),
            ("data", "must be an absolute path"),
            ("/h:/d:foo", "invalid option type \"foo\""),
            ("/h:/d:ro,rw", "can only specify 1 'rw' or 'ro' option"),
            ("bad$name:/d", "invalid volume name"),
            ("vol:/d:O", "invalid option \"O\""),
        ];
        for (spec, want) in cases {
            let e = volume(spec).unwrap_err().to_string();
            assert!(e.contains(want), "{spec}: {e}");
        }
    }

    #[test]
    fn destinations_are_cleaned() {
        assert_eq!(destination("//a/./b/../c/").unwrap(), "/a/c");
        assert_eq!(destination("/../..").unwrap(), "/");
        assert!(destination("a/b").is_err());
    }

    #[test]
    fn mount_specs() {
        assert_eq!(
            mount("type=bind,src=/h,dst=/d,ro=true").unwrap(),
            bind(
                "/h",
                "/d",
                Options {
                    flags: MountFlags {
                        read_only: true,
                        ..Default::default()
                    },
                    ..Default::default()
                }
            )
        );
        assert!(matches!(
            mount("type=volume,target=/d").unwrap(),
            Request::Volume { name: None, .. }
        ));
        assert!(matches!(
            mount("source=v,destination=/d,readonly").unwrap(),
            Request::Volume { name: Some(_), options, .. } if options.flags.read_only
        ));
        let t = mount("type=tmpfs,dst=/t,tmpfs-size=1m,tmpfs-mode=700").unwrap();
        assert!(matches!(&t, Request::Tmpfs { data, .. } if data == &["size=1m", "mode=700"]));
        assert!(matches!(
            mount("type=devpts,target=/dev/pts2").unwrap(),
            Request::Devpts { .. }
        ));
        for (spec, want) in [
            ("type=foo,dst=/d", "invalid filesystem type \"foo\""),
            ("type=bind,dst=/d", "src= is required"),
            ("type=bind,src=/h", "must set volume destination"),
            ("type=bind,src=/h,dst=/d,what", "what: invalid mount option"),
            ("type=bind,src=/h,dst=d", "must be an absolute path"),
        ] {
            let e = mount(spec).unwrap_err().to_string();
            assert!(e.contains(want), "{spec}: {e}");
        }
    }

    #[test]
    fn tmpfs_specs() {
        let t = tmpfs("/tmp").unwrap();
        let Request::Tmpfs {
            flags,
            data,
            copy_up,
            ..
        } = t
        else {
            panic!()
        };
        assert!(flags.noexec && flags.nosuid && flags.nodev && !flags.read_only);
        assert!(data.is_empty() && copy_up);
        let t = tmpfs("/run:size=10m,mode=0755,exec,notmpcopyup").unwrap();
        let Request::Tmpfs {
            flags,
            data,
            copy_up,
            ..
        } = t
        else {
            panic!()
        };
        assert!(!flags.noexec && !copy_up);
        assert_eq!(data, ["size=10m", "mode=0755"]);
        assert!(tmpfs("tmp").is_err());
        assert!(tmpfs("/t:bogus").is_err());
    }

    #[test]
    fn device_specs() {
        assert_eq!(
            device("/dev/fuse").unwrap(),
            ("/dev/fuse".into(), "/dev/fuse".into(), "rwm".into())
        );
        assert_eq!(
            device("/dev/null:/dev/mynull:r").unwrap(),
            ("/dev/null".into(), "/dev/mynull".into(), "r".into())
        );
        assert_eq!(device("/dev/null:rw").unwrap().2, "rw");
        assert!(device("dev/null").is_err());
        assert!(device("/dev/null:/dev/x:q").is_err());
    }

    #[test]
    fn ulimit_specs() {
        let u = ulimit("nofile=1024:2048").unwrap().unwrap();
        assert_eq!(
            (u.resource, u.soft, u.hard),
            (Resource::Nofile, Some(1024), Some(2048))
        );
        let u = ulimit("core=-1").unwrap().unwrap();
        assert_eq!((u.soft, u.hard), (None, None));
        assert_eq!(ulimit("host").unwrap(), None);
        assert!(ulimit("nofile=2048:1024").is_err());
        assert!(ulimit("bogus=1").is_err());
        assert!(ulimit("nofile").is_err());
        assert!(ulimit("nofile=x").is_err());
    }

    #[test]
    fn duplicates() {
        let a = volume("/h:/d").unwrap();
        let b = tmpfs("/d/").unwrap();
        assert!(check_duplicates(&[a.clone(), b]).is_err());
        assert!(check_duplicates(&[a, tmpfs("/e").unwrap()]).is_ok());
    }
}
