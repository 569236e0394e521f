//! One remote-write queue: staging → buffer → sender (SPEC, Pipeline).
//!
//! `Queue` is what scrape loops append samples to; it lives on the agent's
//! stack and is shared by `&` between tasks on the one executor thread, so
//! its parts are `RefCell`s borrowed only between awaits. `run` sends with
//! up to `max_shards` requests in flight, one per shard: the buffer hands each
//! shard its oldest block, sent until the receiver settles it, so every series
//! (one shard per sharding epoch) arrives in order. Every `UPDATE_INTERVAL`
//! the shard count is recomputed as Prometheus does (`shards.rs`); a new count
//! seals the open batches and starts a new epoch, sent once the old one is.

pub mod backoff;
pub mod flow;
pub mod http;
pub mod metadata;
pub mod outcome;
pub mod shards;

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use event_listener::Event;
use smol::LocalExecutor;

use crate::buffer::{Buffer, Lane};
use crate::client::ClientError;
use crate::config::{BufferConfig, MetadataConfig, QueueConfig, RemoteWrite};
use crate::log::{Throttle, held_back};
use crate::model::{DropReason, Labels, SealedBlock};
use crate::offload::Offload;
use crate::relabel::{self, Rule};
use crate::staging::Staging;
use crate::staging::encode::{self, EncodedLabels, Part};
use crate::status::QueueStatus;
use crate::telemetry::QueueMetrics;
use crate::telemetry::metrics::add;
use crate::timer::Timer;
use flow::{Pacer, Policy, Step};
use shards::{Sharding, UPDATE_INTERVAL};

/// How a series leaves for one queue (Prometheus's order): external labels
/// added where the series lacks them, then `write_relabel_configs`, then
/// encoded. Applied once per series, on a series-cache miss.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Outgoing {
    pub external_labels: Vec<(String, String)>,
    pub write_relabel: Vec<Rule>,
}

impl Outgoing {
    pub fn new(rw: &RemoteWrite, external_labels: &BTreeMap<String, String>) -> Self {
        Outgoing {
            external_labels: external_labels.iter().map(|(n, v)| (n.clone(), v.clone())).collect(),
            write_relabel: rw.write_relabel_configs.clone(),
        }
    }

    /// The encoded labels, or `None` when write relabeling drops the series.
    pub fn encode(&self, labels: &Labels) -> Option<Vec<u8>> {
        let mut all = labels.clone();
        for (name, value) in &self.external_labels {
            if all.get(name).is_none() {
                all.set(name.clone(), value.clone());
            }
        }
        relabel::process(&mut all, &self.write_relabel).then(|| encode::encode_labels(&all))
    }
}

pub struct Queue {
    pub name: String,
    /// Replaced on reload; scrape loops take a snapshot when they start.
    outgoing: RefCell<Rc<Outgoing>>,
    config: QueueConfig,
    max_age: Duration,
    sync_interval: Duration,
    /// Rebuilt on reload (credential files are read anew).
    client: RefCell<http::Client>,
    staging: RefCell<Staging>,
    buffer: RefCell<Buffer>,
    sharding: RefCell<Sharding>,
    /// Samples appended since the last shard update.
    samples_in: Cell<u64>,
    /// Rung when a block may have become sendable: sealed, or its shard freed.
    ready: Event,
    /// Rung when the open batch gets its first sample (its deadline starts).
    opened: Event,
    /// Rung when the buffer was written to (a block spilled, a sample logged): the next
    /// periodic sync is due.
    written: Event,
    pub metrics: Rc<QueueMetrics>,
    /// Outage, last error, backlog: what the status API shows beyond the metrics.
    pub status: Rc<QueueStatus>,
    /// Per-block error lines (drops, refusals) repeat at the batch rate; at
    /// most one of each per `LOG_EVERY` (the metrics count every one).
    loss_log: Throttle,
    refusal_log: Throttle,
    /// A receiver's unusable `Retry-After` (capped, past, unreadable), once per `LOG_EVERY`.
    retry_after_log: Throttle,
    /// Since when no send has been accepted, shared by the shards (one log line per outage).
    outage: RefCell<Option<Outage>>,
    /// Retry and pacing policy of `queue_config` (`flow.rs`).
    policy: Policy,
    /// Backlog uploads are paced by all shards together.
    pacer: RefCell<Pacer>,
    /// What `metadata::send_metadata_periodically` does, and its failure lines.
    metadata_config: MetadataConfig,
    metadata_log: Throttle,
}

/// How often a repeating per-block error is logged at most.
const LOG_EVERY: Duration = Duration::from_secs(10);

