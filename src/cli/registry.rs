//! `login` and `logout`, spelled as Podman spells them.

use std::path::PathBuf;

use clap::Args;

#[derive(Debug, Clone, Args)]
pub struct LoginArgs {
    /// The registry (`host[:port]`, or `host/repo` for credentials of one repository);
    /// default: the first unqualified-search registry
    #[arg(value_name = "REGISTRY")]
    pub registry: Option<String>,
    /// Username for registry
    #[arg(short = 'u', long)]
    pub username: Option<String>,
    /// Password for registry
    #[arg(short = 'p', long)]
    pub password: Option<String>,
    /// Take the password from stdin
    #[arg(long)]
    pub password_stdin: bool,
    /// Path of the authentication file. Default is ${XDG_RUNTIME_DIR}/containers/auth.json
    #[arg(long, value_name = "PATH")]
    pub authfile: Option<PathBuf>,
    /// Use certificates at the specified path to access the registry
    #[arg(long, value_name = "DIR")]
    pub cert_dir: Option<PathBuf>,
    /// Require HTTPS and verify certificates when contacting registries (default: true, or
    /// false for registries marked insecure in registries.conf)
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub tls_verify: Option<bool>,
    /// Return the current login user for the registry
    #[arg(long)]
    pub get_login: bool,
    /// Write more detailed information to stdout
    #[arg(short = 'v', long)]
    pub verbose: bool,
}

#[derive(Debug, Clone, Args)]
pub struct LogoutArgs {
    /// The registry (`host[:port]`, or `host/repo`); default: the first unqualified-search
    /// registry
    #[arg(value_name = "REGISTRY", conflicts_with = "all")]
    pub registry: Option<String>,
    /// Remove the cached credentials for all registries in the auth file
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Path of the authentication file. Default is ${XDG_RUNTIME_DIR}/containers/auth.json
    #[arg(long, value_name = "PATH")]
    pub authfile: Option<PathBuf>,
}
