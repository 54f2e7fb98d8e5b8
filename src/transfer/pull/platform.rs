//! Choosing one image from an index (manifest list) by platform, as c/image does: the OS and
//! architecture must match; the variant matches when equal, and an image without a variant
//! stands for its architecture's default (`arm64` is `v8`, `arm` is `v7`); an older `arm`
//! variant still runs on a newer one.

use crate::oci::manifest::{self, Descriptor, Index};

/// The platform a pull wants (`--platform`, `--os`, `--arch`, `--variant`, else the host's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    pub os: String,
    pub arch: String,
    pub variant: Option<String>,
}

impl Default for Wanted {
    fn default() -> Self {
        Wanted {
            os: "linux".into(),
            arch: manifest::host_arch().into(),
            variant: None,
        }
    }
}

impl Wanted {
    /// From the flags: `--platform OS/ARCH[/VARIANT]` first, then `--os`, `--arch`,
    /// `--variant` override the host's values.
    pub fn from_flags(
        platform: Option<&str>,
        os: Option<&str>,
        arch: Option<&str>,
        variant: Option<&str>,
    ) -> Result<Wanted, String> {
        let mut wanted = Wanted::default();
        if let Some(p) = platform.filter(|p| !p.is_empty()) {
            let parts: Vec<&str> = p.split('/').collect();
            match parts.as_slice() {
                [o, a] if !o.is_empty() && !a.is_empty() => {
                    wanted.os = o.to_string();
                    wanted.arch = a.to_string();
                }
                [o, a, v] if !o.is_empty() && !a.is_empty() && !v.is_empty() => {
                    wanted.os = o.to_string();
                    wanted.arch = a.to_string();
                    wanted.variant = Some(v.to_string());
                }
                _ => {
                    return Err(format!(
                        "invalid platform {p:?}: expected OS/ARCH or OS/ARCH/VARIANT"
                    ));
                }
            }
        }
        if let Some(o) = os.filter(|o| !o.is_empty()) {
            wanted.os = o.to_string();
        }
        if let Some(a) = arch.filter(|a| !a.is_empty()) {
            wanted.arch = a.to_string();
        }
        if let Some(v) = variant.filter(|v| !v.is_empty()) {
            wanted.variant = Some(v.to_string());
        }
        Ok(wanted)
    }

    /// The variants acceptable, best first; `None` means any variant is.
    fn variants(&self) -> Option<Vec<String>> {
        let default = default_variant(&self.arch);
        let want = self.variant.clone().or(default.map(str::to_string))?;
        if self.arch == "arm" {
            // Newer ARM cores run older variants' code.
            let n: u32 = want.trim_start_matches('v').parse().ok()?;
            return Some((5..=n).rev().map(|i| format!("v{i}")).collect());
        }
        Some(vec![want])
    }

    /// The best matching descriptor of `index`.
    pub fn choose<'a>(&self, index: &'a Index) -> Option<&'a Descriptor> {
        let candidates = index.manifests.iter().filter(|d| {
            manifest::is_manifest(&d.media_type)
                && d.platform
                    .as_ref()
                    .is_some_and(|p| p.os == self.os && p.architecture == self.arch)
        });
        let variant_of = |d: &Descriptor| {
            d.platform
                .as_ref()
                .and_then(|p| p.variant.clone().filter(|v| !v.is_empty()))
                .or_else(|| default_variant(&self.arch).map(str::to_string))
        };
        match self.variants() {
            None => {
                let all: Vec<&Descriptor> = candidates.collect();
                // An image without a variant is the plain one for this architecture.
                all.iter()
                    .find(|d| variant_of(d).is_none())
                    .or(all.first())
                    .copied()
            }
            Some(order) => {
                let all: Vec<&Descriptor> = candidates.collect();
                order.iter().find_map(|v| {
                    all.iter()
                        .find(|d| variant_of(d).as_deref() == Some(v))
                        .copied()
                })
            }
        }
    }

    /// `OS/ARCH[/VARIANT]` for messages.
    pub fn describe(&self) -> String {
        match &self.variant {
            Some(v) => format!("{}/{}/{v}", self.os, self.arch),
            None => format!("{}/{}", self.os, self.arch),
        }
    }
}

fn default_variant(arch: &str) -> Option<&'static str> {
    match arch {
        "arm64" => Some("v8"),
        "arm" => Some("v7"),
        _ => None,
    }
}

/// The platforms an index offers, for the error when none matches.
pub fn available(index: &Index) -> Vec<String> {
    index
        .manifests
        .iter()
        .filter_map(|d| d.platform.as_ref())
        .map(|p| match p.variant.as_deref().filter(|v| !v.is_empty()) {
            Some(v) => format!("{}/{}/{v}", p.os, p.architecture),
            None => format!("{}/{}", p.os, p.architecture),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::digest::Digest;
    use crate::oci::manifest::Platform;

    fn desc(n: u8, os: &str, arch: &str, variant: Option<&str>) -> Descriptor {
        Descriptor {
            media_type: manifest::OCI_MANIFEST.into(),
            digest: Digest::of_bytes(&[n]),
            size: 1,
            platform: Some(Platform {
                architecture: arch.into(),
                os: os.into(),
                variant: variant.map(str::to_string),
            }),
            annotations: Default::default(),
        }
    }

    fn index(ds: Vec<Descriptor>) -> Index {
        serde_json::from_value(serde_json::json!({
            "schemaVersion": 2,
            "manifests": ds,
        }))
        .unwrap()
    }

    fn want(p: &str) -> Wanted {
        Wanted::from_flags(Some(p), None, None, None).unwrap()
    }

    #[test]
    fn chooses_by_os_arch_and_variant() {
        let idx = index(vec![
            desc(1, "linux", "amd64", None),
            desc(2, "linux", "arm64", Some("v8")),
            desc(3, "linux", "arm", Some("v6")),
            desc(4, "linux", "arm", Some("v7")),
        ]);
        let pick = |w: &Wanted| w.choose(&idx).map(|d| d.digest.clone());
        assert_eq!(pick(&want("linux/amd64")), Some(Digest::of_bytes(&[1])));
        assert_eq!(pick(&want("linux/arm64")), Some(Digest::of_bytes(&[2])));
        assert_eq!(pick(&want("linux/arm")), Some(Digest::of_bytes(&[4])));
        assert_eq!(pick(&want("linux/arm/v6")), Some(Digest::of_bytes(&[3])));
        assert_eq!(pick(&want("linux/s390x")), None);
        assert_eq!(pick(&want("windows/amd64")), None);
    }

    #[test]
    fn arm64_without_variant_is_v8() {
        let idx = index(vec![desc(1, "linux", "arm64", None)]);
        assert!(want("linux/arm64/v8").choose(&idx).is_some());
        assert!(want("linux/arm64").choose(&idx).is_some());
    }

    #[test]
    fn flags_override_platform() {
        let w = Wanted::from_flags(Some("linux/arm/v7"), None, Some("arm64"), Some("v8")).unwrap();
        assert_eq!(w.describe(), "linux/arm64/v8");
        assert!(Wanted::from_flags(Some("linux"), None, None, None).is_err());
        assert_eq!(
            available(&index(vec![desc(1, "linux", "arm", Some("v7"))])),
            vec!["linux/arm/v7"]
        );
    }
}
