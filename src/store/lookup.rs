//! Finding an image from what a user typed, in libimage's order: a full ID or digest, then the
//! name's candidates as exact stored names (`localhost/NAME`, `docker.io/library/NAME`, ...),
//! then a unique ID prefix, then a short name matched against any stored repository that ends
//! with it (`crate::oci::reference::LookupName`).

use crate::oci::digest::Digest;
use crate::oci::manifest;
use crate::oci::reference::{self, LookupName, Reference};
use crate::store::images::ImageRecord;
use crate::store::lists::ListRecord;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LookupError {
    #[error("{0}: image not known")]
    NotKnown(String),
    #[error("{input}: ambiguous ID prefix, it matches images {}", .matches.join(", "))]
    Ambiguous { input: String, matches: Vec<String> },
}

/// How an input matched, which decides what `rmi` and `untag` do with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Matched {
    /// By one of the image's names (the stored full name).
    Name(String),
    /// By ID, ID prefix or digest.
    Id,
}

/// Finds the one image `input` designates among `images`.
pub fn find<'a>(
    images: &'a [ImageRecord],
    input: &str,
) -> Result<(&'a ImageRecord, Matched), LookupError> {
    let trimmed = input.strip_prefix("sha256:").unwrap_or(input);
    if let Ok(d) = Digest::from_hex(trimmed)
        && let Some(img) = images.iter().find(|i| i.id == d || i.digest == d)
    {
        return Ok((img, Matched::Id));
    }
    let lookup = LookupName::parse(input, &[]).ok();
    if let Some(lookup) = &lookup {
        for candidate in lookup.candidates() {
            if let Some(hit) = find_exact(images, candidate, lookup.digest()) {
                return Ok(hit);
            }
        }
    }
    let is_hex = !trimmed.is_empty()
        && trimmed.len() <= 64
        && trimmed.bytes().all(|b| b.is_ascii_hexdigit());
    if is_hex {
        let lower = trimmed.to_ascii_lowercase();
        let hits: Vec<&ImageRecord> = images
            .iter()
            .filter(|i| i.id.hex().starts_with(&lower))
            .collect();
        match hits.len() {
            0 => {}
            1 => return Ok((hits[0], Matched::Id)),
            _ => {
                return Err(LookupError::Ambiguous {
                    input: input.to_string(),
                    matches: hits.iter().map(|i| i.id.short().to_string()).collect(),
                });
            }
        }
    }
    if let Some(lookup) = &lookup {
        // The most recently added image wins when several match, as in Podman.
        let mut best: Option<(&ImageRecord, String)> = None;
        for img in images {
            if lookup.digest().is_some_and(|d| *d != img.digest) {
                continue;
            }
            let hit = img
                .names
                .iter()
                .find(|n| parse_stored(n).is_some_and(|r| lookup.matches_repo_suffix(&r)));
            if let Some(n) = hit
                && best.as_ref().is_none_or(|(b, _)| img.added > b.added)
            {
                best = Some((img, n.clone()));
            }
        }
        if let Some((img, n)) = best {
            let matched = if lookup.digest().is_some() {
                Matched::Id
            } else {
                Matched::Name(n)
            };
            return Ok((img, matched));
        }
    }
    Err(LookupError::NotKnown(input.to_string()))
}

fn find_exact<'a>(
    images: &'a [ImageRecord],
    candidate: &Reference,
    digest: Option<&Digest>,
) -> Option<(&'a ImageRecord, Matched)> {
    match digest {
        Some(d) => images
            .iter()
            .find(|i| {
                &i.digest == d
                    && i.names
                        .iter()
                        .any(|n| parse_stored(n).is_some_and(|r| r.same_repository(candidate)))
            })
            .map(|i| (i, Matched::Id)),
        None => {
            let wanted = candidate.to_string();
            images
                .iter()
                .find(|i| i.names.contains(&wanted))
                .map(|i| (i, Matched::Name(wanted.clone())))
        }
    }
}

/// A manifest list seen as an image record, so that `find` resolves images and lists alike:
/// Podman keeps a list as an image, and `images`, `rmi` and `tag` treat it as one. `digest`,
/// `media_type` and `size` describe the index as stored (the caller serialises it). The record
/// has no layers, so it is never anyone's parent or child.
pub fn list_as_image(
    list: &ListRecord,
    digest: Digest,
    media_type: &str,
    size: u64,
) -> ImageRecord {
    ImageRecord {
        id: list.id.clone(),
        names: list.names.clone(),
        names_history: Vec::new(),
        digest,
        manifest_media_type: media_type.to_string(),
        layers: Vec::new(),
        size,
        added: list.created,
        parent: None,
    }
}

/// Whether `rec` stands for a manifest list (`list_as_image`): no stored image has an index
/// for a manifest.
pub fn is_list(rec: &ImageRecord) -> bool {
    manifest::is_index(&rec.manifest_media_type)
}

/// A stored name as a reference (stored names are always full).
pub fn parse_stored(name: &str) -> Option<Reference> {
    reference::normalize_docker(name).ok()
}
