//! The buffer between staging and the sender. `Buffer` is the sole owner of
//! the ring of sealed blocks; the sender sees `oldest()` and reports back with
//! `delivered`/`dropped`. Blocks leave in the order they were sealed.
//!
//! Memory only so far: when the ring is full its oldest block is dropped and
//! counted (`DropReason::BufferFull`).

pub mod disk;
pub mod ring;
pub mod segment;

#[cfg(doc)]
use crate::model::DropReason;
use crate::model::SealedBlock;
use ring::Ring;

pub struct Buffer {
    ring: Ring,
}

/// Samples lost by one call, by reason.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Dropped {
    pub blocks: u64,
    pub samples: u64,
}

impl Buffer {
    pub fn new(memory: usize) -> Self {
        Buffer { ring: Ring::new(memory) }
    }

    /// Takes a newly sealed block; returns what had to be dropped for it,
    /// all of it for [`DropReason::BufferFull`].
    pub fn push(&mut self, block: SealedBlock) -> Dropped {
        let evicted = self.ring.push(block);
        let samples = evicted.iter().map(|b| u64::from(b.samples)).sum();
        Dropped { blocks: evicted.len() as u64, samples }
    }

    /// The next block to send, if any.
    pub fn oldest(&self) -> Option<SealedBlock> {
        self.ring.oldest()
    }

    /// The receiver accepted block `seq`, or it was dropped after an answer:
    /// either way it leaves the buffer.
    pub fn settle(&mut self, seq: u64) {
        self.ring.remove(seq);
    }

    pub fn memory_bytes(&self) -> usize {
        self.ring.bytes()
    }

    pub fn pending_samples(&self) -> u64 {
        self.ring.samples()
    }

    pub fn blocks(&self) -> usize {
        self.ring.len()
    }
}
