//! Kubernetes YAML: `generate` writes a Pod (with a Service and PersistentVolumeClaims) from
//! coracle's containers and pods, with typed objects from `k8s-openapi` serialised by
//! `serde-saphyr`; `play` runs Pods and Deployments from such YAML.

pub mod fields;
pub mod generate;
pub mod play;
