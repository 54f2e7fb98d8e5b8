//! coracle's integration tests: one binary, a module per theme, run against the real `coracle`
//! binary as root, as a user with subordinate ids and as one without (see `harness`).
//!
//! `tests/run-all.sh` sets the machine up (packages, users, device modes) and runs them all.
//! A test that cannot run here prints one line `SKIP <test> as <user>: <reason>`.
//!
//! Environment: `CORACLE_IT_TMPDIR` moves the test directories (default
//! `/var/tmp/coracle-it-<uid>`); `CORACLE_IT_BIN` runs another binary instead of the built
//! `coracle` (`/usr/bin/podman` checks what the tests expect of Podman's behaviour against
//! Podman itself: its output formats agree, but Podman 4.3 names a docker archive's
//! `busybox:latest` `localhost/busybox:latest` where the issue asks for `docker.io/library/`,
//! and it accepts the hostile archives).

mod harness;

mod attach;
mod autoupdate;
mod build;
mod build_cache_registry;
mod build_context;
mod build_copy;
mod build_features;
mod build_interop;
mod build_more;
mod commit;
mod completion;
mod concurrency;
mod cp;
mod crash;
mod crash_all;
mod df;
mod diff;
mod doctor;
mod events;
mod exec;
mod export;
mod generate;
mod health;
mod hostile;
mod images;
mod import;
mod info;
mod inspect;
mod interop;
mod kill;
mod kube;
mod lifecycle;
mod load;
mod login;
mod logs;
mod manifest;
mod mounts;
mod network;
mod odd;
mod overlay;
mod overlay_files;
mod package;
mod pjdfstest;
mod pod;
mod ports;
mod prune;
mod ps;
mod pull;
mod push;
mod quadlet;
mod registry_harness;
mod rename;
mod rm_running;
mod rmi;
mod run;
mod save;
mod sdnotify;
mod search;
mod seccomp;
mod security;
mod stop;
mod system_check;
mod system_reset;
mod systemd_user;
mod tag;
mod top;
mod tty;
mod unshare;
mod userns;
mod users;
mod volumes;
mod wait;
