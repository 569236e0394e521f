//! The ring: sealed blocks in send order under a byte budget. Pure.
//!
//! Invariant: `bytes` is the sum of `cost()` over `blocks`, and never above
//! `budget` except for a single block larger than the whole budget, which is
//! kept alone rather than lost (it is still sendable).

use std::collections::VecDeque;

use crate::model::SealedBlock;

pub struct Ring {
    blocks: VecDeque<SealedBlock>,
    bytes: usize,
    budget: usize,
}

impl Ring {
    pub fn new(budget: usize) -> Self {
        Ring { blocks: VecDeque::new(), bytes: 0, budget }
    }

    /// Appends `block`; returns the oldest blocks evicted to make room, oldest first.
    pub fn push(&mut self, block: SealedBlock) -> Vec<SealedBlock> {
        debug_assert!(self.blocks.back().is_none_or(|last| last.seq < block.seq), "blocks out of order");
        let mut evicted = Vec::new();
        while !self.blocks.is_empty() && self.bytes + block.cost() > self.budget {
            if let Some(old) = self.pop_front() {
                evicted.push(old);
            }
        }
        self.bytes += block.cost();
        self.blocks.push_back(block);
        evicted
    }

    /// The block to send next (a cheap clone: the payload is shared).
    pub fn oldest(&self) -> Option<SealedBlock> {
        self.blocks.front().cloned()
    }

    /// Removes block `seq` (delivered or dropped), usually the oldest (another
    /// shard's may be older); it may already be gone, evicted while it was in flight.
    pub fn remove(&mut self, seq: u64) -> Option<SealedBlock> {
        let i = self.position(seq)?;
        let block = self.blocks.remove(i)?;
        self.bytes -= block.cost();
        Some(block)
    }

    /// Block `seq` (a cheap clone).
    pub fn get(&self, seq: u64) -> Option<SealedBlock> {
        self.blocks.get(self.position(seq)?).cloned()
    }

    /// The seqs held, oldest first.
    pub fn seqs(&self) -> impl Iterator<Item = u64> + '_ {
        self.blocks.iter().map(|b| b.seq)
    }

    fn position(&self, seq: u64) -> Option<usize> {
        self.blocks.binary_search_by_key(&seq, |b| b.seq).ok()
    }

    /// Whether `block` fits without evicting anything.
    pub fn fits(&self, block: &SealedBlock) -> bool {
        self.bytes + block.cost() <= self.budget || self.blocks.is_empty()
    }

    /// Removes and returns every block, oldest first (a spill).
    pub fn take_all(&mut self) -> Vec<SealedBlock> {
        self.bytes = 0;
        self.blocks.drain(..).collect()
    }

    pub fn contains(&self, seq: u64) -> bool {
        self.position(seq).is_some()
    }

    /// The newest block's sequence number.
    pub fn newest_seq(&self) -> Option<u64> {
        self.blocks.back().map(|b| b.seq)
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn len(&self) -> usize {
        self.blocks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }

    /// Samples held, for `samples_pending`.
    pub fn samples(&self) -> u64 {
        self.blocks.iter().map(|b| u64::from(b.samples)).sum()
    }

    fn pop_front(&mut self) -> Option<SealedBlock> {
        let block = self.blocks.pop_front()?;
        self.bytes -= block.cost();
        Some(block)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn block(seq: u64, len: usize) -> SealedBlock {
        SealedBlock {
            seq,
            payload: Bytes::from(vec![0u8; len]),
            samples: 1,
            min_timestamp_ms: 0,
            max_timestamp_ms: 0,
        }
    }

    #[test]
    fn agrees_with_a_vecdeque_model_over_random_operations() {
        let cost = block(0, 0).cost();
        for seed in 0..50 {
            let mut rng = fastrand::Rng::with_seed(seed);
            let budget = cost * 4 + rng.usize(0..400);
            let mut ring = Ring::new(budget);
            let mut model: VecDeque<SealedBlock> = VecDeque::new();
            let mut seq = 0;
            for _ in 0..500 {
                if rng.bool() {
                    seq += 1;
                    let b = block(seq, rng.usize(0..300));
                    let evicted = ring.push(b.clone());
                    let mut want = Vec::new();
                    model.push_back(b);
                    while model.len() > 1 && model.iter().map(SealedBlock::cost).sum::<usize>() > budget {
                        want.extend(model.pop_front());
                    }
                    assert_eq!(evicted, want, "seed {seed}");
                } else {
                    let front = model.front().map(|b| b.seq);
                    let target = if rng.bool() { front.unwrap_or(0) } else { seq + 1 };
                    let removed = ring.remove(target);
                    if front == Some(target) {
                        assert_eq!(removed, model.pop_front(), "seed {seed}");
                    } else {
                        assert_eq!(removed, None, "seed {seed}");
                    }
                }
                assert_eq!(ring.oldest(), model.front().cloned());
                assert_eq!(ring.len(), model.len());
                assert_eq!(ring.bytes(), model.iter().map(SealedBlock::cost).sum::<usize>());
                assert!(ring.bytes() <= budget || ring.len() == 1, "seed {seed}: over budget");
            }
        }
    }

    #[test]
    fn a_block_larger_than_the_budget_is_kept_alone() {
        let mut ring = Ring::new(10);
        assert!(ring.push(block(1, 100)).is_empty());
        let evicted = ring.push(block(2, 100));
        assert_eq!(evicted.iter().map(|b| b.seq).collect::<Vec<_>>(), [1]);
        assert_eq!(ring.oldest().map(|b| b.seq), Some(2));
    }
}
