//! What a receiver's answer means for the block (SPEC, Pipeline, the status
//! table). Pure: the answer and `now` in, an `Outcome` out.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// What came back from one POST, as `http.rs` reports it.
#[derive(Clone, Debug, PartialEq)]
pub enum Answer {
    Status {
        status: u16,
        /// The raw `Retry-After` header, if any.
        retry_after: Option<String>,
        /// The first KiB of the body, lossily decoded.
        message: String,
    },
    /// No HTTP answer: connection refused, reset, timeout, TLS failure.
    Transport(String),
}

#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    Delivered,
    /// Send the same block again, after `after` if the answer said so,
    /// else after the next backoff step.
    Retry {
        after: Option<Duration>,
        reason: String,
        /// A `Retry-After` that was not used as given (capped, in the past,
        /// unreadable), worded for the log.
        warning: Option<String>,
    },
    /// Never retry: drop the block and count it.
    Rejected {
        status: u16,
        message: String,
    },
}

/// The longest wait a `Retry-After` can impose: outpost's own cap, which
/// Prometheus does not have. Mimir asks for at most 96 s; a larger value is a
/// misconfigured proxy, or an HTTP date read against a device clock that is off.
pub const RETRY_AFTER_CAP: Duration = Duration::from_secs(300);

/// Classifies an answer. `max_backoff` is the wait after 401/403, which need
/// an operator to fix credentials and must not hammer the receiver. `now`
/// resolves a `Retry-After` given as an HTTP date.
pub fn classify(answer: &Answer, retry_on_http_429: bool, max_backoff: Duration, now: SystemTime) -> Outcome {
    let (status, retry_after, message) = match answer {
        Answer::Transport(e) => return Outcome::Retry { after: None, reason: e.clone(), warning: None },
        Answer::Status { status, retry_after, message } => (*status, retry_after, message),
    };
    let reason = || format!("HTTP {status}: {}", message.trim());
    match status {
        200..=299 => Outcome::Delivered,
        // A 5xx's Retry-After is honoured as a 429's, as Prometheus does since
        // prometheus/prometheus#12677.
        500..=599 => retry_as_told(retry_after.as_deref(), reason(), now),
        429 if retry_on_http_429 => retry_as_told(retry_after.as_deref(), reason(), now),
        408 => Outcome::Retry { after: None, reason: reason(), warning: None },
        401 | 403 => Outcome::Retry { after: Some(max_backoff), reason: reason(), warning: None },
        _ => Outcome::Rejected { status, message: message.clone() },
    }
}

fn retry_as_told(header: Option<&str>, reason: String, now: SystemTime) -> Outcome {
    let Some(value) = header else { return Outcome::Retry { after: None, reason, warning: None } };
    let (after, warning) = match retry_after(value, now) {
        RetryAfter::Wait(d) if d.is_zero() => (None, None),
        RetryAfter::Wait(d) => (Some(d), None),
        RetryAfter::Capped => (
            Some(RETRY_AFTER_CAP),
            Some(format!(
                "Retry-After {value:?} is beyond outpost's cap of {} s (RETRY_AFTER_CAP): waiting {} s",
                RETRY_AFTER_CAP.as_secs(),
                RETRY_AFTER_CAP.as_secs()
            )),
        ),
        RetryAfter::Past => (None, Some(format!("Retry-After {value:?} is in the past: using the backoff"))),
        RetryAfter::Invalid => (
            None,
            Some(format!(
                "Retry-After {value:?} is neither whole seconds nor an HTTP date: using the backoff"
            )),
        ),
    };
    Outcome::Retry { after, reason, warning }
}

/// A `Retry-After` value read as Prometheus's `retryAfterDuration` reads it
/// (storage/remote/client.go): an HTTP date (`http.TimeFormat`, IMF-fixdate)
/// is the time until then; else a whole number of seconds (`strconv.Atoi`:
/// optional sign, digits). What Prometheus treats as "no header" (unparsable,
/// zero or negative) falls back to the backoff; unlike Prometheus, a wait
/// above [`RETRY_AFTER_CAP`] (or too large to represent) is capped.
#[derive(Debug, PartialEq)]
enum RetryAfter {
    Wait(Duration),
    Capped,
    Past,
    Invalid,
}

fn retry_after(value: &str, now: SystemTime) -> RetryAfter {
    let value = value.trim();
    if let Some(at) = http_date(value) {
        return match at.duration_since(now) {
            Ok(d) if d > RETRY_AFTER_CAP => RetryAfter::Capped,
            // Go's `time.Until(t).Seconds()` truncated to whole seconds.
            Ok(d) => RetryAfter::Wait(Duration::from_secs(d.as_secs())),
            Err(_) => RetryAfter::Past,
        };
    }
    let digits = value.strip_prefix(['+', '-']).unwrap_or(value);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return RetryAfter::Invalid;
    }
    if value.starts_with('-') {
        return if digits.bytes().all(|b| b == b'0') {
            RetryAfter::Wait(Duration::ZERO)
        } else {
            RetryAfter::Past
        };
    }
    match digits.parse::<u64>() {
        Ok(secs) if secs <= RETRY_AFTER_CAP.as_secs() => RetryAfter::Wait(Duration::from_secs(secs)),
        // Above the cap, or more digits than a u64 holds.
        _ => RetryAfter::Capped,
    }
}

