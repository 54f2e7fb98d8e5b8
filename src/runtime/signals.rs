//! Signal names as Podman reads them (`kill -s`, `--stop-signal`, an image's `StopSignal`):
//! a name with or without `SIG`, in any case, a number from 1 to 64, or `RTMIN+n` /
//! `RTMAX-n`; and the name Podman prints for a number.

/// The standard signals of Linux (signal(7)) by number, index = number.
const NAMES: [&str; 32] = [
    "", "HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "BUS", "FPE", "KILL", "USR1", "SEGV", "USR2",
    "PIPE", "ALRM", "TERM", "STKFLT", "CHLD", "CONT", "STOP", "TSTP", "TTIN", "TTOU", "URG",
    "XCPU", "XFSZ", "VTALRM", "PROF", "WINCH", "IO", "PWR", "SYS",
];
/// Other names the kernel's headers give the same numbers.
const ALIASES: [(&str, i32); 4] = [("IOT", 6), ("CLD", 17), ("POLL", 29), ("UNUSED", 31)];
const RTMIN: i32 = 34;
const RTMAX: i32 = 64;

pub const SIGTERM: i32 = 15;
pub const SIGKILL: i32 = 9;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignalError {
    #[error("invalid signal: {0}")]
    Invalid(String),
    #[error("valid signals are 1 through 64")]
    OutOfRange,
}

/// Parses a signal as Podman's `ParseSignal` does.
pub fn parse(text: &str) -> Result<i32, SignalError> {
    let text = text.trim();
    if let Ok(n) = text.parse::<i64>() {
        return if (1..=i64::from(RTMAX)).contains(&n) {
            Ok(n as i32)
        } else {
            Err(SignalError::OutOfRange)
        };
    }
    let upper = text.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    if let Some(i) = NAMES.iter().position(|n| !n.is_empty() && *n == name) {
        return Ok(i as i32);
    }
    if let Some((_, n)) = ALIASES.iter().find(|(a, _)| *a == name) {
        return Ok(*n);
    }
    let invalid = || SignalError::Invalid(text.to_string());
    let offset = |s: &str| -> Result<i32, SignalError> {
        if s.is_empty() {
            return Ok(0);
        }
        s.parse::<i32>().map_err(|_| invalid())
    };
    let n = if let Some(rest) = name.strip_prefix("RTMIN") {
        RTMIN + offset(rest.strip_prefix('+').unwrap_or(rest))?
    } else if let Some(rest) = name.strip_prefix("RTMAX") {
        RTMAX - offset(rest.strip_prefix('-').unwrap_or(rest))?
    } else {
        return Err(invalid());
    };
    if (RTMIN..=RTMAX).contains(&n) {
        Ok(n)
    } else {
        Err(invalid())
    }
}

/// `SIGTERM`, `SIGRTMIN+3`..., or the number for one Linux does not have.
pub fn name(signal: i32) -> String {
    match usize::try_from(signal).ok().and_then(|i| NAMES.get(i)) {
        Some(n) if !n.is_empty() => format!("SIG{n}"),
        _ if signal == RTMIN => "SIGRTMIN".into(),
        _ if signal == RTMAX => "SIGRTMAX".into(),
        _ if (RTMIN..RTMAX).contains(&signal) => format!("SIGRTMIN+{}", signal - RTMIN),
        _ => signal.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_numbers_and_prefixes() {
        for (text, n) in [
            ("TERM", 15),
            ("SIGTERM", 15),
            ("sigterm", 15),
            ("kill", 9),
            ("9", 9),
            ("HUP", 1),
            ("SIGUSR1", 10),
            ("WINCH", 28),
            ("IOT", 6),
            ("RTMIN", 34),
            ("SIGRTMIN+3", 37),
            ("RTMAX", 64),
            ("RTMAX-2", 62),
            ("64", 64),
        ] {
            assert_eq!(parse(text), Ok(n), "{text}");
        }
        assert_eq!(parse("FOO"), Err(SignalError::Invalid("FOO".into())));
        assert_eq!(parse("0"), Err(SignalError::OutOfRange));
        assert_eq!(parse("65"), Err(SignalError::OutOfRange));
        assert_eq!(parse("-1"), Err(SignalError::OutOfRange));
        assert!(parse("RTMIN+40").is_err());
        assert!(parse("SIG").is_err());
        assert_eq!(parse("FOO").unwrap_err().to_string(), "invalid signal: FOO");
        assert_eq!(
            parse("99").unwrap_err().to_string(),
            "valid signals are 1 through 64"
        );
    }

    #[test]
    fn printed_names() {
        assert_eq!(name(15), "SIGTERM");
        assert_eq!(name(9), "SIGKILL");
        assert_eq!(name(34), "SIGRTMIN");
        assert_eq!(name(36), "SIGRTMIN+2");
        assert_eq!(name(64), "SIGRTMAX");
        for n in 1..=64 {
            if n == 32 || n == 33 {
                continue;
            }
            assert_eq!(parse(&name(n)), Ok(n), "{n}");
        }
    }
}
