//! A `log` backend writing one line per record to stderr. Under journald
//! (`$JOURNAL_STREAM` set) lines carry a `<N>` priority prefix instead of a
//! timestamp, since journald adds its own.

use std::cell::Cell;
use std::io::Write;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use log::{Level, LevelFilter, Log, Metadata, Record};

struct Stderr {
    journald: bool,
}

/// Installs the logger; `OUTPOST_LOG` (error|warn|info|debug|trace|off)
/// overrides `level`.
pub fn init(level: LevelFilter) {
    let level = std::env::var("OUTPOST_LOG").ok().and_then(|v| v.parse().ok()).unwrap_or(level);
    let logger = Stderr { journald: std::env::var_os("JOURNAL_STREAM").is_some() };
    if log::set_boxed_logger(Box::new(logger)).is_ok() {
        log::set_max_level(level);
    }
}

/// Changes the level of an installed logger.
pub fn set_level(level: LevelFilter) {
    let level = std::env::var("OUTPOST_LOG").ok().and_then(|v| v.parse().ok()).unwrap_or(level);
    log::set_max_level(level);
}

impl Log for Stderr {
    /// Libraries (ureq's request traces) speak only from `warn` up.
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        let ours = metadata.target().starts_with("outpost");
        metadata.level() <= log::max_level() && (ours || metadata.level() <= Level::Warn)
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let line = if self.journald {
            let priority = match record.level() {
                Level::Error => 3,
                Level::Warn => 4,
                Level::Info => 6,
                Level::Debug | Level::Trace => 7,
            };
            format!("<{priority}>{}\n", record.args())
        } else {
            format!("{} {:<5} {}\n", utc(SystemTime::now()), record.level(), record.args())
        };
        // A log line that cannot be written has nowhere else to go.
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }

    fn flush(&self) {}
}

/// Lets a message that can repeat (a refused block, a drop) through at most
/// once per `every`; the ones held back in between are counted and the count
/// goes with the next one let through, so the log says how many were missed.
pub struct Throttle {
    every: Duration,
    last: Cell<Option<Instant>>,
    held: Cell<u64>,
}

impl Throttle {
    pub const fn new(every: Duration) -> Self {
        Throttle { every, last: Cell::new(None), held: Cell::new(0) }
    }

    /// `Some(held)` when the message is to be logged now, `held` being how
    /// many were held back since the last one; `None` to hold this one.
    pub fn pass(&self, now: Instant) -> Option<u64> {
        if self.last.get().is_some_and(|last| now.saturating_duration_since(last) < self.every) {
            self.held.set(self.held.get() + 1);
            return None;
        }
        self.last.set(Some(now));
        Some(self.held.replace(0))
    }
}

/// " (N similar messages held back)", or nothing when none were.
pub fn held_back(held: u64) -> String {
    match held {
        0 => String::new(),
        1 => " (1 similar message held back)".into(),
        n => format!(" ({n} similar messages held back)"),
    }
}

/// `2026-11-22T05:00:00.123Z`, from days since the epoch to the civil date
/// (H. Hinnant's `civil_from_days`).
fn utc(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_millis()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates() {
        let at = |s| utc(UNIX_EPOCH + Duration::from_millis(s));
        assert_eq!(at(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(at(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(at(1_795_323_723_456), "2026-11-22T05:02:03.456Z");
    }

    #[test]
    fn throttle_holds_repeats_within_the_interval_and_counts_them() {
        let t = Throttle::new(Duration::from_secs(10));
        let start = Instant::now();
        let at = |s| start + Duration::from_secs(s);
        assert_eq!(t.pass(at(0)), Some(0), "the first one goes through");
        assert_eq!(t.pass(at(1)), None);
        assert_eq!(t.pass(at(9)), None);
        assert_eq!(t.pass(at(10)), Some(2), "the next after the interval, with the count");
        assert_eq!(t.pass(at(15)), None);
        assert_eq!(t.pass(at(40)), Some(1));
        assert_eq!(t.pass(at(60)), Some(0));
        assert_eq!(held_back(0), "");
        assert_eq!(held_back(3), " (3 similar messages held back)");
    }
}
