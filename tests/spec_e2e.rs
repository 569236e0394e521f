//! End to end with real parts (SPEC, Pipeline): node_exporter -> outpost -> a remote-write
//! receiver (Prometheus, VictoriaMetrics), checked through the receiver's query API; and
//! `outpost check` (SPEC, Configuration). The binary is `OUTPOST_EXEC` when set, so the
//! same tests run the ARM builds under qemu (run-tests).
//!
//! Each test takes seconds, not the sub-second of other spec tests: real processes start,
//! scrape every second, and a receiver needs up to ~1 s to show fresh data.

mod support;

use std::collections::BTreeSet;
use std::fs;
use std::time::Duration;

use support::{
    Child, LabelSet, TempDir, exposed_series, http_get, outpost_command, poll_until, query, series_labels,
    series_value, start_node_exporter, start_outpost, start_prometheus, start_victoria_metrics,
};

/// From outpost's start to its first samples queryable at the receiver: a 1 s scrape
/// interval, a 200 ms batch deadline and ~1 s receiver latency leave a wide margin even
/// under qemu; a minute means something is broken, not slow.
const ARRIVE_WITHIN: Duration = Duration::from_secs(60);

#[test]
fn node_exporter_series_reach_prometheus_with_external_label() {
    let receiver = start_prometheus();
    node_exporter_series_reach(receiver);
}

#[test]
fn node_exporter_series_reach_victoria_metrics() {
    let receiver = start_victoria_metrics();
    node_exporter_series_reach(receiver);
}

