//! A kill storm: the release binary killed with SIGKILL at seeded random moments, 50 times,
//! through an outage (the receiver refuses connections), a recovery (it answers again,
//! slowly, while the backlog drains) and healthy sending, then started once more to drain
//! everything. The target counts its scrapes, and the receiver records every request, so
//! each lost or duplicated sample can be set against the kill it came from (README, "What
//! each kind of stop can lose"): a sample lost was scraped within the crash bound before a
//! kill; a request delivered twice is the same request, re-sent after a kill that came
//! before its answer was recorded; every series arrives in order.

mod support;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::fake::{FakeReceiver, FakeTarget, Received};
use support::{Child, TempDir, free_port, http_get, poll_until, start_outpost};

const KILLS: usize = 50;
/// `buffer.sync_interval`: what a crash may cost (README). SIGKILL keeps the page cache, so
/// the loss is what was only in RAM: the open batch, the ring while healthy.
const SYNC_INTERVAL_MS: u64 = 1000;
const SCRAPE_INTERVAL_MS: u64 = 100;
/// Series on each page besides `tick_total`.
const SERIES: usize = 20;

fn config(data_dir: &std::path::Path, listen: u16, receiver: &FakeReceiver, target: &FakeTarget) -> String {
    format!(
        r#"data_dir = {dir:?}
listen = "127.0.0.1:{listen}"
[global]
scrape_interval = "{SCRAPE_INTERVAL_MS}ms"
scrape_timeout = "{SCRAPE_INTERVAL_MS}ms"
[buffer]
memory = "1MiB"
disk = "64MiB"
segment = "64KiB"
sync_interval = "{SYNC_INTERVAL_MS}ms"
[[remote_write]]
url = "{url}"
[remote_write.queue_config]
max_samples_per_send = 100
batch_send_deadline = "200ms"
min_backoff = "10ms"
max_backoff = "100ms"
[[scrape_configs]]
job_name = "storm"
[[scrape_configs.static_configs]]
targets = ["{target}"]
"#,
        dir = data_dir.display().to_string(),
        url = receiver.url(),
        target = target.address()
    )
}

/// The receiver's state for the `i`-th run: down for the first 20, up (slow) after.
fn receiver_up(i: usize) -> bool {
    i >= 20
}

/// Every 2xx request's samples of the target's series: (series, timestamp, value), in arrival
/// order, with the request's index.
fn arrivals(received: &[Received]) -> Vec<(usize, String, i64, f64)> {
    let mut out = Vec::new();
    for (i, r) in received.iter().enumerate().filter(|(_, r)| (200..300).contains(&r.status)) {
        for ts in &r.request.timeseries {
            let key =
                ts.labels.iter().map(|l| format!("{}={}", l.name, l.value)).collect::<Vec<_>>().join(",");
            if key.starts_with("__name__=tick_total,") || key.starts_with("__name__=s,") {
                out.extend(ts.samples.iter().map(|s| (i, key.clone(), s.timestamp, s.value)));
            }
        }
    }
    out
}

