//! SPEC, "A fleet reconnects gently", against the real binary and the fake
//! receiver: once the receiver pushes back (429, then 503), the backlog is not
//! replayed at once but paced relative to the queue's own inflow (the adaptive
//! replay of `sender::flow::Pacer`); the pace then grows back and the backlog
//! drains with nothing lost. Every wait polls with a bound.

mod support;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use support::fake::{FakeReceiver, FakeTarget};
use support::{poll_until, start_outpost};

const PAGE: &str = "g 1\n";
/// Phases of the receiver, from its start: accepted (the inflow is measured),
/// 429, 503, accepted again.
const HEALTHY_UNTIL: Duration = Duration::from_secs(8);
const TOO_MANY_UNTIL: Duration = Duration::from_secs(11);
const UNAVAILABLE_UNTIL: Duration = Duration::from_secs(14);

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("after 1970").as_millis() as i64
}

#[test]
fn replay_after_429_and_503_is_paced_then_grows_back_and_drains() {
    let t0 = Instant::now();
    let t0_ms = now_ms();
    let receiver = FakeReceiver::start(Box::new(move |_, _| {
        let t = t0.elapsed();
        if t < HEALTHY_UNTIL || t >= UNAVAILABLE_UNTIL {
            (204, Vec::new())
        } else if t < TOO_MANY_UNTIL {
            (429, Vec::new())
        } else {
            (503, Vec::new())
        }
    }));
    let target = FakeTarget::start(PAGE);
    // One block per scrape (10 a second); backoff 10..40 ms.
    let mut outpost = start_outpost(&format!(
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
    ));
    // Three seconds into the replay.
    let replay = t0 + UNAVAILABLE_UNTIL;
    poll_until(Duration::from_secs(60), "three seconds of replay", || {
        outpost.assert_running();
        if Instant::now() > replay + Duration::from_secs(3) { Ok(()) } else { Err("waiting".into()) }
    });
    let got = receiver.snapshot();
    let in_span = |from: Instant, to: Instant| got.iter().filter(|r| r.at >= from && r.at < to).count();
    // Healthy: one request per block, unpaced; skip the first two seconds (startup).
    let inflow = in_span(t0 + Duration::from_secs(2), t0 + HEALTHY_UNTIL) as f64 / 6.0;
    assert!(inflow >= 3.0, "blocks per second while healthy: {inflow}");
    let refused = in_span(t0 + HEALTHY_UNTIL, replay);
    assert!(refused > 20, "the fast backoff retried the pushback often: {refused}");
    // Unpaced, the 6 s backlog would go out at once: about 9 x inflow requests in
    // these 3 s. Paced at (1 + excess) x inflow after the pushback: about 3 x.
    let replayed = in_span(replay, replay + Duration::from_secs(3)) as f64;
    assert!(
        replayed <= 6.0 * inflow,
        "{replayed} requests in the first 3 s of replay at an inflow of {inflow}/s: not paced"
    );
    assert!(replayed >= 2.0 * inflow, "{replayed} requests in 3 s: slower than the inflow");
    // It grows back: the backlog drains, every scrape of the pushback delivered.
    let (from_ms, to_ms) =
        (t0_ms + HEALTHY_UNTIL.as_millis() as i64, t0_ms + UNAVAILABLE_UNTIL.as_millis() as i64);
    let expected = ((to_ms - from_ms) / 100) as usize;
    poll_until(Duration::from_secs(120), "the backlog drained", || {
        outpost.assert_running();
        let g = receiver.samples("g", "");
        let during = g.iter().filter(|(t, _)| (from_ms..to_ms).contains(t)).count();
        let newest = g.last().map_or(0, |(t, _)| *t);
        if during * 10 >= expected * 9 && now_ms() - newest < 2_000 {
            Ok(())
        } else {
            Err(format!("{during} of ~{expected} pushback samples, newest {} ms old", now_ms() - newest))
        }
    });
    let g = receiver.samples("g", "");
    let mut stamps: Vec<i64> = g.iter().map(|(t, _)| *t).collect();
    let all = stamps.len();
    stamps.dedup();
    assert_eq!(stamps.len(), all, "a sample delivered twice");
}
