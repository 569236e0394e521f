//! Self-metrics under Prometheus's names where the meaning is the same
//! (SPEC, "Self-metrics"), rendered in the text format 0.0.4.
//!
//! Every field is a `Cell`: the executor thread is the only writer and reader.

use std::cell::Cell;
use std::fmt::Write;

use crate::model::DropReason;

/// Metrics of one remote-write queue, labelled `remote_name` and `url`.
pub struct QueueMetrics {
    pub remote_name: String,
    pub url: String,
    /// Samples the receiver accepted.
    pub samples_total: Cell<u64>,
    /// Samples in blocks the receiver refused for good (non-retryable 4xx).
    pub samples_failed_total: Cell<u64>,
    /// Samples in blocks sent again after a recoverable error.
    pub samples_retried_total: Cell<u64>,
    pub samples_dropped_total: [Cell<u64>; DropReason::ALL.len()],
    /// Samples staged or buffered and not yet delivered.
    pub samples_pending: Cell<u64>,
    /// Compressed request bytes the receiver accepted.
    pub bytes_total: Cell<u64>,
    /// Newest sample timestamp staged, milliseconds.
    pub highest_timestamp_ms: Cell<i64>,
    /// Newest sample timestamp delivered, milliseconds.
    pub highest_sent_timestamp_ms: Cell<i64>,
    pub buffer_memory_bytes: Cell<u64>,
    pub buffer_disk_bytes: Cell<u64>,
    /// `buffer.memory` and `buffer.disk`: what the two gauges above may reach.
    pub buffer_memory_limit_bytes: Cell<u64>,
    pub buffer_disk_limit_bytes: Cell<u64>,
    /// Blocks written to disk by a spill.
    pub spilled_blocks_total: Cell<u64>,
    /// Blocks read back from disk to be sent.
    pub replayed_blocks_total: Cell<u64>,
    /// Shards in use, their bounds, and what the shard computation wants (unrounded).
    pub shards: Cell<u64>,
    pub shards_min: Cell<u64>,
    pub shards_max: Cell<u64>,
    pub shards_desired: Cell<f64>,
    /// Duration of each send attempt (the POST, not the wait for a thread).
    pub sent_batch_duration: Histogram,
    /// Metadata entries the receiver accepted, refused for good, and sent again.
    pub metadata_total: Cell<u64>,
    pub metadata_failed_total: Cell<u64>,
    pub metadata_retried_total: Cell<u64>,
    /// Compressed metadata request bytes the receiver accepted.
    pub metadata_bytes_total: Cell<u64>,
}

impl QueueMetrics {
    pub fn new(remote_name: &str, url: &str) -> Self {
        QueueMetrics {
            remote_name: remote_name.to_owned(),
            url: url.to_owned(),
            samples_total: Cell::new(0),
            samples_failed_total: Cell::new(0),
            samples_retried_total: Cell::new(0),
            samples_dropped_total: Default::default(),
            samples_pending: Cell::new(0),
            bytes_total: Cell::new(0),
            highest_timestamp_ms: Cell::new(0),
            highest_sent_timestamp_ms: Cell::new(0),
            buffer_memory_bytes: Cell::new(0),
            buffer_disk_bytes: Cell::new(0),
            buffer_memory_limit_bytes: Cell::new(0),
            buffer_disk_limit_bytes: Cell::new(0),
            spilled_blocks_total: Cell::new(0),
            replayed_blocks_total: Cell::new(0),
            shards: Cell::new(1),
            shards_min: Cell::new(1),
            shards_max: Cell::new(1),
            shards_desired: Cell::new(1.0),
            sent_batch_duration: Histogram::default(),
            metadata_total: Cell::new(0),
            metadata_failed_total: Cell::new(0),
            metadata_retried_total: Cell::new(0),
            metadata_bytes_total: Cell::new(0),
        }
    }

    pub fn dropped(&self, reason: DropReason, samples: u64) {
        add(&self.samples_dropped_total[reason as usize], samples);
    }
}

/// Upper bounds of `sent_batch_duration_seconds`: Prometheus's
/// (`prometheus.DefBuckets` and 25, 60, 120, 300 s).
const SEND_BUCKETS: [f64; 15] =
    [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 60.0, 120.0, 300.0];

