//! coracle: a daemonless, rootless container tool with a Podman-compatible command line.
//!
//! The binary (`src/main.rs`) only parses arguments and maps results to exit codes; everything
//! else lives here so that integration tests and benchmarks can call it directly. Follow the
//! data: `cli` (argument structs) -> `cmd` (one file per command) -> engine modules (`store`,
//! `transfer`, `archive`, `oci`) -> `sys` (the only `unsafe`).

pub mod archive;
pub mod build;
pub mod cli;
pub mod cmd;
pub mod config;
pub mod doctor;
pub mod error;
pub mod events;
pub mod failpoint;
pub mod kube;
pub mod oci;
pub mod output;
pub mod overlay;
pub mod paths;
pub mod pod;
pub mod registry;
pub mod runtime;
pub mod store;
pub mod sys;
pub mod transfer;
