//! SPEC, Pipeline (the status table) and "Bad input", against the real binary
//! with in-test fakes for fault injection: a receiver that answers from a
//! script, targets that serve fixed pages.

mod support;

use std::time::Duration;

use support::fake::{FakeReceiver, FakeTarget, delivered};
use support::{http_get, poll_until, start_outpost};

const PAGE: &str =
    "# HELP c_total A counter.\n# TYPE c_total counter\nc_total{n=\"1\"} 1\nc_total{n=\"2\"} 2\ng 3.5\n";

fn config(receiver: &FakeReceiver, targets: &[String], listen: u16) -> String {
    let targets = targets.iter().map(|t| format!("{t:?}")).collect::<Vec<_>>().join(", ");
    format!(
        r#"listen = "127.0.0.1:{listen}"
log_level = "debug"
[global]
scrape_interval = "100ms"
scrape_timeout = "100ms"
external_labels = {{ cluster = "test" }}
[[remote_write]]
url = "{url}"
[remote_write.queue_config]
batch_send_deadline = "50ms"
min_backoff = "10ms"
max_backoff = "40ms"
[[scrape_configs]]
job_name = "fake"
[[scrape_configs.static_configs]]
targets = [{targets}]
"#,
        url = receiver.url()
    )
}

/// Samples of series `name` (with `instance`) as the receiver accepted them.
fn accepted(receiver: &FakeReceiver, series: &str) -> Vec<(i64, f64)> {
    delivered(&receiver.snapshot())
        .into_iter()
        .filter(|(k, _, _)| k.contains(series))
        .map(|(_, t, v)| (t, v))
        .collect()
}

fn self_metric(port: u16, line_prefix: &str) -> Option<f64> {
    let (_, body) = http_get(port, "/metrics").ok()?;
    body.lines().find(|l| l.starts_with(line_prefix))?.rsplit(' ').next()?.parse().ok()
}

#[test]
fn receiver_5xx_is_retried_with_the_same_bytes_and_nothing_is_lost_or_duplicated() {
    let receiver = FakeReceiver::start(Box::new(|n, _| (if n < 6 { 503 } else { 204 }, Vec::new())));
    let target = FakeTarget::start(PAGE);
    let listen = support::free_port();
    let mut outpost = start_outpost(&config(&receiver, &[target.address()], listen));
    let instance = format!("instance={}", target.address());
    poll_until(Duration::from_secs(20), "ten samples of c_total{n=1} accepted after the 503s", || {
        let n = accepted(&receiver, &format!("__name__=c_total,cluster=test,{instance},job=fake,n=1")).len();
        if n >= 10 { Ok(()) } else { Err(format!("{n} accepted")) }
    });
    outpost.assert_running();
    let got = receiver.snapshot();
    assert!(got[..6].iter().all(|r| r.status == 503));
    assert_eq!(got[0].body, got[1].body, "a retry re-sends the same block, byte for byte");
    assert_eq!(got[0].body, got[6].body, "the first block is the first one delivered");
    for r in &got {
        let h = |name: &str| r.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
        assert_eq!(h("content-encoding"), Some("snappy"));
        assert_eq!(h("content-type"), Some("application/x-protobuf"));
        assert_eq!(h("x-prometheus-remote-write-version"), Some("0.1.0"));
        assert!(h("user-agent").is_some_and(|ua| ua.starts_with("outpost/")));
    }
    // Per series: strictly increasing timestamps, so nothing duplicated or reordered.
    let mut by_series = std::collections::BTreeMap::<String, Vec<i64>>::new();
    for (k, t, _) in delivered(&got) {
        by_series.entry(k).or_default().push(t);
    }
    for (series, ts) in &by_series {
        assert!(ts.windows(2).all(|w| w[0] < w[1]), "{series}: timestamps not strictly increasing: {ts:?}");
        assert!(series.contains("cluster=test"), "external label missing on {series}");
    }
    let retried = self_metric(listen, "prometheus_remote_storage_samples_retried_total{").expect("metric");
    assert!(retried > 0.0, "retries are counted");
}

#[test]
fn receiver_400_drops_block_and_queue_moves_on() {
    let receiver = FakeReceiver::start(Box::new(|n, _| (if n == 0 { 400 } else { 204 }, Vec::new())));
    let target = FakeTarget::start(PAGE);
    let listen = support::free_port();
    let mut outpost = start_outpost(&config(&receiver, &[target.address()], listen));
    poll_until(Duration::from_secs(20), "a block accepted after the 400", || {
        let got = receiver.snapshot();
        if got.iter().any(|r| r.status == 204) { Ok(()) } else { Err(format!("{} requests", got.len())) }
    });
    let got = receiver.snapshot();
    assert_eq!(got[0].status, 400);
    assert_ne!(got[0].body, got[1].body, "the rejected block is not sent again");
    assert!(got[1..].iter().all(|r| r.body != got[0].body));
    let rejected: usize = got[0].request.timeseries.iter().map(|t| t.samples.len()).sum();
    let dropped = poll_until(Duration::from_secs(5), "dropped counter", || {
        self_metric(listen, "prometheus_remote_storage_samples_dropped_total{reason=\"rejected\"")
            .ok_or_else(|| "no metric".to_string())
    });
    assert_eq!(dropped as usize, rejected, "every sample of the rejected block is counted");
    outpost.assert_running();
    drop(outpost);
}