/// Scrapes node_exporter with outpost into `receiver` (which speaks remote write on
/// /api/v1/write and the Prometheus query API), then checks `up`, the exact label sets of
/// every node_cpu_seconds_total series, and scrape_samples_scraped.
fn node_exporter_series_reach(receiver: Child) {
    let node = start_node_exporter();
    let instance = format!("127.0.0.1:{}", node.port);
    let (status, exposition) = http_get(node.port, "/metrics").expect("GET node_exporter /metrics");
    assert_eq!(status, 200, "node_exporter /metrics");
    let node_cpu = exposed_series(&exposition, "node_cpu_seconds_total");
    assert!(!node_cpu.is_empty(), "node_exporter exposes no node_cpu_seconds_total");

    let mut outpost = start_outpost(&format!(
        r#"log_level = "debug"
[global]
scrape_interval = "1s"
scrape_timeout = "1s"
external_labels = {{ cluster = "e2e" }}
[[remote_write]]
url = "http://127.0.0.1:{receiver}/api/v1/write"
[remote_write.queue_config]
batch_send_deadline = "200ms"
[[scrape_configs]]
job_name = "node"
[[scrape_configs.static_configs]]
targets = ["{instance}"]
labels = {{ role = "modem" }}
"#,
        receiver = receiver.port,
    ));
    // What every series of this target must carry besides its own labels.
    let target_labels =
        [("job", "node"), ("instance", instance.as_str()), ("role", "modem"), ("cluster", "e2e")];
    let with_target_labels = |mut labels: LabelSet| {
        for (name, value) in target_labels {
            labels.insert(name.to_owned(), value.to_owned());
        }
        labels
    };

    let up = poll_until(ARRIVE_WITHIN, "up{job=\"node\"} reaches the receiver", || {
        outpost.assert_running();
        nonempty(query(receiver.port, r#"up{job="node"}"#)?)
    });
    let expected_up = with_target_labels(LabelSet::from([("__name__".to_owned(), "up".to_owned())]));
    assert_eq!(up.len(), 1, "one up series for one target: {up:?}");
    assert_eq!(series_labels(&up[0]), expected_up, "labels of up");
    assert_eq!(series_value(&up[0]), Some(1.0), "up of a healthy target: {up:?}");

    // Every exposed node_cpu_seconds_total series arrives, each with exactly its exposed
    // labels plus the target's: none lost, none extra, none mislabelled.
    let expected: BTreeSet<LabelSet> = node_cpu.into_iter().map(with_target_labels).collect();
    let selector = r#"node_cpu_seconds_total{job="node",cluster="e2e"}"#;
    let arrived: BTreeSet<LabelSet> =
        poll_until(ARRIVE_WITHIN, "every node_cpu_seconds_total series arrives", || {
            outpost.assert_running();
            let arrived: BTreeSet<LabelSet> =
                query(receiver.port, selector)?.iter().map(series_labels).collect();
            if arrived.len() < expected.len() {
                return Err(format!("{} of {} series so far", arrived.len(), expected.len()));
            }
            Ok(arrived)
        });
    let missing: Vec<_> = expected.difference(&arrived).collect();
    let unexpected: Vec<_> = arrived.difference(&expected).collect();
    assert!(
        missing.is_empty() && unexpected.is_empty(),
        "node_cpu_seconds_total label sets differ from the exposition\nmissing: {missing:#?}\nunexpected: {unexpected:#?}"
    );
    let count = query(receiver.port, &format!("count({selector})")).expect("count query");
    assert_eq!(
        count.first().and_then(series_value),
        Some(expected.len() as f64),
        "count({selector}): {count:?}"
    );

    let scraped =
        poll_until(ARRIVE_WITHIN, "scrape_samples_scraped{job=\"node\"} reaches the receiver", || {
            outpost.assert_running();
            nonempty(query(receiver.port, r#"scrape_samples_scraped{job="node"}"#)?)
        });
    assert_eq!(scraped.len(), 1, "one scrape_samples_scraped series for one target: {scraped:?}");
    assert!(
        series_value(&scraped[0]).is_some_and(|samples| samples > 0.0),
        "scrape_samples_scraped of a node_exporter scrape: {scraped:?}"
    );
    outpost.assert_running();
    // Drop order stops outpost, then node_exporter, then the receiver, each by its PID.
    drop(outpost);
    drop(node);
    drop(receiver);
}

#[test]
fn outpost_check_rejects_bad_config_with_file_line_col() {
    let dir = TempDir::new("check");
    let bad = dir.path().join("bad.toml");
    // Line 5, column 3 (1-based): the misspelled key, indented so that a 0-based column
    // or a column of the line's start would not match.
    fs::write(
        &bad,
        r#"log_level = "info"

[global]
scrape_interval = "15s"
  scrape_intervall = "10s"
"#,
    )
    .expect("write bad.toml");
    let output =
        outpost_command().arg("check").arg("--config").arg(&bad).output().expect("run outpost check");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "outpost check on an unknown key; stderr:\n{stderr}");
    let location = format!("{}:5:3:", bad.display());
    assert!(stderr.contains(&location), "stderr names {location}; stderr:\n{stderr}");
    assert!(stderr.contains("scrape_intervall"), "stderr names the unknown key; stderr:\n{stderr}");

    let good = dir.path().join("good.toml");
    fs::write(
        &good,
        r#"log_level = "info"

[global]
scrape_interval = "15s"
external_labels = { cluster = "e2e" }

[[remote_write]]
url = "http://127.0.0.1:9090/api/v1/write"

[[scrape_configs]]
job_name = "node"
[[scrape_configs.static_configs]]
targets = ["127.0.0.1:9100"]
"#,
    )
    .expect("write good.toml");
    let output =
        outpost_command().arg("check").arg("--config").arg(&good).output().expect("run outpost check");
    assert_eq!(
        output.status.code(),
        Some(0),
        "outpost check on a valid config; stderr:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// An empty query result is "not yet" for [`poll_until`].
fn nonempty(result: Vec<serde_json::Value>) -> Result<Vec<serde_json::Value>, String> {
    if result.is_empty() { Err("no series yet".to_owned()) } else { Ok(result) }
}

/// SPEC: a Prometheus user moving a scrape job to outpost gets the same
/// series with the same labels. One Prometheus scrapes node_exporter itself
/// (job "direct") and also receives outpost's remote write of the same job,
/// marked by the external label `via="outpost"`; without `via`, the two sets
/// of label sets must be equal, `up` and the `scrape_*` series included.
#[test]
fn every_node_exporter_series_arrives_with_the_labels_prometheus_gives_it() {
    let node = start_node_exporter();
    let port = support::free_port();
    let yaml = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: direct\n    static_configs:\n      - targets: ['127.0.0.1:{}']\n",
        node.port
    );
    let prometheus = support::start_prometheus_configured(support::TempDir::new("prometheus"), port, &yaml);
    let outpost = start_outpost(&format!(
        r#"[global]
scrape_interval = "1s"
scrape_timeout = "1s"
external_labels = {{ via = "outpost" }}
[[remote_write]]
url = "http://127.0.0.1:{port}/api/v1/write"
[remote_write.queue_config]
batch_send_deadline = "200ms"
[[scrape_configs]]
job_name = "direct"
[[scrape_configs.static_configs]]
targets = ["127.0.0.1:{node}"]
"#,
        node = node.port
    ));
    let sets = |selector: &str| -> Result<BTreeSet<LabelSet>, String> {
        Ok(query(prometheus.port, selector)?
            .iter()
            .map(|s| {
                let mut l = series_labels(s);
                l.remove("via");
                l
            })
            .collect())
    };
    // Both sides settle: the same number of series, a few scrapes in.
    let (direct, via_outpost) = poll_until(ARRIVE_WITHIN, "both sides have the same series", || {
        let direct = sets(r#"{job="direct",via=""}"#)?;
        let via_outpost = sets(r#"{job="direct",via="outpost"}"#)?;
        if direct.len() > 100 && direct == via_outpost {
            Ok((direct, via_outpost))
        } else {
            let only_direct: Vec<_> = direct.difference(&via_outpost).take(3).collect();
            let only_outpost: Vec<_> = via_outpost.difference(&direct).take(3).collect();
            Err(format!(
                "{} direct, {} via outpost; only direct: {only_direct:?}; only via outpost: {only_outpost:?}",
                direct.len(),
                via_outpost.len()
            ))
        }
    });
    assert_eq!(direct, via_outpost);
    for name in [
        "up",
        "scrape_duration_seconds",
        "scrape_samples_scraped",
        "scrape_samples_post_metric_relabeling",
        "scrape_series_added",
    ] {
        assert!(
            direct.iter().any(|l| l.get("__name__").map(String::as_str) == Some(name)),
            "{name} on both sides"
        );
    }
    drop(outpost);
}

/// SPEC, Self-metrics: outpost's own /metrics, scraped by a job of its own, is pushed
/// with everything else and queryable at the real Prometheus under job="outpost": the
/// remote-write counters and the process metrics read from /proc.
#[test]
fn self_metrics_reach_prometheus_under_job_outpost() {
    let receiver = start_prometheus();
    let listen = support::free_port();
    let mut outpost = start_outpost(&format!(
        r#"listen = "127.0.0.1:{listen}"
[global]
scrape_interval = "1s"
scrape_timeout = "1s"
[[remote_write]]
name = "central"
url = "http://127.0.0.1:{receiver}/api/v1/write"
[remote_write.queue_config]
batch_send_deadline = "200ms"
[[scrape_configs]]
job_name = "outpost"
[[scrape_configs.static_configs]]
targets = ["127.0.0.1:{listen}"]
# The same page again under a limit it exceeds: counted by the scrape side.
[[scrape_configs]]
job_name = "limited"
sample_limit = 1
[[scrape_configs.static_configs]]
targets = ["127.0.0.1:{listen}"]
"#,
        receiver = receiver.port,
    ));
    let value = |promql: &str| -> Result<f64, String> {
        let series = nonempty(query(receiver.port, promql)?)?;
        series_value(&series[0]).ok_or_else(|| format!("{promql}: no value in {series:?}"))
    };
    // The samples counter counts only what the receiver acknowledged, so it reaches the
    // receiver one push later than the samples it counts: poll until it is above 0.
    let delivered = poll_until(ARRIVE_WITHIN, "samples_total above 0 at the receiver", || {
        outpost.assert_running();
        let v = value(r#"prometheus_remote_storage_samples_total{job="outpost",remote_name="central"}"#)?;
        if v > 0.0 { Ok(v) } else { Err(format!("samples_total {v}")) }
    });
    assert!(delivered.fract() == 0.0, "a sample count is whole: {delivered}");
    let rss = value(r#"process_resident_memory_bytes{job="outpost"}"#).expect("resident memory arrives");
    // Well above a static binary's few pages, well below the unit's MemoryMax=64M.
    assert!((256.0 * 1024.0..64.0 * 1024.0 * 1024.0).contains(&rss), "resident memory {rss}");
    let fds = value(r#"process_open_fds{job="outpost"}"#).expect("open fds arrive");
    assert!(fds >= 3.0, "open fds {fds}");
    let cpu = value(r#"process_cpu_seconds_total{job="outpost"}"#).expect("cpu seconds arrive");
    assert!(cpu >= 0.0, "cpu seconds {cpu}");
    let start = value(r#"process_start_time_seconds{job="outpost"}"#).expect("start time arrives");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
    assert!(now - start < 600.0 && start <= now, "start time {start} vs now {now}");
    poll_until(ARRIVE_WITHIN, "the refused scrapes are counted", || {
        let v = value(r#"prometheus_target_scrapes_exceeded_sample_limit_total{job="outpost"}"#)?;
        if v >= 1.0 { Ok(()) } else { Err(format!("exceeded_sample_limit_total {v}")) }
    });
    let (status, body) = http_get(listen, "/-/ready").expect("GET /-/ready");
    assert_eq!((status, body.as_str()), (200, "outpost is ready.\n"), "ready once running");
    let (status, _) = http_get(listen, "/-/healthy").expect("GET /-/healthy");
    assert_eq!(status, 200);
    let up = value(r#"up{job="limited"}"#).expect("up of the limited job");
    assert_eq!(up, 0.0, "a scrape over its sample_limit is down");
    outpost.assert_running();
}
