//! One scrape loop per target: fetch off the executor thread, parse, label,
//! append to the queue, report `up` and `scrape_*`.
//!
//! A scrape is all or nothing, as in Prometheus: samples are collected first
//! and appended only when the whole exposition parsed; a failed scrape
//! appends only its report (`up` 0). The reason is logged when it changes.
//!
//! A loop stops when its target is removed (a time arrives on its stop
//! channel): every series of its last good scrape and its report series get a
//! staleness marker at that time (SPEC, Staleness). Dropping the task instead
//! (shutdown) writes nothing.

pub mod fetch;
pub mod metadata;
pub mod pool;
pub mod report;
pub mod scratch;
pub mod series;
pub mod staleness;

use std::cell::RefCell;
use std::hash::{Hash, Hasher};
use std::rc::Rc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::timer::Timer;
use smol::channel::Receiver;

use crate::client::Client;
use crate::discovery::Target;
use crate::model::Labels;
use crate::offload::Offload;
use crate::parse::{self, Entry, Format, Scanned};
use crate::sender::{Outgoing, Queue};
use crate::status::TargetHealth;
use crate::telemetry::ScrapeMetrics;
use report::{ScrapeReport, Scraped};
use series::{At, Encoded, LabelStore, Lookup, SeriesCache};

/// What a loop needs besides its target and its job's client.
pub struct Context<'a> {
    /// Every remote_write's queue, in the config's order; each gets every sample.
    pub queues: &'a [Queue],
    pub offload: &'a Offload,
    /// Where the loops' metric families are found by the metadata senders.
    pub metadata: &'a metadata::Registry,
    /// Scrapes refused for a limit, counted for /metrics.
    pub scrapes: &'a ScrapeMetrics,
    /// Body buffers and staging vectors, shared by every loop.
    pub scratch: &'a scratch::Scratch,
}

/// A sample ready to append once the scrape is known good: where its series'
/// labels are in the target's store, its value and timestamp.
pub type Staged = (At, f64, i64);

/// Scrapes `target` every interval until a removal time arrives on `stop`,
/// through the job's client (shared by its targets, as Prometheus has one
/// client per scrape pool; replaced on reload, so each scrape takes the
/// current one), with a connection pool of the loop's own.
pub async fn run(
    target: Target,
    client: Rc<RefCell<Client>>,
    cx: &Context<'_>,
    stop: Receiver<SystemTime>,
    health: Rc<TargetHealth>,
) {
    // Encoded labels hold the external labels and write relabeling of this
    // snapshot; the pool restarts every loop when they change.
    let outgoing: Vec<Rc<Outgoing>> = cx.queues.iter().map(Queue::outgoing).collect();
    let report_labels: Vec<Option<Encoded>> =
        report::NAMES.iter().map(|name| series::encode(&series_of(&target, name), &outgoing)).collect();
    let families = cx.metadata.register();
    *health.families.borrow_mut() = families.clone();
    let mut cache = SeriesCache::with_metadata(families);
    let mut last_error: Option<String> = None;
    let mut next = Instant::now() + first_delay(&target, SystemTime::now());
    let mut scraped = false;
    let mut pooled: Option<Client> = None;
    let removed_at = loop {
        if let Err(at) = until(Timer::at(next), &stop).await {
            break at;
        }
        let (started, started_at) = (Instant::now(), SystemTime::now());
        let timestamp_ms = millis(started_at);
        let client = own_pool(&mut pooled, &client.borrow());
        let (url, timeout, limits) = (target.url.clone(), target.timeout, target.limits);
        let mut body = cx.scratch.take_body();
        let work = cx.offload.run(move || {
            let result = fetch::fetch(&client, &url, timeout, &limits, &mut body);
            (body, result)
        });
        // A scrape in flight when the target is removed is abandoned.
        let (returned, fetched) = match until(work, &stop).await {
            Ok(done) => done,
            Err(at) => break at,
        };
        let body = returned;
        scraped = true;
        // Borrowed until the appends below, none of which awaits.
        let (mut staged, mut stale) = (cx.scratch.staged.borrow_mut(), cx.scratch.stale.borrow_mut());
        let result = fetched.map_err(|e| e.to_string()).and_then(|format| {
            ingest(&body, format, &target, &mut cache, &outgoing, timestamp_ms, &mut staged)
        });
        // The body is parsed; after an unusually large one (or a failed one, which may hold up
        // to the limit) the buffer goes back to what this target needs.
        let used = if result.is_ok() { body.len() } else { 0 };
        cx.scratch.give_body(body, used);
        let staged_len = staged.len();
        let now = Instant::now();
        let report = match result {
            Ok(scraped) => {
                cache.end(&mut stale);
                for (labels, value, ts) in staged.drain(..) {
                    append(cx.queues, cache.store(), labels, value, ts, now);
                }
                ScrapeReport { up: true, duration_seconds: 0.0, scraped, reason: None }
            }
            Err(reason) => {
                cx.scrapes.failed(&reason);
                staged.clear();
                cache.end_all(&mut stale);
                ScrapeReport {
                    up: false,
                    duration_seconds: 0.0,
                    scraped: Scraped::default(),
                    reason: Some(reason),
                }
            }
        };
        mark_stale(cx.queues, cache.store(), &mut stale, timestamp_ms, now);
        drop((staged, stale));
        cx.scratch.settle(staged_len);
        let report = ScrapeReport { duration_seconds: (now - started).as_secs_f64(), ..report };
        health.scraped(started_at, now - started, report.reason.as_deref());
        for (labels, value) in report_labels.iter().zip(report.values()) {
            if let Some(labels) = labels {
                append_encoded(cx.queues, labels, value, timestamp_ms, now);
            }
        }
        if report.reason != last_error {
            match &report.reason {
                Some(reason) => log::warn!("scrape {}: {reason}", target.url),
                None => log::info!("scrape {}: up", target.url),
            }
            last_error = report.reason;
        }
        next += target.interval;
        if next < Instant::now() {
            // Missed ticks (a scrape longer than its interval) are skipped, not run back to back.
            let behind = Instant::now() - next;
            next += target.interval * (behind.as_nanos() / target.interval.as_nanos().max(1) + 1) as u32;
        }
    };
    // Removed: what the last scrape exposed ends now, report series included
    // (Prometheus's end-of-run staleness; written at once rather than two
    // intervals later, since a receiver refuses a sample older than one it
    // already has). A loop that never scraped wrote nothing to end.
    if scraped {
        let (timestamp_ms, now) = (millis(removed_at), Instant::now());
        let mut stale = cx.scratch.stale.borrow_mut();
        cache.end_all(&mut stale);
        mark_stale(cx.queues, cache.store(), &mut stale, timestamp_ms, now);
        for labels in report_labels.iter().flatten() {
            append_encoded(cx.queues, labels, staleness::STALE_NAN, timestamp_ms, now);
        }
    }
}