/// A histogram over [`SEND_BUCKETS`]; counts are kept per bucket and
/// rendered cumulative, as the text format wants.
#[derive(Default)]
pub struct Histogram {
    buckets: [Cell<u64>; SEND_BUCKETS.len()],
    count: Cell<u64>,
    sum: Cell<f64>,
}

impl Histogram {
    pub fn observe(&self, value: f64) {
        if let Some(i) = SEND_BUCKETS.iter().position(|le| value <= *le) {
            add(&self.buckets[i], 1);
        }
        add(&self.count, 1);
        self.sum.set(self.sum.get() + value);
    }

    /// `name_bucket{labels,le=...}` lines, `name_sum` and `name_count`;
    /// `labels` ends with a comma.
    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let mut cumulative = 0;
        for (le, n) in SEND_BUCKETS.iter().zip(&self.buckets) {
            cumulative += n.get();
            let _ = writeln!(out, "{name}_bucket{{{labels}le=\"{le}\"}} {cumulative}");
        }
        let labels = labels.trim_end_matches(',');
        let count = self.count.get();
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {count}");
        let _ = writeln!(out, "{name}_sum{{{labels}}} {}", self.sum.get());
        let _ = writeln!(out, "{name}_count{{{labels}}} {count}");
    }
}

/// Adds to a counter cell.
pub fn add(cell: &Cell<u64>, n: u64) {
    cell.set(cell.get().wrapping_add(n));
}

