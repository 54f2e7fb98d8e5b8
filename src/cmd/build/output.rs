//! Podman's build output: `STEP n/m: ...` lines, `--> Using cache <id>`, `--> <short id>`
//! after each step, `COMMIT`, `Successfully tagged`; only the image ID with `-q`. Progress
//! goes to stdout as Podman's does; warnings to stderr.

use crate::oci::digest::Digest;

pub struct Printer {
    pub quiet: bool,
}

impl Printer {
    /// A progress line (nothing with `-q`).
    pub fn step(&self, line: &str) {
        if !self.quiet {
            // A closed stdout must not stop the build; the final ID's write reports it.
            let _ = crate::cmd::out(&format!("{line}\n"));
        }
    }

    /// `--> <short id>` after a step.
    pub fn id_line(&self, id: Option<&Digest>) {
        if let Some(id) = id {
            self.step(&format!("--> {}", &id.hex()[..12]));
        }
    }

    pub fn warn(&self, text: &str) {
        crate::output::eprint(&format!("WARN: {text}\n"));
    }
}
