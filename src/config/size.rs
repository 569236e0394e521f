//! Byte sizes as strings with binary units ("4MiB", "512", "1GB"). As in
//! Prometheus's `body_size_limit` (alecthomas/units base-2 bytes), "KB", "MB",
//! "GB" and "TB" mean the same powers of 1024 as "KiB" .. "TiB". Units are
//! case-sensitive; the number is a non-negative integer; the result fits u64.

use std::fmt;

/// (suffix, multiplier); the empty suffix means bytes.
const UNITS: [(&str, u64); 10] = [
    ("", 1),
    ("B", 1),
    ("KiB", 1 << 10),
    ("KB", 1 << 10),
    ("MiB", 1 << 20),
    ("MB", 1 << 20),
    ("GiB", 1 << 30),
    ("GB", 1 << 30),
    ("TiB", 1 << 40),
    ("TB", 1 << 40),
];

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SizeError {
    Empty,
    /// No digits where the number must be (e.g. "MiB", "-1MiB", "1.5MiB").
    MissingNumber,
    UnknownUnit(String),
    /// More than `u64::MAX` bytes.
    Overflow,
}

impl fmt::Display for SizeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SizeError::Empty => f.write_str("empty size string"),
            SizeError::MissingNumber => f.write_str("expected an integer number of bytes"),
            SizeError::UnknownUnit(u) => {
                write!(f, "unknown unit {u:?} (one of B, KiB, MiB, GiB, TiB, KB, MB, GB, TB)")
            }
            SizeError::Overflow => f.write_str("size out of range"),
        }
    }
}

impl std::error::Error for SizeError {}

/// Parses `N` or `N<unit>` into bytes.
pub fn parse(s: &str) -> Result<u64, SizeError> {
    if s.is_empty() {
        return Err(SizeError::Empty);
    }
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    let (number, unit) = s.split_at(digits);
    // A '.' or '-' after (or instead of) the digits is a malformed number, not a unit.
    if digits == 0 || unit.starts_with(['.', ',', '-', '+']) {
        return Err(SizeError::MissingNumber);
    }
    let Some((_, mult)) = UNITS.iter().find(|(suffix, _)| *suffix == unit) else {
        return Err(SizeError::UnknownUnit(unit.to_string()));
    };
    let value: u64 = number.parse().map_err(|_| SizeError::Overflow)?;
    value.checked_mul(*mult).ok_or(SizeError::Overflow)
}

/// Formats with the largest binary unit that divides exactly ("4MiB", "1536B").
pub fn format(bytes: u64) -> String {
    for (suffix, mult) in [("TiB", 1u64 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] {
        if bytes != 0 && bytes.is_multiple_of(mult) {
            return format!("{}{suffix}", bytes / mult);
        }
    }
    format!("{bytes}B")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_valid_sizes() {
        let cases: &[(&str, u64)] = &[
            ("0", 0),
            ("0B", 0),
            ("0MiB", 0),
            ("512", 512),
            ("512B", 512),
            ("4KiB", 4096),
            ("4KB", 4096),
            ("4MiB", 4 << 20),
            ("1MB", 1_048_576),
            ("1GiB", 1 << 30),
            ("1GB", 1 << 30),
            ("2TiB", 2 << 40),
            ("007KiB", 7 << 10),
            ("18446744073709551615", u64::MAX),
            ("16777215TiB", 16_777_215 << 40),
        ];
        for (input, want) in cases {
            assert_eq!(parse(input), Ok(*want), "{input}");
        }
    }

    #[test]
    fn rejects_invalid_sizes() {
        use SizeError::*;
        let cases: &[(&str, SizeError)] = &[
            ("", Empty),
            ("MiB", MissingNumber),
            ("-1MiB", MissingNumber),
            ("1.5MiB", MissingNumber),
            ("1,5MiB", MissingNumber),
            (" 4MiB", MissingNumber),
            ("4 MiB", UnknownUnit(" MiB".into())),
            ("4mib", UnknownUnit("mib".into())),
            ("4kB", UnknownUnit("kB".into())),
            ("4M", UnknownUnit("M".into())),
            ("4MiB4KiB", UnknownUnit("MiB4KiB".into())),
            ("4PiB", UnknownUnit("PiB".into())),
            ("18446744073709551616", Overflow),
            ("16777216TiB", Overflow),
            ("99999999999999999999999KiB", Overflow),
        ];
        for (input, want) in cases {
            assert_eq!(parse(input).as_ref(), Err(want), "{input:?}");
        }
    }

    #[test]
    fn formats_with_largest_exact_unit() {
        let cases: &[(u64, &str)] = &[
            (0, "0B"),
            (512, "512B"),
            (1536, "1536B"),
            (4096, "4KiB"),
            (4 << 20, "4MiB"),
            (1 << 30, "1GiB"),
            (3 << 40, "3TiB"),
        ];
        for (input, want) in cases {
            assert_eq!(format(*input), *want, "{input}");
            assert_eq!(parse(want), Ok(*input));
        }
    }

    #[test]
    fn every_short_string_is_refused_or_round_trips() {
        let alphabet = ["1", "0", "K", "i", "B", "M", "G", ".", "-", "é"];
        let mut level = vec![String::new()];
        for _ in 0..5 {
            level = level.iter().flat_map(|s| alphabet.iter().map(move |c| format!("{s}{c}"))).collect();
            for input in &level {
                if let Ok(bytes) = parse(input) {
                    assert_eq!(parse(&format(bytes)), Ok(bytes), "{input:?}");
                }
            }
        }
    }
}