type Family = (&'static str, &'static str, &'static str, fn(&QueueMetrics) -> f64);

/// The per-queue families: name, type, help (Prometheus's where the name is
/// Prometheus's), value.
const QUEUE_FAMILIES: [Family; 22] = [
    (
        "prometheus_remote_storage_samples_total",
        "counter",
        "Total number of samples sent to remote storage.",
        |m| m.samples_total.get() as f64,
    ),
    (
        "prometheus_remote_storage_samples_failed_total",
        "counter",
        "Total number of samples which failed on send to remote storage, non-recoverable errors.",
        |m| m.samples_failed_total.get() as f64,
    ),
    (
        "prometheus_remote_storage_samples_retried_total",
        "counter",
        "Total number of samples which failed on send to remote storage but were retried because the send error was recoverable.",
        |m| m.samples_retried_total.get() as f64,
    ),
    (
        "prometheus_remote_storage_metadata_total",
        "counter",
        "Total number of metadata entries sent to remote storage.",
        |m| m.metadata_total.get() as f64,
    ),
    (
        "prometheus_remote_storage_metadata_failed_total",
        "counter",
        "Total number of metadata entries which failed on send to remote storage, non-recoverable errors.",
        |m| m.metadata_failed_total.get() as f64,
    ),
    (
        "prometheus_remote_storage_metadata_retried_total",
        "counter",
        "Total number of metadata entries which failed on send to remote storage but were retried because the send error was recoverable.",
        |m| m.metadata_retried_total.get() as f64,
    ),
    (
        "prometheus_remote_storage_metadata_bytes_total",
        "counter",
        "The total number of bytes of metadata sent by the queue after compression.",
        |m| m.metadata_bytes_total.get() as f64,
    ),
    (
        "prometheus_remote_storage_samples_pending",
        "gauge",
        "The number of samples pending in the queues shards to be sent to the remote storage.",
        |m| m.samples_pending.get() as f64,
    ),
    (
        "prometheus_remote_storage_bytes_total",
        "counter",
        "The total number of bytes of data (not metadata) sent by the queue after compression.",
        |m| m.bytes_total.get() as f64,
    ),
    (
        "prometheus_remote_storage_highest_timestamp_in_seconds",
        "gauge",
        "Highest timestamp that has come into the remote storage via the Appender interface, in seconds since epoch.",
        |m| m.highest_timestamp_ms.get() as f64 / 1000.0,
    ),
    (
        "prometheus_remote_storage_queue_highest_timestamp_seconds",
        "gauge",
        "Highest timestamp that was enqueued, in seconds since epoch.",
        |m| m.highest_timestamp_ms.get() as f64 / 1000.0,
    ),
    (
        "prometheus_remote_storage_queue_highest_sent_timestamp_seconds",
        "gauge",
        "Timestamp from a WAL sample, the highest timestamp successfully sent by this queue, in seconds since epoch.",
        |m| m.highest_sent_timestamp_ms.get() as f64 / 1000.0,
    ),
    (
        "prometheus_remote_storage_shards",
        "gauge",
        "The number of shards used for parallel sending to the remote storage.",
        |m| m.shards.get() as f64,
    ),
    (
        "prometheus_remote_storage_shards_desired",
        "gauge",
        "The number of shards that the queues shard calculation wants to run based on the rate of samples in vs. samples out.",
        |m| m.shards_desired.get(),
    ),
    (
        "prometheus_remote_storage_shards_min",
        "gauge",
        "The minimum number of shards that the queue is allowed to run.",
        |m| m.shards_min.get() as f64,
    ),
    (
        "prometheus_remote_storage_shards_max",
        "gauge",
        "The maximum number of shards that the queue is allowed to run.",
        |m| m.shards_max.get() as f64,
    ),
    ("outpost_buffer_memory_bytes", "gauge", "Bytes of sealed blocks held in the memory ring.", |m| {
        m.buffer_memory_bytes.get() as f64
    }),
    ("outpost_buffer_disk_bytes", "gauge", "Bytes of segment files under data_dir.", |m| {
        m.buffer_disk_bytes.get() as f64
    }),
    (
        "outpost_buffer_memory_limit_bytes",
        "gauge",
        "Most bytes the memory ring may hold (buffer.memory).",
        |m| m.buffer_memory_limit_bytes.get() as f64,
    ),
    (
        "outpost_buffer_disk_limit_bytes",
        "gauge",
        "Most bytes the segment files may use (buffer.disk).",
        |m| m.buffer_disk_limit_bytes.get() as f64,
    ),
    ("outpost_buffer_spilled_blocks_total", "counter", "Sealed blocks written to disk.", |m| {
        m.spilled_blocks_total.get() as f64
    }),
    (
        "outpost_buffer_replayed_blocks_total",
        "counter",
        "Sealed blocks read back from disk to be sent.",
        |m| m.replayed_blocks_total.get() as f64,
    ),
];

/// All self-metrics of the process.
pub struct Telemetry {
    pub queues: Vec<std::rc::Rc<QueueMetrics>>,
    pub scrapes: std::rc::Rc<ScrapeMetrics>,
    pub start_time_seconds: f64,
    /// The pipeline runs: `/-/ready` answers 200 (503 while false).
    pub ready: Cell<bool>,
    /// Targets, queues and configuration for the read API.
    pub status: std::rc::Rc<crate::status::Status>,
}

/// Scrape-side counters, under Prometheus's names: scrapes refused for a
/// limit (each also reports `up` 0 with the reason).
#[derive(Default)]
pub struct ScrapeMetrics {
    pub exceeded_sample_limit_total: Cell<u64>,
    pub exceeded_body_size_limit_total: Cell<u64>,
    pub exceeded_label_limits_total: Cell<u64>,
}

impl ScrapeMetrics {
    /// Counts a failed scrape by its reason, as the scrape loop words it
    /// (`sample_limit exceeded ...`, `body size limit exceeded ...`,
    /// `label_limit exceeded ...` and the two length limits).
    pub fn failed(&self, reason: &str) {
        let counter = if reason.starts_with("sample_limit exceeded") {
            &self.exceeded_sample_limit_total
        } else if reason.starts_with("body size limit exceeded") {
            &self.exceeded_body_size_limit_total
        } else if ["label_limit", "label_name_length_limit", "label_value_length_limit"]
            .iter()
            .any(|limit| reason.starts_with(limit) && reason[limit.len()..].starts_with(" exceeded"))
        {
            &self.exceeded_label_limits_total
        } else {
            return;
        };
        add(counter, 1);
    }

    fn render(&self, out: &mut String) {
        let families = [
            (
                "prometheus_target_scrapes_exceeded_sample_limit_total",
                "Total number of scrapes that hit the sample limit and were rejected.",
                &self.exceeded_sample_limit_total,
            ),
            (
                "prometheus_target_scrapes_exceeded_body_size_limit_total",
                "Total number of scrapes that hit the body size limit",
                &self.exceeded_body_size_limit_total,
            ),
            (
                "prometheus_target_scrapes_exceeded_label_limits_total",
                "Total number of scrapes that hit the label limits and were rejected.",
                &self.exceeded_label_limits_total,
            ),
        ];
        for (name, help, value) in families {
            header(out, name, "counter", help);
            let _ = writeln!(out, "{name} {}", value.get());
        }
    }
}

impl Telemetry {
    /// Renders every metric in the text format 0.0.4.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        for (name, kind, help, value) in QUEUE_FAMILIES {
            header(&mut out, name, kind, help);
            for m in &self.queues {
                let (remote, url) = (escape(&m.remote_name), escape(&m.url));
                let _ = writeln!(out, "{name}{{remote_name=\"{remote}\",url=\"{url}\"}} {}", value(m));
            }
        }
        let name = "prometheus_remote_storage_sent_batch_duration_seconds";
        header(&mut out, name, "histogram", "Duration of send calls to the remote storage.");
        for m in &self.queues {
            let labels = format!("remote_name=\"{}\",url=\"{}\",", escape(&m.remote_name), escape(&m.url));
            m.sent_batch_duration.render(&mut out, name, &labels);
        }
        let q = &self.queues;
        let name = "prometheus_remote_storage_samples_dropped_total";
        header(
            &mut out,
            name,
            "counter",
            "Total number of samples which were dropped before being sent to remote storage, by reason.",
        );
        for m in q {
            for reason in DropReason::ALL {
                let v = m.samples_dropped_total[reason as usize].get();
                let _ = writeln!(
                    out,
                    "{name}{{reason=\"{}\",remote_name=\"{}\",url=\"{}\"}} {v}",
                    reason.label(),
                    escape(&m.remote_name),
                    escape(&m.url)
                );
            }
        }
        self.scrapes.render(&mut out);
        render_discovery(&mut out, crate::discovery::http_sd::failures());
        super::process::read().render(&mut out, self.start_time_seconds);
        out
    }
}

