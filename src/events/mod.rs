//! The per-user event log behind `coracle events`: one JSON object per line appended to
//! `<graphroot>/events/events.log` by the command (or monitor) that did the thing — no daemon,
//! no journald. A line is written with one `write(2)` on an `O_APPEND` descriptor, so
//! concurrent writers never interleave within a line; at [`ROTATE_AT`] bytes the log is
//! renamed to `events.log.1` (the one before that is dropped), so it never grows unbounded.
//! Recording an event never fails the command that did the thing: errors are logged and
//! dropped.

pub mod lifecycle;

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub const DIR: &str = "events";
const LOG: &str = "events.log";
const ROTATED: &str = "events.log.1";
/// Size at which the log is rotated.
pub const ROTATE_AT: u64 = 4 << 20;

/// What an event is about, as Podman names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventType {
    Container,
    Image,
    Volume,
    System,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Container => "container",
            EventType::Image => "image",
            EventType::Volume => "volume",
            EventType::System => "system",
        }
    }
}

/// One event, with Podman's JSON field names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    #[serde(rename = "ID", default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    #[serde(rename = "Image", default, skip_serializing_if = "String::is_empty")]
    pub image: String,
    #[serde(rename = "Name", default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(rename = "Status")]
    pub status: String,
    #[serde(rename = "Type")]
    pub kind: EventType,
    #[serde(
        rename = "Attributes",
        default,
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub attributes: BTreeMap<String, String>,
    #[serde(
        rename = "ContainerExitCode",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub exit_code: Option<i32>,
    #[serde(rename = "Error", default, skip_serializing_if = "String::is_empty")]
    pub error: String,
    pub time: DateTime<Utc>,
}

impl Event {
    pub fn new(kind: EventType, status: &str) -> Event {
        Event {
            id: String::new(),
            image: String::new(),
            name: String::new(),
            status: status.to_string(),
            kind,
            attributes: BTreeMap::new(),
            exit_code: None,
            error: String::new(),
            time: Utc::now(),
        }
    }

    /// An image event: `id` the image ID (hex or empty), `name` the reference it concerns.
    pub fn image(status: &str, id: &str, name: &str) -> Event {
        Event {
            id: id.trim_start_matches("sha256:").to_string(),
            name: name.to_string(),
            ..Event::new(EventType::Image, status)
        }
    }

    /// A container event.
    pub fn container(status: &str, id: &str, name: &str, image: &str) -> Event {
        let mut e = Event {
            id: id.to_string(),
            name: name.to_string(),
            image: image.to_string(),
            ..Event::new(EventType::Container, status)
        };
        e.attributes.insert("image".into(), image.to_string());
        e.attributes.insert("name".into(), name.to_string());
        e
    }

    /// A volume event.
    pub fn volume(status: &str, name: &str) -> Event {
        Event {
            name: name.to_string(),
            ..Event::new(EventType::Volume, status)
        }
    }

    /// Podman's one-line text form.
    pub fn to_text(&self) -> String {
        let time = self
            .time
            .with_timezone(&chrono::Local)
            .format("%Y-%m-%d %H:%M:%S%.9f %z %Z");
        match self.kind {
            EventType::Container => {
                let attrs: Vec<String> = std::iter::once(format!("image={}", self.image))
                    .chain(std::iter::once(format!("name={}", self.name)))
                    .chain(
                        self.attributes
                            .iter()
                            .filter(|(k, _)| *k != "image" && *k != "name")
                            .map(|(k, v)| format!("{k}={v}")),
                    )
                    .collect();
                format!(
                    "{time} container {} {} ({})",
                    self.status,
                    self.id,
                    attrs.join(", ")
                )
            }
            EventType::Image => format!("{time} image {} {} {}", self.status, self.id, self.name),
            EventType::Volume | EventType::System => {
                format!(
                    "{time} {} {} {}",
                    self.kind.as_str(),
                    self.status,
                    self.name
                )
            }
        }
    }
}

/// The event log of the store at `graphroot`.
#[derive(Debug, Clone)]
pub struct EventLog {
    dir: PathBuf,
}

impl EventLog {
    pub fn new(graphroot: &Path) -> EventLog {
        EventLog {
            dir: graphroot.join(DIR),
        }
    }

    pub fn path(&self) -> PathBuf {
        self.dir.join(LOG)
    }