impl Queue {
    /// A queue over `buffer`, already opened (and so recovered) by the
    /// caller. Fails when a TLS or credential file of `rw` cannot be used.
    pub fn new(
        rw: &RemoteWrite,
        external_labels: &BTreeMap<String, String>,
        buffer_config: &BufferConfig,
        mut buffer: Buffer,
    ) -> Result<Self, ClientError> {
        let q = &rw.queue_config;
        buffer.set_max_shards(q.max_shards);
        buffer.set_max_samples(q.max_samples_per_send);
        let sharding = Sharding::new(q.min_shards, q.max_shards);
        let mut staging = Staging::new(q.max_samples_per_send, q.batch_send_deadline, buffer.next_seq());
        if sharding.current > 1 {
            staging.reshard(sharding.current);
        }
        let queue = Queue {
            name: rw.name.clone(),
            outgoing: RefCell::new(Rc::new(Outgoing::new(rw, external_labels))),
            config: q.clone(),
            max_age: buffer_config.max_age,
            sync_interval: buffer_config.sync_interval,
            client: RefCell::new(http::Client::new(rw)?),
            staging: RefCell::new(staging),
            buffer: RefCell::new(buffer),
            sharding: RefCell::new(sharding),
            samples_in: Cell::new(0),
            ready: Event::new(),
            opened: Event::new(),
            written: Event::new(),
            metrics: Rc::new(QueueMetrics::new(&rw.name, &rw.url)),
            status: Rc::new(QueueStatus { rate_limit: Cell::new(q.rate_limit), ..Default::default() }),
            loss_log: Throttle::new(LOG_EVERY),
            refusal_log: Throttle::new(LOG_EVERY),
            retry_after_log: Throttle::new(LOG_EVERY),
            outage: RefCell::new(None),
            policy: Policy::new(q),
            pacer: RefCell::new(Pacer::default()),
            metadata_config: rw.metadata_config.clone(),
            metadata_log: Throttle::new(LOG_EVERY),
        };
        let (m, sharding) = (&queue.metrics, queue.sharding.borrow());
        m.shards.set(sharding.current as u64);
        m.shards_min.set(sharding.min as u64);
        m.shards_max.set(sharding.max as u64);
        m.shards_desired.set(sharding.desired);
        m.buffer_memory_limit_bytes.set(buffer_config.memory);
        m.buffer_disk_limit_bytes.set(buffer_config.disk);
        drop(sharding);
        queue.account();
        Ok(queue)
    }

    /// How series leave for this queue now.
    pub fn outgoing(&self) -> Rc<Outgoing> {
        self.outgoing.borrow().clone()
    }

    /// Reload: series encoded from now on use `outgoing` (the caller restarts
    /// the scrape loops, whose caches hold labels encoded the old way).
    pub fn set_outgoing(&self, outgoing: Outgoing) {
        *self.outgoing.borrow_mut() = Rc::new(outgoing);
    }

    /// Reload: the next send (a retry included) uses `client`.
    pub fn set_client(&self, client: http::Client) {
        *self.client.borrow_mut() = client;
    }

    /// Appends one sample; `labels` come from `staging::encode::encode_labels` (whole, or in
    /// a target's label store's pieces). During an
    /// outage (and until its backlog is delivered) it goes to the buffer's compact log instead
    /// of staging; what was staged before is sealed and spilled first, being older.
    pub fn append<L: EncodedLabels + ?Sized>(&self, labels: &L, value: f64, timestamp_ms: i64, now: Instant) {
        self.samples_in.set(self.samples_in.get() + 1);
        let m = &self.metrics;
        m.highest_timestamp_ms.set(m.highest_timestamp_ms.get().max(timestamp_ms));
        add(&m.samples_pending, 1);
        let (was_empty, block) = {
            let mut buffer = self.buffer.borrow_mut();
            let mut staging = self.staging.borrow_mut();
            if buffer.logs_samples() {
                while let Some((block, lane)) = staging.seal() {
                    buffer.push_in(block, lane);
                }
                buffer.push_sample(staging.contiguous(labels), timestamp_ms, value);
                drop((buffer, staging));
                self.written.notify(1);
                return;
            }
            staging.skip_to(buffer.next_seq());
            let was_empty = staging.pending() == 0;
            (was_empty, staging.push_in(labels, value, timestamp_ms, now))
        };
        if let Some((block, lane)) = block {
            self.enqueue(block, lane);
        } else if was_empty {
            self.opened.notify(1);
        }
    }

