//! One health check: `coracle healthcheck-probe DIR` from `/proc/self/exe`, in a process
//! group of its own, its output (standard output and error together) on a pipe that is read
//! without ever blocking, killed with its whole group (the joiner and the command in the
//! container are in it) once the check's time is up.

use std::fs::File;
use std::io::{self, Read as _};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::Utc;
use nix::fcntl::OFlag;
use nix::sys::signal::Signal;
use nix::unistd::Pid;

use super::{LogEntry, cap_output};

/// How a check that ran out of time is logged (its exit code: Podman's failure code).
const TIMED_OUT: i32 = 1;

/// A check under way.
#[derive(Debug)]
pub struct Probe {
    child: Child,
    output: File,
    kept: Vec<u8>,
    start: chrono::DateTime<Utc>,
    deadline: Instant,
    timeout: Duration,
}

impl Probe {
    /// Starts the check (its startup check with `startup`) of the container in `dir`, which
    /// may take `timeout`.
    pub fn spawn(dir: &Path, timeout: Duration, startup: bool) -> io::Result<Probe> {
        let (read, write) = nix::unistd::pipe2(OFlag::O_CLOEXEC)?;
        let write2: OwnedFd = write.try_clone()?;
        let null = File::open("/dev/null")?;
        let start = Utc::now();
        let mut cmd = Command::new("/proc/self/exe");
        // A session of its own: no controlling terminal (`healthcheck run` from the user's
        // shell: the check's command must not reach the user's terminal through /dev/tty),
        // and its own process group, which the command it starts in the container stays in,
        // so a check over time is killed whole.
        crate::sys::session::new_session(&mut cmd);
        cmd.arg("healthcheck-probe").arg(dir);
        if startup {
            cmd.arg("--startup");
        }
        let child = cmd
            .stdin(Stdio::from(null))
            .stdout(Stdio::from(write))
            .stderr(Stdio::from(write2))
            .spawn()?;
        let output = File::from(read);
        let flags =
            OFlag::from_bits_truncate(nix::fcntl::fcntl(&output, nix::fcntl::FcntlArg::F_GETFL)?);
        nix::fcntl::fcntl(
            &output,
            nix::fcntl::FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK),
        )?;
        Ok(Probe {
            child,
            output,
            kept: Vec::new(),
            start,
            deadline: Instant::now() + timeout,
            timeout,
        })
    }

    /// The pipe its output comes on.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.output.as_fd()
    }

    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Reads what output there is (beyond what is kept, it is read and dropped, so the
    /// check never waits on a full pipe).
    fn read_output(&mut self) {
        let mut buf = [0u8; 4096];
        loop {
            match self.output.read(&mut buf) {
                Ok(0) => return,
                Ok(n) => {
                    let room = (super::MAX_OUTPUT * 4).saturating_sub(self.kept.len());
                    self.kept.extend_from_slice(&buf[..n.min(room)]);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return,
            }
        }
    }

    /// The result once the check ended or ran out of time (`now` past its deadline: its
    /// group is killed); `None` while it runs.
    pub fn poll(&mut self, now: Instant) -> io::Result<Option<LogEntry>> {
        self.read_output();
        if let Some(status) = self.child.try_wait()? {
            self.read_output();
            return Ok(Some(self.entry(exit_code(status))));
        }
        if now < self.deadline {
            return Ok(None);
        }
        self.kill();
        let _ = self.child.wait();
        self.read_output();
        let mut entry = self.entry(TIMED_OUT);
        if !entry.output.is_empty() && !entry.output.ends_with('\n') {
            entry.output.push('\n');
        }
        entry.output.push_str(&format!(
            "Health check exceeded timeout of {}",
            go_duration(self.timeout)
        ));
        Ok(Some(entry))
    }

    /// Waits for the result (the command's side: `healthcheck run`).
    pub fn wait(mut self) -> io::Result<LogEntry> {
        loop {
            let now = Instant::now();
            if let Some(entry) = self.poll(now)? {
                return Ok(entry);
            }
            // Woken by output, or at the latest every 50 ms to see whether it ended (its
            // output pipe may stay open in a process it left behind).
            let left = self
                .deadline
                .saturating_duration_since(now)
                .min(Duration::from_millis(50))
                + Duration::from_millis(1);
            let _ = crate::sys::poll::poll(&[(self.fd(), crate::sys::poll::IN)], Some(left));
        }
    }

    fn kill(&self) {
        let group = Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::killpg(group, Signal::SIGKILL);
    }

    fn entry(&self, exit_code: i32) -> LogEntry {
        LogEntry {
            start: self.start,
            end: Utc::now(),
            exit_code,
            output: cap_output(&self.kept),
        }
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            self.kill();
            let _ = self.child.wait();
        }
    }
}

fn exit_code(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt as _;
    status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
}

/// `30s`, `1m30s`, `500ms` (Go's `Duration.String`, enough of it).
fn go_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let secs = d.as_secs();
    let frac = d.subsec_millis();
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    let s = if frac > 0 {
        format!("{s}.{}s", format!("{frac:03}").trim_end_matches('0'))
    } else {
        format!("{s}s")
    };
    match (h, m) {
        (0, 0) => s,
        (0, m) => format!("{m}m{s}"),
        (h, m) => format!("{h}h{m}m{s}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_as_go_prints_them() {
        assert_eq!(go_duration(Duration::from_secs(30)), "30s");
        assert_eq!(go_duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(go_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(go_duration(Duration::from_secs(3600)), "1h0m0s");
    }
}
