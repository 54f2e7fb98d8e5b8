//! `events` / `system events`: past events from the store's event log (`crate::events`) and,
//! unless `--stream=false` or `--until`, new ones as they are recorded, filtered and formatted
//! as Podman does.

use chrono::{DateTime, Utc};

use crate::cli::system::EventsArgs;
use crate::cmd::{Context, out};
use crate::error::ExitStatus;
use crate::events::{Event, EventLog};
use crate::output::{self as template, JsonStyle, ListFormat};

/// How often a following `events` looks for new lines.
const POLL: std::time::Duration = std::time::Duration::from_millis(200);

pub fn run(ctx: &Context, args: &EventsArgs) -> anyhow::Result<ExitStatus> {
    let now = Utc::now();
    let since = args
        .since
        .as_deref()
        .map(|t| parse_time(t, now))
        .transpose()
        .map_err(|e| anyhow::anyhow!("--since: {e}"))?;
    let until = args
        .until
        .as_deref()
        .map(|t| parse_time(t, now))
        .transpose()
        .map_err(|e| anyhow::anyhow!("--until: {e}"))?;
    let filters = Filters::parse(&args.filters)?;
    let paths = ctx.paths()?;
    let log = EventLog::new(&paths.graphroot);
    // Following starts before the past is read, so nothing recorded in between is lost.
    let stream = args.stream && until.is_none();
    let mut follower = if stream { Some(log.follow()?) } else { None };
    let wanted = |e: &Event| {
        since.is_none_or(|s| e.time >= s) && until.is_none_or(|u| e.time <= u) && filters.matches(e)
    };
    for e in log.read_all()?.iter().filter(|e| wanted(e)) {
        print_event(args.format.as_deref(), e)?;
    }
    if let Some(f) = follower.as_mut() {
        loop {
            for e in f.poll()?.iter().filter(|e| wanted(e)) {
                print_event(args.format.as_deref(), e)?;
            }
            std::thread::sleep(POLL);
        }
    }
    Ok(ExitStatus::Success)
}

fn print_event(format: Option<&str>, e: &Event) -> anyhow::Result<()> {
    match format {
        None | Some("") => out(&format!("{}\n", e.to_text()))?,
        Some(f) if template::is_json(f) => out(&format!(
            "{}\n",
            crate::output::to_json(&serde_json::to_value(e)?, JsonStyle::COMPACT)
        ))?,
        Some(f) => {
            let mut row = serde_json::to_value(e)?;
            // Template names as Podman's Event struct has them.
            row["Time"] = serde_json::Value::String(e.time.to_rfc3339());
            row["TimeNano"] = serde_json::json!(e.time.timestamp_nanos_opt().unwrap_or(0));
            for k in ["ID", "Image", "Name", "Error"] {
                if row.get(k).is_none() {
                    row[k] = serde_json::Value::String(String::new());
                }
            }
            let spec = ListFormat {
                default: "",
                headers: &[],
                json: JsonStyle::COMPACT,
            };
            let text =
                template::render_list(Some(f), &spec, &[row], true, || serde_json::Value::Null)?;
            out(&text)?;
            if !text.ends_with('\n') {
                out("\n")?;
            }
        }
    }
    Ok(())
}

/// A time as Podman's `--since`/`--until` take it: RFC 3339, a date (`2006-01-02`), a date
/// and time without zone (UTC), Unix seconds (with a fraction), or a duration (`10m`, `1h30m`)
/// before `now`.
pub fn parse_time(text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    let t = text.trim();
    if let Ok(d) = DateTime::parse_from_rfc3339(t) {
        return Ok(d.with_timezone(&Utc));
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(d) = chrono::NaiveDateTime::parse_from_str(t, fmt) {
            return Ok(d.and_utc());
        }
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc());
    }
    if let Ok(secs) = t.parse::<f64>()
        && secs.is_finite()
        && secs >= 0.0
    {
        let whole = secs.trunc() as i64;
        let nanos = ((secs - secs.trunc()) * 1e9) as u32;
        return DateTime::from_timestamp(whole, nanos)
            .ok_or_else(|| format!("{t:?} is out of range"));
    }
    if let Ok(d) = crate::registry::connect::parse_duration(t) {
        let d = chrono::Duration::from_std(d).map_err(|e| e.to_string())?;
        return Ok(now - d);
    }
    Err(format!(
        "{t:?} is not a time: use RFC 3339 (2006-01-02T15:04:05Z), a date, Unix seconds or a \
         duration such as 10m"
    ))
}

