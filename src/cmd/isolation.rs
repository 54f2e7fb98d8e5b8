//! What `create` makes of the identity and confinement flags ([`IsolationArgs`]): the
//! container's [`Security`], its user namespace's mapping, its user, and the host
//! environment for `--env-host`.

use anyhow::Context as _;

use crate::cli::isolation::IsolationArgs;
use crate::runtime::UserMapping;
use crate::runtime::idmap::{UsernsMode, parse_map_flag};
use crate::runtime::security::{self, Security};

/// The decisions `create` writes into the container's spec.
pub struct Isolation {
    pub security: Security,
    pub mapping: UserMapping,
    /// The user the container runs as unless `-u` says otherwise: the image's, or with
    /// keep-id the kept ids (which win over the image's, as in Podman).
    pub user: String,
}

/// Decides the container's isolation from `args`; `image_user` is the image's `User`.
pub fn decide(args: &IsolationArgs, image_user: &str) -> anyhow::Result<Isolation> {
    let security = Security::from_flags(
        &args.cap_add,
        &args.cap_drop,
        args.privileged,
        &args.security_opt,
        &security::all_caps(),
    )?;
    if args.group_add.iter().any(|g| g == "keep-groups") && args.group_add.len() > 1 {
        anyhow::bail!(
            "the '--group-add keep-groups' option is not allowed with any other --group-add \
             options"
        );
    }
    let mode = UsernsMode::parse(args.userns.as_deref().unwrap_or_default())?;
    let uidmap = args
        .uidmap
        .iter()
        .map(|v| parse_map_flag("uidmap", v))
        .collect::<Result<Vec<_>, _>>()?;
    let gidmap = args
        .gidmap
        .iter()
        .map(|v| parse_map_flag("gidmap", v))
        .collect::<Result<Vec<_>, _>>()?;
    let own = (
        nix::unistd::geteuid().as_raw(),
        nix::unistd::getegid().as_raw(),
    );
    let mapping = UserMapping::current()
        .context("computing the user namespace's id mapping")?
        .for_container(mode, &uidmap, &gidmap, own)?;
    let user = match (&args.user, mode) {
        (Some(u), _) => u.clone(),
        (None, UsernsMode::KeepId { uid, gid }) => {
            format!("{}:{}", uid.unwrap_or(own.0), gid.unwrap_or(own.1))
        }
        (None, _) => image_user.to_string(),
    };
    Ok(Isolation {
        security,
        mapping,
        user,
    })
}

/// The host's environment as `NAME=value` lines, for `--env-host`: it comes after the image's
/// and before `--env-file` and `-e`, as in Podman. `HOSTNAME` stays the container's, and a
/// value with a newline cannot be passed this way.
pub fn host_environment() -> String {
    std::env::vars()
        .filter(|(k, v)| k != "HOSTNAME" && !k.contains('=') && !v.contains('\n'))
        .map(|(k, v)| format!("{k}={v}\n"))
        .collect()
}
