//! SPEC, "Behaviour that Prometheus users rely on": per-scrape series and
//! staleness, against the real binary, a fake target whose page changes, and
//! a fake receiver that records every sample bit for bit.

mod support;

use std::time::Duration;

use support::fake::{FakeReceiver, FakeTarget, delivered};
use support::{poll_until, start_outpost};

const STALE_NAN: u64 = 0x7ff0_0000_0000_0002;

fn config(receiver: &FakeReceiver, target: &FakeTarget) -> String {
    format!(
        r#"[global]
scrape_interval = "100ms"
scrape_timeout = "100ms"
[[remote_write]]
url = "{url}"
[remote_write.queue_config]
batch_send_deadline = "50ms"
[[scrape_configs]]
job_name = "page"
[[scrape_configs.static_configs]]
targets = ["{target}"]
"#,
        url = receiver.url(),
        target = target.address()
    )
}

/// (timestamp, value bits) of every accepted sample of metric `name`.
fn samples_of(receiver: &FakeReceiver, name: &str) -> Vec<(i64, u64)> {
    let prefix = format!("__name__={name},");
    delivered(&receiver.snapshot())
        .into_iter()
        .filter(|(k, _, _)| k.starts_with(&prefix))
        .map(|(_, t, v)| (t, v.to_bits()))
        .collect()
}

fn wait_for(receiver: &FakeReceiver, what: &str, done: impl Fn(&FakeReceiver) -> bool) {
    poll_until(Duration::from_secs(20), what, || if done(receiver) { Ok(()) } else { Err("not yet".into()) });
}

#[test]
fn a_series_that_disappears_gets_one_staleness_marker_with_prometheus_bits() {
    let receiver = FakeReceiver::start(Box::new(|_, _| (204, Vec::new())));
    let target =
        FakeTarget::dynamic(Box::new(|n| if n < 3 { "a 1\nb 2\n".to_owned() } else { "a 1\n".to_owned() }));
    let _outpost = start_outpost(&config(&receiver, &target));
    wait_for(&receiver, "six samples of a", |r| samples_of(r, "a").len() >= 6);
    let b = samples_of(&receiver, "b");
    let markers: Vec<_> = b.iter().filter(|(_, bits)| *bits == STALE_NAN).collect();
    assert_eq!(markers.len(), 1, "exactly one staleness marker for b: {b:?}");
    assert_eq!(b.last().map(|(_, bits)| *bits), Some(STALE_NAN), "the marker is b's last sample");
    assert!(b.windows(2).all(|w| w[0].0 < w[1].0), "the marker comes after b's samples");
    assert_eq!(b.iter().filter(|(_, bits)| f64::from_bits(*bits) == 2.0).count(), 3, "three scrapes had b");
    assert!(samples_of(&receiver, "a").iter().all(|(_, bits)| *bits != STALE_NAN), "a never goes stale");
}

#[test]
fn a_failed_scrape_marks_every_series_of_the_last_good_one_stale() {
    let receiver = FakeReceiver::start(Box::new(|_, _| (204, Vec::new())));
    let target =
        FakeTarget::dynamic(Box::new(
            |n| {
                if n < 3 { "a 1\nb 2\n".to_owned() } else { "a 1\nb{ 2\n".to_owned() }
            },
        ));
    let _outpost = start_outpost(&config(&receiver, &target));
    wait_for(&receiver, "up 0 twice", |r| {
        samples_of(r, "up").iter().filter(|(_, bits)| f64::from_bits(*bits) == 0.0).count() >= 2
    });
    for name in ["a", "b"] {
        let got = samples_of(&receiver, name);
        let markers = got.iter().filter(|(_, bits)| *bits == STALE_NAN).count();
        assert_eq!(markers, 1, "{name}: one staleness marker after the scrape failed: {got:?}");
        assert_eq!(got.last().map(|(_, b)| *b), Some(STALE_NAN));
    }
    let up = samples_of(&receiver, "up");
    assert!(up.iter().all(|(_, bits)| *bits != STALE_NAN), "up itself is never marked stale by a failure");
}

