//! Human-readable sizes and ages, as Podman prints them through `docker/go-units`.
//!
//! `podman images` prints SIZE as `HumanSizeWithPrecision(size, 3)` with a space put between
//! number and unit ("5.87 MB"); `podman history` and `image tree` print the go-units string as
//! is ("5.87MB", "1.463MB"). CREATED is `HumanDuration(now - created) + " ago"`.

use chrono::{DateTime, Duration, Utc};

use super::gofmt::format_g;

/// Decimal units, base 1000, as go-units' `HumanSizeWithPrecision` uses them.
const DECIMAL_UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];

/// go-units `HumanSizeWithPrecision(bytes, precision)`: `%.*g` of the size in the largest
/// decimal unit below it, the unit appended without a space ("1.463MB", "0B", "1e+03kB").
pub fn human_size_precision(bytes: u64, precision: usize) -> String {
    // Go converts to float64 first; so do we (precision loss only above 2^53 bytes).
    #[allow(clippy::cast_precision_loss)]
    let mut size = bytes as f64;
    let mut unit = 0;
    while size >= 1000.0 && unit < DECIMAL_UNITS.len() - 1 {
        size /= 1000.0;
        unit += 1;
    }
    format!("{}{}", format_g(size, Some(precision)), DECIMAL_UNITS[unit])
}

/// The SIZE column of `podman images`: three significant digits and a space before the unit
/// ("5.87 MB", "975 kB", "0 B", "1e+03 kB" just below a megabyte, as Go prints it).
pub fn human_size(bytes: u64) -> String {
    let raw = human_size_precision(bytes, 3);
    // Podman splits after the last digit, so an exponent stays with the number.
    let split = raw.rfind(|c: char| c.is_ascii_digit()).map_or(0, |i| i + 1);
    format!("{} {}", &raw[..split], &raw[split..])
}

/// go-units `HumanDuration`: "Less than a second", "About a minute", "3 hours", "2 weeks"...
pub fn human_duration(d: Duration) -> String {
    let seconds = d.num_seconds();
    if seconds < 1 {
        return "Less than a second".to_owned();
    }
    if seconds == 1 {
        return "1 second".to_owned();
    }
    if seconds < 60 {
        return format!("{seconds} seconds");
    }
    let minutes = d.num_minutes();
    if minutes == 1 {
        return "About a minute".to_owned();
    }
    if minutes < 60 {
        return format!("{minutes} minutes");
    }
    // Hours are rounded (Go: `int(d.Hours() + 0.5)`), everything after is derived from them.
    let hours = (d.num_seconds() + 1800) / 3600;
    if hours == 1 {
        return "About an hour".to_owned();
    }
    if hours < 48 {
        return format!("{hours} hours");
    }
    if hours < 24 * 7 * 2 {
        return format!("{} days", hours / 24);
    }
    if hours < 24 * 30 * 2 {
        return format!("{} weeks", hours / 24 / 7);
    }
    if hours < 24 * 365 * 2 {
        return format!("{} months", hours / 24 / 30);
    }
    // Years use the truncated hours, as go-units does.
    format!("{} years", d.num_hours() / 24 / 365)
}

/// The CREATED column: `human_duration(now - created) + " ago"`.
pub fn created_since(created: DateTime<Utc>, now: DateTime<Utc>) -> String {
    format!("{} ago", human_duration(now - created))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_as_podman_images_prints_them() {
        let cases: &[(u64, &str)] = &[
            (0, "0 B"),
            (999, "999 B"),
            (1000, "1 kB"),
            (975_000, "975 kB"),
            (999_900, "1e+03 kB"),
            (1_463_000, "1.46 MB"),
            (5_868_000, "5.87 MB"),
            (7_337_000, "7.34 MB"),
            (77_800_000, "77.8 MB"),
            (1_200_000_000, "1.2 GB"),
            (2_000_000_000_000, "2 TB"),
            (u64::MAX, "18.4 EB"),
        ];
        for &(bytes, want) in cases {
            assert_eq!(human_size(bytes), want, "{bytes}");
        }
    }

    #[test]
    fn sizes_without_space() {
        let cases: &[(u64, usize, &str)] = &[
            (1_463_000, 4, "1.463MB"),
            (5_868_000, 3, "5.87MB"),
            (0, 3, "0B"),
            (1_234_567, 4, "1.235MB"),
            (2_746_000, 4, "2.746MB"),
            (796_000, 4, "796kB"),
        ];
        for &(bytes, precision, want) in cases {
            assert_eq!(human_size_precision(bytes, precision), want, "{bytes}");
        }
    }

    #[test]
    fn durations_as_go_units() {
        // The cases of go-units' own duration_test.go.
        let s = Duration::seconds;
        let m = Duration::minutes;
        let h = Duration::hours;
        let day = Duration::days(1);
        let week = day * 7;
        let month = day * 30;
        let year = day * 365;
        let cases: Vec<(Duration, &str)> = vec![
            (Duration::milliseconds(450), "Less than a second"),
            (s(-5), "Less than a second"),
            (s(1), "1 second"),
            (s(45), "45 seconds"),
            (s(59), "59 seconds"),
            (s(60), "About a minute"),
            (m(3), "3 minutes"),
            (m(35) + s(40), "35 minutes"),
            (m(59), "59 minutes"),
            (h(1), "About an hour"),
            (h(1) + m(29), "About an hour"),
            (h(1) + m(31), "2 hours"),
            (h(1) + m(59), "2 hours"),
            (h(3) + m(29), "3 hours"),
            (h(3) + m(31), "4 hours"),
            (h(24), "24 hours"),
            (day + h(12), "36 hours"),
            (day * 2, "2 days"),
            (day * 7, "7 days"),
            (day * 13 + h(5), "13 days"),
            (week * 2, "2 weeks"),
            (week * 2 + day * 4, "2 weeks"),
            (week * 3, "3 weeks"),
            (week * 4 + day * 3, "4 weeks"),
            (month, "4 weeks"),
            (month + week * 2, "6 weeks"),
            (month * 2, "2 months"),
            (month * 3 + week, "3 months"),
            (month * 5 + week * 2, "5 months"),
            (month * 13, "13 months"),
            (month * 24, "24 months"),
            (month * 24 + week * 2, "2 years"),
            (year * 3 + month * 2, "3 years"),
        ];
        for (d, want) in cases {
            assert_eq!(human_duration(d), want, "{d}");
        }
    }

    #[test]
    fn created_since_appends_ago() {
        let now = DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default();
        assert_eq!(created_since(now - Duration::weeks(2), now), "2 weeks ago");
        assert_eq!(created_since(now, now), "Less than a second ago");
    }
}
