//! What the container commands (`ps`, `rm`, `container inspect`) share: a container record
//! with its state checked against its monitor, and finding containers from arguments.

use chrono::{DateTime, Utc};

use crate::store::containers::{self, ContainerRecord, State};
use crate::sys::process::ProcessIdentity;

/// The status a container killed with its monitor reports (SIGKILL, as `PR_SET_PDEATHSIG`
/// ends the init).
const KILLED: i32 = 128 + 9;

/// A container as the commands show it.
#[derive(Debug, Clone)]
pub struct ContainerView {
    pub rec: ContainerRecord,
    /// The state after checking the monitor: a record that says `running` while its monitor
    /// is gone (killed, or the machine rebooted) describes an exited container.
    pub state: State,
    pub exit_code: i32,
    pub finished_at: Option<DateTime<Utc>>,
}

impl ContainerView {
    pub fn new(rec: ContainerRecord) -> ContainerView {
        let (state, exit_code, finished_at) = match rec.state {
            State::Running if monitor(&rec).is_some_and(|m| m.is_alive()) => {
                (State::Running, 0, None)
            }
            // The monitor died without recording the end; the container died with it.
            State::Running => (
                State::Exited,
                rec.exit_code.unwrap_or(KILLED),
                rec.finished_at.or(rec.started_at),
            ),
            s => (s, rec.exit_code.unwrap_or(0), rec.finished_at),
        };
        ContainerView {
            rec,
            state,
            exit_code,
            finished_at,
        }
    }

    pub fn id(&self) -> &str {
        &self.rec.id
    }

    pub fn short_id(&self) -> &str {
        &self.rec.id[..12.min(self.rec.id.len())]
    }

    pub fn name(&self) -> &str {
        self.rec.names.first().map_or("", String::as_str)
    }

    /// The image as Podman shows it: the stored name used, else what the user typed.
    pub fn image(&self) -> &str {
        if self.rec.image_name.is_empty() {
            &self.rec.image
        } else {
            &self.rec.image_name
        }
    }

    /// `created`, `running` or `exited`.
    pub fn state_name(&self) -> &'static str {
        match self.state {
            State::Created => "created",
            State::Running => "running",
            State::Exited => "exited",
        }
    }

    /// Podman's STATUS column: `Up 2 seconds`, `Exited (3) 5 seconds ago`, `Created`.
    pub fn status(&self, now: DateTime<Utc>) -> String {
        match self.state {
            State::Created => "Created".into(),
            State::Running => {
                let since = self.rec.started_at.unwrap_or(self.rec.created);
                format!("Up {}", crate::output::human_duration(now - since))
            }
            State::Exited => {
                let at = self.finished_at.unwrap_or(self.rec.created);
                format!(
                    "Exited ({}) {} ago",
                    self.exit_code,
                    crate::output::human_duration(now - at)
                )
            }
        }
    }

    /// The monitor, while the container runs.
    pub fn monitor(&self) -> Option<ProcessIdentity> {
        if self.state == State::Running {
            monitor(&self.rec)
        } else {
            None
        }
    }
}

fn monitor(rec: &ContainerRecord) -> Option<ProcessIdentity> {
    Some(ProcessIdentity {
        pid: rec.monitor_pid?,
        start_time: rec.monitor_start?,
    })
}

/// Every container, newest first.
pub fn all(store: &crate::store::Store) -> anyhow::Result<Vec<ContainerView>> {
    let mut recs = store.containers().list()?;
    recs.sort_by(|a, b| b.created.cmp(&a.created).then(a.id.cmp(&b.id)));
    Ok(recs.into_iter().map(ContainerView::new).collect())
}

/// The container `input` names among `views`.
pub fn find<'a>(
    views: &'a [ContainerView],
    input: &str,
) -> Result<&'a ContainerView, containers::LookupError> {
    let recs: Vec<ContainerRecord> = views.iter().map(|v| v.rec.clone()).collect();
    let rec = containers::find(&recs, input)?;
    views
        .iter()
        .find(|v| v.rec.id == rec.id)
        .ok_or_else(|| containers::LookupError::NotFound(input.to_string()))
}