    /// Appends `event`; failures are logged, never returned.
    pub fn record(&self, event: &Event) {
        if let Err(e) = self.try_record(event) {
            tracing::warn!("could not record the {} event: {e}", event.status);
        }
    }

    fn try_record(&self, event: &Event) -> io::Result<()> {
        let mut line = serde_json::to_vec(event).map_err(io::Error::other)?;
        line.push(b'\n');
        fs::create_dir_all(&self.dir)?;
        let path = self.path();
        if fs::metadata(&path).is_ok_and(|m| m.len() >= ROTATE_AT) {
            // Two writers may both rotate; the second rename finds the log gone, which is
            // fine: the first one's rotation stands.
            let _ = fs::rename(&path, self.dir.join(ROTATED));
        }
        let mut f = OpenOptions::new().create(true).append(true).open(&path)?;
        f.write_all(&line)
    }

    /// Every recorded event, oldest first (lines that do not parse — a line cut by a crash —
    /// are skipped).
    pub fn read_all(&self) -> io::Result<Vec<Event>> {
        let mut out = Vec::new();
        for name in [ROTATED, LOG] {
            match File::open(self.dir.join(name)) {
                Ok(f) => out.extend(parse_lines(BufReader::new(f))),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// Opens the live log for following from its current end.
    pub fn follow(&self) -> io::Result<Follower> {
        fs::create_dir_all(&self.dir)?;
        let path = self.path();
        let offset = fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        Ok(Follower {
            path,
            offset,
            partial: Vec::new(),
        })
    }
}

fn parse_lines(r: impl BufRead) -> Vec<Event> {
    r.lines()
        .map_while(Result::ok)
        .filter_map(|l| serde_json::from_str(&l).ok())
        .collect()
}

/// Reads events appended to the log after it was opened, across rotations.
pub struct Follower {
    path: PathBuf,
    offset: u64,
    partial: Vec<u8>,
}

impl Follower {
    /// The events appended since the last call (possibly none).
    pub fn poll(&mut self) -> io::Result<Vec<Event>> {
        use std::io::{Read, Seek, SeekFrom};
        let mut f = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let len = f.metadata()?.len();
        if len < self.offset {
            // Rotated: the new log starts from the beginning.
            self.offset = 0;
            self.partial.clear();
        }
        f.seek(SeekFrom::Start(self.offset))?;
        let mut buf = Vec::new();
        f.read_to_end(&mut buf)?;
        self.offset += buf.len() as u64;
        self.partial.extend_from_slice(&buf);
        let Some(last_newline) = self.partial.iter().rposition(|b| *b == b'\n') else {
            return Ok(Vec::new());
        };
        let complete: Vec<u8> = self.partial.drain(..=last_newline).collect();
        Ok(parse_lines(&complete[..]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_events_read_back_in_order_and_follow_sees_new_ones() {
        let tmp = tempfile::tempdir().unwrap();
        let log = EventLog::new(tmp.path());
        log.record(&Event::image(
            "pull",
            "sha256:abc",
            "docker.io/library/busybox:latest",
        ));
        let mut follower = log.follow().unwrap();
        log.record(&Event::container("create", "c0ffee", "web", "busybox"));
        let all = log.read_all().unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].id, "abc");
        assert_eq!(all[1].status, "create");
        let new = follower.poll().unwrap();
        assert_eq!(new.len(), 1);
        assert_eq!(new[0].name, "web");
        assert!(follower.poll().unwrap().is_empty());
    }

    #[test]
    fn a_torn_last_line_is_skipped() {
        let tmp = tempfile::tempdir().unwrap();
        let log = EventLog::new(tmp.path());
        log.record(&Event::volume("create", "data"));
        let mut f = OpenOptions::new().append(true).open(log.path()).unwrap();
        f.write_all(b"{\"Status\":\"cre").unwrap();
        assert_eq!(log.read_all().unwrap().len(), 1);
    }

    #[test]
    fn text_forms_follow_podman() {
        let mut e = Event::container("start", "abc", "web", "docker.io/library/busybox:latest");
        e.time = "2024-01-02T03:04:05.123456789Z".parse().unwrap();
        let t = e.to_text();
        assert!(
            t.ends_with("container start abc (image=docker.io/library/busybox:latest, name=web)"),
            "{t}"
        );
        let i = Event::image("pull", "", "docker.io/library/busybox:latest").to_text();
        assert!(
            i.ends_with(" image pull  docker.io/library/busybox:latest"),
            "{i}"
        );
    }
}
