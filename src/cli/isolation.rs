//! The container's identity and confinement flags of `run` and `create` (flattened into
//! `RunArgs`): user and groups, user namespace, capabilities, security options, `--init`,
//! `--env-host`.

use std::path::PathBuf;

use clap::Args;

#[derive(Debug, Args, Default)]
pub struct IsolationArgs {
    /// Username or UID, optionally with a group (user[:group])
    #[arg(short = 'u', long = "user", value_name = "USER")]
    pub user: Option<String>,
    /// Add additional groups to the container's process (names or GIDs; keep-groups keeps
    /// the user's own supplementary groups)
    #[arg(long = "group-add", value_name = "GROUP")]
    pub group_add: Vec<String>,
    /// User namespace: host, keep-id[:uid=UID,gid=GID] (default: container root is you)
    #[arg(long, value_name = "MODE")]
    pub userns: Option<String>,
    /// UID map CONTAINER:HOST:SIZE; HOST is an id of your own user namespace (0 is you, then
    /// your subordinate ids)
    #[arg(long = "uidmap", value_name = "MAP")]
    pub uidmap: Vec<String>,
    /// GID map CONTAINER:HOST:SIZE (default: the UID map)
    #[arg(long = "gidmap", value_name = "MAP")]
    pub gidmap: Vec<String>,
    /// Add Linux capabilities (a name with or without CAP_, or ALL; comma-separated lists too)
    #[arg(long = "cap-add", value_name = "CAP")]
    pub cap_add: Vec<String>,
    /// Drop Linux capabilities (a name with or without CAP_, or ALL)
    #[arg(long = "cap-drop", value_name = "CAP")]
    pub cap_drop: Vec<String>,
    /// Give the container every capability, no masked or read-only paths and no seccomp filter
    #[arg(long)]
    pub privileged: bool,
    /// Security options: seccomp=unconfined|FILE, no-new-privileges, mask=PATHS,
    /// unmask=ALL|PATHS, label=disable
    #[arg(long = "security-opt", value_name = "OPT")]
    pub security_opt: Vec<String>,
    /// Run a small init as PID 1 that forwards signals and reaps processes
    #[arg(long)]
    pub init: bool,
    /// Path to the init binary (coracle's own init is used; accepted for Podman's scripts)
    #[arg(long = "init-path", value_name = "PATH")]
    pub init_path: Option<PathBuf>,
    /// Use the host's environment as the container's base environment
    #[arg(long = "env-host")]
    pub env_host: bool,
}
