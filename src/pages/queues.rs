//! `/remote-write` and the queues on `/`: per queue its state (healthy,
//! outage since, draining), backlog in RAM and on disk, oldest unsent and
//! newest sent sample, shards, drops by reason, last error, next retry.

use std::fmt::Write;
use std::time::SystemTime;

use super::{escape, stamp, when};
use crate::model::DropReason;
use crate::status::config::redact_url;
use crate::status::{Queue, Status, from_millis, queue_state};

/// "outage since 2026-12-02T18:00:00Z (5m ago)", "healthy", "draining".
fn state(queue: &Queue, now: SystemTime) -> String {
    let state = queue_state(&queue.state);
    let words = match queue.state.outage_since.get() {
        Some(since) if state == "outage" => {
            format!("outage since {} ({})", stamp(since), when(Some(since), now))
        }
        _ => state.to_owned(),
    };
    format!("<span class=\"{state}\">{}</span>", escape(&words))
}

fn backlog(queue: &Queue) -> String {
    let (s, m) = (&queue.state, &queue.metrics);
    format!(
        "{} samples in RAM ({} bytes), {} on disk ({} bytes)",
        s.samples_in_memory.get(),
        m.buffer_memory_bytes.get(),
        s.samples_on_disk.get(),
        m.buffer_disk_bytes.get()
    )
}

fn oldest_unsent(queue: &Queue, now: SystemTime) -> String {
    match queue.state.oldest_unsent_ms.get().and_then(from_millis) {
        Some(t) => format!("{} ({})", stamp(t), when(Some(t), now)),
        None => "nothing waits".into(),
    }
}

/// One row per queue, for `/`.
pub fn summary(status: &Status, now: SystemTime) -> String {
    status.with_queues(|queues| {
        let mut out = String::from(
            "<table>\n<tr><th>Queue</th><th>State</th><th>Backlog</th><th>Oldest unsent</th></tr>\n",
        );
        for q in queues {
            let _ = writeln!(
                out,
                "<tr><td><a href=\"/remote-write#queue-{0}\">{0}</a></td><td>{1}</td><td>{2}</td><td>{3}</td></tr>",
                escape(&q.metrics.remote_name),
                state(q, now),
                backlog(q),
                oldest_unsent(q, now)
            );
        }
        out.push_str("</table>\n");
        out
    })
}

pub fn html(status: &Status, now: SystemTime) -> String {
    status.with_queues(|queues| {
        let mut out = String::new();
        if queues.is_empty() {
            out.push_str("<p>No remote_write is configured.</p>\n");
        }
        for q in queues {
            let (m, s) = (&q.metrics, &q.state);
            let _ = writeln!(out, "<h2 id=\"queue-{0}\">{0}</h2>\n<table>", escape(&m.remote_name));
            let last_error = match s.last_error.borrow().as_ref() {
                Some((at, e)) => {
                    format!("<span class=\"error\">{}</span> ({})", escape(e), when(Some(*at), now))
                }
                None => "none".into(),
            };
            let newest_sent = m.highest_sent_timestamp_ms.get();
            let newest_sent = match (newest_sent > 0).then(|| from_millis(newest_sent)).flatten() {
                Some(t) => format!("{} ({})", stamp(t), when(Some(t), now)),
                None => "nothing sent yet".into(),
            };
            let dropped: Vec<String> = DropReason::ALL
                .iter()
                .map(|r| (r.label(), m.samples_dropped_total[*r as usize].get()))
                .filter(|(_, n)| *n > 0)
                .map(|(reason, n)| format!("{reason}: {n}"))
                .collect();
            let rate = match s.rate_limit.get() {
                0 => "unlimited".to_owned(),
                bytes => format!("{bytes} bytes/s"),
            };
            let rows = [
                ("URL", escape(&redact_url(&m.url))),
                ("State", state(q, now)),
                ("Last error", last_error),
                ("Next retry", s.next_retry.get().map_or("-".into(), |t| when(Some(t), now))),
                ("Backlog", backlog(q)),
                ("Oldest unsent sample", oldest_unsent(q, now)),
                ("Newest sent sample", newest_sent),
                (
                    "Shards",
                    format!(
                        "{} (desired {:.2}, min {}, max {})",
                        m.shards.get(),
                        m.shards_desired.get(),
                        m.shards_min.get(),
                        m.shards_max.get()
                    ),
                ),
                (
                    "Samples dropped",
                    if dropped.is_empty() { "none".into() } else { escape(&dropped.join(", ")) },
                ),
                ("Backlog rate limit", rate),
            ];
            for (name, value) in rows {
                let _ = writeln!(out, "<tr><th>{name}</th><td>{value}</td></tr>");
            }
            out.push_str("</table>\n");
        }
        out
    })
}