/// `--filter` values: the same key given twice matches either value; different keys must
/// all match (Podman's rule).
#[derive(Debug, Default)]
struct Filters {
    by_key: std::collections::BTreeMap<String, Vec<String>>,
}

impl Filters {
    fn parse(specs: &[String]) -> anyhow::Result<Filters> {
        let mut f = Filters::default();
        for s in specs {
            let Some((k, v)) = s.split_once('=') else {
                anyhow::bail!("invalid filter {s:?}: filters are KEY=VALUE");
            };
            let key = match k {
                "event" | "status" => "event",
                "container" | "image" | "label" | "type" | "volume" => k,
                other => anyhow::bail!(
                    "{other} is an invalid filter (container, event, image, label, type, volume)"
                ),
            };
            f.by_key
                .entry(key.to_string())
                .or_default()
                .push(v.to_string());
        }
        Ok(f)
    }

    fn matches(&self, e: &Event) -> bool {
        self.by_key.iter().all(|(k, values)| {
            values.iter().any(|v| match k.as_str() {
                "event" => e.status == *v,
                "type" => e.kind.as_str() == v,
                "container" => {
                    e.kind == crate::events::EventType::Container
                        && (e.name == *v || (!v.is_empty() && e.id.starts_with(v.as_str())))
                }
                "image" => {
                    e.kind == crate::events::EventType::Image
                        && (e.name == *v
                            || e.name.ends_with(&format!("/{v}"))
                            || e.name.ends_with(&format!("/{v}:latest"))
                            || (!v.is_empty() && e.id.starts_with(v.trim_start_matches("sha256:"))))
                        || e.image == *v
                }
                "volume" => e.kind == crate::events::EventType::Volume && e.name == *v,
                "label" => {
                    let (lk, lv) = v.split_once('=').unwrap_or((v, ""));
                    e.attributes
                        .get(lk)
                        .is_some_and(|x| lv.is_empty() || x == lv)
                }
                _ => false,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_in_podmans_forms() {
        let now: DateTime<Utc> = "2024-05-06T07:08:09Z".parse().unwrap();
        let p = |t: &str| parse_time(t, now).unwrap().to_rfc3339();
        assert_eq!(p("2024-01-02T03:04:05Z"), "2024-01-02T03:04:05+00:00");
        assert_eq!(p("2024-01-02"), "2024-01-02T00:00:00+00:00");
        assert_eq!(p("1700000000"), "2023-11-14T22:13:20+00:00");
        assert_eq!(p("10m"), "2024-05-06T06:58:09+00:00");
        assert!(parse_time("yesterday-ish", now).is_err());
    }

    #[test]
    fn filters_combine_as_podman_does() {
        let f = Filters::parse(&[
            "type=container".into(),
            "event=start".into(),
            "event=died".into(),
        ])
        .unwrap();
        let start = Event::container("start", "abc", "web", "busybox");
        let create = Event::container("create", "abc", "web", "busybox");
        let pull = Event::image("pull", "", "docker.io/library/busybox:latest");
        assert!(f.matches(&start));
        assert!(!f.matches(&create));
        assert!(!f.matches(&pull));
        let by_image = Filters::parse(&["image=busybox".into()]).unwrap();
        assert!(by_image.matches(&pull));
        assert!(by_image.matches(&start));
        assert!(Filters::parse(&["bogus=1".into()]).is_err());
    }
}
