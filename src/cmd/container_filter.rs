//! Podman's container `--filter`s, shared by `ps`, `start` and `stop` (the same key given
//! twice matches either value; different keys must all match: `output::filters`).

use std::collections::HashMap;

use anyhow::bail;

use crate::cmd::containers::ContainerView;
use crate::runtime::lifecycle::RestartPolicy;
use crate::store::containers::State;
use crate::store::{ImageRecord, Store, lookup};

const SUPPORTED: &str = "status, name, id, ancestor, exited, health, label, restart-policy";

/// One `--filter`.
#[derive(Debug)]
enum Filter {
    Status(State),
    Name(String),
    Id(String),
    Ancestor(String),
    Exited(i32),
    /// `healthy`, `unhealthy`, `starting`, or `none` (no health check).
    Health(String),
    /// `label=KEY` (present) or `label=KEY=VALUE`.
    Label(String, Option<String>),
    /// `restart-policy=no|always|on-failure|unless-stopped`.
    RestartPolicy(String),
}

impl Filter {
    fn key(&self) -> &'static str {
        match self {
            Filter::Status(_) => "status",
            Filter::Name(_) => "name",
            Filter::Id(_) => "id",
            Filter::Ancestor(_) => "ancestor",
            Filter::Exited(_) => "exited",
            Filter::Health(_) => "health",
            Filter::Label(..) => "label",
            Filter::RestartPolicy(_) => "restart-policy",
        }
    }

    fn parse(spec: &str) -> anyhow::Result<Filter> {
        let Some((key, value)) = spec.split_once('=') else {
            bail!("invalid filter {spec:?}: filters are key=value");
        };
        Ok(match key {
            "status" => Filter::Status(match value {
                "created" => State::Created,
                "running" => State::Running,
                "exited" | "stopped" => State::Exited,
                "paused" | "unknown" | "removing" => bail!(
                    "filter status={value}: coracle's containers are never {value}; use created, \
                     running or exited"
                ),
                _ => bail!(
                    "invalid filter {spec:?}: status must be one of created, running, exited, \
                     stopped, paused, unknown, removing"
                ),
            }),
            "name" => Filter::Name(value.to_string()),
            "id" => Filter::Id(value.to_ascii_lowercase()),
            "ancestor" => Filter::Ancestor(value.to_string()),
            "exited" => match value.parse() {
                Ok(code) => Filter::Exited(code),
                Err(_) => bail!("invalid filter {spec:?}: exited takes an exit code"),
            },
            "health" => match value {
                "healthy" | "unhealthy" | "starting" | "none" => Filter::Health(value.to_string()),
                _ => bail!(
                    "invalid filter {spec:?}: health must be one of healthy, unhealthy, \
                     starting, none"
                ),
            },
            "label" => match value.split_once('=') {
                Some((k, v)) => Filter::Label(k.to_string(), Some(v.to_string())),
                None => Filter::Label(value.to_string(), None),
            },
            "restart-policy" => match value {
                "no" | "always" | "on-failure" | "unless-stopped" => {
                    Filter::RestartPolicy(value.to_string())
                }
                _ => bail!(
                    "invalid filter {spec:?}: restart-policy must be one of no, always, \
                     on-failure, unless-stopped"
                ),
            },
            _ => bail!("invalid filter {spec:?}: supported are {SUPPORTED}"),
        })
    }
}

/// The parsed `--filter` flags of one command.
#[derive(Debug, Default)]
pub struct Filters(Vec<Filter>);

impl Filters {
    pub fn parse(specs: &[String]) -> anyhow::Result<Filters> {
        specs
            .iter()
            .map(|s| Filter::parse(s))
            .collect::<anyhow::Result<Vec<_>>>()
            .map(Filters)
    }

