//! The buffer between staging and the sender (SPEC, Buffer). `Buffer` is the
//! sole owner of the memory ring and of the segment log on disk; the sender
//! `take`s blocks and answers with `settle` or `drop_block`.
//!
//! Order: every block belongs to a `Lane` (a shard of a sharding epoch; one
//! lane with one shard). `take` hands out the oldest block of each lane whose
//! older blocks are all settled, and no block of an epoch before every block
//! of the epochs before it is settled, so a series (always in one shard per
//! epoch) is sent in order. Blocks recovered from disk are one lane, sent
//! first. The cursor on disk covers the delivered prefix; blocks delivered
//! above it are listed in memory and persisted at a spill or shutdown, so a
//! clean stop re-sends nothing; a crash re-sends those delivered since then
//! (identical requests, which receivers take as duplicates).
//!
//! Invariant: every block on disk is older than every block in RAM. While the
//! receiver keeps up, blocks live in the ring only (no flash wear). The first
//! failed send (`outage`), a full ring, or shutdown spills the whole ring to
//! disk, and from then on every new block is written as it is sealed, until
//! the backlog on disk is delivered (`persist = "outage"`); with
//! `persist = "always"` every block is written, and synced, before it is sent.
//! With `persist = "outage"`, samples appended during an outage and until its
//! backlog is delivered go to the compact log instead of becoming blocks
//! (`replay.rs`): one record per `sync_interval`, sent back grouped per series.
//! A full ring alone (the receiver answers, slower than samples come) spills
//! sealed blocks.
//! Losses are collected as `Loss` values, one `DropReason` each.

pub mod compact;
pub mod disk;
mod replay;
pub mod ring;
pub mod segment;
mod spill;

use std::collections::{BTreeSet, HashMap, VecDeque};

use std::time::Duration;

use crate::config::Persist;
use crate::log::Throttle;
use crate::model::{DropReason, SealedBlock};
use compact::Writer;
use disk::Kind;
use disk::{Disk, Location};
use ring::Ring;
use segment::BlockMeta;
use segment::Progress;

/// Samples lost for one reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Loss {
    pub reason: DropReason,
    pub blocks: u64,
    pub samples: u64,
}

/// Where a block goes out: shard `shard` of sharding `epoch`. Blocks of one
/// lane leave in seq order, one at a time; an epoch starts once every older one is settled.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Lane {
    pub epoch: u32,
    pub shard: u16,
}

/// The lane of blocks pushed without one, and of every block recovered from disk.
pub const FIRST_LANE: Lane = Lane { epoch: 0, shard: 0 };

/// How many of the oldest unsettled blocks `take` looks at per shard: a stuck shard
/// holds the others at most this far ahead (Prometheus: a shard's capacity of 10000
/// samples is 5 requests of 2000).
const LOOKAHEAD_PER_SHARD: usize = 5;

