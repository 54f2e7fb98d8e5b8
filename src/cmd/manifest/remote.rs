//! Images and indexes in a registry: `manifest inspect REFERENCE` and `manifest add` of a
//! reference. A short name is tried in every unqualified-search registry (or its alias), and
//! each reference from its sources in registries.conf's order (mirrors first), as a pull does.
//! Every client is dropped before these return.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Read};

use anyhow::{Context as _, anyhow, bail};

use crate::cli::registry_flags::RegistryFlags;
use crate::cmd::manifest::instance::{check_manifest, platform_of};
use crate::config::Env;
use crate::oci::config::ImageConfig;
use crate::oci::digest::Digest;
use crate::oci::manifest::{self, Descriptor, Index, Manifest};
use crate::oci::reference::{self, Reference};
use crate::registry::client::{Client, FetchedManifest};
use crate::registry::conf::{PullSource, RegistriesConf};
use crate::registry::connect;
use crate::store::lists::{Instance, InstanceSource, ListPlatform};

/// Configs larger than this are not image metadata.
const MAX_CONFIG: u64 = 16 << 20;

/// A connection to where a reference was found.
pub struct Found {
    pub client: Client,
    /// The reference as the user's name resolved (before registries.conf's remapping).
    pub reference: Reference,
    /// The repository path on the registry contacted.
    pub repo: String,
}

/// The manifest or index `input` names, with the client that fetched it.
pub fn fetch(input: &str, flags: &RegistryFlags) -> anyhow::Result<(Found, FetchedManifest)> {
    let env = Env::process();
    let conf = RegistriesConf::load(&env).context("reading registries.conf")?;
    let mut errors = Vec::new();
    for candidate in candidates(&conf, input)? {
        let sources = conf.pull_sources(&candidate)?;
        for source in &sources {
            match fetch_from(&env, flags, source) {
                Ok((client, fetched)) => {
                    let found = Found {
                        client,
                        reference: candidate.clone(),
                        repo: source.reference.path().to_string(),
                    };
                    return Ok((found, fetched));
                }
                Err(e) => {
                    let e = e.context(format!("reading manifest of docker://{candidate}"));
                    errors.push(e);
                    if !source.mirror {
                        break;
                    }
                }
            }
        }
    }
    match errors.len() {
        0 => bail!("{input}: registries.conf gives no place to look for it"),
        1 => Err(errors.remove(0)),
        n => {
            let all: String = errors.iter().map(|e| format!("\n * {e:#}")).collect();
            Err(anyhow!(
                "{n} errors occurred while looking for {input}:{all}"
            ))
        }
    }
}

fn fetch_from(
    env: &Env,
    flags: &RegistryFlags,
    source: &PullSource,
) -> anyhow::Result<(Client, FetchedManifest)> {
    let client = connect::client_for(env, flags, source)?;
    let fetched =
        client.get_manifest(source.reference.path(), &tag_or_digest(&source.reference))?;
    Ok((client, fetched))
}

/// The tag or digest part of a reference, as the manifest endpoint takes it.
pub fn tag_or_digest(r: &Reference) -> String {
    match (r.digest(), r.tag()) {
        (Some(d), _) => d.to_string(),
        (None, Some(t)) => t.to_string(),
        (None, None) => "latest".to_string(),
    }
}

/// The references `input` may mean, in the order to try them (short names as a pull
/// resolves them: an alias, else each unqualified-search registry).
fn candidates(conf: &RegistriesConf, input: &str) -> anyhow::Result<Vec<Reference>> {
    if let Some(rest) = input.strip_prefix("docker://") {
        return Ok(vec![reference::normalize_docker(rest)?]);
    }
    let terminal = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    Ok(conf.resolve_short_name(input, terminal)?.candidates)
}

/// The instances `input` adds to a list: the image it names; for an index, the host's
/// platform's image, or with `all` every image in it.
pub fn instances(input: &str, all: bool, flags: &RegistryFlags) -> anyhow::Result<Vec<Instance>> {
    let (found, fetched) = fetch(input, flags)?;
    let media_type = effective_media_type(&fetched);
    if !manifest::is_index(&media_type) {
        let text = check_manifest(&media_type, &fetched.bytes, &fetched.digest)?;
        let platform = platform_from_config(&found, &text, &fetched.digest)?;
        return Ok(vec![instance(
            &found,
            &fetched.digest,
            media_type,
            text,
            platform,
        )]);
    }
    let index: Index = serde_json::from_slice(&fetched.bytes)
        .with_context(|| format!("index {} of {input} is not valid JSON", fetched.digest))?;
    let chosen: Vec<&Descriptor> = if all {
        index
            .manifests
            .iter()
            .filter(|d| manifest::is_manifest(&d.media_type))
            .collect()
    } else {
        vec![choose_host(&index).ok_or_else(|| {
            anyhow!(
                "{input}: no image in the manifest list for linux/{}",
                manifest::host_arch()
            )
        })?]
    };
    let mut out = Vec::new();
    for d in chosen {
        let m = found
            .client
            .get_manifest(&found.repo, &d.digest.to_string())
            .with_context(|| format!("reading manifest {} of {input}", d.digest))?;
        let mt = effective_media_type(&m);
        let text = check_manifest(&mt, &m.bytes, &m.digest)?;
        let platform = match index_platform(&fetched.bytes, &d.digest) {
            Some(p) => p,
            None => platform_from_config(&found, &text, &m.digest)?,
        };
        out.push(instance(&found, &m.digest, mt, text, platform));
    }
    Ok(out)
}

