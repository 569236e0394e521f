//! `GET /api/v1/status/remote_write`, outpost's own (Prometheus agent mode
//! has no such answer, prometheus/prometheus#7971): per queue its state, last
//! error, backlog in RAM and on disk, oldest unsent and newest sent sample,
//! shards, drops by reason, rate limit and next retry. Pure over [`Status`].

use serde_json::{Value, json};

use super::{Status, config::redact_url, from_millis, queue_state, rfc3339};
use crate::model::DropReason;

/// The `data` of the answer.
pub fn data(status: &Status) -> Value {
    let queues: Vec<Value> = status.with_queues(|queues| {
        queues
            .iter()
            .map(|q| {
                let (m, s) = (&q.metrics, &q.state);
                let time = |t: Option<std::time::SystemTime>| t.map(|t| rfc3339(Some(t)));
                let last_error = s.last_error.borrow();
                let dropped: serde_json::Map<String, Value> = DropReason::ALL
                    .iter()
                    .map(|r| (r.label().to_owned(), m.samples_dropped_total[*r as usize].get().into()))
                    .collect();
                let newest_sent = m.highest_sent_timestamp_ms.get();
                json!({
                    "name": m.remote_name,
                    "url": redact_url(&m.url),
                    "state": queue_state(s),
                    "outageSince": time(s.outage_since.get()),
                    "lastError": last_error.as_ref().map_or("", |(_, e)| e.as_str()),
                    "lastErrorTime": time(last_error.as_ref().map(|(t, _)| *t)),
                    "nextRetry": time(s.next_retry.get()),
                    "memory": {"samples": s.samples_in_memory.get(), "bytes": m.buffer_memory_bytes.get()},
                    "disk": {"samples": s.samples_on_disk.get(), "bytes": m.buffer_disk_bytes.get()},
                    "oldestUnsentTimestamp": time(s.oldest_unsent_ms.get().and_then(from_millis)),
                    "newestSentTimestamp": time((newest_sent > 0).then(|| from_millis(newest_sent)).flatten()),
                    "shards": {
                        "current": m.shards.get(),
                        "desired": m.shards_desired.get(),
                        "min": m.shards_min.get(),
                        "max": m.shards_max.get(),
                    },
                    "droppedSamples": dropped,
                    "rateLimitBytesPerSecond": s.rate_limit.get(),
                })
            })
            .collect()
    });
    json!({ "queues": queues })
}