/// Discovery's failure counters, named, typed and described as in Prometheus 2.42:
/// `failures` HTTP refreshes have failed; `started`: an HTTP provider exists.
fn render_discovery(out: &mut String, (failures, started): (u64, bool)) {
    let name = "prometheus_sd_http_failures_total";
    header(out, name, "counter", "Number of HTTP service discovery refresh failures.");
    let _ = writeln!(out, "{name} {failures}");
    if started {
        let name = "prometheus_sd_refresh_failures_total";
        header(out, name, "counter", "Number of refresh failures for the given SD mechanism.");
        let _ = writeln!(out, "{name}{{mechanism=\"http\"}} {failures}");
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// Escapes a label value for the text format.
fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::Entry;
    use crate::parse::text::TextParser;

    #[test]
    fn renders_parseable_text_with_every_drop_reason() {
        let m = QueueMetrics::new("global", "http://h:9090/api/v1/write?x=\"1\"");
        add(&m.samples_total, 42);
        m.dropped(DropReason::Rejected, 7);
        let scrapes = std::rc::Rc::new(ScrapeMetrics::default());
        scrapes.failed("sample_limit exceeded: more than 5 samples");
        let text = Telemetry {
            queues: vec![std::rc::Rc::new(m)],
            scrapes,
            start_time_seconds: 1.5,
            ready: Cell::new(true),
            status: Default::default(),
        }
        .render();
        assert!(text.contains("\nprometheus_target_scrapes_exceeded_sample_limit_total 1\n"), "{text}");
        assert!(text.contains("\nprometheus_target_scrapes_exceeded_label_limits_total 0\n"), "{text}");
        let mut samples = 0;
        for entry in TextParser::new(&text) {
            if let Entry::Sample(_) = entry.expect("our own exposition parses") {
                samples += 1;
            }
        }
        // The queue families, a drop counter per reason, and the process
        // metrics (at least the start time; the others where /proc is readable).
        assert!(samples > 16 + DropReason::ALL.len(), "{text}");
        assert!(text.contains("\nprocess_start_time_seconds 1.5\n"), "{text}");
        assert!(text.contains("\nprometheus_remote_storage_shards_desired{remote_name=\"global\""), "{text}");
        assert!(text.contains("prometheus_remote_storage_samples_total{remote_name=\"global\",url=\"http://h:9090/api/v1/write?x=\\\"1\\\"\"} 42\n"));
        assert!(text.contains(
            "prometheus_remote_storage_samples_dropped_total{reason=\"rejected\",remote_name=\"global\""
        ));
    }

    /// The classification reads the messages the scrape side writes: taken
    /// from their producers here, so a reworded message fails this test.
    #[test]
    fn scrape_failures_are_counted_by_the_limit_they_hit() {
        use crate::discovery::Limits;
        use crate::model::Labels;
        use crate::scrape::fetch::FetchError;
        use crate::scrape::series::check_limits;
        let m = ScrapeMetrics::default();
        let labels = Labels::from_pairs([("__name__", "m"), ("a", "long value")]);
        let limit = |label, label_name_length, label_value_length| Limits {
            label,
            label_name_length,
            label_value_length,
            ..Limits::default()
        };
        for limits in [limit(1, 0, 0), limit(0, 1, 0), limit(0, 0, 3)] {
            m.failed(&check_limits(&labels, &limits).expect_err("over the limit"));
        }
        m.failed(&FetchError::BodySizeLimit(10).to_string());
        m.failed("sample_limit exceeded: more than 5 samples");
        m.failed("server returned HTTP status 500");
        m.failed("label_limit_x exceeded"); // not a limit of ours
        assert_eq!(m.exceeded_label_limits_total.get(), 3);
        assert_eq!(m.exceeded_body_size_limit_total.get(), 1);
        assert_eq!(m.exceeded_sample_limit_total.get(), 1);
    }

    #[test]
    fn send_durations_render_as_a_cumulative_histogram() {
        let m = QueueMetrics::new("global", "http://h/w");
        for v in [0.001, 0.02, 0.02, 7.0, 400.0] {
            m.sent_batch_duration.observe(v);
        }
        let text = Telemetry {
            queues: vec![std::rc::Rc::new(m)],
            scrapes: Default::default(),
            start_time_seconds: 0.0,
            ready: Cell::new(true),
            status: Default::default(),
        }
        .render();
        let line = |le: &str| {
            format!(
                "prometheus_remote_storage_sent_batch_duration_seconds_bucket{{remote_name=\"global\",url=\"http://h/w\",le=\"{le}\"}} "
            )
        };
        for (le, want) in
            [("0.005", 1), ("0.01", 1), ("0.025", 3), ("5", 3), ("10", 4), ("300", 4), ("+Inf", 5)]
        {
            assert!(text.contains(&format!("{}{want}\n", line(le))), "le={le}: {text}");
        }
        assert!(text.contains("prometheus_remote_storage_sent_batch_duration_seconds_count{remote_name=\"global\",url=\"http://h/w\"} 5\n"));
        assert!(text.contains("prometheus_remote_storage_sent_batch_duration_seconds_sum{remote_name=\"global\",url=\"http://h/w\"} 407.041\n"), "{text}");
        let parsed = crate::parse::text::TextParser::new(&text).filter(|e| e.is_err()).count();
        assert_eq!(parsed, 0, "our exposition parses");
    }

    #[test]
    fn discovery_failures_render_as_prometheus_names_them() {
        let mut out = String::new();
        render_discovery(&mut out, (0, false));
        assert_eq!(
            out,
            "# HELP prometheus_sd_http_failures_total Number of HTTP service discovery refresh failures.\n\
             # TYPE prometheus_sd_http_failures_total counter\n\
             prometheus_sd_http_failures_total 0\n",
            "no HTTP provider: only the process-wide counter"
        );
        let mut out = String::new();
        render_discovery(&mut out, (3, true));
        assert!(out.contains("prometheus_sd_http_failures_total 3\n"), "{out}");
        assert!(out.contains("# TYPE prometheus_sd_refresh_failures_total counter\n"), "{out}");
        assert!(out.contains("prometheus_sd_refresh_failures_total{mechanism=\"http\"} 3\n"), "{out}");
        let bad = crate::parse::text::TextParser::new(&out).filter(|e| e.is_err()).count();
        assert_eq!(bad, 0, "{out}");
    }
}
