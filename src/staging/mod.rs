//! Staging: samples become batches, batches become sealed blocks.
//!
//! `Staging` owns the open batches of one remote-write queue, one per shard; a
//! series goes to the shard its label hash falls to, so each series is in one
//! shard per sharding epoch. A batch is sealed when it holds
//! `max_samples_per_send` samples or when its oldest sample has waited
//! `batch_send_deadline`, whichever comes first (Prometheus queue_config).
//! Resharding seals every open batch and starts a new epoch.

pub mod batch;
pub mod encode;

use std::hash::BuildHasher;
use std::time::{Duration, Instant};

use crate::buffer::Lane;
use crate::model::SealedBlock;
use batch::Batch;
use encode::EncodedLabels;

pub struct Staging {
    /// One open batch per shard of the current epoch.
    open: Vec<Open>,
    max_samples: usize,
    deadline: Duration,
    /// The sharding epoch; blocks recovered from disk are epoch 0.
    epoch: u32,
    next_seq: u64,
    /// Fixed seed: a series keeps its shard for as long as the shard count.
    hasher: foldhash::fast::FixedState,
    /// A series' labels written out whole, for the shard hash when there are several shards
    /// (the hash is of the contiguous encoding whatever form the labels came in).
    scratch: Vec<u8>,
}

#[derive(Default)]
struct Open {
    batch: Batch,
    /// When the batch got its first sample; `None` while it is empty.
    opened: Option<Instant>,
}

impl Staging {
    /// One shard, epoch 1.
    pub fn new(max_samples: usize, deadline: Duration, first_seq: u64) -> Self {
        Staging {
            open: vec![Open::default()],
            max_samples: max_samples.max(1),
            deadline,
            epoch: 1,
            next_seq: first_seq,
            hasher: foldhash::fast::FixedState::with_seed(0),
            scratch: Vec::new(),
        }
    }

    /// Adds one sample; returns the sealed block when this sample filled a batch.
    pub fn push<L: EncodedLabels + ?Sized>(
        &mut self,
        labels: &L,
        value: f64,
        timestamp_ms: i64,
        now: Instant,
    ) -> Option<SealedBlock> {
        self.push_in(labels, value, timestamp_ms, now).map(|(block, _)| block)
    }

    /// `push`, with the lane the sealed block goes out in.
    pub fn push_in<L: EncodedLabels + ?Sized>(
        &mut self,
        labels: &L,
        value: f64,
        timestamp_ms: i64,
        now: Instant,
    ) -> Option<(SealedBlock, Lane)> {
        let shard = match self.open.len() {
            1 => 0,
            n => (self.hasher.hash_one(labels.contiguous(&mut self.scratch)) % n as u64) as usize,
        };
        let open = &mut self.open[shard];
        open.opened.get_or_insert(now);
        open.batch.push(labels, value, timestamp_ms);
        if open.batch.samples() >= self.max_samples { self.seal_shard(shard) } else { None }
    }

    /// `labels` as one slice (written out into a buffer kept here when they come in pieces).
    pub fn contiguous<'a, L: EncodedLabels + ?Sized>(&'a mut self, labels: &'a L) -> &'a [u8] {
        labels.contiguous(&mut self.scratch)
    }

    /// When an open batch must be sealed at the latest; `None` while all are empty.
    pub fn due(&self) -> Option<Instant> {
        self.open.iter().filter_map(|o| o.opened).min().map(|t| t + self.deadline)
    }

    /// Seals an open batch whose deadline has passed, if any (call until `None`).
    pub fn seal_due(&mut self, now: Instant) -> Option<(SealedBlock, Lane)> {
        let shard = self.open.iter().position(|o| o.opened.is_some_and(|t| now >= t + self.deadline))?;
        self.seal_shard(shard)
    }

    /// Seals an open batch now, whatever its size (shutdown; call until `None`).
    pub fn seal(&mut self) -> Option<(SealedBlock, Lane)> {
        let shard = self.open.iter().position(|o| o.batch.samples() > 0)?;
        self.seal_shard(shard)
    }

