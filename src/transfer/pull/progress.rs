//! What a pull tells the user on stderr, as Podman does: plain lines when stderr is not a
//! terminal, progress bars when it is, nothing with `--quiet`.

use std::io::Write;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::oci::digest::Digest;

pub enum Progress {
    Quiet,
    Lines,
    Bars(MultiProgress),
}

impl Progress {
    /// Bars on a terminal, lines otherwise, or nothing.
    pub fn new(quiet: bool) -> Progress {
        use std::io::IsTerminal;
        if quiet {
            Progress::Quiet
        } else if std::io::stderr().is_terminal() {
            Progress::Bars(MultiProgress::with_draw_target(ProgressDrawTarget::stderr()))
        } else {
            Progress::Lines
        }
    }

    /// One line of text (above the bars, when there are bars).
    pub fn line(&self, text: &str) {
        match self {
            Progress::Quiet => {}
            Progress::Lines => {
                let mut err = std::io::stderr().lock();
                let _ = writeln!(err, "{text}");
            }
            Progress::Bars(m) => {
                let _ = m.println(text);
            }
        }
    }

    /// A bar for one blob being copied (terminals only).
    pub fn blob_bar(&self, kind: &str, digest: &Digest, size: u64) -> Option<ProgressBar> {
        let Progress::Bars(m) = self else {
            return None;
        };
        let bar = m.add(ProgressBar::new(size));
        let style = ProgressStyle::with_template(
            "Copying {prefix} {bar:30} {binary_bytes} / {binary_total_bytes} {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        bar.set_prefix(format!("{kind} {}", &digest.hex()[..12]));
        Some(bar)
    }

    /// A blob that was copied (`done`) or not needed (`skipped: already exists`).
    pub fn blob_finished(&self, kind: &str, digest: &Digest, bar: Option<ProgressBar>, what: &str) {
        match (self, bar) {
            (Progress::Bars(_), Some(bar)) => bar.finish_with_message(what.to_string()),
            (Progress::Bars(m), None) => {
                let bar = m.add(ProgressBar::new(0));
                if let Ok(style) = ProgressStyle::with_template("Copying {prefix} {msg}") {
                    bar.set_style(style);
                }
                bar.set_prefix(format!("{kind} {}", &digest.hex()[..12]));
                bar.finish_with_message(what.to_string());
            }
            _ => self.line(&format!("Copying {kind} {digest} {what}")),
        }
    }
}