#[test]
fn fifty_sigkills_lose_only_within_the_crash_bound_and_keep_order() {
    let mut rng = fastrand::Rng::with_seed(0x5703);
    let receiver = FakeReceiver::slow(Duration::from_millis(50), Box::new(|_, _| (204, Vec::new())));
    // When each scrape was served: tick n + 1 is scrape n.
    let served_at: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let target = {
        let served_at = served_at.clone();
        FakeTarget::dynamic(Box::new(move |n| {
            served_at.lock().expect("lock").push(Instant::now());
            let mut page = format!("# TYPE tick_total counter\ntick_total {}\n", n + 1);
            for i in 0..SERIES {
                page.push_str(&format!("s{{i=\"{i}\"}} {n}\n"));
            }
            page
        }))
    };
    let data = TempDir::new("kill-storm");
    let started = Instant::now();
    // Each kill: when the signal went (what a loss is judged against) and when the process was
    // seen gone (what a re-sent request is judged against): `wait_exit` polls, so the second
    // is up to a poll interval later, and a loss judged against it would look older.
    let mut kills: Vec<Instant> = Vec::new();
    let mut exits: Vec<Instant> = Vec::new();
    let start = |i: usize| -> (Child, u16) {
        if receiver_up(i) {
            receiver.up()
        } else {
            receiver.down()
        }
        let port = free_port();
        (start_outpost(&config(&data.path().join("data"), port, &receiver, &target)), port)
    };
    for i in 0..KILLS {
        let (mut outpost, port) = start(i);
        // Up and scraping first (a kill before the first scrape proves nothing), then a
        // seeded moment: most within a sync interval, some longer.
        poll_until(Duration::from_secs(10), "outpost answers", || {
            outpost.assert_running();
            http_get(port, "/metrics").map(|_| ()).map_err(|e| e.to_string())
        });
        let wait = if rng.u8(..4) == 0 { rng.u64(1000..3000) } else { rng.u64(50..SYNC_INTERVAL_MS) };
        std::thread::sleep(Duration::from_millis(wait)); // the moment of the kill, not a sync
        kills.push(Instant::now());
        outpost.signal("KILL");
        outpost.wait_exit(Duration::from_secs(10));
        exits.push(Instant::now());
    }
    let storm = started.elapsed();
    let (mut outpost, port) = start(KILLS);
    let want = served_at.lock().expect("lock").len() as u64 + 5;
    poll_until(Duration::from_secs(60), "everything drained", || {
        outpost.assert_running();
        let max = arrivals(&receiver.snapshot())
            .iter()
            .filter(|a| a.1.starts_with("__name__=tick_total,"))
            .map(|a| a.3 as u64)
            .max()
            .unwrap_or(0);
        let body = http_get(port, "/metrics").map(|(_, b)| b).unwrap_or_default();
        let pending = body
            .lines()
            .find(|l| l.starts_with("prometheus_remote_storage_samples_pending"))
            .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok());
        if max >= want && pending == Some(0.0) {
            Ok(())
        } else {
            Err(format!("tick {max} of {want}, pending {pending:?}"))
        }
    });
    drop(outpost);
    let served: Vec<Instant> = served_at.lock().expect("lock").clone();
    let received = receiver.snapshot();
    let got = arrivals(&received);

    // Per series, the first arrival of each timestamp comes in timestamp order.
    let mut last: HashMap<&str, i64> = HashMap::new();
    let mut seen: BTreeSet<(&str, i64)> = BTreeSet::new();
    for (_, key, ts, _) in &got {
        if seen.insert((key.as_str(), *ts)) {
            let before = last.insert(key.as_str(), *ts);
            assert!(before.is_none_or(|b| b < *ts), "{key}: {ts} after {before:?}: out of order");
        }
    }

    // Lost: every scrape whose tick never arrived was served within the bound before a kill.
    let ticks: BTreeSet<u64> =
        got.iter().filter(|a| a.1.starts_with("__name__=tick_total,")).map(|a| a.3 as u64).collect();
    let bound = Duration::from_millis(SYNC_INTERVAL_MS + SCRAPE_INTERVAL_MS);
    let mut lost_per_kill: BTreeMap<usize, u64> = BTreeMap::new();
    // Scrapes go on until the last process is dropped, after the drain was seen complete:
    // ticks served after the newest one received had no time to arrive, and are not judged.
    let newest = ticks.iter().max().copied().unwrap_or(0) as usize;
    for (n, at) in served.iter().enumerate().take(newest) {
        if ticks.contains(&(n as u64 + 1)) {
            continue;
        }
        // The kill that ended the process serving it (it may have been served just after the
        // signal went, before the process was gone).
        let kill = exits.iter().position(|e| e >= at);
        let within = kill.is_some_and(|k| kills[k].saturating_duration_since(*at) <= bound);
        assert!(
            within,
            "tick {} (scraped {:?} in) lost, not within {bound:?} before a kill",
            n + 1,
            *at - started
        );
        *lost_per_kill.entry(kill.unwrap_or(0)).or_default() += 1;
    }

    // Duplicates: a sample delivered twice came in two identical requests, the second after a
    // kill that followed the first; at most one such request per kill (one shard).
    let mut first: HashMap<(&str, i64), usize> = HashMap::new();
    let mut dup_requests: BTreeSet<(usize, usize)> = BTreeSet::new();
    for (i, key, ts, _) in &got {
        match first.get(&(key.as_str(), *ts)) {
            None => {
                first.insert((key.as_str(), *ts), *i);
            }
            Some(j) if j == i => {}
            Some(j) => {
                let (a, b) = (&received[*j], &received[*i]);
                assert_eq!(a.body, b.body, "{key} at {ts} re-sent in a different request");
                assert!(exits.iter().any(|k| *k > a.at && *k < b.at), "{key} at {ts} twice, no kill between");
                dup_requests.insert((*j, *i));
            }
        }
    }
    let mut dup_per_kill: BTreeMap<usize, usize> = BTreeMap::new();
    for (j, _) in &dup_requests {
        let kill = exits.iter().position(|k| *k > received[*j].at).unwrap_or(KILLS);
        *dup_per_kill.entry(kill).or_default() += 1;
    }
    assert!(dup_per_kill.values().all(|n| *n <= 1), "requests re-sent per kill: {dup_per_kill:?}");
    let lost: u64 = lost_per_kill.values().sum();
    eprintln!(
        "FIGURE kill storm: {KILLS} SIGKILLs in {storm:.1?} (20 in the outage, then recovery and healthy), \
         {} scrapes, {} ticks delivered; {lost} scrapes lost, at most {} at one kill (bound {bound:?}, \
         {} scrapes); {} requests re-sent after a kill",
        served.len(),
        ticks.len(),
        lost_per_kill.values().max().unwrap_or(&0),
        bound.as_millis() as u64 / SCRAPE_INTERVAL_MS,
        dup_requests.len(),
    );
}