#[test]
fn every_scrape_reports_samples_post_relabeling_and_series_added() {
    let receiver = FakeReceiver::start(Box::new(|_, _| (204, Vec::new())));
    // The second scrape adds c; a is repeated in every scrape (the repeat is not appended).
    let target = FakeTarget::dynamic(Box::new(|n| {
        if n == 0 { "a 1\na 1\nb 2\n".to_owned() } else { "a 1\na 1\nb 2\nc 3\n".to_owned() }
    }));
    let _outpost = start_outpost(&config(&receiver, &target));
    wait_for(&receiver, "three scrapes reported", |r| samples_of(r, "scrape_series_added").len() >= 3);
    let value = |name: &str| -> Vec<f64> {
        samples_of(&receiver, name).iter().map(|(_, b)| f64::from_bits(*b)).collect()
    };
    assert_eq!(value("scrape_series_added")[..3], [2.0, 1.0, 0.0]);
    assert_eq!(value("scrape_samples_scraped")[..2], [3.0, 4.0]);
    assert_eq!(value("scrape_samples_post_metric_relabeling")[..2], [2.0, 3.0]);
    assert_eq!(value("a").len(), value("up").len(), "one sample of a per scrape");
}

#[test]
fn a_gzip_body_is_decompressed() {
    use std::io::Write;
    let receiver = FakeReceiver::start(Box::new(|_, _| (204, Vec::new())));
    let target = FakeTarget::raw(Box::new(|n| {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(format!("zipped {n}\n").as_bytes()).expect("gzip");
        let headers = vec![
            ("Content-Type", "text/plain; version=0.0.4".to_owned()),
            ("Content-Encoding", "gzip".to_owned()),
        ];
        (headers, gz.finish().expect("gzip"))
    }));
    let _outpost = start_outpost(&config(&receiver, &target));
    wait_for(&receiver, "three samples of zipped", |r| samples_of(r, "zipped").len() >= 3);
    let values: Vec<f64> = samples_of(&receiver, "zipped").iter().map(|(_, b)| f64::from_bits(*b)).collect();
    assert_eq!(values[..3], [0.0, 1.0, 2.0]);
}

#[test]
fn target_metric_and_write_relabeling_apply_in_prometheus_order() {
    let receiver = FakeReceiver::start(Box::new(|_, _| (204, Vec::new())));
    let target = FakeTarget::start("a{x=\"1\"} 1\nb 2\nc 3\n");
    let config = format!(
        r#"[global]
scrape_interval = "100ms"
scrape_timeout = "100ms"
external_labels = {{ cluster = "edge" }}
[[remote_write]]
url = "{url}"
[remote_write.queue_config]
batch_send_deadline = "50ms"
[[remote_write.write_relabel_configs]]
source_labels = ["__name__", "cluster"]
regex = "c;edge"
action = "drop"
[[scrape_configs]]
job_name = "page"
[[scrape_configs.static_configs]]
targets = ["{target}"]
[[scrape_configs.relabel_configs]]
source_labels = ["__address__"]
regex = "127\\.0\\.0\\.1:(.*)"
target_label = "port"
[[scrape_configs.metric_relabel_configs]]
source_labels = ["__name__"]
regex = "b"
action = "drop"
[[scrape_configs.metric_relabel_configs]]
source_labels = ["x"]
target_label = "y"
replacement = "from_$1"
"#,
        url = receiver.url(),
        target = target.address()
    );
    let _outpost = start_outpost(&config);
    wait_for(&receiver, "two scrapes reported", |r| samples_of(r, "up").len() >= 2);
    let all = delivered(&receiver.snapshot());
    let port = target.address().rsplit(':').next().unwrap_or_default().to_owned();
    let a =
        format!("__name__=a,cluster=edge,instance={},job=page,port={port},x=1,y=from_1", target.address());
    assert!(
        all.iter().any(|(k, _, _)| *k == a),
        "a with target, metric and external labels: {:?}",
        all.first()
    );
    assert!(all.iter().all(|(k, _, _)| !k.starts_with("__name__=b,")), "b dropped by metric relabeling");
    assert!(all.iter().all(|(k, _, _)| !k.starts_with("__name__=c,")), "c dropped by write relabeling");
    let post: Vec<f64> = all
        .iter()
        .filter(|(k, _, _)| k.starts_with("__name__=scrape_samples_post_metric_relabeling,"))
        .map(|(_, _, v)| *v)
        .collect();
    assert_eq!(post[0], 2.0, "a and c count as appended; b does not");
}

