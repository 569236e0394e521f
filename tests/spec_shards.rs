//! `queue_config.max_shards` above 1 (Prometheus's sharding): several requests
//! in flight, each series always in one shard so it arrives in order, nothing
//! lost. Against a receiver that answers slowly (fault injection) and against
//! a real Prometheus.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use support::fake::{FakeReceiver, FakeTarget, delivered};
use support::{http_get, poll_until, query, series_labels, series_value, start_outpost, start_prometheus};

/// A page of `series` gauges `s{i="…"}` whose value is the scrape's number, from 1.
fn counting(series: usize) -> FakeTarget {
    FakeTarget::dynamic(Box::new(move |n| {
        let mut page = String::from("# TYPE s gauge\n");
        for i in 0..series {
            page.push_str(&format!("s{{i=\"{i}\"}} {}\n", n + 1));
        }
        page
    }))
}

fn config(url: &str, target: &FakeTarget, listen: u16, queue: &str) -> String {
    format!(
        r#"listen = "127.0.0.1:{listen}"
[global]
scrape_interval = "200ms"
scrape_timeout = "200ms"
[[remote_write]]
url = "{url}"
[remote_write.queue_config]
batch_send_deadline = "50ms"
min_backoff = "10ms"
max_backoff = "100ms"
{queue}
[[scrape_configs]]
job_name = "many"
[[scrape_configs.static_configs]]
targets = ["{target}"]
"#,
        target = target.address()
    )
}

/// The values of each series `s`, in the order the receiver accepted them.
fn values(received: &[support::fake::Received]) -> BTreeMap<String, Vec<f64>> {
    let mut by_series = BTreeMap::<String, Vec<f64>>::new();
    for (series, _, v) in delivered(received).into_iter().filter(|(k, _, _)| k.starts_with("__name__=s,")) {
        by_series.entry(series).or_default().push(v);
    }
    by_series
}

/// Each series strictly increasing in arrival order, and with no gap: 1, 2, 3, ...
fn assert_in_order_without_gaps(by_series: &BTreeMap<String, Vec<f64>>) {
    for (series, v) in by_series {
        let want: Vec<f64> = (1..=v.len()).map(|n| n as f64).collect();
        assert_eq!(v, &want, "{series}: out of order, repeated or missing");
    }
}

fn metric(port: u16, prefix: &str) -> Option<f64> {
    let (_, body) = http_get(port, "/metrics").ok()?;
    body.lines().find(|l| l.starts_with(prefix))?.rsplit(' ').next()?.parse().ok()
}

/// 200 series in blocks of 25 samples, 4 shards, a receiver that takes 150 ms per request:
/// each shard has a block waiting whenever its request returns, so 4 are in flight at once.
#[test]
fn four_shards_overlap_requests_keep_each_series_in_order_and_lose_nothing() {
    let delay = Duration::from_millis(150);
    let receiver = FakeReceiver::slow(delay, Box::new(|_, _| (204, Vec::new())));
    let target = counting(200);
    let listen = support::free_port();
    let queue = "max_samples_per_send = 25\nmin_shards = 4\nmax_shards = 4";
    let mut outpost = start_outpost(&config(&receiver.url(), &target, listen, queue));
    poll_until(Duration::from_secs(30), "every series has its first 10 scrapes", || {
        let by_series = values(&receiver.snapshot());
        let done = by_series.values().filter(|v| v.len() >= 10).count();
        if done == 200 { Ok(()) } else { Err(format!("{done} of 200 series with 10 samples")) }
    });
    outpost.assert_running();
    let got = receiver.snapshot();

    // In flight at each arrival: requests that arrived before and are not yet answered.
    let most = (0..got.len())
        .map(|i| got[..=i].iter().filter(|r| r.at + delay > got[i].at).count())
        .max()
        .unwrap_or(0);
    assert_eq!(most, 4, "up to max_shards = 4 requests in flight, and no more");

    let by_series = values(&got);
    assert_eq!(by_series.len(), 200);
    assert_in_order_without_gaps(&by_series);
    assert_eq!(metric(listen, "prometheus_remote_storage_shards{"), Some(4.0));
    assert_eq!(metric(listen, "prometheus_remote_storage_shards_max{"), Some(4.0));
    assert_eq!(metric(listen, "prometheus_remote_storage_shards_min{"), Some(4.0));
    let desired = metric(listen, "prometheus_remote_storage_shards_desired{").expect("shards_desired");
    assert!(desired.is_finite() && desired >= 0.0, "shards_desired {desired}");
}