    /// Shutdown: seals whatever is staged, writes every block still in RAM
    /// to disk and syncs (SPEC: a clean stop loses nothing).
    pub fn stop(&self) {
        let sealed: Vec<_> = std::iter::from_fn(|| self.staging.borrow_mut().seal()).collect();
        for (block, lane) in sealed {
            self.buffer.borrow_mut().push_in(block, lane);
        }
        self.buffer.borrow_mut().close();
        self.account();
    }

    /// Samples held only in RAM (staged, or in the ring).
    pub fn in_memory(&self) -> u64 {
        let buffer = self.buffer.borrow();
        buffer.pending_samples() - buffer.backlog_samples() + self.staging.borrow().pending() as u64
    }

    /// Samples staged or buffered, not yet delivered or dropped.
    pub fn pending(&self) -> u64 {
        self.buffer.borrow().pending_samples() + self.staging.borrow().pending() as u64
    }

    fn enqueue(&self, block: SealedBlock, lane: Lane) {
        self.pacer.borrow_mut().sealed(Instant::now());
        self.buffer.borrow_mut().push_in(block, lane);
        self.wrote();
        self.account();
        self.ready.notify(usize::MAX);
    }

    /// Wakes the periodic sync if the buffer now holds something to sync (a block went to
    /// the RAM ring: nothing to wake for).
    fn wrote(&self) {
        if self.buffer.borrow().needs_sync() {
            self.written.notify(1);
        }
    }

    /// Counts and logs what the buffer lost since the last call, and
    /// refreshes the buffer's gauges.
    fn account(&self) {
        let m = &self.metrics;
        let mut buffer = self.buffer.borrow_mut();
        for loss in buffer.take_losses() {
            m.dropped(loss.reason, loss.samples);
            self.sharding.borrow_mut().samples_dropped(loss.samples);
            if let Some(held) = self.loss_log.pass(Instant::now()) {
                log::warn!(
                    "remote_write {}: dropped {} blocks ({} samples): {}{}",
                    self.name,
                    loss.blocks,
                    loss.samples,
                    loss.reason.describe(),
                    held_back(held)
                );
            }
        }
        let status = &self.status;
        status.samples_on_disk.set(buffer.backlog_samples());
        status.oldest_unsent_ms.set(buffer.oldest_timestamp_ms());
        m.buffer_memory_bytes.set(buffer.memory_bytes() as u64);
        m.buffer_disk_bytes.set(buffer.disk_bytes());
        m.spilled_blocks_total.set(buffer.spilled_blocks());
        m.replayed_blocks_total.set(buffer.replayed_blocks());
        drop(buffer);
        m.samples_pending.set(self.pending());
        self.status.samples_in_memory.set(self.in_memory());
    }

    /// Syncs spilled blocks at least every `sync_interval` (SPEC, Buffer: a
    /// crash during an outage loses at most that interval). While nothing is
    /// written (the healthy path), it sleeps without a timer.
    pub async fn sync_periodically(&self) {
        loop {
            let written = self.written.listen();
            if !self.buffer.borrow().needs_sync() {
                written.await;
                continue;
            }
            drop(written);
            Timer::after(self.sync_interval).await;
            self.buffer.borrow_mut().sync();
            self.account();
            // The sync wrote the samples logged since the last one as a record to send.
            self.ready.notify(usize::MAX);
        }
    }

    /// Seals the open batch when its `batch_send_deadline` passes.
    pub async fn seal_on_deadline(&self) {
        loop {
            let listener = self.opened.listen();
            let due = self.staging.borrow().due();
            match due {
                None => listener.await,
                Some(due) => {
                    Timer::at(due).await;
                    loop {
                        let sealed = self.staging.borrow_mut().seal_due(Instant::now());
                        let Some((block, lane)) = sealed else { break };
                        self.enqueue(block, lane);
                    }
                }
            }
        }
    }

    /// Sends blocks with up to `max_shards` requests in flight, and reshards
    /// every `UPDATE_INTERVAL` (module doc).
    pub async fn run(&self, offload: &Offload, seed: u64) {
        let max = self.sharding.borrow().max;
        let ex = LocalExecutor::new();
        let _shards: Vec<_> =
            (0..max as u64).map(|i| ex.spawn(self.send(offload, seed.wrapping_add(i)))).collect();
        ex.run(self.update_shards()).await;
    }