pub struct Buffer {
    ring: Ring,
    /// `None` when `data_dir` could not be opened: memory only, logged.
    disk: Option<Disk>,
    /// Undelivered blocks on disk, oldest first.
    backlog: VecDeque<(BlockMeta, Location)>,
    backlog_samples: u64,
    /// The backlog's first block, read once and kept while it is retried.
    head: Option<SealedBlock>,
    /// New blocks go to disk (an outage, a full ring, or its backlog, is under way).
    spilling: bool,
    /// Samples go to the compact log rather than becoming blocks: a send failed (or a
    /// backlog was found at start) since the buffer was last back to memory only. A ring
    /// that filled while the receiver answers spills sealed blocks as they are: writing
    /// them costs nothing more, where logging and re-encoding every sample would cost the
    /// CPU the queue needs to catch up.
    outage_log: bool,
    persist: Persist,
    /// Records written since the last sync.
    unsynced: bool,
    next_seq: u64,
    losses: Vec<Loss>,
    spilled: u64,
    replayed: u64,
    /// A full or failing disk fails every append; logged at most every 10 s.
    append_errors: Throttle,
    /// Lanes of blocks held, other than `FIRST_LANE`.
    lanes: HashMap<u64, Lane>,
    /// Blocks handed out by `take` and not settled yet.
    in_flight: BTreeSet<u64>,
    /// How many of the oldest blocks `take` considers.
    lookahead: usize,
    /// Shutting down: a block delivered ahead of the cursor is persisted at once.
    closing: bool,
    /// Samples for the compact log, waiting for their record (`replay.rs`).
    writer: Writer,
    /// The window of sample records being sent.
    drain: Option<replay::Drain>,
    /// Where decoding of the segment being drained stands.
    log_reader: Option<replay::LogReader>,
    /// The `draining` file read at open, until its window is opened.
    resume: Option<Progress>,
    /// `max_samples_per_send`: requests cut from sample records hold at most this many.
    max_samples: usize,
    /// Samples the writer holds at most before writing a record.
    record_samples: usize,
    max_age: Duration,
}

impl Buffer {
    /// A memory-only buffer (tests, and the fallback when `data_dir` fails).
    pub fn in_memory(memory: usize) -> Self {
        Buffer {
            ring: Ring::new(memory),
            disk: None,
            backlog: VecDeque::new(),
            backlog_samples: 0,
            head: None,
            spilling: false,
            outage_log: false,
            persist: Persist::Outage,
            unsynced: false,
            next_seq: 0,
            losses: Vec::new(),
            spilled: 0,
            replayed: 0,
            append_errors: Throttle::new(Duration::from_secs(10)),
            lanes: HashMap::new(),
            in_flight: BTreeSet::new(),
            lookahead: LOOKAHEAD_PER_SHARD,
            closing: false,
            writer: Writer::default(),
            drain: None,
            log_reader: None,
            resume: None,
            max_samples: 2000,
            record_samples: 1 << 16,
            max_age: Duration::from_secs(3600),
        }
    }

    /// `max_samples_per_send`: the most samples a request cut from sample records holds.
    pub fn set_max_samples(&mut self, max_samples: usize) {
        self.max_samples = max_samples.max(1);
    }

    /// Sizes the lookahead of `take` for up to `shards` shards.
    pub fn set_max_shards(&mut self, shards: usize) {
        self.lookahead = LOOKAHEAD_PER_SHARD * shards.max(1);
    }

    /// The sequence number the next sealed block must carry.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Takes a newly sealed block, in `FIRST_LANE`.
    pub fn push(&mut self, block: SealedBlock) {
        self.push_in(block, FIRST_LANE);
    }

    /// Takes a newly sealed block that goes out in `lane`; its epoch is not older than any
    /// block's pushed before.
    pub fn push_in(&mut self, block: SealedBlock, lane: Lane) {
        if lane != FIRST_LANE {
            self.lanes.insert(block.seq, lane);
        }
        self.next_seq = self.next_seq.max(block.seq + 1);
        if self.disk.is_some() && (self.spilling || self.persist == Persist::Always) {
            self.write(block);
            return;
        }
        if !self.ring.fits(&block) && self.disk.is_some() {
            // The ring spills when full (SPEC, Buffer): all of it, so that
            // disk stays older than RAM.
            log::warn!("buffer: memory ring full ({} bytes), spilling to disk", self.ring.bytes());
            self.spill_all();
            self.write(block);
            return;
        }
        debug_assert!(
            self.backlog.back().is_none_or(|(m, _)| m.seq < block.seq),
            "BUG: RAM block older than disk"
        );
        let evicted = self.ring.push(block);
        if !evicted.is_empty() {
            for b in &evicted {
                self.forget(b.seq);
            }
            let samples = evicted.iter().map(|b| u64::from(b.samples)).sum();
            self.lose(DropReason::BufferFull, evicted.len() as u64, samples);
        }
    }