/// Capacity a buffer keeps whatever it held: below it, shrinking is not worth an allocation.
const KEEP_CAPACITY_BYTES: usize = 64 << 10;

/// Shrinks `v` to `used` elements when it holds more than twice that (and more than
/// `KEEP_CAPACITY_BYTES`): one unusually large scrape must not pin its peak for good, while
/// a target of steady size keeps its buffers and allocates nothing per scrape.
pub(crate) fn trim<T>(v: &mut Vec<T>, used: usize) {
    let keep = KEEP_CAPACITY_BYTES / size_of::<T>().max(1);
    if v.capacity() > keep && v.capacity() > used.saturating_mul(2) {
        v.shrink_to(used.max(keep));
    }
}

/// Appends one sample of the series at `labels` in `store` to every queue
/// that sends it, its labels written out of the store's pieces straight into
/// the queue's batch. A queue whose receiver is down only fills its own buffer
/// (its `append` never waits).
fn append(queues: &[Queue], store: &LabelStore, labels: At, value: f64, timestamp_ms: i64, now: Instant) {
    store.each(labels, |i, labels| {
        if let Some(queue) = queues.get(i) {
            queue.append(labels, value, timestamp_ms, now);
        }
    });
}

/// Appends a staleness marker at `timestamp_ms` for each series in `stale`, emptying it.
fn mark_stale(queues: &[Queue], store: &LabelStore, stale: &mut Vec<At>, timestamp_ms: i64, now: Instant) {
    for labels in stale.drain(..) {
        append(queues, store, labels, staleness::STALE_NAN, timestamp_ms, now);
    }
}

/// `append` for a report series, whose labels are kept encoded.
fn append_encoded(queues: &[Queue], labels: &Encoded, value: f64, timestamp_ms: i64, now: Instant) {
    for (queue, labels) in queues.iter().zip(labels.iter()) {
        if let Some(labels) = labels {
            queue.append(labels, value, timestamp_ms, now);
        }
    }
}

/// Runs `work` unless a removal comes first: `Err(removal time)`. A closed
/// channel without a time counts as a removal now.
async fn until<T>(work: impl Future<Output = T>, stop: &Receiver<SystemTime>) -> Result<T, SystemTime> {
    let stopped = async { Err(stop.recv().await.unwrap_or_else(|_| SystemTime::now())) };
    smol::future::or(async { Ok(work.await) }, stopped).await
}