    /// Recomputes the shard count every `UPDATE_INTERVAL`; on a change, the open
    /// batches are sealed into the old epoch and new samples go to the new shards.
    async fn update_shards(&self) {
        loop {
            Timer::after(UPDATE_INTERVAL).await;
            let m = &self.metrics;
            let mut sharding = self.sharding.borrow_mut();
            sharding.samples_in(self.samples_in.replace(0));
            let from = sharding.current;
            let to = sharding.update(
                m.highest_timestamp_ms.get(),
                m.highest_sent_timestamp_ms.get(),
                Instant::now(),
            );
            m.shards_desired.set(sharding.desired);
            drop(sharding);
            let Some(to) = to else { continue };
            log::info!("remote_write {}: resharding from {from} to {to} shards", self.name);
            m.shards.set(to as u64);
            let sealed = self.staging.borrow_mut().reshard(to);
            for (block, lane) in sealed {
                self.enqueue(block, lane);
            }
        }
    }

    /// One shard's sender: takes the next block the buffer hands out and sends
    /// it until the receiver settles it.
    async fn send(&self, offload: &Offload, seed: u64) {
        let mut shard = flow::Shard::new(&self.policy, seed);
        loop {
            let listener = self.ready.listen();
            let next = self.buffer.borrow_mut().take();
            self.account();
            let Some(block) = next else {
                listener.await;
                continue;
            };
            drop(listener);
            let started = Instant::now();
            if too_old(&block, self.max_age, SystemTime::now()) {
                self.buffer.borrow_mut().drop_block(block.seq, DropReason::TooOld);
                self.account();
                self.ready.notify(usize::MAX);
                continue;
            }
            // A block is split after a 413; its halves go out in order before it settles.
            let mut parts = vec![Part { payload: block.payload.clone(), samples: block.samples }];
            while let Some(part) = parts.last().cloned() {
                let (client, payload) = (self.client.borrow().clone(), part.payload.clone());
                let (answer, took) = offload
                    .run(move || {
                        let started = Instant::now();
                        (client.post(payload), started.elapsed())
                    })
                    .await;
                let m = &self.metrics;
                m.sent_batch_duration.observe(took.as_secs_f64());
                match shard.answered(&self.policy, &answer, SystemTime::now()) {
                    Step::Delivered => {
                        parts.pop();
                        add(&m.samples_total, u64::from(part.samples));
                        add(&m.bytes_total, part.payload.len() as u64);
                        self.status.outage_since.set(None);
                        self.status.next_retry.set(None);
                        let outage = self.outage.borrow_mut().take();
                        if let Some(o) = outage {
                            log::info!(
                                "remote_write {}: receiver recovered after {:.1?}, {} retries, {} blocks spilled",
                                self.name,
                                o.since.elapsed(),
                                o.retries,
                                self.buffer.borrow().spilled_blocks() - o.spilled_before
                            );
                        }
                        self.pace(part.payload.len()).await;
                    }
                    Step::Retry { wait, reason, warning } => {
                        add(&m.samples_retried_total, u64::from(part.samples));
                        self.pacer.borrow_mut().retried(&answer, Instant::now());
                        if let Some(w) = warning
                            && let Some(held) = self.retry_after_log.pass(Instant::now())
                        {
                            log::warn!("remote_write {}: {reason}: {w}{}", self.name, held_back(held));
                        }
                        self.note_outage(&reason);
                        self.buffer.borrow_mut().outage();
                        self.wrote();
                        self.account();
                        self.sharding.borrow_mut().retrying(wait, Instant::now());
                        self.status.next_retry.set(Some(SystemTime::now() + wait));
                        log::debug!(
                            "remote_write {}: block {} retry in {wait:?}: {reason}",
                            self.name,
                            block.seq
                        );
                        Timer::after(wait.max(Duration::from_millis(1))).await;
                        // Aged out, or its segment deleted for space (already counted).
                        if too_old(&block, self.max_age, SystemTime::now())
                            || !self.buffer.borrow().holds(block.seq)
                        {
                            break;
                        }
                    }
                    Step::Rejected { status: 413, .. } => {
                        parts.pop();
                        match encode::split(&part.payload) {
                            Ok((first, second)) => {
                                log::info!(
                                    "remote_write {}: 413 for block {}, split in two",
                                    self.name,
                                    block.seq
                                );
                                parts.extend([second, first]);
                            }
                            Err(e) => {
                                m.dropped(DropReason::TooLarge, u64::from(part.samples));
                                self.status
                                    .failed(format!("HTTP 413 for a block that cannot be split ({e:?})"));
                                add(&m.samples_failed_total, u64::from(part.samples));
                                if let Some(held) = self.refusal_log.pass(Instant::now()) {
                                    log::error!(
                                        "remote_write {}: 413 for {} samples of block {} that cannot be split ({e:?}), dropped{}",
                                        self.name,
                                        part.samples,
                                        block.seq,
                                        held_back(held)
                                    );
                                }
                            }
                        }
                    }
                    Step::Rejected { status, message } => {
                        parts.pop();
                        add(&m.samples_failed_total, u64::from(part.samples));
                        m.dropped(DropReason::Rejected, u64::from(part.samples));
                        self.status.failed(format!("HTTP {status}: {}", message.trim()));
                        if let Some(held) = self.refusal_log.pass(Instant::now()) {
                            log::error!(
                                "remote_write {}: receiver rejected block {} ({} samples) with HTTP {status}, dropped: {}{}",
                                self.name,
                                block.seq,
                                part.samples,
                                message.trim(),
                                held_back(held)
                            );
                        }
                    }
                }
            }
            if parts.is_empty() {
                record_sent(&self.metrics, &block);
                let samples = u64::from(block.samples);
                self.sharding.borrow_mut().sent(samples, started.elapsed(), Instant::now());
                self.buffer.borrow_mut().settle(block.seq);
            } else {
                // Aged out while retrying: what is left of it is dropped (a
                // block the buffer no longer holds was counted when it left).
                self.buffer.borrow_mut().drop_block(block.seq, DropReason::TooOld);
            }
            self.account();
            // Its shard is free for the next block.
            self.ready.notify(usize::MAX);
        }
    }

