//! One remote-write queue: staging → buffer → sender (SPEC, Pipeline).
//!
//! `Queue` is what scrape loops append samples to; it lives on the agent's
//! stack and is shared by `&` between tasks on the one executor thread, so
//! its parts are `RefCell`s borrowed only between awaits. `run` sends the
//! oldest block until the receiver settles it, so blocks leave in order.

pub mod backoff;
pub mod http;
pub mod outcome;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use event_listener::Event;
use smol::Timer;

use crate::buffer::Buffer;
use crate::config::{QueueConfig, RemoteWrite};
use crate::model::{DropReason, SealedBlock};
use crate::offload::Offload;
use crate::staging::Staging;
use crate::telemetry::QueueMetrics;
use crate::telemetry::metrics::add;
use backoff::Backoff;
use outcome::Outcome;

pub struct Queue {
    pub name: String,
    config: QueueConfig,
    client: http::Client,
    staging: RefCell<Staging>,
    buffer: RefCell<Buffer>,
    /// Rung when a block enters the buffer.
    sealed: Event,
    /// Rung when the open batch gets its first sample (its deadline starts).
    opened: Event,
    pub metrics: Rc<QueueMetrics>,
}

impl Queue {
    pub fn new(rw: &RemoteWrite, memory: usize) -> Self {
        let q = &rw.queue_config;
        Queue {
            name: rw.name.clone(),
            config: q.clone(),
            client: http::Client::new(rw),
            staging: RefCell::new(Staging::new(q.max_samples_per_send, q.batch_send_deadline, 0)),
            buffer: RefCell::new(Buffer::new(memory)),
            sealed: Event::new(),
            opened: Event::new(),
            metrics: Rc::new(QueueMetrics::new(&rw.name, &rw.url)),
        }
    }

    /// Appends one sample; `labels` come from `staging::encode::encode_labels`.
    pub fn append(&self, labels: &[u8], value: f64, timestamp_ms: i64, now: Instant) {
        let (was_empty, block) = {
            let mut staging = self.staging.borrow_mut();
            let was_empty = staging.pending() == 0;
            (was_empty, staging.push(labels, value, timestamp_ms, now))
        };
        let m = &self.metrics;
        m.highest_timestamp_ms.set(m.highest_timestamp_ms.get().max(timestamp_ms));
        add(&m.samples_pending, 1);
        if let Some(block) = block {
            self.enqueue(block);
        } else if was_empty {
            self.opened.notify(1);
        }
    }

    /// Seals whatever is staged (shutdown).
    pub fn seal(&self) {
        let block = self.staging.borrow_mut().seal();
        if let Some(block) = block {
            self.enqueue(block);
        }
    }

    /// Samples staged or buffered, not yet delivered or dropped.
    pub fn pending(&self) -> u64 {
        self.buffer.borrow().pending_samples() + self.staging.borrow().pending() as u64
    }

    fn enqueue(&self, block: SealedBlock) {
        let dropped = self.buffer.borrow_mut().push(block);
        if dropped.blocks > 0 {
            self.metrics.dropped(DropReason::BufferFull, dropped.samples);
            log::warn!(
                "remote_write {}: memory buffer full, dropped {} oldest blocks ({} samples)",
                self.name,
                dropped.blocks,
                dropped.samples
            );
        }
        self.refresh_gauges();
        self.sealed.notify(1);
    }

    fn settle(&self, seq: u64) {
        self.buffer.borrow_mut().settle(seq);
        self.refresh_gauges();
    }

    fn refresh_gauges(&self) {
        self.metrics.buffer_memory_bytes.set(self.buffer.borrow().memory_bytes() as u64);
        self.metrics.samples_pending.set(self.pending());
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
                    let block = self.staging.borrow_mut().seal_due(Instant::now());
                    if let Some(block) = block {
                        self.enqueue(block);
                    }
                }
            }
        }
    }

    /// Sends blocks oldest first, each until the receiver settles it.
    pub async fn run(&self, offload: &Offload, seed: u64) {
        let mut rng = fastrand::Rng::with_seed(seed);
        let mut backoff = Backoff::new(self.config.min_backoff, self.config.max_backoff);
        let mut outage: Option<Outage> = None;
        loop {
            let listener = self.sealed.listen();
            let next = self.buffer.borrow().oldest();
            let Some(block) = next else {
                listener.await;
                continue;
            };
            drop(listener);
            let (client, payload) = (self.client.clone(), block.payload.clone());
            let answer = offload.run(move || client.post(payload)).await;
            let m = &self.metrics;
            match outcome::classify(&answer, self.config.retry_on_http_429, self.config.max_backoff) {
                Outcome::Delivered => {
                    backoff.reset();
                    add(&m.samples_total, u64::from(block.samples));
                    add(&m.bytes_total, block.payload.len() as u64);
                    m.highest_sent_timestamp_ms
                        .set(m.highest_sent_timestamp_ms.get().max(block.max_timestamp_ms));
                    if let Some(o) = outage.take() {
                        log::info!(
                            "remote_write {}: receiver recovered after {:.1?}, {} retries",
                            self.name,
                            o.since.elapsed(),
                            o.retries
                        );
                    }
                    self.settle(block.seq);
                }
                Outcome::Retry { after, reason } => {
                    add(&m.samples_retried_total, u64::from(block.samples));
                    match &mut outage {
                        Some(o) => o.retries += 1,
                        None => {
                            log::warn!(
                                "remote_write {}: receiver unreachable: {reason}; retrying",
                                self.name
                            );
                            outage = Some(Outage { since: Instant::now(), retries: 1 });
                        }
                    }
                    let wait = after.unwrap_or_else(|| backoff.next(&mut rng));
                    log::debug!(
                        "remote_write {}: block {} retry in {wait:?}: {reason}",
                        self.name,
                        block.seq
                    );
                    Timer::after(wait.max(Duration::from_millis(1))).await;
                }
                Outcome::Rejected { status, message } => {
                    add(&m.samples_failed_total, u64::from(block.samples));
                    m.dropped(DropReason::Rejected, u64::from(block.samples));
                    log::error!(
                        "remote_write {}: receiver rejected block {} ({} samples) with HTTP {status}, dropped: {}",
                        self.name,
                        block.seq,
                        block.samples,
                        message.trim()
                    );
                    self.settle(block.seq);
                }
            }
        }
    }
}

/// The receiver has not accepted a block since `since`.
struct Outage {
    since: Instant,
    retries: u64,
}
