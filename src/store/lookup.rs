//! Finding an image from what a user typed: a full or short ID, a manifest digest, a name
//! (normalised and matched as Podman matches short names), or `name@digest`.

use crate::oci::digest::Digest;
use crate::oci::reference;
use crate::store::images::ImageRecord;

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
pub fn find<'a>(images: &'a [ImageRecord], input: &str) -> Result<(&'a ImageRecord, Matched), LookupError> {
    let trimmed = input.strip_prefix("sha256:").unwrap_or(input);
    // A full ID or manifest digest.
    if let Ok(d) = Digest::from_hex(trimmed) {
        if let Some(img) = images.iter().find(|i| i.id == d || i.digest == d) {
            return Ok((img, Matched::Id));
        }
    }
    // A name, possibly with @digest.
    if let Some((img, name)) = find_by_name(images, input) {
        return Ok((img, name));
    }
    // A unique ID prefix.
    let is_hex = !trimmed.is_empty() && trimmed.len() <= 64 && trimmed.bytes().all(|b| b.is_ascii_hexdigit());
    if is_hex {
        let lower = trimmed.to_ascii_lowercase();
        let hits: Vec<&ImageRecord> = images.iter().filter(|i| i.id.hex().starts_with(&lower)).collect();
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
    Err(LookupError::NotKnown(input.to_string()))
}

fn find_by_name<'a>(images: &'a [ImageRecord], input: &str) -> Option<(&'a ImageRecord, Matched)> {
    let (name_part, digest) = match input.rsplit_once('@') {
        Some((n, d)) => (n, d.parse::<Digest>().ok()),
        None => (input, None),
    };
    if let Some(digest) = digest {
        // name@digest: the digest decides; the name must match the repository of one of the names.
        return images.iter().find(|i| i.digest == digest && i.names.iter().any(|n| {
            reference::repository_matches(name_part, n)
        })).map(|i| (i, Matched::Id));
    }
    // Exact stored names first, then Podman's short-name matching.
    for img in images {
        if let Some(n) = img.names.iter().find(|n| n.as_str() == input) {
            return Some((img, Matched::Name(n.clone())));
        }
    }
    let mut best: Option<(&ImageRecord, String)> = None;
    for img in images {
        if let Some(n) = img.names.iter().find(|n| reference::name_matches(input, n)) {
            // Podman prefers the most recently added image when several match.
            if best.as_ref().is_none_or(|(b, _)| img.added > b.added) {
                best = Some((img, n.clone()));
            }
        }
    }
    best.map(|(img, n)| (img, Matched::Name(n)))
}
