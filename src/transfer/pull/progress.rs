//! What a pull tells the user on stderr, as Podman does: plain lines when stderr is not a
//! terminal, progress bars when it is, nothing with `--quiet`.

use std::io::Write;
use std::sync::Mutex;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::oci::digest::Digest;

pub enum Progress {
    Quiet,
    Lines,
    /// Every line is a (finished) bar of its own, kept until the end so that indicatif
    /// keeps them on the screen in order, text lines included (`println` would put text
    /// above the bars, and a dropped bar is erased).
    Bars(MultiProgress, Mutex<Vec<ProgressBar>>),
}

impl Progress {
    /// Bars on a terminal, lines otherwise, or nothing.
    pub fn new(quiet: bool) -> Progress {
        use std::io::IsTerminal;
        if quiet {
            Progress::Quiet
        } else if std::io::stderr().is_terminal() {
            Progress::Bars(
                MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
                Mutex::new(Vec::new()),
            )
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
            Progress::Bars(m, keep) => {
                let bar = m.add(ProgressBar::new(0));
                if let Ok(style) = ProgressStyle::with_template("{msg}") {
                    bar.set_style(style);
                }
                bar.finish_with_message(text.to_string());
                keep.lock().unwrap_or_else(|p| p.into_inner()).push(bar);
            }
        }
    }

    /// A bar for one blob being copied (terminals only).
    pub fn blob_bar(&self, kind: &str, digest: &Digest, size: u64) -> Option<ProgressBar> {
        let Progress::Bars(m, keep) = self else {
            return None;
        };
        let bar = m.add(ProgressBar::new(size));
        keep.lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(bar.clone());
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
            (Progress::Bars(..), Some(bar)) => bar.finish_with_message(what.to_string()),
            (Progress::Bars(..), None) => {
                self.line(&format!("Copying {kind} {} {what}", &digest.hex()[..12]));
            }
            _ => self.line(&format!("Copying {kind} {digest} {what}")),
        }
    }
}
