//! Running a program and judging its result, in the style of ripgrep's `tests/util.rs`: a
//! failed assertion dumps the whole command line, the user it ran as, its exit status, stdout
//! and stderr, so a CI log alone tells what went wrong.

use std::ffi::OsStr;
use std::fmt;
use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// How long any one command may run before the test kills it and fails.
const TIMEOUT: Duration = Duration::from_secs(300);

enum Input {
    None,
    Bytes(Vec<u8>),
    File(std::path::PathBuf),
}

/// A command to run, with the user it runs as (for the failure report).
pub struct Cmd {
    cmd: Command,
    user: String,
    /// The arguments a reader should see: the program under test and its arguments, without
    /// the `setpriv ...` wrapper.
    shown: Vec<String>,
    input: Input,
}

impl Cmd {
    /// `program` run directly, reported as run by `user`.
    pub fn new(program: impl AsRef<OsStr>, user: &str) -> Cmd {
        let program = program.as_ref();
        Cmd {
            cmd: Command::new(program),
            user: user.to_string(),
            shown: vec![program.to_string_lossy().into_owned()],
            input: Input::None,
        }
    }

    /// Wraps an already prepared `Command` (e.g. `setpriv ... coracle`); `shown` is what the
    /// report prints as the program.
    pub fn wrap(cmd: Command, shown: &str, user: &str) -> Cmd {
        Cmd {
            cmd,
            user: user.to_string(),
            shown: vec![shown.to_string()],
            input: Input::None,
        }
    }

    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Cmd {
        let arg = arg.as_ref();
        self.shown.push(arg.to_string_lossy().into_owned());
        self.cmd.arg(arg);
        self
    }

    pub fn args<I, S>(&mut self, args: I) -> &mut Cmd
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        for a in args {
            self.arg(a);
        }
        self
    }

    /// Sets an environment variable for the command (shown in the report).
    pub fn env(&mut self, key: &str, value: impl AsRef<OsStr>) -> &mut Cmd {
        let value = value.as_ref();
        self.shown
            .insert(0, format!("{key}={}", value.to_string_lossy()));
        self.cmd.env(key, value);
        self
    }

    /// Feeds `bytes` on standard input (otherwise stdin is /dev/null).
    pub fn stdin(&mut self, bytes: impl Into<Vec<u8>>) -> &mut Cmd {
        self.input = Input::Bytes(bytes.into());
        self
    }

    /// Feeds the file at `path` on standard input.
    pub fn stdin_file(&mut self, path: &Path) -> &mut Cmd {
        self.input = Input::File(path.to_path_buf());
        self
    }

    /// The prepared process, for a test that spawns it and talks to it while it runs.
    pub fn command(&mut self) -> &mut Command {
        &mut self.cmd
    }

    /// The command line as a reader would type it.
    pub fn command_line(&self) -> String {
        self.shown
            .iter()
            .map(|a| shell_quote(a))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Runs the command and returns what happened, whatever it was.
    pub fn output(&mut self) -> Output {
        let line = self.command_line();
        self.cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut feed = None;
        match &self.input {
            Input::None => {
                self.cmd.stdin(Stdio::null());
            }
            Input::Bytes(b) => {
                self.cmd.stdin(Stdio::piped());
                feed = Some(b.clone());
            }
            Input::File(p) => {
                let f = File::open(p).unwrap_or_else(|e| panic!("opening {}: {e}", p.display()));
                self.cmd.stdin(Stdio::from(f));
            }
        }
        let mut child = self
            .cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start `{line}` as {}: {e}", self.user));
        let feeder = feed.map(|bytes| {
            let mut stdin = child.stdin.take().expect("piped stdin");
            thread::spawn(move || {
                // The program may exit without reading everything (an error); that is its
                // business, judged by its status.
                let _ = stdin.write_all(&bytes);
            })
        });
        let mut out = child.stdout.take().expect("piped stdout");
        let mut err = child.stderr.take().expect("piped stderr");
        let out_reader = thread::spawn(move || {
            let mut v = Vec::new();
            let _ = out.read_to_end(&mut v);
            v
        });
        let err_reader = thread::spawn(move || {
            let mut v = Vec::new();
            let _ = err.read_to_end(&mut v);
            v
        });
        let start = Instant::now();
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if start.elapsed() > TIMEOUT => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!(
                        "`{line}` as {} did not finish within {}s and was killed",
                        self.user,
                        TIMEOUT.as_secs()
                    );
                }
                Ok(None) => thread::sleep(Duration::from_millis(5)),
                Err(e) => panic!("waiting for `{line}`: {e}"),
            }
        };
        if let Some(f) = feeder {
            let _ = f.join();
        }
        Output {
            command_line: line,
            user: self.user.clone(),
            status,
            stdout: out_reader.join().unwrap_or_default(),
            stderr: err_reader.join().unwrap_or_default(),
        }
    }

    /// Runs the command and asserts it exited 0.
    pub fn ok(&mut self) -> Output {
        let o = self.output();
        if !o.status.success() {
            panic!("command failed, expected success\n{o}");
        }
        o
    }

    /// Runs the command and asserts it exited with `code`.
    pub fn fails(&mut self, code: i32) -> Output {
        let o = self.output();
        if o.status.code() != Some(code) {
            panic!("expected exit status {code}\n{o}");
        }
        o
    }

    /// Runs the command, asserts success and returns its stdout as text.
    pub fn stdout(&mut self) -> String {
        self.ok().stdout()
    }
}

/// What a finished command did.
pub struct Output {
    pub command_line: String,
    pub user: String,
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl Output {
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }

    /// The exit code, `None` when a signal ended the process.
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// The signal that ended the process, if one did.
    pub fn signal(&self) -> Option<i32> {
        self.status.signal()
    }

    /// Panics with the full report.
    pub fn fail(&self, why: impl fmt::Display) -> ! {
        panic!("{why}\n{self}")
    }

    /// Asserts stderr contains `needle` (a Podman-style `Error: ...` message part).
    pub fn assert_stderr_contains(&self, needle: &str) -> &Output {
        if !self.stderr().contains(needle) {
            self.fail(format_args!("stderr does not contain {needle:?}"));
        }
        self
    }

    /// Asserts the Podman error convention: exit 125 and a line starting with `Error: `.
    pub fn assert_error(&self) -> &Output {
        if self.code() != Some(125) {
            self.fail("expected exit status 125");
        }
        if !self.stderr().lines().any(|l| l.starts_with("Error: ")) {
            self.fail("expected a line starting with `Error: ` on stderr");
        }
        self
    }

    /// Parses stdout as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.stdout)
            .unwrap_or_else(|e| self.fail(format_args!("stdout is not JSON: {e}")))
    }
}

impl fmt::Display for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let status = match (self.status.code(), self.status.signal()) {
            (Some(c), _) => format!("exit status {c}"),
            (None, Some(s)) => format!("killed by signal {s}"),
            _ => format!("{:?}", self.status),
        };
        write!(
            f,
            "\n===== COMMAND (as {}) =====\n{}\n===== STATUS =====\n{}\n\
             ===== STDOUT =====\n{}\n===== STDERR =====\n{}\n==================\n",
            self.user,
            self.command_line,
            status,
            truncate_for_report(&self.stdout()),
            truncate_for_report(&self.stderr()),
        )
    }
}

fn truncate_for_report(s: &str) -> String {
    const MAX: usize = 20_000;
    if s.len() <= MAX {
        return s.to_string();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}\n... ({} more bytes)", &s[..end], s.len() - end)
}

fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:@,+%^".contains(&b))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}
