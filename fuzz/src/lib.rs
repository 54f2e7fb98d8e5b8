//! coracle's modules that the fuzz targets exercise, compiled from coracle's tree by path so
//! that the instrumented build holds them and their few dependencies, not all of coracle (its
//! HTTP, TLS, FUSE and CLI crates). Each module keeps the path it has in coracle
//! (`crate::oci::digest`, `crate::sys::openat`), which is all they use of the rest.
#![allow(dead_code, unused_imports)]

#[path = "../../src/archive/mod.rs"]
pub mod archive;
#[path = "../../src/oci/mod.rs"]
pub mod oci;

#[doc(hidden)]
#[path = "../../src/sys/openat.rs"]
pub mod openat;
#[doc(hidden)]
#[path = "../../src/transfer/pull/platform.rs"]
pub mod platform;

pub mod sys {
    pub use super::openat;
}

pub mod transfer {
    pub mod pull {
        pub use crate::platform;
    }
}