/// The platform an index gives its entry `digest`, with the fields `oci::manifest::Platform`
/// does not keep (`os.version`, `os.features`, Docker's `features`).
fn index_platform(index: &[u8], digest: &Digest) -> Option<ListPlatform> {
    let v: serde_json::Value = serde_json::from_slice(index).ok()?;
    let entry = v["manifests"]
        .as_array()?
        .iter()
        .find(|m| m["digest"].as_str() == Some(&digest.to_string()))?;
    let p = entry.get("platform")?;
    let text = |k: &str| p.get(k).and_then(|s| s.as_str()).map(str::to_string);
    let list = |k: &str| -> Vec<String> {
        p.get(k)
            .and_then(|a| a.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    Some(ListPlatform {
        architecture: text("architecture")?,
        os: text("os")?,
        os_version: text("os.version").filter(|s| !s.is_empty()),
        os_features: list("os.features"),
        variant: text("variant").filter(|s| !s.is_empty()),
        features: list("features"),
    })
}

fn instance(
    found: &Found,
    digest: &Digest,
    media_type: String,
    manifest: String,
    platform: ListPlatform,
) -> Instance {
    Instance {
        digest: digest.clone(),
        media_type,
        size: manifest.len() as u64,
        platform,
        annotations: BTreeMap::new(),
        manifest,
        source: InstanceSource::Remote {
            reference: found.reference.canonical(digest.clone()).to_string(),
        },
    }
}

/// The media type a registry sent, else the one the document names.
fn effective_media_type(m: &FetchedManifest) -> String {
    if manifest::is_index(&m.media_type) || manifest::is_manifest(&m.media_type) {
        return m.media_type.clone();
    }
    serde_json::from_slice::<serde_json::Value>(&m.bytes)
        .ok()
        .and_then(|v| {
            v.get("mediaType")
                .and_then(|t| t.as_str())
                .map(String::from)
        })
        .unwrap_or_else(|| m.media_type.clone())
}

/// The index entry for this machine: linux on the host's architecture, the first one listed.
fn choose_host(index: &Index) -> Option<&Descriptor> {
    index.manifests.iter().find(|d| {
        manifest::is_manifest(&d.media_type)
            && d.platform
                .as_ref()
                .is_some_and(|p| p.os == "linux" && p.architecture == manifest::host_arch())
    })
}

fn platform_from_config(
    found: &Found,
    manifest_text: &str,
    digest: &Digest,
) -> anyhow::Result<ListPlatform> {
    let m: Manifest = serde_json::from_str(manifest_text)
        .with_context(|| format!("manifest {digest} is not valid JSON"))?;
    let config_digest = &m.config.digest;
    let stream = found
        .client
        .get_blob(&found.repo, config_digest, 0)
        .with_context(|| format!("reading config {config_digest} of {}", found.reference))?;
    let mut bytes = Vec::new();
    stream
        .body
        .take(MAX_CONFIG + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("reading config {config_digest} of {}", found.reference))?;
    let actual = Digest::of_bytes(&bytes);
    if &actual != config_digest {
        bail!(
            "config of {} has digest {actual}, expected {config_digest}",
            found.reference
        );
    }
    let config = ImageConfig::parse(config_digest, &bytes)?;
    Ok(platform_of(&config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_platforms_keep_os_version_and_features() {
        let d = Digest::of_bytes(b"m");
        let index = serde_json::json!({
            "schemaVersion": 2,
            "manifests": [
                {"digest": Digest::of_bytes(b"other").to_string(), "platform": {"architecture": "amd64", "os": "linux"}},
                {"digest": d.to_string(), "platform": {
                    "architecture": "amd64", "os": "windows", "os.version": "10.0.17763.1",
                    "os.features": ["win32k"], "features": ["sse4"]}},
            ],
        });
        let p = index_platform(&serde_json::to_vec(&index).unwrap(), &d).unwrap();
        assert_eq!(p.os, "windows");
        assert_eq!(p.os_version.as_deref(), Some("10.0.17763.1"));
        assert_eq!(p.os_features, ["win32k"]);
        assert_eq!(p.features, ["sse4"]);
        assert!(index_platform(b"{}", &d).is_none());
    }
}
