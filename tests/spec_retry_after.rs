//! SPEC, "Bad input": a receiver's `Retry-After` on 429 and 503, against the
//! real binary and the fake receiver. Usable values are waited for (whole
//! seconds, or an HTTP date); garbage (negative, fractional, words, a date in
//! the past) falls back to the backoff as Prometheus's `retryAfterDuration`
//! does; a huge value is capped at outpost's own `RETRY_AFTER_CAP` (300 s),
//! which the log names. Every wait polls with a bound.

mod support;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use support::fake::{FakeReceiver, FakeTarget};
use support::{Child, poll_until, start_outpost};

const PAGE: &str = "g 1\n";

/// Backoff 10..40 ms: a retry that follows the backoff comes well within a second.
fn start(receiver: &FakeReceiver, target: &FakeTarget) -> Child {
    start_outpost(&format!(
        r#"[global]
scrape_interval = "100ms"
scrape_timeout = "100ms"
[[remote_write]]
url = "{url}"
[remote_write.queue_config]
batch_send_deadline = "50ms"
min_backoff = "10ms"
max_backoff = "40ms"
[[scrape_configs]]
job_name = "fake"
[[scrape_configs.static_configs]]
targets = ["{target}"]
"#,
        url = receiver.url(),
        target = target.address()
    ))
}

/// `at` as an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), written here
/// independently of outpost's parser (Howard Hinnant's civil_from_days).
fn http_date(at: SystemTime) -> String {
    let secs = at.duration_since(UNIX_EPOCH).expect("after 1970").as_secs();
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let weekday = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][(days % 7) as usize];
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    let name = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        [month as usize - 1];
    format!(
        "{weekday}, {day:02} {name} {year} {:02}:{:02}:{:02} GMT",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

#[test]
fn http_date_helper_matches_rfc_9110s_example() {
    assert_eq!(http_date(UNIX_EPOCH + Duration::from_secs(784_111_777)), "Sun, 06 Nov 1994 08:49:37 GMT");
}

/// The gaps between consecutive requests, after `n` requests have arrived.
fn gaps(receiver: &FakeReceiver, n: usize) -> Vec<Duration> {
    poll_until(Duration::from_secs(30), &format!("{n} requests at the receiver"), || {
        let got = receiver.snapshot();
        if got.len() >= n { Ok(()) } else { Err(format!("{} requests", got.len())) }
    });
    let got = receiver.snapshot();
    assert!(got[..n].iter().all(|r| r.body == got[0].body), "every retry carries the same block");
    got.windows(2).take(n - 1).map(|w| w[1].at - w[0].at).collect()
}

#[test]
fn garbage_retry_after_on_429_and_503_falls_back_to_the_backoff() {
    let past = http_date(SystemTime::now() - Duration::from_secs(3600));
    let answers: Vec<(u16, String)> = vec![
        (429, "-5".into()),
        (503, "soon".into()),
        (429, "1.5".into()),
        (503, past),
        (429, "Wednesday, 21-Oct-15 07:28:00 GMT".into()), // RFC 850: Go's http.TimeFormat refuses it too
        (503, "0".into()),
    ];
    let script = answers.clone();
    let receiver = FakeReceiver::start(Box::new(move |n, _| match script.get(n) {
        Some((status, value)) => (*status, vec![("Retry-After", value.clone())]),
        None => (204, Vec::new()),
    }));
    let target = FakeTarget::start(PAGE);
    let mut outpost = start(&receiver, &target);
    let gaps = gaps(&receiver, answers.len() + 1);
    // The backoff is at most 40 ms; 1 s leaves room for a busy host and is
    // still below any wait the values could be misread as (5 s, 1 s, an hour).
    for ((status, value), gap) in answers.iter().zip(&gaps) {
        assert!(*gap < Duration::from_secs(1), "{status} with Retry-After {value:?}: retried after {gap:?}");
    }
    let delivered = receiver.snapshot()[answers.len()].status;
    assert_eq!(delivered, 204, "the block is delivered after the garbage");
    outpost.assert_running();
    let log = outpost.log_tail();
    // One line per 10 s: the first value names the fallback, the rest are held back.
    assert!(
        log.contains(
            r#"HTTP 429: scripted 429 for request 0: Retry-After "-5" is in the past: using the backoff"#
        ),
        "{log}"
    );
}

#[test]
fn retry_after_seconds_on_503_and_an_http_date_on_429_are_waited_for() {
    let receiver = FakeReceiver::start(Box::new(|n, _| match n {
        0 => (503, vec![("Retry-After", "1".into())]),
        // Whole seconds: 2 s and a fraction ahead, read as 2 s (Prometheus truncates too).
        1 => (429, vec![("Retry-After", http_date(SystemTime::now() + Duration::from_secs(3)))]),
        _ => (204, Vec::new()),
    }));
    let target = FakeTarget::start(PAGE);
    let _outpost = start(&receiver, &target);
    let gaps = gaps(&receiver, 3);
    assert!(gaps[0] >= Duration::from_secs(1), "503 with Retry-After: 1, retried after {:?}", gaps[0]);
    assert!(gaps[1] >= Duration::from_secs(2), "429 with a date 2-3 s ahead, retried after {:?}", gaps[1]);
    // A wait as told, not as told plus the backoff (40 ms) plus a busy host.
    assert!(gaps[0] < Duration::from_secs(2) && gaps[1] < Duration::from_secs(4), "{gaps:?}");
}

#[test]
fn huge_retry_after_is_capped_and_the_cap_is_named_in_the_log() {
    let receiver =
        FakeReceiver::start(Box::new(|_, _| (503, vec![("Retry-After", "99999999999999999999".into())])));
    let target = FakeTarget::start(PAGE);
    let mut outpost = start(&receiver, &target);
    let line = r#"Retry-After "99999999999999999999" is beyond outpost's cap of 300 s (RETRY_AFTER_CAP): waiting 300 s"#;
    poll_until(Duration::from_secs(20), "the cap in the log", || {
        outpost.assert_running();
        let log = outpost.log_tail();
        if log.contains(line) { Ok(()) } else { Err(log) }
    });
    // Prometheus reads this value as "no header" and retries at once; outpost waits
    // the cap. Over the next second (bounded), no second request.
    let deadline = std::time::Instant::now() + Duration::from_secs(1);
    while std::time::Instant::now() < deadline {
        assert_eq!(receiver.snapshot().len(), 1, "a retry before the capped wait");
        std::thread::sleep(Duration::from_millis(100));
    }
    outpost.assert_running();
}
