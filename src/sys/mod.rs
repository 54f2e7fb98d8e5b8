//! The only place for `unsafe` and raw system calls. Each block carries a `// SAFETY:` line;
//! wrappers take `BorrowedFd` and return `OwnedFd`.
#![allow(unsafe_code)]

pub mod mount;
pub mod net;
pub mod openat;
pub mod pidfd;
pub mod poll;
pub mod process;
pub mod pty;
pub mod reaper;
pub mod seccomp;
pub mod session;
