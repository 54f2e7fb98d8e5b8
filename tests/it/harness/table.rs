//! Reading Podman-style tables and reproducing Podman's human-readable numbers.
//!
//! Podman renders tables with Go's tabwriter (minimum cell width 12, padding 2, spaces), so
//! cells are separated by at least two spaces; sizes with go-units `HumanSizeWithPrecision(n,
//! 3)` (decimal units: `B`, `kB`, `MB`, ...); ages with go-units `HumanDuration` + ` ago`.

/// Splits each line into cells at runs of two or more spaces.
pub fn rows(out: &str) -> Vec<Vec<String>> {
    out.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            l.split("  ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(str::to_string)
                .collect()
        })
        .collect()
}

/// What Go's tabwriter (minwidth 12, padding 2, padchar ' ', no flags) makes of
/// tab-separated `cells`: each column as wide as its widest cell + 2, at least 12; the last
/// cell of a line is not padded.
pub fn tabwriter(cells: &[Vec<String>]) -> String {
    let ncols = cells.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0usize; ncols];
    for row in cells {
        for (i, c) in row.iter().enumerate() {
            if i + 1 < row.len() {
                widths[i] = widths[i].max((c.chars().count() + 2).max(12));
            }
        }
    }
    let mut out = String::new();
    for row in cells {
        for (i, c) in row.iter().enumerate() {
            out.push_str(c);
            if i + 1 < row.len() {
                out.push_str(&" ".repeat(widths[i] - c.chars().count()));
            }
        }
        out.push('\n');
    }
    out
}

/// go-units `HumanSizeWithPrecision(size, 3)`: `4.26 MB`, `512 B`, `1.5 kB`.
pub fn human_size(size: u64) -> String {
    const UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
    let mut s = size as f64;
    let mut i = 0;
    while s >= 1000.0 && i < UNITS.len() - 1 {
        s /= 1000.0;
        i += 1;
    }
    format!("{} {}", go_g3(s), UNITS[i])
}

/// Go's `%.3g` for 0 <= v < 1000.
fn go_g3(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let digits_before = (v.abs().log10().floor() as i32) + 1;
    let decimals = (3 - digits_before).max(0) as usize;
    let s = format!("{v:.decimals$}");
    // rounding may reach 1000 (999.6 -> "1000"), which %g prints as 1e+03
    if s == "1000" {
        return "1e+03".into();
    }
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// go-units `HumanDuration(d)` for `seconds`.
pub fn human_duration(seconds: i64) -> String {
    let hours_f = seconds as f64 / 3600.0;
    if seconds < 1 {
        return "Less than a second".into();
    } else if seconds == 1 {
        return "1 second".into();
    } else if seconds < 60 {
        return format!("{seconds} seconds");
    }
    let minutes = seconds / 60;
    if minutes == 1 {
        return "About a minute".into();
    } else if minutes < 60 {
        return format!("{minutes} minutes");
    }
    let hours = hours_f.round() as i64;
    if hours == 1 {
        "About an hour".into()
    } else if hours < 48 {
        format!("{hours} hours")
    } else if hours < 24 * 7 * 2 {
        format!("{} days", hours / 24)
    } else if hours < 24 * 30 * 2 {
        format!("{} weeks", hours / 24 / 7)
    } else if hours < 24 * 365 * 2 {
        format!("{} months", hours / 24 / 30)
    } else {
        format!("{} years", (hours_f as i64) / 24 / 365)
    }
}

/// Podman's CREATED cell for an RFC 3339 UTC time like `2024-01-02T03:04:05Z`, now.
pub fn created_ago(rfc3339: &str) -> String {
    let then = parse_utc(rfc3339);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64;
    format!("{} ago", human_duration(now - then))
}

/// Seconds since the epoch of `YYYY-MM-DDTHH:MM:SSZ`.
pub fn parse_utc(s: &str) -> i64 {
    let n = |a: usize, b: usize| -> i64 { s[a..b].parse().expect("a number in the date") };
    let (y, m, d) = (n(0, 4), n(5, 7), n(8, 10));
    let (hh, mm, ss) = (n(11, 13), n(14, 16), n(17, 19));
    // days from civil (Howard Hinnant's algorithm)
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    days * 86_400 + hh * 3600 + mm * 60 + ss
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_like_go_units() {
        for (n, want) in [
            (0, "0 B"),
            (512, "512 B"),
            (1500, "1.5 kB"),
            (2_061_234, "2.06 MB"),
            (4_260_000, "4.26 MB"),
            (999_999, "1e+03 kB"),
            (10_240, "10.2 kB"),
            (100_000, "100 kB"),
        ] {
            assert_eq!(human_size(n), want, "{n}");
        }
    }

    #[test]
    fn durations_like_go_units() {
        assert_eq!(human_duration(30), "30 seconds");
        assert_eq!(human_duration(3 * 86_400), "3 days");
        assert_eq!(human_duration(3 * 365 * 86_400), "3 years");
        assert_eq!(parse_utc("1970-01-02T00:00:01Z"), 86_401);
        assert_eq!(parse_utc("2024-01-02T03:04:05Z"), 1_704_164_645);
    }

    #[test]
    fn tabwriter_pads_like_go() {
        let t = tabwriter(&[
            vec!["REPOSITORY".into(), "TAG".into(), "IMAGE ID".into()],
            vec![
                "docker.io/library/busybox".into(),
                "latest".into(),
                "0123456789ab".into(),
            ],
        ]);
        assert_eq!(
            t,
            "REPOSITORY                 TAG         IMAGE ID\n\
             docker.io/library/busybox  latest      0123456789ab\n"
        );
    }
}