/// An IMF-fixdate, `Sun, 06 Nov 1994 08:49:37 GMT` (RFC 9110 5.6.7; the only
/// form Go's `http.TimeFormat` parses). The weekday is checked for form only,
/// as Go does.
fn http_date(value: &str) -> Option<SystemTime> {
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    const MONTHS: [&str; 12] =
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let b = value.as_bytes();
    if b.len() != 29
        || &b[3..5] != b", "
        || b[7] != b' '
        || b[11] != b' '
        || b[16] != b' '
        || &b[25..] != b" GMT"
    {
        return None;
    }
    if !DAYS.contains(&value.get(0..3)?) || b[19] != b':' || b[22] != b':' {
        return None;
    }
    let number = |range: std::ops::Range<usize>| -> Option<u64> {
        let text = value.get(range)?;
        text.bytes().all(|c| c.is_ascii_digit()).then(|| text.parse().ok())?
    };
    let day = number(5..7)?;
    let month = MONTHS.iter().position(|m| Some(*m) == value.get(8..11))? as u64 + 1;
    let year = number(12..16)?;
    let (hour, minute, second) = (number(17..19)?, number(20..22)?, number(23..25)?);
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let month_days = [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    if day == 0
        || day > month_days[month as usize - 1]
        || hour > 23
        || minute > 59
        || second > 59
        || year < 1970
    {
        return None;
    }
    // Days since 1970-01-01 of a civil date (Howard Hinnant's days_from_civil).
    let (y, m) = if month <= 2 { (year - 1, month + 9) } else { (year, month - 3) };
    let era = y / 400;
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    UNIX_EPOCH.checked_add(Duration::from_secs(days * 86_400 + hour * 3600 + minute * 60 + second))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(status: u16, retry_after: Option<&str>) -> Answer {
        Answer::Status { status, retry_after: retry_after.map(str::to_owned), message: "msg\n".into() }
    }

    /// 2015-10-21 07:28:00 UTC.
    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_445_412_480)
    }

    fn retry(after: Option<u64>, reason: &str) -> Outcome {
        Outcome::Retry { after: after.map(Duration::from_secs), reason: reason.to_owned(), warning: None }
    }

    #[test]
    fn status_table() {
        let max = Duration::from_secs(5);
        let cases = [
            (status(200, None), true, Outcome::Delivered),
            (status(204, None), true, Outcome::Delivered),
            (status(500, None), true, retry(None, "HTTP 500: msg")),
            (status(503, Some("7")), true, retry(Some(7), "HTTP 503: msg")),
            (status(408, None), true, retry(None, "HTTP 408: msg")),
            (status(408, Some("7")), true, retry(None, "HTTP 408: msg")),
            (status(429, Some("2")), true, retry(Some(2), "HTTP 429: msg")),
            (status(429, Some("Wed, 21 Oct 2015 07:28:09 GMT")), true, retry(Some(9), "HTTP 429: msg")),
            (status(429, None), false, Outcome::Rejected { status: 429, message: "msg\n".into() }),
            (status(429, Some("2")), false, Outcome::Rejected { status: 429, message: "msg\n".into() }),
            (status(401, None), true, retry(Some(5), "HTTP 401: msg")),
            (status(403, Some("1")), true, retry(Some(5), "HTTP 403: msg")),
            (status(400, None), true, Outcome::Rejected { status: 400, message: "msg\n".into() }),
            (status(409, None), true, Outcome::Rejected { status: 409, message: "msg\n".into() }),
            (status(413, None), true, Outcome::Rejected { status: 413, message: "msg\n".into() }),
            (Answer::Transport("connection refused".into()), true, retry(None, "connection refused")),
        ];
        for (answer, on_429, want) in cases {
            assert_eq!(classify(&answer, on_429, max, now()), want, "{answer:?}");
        }
    }

    /// Each value as Prometheus's retryAfterDuration reads it, then our cap:
    /// Prometheus's result in the comment where ours differs.
    #[test]
    fn retry_after_values_read_as_prometheus_with_our_cap() {
        use RetryAfter::*;
        let secs = |s| Wait(Duration::from_secs(s));
        let cases = [
            ("0", Wait(Duration::ZERO)),
            ("1", secs(1)),
            ("  30 ", secs(30)),
            ("+30", secs(30)), // strconv.Atoi takes a sign
            ("300", secs(300)),
            ("301", Capped),                  // Prometheus: 301 s
            ("86400", Capped),                // Prometheus: a day
            ("9999999999", Capped),           // Prometheus: wraps past i64 nanoseconds to a negative: backoff
            ("99999999999999999999", Capped), // Prometheus: Atoi overflows: backoff
            ("-0", Wait(Duration::ZERO)),
            ("-5", Past),
            ("-99999999999999999999", Past),
            ("", Invalid),
            ("+", Invalid),
            ("1.5", Invalid),
            ("5s", Invalid),
            ("0x10", Invalid),
            ("1 2", Invalid),
            ("١٢", Invalid), // Arabic-Indic digits are not ASCII digits
            ("soon", Invalid),
            ("Wed, 21 Oct 2015 07:28:00 GMT", Wait(Duration::ZERO)),
            ("Wed, 21 Oct 2015 07:28:30 GMT", secs(30)),
            ("Wed, 21 Oct 2015 07:33:00 GMT", secs(300)),
            ("Wed, 21 Oct 2015 07:33:01 GMT", Capped),
            ("Fri, 31 Dec 9999 23:59:59 GMT", Capped),
            ("Wed, 21 Oct 2015 07:27:59 GMT", Past),
            ("Thu, 01 Jan 1970 00:00:00 GMT", Past),
            // Not IMF-fixdate (RFC 850, asctime, other zones, bad fields): Go's
            // http.TimeFormat refuses them too, and they are not seconds.
            ("Wednesday, 21-Oct-15 07:28:30 GMT", Invalid),
            ("Wed Oct 21 07:28:30 2015", Invalid),
            ("Wed, 21 Oct 2015 07:28:30 UTC", Invalid),
            ("Wed, 21 Oct 2015 07:28:30 +0000", Invalid),
            ("Wed, 32 Oct 2015 07:28:30 GMT", Invalid),
            ("Wed, 29 Feb 2015 07:28:30 GMT", Invalid),
            ("Wed, 21 Foo 2015 07:28:30 GMT", Invalid),
            ("Wed, 21 Oct 2015 24:00:00 GMT", Invalid),
            ("Wed, 21 Oct 2015 07:60:00 GMT", Invalid),
            ("Xyz, 21 Oct 2015 07:28:30 GMT", Invalid),
            ("Wed, 2a Oct 2015 07:28:30 GMT", Invalid),
            ("Wed, +1 Oct 2015 07:28:30 GMT", Invalid),
            ("Wed, 21 Oct 1969 07:28:30 GMT", Invalid),
            ("Wed, 21 Oct 2015 07:28:30 GMTé", Invalid),
        ];
        for (value, want) in cases {
            assert_eq!(retry_after(value, now()), want, "{value:?}");
        }
    }

    #[test]
    fn http_dates_match_the_epoch_arithmetic() {
        let cases = [
            ("Thu, 01 Jan 1970 00:00:00 GMT", 0),
            ("Sun, 06 Nov 1994 08:49:37 GMT", 784_111_777),
            ("Tue, 29 Feb 2000 12:00:00 GMT", 951_825_600),
            ("Fri, 01 Mar 2024 00:00:00 GMT", 1_709_251_200),
            ("Tue, 19 Jan 2038 03:14:08 GMT", 2_147_483_648),
        ];
        for (text, secs) in cases {
            assert_eq!(http_date(text), Some(UNIX_EPOCH + Duration::from_secs(secs)), "{text}");
        }
        // Every prefix of a valid date, and every single-byte change to a
        // space, is refused without a panic (never read as another date).
        let good = "Sun, 06 Nov 1994 08:49:37 GMT";
        for end in 0..good.len() {
            assert_eq!(http_date(&good[..end]), None, "{:?}", &good[..end]);
        }
        for i in 0..good.len() {
            let mut bytes = good.as_bytes().to_vec();
            if bytes[i] == b' ' {
                continue;
            }
            bytes[i] = b' ';
            let text = String::from_utf8(bytes).expect("ascii");
            assert_eq!(http_date(&text), None, "{text:?}");
        }
    }

    #[test]
    fn odd_retry_after_values_are_named_for_the_log() {
        let warning = |value: &str| match classify(&status(429, Some(value)), true, Duration::ZERO, now()) {
            Outcome::Retry { warning, after, .. } => (after, warning.unwrap_or_default()),
            other => panic!("{other:?}"),
        };
        let (after, w) = warning("86400");
        assert_eq!(after, Some(RETRY_AFTER_CAP));
        assert_eq!(
            w,
            "Retry-After \"86400\" is beyond outpost's cap of 300 s (RETRY_AFTER_CAP): waiting 300 s"
        );
        let (after, w) = warning("-5");
        assert_eq!((after, w.as_str()), (None, "Retry-After \"-5\" is in the past: using the backoff"));
        let (after, w) = warning("1.5");
        assert_eq!(after, None);
        assert!(w.contains("\"1.5\" is neither whole seconds nor an HTTP date"), "{w}");
        assert_eq!(warning("0"), (None, String::new()), "0 means now: the backoff, quietly");
        assert_eq!(warning("12"), (Some(Duration::from_secs(12)), String::new()));
    }
}
