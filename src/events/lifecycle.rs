//! The events a container's monitor records as the container runs: `start` once the init has
//! exec'd the container's command, `died` (with `ContainerExitCode`) when it ended — Podman's
//! names (its "exited" status is spelled `died` in the log). The image and labels come from
//! the container's record, as Podman puts the labels among the attributes.

use std::path::Path;

use super::{Event, EventLog};
use crate::store::containers;

/// Records `start` for the container in `dir`.
pub fn started(graphroot: &Path, dir: &Path, id: &str, name: &str) {
    record(graphroot, dir, id, name, "start", None);
}

/// Records `died` for the container in `dir`; `code` is its exit status (128+N for signal N),
/// `None` when the monitor lost track of it.
pub fn died(graphroot: &Path, dir: &Path, id: &str, name: &str, code: Option<i32>) {
    record(graphroot, dir, id, name, "died", code);
}

fn record(graphroot: &Path, dir: &Path, id: &str, name: &str, status: &str, code: Option<i32>) {
    let rec = containers::read(dir).ok();
    let image = rec.as_ref().map(|r| r.image.as_str()).unwrap_or_default();
    let mut e = Event::container(status, id, name, image);
    if let Some(r) = &rec {
        for (k, v) in &r.labels {
            // `image` and `name` are the event's own attributes.
            e.attributes.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    e.exit_code = code;
    EventLog::new(graphroot).record(&e);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn died_carries_the_exit_code_even_without_a_record() {
        let tmp = tempfile::tempdir().unwrap();
        died(
            tmp.path(),
            &tmp.path().join("nothing"),
            "abc",
            "web",
            Some(3),
        );
        started(tmp.path(), &tmp.path().join("nothing"), "abc", "web");
        let all = EventLog::new(tmp.path()).read_all().unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(
            (all[0].status.as_str(), all[0].exit_code),
            ("died", Some(3))
        );
        assert_eq!((all[1].status.as_str(), all[1].exit_code), ("start", None));
        assert_eq!(all[1].name, "web");
    }
}
