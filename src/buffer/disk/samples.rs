//! Compact sample records in version 2 segments (format: `compact.rs`). A record continues the
//! dictionary and chains of the records before it in its segment, so the `Writer` is told
//! which segment its state belongs to, and a record encoded afresh goes only to a segment with
//! no record yet: every record is decodable from its own segment alone. Not yet called by
//! `Buffer` (README, "The compact outage log").

use super::{AppendError, Appended, Disk, DiskError, Location, Opener};
use crate::buffer::compact::Writer;
use crate::buffer::segment::{BlockMeta, COMPACT_VERSION, HEADER_LEN, MAX_PAYLOAD, RECORD_OVERHEAD};

impl<O: Opener> Disk<O> {
    /// Writes the samples pushed to `writer` as one record with `seq`: in the open version 2
    /// segment if the writer's state is that segment's and the record fits, else first in a
    /// new one. Deletes the oldest segments for room as `append` does. The writer then commits;
    /// on failure it drops the samples (the caller counts them). `Ok(None)`: nothing pushed.
    pub fn append_samples(
        &mut self,
        seq: u64,
        writer: &mut Writer,
    ) -> Result<Option<(BlockMeta, Appended)>, AppendError> {
        let mut payload = Vec::new();
        let mut into = self.open_compact().filter(|index| writer.segment() == Some(*index));
        if into.is_none() {
            writer.new_segment();
        }
        let Some(info) = writer.encode(&mut payload) else { return Ok(None) };
        let meta = BlockMeta {
            seq,
            min_timestamp_ms: info.min_timestamp_ms,
            max_timestamp_ms: info.max_timestamp_ms,
            samples: info.samples,
        };
        let record = (RECORD_OVERHEAD + payload.len()) as u64;
        if into.is_some() && !self.open.as_ref().is_some_and(|(s, _)| self.fits(s, record)) {
            into = None;
            writer.new_segment();
            writer.encode(&mut payload);
        }
        let limit =
            ((RECORD_OVERHEAD + MAX_PAYLOAD) as u64).min(self.disk_budget.saturating_sub(HEADER_LEN as u64));
        let record = (RECORD_OVERHEAD + payload.len()) as u64;
        if record > limit {
            writer.discard();
            let error = DiskError::TooLarge { bytes: record, limit };
            return Err(AppendError { error, dropped: Vec::new(), no_space: 0 });
        }
        let mut dropped = Vec::new();
        let mut result = self.write_samples(&meta, writer, &mut payload, &mut into, &mut dropped);
        let budget = dropped.len();
        if result.as_ref().is_err_and(DiskError::is_no_space) && !self.closed.is_empty() {
            // The oldest closed segment goes (never the open one), then once more.
            result = self
                .remove_oldest(&mut dropped)
                .and_then(|_| self.write_samples(&meta, writer, &mut payload, &mut into, &mut dropped));
        }
        let no_space = dropped.len() - budget;
        match result {
            Ok(at) => {
                writer.commit_to(at.segment);
                Ok(Some((meta, Appended { at, dropped, no_space })))
            }
            Err(error) => {
                writer.discard();
                Err(AppendError { error, dropped, no_space })
            }
        }
    }

    /// One try at writing: makes room, then appends `payload` where it can be read, encoding
    /// it afresh when the segment it continued is gone (deleted for room, or closed by a failed
    /// rollback).
    fn write_samples(
        &mut self,
        meta: &BlockMeta,
        writer: &mut Writer,
        payload: &mut Vec<u8>,
        into: &mut Option<u64>,
        dropped: &mut Vec<BlockMeta>,
    ) -> Result<Location, DiskError> {
        for _ in 0..2 {
            if into.is_some() && self.open_compact() != *into {
                *into = None;
                writer.new_segment();
                writer.encode(payload);
            }
            if into.is_none() && self.open.as_ref().is_some_and(|(s, _)| !s.blocks.is_empty()) {
                let open = self.open.take();
                self.close(open);
            }
            self.make_room((RECORD_OVERHEAD + payload.len()) as u64, dropped)?;
            // Room may have been made by deleting the open segment itself: then once more.
            if into.is_none() || self.open_compact() == *into {
                break;
            }
        }
        self.write(meta, payload, COMPACT_VERSION)
    }

    /// The index of the open segment if it is of version 2.
    fn open_compact(&self) -> Option<u64> {
        self.open.as_ref().filter(|(s, _)| s.version == COMPACT_VERSION).map(|(s, _)| s.index)
    }
}
