//! Staging: samples become batches, batches become sealed blocks.
//!
//! `Staging` owns the open batch of one remote-write queue. A batch is sealed
//! when it holds `max_samples_per_send` samples or when its oldest sample has
//! waited `batch_send_deadline`, whichever comes first (Prometheus queue_config).

pub mod batch;
pub mod encode;

use std::time::{Duration, Instant};

use crate::model::SealedBlock;
use batch::Batch;

pub struct Staging {
    batch: Batch,
    max_samples: usize,
    deadline: Duration,
    /// When the open batch got its first sample; `None` while it is empty.
    opened: Option<Instant>,
    next_seq: u64,
}

impl Staging {
    pub fn new(max_samples: usize, deadline: Duration, first_seq: u64) -> Self {
        Staging {
            batch: Batch::default(),
            max_samples: max_samples.max(1),
            deadline,
            opened: None,
            next_seq: first_seq,
        }
    }

    /// Adds one sample; returns the sealed block when this sample filled the batch.
    pub fn push(
        &mut self,
        labels: &[u8],
        value: f64,
        timestamp_ms: i64,
        now: Instant,
    ) -> Option<SealedBlock> {
        self.opened.get_or_insert(now);
        self.batch.push(labels, value, timestamp_ms);
        if self.batch.samples() >= self.max_samples { self.seal() } else { None }
    }

    /// When the open batch must be sealed at the latest; `None` while empty.
    pub fn due(&self) -> Option<Instant> {
        self.opened.map(|t| t + self.deadline)
    }

    /// Seals the open batch if its deadline has passed.
    pub fn seal_due(&mut self, now: Instant) -> Option<SealedBlock> {
        match self.due() {
            Some(due) if now >= due => self.seal(),
            _ => None,
        }
    }

    /// Seals the open batch now, whatever its size (shutdown, deadline).
    pub fn seal(&mut self) -> Option<SealedBlock> {
        self.opened = None;
        let block = self.batch.seal(self.next_seq)?;
        self.next_seq += 1;
        Some(block)
    }

    /// Samples waiting in the open batch.
    pub fn pending(&self) -> usize {
        self.batch.samples()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let due = s.seal_due(t1 + Duration::from_secs(5)).expect("deadline passed");
        assert_eq!((due.seq, due.samples), (8, 1));
        assert!(s.seal().is_none(), "an empty batch seals to nothing");
    }
}