    /// A send failed with a recoverable error: the first such failure starts an outage (logged
    /// once for all shards), later ones count as its retries.
    fn note_outage(&self, reason: &str) {
        self.status.failed(reason.to_owned());
        if self.status.outage_since.get().is_none() {
            self.status.outage_since.set(Some(SystemTime::now()));
        }
        let mut outage = self.outage.borrow_mut();
        match &mut *outage {
            Some(o) => o.retries += 1,
            None => {
                log::warn!("remote_write {}: receiver unreachable: {reason}; retrying", self.name);
                let spilled_before = self.buffer.borrow().spilled_blocks();
                *outage = Some(Outage { since: Instant::now(), retries: 1, spilled_before });
            }
        }
    }

    /// Waits as long as `bytes` take at `rate_limit` while a backlog is being
    /// uploaded (SPEC: backlog upload must not saturate a metered uplink); the
    /// shards share the rate, each waiting its turn.
    async fn pace(&self, bytes: usize) {
        let backlog = self.buffer.borrow().backlog();
        let until = self.pacer.borrow_mut().delivered(&self.policy, bytes, backlog, Instant::now());
        if let Some(until) = until {
            Timer::at(until).await;
        }
    }
}

fn record_sent(m: &QueueMetrics, block: &SealedBlock) {
    m.highest_sent_timestamp_ms.set(m.highest_sent_timestamp_ms.get().max(block.max_timestamp_ms));
}

/// A block whose newest sample is older than `max_age` (SPEC, Buffer).
pub fn too_old(block: &SealedBlock, max_age: Duration, now: SystemTime) -> bool {
    let cutoff = now.checked_sub(max_age).and_then(|t| t.duration_since(UNIX_EPOCH).ok());
    cutoff.is_some_and(|c| block.max_timestamp_ms < i64::try_from(c.as_millis()).unwrap_or(i64::MAX))
}

/// The receiver has not accepted a block since `since`.
struct Outage {
    since: Instant,
    retries: u64,
    /// `Buffer::spilled_blocks` when it began.
    spilled_before: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::relabel::RuleSpec;
    use prost::Message;

    #[test]
    fn outgoing_adds_external_labels_where_absent_then_write_relabels() {
        let drop_edge = Rule::new(RuleSpec {
            source_labels: Some(vec!["cluster".into()]),
            regex: Some("edge".into()),
            action: Some("drop".into()),
            ..Default::default()
        })
        .expect("rule");
        let outgoing = Outgoing {
            external_labels: vec![("cluster".into(), "edge".into()), ("region".into(), "eu".into())],
            write_relabel: vec![drop_edge],
        };
        assert_eq!(
            outgoing.encode(&Labels::from_pairs([("__name__", "up")])),
            None,
            "relabeled after external labels"
        );
        let own =
            outgoing.encode(&Labels::from_pairs([("__name__", "x"), ("cluster", "mine")])).expect("kept");
        let decoded = encode::TimeSeries::decode(&own[..]).expect("labels");
        let pairs: Vec<(&str, &str)> =
            decoded.labels.iter().map(|l| (l.name.as_str(), l.value.as_str())).collect();
        assert_eq!(
            pairs,
            [("__name__", "x"), ("cluster", "mine"), ("region", "eu")],
            "the series' own label wins"
        );
    }
}
