//! Pure data of the OCI and Docker image formats: digests, references, manifests, configs.
//! Nothing here touches the file system.

pub mod config;
pub mod digest;
pub mod manifest;
#[cfg(test)]
pub(crate) mod mutate;
pub mod reference;
