//! coracle's integration tests: one binary, a module per theme, run against the real `coracle`
//! binary as root, as a user with subordinate ids and as one without (see `harness`).
//!
//! `tests/run-all.sh` sets the machine up (packages, users, device modes) and runs them all.

mod harness;

mod crash;
mod hostile;
mod images;
mod import;
mod info;
mod inspect;
mod interop;
mod load;
mod odd;
mod rmi;
mod save;
mod tag;