/// One shard against a receiver that takes 200 ms per 100-sample request (500 samples/s) while
/// 1000 samples/s come in: the first shard update (10 s) wants more shards and reshards. The
/// series change shards, yet each still arrives in order and whole, and the backlog drains.
#[test]
fn resharding_up_under_load_keeps_every_series_in_order() {
    let receiver = FakeReceiver::slow(Duration::from_millis(200), Box::new(|_, _| (204, Vec::new())));
    let target = counting(200);
    let listen = support::free_port();
    let queue = "max_samples_per_send = 100\nmax_shards = 4";
    let mut outpost = start_outpost(&config(&receiver.url(), &target, listen, queue));
    let start = poll_until(Duration::from_secs(5), "/metrics", || {
        metric(listen, "prometheus_remote_storage_shards{").ok_or_else(|| "no answer".to_string())
    });
    assert_eq!(start, 1.0, "min_shards at start");
    let shards = poll_until(Duration::from_secs(25), "a reshard above one shard", || {
        match metric(listen, "prometheus_remote_storage_shards{") {
            Some(n) if n > 1.0 => Ok(n),
            other => Err(format!("shards {other:?}")),
        }
    });
    let desired = metric(listen, "prometheus_remote_storage_shards_desired{").expect("shards_desired");
    assert!(desired > 1.0, "shards_desired {desired} led to {shards} shards");
    // Scrapes served since the reshard are delivered too: the backlog drained through it.
    let served = target.served.load(std::sync::atomic::Ordering::SeqCst) as usize;
    poll_until(Duration::from_secs(30), "every series delivered past the reshard", || {
        let low = values(&receiver.snapshot()).values().map(Vec::len).min().unwrap_or(0);
        if low >= served + 5 { Ok(()) } else { Err(format!("{low} samples, {served} scrapes at reshard")) }
    });
    outpost.assert_running();
    let by_series = values(&receiver.snapshot());
    assert_eq!(by_series.len(), 200);
    assert_in_order_without_gaps(&by_series);
}

/// A real Prometheus as receiver, 4 shards: every sample of 500 series arrives. Prometheus
/// refuses a sample older than its series' newest, so a reordered series shows as a count
/// below the series' newest value (the scrape number).
#[test]
fn four_shards_deliver_every_sample_of_many_series_to_prometheus() {
    let receiver = start_prometheus();
    let target = counting(500);
    let url = format!("http://127.0.0.1:{}/api/v1/write", receiver.port);
    let queue = "max_samples_per_send = 100\nmin_shards = 4\nmax_shards = 4";
    let mut outpost = start_outpost(&config(&url, &target, support::free_port(), queue));
    poll_until(Duration::from_secs(60), "500 series with 10 scrapes each in Prometheus", || {
        let low = query(receiver.port, r#"min(max_over_time(s{job="many"}[1h]))"#)?;
        let n = query(receiver.port, r#"count(max_over_time(s{job="many"}[1h]))"#)?;
        match (n.first().and_then(series_value), low.first().and_then(series_value)) {
            (Some(n), Some(low)) if n == 500.0 && low >= 10.0 => Ok(()),
            other => Err(format!("(series, lowest newest value) = {other:?}")),
        }
    });
    outpost.assert_running();
    // Every value from 1 to the series' newest is there: nothing lost, nothing refused as out of order.
    let gaps =
        query(receiver.port, r#"max_over_time(s{job="many"}[1h]) - count_over_time(s{job="many"}[1h]) != 0"#)
            .expect("query");
    let gaps: Vec<_> = gaps.iter().map(|s| (series_labels(s), series_value(s))).collect();
    assert!(gaps.is_empty(), "series missing samples: {gaps:?}");
}
