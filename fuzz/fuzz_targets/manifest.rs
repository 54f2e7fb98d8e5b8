//! Arbitrary bytes as the JSON documents pull and load read: an image manifest, an index
//! (manifest list), an image config, a docker-archive `manifest.json`. Each parses or is
//! refused, never a panic or a stack overflow; what parses serialises and parses back the same;
//! the media-type tests and the platform choice of an index never panic, and the choice is
//! an image manifest of the wanted platform.
#![no_main]

use coracle_fuzz::oci::config::ImageConfig;
use coracle_fuzz::oci::digest::Digest;
use coracle_fuzz::oci::manifest::{self, DockerArchiveItem, Index, Manifest};
use coracle_fuzz::transfer::pull::platform::{self, Wanted};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = serde_json::from_slice::<Manifest>(data) {
        let bytes = serde_json::to_vec(&m).expect("a parsed manifest serialises");
        assert_eq!(
            serde_json::from_slice::<Manifest>(&bytes).ok(),
            Some(m.clone())
        );
        let _ = m.media_type.as_deref().map(manifest::is_manifest);
        for l in &m.layers {
            let _ = (
                manifest::is_index(&l.media_type),
                manifest::is_manifest(&l.media_type),
            );
        }
        // What commit and push write for it.
        let layers: Vec<manifest::LayerDescriptor> = m
            .layers
            .iter()
            .map(|l| manifest::LayerDescriptor {
                media_type: l.media_type.clone(),
                digest: l.digest.clone(),
                size: l.size,
            })
            .collect();
        for schema in [manifest::Schema::Oci, manifest::Schema::Docker] {
            let (bytes, built) = manifest::build(schema, &m.config.digest, m.config.size, &layers);
            assert_eq!(serde_json::from_slice::<Manifest>(&bytes).ok(), Some(built));
        }
    }
    if let Ok(index) = serde_json::from_slice::<Index>(data) {
        let bytes = serde_json::to_vec(&index).expect("a parsed index serialises");
        assert_eq!(
            serde_json::from_slice::<Index>(&bytes).ok(),
            Some(index.clone())
        );
        let _ = platform::available(&index);
        for p in [
            "linux/amd64",
            "linux/arm64",
            "linux/arm",
            "linux/arm/v6",
            "windows/amd64",
        ] {
            let wanted = Wanted::from_flags(Some(p), None, None, None).expect("a valid platform");
            if let Some(d) = wanted.choose(&index) {
                assert!(manifest::is_manifest(&d.media_type));
                let plat = d.platform.as_ref().expect("a chosen image has a platform");
                assert_eq!(
                    (plat.os.as_str(), plat.architecture.as_str()),
                    (wanted.os.as_str(), wanted.arch.as_str())
                );
            }
        }
    }
    let digest = Digest::of_bytes(data);
    if let Ok(config) = ImageConfig::parse(&digest, data) {
        let _ = config.labels();
        let bytes = serde_json::to_vec(&config).expect("a parsed config serialises");
        let again = ImageConfig::parse(&digest, &bytes).expect("a serialised config parses");
        assert_eq!(again.rootfs, config.rootfs);
        assert_eq!(again.history, config.history);
        assert_eq!(again.config, config.config);
    }
    if let Ok(items) = serde_json::from_slice::<Vec<DockerArchiveItem>>(data) {
        let bytes = serde_json::to_vec(&items).expect("items serialise");
        assert_eq!(
            serde_json::from_slice::<Vec<DockerArchiveItem>>(&bytes).ok(),
            Some(items)
        );
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Wanted::from_flags(Some(text), None, None, None);
        let _ = text.parse::<Digest>();
    }
});
