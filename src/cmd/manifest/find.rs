//! Finding a list from what a user typed: its ID (or a unique prefix), or one of its names as
//! `tag` normalises them (`mylist` is `localhost/mylist:latest`).

use anyhow::bail;

use crate::oci::digest::Digest;
use crate::oci::reference;
use crate::store::Store;
use crate::store::lists::ListRecord;
use crate::store::lookup;

/// No list by that name; `rm` and `exists` answer it with status 1.
#[derive(Debug, thiserror::Error)]
#[error("{0}: image not known")]
pub struct NotKnown(pub String);

pub fn is_not_known(e: &anyhow::Error) -> bool {
    e.downcast_ref::<NotKnown>().is_some()
}

pub fn list(store: &Store, input: &str) -> anyhow::Result<ListRecord> {
    let lists = store.lists().list()?;
    if let Some(l) = find(&lists, input)? {
        return Ok(l.clone());
    }
    let images = store.images().list()?;
    if lookup::find(&images, input).is_ok() {
        bail!("{input}: image is not a manifest list");
    }
    Err(NotKnown(input.to_string()).into())
}

fn find<'a>(lists: &'a [ListRecord], input: &str) -> anyhow::Result<Option<&'a ListRecord>> {
    let trimmed = input.strip_prefix("sha256:").unwrap_or(input);
    if let Ok(id) = Digest::from_hex(trimmed)
        && let Some(l) = lists.iter().find(|l| l.id == id)
    {
        return Ok(Some(l));
    }
    let names: Vec<String> = [
        reference::normalize_local(input)
            .map(|r| r.to_string())
            .ok(),
        reference::normalize_docker(input)
            .map(|r| r.to_string())
            .ok(),
        Some(input.to_string()),
    ]
    .into_iter()
    .flatten()
    .collect();
    for n in &names {
        if let Some(l) = lists.iter().find(|l| l.names.contains(n)) {
            return Ok(Some(l));
        }
    }
    let is_hex =
        !trimmed.is_empty() && trimmed.len() < 64 && trimmed.bytes().all(|b| b.is_ascii_hexdigit());
    if is_hex {
        let lower = trimmed.to_ascii_lowercase();
        let hits: Vec<&ListRecord> = lists
            .iter()
            .filter(|l| l.id.hex().starts_with(&lower))
            .collect();
        match hits.len() {
            0 => {}
            1 => return Ok(Some(hits[0])),
            _ => bail!("{input}: ambiguous ID prefix, it matches several manifest lists"),
        }
    }
    Ok(None)
}

/// A name a new list may take: Podman's lists are images, so an image's name is taken.
pub fn name_free_of_images(store: &Store, name: &str) -> anyhow::Result<()> {
    if let Some(img) = store
        .images()
        .list()?
        .iter()
        .find(|i| i.names.iter().any(|n| n == name))
    {
        bail!(
            "creating image to hold manifest list: image name {name:?} is already associated with image {:?}: that name is already in use",
            img.id.hex()
        );
    }
    Ok(())
}

/// The instance `input` designates: a manifest digest, or a local image (its manifest).
pub fn instance_digest(store: &Store, list: &ListRecord, input: &str) -> anyhow::Result<Digest> {
    let trimmed = input.strip_prefix("sha256:").unwrap_or(input);
    if let Ok(d) = Digest::from_hex(trimmed) {
        return Ok(d);
    }
    let images = store.images().list()?;
    if let Ok((img, _)) = lookup::find(&images, input) {
        // The instance added from this image, whatever manifest it was added with.
        let from_image = list.instances.iter().find(|i| {
            matches!(&i.source, crate::store::lists::InstanceSource::Local { image } if *image == img.id)
        });
        return Ok(from_image.map_or_else(|| img.digest.clone(), |i| i.digest.clone()));
    }
    bail!("invalid image digest {input:?}: invalid checksum digest format")
}
