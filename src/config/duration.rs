//! Prometheus duration strings ("15s", "1m30s", "1y2w"), parsed exactly as
//! Prometheus's `model.ParseDuration` and formatted back as `Duration.String`
//! does. Promise: every value `parse` accepts is a whole number of
//! milliseconds of at most `i64::MAX` nanoseconds, so `format` round-trips it.

use std::fmt;
use std::time::Duration;

/// Units largest first, as Prometheus requires them; (suffix, milliseconds).
const UNITS: [(&str, u64); 7] = [
    ("y", 365 * 24 * 3_600_000),
    ("w", 7 * 24 * 3_600_000),
    ("d", 24 * 3_600_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1_000),
    ("ms", 1),
];

/// Go's `time.Duration` is i64 nanoseconds; Prometheus refuses anything larger.
const MAX_MS: u64 = i64::MAX as u64 / 1_000_000;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DurationError {
    Empty,
    /// Something other than a digit where a number must start (e.g. "-1s", "s").
    MissingNumber,
    /// A number at the end with no unit after it (e.g. "15").
    MissingUnit,
    /// A decimal point (e.g. "1.5s"): Prometheus durations are integers.
    Fraction,
    UnknownUnit(String),
    /// A unit repeated or after a smaller one (e.g. "5m1h", "1s1s").
    Order,
    /// Longer than about 292 years.
    Overflow,
}

impl fmt::Display for DurationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DurationError::Empty => f.write_str("empty duration string"),
            DurationError::MissingNumber => f.write_str("expected a number before each unit"),
            DurationError::MissingUnit => f.write_str("missing unit (one of y, w, d, h, m, s, ms)"),
            DurationError::Fraction => f.write_str("fractions are not allowed"),
            DurationError::UnknownUnit(u) => {
                write!(f, "unknown unit {u:?} (one of y, w, d, h, m, s, ms)")
            }
            DurationError::Order => {
                f.write_str("units must appear at most once each, largest first (y w d h m s ms)")
            }
            DurationError::Overflow => f.write_str("duration out of range"),
        }
    }
}

impl std::error::Error for DurationError {}

/// Parses a Prometheus duration: "0", or `[Ny][Nw][Nd][Nh][Nm][Ns][Nms]` with
/// at least one part and integer `N`.
pub fn parse(s: &str) -> Result<Duration, DurationError> {
    if s.is_empty() {
        return Err(DurationError::Empty);
    }
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    let mut rest = s;
    let mut total_ms: u64 = 0;
    // Index into UNITS of the next unit allowed; enforces order and uniqueness.
    let mut next_unit = 0;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(DurationError::MissingNumber);
        }
        let (number, tail) = rest.split_at(digits);
        let unit_len = tail.bytes().take_while(|b| !b.is_ascii_digit()).count();
        let (unit, tail) = tail.split_at(unit_len);
        rest = tail;
        if unit.is_empty() {
            return Err(DurationError::MissingUnit);
        }
        if unit.starts_with('.') {
            return Err(DurationError::Fraction);
        }
        let Some(index) = UNITS.iter().position(|(suffix, _)| *suffix == unit) else {
            return Err(DurationError::UnknownUnit(unit.to_string()));
        };
        if index < next_unit {
            return Err(DurationError::Order);
        }
        next_unit = index + 1;
        // Leading zeros are fine ("05m"); too many digits is an overflow.
        let value: u64 = number.parse().map_err(|_| DurationError::Overflow)?;
        total_ms = value
            .checked_mul(UNITS[index].1)
            .and_then(|ms| ms.checked_add(total_ms))
            .filter(|ms| *ms <= MAX_MS)
            .ok_or(DurationError::Overflow)?;
    }
    Ok(Duration::from_millis(total_ms))
}

