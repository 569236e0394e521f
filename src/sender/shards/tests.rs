//! `Sharding` against hand-computed cases of Prometheus's formula.

use super::*;

/// One interval's traffic, per second.
#[derive(Clone, Copy)]
struct Traffic {
    samples_in: f64,
    samples_out: f64,
    dropped: f64,
    /// Seconds spent sending per second (all shards together).
    send_seconds: f64,
    /// Highest received minus highest sent timestamp, seconds.
    delay: f64,
}

const KEEPING_UP: Traffic =
    Traffic { samples_in: 1000.0, samples_out: 1000.0, dropped: 0.0, send_seconds: 0.5, delay: 0.0 };

/// Feeds one interval of `traffic` and updates at its end.
fn interval(s: &mut Sharding, t: Traffic, now: Instant) -> Option<usize> {
    let secs = UPDATE_INTERVAL.as_secs_f64();
    s.samples_in((t.samples_in * secs) as u64);
    s.samples_dropped((t.dropped * secs) as u64);
    s.sent((t.samples_out * secs) as u64, Duration::from_secs_f64(t.send_seconds * secs), now);
    let received = 1_800_000_000_000;
    s.update(received, received - (t.delay * 1000.0) as i64, now)
}

fn sharding(min: usize, max: usize, current: usize) -> Sharding {
    let mut s = Sharding::new(min, max);
    s.current = current;
    s
}

#[test]
fn desired_shards_follow_prometheus_formula() {
    let now = Instant::now();
    // (name, min, max, current, traffic, desired before rounding, reshard to)
    type Case = (&'static str, usize, usize, usize, Traffic, f64, Option<usize>);
    let cases: [Case; 10] = [
        ("keeping up with one shard", 1, 50, 1, KEEPING_UP, 0.5, None),
        ("a slow receiver wants more", 1, 50, 1, Traffic { send_seconds: 3.2, ..KEEPING_UP }, 3.2, Some(4)),
        ("clamped to max_shards", 1, 4, 1, Traffic { send_seconds: 7.5, ..KEEPING_UP }, 7.5, Some(4)),
        ("within 30% below: kept", 1, 50, 4, Traffic { send_seconds: 3.1, ..KEEPING_UP }, 3.1, None),
        ("within 30% above: kept", 1, 50, 4, Traffic { send_seconds: 4.9, ..KEEPING_UP }, 4.9, None),
        ("beyond 30% above: resharded", 1, 50, 4, Traffic { send_seconds: 5.3, ..KEEPING_UP }, 5.3, Some(6)),
        ("downsharded when caught up", 1, 50, 4, KEEPING_UP, 0.5, Some(1)),
        // 60 s behind at 1000/s: 60000 samples of backlog, 5% of it per second on top of the 1000/s.
        ("catching up on a backlog", 1, 50, 1, Traffic { delay: 60.0, ..KEEPING_UP }, 2.0, Some(2)),
        // Half of what comes in is dropped: only the kept half has to be sent.
        (
            "dropped samples need no shard",
            1,
            50,
            1,
            Traffic { samples_out: 500.0, dropped: 500.0, send_seconds: 1.0, ..KEEPING_UP },
            1.0,
            None,
        ),
        ("clamped to min_shards", 2, 4, 2, KEEPING_UP, 0.5, None),
    ];
    for (name, min, max, current, traffic, desired, reshard) in cases {
        let mut s = sharding(min, max, current);
        let got = interval(&mut s, traffic, now);
        assert!((s.desired - desired).abs() < 1e-9, "{name}: desired {} (want {desired})", s.desired);
        assert_eq!(got, reshard, "{name}");
        assert_eq!(s.current, reshard.unwrap_or(current), "{name}: current follows the reshard");
    }
}

#[test]
fn no_downsharding_while_more_than_ten_seconds_behind() {
    let now = Instant::now();
    let slow_trickle =
        Traffic { samples_in: 10.0, samples_out: 10.0, dropped: 0.0, send_seconds: 0.001, delay: 30.0 };
    let mut s = sharding(1, 50, 4);
    assert_eq!(interval(&mut s, slow_trickle, now), None, "30 s behind: stays at 4");
    let mut s = sharding(1, 50, 4);
    assert_eq!(interval(&mut s, Traffic { delay: 9.0, ..slow_trickle }, now), Some(1), "9 s behind: down");
}

#[test]
fn nothing_sent_means_no_estimate_and_no_reshard() {
    let mut s = sharding(1, 50, 1);
    let idle = Traffic { samples_out: 0.0, send_seconds: 0.0, ..KEEPING_UP };
    s.samples_in(10_000);
    assert_eq!(s.update(10, 0, Instant::now()), None);
    assert_eq!(s.desired, 1.0, "the gauge keeps its last value (min_shards at start)");
    assert_eq!(interval(&mut s, idle, Instant::now()), None);
}

#[test]
fn no_reshard_without_a_recent_send_or_while_retries_pause_it() {
    let t0 = Instant::now();
    let slow = Traffic { send_seconds: 3.2, ..KEEPING_UP };
    // The last block left more than one interval ago: sends are failing.
    let mut s = sharding(1, 50, 1);
    let secs = UPDATE_INTERVAL.as_secs_f64();
    s.samples_in((slow.samples_in * secs) as u64);
    s.sent((slow.samples_out * secs) as u64, Duration::from_secs_f64(slow.send_seconds * secs), t0);
    assert_eq!(s.update(0, 0, t0 + UPDATE_INTERVAL + Duration::from_secs(1)), None);
    assert_eq!(s.current, 1);

    // A retry told to wait 5 s pauses resharding for 10 s.
    let mut s = sharding(1, 50, 1);
    s.retrying(Duration::from_secs(5), t0);
    assert_eq!(interval(&mut s, slow, t0 + Duration::from_secs(9)), None, "paused");
    assert_eq!(interval(&mut s, slow, t0 + Duration::from_secs(11)), Some(4), "pause over");
}

#[test]
fn ewma_starts_at_the_first_busy_interval_then_weighs_new_intervals_by_a_fifth() {
    let mut r = Ewma::default();
    r.tick();
    assert_eq!(r.rate(), 0.0);
    r.add(100.0);
    r.tick();
    assert_eq!(r.rate(), 10.0, "the first interval with events sets the rate");
    r.tick();
    assert!((r.rate() - 8.0).abs() < 1e-12, "an idle interval: 10 + 0.2 * (0 - 10)");
    r.add(300.0);
    r.tick();
    assert!((r.rate() - 12.4).abs() < 1e-12, "8 + 0.2 * (30 - 8)");
}

#[test]
fn new_clamps_min_and_max() {
    let s = Sharding::new(0, 0);
    assert_eq!((s.min, s.max, s.current, s.desired), (1, 1, 1, 1.0));
    let s = Sharding::new(8, 4);
    assert_eq!((s.min, s.max, s.current), (4, 4, 4));
}
