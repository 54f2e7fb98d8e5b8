//! The typed reports a container's processes send up a pipe: init → monitor → the command
//! that started it (as youki's `channel.rs`, with crun's `(errno, message)` errors).
//!
//! Each report is one frame: a 4-byte little-endian length and that many bytes of JSON. The
//! pipes are close-on-exec, so end of file after nothing from the init means its `execve`
//! succeeded. An exit status is decided from the `errno` a report carries ([`Report::ExecFailed`]
//! → 126/127, [`Report::Failed`] → 125), never from its text, which is only shown.

use std::fmt;
use std::fs::File;
use std::io::{self, Read, Write};

use nix::errno::Errno;
use serde::{Deserialize, Serialize};

/// The longest frame accepted (a report is a few hundred bytes; this bounds a corrupt length).
const MAX_FRAME: u32 = 64 * 1024;

/// What a container setup step was doing when it failed, for the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Step {
    /// Copying the image's layers into the container's root file system (vfs).
    Rootfs,
    /// Cloning the container's init into its new namespaces.
    Clone,
    Hostname,
    Loopback,
    Mounts,
    PivotRoot,
    User,
    Workdir,
    Privileges,
    /// Connecting the container's standard streams (or its terminal).
    Stdio,
    /// Removing the container's root file system (`--rm`).
    Cleanup,
    /// Joining a running container's namespaces (`exec`, `cp`).
    Join,
    /// Copying files in a container's root file system (`cp`).
    Copy,
    /// Starting the network helper (pasta, slirp4netns) and publishing ports.
    Network,
}

impl Step {
    pub fn describe(self) -> &'static str {
        match self {
            Step::Rootfs => "preparing the container's root file system",
            Step::Clone => "creating the container's namespaces",
            Step::Hostname => "setting the container's hostname",
            Step::Loopback => "bringing up the loopback interface",
            Step::Mounts => "mounting the container's file systems",
            Step::PivotRoot => "switching to the container's root file system",
            Step::User => "switching to the container's user",
            Step::Workdir => "entering the working directory",
            Step::Privileges => "dropping privileges",
            Step::Stdio => "connecting the container's standard streams",
            Step::Cleanup => "removing the container's root file system",
            Step::Join => "joining the container's namespaces",
            Step::Copy => "copying in the container",
            Step::Network => "configuring the container's network",
        }
    }
}

/// One report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Report {
    /// A setup step failed (coracle's error, 125); `errno` 0 when no system call failed.
    Failed {
        step: Step,
        errno: i32,
        detail: String,
    },
    /// The command's `execve` failed with `errno` (126 or 127).
    ExecFailed { errno: i32 },
    /// The init exec'd the command; `pid` in the monitor's PID namespace.
    Started { pid: i32 },
    /// The command exited with `code`.
    Exited { code: i32 },
    /// The command was killed by `signal`.
    Signaled { signal: i32 },
}

/// A [`Report::Failed`] as an error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct StepError {
    pub step: Step,
    pub errno: i32,
    pub detail: String,
}

impl fmt::Display for StepError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.step.describe())?;
        if !self.detail.is_empty() {
            write!(f, ": {}", self.detail)?;
        }
        if self.errno != 0 {
            write!(f, ": {}", Errno::from_raw(self.errno).desc())?;
        }
        Ok(())
    }
}

impl Report {
    pub fn failed(step: Step, errno: Errno, detail: impl Into<String>) -> Report {
        Report::Failed {
            step,
            errno: errno as i32,
            detail: detail.into(),
        }
    }

    /// A failed step from an I/O error (its errno, if it has one).
    pub fn failed_io(step: Step, err: &io::Error, detail: impl Into<String>) -> Report {
        let errno = err.raw_os_error().unwrap_or(0);
        let mut detail = detail.into();
        if errno == 0 {
            if !detail.is_empty() {
                detail.push_str(": ");
            }
            detail.push_str(&err.to_string());
        }
        Report::Failed {
            step,
            errno,
            detail,
        }
    }
}

/// Writes one frame. A frame is written with one `write(2)` when it fits the pipe's atomic
/// size, so a reader never sees half of it from a writer that died.
pub fn send(to: &mut File, report: &Report) -> io::Result<()> {
    let body = serde_json::to_vec(report).map_err(io::Error::other)?;
    let mut frame = (body.len() as u32).to_le_bytes().to_vec();
    frame.extend_from_slice(&body);
    to.write_all(&frame)
}

/// Reads one frame; `None` at end of file before it.
pub fn recv(from: &mut File) -> io::Result<Option<Report>> {
    let mut len = [0u8; 4];
    let mut got = 0;
    while got < len.len() {
        match from.read(&mut len[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let len = u32::from_le_bytes(len);
    if len > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("a report of {len} bytes"),
        ));
    }
    let mut body = vec![0u8; len as usize];
    from.read_exact(&mut body)?;
    serde_json::from_slice(&body)
        .map(Some)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// Every report until end of file.
pub fn recv_all(from: &mut File) -> io::Result<Vec<Report>> {
    let mut all = Vec::new();
    while let Some(r) = recv(from)? {
        all.push(r);
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_round_trip_through_a_pipe() {
        let (rx, tx) = nix::unistd::pipe().unwrap();
        let (mut rx, mut tx) = (File::from(rx), File::from(tx));
        let reports = vec![
            Report::failed(Step::Mounts, Errno::EPERM, "mounting proc on /x/proc"),
            Report::ExecFailed {
                errno: libc::ENOENT,
            },
            Report::Started { pid: 42 },
            Report::Exited { code: 3 },
            Report::Signaled { signal: 9 },
        ];
        for r in &reports {
            send(&mut tx, r).unwrap();
        }
        drop(tx);
        assert_eq!(recv_all(&mut rx).unwrap(), reports);
    }

    #[test]
    fn truncated_and_oversized_frames_are_errors() {
        let (rx, tx) = nix::unistd::pipe().unwrap();
        let (mut rx, mut tx) = (File::from(rx), File::from(tx));
        tx.write_all(&[5, 0]).unwrap();
        drop(tx);
        assert!(recv(&mut rx).is_err());
        let (rx, tx) = nix::unistd::pipe().unwrap();
        let (mut rx, mut tx) = (File::from(rx), File::from(tx));
        tx.write_all(&u32::MAX.to_le_bytes()).unwrap();
        drop(tx);
        assert!(recv(&mut rx).is_err());
    }

    #[test]
    fn step_errors_read_well() {
        let e = StepError {
            step: Step::Mounts,
            errno: libc::EPERM,
            detail: "mounting sysfs on /sys".into(),
        };
        assert_eq!(
            e.to_string(),
            "mounting the container's file systems: mounting sysfs on /sys: Operation not permitted"
        );
        let e = StepError {
            step: Step::User,
            errno: 0,
            detail: "no user web in /etc/passwd".into(),
        };
        assert_eq!(
            e.to_string(),
            "switching to the container's user: no user web in /etc/passwd"
        );
    }
}
