//! Exit statuses, chosen from error kinds as Podman chooses them.
//!
//! Every command returns `anyhow::Result<ExitStatus>`. An error becomes exit status 125
//! (coracle's own failure) unless it carries a [`StatusError`] somewhere in its chain, which
//! names the status explicitly (e.g. `rmi`: 1 for "no such image", 2 for "image in use").

use std::fmt;

/// The status the process exits with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    Success,
    /// An explicit status: a container's own, or one of Podman's documented codes.
    Code(u8),
}

impl ExitStatus {
    /// Podman's status for its own errors.
    pub const OWN_ERROR: u8 = 125;
    /// The container command exists but cannot be invoked.
    pub const CANNOT_INVOKE: u8 = 126;
    /// The container command was not found.
    pub const NOT_FOUND: u8 = 127;

    pub fn code(self) -> u8 {
        match self {
            ExitStatus::Success => 0,
            ExitStatus::Code(c) => c,
        }
    }
}

/// An error that exits with a status other than 125.
#[derive(Debug)]
pub struct StatusError {
    pub status: u8,
    pub error: anyhow::Error,
}

impl StatusError {
    /// Wraps `error` so that it exits with `status`.
    pub fn wrap(status: u8, error: anyhow::Error) -> anyhow::Error {
        anyhow::Error::new(StatusError { status, error })
    }
}

impl fmt::Display for StatusError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#}", self.error)
    }
}

impl std::error::Error for StatusError {}

/// The exit status for an error: the first [`StatusError`] in its chain, else 125.
pub fn status_of(err: &anyhow::Error) -> u8 {
    err.chain()
        .find_map(|e| e.downcast_ref::<StatusError>().map(|s| s.status))
        .unwrap_or(ExitStatus::OWN_ERROR)
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context as _;

    #[test]
    fn plain_errors_are_125() {
        assert_eq!(status_of(&anyhow::anyhow!("boom")), 125);
    }

    #[test]
    fn status_survives_context() {
        let err: anyhow::Result<()> = Err(StatusError::wrap(2, anyhow::anyhow!("image is in use")));
        let err = err.context("removing image").unwrap_err();
        assert_eq!(status_of(&err), 2);
    }
}
