//! The end-to-end harness checked without outpost: each receiver takes a remote-write 1.0
//! request encoded here, independently of outpost's staging code, and shows its sample
//! through the query API within the bound spec_e2e uses. When spec_e2e fails and this
//! passes, the fault is in outpost, not in the machine or the harness.

mod support;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prost::Message;
use support::{
    Child, LabelSet, exposed_series, http_get, http_request, poll_until, query, series_labels, series_value,
    start_node_exporter, start_prometheus, start_victoria_metrics,
};

/// Remote write 1.0's `prometheus.WriteRequest`, reduced to the fields used here.
#[derive(Clone, PartialEq, Message)]
struct WriteRequest {
    #[prost(message, repeated, tag = "1")]
    timeseries: Vec<TimeSeries>,
}

#[derive(Clone, PartialEq, Message)]
struct TimeSeries {
    #[prost(message, repeated, tag = "1")]
    labels: Vec<Label>,
    #[prost(message, repeated, tag = "2")]
    samples: Vec<Sample>,
}

#[derive(Clone, PartialEq, Message)]
struct Label {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(string, tag = "2")]
    value: String,
}

#[derive(Clone, PartialEq, Message)]
struct Sample {
    #[prost(double, tag = "1")]
    value: f64,
    #[prost(int64, tag = "2")]
    timestamp: i64,
}

#[test]
fn prometheus_receiver_shows_a_remote_written_sample() {
    receiver_shows_a_remote_written_sample(start_prometheus());
}

#[test]
fn victoria_metrics_receiver_shows_a_remote_written_sample() {
    receiver_shows_a_remote_written_sample(start_victoria_metrics());
}

#[test]
fn node_exporter_exposes_node_cpu_seconds_total() {
    let node = start_node_exporter();
    let (status, body) = http_get(node.port, "/metrics").expect("GET /metrics");
    assert_eq!(status, 200);
    let series = exposed_series(&body, "node_cpu_seconds_total");
    assert!(!series.is_empty(), "no node_cpu_seconds_total in:\n{body}");
    assert!(
        series.iter().all(|labels| labels.contains_key("cpu") && labels.contains_key("mode")),
        "{series:#?}"
    );
}

fn receiver_shows_a_remote_written_sample(receiver: Child) {
    let labels = [("__name__", "harness_probe"), ("job", "harness"), ("quote", "a \"b\"")];
    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock after 1970").as_millis() as i64;
    let request = WriteRequest {
        timeseries: vec![TimeSeries {
            labels: labels.iter().map(|(n, v)| Label { name: n.to_string(), value: v.to_string() }).collect(),
            samples: vec![Sample { value: 42.0, timestamp: now_ms }],
        }],
    };
    let body = snap::raw::Encoder::new().compress_vec(&request.encode_to_vec()).expect("snappy");
    let headers = [
        ("Content-Type", "application/x-protobuf"),
        ("Content-Encoding", "snappy"),
        ("X-Prometheus-Remote-Write-Version", "0.1.0"),
    ];
    let (status, answer) =
        http_request(receiver.port, "POST", "/api/v1/write", &headers, &body).expect("POST /api/v1/write");
    assert!((200..300).contains(&status), "remote write answered {status}: {answer}");

    let series = poll_until(Duration::from_secs(20), "harness_probe is queryable", || {
        let result = query(receiver.port, r#"harness_probe{job="harness"}"#)?;
        result.into_iter().next().ok_or_else(|| "no series yet".to_owned())
    });
    let expected: LabelSet = labels.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect();
    assert_eq!(series_labels(&series), expected);
    assert_eq!(series_value(&series), Some(42.0));
}