/// Parses one exposition into `out` and counts it. The caller ends the
/// scrape in `cache` (`end` on success, `end_all` on error: then `out` may
/// hold part of the scrape, which is discarded).
pub fn ingest(
    body: &[u8],
    format: Format,
    target: &Target,
    cache: &mut SeriesCache,
    outgoing: &[Rc<Outgoing>],
    timestamp_ms: i64,
    out: &mut Vec<Staged>,
) -> Result<Scraped, String> {
    let text = std::str::from_utf8(body).map_err(|e| format!("invalid UTF-8 at byte {}", e.valid_up_to()))?;
    cache.begin_format(format);
    let mut scraped = Scraped::default();
    let mut parser = parse::parser(format, text);
    // A series seen before is found by its text before its labels are
    // parsed (`Parser::next_known`); a new or changed line is parsed in full.
    while let Some(scanned) = parser.next_known(|series| cache.hit(series)) {
        let (lookup, value, sample_ts) = match scanned.map_err(|e| e.to_string())? {
            Scanned::Known { key, value, timestamp_ms } => (key, value, timestamp_ms),
            Scanned::Entry(Entry::Sample(sample)) => {
                (cache.lookup(&sample, target, outgoing)?, sample.value, sample.timestamp_ms)
            }
            Scanned::Entry(entry) => {
                cache.record(&entry, format);
                continue;
            }
        };
        scraped.samples += 1;
        let budget = &target.limits.budget;
        if budget.series > 0 && scraped.samples > budget.series {
            return Err(format!("series_limit exceeded: more than {} samples in one scrape", budget.series));
        }
        if budget.new_series > 0 && cache.added() > budget.new_series {
            let limit = budget.new_series;
            return Err(format!("new_series_limit exceeded: more than {limit} new series in one scrape"));
        }
        let timestamp = match (target.honor_timestamps, sample_ts) {
            (true, Some(ts)) => ts,
            _ => timestamp_ms,
        };
        let labels = match lookup {
            Lookup::Append(labels) => Some(labels),
            Lookup::Unsent => None,
            Lookup::Dropped | Lookup::Repeat => continue,
        };
        scraped.post_relabeling += 1;
        let limit = target.limits.sample;
        if limit > 0 && scraped.post_relabeling > limit {
            return Err(format!("sample_limit exceeded: more than {limit} samples"));
        }
        if let Some(labels) = labels {
            out.push((labels, value, timestamp));
        }
    }
    scraped.series_added = cache.added();
    Ok(scraped)
}

/// The loop's own-pool copy of its job's current client, made again when the
/// job's client is replaced (a reload).
fn own_pool(pooled: &mut Option<Client>, current: &Client) -> Client {
    match pooled {
        Some(mine) if mine.same(current) => mine.clone(),
        _ => pooled.insert(current.own_pool()).clone(),
    }
}

/// Delay to a target's first scrape: targets are spread over the interval by
/// a hash of their labels, at the same wall-clock phase after every restart
/// (Prometheus's scrape offset).
pub fn first_delay(target: &Target, now: SystemTime) -> Duration {
    let interval = target.interval.as_nanos().max(1);
    // DefaultHasher::new() has fixed keys: the same phase on every start of
    // the same binary.
    let mut h = std::collections::hash_map::DefaultHasher::new();
    target.labels.hash(&mut h);
    target.url.hash(&mut h);
    let offset = u128::from(h.finish()) % interval;
    let now_ns = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos() % interval;
    let delay = (offset + interval - now_ns) % interval;
    Duration::from_nanos(u64::try_from(delay).unwrap_or(0))
}

fn millis(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The labels of `target` with `__name__`: a report series.
fn series_of(target: &Target, name: &str) -> Labels {
    let mut labels = target.labels.clone();
    labels.set("__name__".into(), name.to_owned());
    labels
}

#[cfg(test)]
mod tests {
    use super::trim;

    #[test]
    fn buffers_shrink_after_a_peak_and_keep_a_steady_size() {
        let mut body: Vec<u8> = Vec::with_capacity(1 << 30 >> 6); // a 16 MiB peak
        trim(&mut body, 100_000);
        assert!(body.capacity() >= 100_000 && body.capacity() < 200_000, "{}", body.capacity());
        let before = body.capacity();
        trim(&mut body, 90_000); // within twice: kept, no allocation
        assert_eq!(body.capacity(), before);
        let mut small: Vec<u64> = Vec::with_capacity(1000);
        trim(&mut small, 0); // under 64 KiB: not worth an allocation
        assert_eq!(small.capacity(), 1000);
    }
}
