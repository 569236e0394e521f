//! Remote-write metadata (metadata_config): the TYPE, HELP and UNIT of every metric family a
//! real node_exporter exposes, as a Prometheus scraping it directly holds them.
//!
//! Neither receiver installed here shows remote-write 1.0 metadata it received: Prometheus's
//! /api/v1/metadata lists only its own scrape targets' metadata (its receiver ignores
//! `WriteRequest.metadata`), and VictoriaMetrics 1.79 predates metadata ingestion. So the
//! requests are read at a FakeReceiver and compared with the /api/v1/metadata of a real
//! Prometheus scraping the same node_exporter; a second test checks that the real
//! Prometheus receiver accepts the requests.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use support::fake::FakeReceiver;
use support::{free_port, http_get, poll_until, start_node_exporter, start_outpost, start_prometheus};

const WITHIN: Duration = Duration::from_secs(60);

/// family -> (type, help, unit)
type Families = BTreeMap<String, (String, String, String)>;

fn type_name(wire: i32) -> &'static str {
    match wire {
        1 => "counter",
        2 => "gauge",
        3 => "histogram",
        4 => "gaugehistogram",
        5 => "summary",
        6 => "info",
        7 => "stateset",
        _ => "unknown",
    }
}

/// Prometheus's /api/v1/metadata: every family of its scrape targets.
fn prometheus_metadata(port: u16) -> Result<Families, String> {
    let (status, body) = http_get(port, "/api/v1/metadata").map_err(|e| e.to_string())?;
    if status != 200 {
        return Err(format!("HTTP {status}: {body}"));
    }
    let json: serde_json::Value = serde_json::from_str(&body).map_err(|e| e.to_string())?;
    let data = json["data"].as_object().ok_or("no data")?;
    let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_owned();
    Ok(data
        .iter()
        .filter_map(|(family, entries)| {
            let e = entries.as_array()?.first()?;
            Some((family.clone(), (text(&e["type"]), text(&e["help"]), text(&e["unit"]))))
        })
        .collect())
}

#[test]
fn node_exporter_metadata_arrives_as_prometheus_scraping_it_holds_it() {
    let node = start_node_exporter();
    let prometheus_port = free_port();
    let yaml = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: direct\n    static_configs:\n      - targets: ['127.0.0.1:{}']\n",
        node.port
    );
    let _prometheus =
        support::start_prometheus_configured(support::TempDir::new("prometheus"), prometheus_port, &yaml);
    let receiver = FakeReceiver::start(Box::new(|_, _| (204, Vec::new())));
    let _outpost = start_outpost(&format!(
        r#"[global]
scrape_interval = "1s"
scrape_timeout = "1s"
[[remote_write]]
url = "{url}"
[remote_write.queue_config]
batch_send_deadline = "200ms"
[remote_write.metadata_config]
send_interval = "1s"
max_samples_per_send = 50
[[scrape_configs]]
job_name = "node"
[[scrape_configs.static_configs]]
targets = ["127.0.0.1:{node}"]
"#,
        url = receiver.url(),
        node = node.port
    ));
    poll_until(WITHIN, "outpost's metadata matches Prometheus's", || {
        let direct = prometheus_metadata(prometheus_port)?;
        let mut sent = Families::new();
        let mut metadata_requests = 0;
        for r in receiver.snapshot().iter().filter(|r| !r.request.metadata.is_empty()) {
            metadata_requests += 1;
            assert!(r.request.timeseries.is_empty(), "metadata travels without samples");
            assert!(r.request.metadata.len() <= 50, "max_samples_per_send: {}", r.request.metadata.len());
            for m in &r.request.metadata {
                let entry = (type_name(m.r#type).to_owned(), m.help.clone(), m.unit.clone());
                sent.insert(m.metric_family_name.clone(), entry);
            }
        }
        if direct.len() < 50 {
            return Err(format!("Prometheus holds only {} families so far", direct.len()));
        }
        if metadata_requests < 2 {
            return Err(format!("{metadata_requests} metadata requests so far"));
        }
        let differ: Vec<_> = direct.iter().filter(|(f, e)| sent.get(*f) != Some(e)).take(3).collect();
        let extra: Vec<_> = sent.keys().filter(|f| !direct.contains_key(*f)).take(3).collect();
        if differ.is_empty() && extra.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "{} families direct, {} sent; differ: {differ:?}; only sent: {extra:?}",
                direct.len(),
                sent.len()
            ))
        }
    });
    let direct = prometheus_metadata(prometheus_port).expect("metadata");
    let cpu = &direct["node_cpu_seconds_total"];
    assert_eq!((cpu.0.as_str(), cpu.1.as_str()), ("counter", "Seconds the CPUs spent in each mode."));
}

#[test]
fn a_real_prometheus_receiver_accepts_metadata_and_send_false_sends_none() {
    let node = start_node_exporter();
    let prometheus = start_prometheus();
    let listen = free_port();
    let config = |send: bool| {
        format!(
            r#"listen = "127.0.0.1:{listen}"
[global]
scrape_interval = "1s"
scrape_timeout = "1s"
[[remote_write]]
url = "http://127.0.0.1:{receiver}/api/v1/write"
[remote_write.queue_config]
batch_send_deadline = "200ms"
[remote_write.metadata_config]
send = {send}
send_interval = "1s"
[[scrape_configs]]
job_name = "node"
[[scrape_configs.static_configs]]
targets = ["127.0.0.1:{node}"]
"#,
            receiver = prometheus.port,
            node = node.port
        )
    };
    let counter = |metrics: &str, name: &str| -> Option<f64> {
        metrics.lines().find(|l| l.starts_with(name) && !l.starts_with('#'))?.rsplit(' ').next()?.parse().ok()
    };
    let outpost = start_outpost(&config(true));
    poll_until(WITHIN, "metadata accepted by Prometheus", || {
        let (_, metrics) = http_get(listen, "/metrics").map_err(|e| e.to_string())?;
        let sent = counter(&metrics, "prometheus_remote_storage_metadata_total").unwrap_or(0.0);
        let failed = counter(&metrics, "prometheus_remote_storage_metadata_failed_total").unwrap_or(-1.0);
        assert_eq!(failed, 0.0, "no metadata refused");
        if sent > 100.0 { Ok(()) } else { Err(format!("{sent} entries accepted")) }
    });
    drop(outpost);

    // send = false: samples flow, no metadata request is made.
    let receiver = FakeReceiver::start(Box::new(|_, _| (204, Vec::new())));
    let text =
        config(false).replace(&format!("http://127.0.0.1:{}/api/v1/write", prometheus.port), &receiver.url());
    let _outpost = start_outpost(&text);
    poll_until(WITHIN, "samples of three scrapes, two send intervals", || {
        let received = receiver.snapshot();
        assert!(received.iter().all(|r| r.request.metadata.is_empty()), "metadata sent with send = false");
        let mut scrapes: Vec<i64> = received
            .iter()
            .flat_map(|r| &r.request.timeseries)
            .flat_map(|t| &t.samples)
            .map(|s| s.timestamp)
            .collect();
        scrapes.sort_unstable();
        scrapes.dedup();
        if scrapes.len() >= 3 { Ok(()) } else { Err(format!("{} scrapes", scrapes.len())) }
    });
}
