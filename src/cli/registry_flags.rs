//! The flags every command that talks to a registry shares (`pull`, `push`, `run --pull`,
//! `search`, `manifest push`), spelled as Podman spells them.

use std::path::PathBuf;

use clap::Args;

#[derive(Debug, Clone, Default, Args)]
pub struct RegistryFlags {
    /// Require HTTPS and verify certificates when contacting registries (default: true, or
    /// false for registries marked insecure in registries.conf)
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub tls_verify: Option<bool>,
    /// Use certificates at the specified path to access the registry
    #[arg(long, value_name = "DIR")]
    pub cert_dir: Option<PathBuf>,
    /// Use `USERNAME[:PASSWORD]` for accessing the registry
    #[arg(long, value_name = "USERNAME[:PASSWORD]")]
    pub creds: Option<String>,
    /// Path of the authentication file. Default is ${XDG_RUNTIME_DIR}/containers/auth.json
    #[arg(long, value_name = "PATH", env = "REGISTRY_AUTH_FILE")]
    pub authfile: Option<PathBuf>,
    /// Number of times to retry in case of failure when performing pull or push
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub retry: u32,
    /// Delay between retries in case of pull or push failure (e.g. 2s, 500ms)
    #[arg(long, value_name = "DURATION")]
    pub retry_delay: Option<String>,
}