    /// The containers of `views` that pass every filter (read from `store`: images for
    /// `ancestor`, health states, and each container's spec for `restart-policy`).
    pub fn apply(
        &self,
        store: &Store,
        mut views: Vec<ContainerView>,
    ) -> anyhow::Result<Vec<ContainerView>> {
        if self.0.is_empty() {
            return Ok(views);
        }
        let images = store.images().list()?;
        let health = health_statuses(store, &views);
        views.retain(|v| {
            crate::output::filters::pass_all(
                &self.0,
                |f| f.key(),
                |f| passes(v, f, &images, &health, store),
            )
        });
        Ok(views)
    }
}

/// `ancestor=`: the image named (resolved among the stored images when it can be), its ID
/// or ID prefix, or a part of the container's image name.
fn ancestor_matches(view: &ContainerView, wanted: &str, images: &[ImageRecord]) -> bool {
    if let Ok((img, _)) = lookup::find(images, wanted)
        && img.id == view.rec.image_id
    {
        return true;
    }
    let hex = wanted.strip_prefix("sha256:").unwrap_or(wanted);
    (!hex.is_empty() && view.rec.image_id.hex().starts_with(hex))
        || view.image().contains(wanted)
        || view.rec.image == wanted
}

/// The container's restart policy as Podman names it in filters (`on-failure` without its
/// count); a container whose spec cannot be read has none.
fn restart_policy(store: &Store, view: &ContainerView) -> &'static str {
    let dir = store.containers().path(view.id());
    match crate::cmd::start::read_spec(&dir).map(|s| s.lifecycle.restart) {
        Ok(RestartPolicy::Always) => "always",
        Ok(RestartPolicy::UnlessStopped) => "unless-stopped",
        Ok(RestartPolicy::OnFailure { .. }) => "on-failure",
        Ok(RestartPolicy::No) | Err(_) => "no",
    }
}

fn passes(
    view: &ContainerView,
    filter: &Filter,
    images: &[ImageRecord],
    health: &Health,
    store: &Store,
) -> bool {
    match filter {
        Filter::Health(h) => match health.get(view.id()) {
            Some(status) => status == h,
            None => h == "none",
        },
        Filter::Status(s) => view.state == *s,
        // Podman matches names with an unanchored regular expression; a plain name is a
        // substring match there too.
        Filter::Name(n) => view.rec.names.iter().any(|name| name.contains(n.as_str())),
        Filter::Id(prefix) => view.id().starts_with(prefix.as_str()),
        Filter::Ancestor(a) => ancestor_matches(view, a, images),
        Filter::Exited(code) => view.state == State::Exited && view.exit_code == *code,
        Filter::Label(k, v) => match (view.rec.labels.get(k), v) {
            (Some(have), Some(want)) => have == want,
            (Some(_), None) => true,
            (None, _) => false,
        },
        Filter::RestartPolicy(p) => restart_policy(store, view) == p,
    }
}

/// The health status of each container that has a check (`runtime::health`), by ID.
pub type Health = HashMap<String, String>;

pub fn health_statuses(store: &Store, views: &[ContainerView]) -> Health {
    views
        .iter()
        .filter_map(|v| {
            let state = crate::runtime::health::read_state(&store.containers().path(v.id()));
            Some((v.id().to_string(), state.ok()??.status))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_parse() {
        assert!(matches!(
            Filter::parse("status=exited").unwrap(),
            Filter::Status(State::Exited)
        ));
        assert!(matches!(
            Filter::parse("exited=3").unwrap(),
            Filter::Exited(3)
        ));
        assert!(matches!(
            Filter::parse("label=a=b=c").unwrap(),
            Filter::Label(k, Some(v)) if k == "a" && v == "b=c"
        ));
        assert!(matches!(
            Filter::parse("label=a").unwrap(),
            Filter::Label(k, None) if k == "a"
        ));
        assert!(matches!(
            Filter::parse("restart-policy=always").unwrap(),
            Filter::RestartPolicy(p) if p == "always"
        ));
        assert!(Filter::parse("restart-policy=sometimes").is_err());
        assert!(Filter::parse("status=bogus").is_err());
        assert!(Filter::parse("volume=x").is_err());
        assert!(Filter::parse("name").is_err());
    }
}
