//! `auto-update` and the `run`/`create` flag it depends on (`--label`).

use std::collections::BTreeMap;

use clap::Args;

/// The label (and environment variable) naming the systemd unit that runs a container.
pub const SYSTEMD_UNIT_LABEL: &str = "PODMAN_SYSTEMD_UNIT";

/// `run`/`create` labels, kept in the container's record.
#[derive(Debug, Args, Default)]
pub struct LabelArgs {
    /// Set metadata on the container (KEY=VALUE; can be given several times)
    #[arg(short = 'l', long = "label", value_name = "KEY=VALUE")]
    pub label: Vec<String>,
}

impl LabelArgs {
    /// The labels as a map; `KEY` alone is `KEY=` (Podman's reading). Under a unit that
    /// `generate systemd` or `quadlet` wrote (`PODMAN_SYSTEMD_UNIT` in the environment) the
    /// container is labelled with the unit's name, which `auto-update` restarts.
    pub fn parse(&self) -> anyhow::Result<BTreeMap<String, String>> {
        let mut out = BTreeMap::new();
        if let Ok(unit) = std::env::var(SYSTEMD_UNIT_LABEL)
            && !unit.is_empty()
        {
            out.insert(SYSTEMD_UNIT_LABEL.to_string(), unit);
        }
        for l in &self.label {
            let (k, v) = l.split_once('=').unwrap_or((l.as_str(), ""));
            if k.is_empty() {
                anyhow::bail!("--label {l:?}: the key is empty");
            }
            out.insert(k.to_string(), v.to_string());
        }
        Ok(out)
    }
}

#[derive(Debug, Args)]
pub struct AutoUpdateArgs {
    /// Check for pending updates without pulling or restarting anything
    #[arg(long)]
    pub dry_run: bool,
    /// Roll back to the previous image when the container fails to restart on the updated one
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub rollback: bool,
    /// Pretty-print the results using a Go template (fields: Unit, Container, ContainerName, ContainerID, Image, Policy, Updated)
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<String>,
    #[command(flatten)]
    pub registry: super::registry_flags::RegistryFlags,
}