/// Formats as Prometheus does ("1m30s", "0s", "90d"): years and weeks only
/// when they divide the rest exactly; below a millisecond is dropped.
pub fn format(d: Duration) -> String {
    let mut ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    if ms == 0 {
        return "0s".to_string();
    }
    let mut out = String::new();
    for (i, (suffix, mult)) in UNITS.iter().enumerate() {
        // y and w (the first two) only when exact: "90d" reads better than "12w6d".
        if i < 2 && ms % mult != 0 {
            continue;
        }
        let value = ms / mult;
        if value > 0 {
            out.push_str(&value.to_string());
            out.push_str(suffix);
            ms -= value * mult;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    #[test]
    fn parses_valid_durations() {
        let cases: &[(&str, Duration)] = &[
            ("0", Duration::ZERO),
            ("0s", Duration::ZERO),
            ("0ms", Duration::ZERO),
            ("30ms", MS(30)),
            ("15s", MS(15_000)),
            ("1m30s", MS(90_000)),
            ("05m", MS(300_000)),
            ("1h", MS(3_600_000)),
            ("1d", MS(86_400_000)),
            ("2w", MS(14 * 86_400_000)),
            ("1y", MS(365 * 86_400_000)),
            ("1y2w3d4h5m6s7ms", MS(((((365 + 17) * 24 + 4) * 60 + 5) * 60 + 6) * 1000 + 7)),
            ("1h0m", MS(3_600_000)),
            ("9223372036854ms", MS(MAX_MS)),
        ];
        for (input, want) in cases {
            assert_eq!(parse(input), Ok(*want), "{input}");
        }
    }

    #[test]
    fn rejects_invalid_durations() {
        use DurationError::*;
        let cases: &[(&str, DurationError)] = &[
            ("", Empty),
            ("s", MissingNumber),
            ("-1s", MissingNumber),
            ("+1s", MissingNumber),
            (" 1s", MissingNumber),
            ("15", MissingUnit),
            ("00", MissingUnit),
            ("1m30", MissingUnit),
            ("1.5s", Fraction),
            ("15x", UnknownUnit("x".into())),
            ("1S", UnknownUnit("S".into())),
            ("1s ", UnknownUnit("s ".into())),
            ("1us", UnknownUnit("us".into())),
            ("5m1h", Order),
            ("1s1s", Order),
            ("1ms1s", Order),
            ("9223372036855ms", Overflow),
            ("293y", Overflow),
            ("292y25w", Overflow),
            ("99999999999999999999s", Overflow),
        ];
        for (input, want) in cases {
            assert_eq!(parse(input).as_ref(), Err(want), "{input:?}");
        }
    }

    #[test]
    fn formats_like_prometheus() {
        let cases: &[(Duration, &str)] = &[
            (Duration::ZERO, "0s"),
            (MS(30), "30ms"),
            (MS(90_000), "1m30s"),
            (MS(3_600_000), "1h"),
            (MS(90 * 86_400_000), "90d"),
            (MS(14 * 86_400_000), "2w"),
            (MS(365 * 86_400_000), "1y"),
            (MS(86_400_000 + 1), "1d1ms"),
            (Duration::from_micros(1500), "1ms"),
        ];
        for (input, want) in cases {
            assert_eq!(format(*input), *want, "{input:?}");
        }
    }

    #[test]
    fn format_round_trips() {
        for s in ["1y2w3d4h5m6s7ms", "15s", "1m30s", "4w", "30ms", "1y1d"] {
            let d = parse(s).unwrap();
            assert_eq!(parse(&format(d)), Ok(d), "{s}");
        }
    }

    #[test]
    fn every_short_string_is_refused_or_round_trips() {
        let alphabet = ['1', '0', '9', 's', 'm', 'h', 'y', '.', '-', 'é'];
        let mut level = vec![String::new()];
        for _ in 0..4 {
            level = level.iter().flat_map(|s| alphabet.iter().map(move |c| format!("{s}{c}"))).collect();
            for input in &level {
                if let Ok(d) = parse(input) {
                    assert_eq!(parse(&format(d)), Ok(d), "{input:?}");
                }
            }
        }
    }
}
