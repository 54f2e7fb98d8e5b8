//! Pods: containers sharing network, UTS and IPC namespaces (and their user namespace),
//! held by an infra process of coracle's own rather than a container from an image.
//!
//! - `record`: the pod's record in the store (`<graphroot>/pods/<id>/pod.json`);
//! - `infra`: the process holding the namespaces, and pasta for the pod's ports;
//! - `join`: a container's monitor entering the pod's namespaces;
//! - `exit_policy`: `--exit-policy stop`, the infra stopped after the last container.

pub mod exit_policy;
pub mod infra;
pub mod join;
pub mod record;

pub use join::PodJoin;
pub use record::{PodRecord, Pods};