    /// Seals every open batch (the old epoch's last blocks) and starts the next epoch with
    /// `shards` shards.
    pub fn reshard(&mut self, shards: usize) -> Vec<(SealedBlock, Lane)> {
        let sealed = std::iter::from_fn(|| self.seal()).collect();
        self.open = (0..shards.max(1)).map(|_| Open::default()).collect();
        self.epoch += 1;
        sealed
    }

    /// The next block sealed carries at least `seq` (the buffer used the seqs below it for
    /// sample records of an outage).
    pub fn skip_to(&mut self, seq: u64) {
        self.next_seq = self.next_seq.max(seq);
    }

    /// Samples waiting in open batches.
    pub fn pending(&self) -> usize {
        self.open.iter().map(|o| o.batch.samples()).sum()
    }

    fn seal_shard(&mut self, shard: usize) -> Option<(SealedBlock, Lane)> {
        let open = &mut self.open[shard];
        open.opened = None;
        let block = open.batch.seal(self.next_seq)?;
        self.next_seq += 1;
        // At most `max_shards` shards, far below u16::MAX in any sane config.
        let shard = u16::try_from(shard).unwrap_or(u16::MAX);
        Some((block, Lane { epoch: self.epoch, shard }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeSet, HashMap};

    #[test]
    fn seals_when_full_and_when_due() {
        let t0 = Instant::now();
        let mut s = Staging::new(3, Duration::from_secs(5), 7);
        assert!(s.push(b"", 1.0, 1, t0).is_none());
        assert!(s.push(b"", 2.0, 2, t0).is_none());
        let full = s.push(b"", 3.0, 3, t0).expect("third sample fills the batch");
        assert_eq!((full.seq, full.samples, full.min_timestamp_ms, full.max_timestamp_ms), (7, 3, 1, 3));
        assert_eq!(s.due(), None);

        let t1 = t0 + Duration::from_secs(1);
        assert!(s.push(b"", 4.0, 4, t1).is_none());
        assert_eq!(s.due(), Some(t1 + Duration::from_secs(5)));
        assert!(s.seal_due(t1 + Duration::from_millis(4999)).is_none());
        let (due, lane) = s.seal_due(t1 + Duration::from_secs(5)).expect("deadline passed");
        assert_eq!((due.seq, due.samples, lane), (8, 1, Lane { epoch: 1, shard: 0 }));
        assert!(s.seal().is_none(), "an empty batch seals to nothing");
    }

    #[test]
    fn a_series_keeps_its_shard_and_resharding_seals_everything_into_the_old_epoch() {
        let t0 = Instant::now();
        let series: Vec<Vec<u8>> = (0..64).map(|i| format!("series{i}").into_bytes()).collect();
        // One-sample batches: every push seals, and tells the series' shard.
        let mut s = Staging::new(1, Duration::from_secs(5), 0);
        assert!(s.reshard(4).is_empty(), "nothing open");
        let mut shard_of = HashMap::new();
        for round in 0..3 {
            for labels in &series {
                let (block, lane) = s.push_in(labels, 1.0, round, t0).expect("a block per sample");
                assert_eq!(lane.epoch, 2);
                assert_eq!(block.samples, 1);
                assert_eq!(*shard_of.entry(labels.clone()).or_insert(lane.shard), lane.shard, "stable");
            }
        }
        let used: BTreeSet<u16> = shard_of.values().copied().collect();
        assert_eq!(used.len(), 4, "64 series spread over all 4 shards");

        let mut s = Staging::new(10, Duration::from_secs(5), 100);
        s.reshard(3);
        for labels in &series[..8] {
            assert!(s.push_in(labels, 1.0, 0, t0).is_none());
        }
        let sealed = s.reshard(2);
        assert_eq!(sealed.iter().map(|(b, _)| b.samples).sum::<u32>(), 8, "every staged sample sealed");
        assert!(sealed.iter().all(|(_, lane)| lane.epoch == 2), "in the old epoch");
        let seqs: Vec<u64> = sealed.iter().map(|(b, _)| b.seq).collect();
        assert!(seqs.windows(2).all(|w| w[0] < w[1]) && seqs[0] == 100, "seqs shared by all shards");
        assert_eq!(s.pending(), 0);
        assert!(s.push_in(b"a", 1.0, 1, t0).is_none());
        let (_, lane) = s.seal().expect("sealed on demand");
        assert_eq!(lane.epoch, 3);
    }
}
