//! Several `[[remote_write]]`, fully independent: a real Prometheus keeps
//! receiving every scrape in time while a second receiver is down, and the
//! second gets everything, once and in order, when it comes back. Each entry
//! applies its own write_relabel_configs, and counts under its own
//! `remote_name` and `url`.
//!
//! The outage is seconds of real time by nature; every wait polls a
//! condition with a bound.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use support::fake::{FakeReceiver, FakeTarget, delivered};
use support::{http_get, poll_until, query, series_value, start_outpost, start_prometheus};

/// `tick_total` is the scrape's number from 1; `only_prometheus` and
/// `only_fake` are each dropped by the other receiver's write relabeling.
fn ticking() -> FakeTarget {
    FakeTarget::dynamic(Box::new(|n| format!("tick_total {}\nonly_prometheus {n}\nonly_fake {n}\n", n + 1)))
}

/// Values of `name` the fake accepted, in arrival order.
fn values(fake: &FakeReceiver, name: &str) -> Vec<f64> {
    let prefix = format!("__name__={name},");
    delivered(&fake.snapshot())
        .into_iter()
        .filter(|(k, _, _)| k.starts_with(&prefix))
        .map(|(_, _, v)| v)
        .collect()
}

/// `name{remote_name="<remote>",...}` from outpost's /metrics.
fn queue_metric(port: u16, name: &str, remote: &str) -> Option<f64> {
    let (_, body) = http_get(port, "/metrics").ok()?;
    let prefix = format!("{name}{{remote_name=\"{remote}\",");
    body.lines().find(|l| l.starts_with(&prefix))?.rsplit(' ').next()?.parse().ok()
}

