//! Remote-write 1.0 metadata: every `metadata_config.send_interval`, the
//! TYPE, HELP and UNIT of every live target's metric families, each distinct
//! entry once, in requests of at most `max_samples_per_send` entries that
//! carry no samples (Prometheus's MetadataWatcher and
//! `QueueManager.AppendMetadata`).
//!
//! A request is retried with the queue's backoff while the collection's
//! `batch_send_deadline` lasts, as Prometheus does; after that, or on a
//! refusal, its entries count as failed. Metadata is never buffered or
//! written to disk (Prometheus keeps none either): the next interval sends
//! the current set again.

use std::time::{Instant, SystemTime};

use crate::timer::Timer;
use bytes::Bytes;
use prost::Message;

use super::Queue;
use super::backoff::Backoff;
use super::outcome::{self, Outcome};
use crate::log::held_back;
use crate::offload::Offload;
use crate::parse::MetricType;
use crate::scrape::metadata::{Metadata, Registry};
use crate::staging::encode::{MetricMetadata, WriteRequest};
use crate::telemetry::metrics::add;

impl Queue {
    /// Sends the registry's metadata every `send_interval`; returns at once
    /// when this remote_write does not send metadata.
    pub async fn send_metadata_periodically(&self, registry: &Registry, offload: &Offload, seed: u64) {
        let config = &self.metadata_config;
        if !config.send {
            return;
        }
        let mut rng = fastrand::Rng::with_seed(seed);
        loop {
            Timer::after(config.send_interval).await;
            let entries = registry.collect();
            let deadline = Instant::now() + self.config.batch_send_deadline;
            for chunk in entries.chunks(config.max_samples_per_send.max(1)) {
                self.send_metadata(chunk, deadline, offload, &mut rng).await;
            }
        }
    }

    /// One request, retried until `deadline`.
    async fn send_metadata(
        &self,
        chunk: &[Metadata],
        deadline: Instant,
        offload: &Offload,
        rng: &mut fastrand::Rng,
    ) {
        let Some(payload) = encode(chunk) else { return };
        let count = chunk.len() as u64;
        let m = &self.metrics;
        let mut backoff = Backoff::new(self.config.min_backoff, self.config.max_backoff);
        let failure = loop {
            let (client, body) = (self.client.borrow().clone(), payload.clone());
            let (answer, took) = offload
                .run(move || {
                    let started = Instant::now();
                    (client.post(body), started.elapsed())
                })
                .await;
            // Prometheus times metadata sends in the same histogram.
            self.metrics.sent_batch_duration.observe(took.as_secs_f64());
            let (on_429, max_backoff) = (self.config.retry_on_http_429, self.config.max_backoff);
            match outcome::classify(&answer, on_429, max_backoff, SystemTime::now()) {
                Outcome::Delivered => {
                    add(&m.metadata_total, count);
                    add(&m.metadata_bytes_total, payload.len() as u64);
                    return;
                }
                Outcome::Rejected { status, message } => {
                    break format!("HTTP {status}: {}", message.trim());
                }
                // A capped or unusable Retry-After is logged by the samples' sends.
                Outcome::Retry { after, reason, .. } => {
                    let wait = after.unwrap_or_else(|| backoff.next(rng));
                    if Instant::now() + wait > deadline {
                        break format!("{reason} (gave up after batch_send_deadline)");
                    }
                    add(&m.metadata_retried_total, count);
                    Timer::after(wait).await;
                }
            }
        };
        add(&m.metadata_failed_total, count);
        if let Some(held) = self.metadata_log.pass(Instant::now()) {
            log::warn!(
                "remote_write {}: {count} metadata entries not sent: {failure}{}",
                self.name,
                held_back(held)
            );
        }
    }
}

/// A snappy-compressed `WriteRequest` holding only `entries`.
pub fn encode(entries: &[Metadata]) -> Option<Bytes> {
    let request = WriteRequest {
        timeseries: Vec::new(),
        metadata: entries
            .iter()
            .map(|e| MetricMetadata {
                r#type: wire_type(e.kind),
                metric_family_name: e.family.clone(),
                help: e.help.clone(),
                unit: e.unit.clone(),
            })
            .collect(),
    };
    // snappy refuses only inputs above 4 GiB; a request of a few hundred
    // entries is far below.
    let payload = snap::raw::Encoder::new().compress_vec(&request.encode_to_vec());
    debug_assert!(payload.is_ok(), "metadata request too large for snappy");
    payload.ok().map(Bytes::from)
}

/// `MetricMetadata.MetricType`; text 0.0.4's `untyped` is Prometheus's unknown.
fn wire_type(kind: MetricType) -> i32 {
    match kind {
        MetricType::Untyped => 0,
        MetricType::Counter => 1,
        MetricType::Gauge => 2,
        MetricType::Histogram => 3,
        MetricType::GaugeHistogram => 4,
        MetricType::Summary => 5,
        MetricType::Info => 6,
        MetricType::Stateset => 7,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_holds_metadata_only_with_prometheus_type_numbers() {
        let entry = |family: &str, kind| Metadata {
            family: family.into(),
            kind,
            help: "h\n\"".into(),
            unit: "seconds".into(),
        };
        let kinds = [
            MetricType::Untyped,
            MetricType::Counter,
            MetricType::Gauge,
            MetricType::Histogram,
            MetricType::GaugeHistogram,
            MetricType::Summary,
            MetricType::Info,
            MetricType::Stateset,
        ];
        let entries: Vec<_> = kinds.iter().map(|&k| entry("f", k)).collect();
        let payload = encode(&entries).expect("encodes");
        let raw = snap::raw::Decoder::new().decompress_vec(&payload).expect("snappy");
        let request = WriteRequest::decode(&raw[..]).expect("protobuf");
        assert!(request.timeseries.is_empty());
        let types: Vec<i32> = request.metadata.iter().map(|m| m.r#type).collect();
        assert_eq!(types, [0, 1, 2, 3, 4, 5, 6, 7]);
        let first = &request.metadata[0];
        assert_eq!((&*first.metric_family_name, &*first.help, &*first.unit), ("f", "h\n\"", "seconds"));
    }
}
