//! `build`: images from a Containerfile, without a daemon.
//!
//! The pieces, one job each:
//! - [`syntax`]: the parsed Containerfile (stages of instructions, words still raw);
//! - [`parse`]: text to [`syntax::Containerfile`], errors naming file, line and column;
//! - [`expand`]: `$VAR`, `${VAR:-x}`, `${VAR:+x}` and quote removal, done per step by the
//!   executor, which knows the ARG and ENV values each step sees;
//! - [`context`]: the build context (directory, tar, stdin, URL, git) and its ignore file;
//! - [`copy`]: what a COPY or ADD puts into its layer (as a tar) and the digest of its
//!   sources, which is part of the step's cache key;
//! - the executor (stages, RUN in a container, commit of each step, the layer cache, Podman's
//!   output) drives them.

pub mod context;
pub mod copy;
pub mod expand;
mod fetch;
pub mod ignore;
pub mod parse;
mod scratch;
pub mod syntax;
#[cfg(test)]
mod testutil;
mod unpack;