#[test]
fn openmetrics_is_negotiated_and_parsed_with_timestamps_in_seconds() {
    let receiver = FakeReceiver::start(Box::new(|_, _| (204, Vec::new())));
    let page =
        "# TYPE requests counter\nrequests_total 7 1700000000.123\nrequests_created 1699999999.5\n# EOF\n";
    let target = FakeTarget::raw(Box::new(move |_| {
        let ct = "application/openmetrics-text; version=1.0.0; charset=utf-8".to_owned();
        (vec![("Content-Type", ct)], page.as_bytes().to_vec())
    }));
    let _outpost = start_outpost(&config(&receiver, &target));
    wait_for(&receiver, "requests_total", |r| !samples_of(r, "requests_total").is_empty());
    let (ts, bits) = samples_of(&receiver, "requests_total")[0];
    assert_eq!((ts, f64::from_bits(bits)), (1_700_000_000_123, 7.0), "seconds become milliseconds");
    assert!(
        !samples_of(&receiver, "requests_created").is_empty(),
        "_created is a series, as in Prometheus 2"
    );
    let accept = target.accept.lock().expect("lock").clone().unwrap_or_default();
    assert!(
        accept.starts_with("application/openmetrics-text;version=1.0.0;escaping=underscores;q=0.5,"),
        "OpenMetrics asked for first: {accept}"
    );
    assert!(accept.contains("text/plain;version=0.0.4"), "text 0.0.4 as the fallback: {accept}");
}

#[test]
fn openmetrics_without_eof_fails_the_scrape() {
    let receiver = FakeReceiver::start(Box::new(|_, _| (204, Vec::new())));
    let target = FakeTarget::raw(Box::new(|_| {
        let ct = "application/openmetrics-text; version=1.0.0".to_owned();
        (vec![("Content-Type", ct)], b"a 1\n".to_vec())
    }));
    let _outpost = start_outpost(&config(&receiver, &target));
    wait_for(&receiver, "up", |r| samples_of(r, "up").len() >= 2);
    assert!(samples_of(&receiver, "up").iter().all(|(_, b)| f64::from_bits(*b) == 0.0), "up 0 without # EOF");
    assert!(samples_of(&receiver, "a").is_empty(), "nothing of the failed scrape is kept");
}

#[test]
fn an_answer_whose_header_passes_16_kib_fails_that_scrape_by_name() {
    let receiver = FakeReceiver::start(Box::new(|_, _| (204, Vec::new())));
    // The first three answers carry a 20 KiB header, the rest a normal one.
    let target = FakeTarget::raw(Box::new(|n| {
        let mut headers = vec![("Content-Type", "text/plain; version=0.0.4".to_owned())];
        if n < 3 {
            headers.push(("X-Padding", "p".repeat(20 << 10)));
        }
        (headers, b"g 1\n".to_vec())
    }));
    let outpost = start_outpost(&config(&receiver, &target));
    wait_for(&receiver, "up 0, then up 1", |r| {
        let up: Vec<f64> = samples_of(r, "up").iter().map(|(_, b)| f64::from_bits(*b)).collect();
        up.first() == Some(&0.0) && up.last() == Some(&1.0)
    });
    assert!(!samples_of(&receiver, "g").is_empty(), "the later scrapes' sample");
    let log = outpost.log_tail();
    assert!(log.contains("header") && log.contains("16384"), "the cause named: {log}");
}