/// Seconds between now and Prometheus's newest `tick_total` sample.
fn prometheus_lag(port: u16) -> Result<f64, String> {
    let r = query(port, r#"time() - timestamp(tick_total{job="tick"})"#)?;
    r.first().and_then(series_value).ok_or_else(|| "no tick_total in Prometheus yet".into())
}

#[test]
fn one_receiver_down_does_not_delay_another_and_gets_everything_after() {
    receiver_down_does_not_delay_another(false);
}

#[test]
fn one_receiver_answering_503_does_not_delay_another() {
    receiver_down_does_not_delay_another(true);
}

/// The fake is down for 15 s: refusing connections, or answering 503.
fn receiver_down_does_not_delay_another(answer_503: bool) {
    let target = ticking();
    let prometheus = start_prometheus();
    let unavailable = Arc::new(AtomicBool::new(false));
    let fake = {
        let unavailable = unavailable.clone();
        FakeReceiver::start(Box::new(move |_, _| {
            (if unavailable.load(Ordering::SeqCst) { 503 } else { 204 }, Vec::new())
        }))
    };
    let listen = support::free_port();
    let config = format!(
        r#"listen = "127.0.0.1:{listen}"
[global]
scrape_interval = "1s"
scrape_timeout = "1s"
external_labels = {{ site = "edge" }}
[[remote_write]]
name = "prometheus"
url = "http://127.0.0.1:{prom}/api/v1/write"
[remote_write.queue_config]
batch_send_deadline = "200ms"
[[remote_write.write_relabel_configs]]
source_labels = ["__name__"]
regex = "only_fake"
action = "drop"
[[remote_write]]
name = "fake"
url = "{fake}"
[remote_write.queue_config]
batch_send_deadline = "200ms"
min_backoff = "10ms"
max_backoff = "200ms"
[[remote_write.write_relabel_configs]]
source_labels = ["__name__"]
regex = "only_prometheus"
action = "drop"
[[scrape_configs]]
job_name = "tick"
[[scrape_configs.static_configs]]
targets = ["{target}"]
"#,
        prom = prometheus.port,
        fake = fake.url(),
        target = target.address()
    );
    let mut outpost = start_outpost(&config);
    poll_until(Duration::from_secs(30), "tick_total 3 at both receivers", || {
        let at_fake = values(&fake, "tick_total").len();
        let at_prometheus = query(prometheus.port, r#"tick_total{job="tick"}"#)?
            .first()
            .and_then(series_value)
            .unwrap_or(0.0);
        if at_fake >= 3 && at_prometheus >= 3.0 {
            Ok(())
        } else {
            Err(format!("fake {at_fake}, prometheus {at_prometheus}"))
        }
    });

    if answer_503 {
        unavailable.store(true, Ordering::SeqCst);
    } else {
        fake.down();
    }
    let fake_sent_before = queue_metric(listen, "prometheus_remote_storage_samples_total", "fake");
    let prometheus_sent_before =
        queue_metric(listen, "prometheus_remote_storage_samples_total", "prometheus");
    // Normal delivery takes one scrape interval (1 s) plus batch_send_deadline
    // (200 ms) plus the request; 1 s more for a busy test host. A queue held
    // up behind the down receiver would fall further behind every second.
    const IN_TIME: f64 = 2.5;
    let outage = Instant::now();
    let mut worst = 0.0f64;
    let mut checks = 0;
    while outage.elapsed() < Duration::from_secs(15) {
        let lag = prometheus_lag(prometheus.port).expect("query Prometheus");
        worst = worst.max(lag);
        checks += 1;
        assert!(lag <= IN_TIME, "Prometheus {lag:.1} s behind during the other receiver's outage");
        std::thread::sleep(Duration::from_millis(250));
    }
    assert!(checks >= 30, "checked only {checks} times");
    let retried = queue_metric(listen, "prometheus_remote_storage_samples_retried_total", "fake");
    assert!(retried.is_some_and(|r| r > 0.0), "the fake's queue retried during its outage: {retried:?}");
    assert_eq!(
        queue_metric(listen, "prometheus_remote_storage_samples_total", "fake"),
        fake_sent_before,
        "nothing delivered to the fake while it was down"
    );
    let prometheus_sent = queue_metric(listen, "prometheus_remote_storage_samples_total", "prometheus");
    assert!(
        prometheus_sent.zip(prometheus_sent_before).is_some_and(|(now, before)| now >= before + 15.0),
        "Prometheus's queue counts its own deliveries: {prometheus_sent_before:?} -> {prometheus_sent:?}"
    );

    unavailable.store(false, Ordering::SeqCst);
    fake.up();
    let at_up = target.served.load(Ordering::SeqCst);
    poll_until(Duration::from_secs(30), "the fake's backlog delivered", || {
        let max = values(&fake, "tick_total").into_iter().fold(0.0, f64::max);
        if max >= at_up as f64 { Ok(()) } else { Err(format!("tick_total {max} of {at_up}")) }
    });
    outpost.assert_running();

    // Every tick once and in order at the fake: nothing lost, nothing repeated.
    let ticks: BTreeSet<u64> = values(&fake, "tick_total").iter().map(|v| *v as u64).collect();
    let max = ticks.iter().max().copied().unwrap_or(0);
    let missing: Vec<u64> = (1..=max).filter(|v| !ticks.contains(v)).collect();
    assert_eq!(missing, Vec::<u64>::new(), "tick values lost at the fake over its outage");
    let mut last = BTreeMap::<String, i64>::new();
    for (series, ts, _) in delivered(&fake.snapshot()) {
        if let Some(before) = last.insert(series.clone(), ts) {
            assert!(before < ts, "{series}: timestamp {ts} after {before}: duplicated or reordered");
        }
    }
    // Each receiver's write relabeling applied to its own series only.
    assert!(values(&fake, "only_prometheus").is_empty(), "dropped for the fake");
    assert!(!values(&fake, "only_fake").is_empty(), "kept for the fake");
    assert!(
        delivered(&fake.snapshot()).iter().all(|(k, _, _)| k.contains(",site=edge")),
        "external labels on every series"
    );
    let only = |name: &str| query(prometheus.port, &format!("{name}{{site=\"edge\"}}")).expect("query").len();
    assert_eq!(only("only_prometheus"), 1, "kept for Prometheus");
    assert_eq!(only("only_fake"), 0, "dropped for Prometheus");
    // Per-queue metrics carry their receiver's name and url.
    let (_, body) = http_get(listen, "/metrics").expect("metrics");
    for (name, url) in
        [("prometheus", format!("http://127.0.0.1:{}/api/v1/write", prometheus.port)), ("fake", fake.url())]
    {
        let line = format!("prometheus_remote_storage_samples_total{{remote_name=\"{name}\",url=\"{url}\"}}");
        assert!(body.lines().any(|l| l.starts_with(&line)), "{line} in\n{body}");
    }
    eprintln!("Prometheus at most {worst:.2} s behind during the other receiver's outage ({checks} checks)");
}

/// SIGTERM while one of two receivers is down: every queue spills what it
/// holds to its own directory, and after a restart each receiver has every
/// tick once and in order.
#[test]
fn sigterm_spills_every_queue_and_a_restart_delivers_each_backlog() {
    let target = ticking();
    let (up, down) = (
        FakeReceiver::start(Box::new(|_, _| (204, Vec::new()))),
        FakeReceiver::start(Box::new(|_, _| (204, Vec::new()))),
    );
    let data_dir = support::TempDir::new("multi-sigterm");
    let config = format!(
        r#"data_dir = "{dir}"
[global]
scrape_interval = "100ms"
scrape_timeout = "100ms"
[[remote_write]]
name = "up"
url = "{up}"
[remote_write.queue_config]
batch_send_deadline = "100ms"
[[remote_write]]
name = "down"
url = "{down}"
[remote_write.queue_config]
batch_send_deadline = "100ms"
min_backoff = "10ms"
max_backoff = "200ms"
[[scrape_configs]]
job_name = "tick"
[[scrape_configs.static_configs]]
targets = ["{target}"]
"#,
        dir = data_dir.path().display(),
        up = up.url(),
        down = down.url(),
        target = target.address()
    );
    let mut outpost = start_outpost(&config);
    let ticked = |fake: &FakeReceiver, at_least: u64| {
        poll_until(Duration::from_secs(30), &format!("tick_total {at_least} at {}", fake.url()), || {
            let max = values(fake, "tick_total").into_iter().fold(0.0, f64::max);
            if max >= at_least as f64 { Ok(()) } else { Err(format!("tick_total {max}")) }
        })
    };
    ticked(&down, 3);
    down.down();
    let at_down = target.served.load(Ordering::SeqCst);
    poll_until(Duration::from_secs(30), "30 scrapes during the outage", || {
        let n = target.served.load(Ordering::SeqCst);
        if n >= at_down + 30 { Ok(()) } else { Err(format!("{n} served")) }
    });
    outpost.signal("TERM");
    let status = outpost.wait_exit(Duration::from_secs(10));
    assert!(status.success(), "a clean stop exits 0: {status:?}\n{}", outpost.log_tail());
    let served = target.served.load(Ordering::SeqCst);
    let segments = std::fs::read_dir(data_dir.path().join("down")).expect("data_dir/down");
    let spilled: u64 = segments
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "seg"))
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum();
    assert!(spilled > 0, "the down receiver's queue spilled segments to data_dir/down");

    down.up();
    let _again = start_outpost(&config);
    for fake in [&up, &down] {
        ticked(fake, served + 5);
        let ticks: BTreeSet<u64> = values(fake, "tick_total").iter().map(|v| *v as u64).collect();
        let missing: Vec<u64> = (1..=served).filter(|v| !ticks.contains(v)).collect();
        assert_eq!(missing, Vec::<u64>::new(), "ticks lost at {} across SIGTERM and restart", fake.url());
        let mut last = BTreeMap::<String, i64>::new();
        for (series, ts, _) in delivered(&fake.snapshot()) {
            if let Some(before) = last.insert(series.clone(), ts) {
                assert!(before < ts, "{series}: timestamp {ts} after {before}: duplicated or reordered");
            }
        }
    }
}