#[test]
fn receiver_429_with_retry_after_waits_before_the_next_try() {
    let receiver = FakeReceiver::start(Box::new(|n, _| {
        if n == 0 { (429, vec![("Retry-After", "2".to_string())]) } else { (204, Vec::new()) }
    }));
    let target = FakeTarget::start(PAGE);
    let _outpost = start_outpost(&config(&receiver, &[target.address()], support::free_port()));
    poll_until(Duration::from_secs(20), "the retry after the 429", || {
        let n = receiver.snapshot().len();
        if n >= 2 { Ok(()) } else { Err(format!("{n} requests")) }
    });
    let got = receiver.snapshot();
    let waited = got[1].at - got[0].at;
    assert!(waited >= Duration::from_secs(2), "retried after {waited:?}, before Retry-After: 2");
    assert_eq!(got[0].body, got[1].body, "the 429'd block is the one retried");
}

#[test]
fn malformed_exposition_fails_that_scrape_only_and_unreachable_target_is_down() {
    let receiver = FakeReceiver::start(Box::new(|_, _| (204, Vec::new())));
    let good = FakeTarget::start(PAGE);
    let bad = FakeTarget::start("ok 1\nbroken{a=\"1\" 2\n");
    let unreachable = format!("127.0.0.1:{}", support::free_port());
    let targets = [good.address(), bad.address(), unreachable.clone()];
    let mut outpost = start_outpost(&config(&receiver, &targets, support::free_port()));
    let up = |instance: &str| {
        let series = format!("__name__=up,cluster=test,instance={instance},job=fake");
        accepted(&receiver, &series).last().map(|(_, v)| *v)
    };
    poll_until(Duration::from_secs(20), "up for all three targets", || {
        match (up(&good.address()), up(&bad.address()), up(&unreachable)) {
            (Some(g), Some(b), Some(u)) => Ok((g, b, u)),
            other => Err(format!("{other:?}")),
        }
    });
    let (g, b, u) = (up(&good.address()), up(&bad.address()), up(&unreachable));
    assert_eq!((g, b, u), (Some(1.0), Some(0.0), Some(0.0)));
    assert!(
        delivered(&receiver.snapshot()).iter().all(|(k, _, _)| !k.starts_with("__name__=ok,")),
        "no sample of the failed scrape is kept, not even the good line before the bad one"
    );
    assert!(!accepted(&receiver, &format!("__name__=g,cluster=test,instance={}", good.address())).is_empty());
    outpost.assert_running();
    let log = outpost.log_tail();
    assert!(log.contains("line 2"), "the reason names the line: {log}");
}

/// Context switches of all of `pid`'s threads so far: how often it woke.
fn wakeups(pid: u32) -> u64 {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).expect("/proc");
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("status")).ok())
        .flat_map(|s| {
            s.lines()
                .filter(|l| l.contains("ctxt_switches:"))
                .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
                .collect::<Vec<_>>()
        })
        .sum()
}

#[test]
fn a_healthy_agent_does_not_wake_for_the_periodic_sync() {
    // The sync every 20 ms would wake the process 100 times in the 2 s below (twice each:
    // the timer's thread and the executor's) if it ran with nothing written.
    let receiver = FakeReceiver::start(Box::new(|_, _| (204, Vec::new())));
    let target = FakeTarget::start(PAGE);
    let listen = support::free_port();
    let toml = config(&receiver, &[target.address()], listen)
        .replace("scrape_interval = \"100ms\"", "scrape_interval = \"10s\"")
        .replace("[[remote_write]]", "[buffer]\nsync_interval = \"20ms\"\n\n[[remote_write]]");
    let mut outpost = start_outpost(&toml);
    poll_until(Duration::from_secs(15), "the first scrape delivered", || {
        let got = accepted(&receiver, "c_total");
        if got.is_empty() { Err("nothing yet".into()) } else { Ok(()) }
    });
    // Past the first scrape's send; the next scrape is 10 s after it.
    poll_until(Duration::from_secs(5), "the first scrape's samples all sent", || {
        match self_metric(listen, "prometheus_remote_storage_samples_pending") {
            Some(0.0) => Ok(()),
            other => Err(format!("pending {other:?}")),
        }
    });
    let before = wakeups(outpost.pid());
    std::thread::sleep(Duration::from_secs(2));
    let woke = wakeups(outpost.pid()) - before;
    outpost.assert_running();
    assert!(woke < 40, "{woke} context switches in 2 s of a healthy agent between scrapes");
}
