//! `logs`: what containers wrote, from the `k8s-file` logs their monitors keep
//! (`runtime::logs`); `-f` follows a running container's log until it ends.

use std::io::Write as _;
use std::time::Duration;

use anyhow::{Context as _, bail};
use chrono::{DateTime, FixedOffset, NaiveDate, Utc};

use crate::cli::lifecycle::LogsArgs;
use crate::cmd::Context;
use crate::cmd::containers::{self, ContainerView};
use crate::cmd::start::read_spec;
use crate::error::ExitStatus;
use crate::runtime::lifecycle::LogDriver;
use crate::runtime::logs::{Follower, LogLine, Stream};
use crate::runtime::monitor;
use crate::store::LockMode;
use crate::store::containers::State;

/// How often a followed log is looked at.
const FOLLOW_TICK: Duration = Duration::from_millis(100);

pub fn run(ctx: &Context, args: &LogsArgs) -> anyhow::Result<ExitStatus> {
    if args.latest && !args.containers.is_empty() {
        bail!("--latest and containers cannot be used together");
    }
    if !args.latest && args.containers.is_empty() {
        bail!("must specify at least one container");
    }
    let now = Utc::now();
    let since = args
        .since
        .as_deref()
        .map(|s| parse_time(s, now))
        .transpose()?;
    let until = args
        .until
        .as_deref()
        .map(|s| parse_time(s, now))
        .transpose()?;
    let store = ctx.open_store(LockMode::Shared, "logs")?;
    let views = containers::all(&store)?;
    let chosen: Vec<&ContainerView> = if args.latest {
        views.iter().take(1).collect()
    } else {
        args.containers
            .iter()
            .map(|c| containers::find(&views, c))
            .collect::<Result<_, _>>()?
    };
    let mut logs = Vec::new();
    for v in &chosen {
        let dir = store.containers().path(v.id());
        let spec = read_spec(&dir)?;
        match spec.lifecycle.log.driver {
            LogDriver::K8sFile => {}
            LogDriver::None => bail!(
                "container {} uses the none log driver: it has no logs",
                v.short_id()
            ),
            LogDriver::Passthrough => bail!(
                "container {} uses the passthrough log driver: its output went to the terminal that ran it",
                v.short_id()
            ),
        }
        logs.push((v.rec.clone(), dir, monitor::log_path(&spec)));
    }
    drop(store);
    let many = logs.len() > 1;
    for (rec, dir, path) in logs {
        let prefix = if args.names {
            format!("{} ", rec.names.first().map_or("", String::as_str))
        } else if many {
            format!("{} ", &rec.id[..12])
        } else {
            String::new()
        };
        let keep =
            |l: &LogLine| since.is_none_or(|s| l.time >= s) && until.is_none_or(|u| l.time <= u);
        let mut follower = Follower::new(&path);
        let mut lines: Vec<LogLine> = follower
            .poll()
            .with_context(|| format!("reading {}", path.display()))?;
        let following = args.follow && until.is_none();
        if !following {
            lines.extend(std::mem::replace(&mut follower, Follower::new(&path)).finish());
        }
        lines.retain(keep);
        if args.tail >= 0 {
            let n = usize::try_from(args.tail).unwrap_or(0);
            let skip = lines.len().saturating_sub(n);
            lines.drain(..skip);
        }
        print(&lines, &prefix, args.timestamps)?;
        if !following {
            continue;
        }
        loop {
            let running = crate::store::containers::read(&dir)
                .map(|r| ContainerView::new(r).state == State::Running)
                .unwrap_or(false);
            let mut new = follower.poll()?;
            new.retain(keep);
            print(&new, &prefix, args.timestamps)?;
            if !running {
                break;
            }
            std::thread::sleep(FOLLOW_TICK);
        }
        let mut rest = follower.finish();
        rest.retain(keep);
        print(&rest, &prefix, args.timestamps)?;
    }
    Ok(ExitStatus::Success)
}

fn print(lines: &[LogLine], prefix: &str, timestamps: bool) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    let mut err = std::io::stderr().lock();
    for l in lines {
        let w: &mut dyn std::io::Write = match l.stream {
            Stream::Stdout => &mut out,
            Stream::Stderr => &mut err,
        };
        w.write_all(prefix.as_bytes())?;
        if timestamps {
            w.write_all(l.stamp.as_bytes())?;
            w.write_all(b" ")?;
        }
        w.write_all(&l.text)?;
        if l.complete {
            w.write_all(b"\n")?;
        }
    }
    out.flush()?;
    err.flush()
}

/// `--since`/`--until`: RFC 3339, a date, Unix seconds, or a duration before `now` (`10m`,
/// `1h30m`, `5s`), as Podman takes them.
fn parse_time(s: &str, now: DateTime<Utc>) -> anyhow::Result<DateTime<FixedOffset>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t);
    }
    if let Some(d) = parse_duration(s) {
        return Ok((now - d).fixed_offset());
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d")
        && let Some(t) = d.and_hms_opt(0, 0, 0)
    {
        return Ok(t.and_utc().fixed_offset());
    }
    if let Ok(secs) = s.parse::<i64>()
        && let Some(t) = DateTime::from_timestamp(secs, 0)
    {
        return Ok(t.fixed_offset());
    }
    bail!(
        "invalid time {s:?}: expected RFC 3339 (2006-01-02T15:04:05Z), a date, Unix seconds or a duration (10m)"
    )
}

/// A Go duration: numbers with units h, m, s, ms, us, ns.
fn parse_duration(s: &str) -> Option<chrono::TimeDelta> {
    let mut total = chrono::TimeDelta::zero();
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let n: f64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let nanos = match &rest[..unit_len] {
            "h" => 3600e9,
            "m" => 60e9,
            "s" => 1e9,
            "ms" => 1e6,
            "us" | "µs" => 1e3,
            "ns" => 1.0,
            _ => return None,
        };
        total += chrono::TimeDelta::nanoseconds((n * nanos) as i64);
        rest = &rest[unit_len..];
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        let now = DateTime::parse_from_rfc3339("2024-05-01T12:00:00Z")
            .unwrap()
            .to_utc();
        let t = |s: &str| parse_time(s, now).unwrap().to_rfc3339();
        assert_eq!(t("10m"), "2024-05-01T11:50:00+00:00");
        assert_eq!(t("1h30m"), "2024-05-01T10:30:00+00:00");
        assert_eq!(t("2024-04-30"), "2024-04-30T00:00:00+00:00");
        assert_eq!(t("2024-05-01T13:00:00+02:00"), "2024-05-01T13:00:00+02:00");
        assert_eq!(t("0"), "1970-01-01T00:00:00+00:00");
        assert!(parse_time("yesterday", now).is_err());
        assert!(parse_time("10x", now).is_err());
    }
}