    /// The next block to send, if any: the backlog's first, else the ring's; `None` while the
    /// backlog's first is a sample record (use `take`).
    pub fn oldest(&mut self) -> Option<SealedBlock> {
        if self.persist == Persist::Always && self.unsynced {
            // "always": a block is on disk before its first send.
            self.sync();
        }
        while self.head.is_none() {
            let Some((meta, at)) = self.backlog.front().cloned() else { break };
            if at.kind == Kind::Samples {
                // Sample records go out only as requests cut by `take`; nothing else is older.
                return None;
            }
            let Some(disk) = &mut self.disk else { break };
            match disk.read(&at) {
                Ok(block) => {
                    debug_assert_eq!(block.seq, meta.seq, "BUG: location of another block");
                    self.replayed += 1;
                    self.head = Some(block);
                }
                Err(e) => {
                    log::error!("buffer: {e}; block {} dropped", meta.seq);
                    self.drop_block(meta.seq, DropReason::Corrupt);
                }
            }
        }
        self.head.clone().or_else(|| self.ring.oldest())
    }

    /// The next block to send, marked in flight: the oldest of a lane with
    /// nothing older unsettled, in the oldest epoch with blocks left (module doc).
    pub fn take(&mut self) -> Option<SealedBlock> {
        if self.persist == Persist::Always && self.unsynced {
            // "always": a block is on disk before its first send.
            self.sync();
        }
        loop {
            let seq = self.ready()?;
            let i = self.backlog.binary_search_by_key(&seq, |(m, _)| m.seq).ok();
            let at = i.and_then(|i| self.backlog.get(i)).map(|(_, at)| *at);
            if let (Some(i), Some(at)) = (i, at)
                && at.kind == Kind::Samples
            {
                let Some(request) = self.take_request(i) else { continue };
                self.replayed += 1;
                self.in_flight.insert(seq);
                return Some(request);
            }
            let block = match (at, &self.disk) {
                (Some(at), Some(disk)) => match disk.read(&at) {
                    Ok(block) => {
                        self.replayed += 1;
                        block
                    }
                    Err(e) => {
                        log::error!("buffer: {e}; block {seq} dropped");
                        self.drop_block(seq, DropReason::Corrupt);
                        continue;
                    }
                },
                _ => self.ring.get(seq)?,
            };
            self.in_flight.insert(seq);
            return Some(block);
        }
    }

    /// The seq `take` hands out next, if any.
    fn ready(&self) -> Option<u64> {
        let mut epoch = None;
        let mut busy: Vec<u16> = Vec::new();
        let held = self.backlog.iter().map(|(m, _)| m.seq).chain(self.ring.seqs());
        for seq in held.take(self.lookahead) {
            let lane = self.lane(seq);
            if *epoch.get_or_insert(lane.epoch) != lane.epoch {
                return None;
            }
            if busy.contains(&lane.shard) {
                continue;
            }
            busy.push(lane.shard);
            if !self.in_flight.contains(&seq) {
                return Some(seq);
            }
        }
        None
    }

    fn lane(&self, seq: u64) -> Lane {
        self.lanes.get(&seq).copied().unwrap_or(FIRST_LANE)
    }

    /// Blocks handed out by `take` and not yet settled.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Whether block `seq` is still waiting to be sent (a segment deleted for
    /// space takes its blocks away, even the one being retried).
    pub fn holds(&self, seq: u64) -> bool {
        // The backlog is in seq order (blocks are written as they are sealed).
        self.backlog.binary_search_by_key(&seq, |(m, _)| m.seq).is_ok() || self.ring.contains(seq)
    }

    /// The receiver accepted block `seq`.
    pub fn settle(&mut self, seq: u64) {
        self.remove(seq, None);
    }

    /// Block `seq` will never be sent: count it under `reason`.
    pub fn drop_block(&mut self, seq: u64, reason: DropReason) {
        self.remove(seq, Some(reason));
    }

