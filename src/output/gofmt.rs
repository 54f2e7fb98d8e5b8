//! Go's number formatting, as Podman's output depends on it: `%.*g` (go-units sizes), `%v` of a
//! float (template printing) and `encoding/json`'s float encoding.
//!
//! Everything goes through [`Digits`]: the decimal significant digits of a float, rounded either
//! to the shortest string that round-trips (Go's precision `-1`) or to a given number of
//! significant digits. Rust's `{:e}` formatting produces exactly those digits; the layout
//! rules (when to switch to an exponent, trailing zeros) are Go's `strconv.FormatFloat`.

/// Significant digits of a finite float: the value is `0.<digits> × 10^point`.
struct Digits {
    negative: bool,
    /// Without trailing zeros; empty for zero.
    digits: String,
    point: i32,
}

impl Digits {
    /// `precision`: significant digits, or `None` for the shortest round-trip representation.
    fn new(value: f64, precision: Option<usize>) -> Digits {
        let negative = value.is_sign_negative() && value != 0.0;
        let text = match precision {
            Some(p) => format!("{:.*e}", p.max(1) - 1, value.abs()),
            None => format!("{:e}", value.abs()),
        };
        // `text` is `d[.ddd]e<exp>`.
        let (mantissa, exp) = text.split_once('e').unwrap_or((&text, "0"));
        let exp: i32 = exp.parse().unwrap_or(0);
        let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
        let digits = digits.trim_end_matches('0').to_owned();
        let point = if digits.is_empty() { 0 } else { exp + 1 };
        Digits {
            negative,
            digits,
            point,
        }
    }

    fn len(&self) -> i32 {
        i32::try_from(self.digits.len()).unwrap_or(i32::MAX)
    }

    fn sign(&self) -> &'static str {
        if self.negative { "-" } else { "" }
    }

    /// `%e` with all significant digits: `d.ddde+XX`, the exponent at least two digits.
    fn exponent_form(&self) -> String {
        let digits = if self.digits.is_empty() {
            "0"
        } else {
            &self.digits
        };
        let (first, rest) = digits.split_at(1);
        let exp = self.point - 1;
        let exp_sign = if exp < 0 { '-' } else { '+' };
        let dot = if rest.is_empty() { "" } else { "." };
        format!(
            "{}{first}{dot}{rest}e{exp_sign}{:02}",
            self.sign(),
            exp.abs()
        )
    }

    /// `%f` with all significant digits and no trailing zeros.
    fn plain_form(&self) -> String {
        let sign = self.sign();
        if self.digits.is_empty() {
            return format!("{sign}0");
        }
        let len = self.len();
        if self.point <= 0 {
            let zeros = "0".repeat(usize::try_from(-self.point).unwrap_or(0));
            format!("{sign}0.{zeros}{}", self.digits)
        } else if self.point >= len {
            let zeros = "0".repeat(usize::try_from(self.point - len).unwrap_or(0));
            format!("{sign}{}{zeros}", self.digits)
        } else {
            let (int, frac) = self
                .digits
                .split_at(usize::try_from(self.point).unwrap_or(0));
            format!("{sign}{int}.{frac}")
        }
    }
}

/// Go's `fmt.Sprintf("%.*g", precision, value)`, or `%v`/`%g` (shortest) when `precision` is
/// `None`.
pub fn format_g(value: f64, precision: Option<usize>) -> String {
    if let Some(special) = non_finite(value) {
        return special.to_owned();
    }
    let d = Digits::new(value, precision);
    let mut eprec = match precision {
        Some(p) => i32::try_from(p.max(1)).unwrap_or(i32::MAX),
        None => 6,
    };
    if precision.is_some() && eprec > d.len() && d.len() >= d.point {
        eprec = d.len();
    }
    let exp = d.point - 1;
    if exp < -4 || exp >= eprec {
        d.exponent_form()
    } else {
        d.plain_form()
    }
}

/// A float as Go's `encoding/json` writes it: plain decimal between 1e-6 and 1e21, otherwise
/// an exponent without a leading zero (`1e+21`, `1e-7`).
pub fn format_json_float(value: f64) -> String {
    if let Some(special) = non_finite(value) {
        return special.to_owned();
    }
    let d = Digits::new(value, None);
    let abs = value.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let text = d.exponent_form();
        match text.split_once("e-0") {
            Some((mantissa, exp)) => format!("{mantissa}e-{exp}"),
            None => text,
        }
    } else {
        d.plain_form()
    }
}

fn non_finite(value: f64) -> Option<&'static str> {
    if value.is_nan() {
        Some("NaN")
    } else if value.is_infinite() {
        Some(if value > 0.0 { "+Inf" } else { "-Inf" })
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn g_with_precision_matches_go() {
        // Expected values are what Go's fmt.Sprintf("%.*g", p, v) prints.
        let cases: &[(f64, usize, &str)] = &[
            (0.0, 3, "0"),
            (5.0, 3, "5"),
            (975.0, 3, "975"),
            (5.868, 3, "5.87"),
            (1.4632, 3, "1.46"),
            (1.4632, 4, "1.463"),
            (999.9, 3, "1e+03"),
            (100.0, 2, "1e+02"),
            (120.0, 3, "120"),
            (12.0, 3, "12"),
            (100_000.0, 3, "1e+05"),
            (0.0001234, 3, "0.000123"),
            (0.00001234, 3, "1.23e-05"),
            (-2.5, 3, "-2.5"),
            (123_456.0, 4, "1.235e+05"),
            (1.0, 4, "1"),
        ];
        for &(value, precision, want) in cases {
            assert_eq!(
                format_g(value, Some(precision)),
                want,
                "{value} %.{precision}g"
            );
        }
    }

    #[test]
    fn g_shortest_matches_go_v() {
        let cases: &[(f64, &str)] = &[
            (0.0, "0"),
            (1.5, "1.5"),
            (100_000.0, "100000"),
            (1_000_000.0, "1e+06"),
            (123_456_789.0, "1.23456789e+08"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "+Inf"),
        ];
        for &(value, want) in cases {
            assert_eq!(format_g(value, None), want, "{value} %v");
        }
    }

    #[test]
    fn json_float_matches_go() {
        let cases: &[(f64, &str)] = &[
            (0.0, "0"),
            (5.0, "5"),
            (0.5, "0.5"),
            (1_000_000.0, "1000000"),
            (1e21, "1e+21"),
            (1e-7, "1e-7"),
            (1.5e-10, "1.5e-10"),
            (-3.25, "-3.25"),
        ];
        for &(value, want) in cases {
            assert_eq!(format_json_float(value), want, "{value}");
        }
    }
}