    /// Losses since the last call.
    pub fn take_losses(&mut self) -> Vec<Loss> {
        std::mem::take(&mut self.losses)
    }

    /// The oldest undelivered sample's timestamp, ms: the first block's on
    /// disk (older than any in RAM), else the ring's first.
    pub fn oldest_timestamp_ms(&self) -> Option<i64> {
        match self.backlog.front() {
            Some((meta, _)) => Some(meta.min_timestamp_ms),
            None => self.ring.oldest().map(|b| b.min_timestamp_ms),
        }
    }

    /// Whether blocks on disk are waiting to be sent.
    pub fn backlog(&self) -> bool {
        !self.backlog.is_empty()
    }

    pub fn memory_bytes(&self) -> usize {
        self.ring.bytes()
    }

    pub fn disk_bytes(&self) -> u64 {
        self.disk.as_ref().map_or(0, Disk::bytes)
    }

    pub fn pending_samples(&self) -> u64 {
        self.ring.samples() + self.backlog_samples + self.log_pending()
    }

    /// Samples in blocks on disk.
    pub fn backlog_samples(&self) -> u64 {
        self.backlog_samples
    }

    pub fn spilled_blocks(&self) -> u64 {
        self.spilled
    }

    pub fn replayed_blocks(&self) -> u64 {
        self.replayed
    }

    fn remove(&mut self, seq: u64, reason: Option<DropReason>) {
        if self.settle_request(seq, reason) {
            return;
        }
        self.forget(seq);
        let position = self.backlog.binary_search_by_key(&seq, |(m, _)| m.seq).ok();
        let removed = match position {
            Some(0) => {
                let samples = u64::from(self.backlog[0].0.samples);
                self.backlog.pop_front();
                self.head = None;
                self.backlog_samples -= samples;
                self.delivered_front(seq);
                Some(samples)
            }
            Some(i) => {
                // Another shard's older block is still out: the cursor waits for it.
                let samples = self.backlog.remove(i).map_or(0, |(meta, _)| u64::from(meta.samples));
                self.backlog_samples -= samples;
                let closing = self.closing;
                let recorded = self.disk.as_mut().map(|d| {
                    d.set_delivered_ahead(seq).and_then(|()| if closing { d.save_ahead() } else { Ok(()) })
                });
                if let Some(Err(e)) = recorded {
                    log::error!("buffer: {e}");
                }
                Some(samples)
            }
            None => self.ring.remove(seq).map(|b| u64::from(b.samples)),
        };
        if let (Some(reason), Some(samples)) = (reason, removed) {
            self.lose(reason, 1, samples);
        }
    }

    /// The backlog's front up to `seq` left it: the cursor moves there (and past the blocks
    /// delivered ahead of it), and an empty backlog ends the outage.
    fn delivered_front(&mut self, seq: u64) {
        if let Some(disk) = &mut self.disk {
            // The prefix now also covers blocks delivered ahead of this one.
            let next = self.backlog.front().map_or(u64::MAX, |(m, _)| m.seq);
            let upto = disk.ahead().take_while(|s| *s < next).last().map_or(seq, |s| s.max(seq));
            if let Err(e) = disk.set_delivered(upto) {
                log::error!("buffer: {e}");
            }
        }
        if self.backlog.is_empty() && self.persist == Persist::Outage && self.spilling {
            self.back_to_memory();
        }
    }

    /// Forgets what is known of block `seq` beyond its place (it left the buffer).
    fn forget(&mut self, seq: u64) {
        self.in_flight.remove(&seq);
        self.lanes.remove(&seq);
    }

    fn lose(&mut self, reason: DropReason, blocks: u64, samples: u64) {
        if blocks > 0 {
            self.losses.push(Loss { reason, blocks, samples });
        }
    }
}

#[cfg(test)]
mod tests;
