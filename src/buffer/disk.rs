//! The only code that touches `data_dir`: segment files (format in `segment.rs`) and the send
//! cursor. `Disk` owns the open segment and the index of every segment's blocks; it moves to a
//! blocking thread and back, one call at a time. It promises: segment bytes never exceed the
//! disk budget; an append never leaves a torn record mid-file; a segment whose fsync failed is
//! never written to or trusted again; every undelivered block it deletes is handed back to be
//! counted. After any create or delete, the directory is fsynced (STYLE, "The on-disk format").

mod error;
mod files;
mod lock;
mod recover;
mod samples;

use std::collections::{BTreeSet, VecDeque};
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

use bytes::Bytes;

pub use error::{AppendError, DiskError, Target};
pub use files::{AppendOnly, Opener, SegmentFile};
use files::{
    CURSOR_FILE, DELIVERED_FILE, DRAINING_FILE, open_in_place, remove_file, remove_segment, rename,
    segment_path, sync_dir, write_all, write_at, write_synced,
};
pub use lock::{DirLock, LOCK_FILE, LockError};
pub use recover::{Recovery, SegmentDamage};

use super::segment::{
    self, BlockMeta, CURSOR_SLOT_LEN, Damage, Frame, HEADER_LEN, MAX_PAYLOAD, RECORD_OVERHEAD, VERSION,
};
use crate::buffer::compact::{KIND_SAMPLES, RecordError};
use crate::model::SealedBlock;

/// Where a record is: its segment, and the offset and length of its block (after a version 2
/// kind byte) or sample payload in that file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Location {
    pub segment: u64,
    pub offset: u64,
    pub len: u32,
    pub kind: Kind,
}

/// What a record at a `Location` holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Kind {
    /// A sealed block, the whole payload of a version 1 record.
    #[default]
    Block,
    /// A sealed block in a version 2 record, after its kind byte (`compact.rs`, kind 0).
    TaggedBlock,
    /// Compact samples (`compact.rs`): decodable only after the segment's records before it.
    Samples,
}

impl Kind {
    /// Bytes between the record's meta and the location's offset.
    fn skip(self) -> u64 {
        u64::from(self == Kind::TaggedBlock)
    }
}

/// An append's result: where the block went.
#[derive(Debug, PartialEq)]
pub struct Appended {
    pub at: Location,
    /// Undelivered blocks of segments deleted to make room, oldest first: dropped, disk full.
    pub dropped: Vec<BlockMeta>,
    /// How many of `dropped`, at its end, went because the file system was full (ENOSPC)
    /// rather than for `buffer.disk`.
    pub no_space: usize,
}

/// The segments in `data_dir` and the send cursor. Owned by `buffer::Buffer`, which keeps its
/// own index of locations; `Disk` keeps each segment's block metas to know what a deletion drops.
/// Invariant: segment indexes increase from `closed.front()` to `open`, and so do block seqs.
pub struct Disk<O: Opener = AppendOnly> {
    dir: PathBuf,
    opener: O,
    segment_size: u64,
    disk_budget: u64,
    /// Segments no longer appended to, oldest first, each with its file while some of its
    /// blocks are not yet synced.
    closed: VecDeque<(Segment, Option<O::File>)>,
    /// The segment appends go to; newer than every closed one. `None` until the first append
    /// after open, a poisoning fsync, a failed rollback, or its deletion.
    open: Option<(Segment, O::File)>,
    next_index: u64,
    /// Every seq up to this one is delivered, as the cursor file says.
    delivered: Option<u64>,
    /// Seqs above `delivered` that are delivered too (several shards deliver out of order);
    /// persisted by `save_ahead` only.
    ahead: BTreeSet<u64>,
    /// Whether a `delivered` file exists.
    ahead_saved: bool,
    /// The `draining` file (`save_progress`).
    draining: Draining,
    /// Generation of the cursor slot last written.
    generation: u32,
    cursor: Option<File>,
    /// The record being written, kept to reuse its allocation.
    record: Vec<u8>,
}

/// The draining file as last written.
#[derive(Default)]
struct Draining {
    file: Option<File>,
    /// Generation of the slot last written.
    generation: u32,
    /// Whether the slot last written names a window.
    live: bool,
}

/// What is known about one segment file.
struct Segment {
    index: u64,
    /// The header's version: 1 holds sealed blocks, 2 compact sample records (`samples.rs`).
    version: u16,
    /// File length: the header and whole records, plus a torn one after a failed rollback.
    bytes: u64,
    /// Blocks in file order (so in seq order).
    blocks: Vec<BlockMeta>,
    /// `blocks[..synced]` are on flash.
    synced: usize,
}

impl<O: Opener> Disk<O> {
    /// Writes one block. First deletes the oldest segments while the record would take disk use
    /// past the budget; on ENOSPC, deletes the oldest closed segment and tries once more.
    pub fn append(&mut self, meta: &BlockMeta, payload: &[u8]) -> Result<Appended, AppendError> {
        let record = (RECORD_OVERHEAD + payload.len()) as u64;
        let limit =
            ((RECORD_OVERHEAD + MAX_PAYLOAD) as u64).min(self.disk_budget.saturating_sub(HEADER_LEN as u64));
        if record > limit {
            return Err(AppendError {
                error: DiskError::TooLarge { bytes: record, limit },
                dropped: Vec::new(),
                no_space: 0,
            });
        }
        let mut dropped = Vec::new();
        let mut result =
            self.make_room(record, &mut dropped).and_then(|()| self.write(meta, payload, VERSION));
        let budget = dropped.len();
        if result.as_ref().is_err_and(DiskError::is_no_space) && !self.closed.is_empty() {
            result = self.remove_oldest(&mut dropped).and_then(|_| self.write(meta, payload, VERSION));
        }
        let no_space = dropped.len() - budget;
        match result {
            Ok(at) => Ok(Appended { at, dropped, no_space }),
            Err(error) => Err(AppendError { error, dropped, no_space }),
        }
    }

    fn make_room(&mut self, record: u64, dropped: &mut Vec<BlockMeta>) -> Result<(), DiskError> {
        loop {
            let header =
                if self.open.as_ref().is_some_and(|(s, _)| self.fits(s, record)) { 0 } else { HEADER_LEN };
            if self.bytes() + record + header as u64 <= self.disk_budget || !self.remove_oldest(dropped)? {
                return Ok(());
            }
        }
    }

    /// Whether a record goes into `segment`: it fits, or it is the first (a block larger than a
    /// whole segment gets a segment of its own).
    fn fits(&self, segment: &Segment, record: u64) -> bool {
        segment.blocks.is_empty() || segment.bytes + record <= self.segment_size
    }

    /// Appends a record to the open segment if it is of `version` and the record fits, else to
    /// a new segment of `version`.
    fn write(&mut self, meta: &BlockMeta, payload: &[u8], version: u16) -> Result<Location, DiskError> {
        let record = (RECORD_OVERHEAD + payload.len()) as u64;
        let (mut segment, mut file) = match self.open.take() {
            Some(open) if open.0.version == version && self.fits(&open.0, record) => open,
            other => {
                self.close(other);
                self.create(version)?
            }
        };
        debug_assert!(segment.blocks.last().is_none_or(|last| last.seq < meta.seq), "blocks out of order");
        self.record.clear();
        segment::encode_record(meta, payload, &mut self.record);
        let (index, good) = (segment.index, segment.bytes);
        if let Err(source) = write_all(&mut file, &self.record) {
            if file.set_len(good).is_ok() {
                self.open = Some((segment, file));
            } else {
                // A torn record stays at the end: nothing may follow it; recovery cuts it.
                segment.bytes = file.len().unwrap_or(good + record);
                self.close(Some((segment, file)));
            }
            return Err(DiskError::Io { op: "write", target: Target::Segment(index), source });
        }
        segment.bytes += record;
        segment.blocks.push(*meta);
        self.open = Some((segment, file));
        let kind = if version == VERSION { Kind::Block } else { Kind::Samples };
        Ok(Location {
            segment: index,
            offset: good + RECORD_OVERHEAD as u64,
            len: payload.len() as u32,
            kind,
        })
    }

    fn close(&mut self, open: Option<(Segment, O::File)>) {
        if let Some((segment, file)) = open {
            let unsynced = segment.synced < segment.blocks.len();
            self.closed.push_back((segment, unsynced.then_some(file)));
        }
    }

    /// A new segment holding just the header, its directory entry synced.
    fn create(&mut self, version: u16) -> Result<(Segment, O::File), DiskError> {
        let index = self.next_index;
        self.next_index += 1;
        let path = segment_path(&self.dir, index);
        let error = |op| move |source| DiskError::Io { op, target: Target::Segment(index), source };
        let mut file = self.opener.open(&path, true).map_err(error("create"))?;
        let created = write_all(&mut file, &segment::header_of(version)).map_err(error("write"));
        if let Err(e) = created.and_then(|()| sync_dir(&self.dir)) {
            // Best effort: a leftover has no records, and `open` removes it.
            let _ = remove_file(&path);
            return Err(e);
        }
        Ok((Segment { index, version, bytes: HEADER_LEN as u64, blocks: Vec::new(), synced: 0 }, file))
    }

    /// Syncs every segment with unsynced blocks. A failure poisons the segment: closed, never
    /// synced again, its unsynced blocks reported at risk (a retried fsync can report success
    /// for data the kernel already dropped: fjall `Poisoned`, ATC'20 "Can applications recover
    /// from fsync failures?"). The error names the first failing segment and all blocks at risk.
    pub fn sync(&mut self) -> Result<(), DiskError> {
        let mut failure: Option<(u64, io::Error)> = None;
        let mut at_risk = Vec::new();
        let mut sync = |segment: &mut Segment, file: &mut O::File| match file.sync_data() {
            Ok(()) => segment.synced = segment.blocks.len(),
            Err(e) => {
                at_risk.extend_from_slice(segment.blocks.get(segment.synced..).unwrap_or_default());
                failure.get_or_insert((segment.index, e));
            }
        };
        for (segment, file) in &mut self.closed {
            if let Some(mut f) = file.take() {
                sync(segment, &mut f);
            }
        }
        if let Some((mut segment, mut file)) = self.open.take() {
            if segment.synced < segment.blocks.len() {
                sync(&mut segment, &mut file);
            }
            let poisoned = segment.synced < segment.blocks.len();
            if poisoned {
                self.closed.push_back((segment, None));
            } else {
                self.open = Some((segment, file));
            }
        }
        match failure {
            None => Ok(()),
            Some((segment, source)) => Err(DiskError::Poisoned { segment, source, at_risk }),
        }
    }

    /// The block at `at`, its checksum checked again.
    pub fn read(&self, at: &Location) -> Result<SealedBlock, DiskError> {
        let corrupt = |damage| DiskError::Corrupt { segment: at.segment, offset: at.offset, damage };
        if at.kind == Kind::Samples {
            return Err(corrupt(Damage::Record(RecordError::UnknownKind(KIND_SAMPLES))));
        }
        let (len, skip) = (at.len as usize + at.kind.skip() as usize, at.kind.skip() as usize);
        let start =
            at.offset.checked_sub(RECORD_OVERHEAD as u64 + at.kind.skip()).filter(|_| len <= MAX_PAYLOAD);
        let Some(start) = start else { return Err(corrupt(Damage::Length(at.len))) };
        let error = |op| move |source| DiskError::Io { op, target: Target::Segment(at.segment), source };
        let file = File::open(segment_path(&self.dir, at.segment)).map_err(error("open"))?;
        let mut buf = vec![0; RECORD_OVERHEAD + len];
        file.read_exact_at(&mut buf, start).map_err(error("read"))?;
        let stored_len = buf.first_chunk().map_or(0, |b| u32::from_le_bytes(*b));
        let meta = match segment::decode(&buf) {
            Frame::Record { meta, len, .. } if len == buf.len() => meta,
            Frame::Record { .. } | Frame::Torn => return Err(corrupt(Damage::Length(stored_len))),
            Frame::Corrupt(damage) => return Err(corrupt(damage)),
        };
        Ok(SealedBlock {
            seq: meta.seq,
            payload: Bytes::from(buf).slice(RECORD_OVERHEAD + skip..),
            samples: meta.samples,
            min_timestamp_ms: meta.min_timestamp_ms,
            max_timestamp_ms: meta.max_timestamp_ms,
        })
    }

    /// The bytes `range` of segment `segment` (whole records, as a drain of sample records
    /// reads them: `Buffer`), or fewer if the file ends first.
    pub fn read_bytes(&self, segment: u64, range: std::ops::Range<u64>) -> Result<Vec<u8>, DiskError> {
        let error = |op| move |source| DiskError::Io { op, target: Target::Segment(segment), source };
        let file = File::open(segment_path(&self.dir, segment)).map_err(error("open"))?;
        // Locations come from this segment's index, within its length.
        let len = usize::try_from(range.end.saturating_sub(range.start)).unwrap_or(usize::MAX);
        let mut buf = vec![0; len];
        let mut filled = 0;
        while filled < buf.len() {
            match file.read_at(&mut buf[filled..], range.start + filled as u64) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(source) => return Err(error("read")(source)),
            }
        }
        buf.truncate(filled);
        Ok(buf)
    }

    /// Persists "every block up to `seq` is delivered", then deletes the segments that holds
    /// nothing else (the open one too: the next append starts a new segment).
    pub fn set_delivered(&mut self, seq: u64) -> Result<(), DiskError> {
        if self.delivered.is_some_and(|d| seq <= d) {
            return Ok(());
        }
        let error = |op| move |source| DiskError::Io { op, target: Target::Cursor, source };
        let path = self.dir.join(CURSOR_FILE);
        let file = match self.cursor.take() {
            Some(file) => file,
            None => {
                // Never truncate: the slot not being written holds the last good value.
                let file = open_in_place(&path).map_err(error("open"))?;
                sync_dir(&self.dir)?;
                file
            }
        };
        // A failed write leaves `generation` as it was, so the retry goes to the same slot and
        // the other slot keeps the last value known good.
        let generation = self.generation.wrapping_add(1);
        let offset = u64::from(generation % 2) * CURSOR_SLOT_LEN as u64;
        let written = write_at(&file, &path, &segment::encode_cursor_slot(seq, generation), offset);
        let synced = written
            .map_err(error("write"))
            .and_then(|()| files::sync_data(&file, &path).map_err(error("sync")));
        self.cursor = Some(file);
        synced?;
        self.generation = generation;
        self.delivered = Some(seq);
        self.ahead = self.ahead.split_off(&(seq.saturating_add(1)));
        self.remove_delivered()
    }

    /// Block `seq`, above the cursor, is delivered (or dropped): kept in memory, written by
    /// `save_ahead`. Deletes its segment if nothing in it is left to send.
    pub fn set_delivered_ahead(&mut self, seq: u64) -> Result<(), DiskError> {
        if !self.is_delivered(seq) {
            self.ahead.insert(seq);
            self.remove_delivered()?;
        }
        Ok(())
    }

    /// The delivered seqs above the cursor, ascending.
    pub fn ahead(&self) -> impl Iterator<Item = u64> + '_ {
        self.ahead.iter().copied()
    }

    /// Persists the blocks delivered above the cursor (a clean stop then re-sends none), or
    /// removes the file when there are none. Written aside, synced, renamed over the old one.
    pub fn save_ahead(&mut self) -> Result<(), DiskError> {
        let path = self.dir.join(DELIVERED_FILE);
        let error = |op| move |source| DiskError::Io { op, target: Target::Delivered, source };
        if self.ahead.is_empty() {
            if std::mem::take(&mut self.ahead_saved) {
                match remove_file(&path) {
                    Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(error("remove")(e)),
                    _ => sync_dir(&self.dir)?,
                }
            }
            return Ok(());
        }
        let seqs: Vec<u64> = self.ahead.iter().copied().collect();
        let tmp = self.dir.join(format!("{DELIVERED_FILE}.tmp"));
        let written =
            write_synced(&tmp, &segment::encode_delivered(&seqs)).and_then(|()| rename(&tmp, &path));
        written.map_err(error("write"))?;
        self.ahead_saved = true;
        sync_dir(&self.dir)
    }

    /// Persists how far the window of sample records being sent was delivered, in place in
    /// the slot not holding the last value (`segment.rs`, "The draining file"); `None`: the
    /// window is delivered (written only if a window was named).
    pub fn save_progress(&mut self, progress: Option<&segment::Progress>) -> Result<(), DiskError> {
        let progress = match progress {
            Some(p) => p,
            None if !self.draining.live => return Ok(()),
            None => &segment::Progress::NONE,
        };
        let error = |op| move |source| DiskError::Io { op, target: Target::Delivered, source };
        let file = match self.draining.file.take() {
            Some(file) => file,
            None => {
                let file = open_in_place(&self.dir.join(DRAINING_FILE)).map_err(error("open"))?;
                sync_dir(&self.dir)?;
                file
            }
        };
        let generation = self.draining.generation.wrapping_add(1);
        let offset = u64::from(generation % 2) * segment::PROGRESS_SLOT_LEN as u64;
        let path = self.dir.join(DRAINING_FILE);
        let written = write_at(&file, &path, &segment::encode_progress_slot(progress, generation), offset);
        let synced = written
            .map_err(error("write"))
            .and_then(|()| files::sync_data(&file, &path).map_err(error("sync")));
        self.draining.file = Some(file);
        synced?;
        self.draining.generation = generation;
        self.draining.live = progress.first_seq != u64::MAX;
        Ok(())
    }

    /// Segment bytes on disk (the 32-byte cursor file aside).
    pub fn bytes(&self) -> u64 {
        self.closed.iter().map(|(s, _)| s.bytes).chain(self.open.as_ref().map(|(s, _)| s.bytes)).sum()
    }

    /// The directory the segments are in (`data_dir` or a queue directory under it).
    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    /// Segment files on disk.
    pub fn segments(&self) -> usize {
        self.closed.len() + usize::from(self.open.is_some())
    }

    fn is_delivered(&self, seq: u64) -> bool {
        self.delivered.is_some_and(|d| seq <= d) || self.ahead.contains(&seq)
    }

    /// Deletes the oldest segment, adding its undelivered blocks to `dropped`; false if none.
    fn remove_oldest(&mut self, dropped: &mut Vec<BlockMeta>) -> Result<bool, DiskError> {
        let (segment, file) = if let Some(closed) = self.closed.pop_front() {
            closed
        } else if let Some((segment, file)) = self.open.take() {
            (segment, Some(file))
        } else {
            return Ok(false);
        };
        if let Err(e) = remove_segment(&self.dir, segment.index) {
            self.closed.push_front((segment, file));
            return Err(e);
        }
        dropped.extend(segment.blocks.into_iter().filter(|m| !self.is_delivered(m.seq)));
        sync_dir(&self.dir)?;
        Ok(true)
    }

    /// Deletes every segment whose blocks are all delivered, the open one included.
    fn remove_delivered(&mut self) -> Result<(), DiskError> {
        let (delivered, ahead) = (self.delivered, &self.ahead);
        let done = |s: &Segment| {
            let below = |seq: u64| delivered.is_some_and(|d| seq <= d);
            s.blocks.last().is_none_or(|last| below(last.seq))
                || (!ahead.is_empty() && s.blocks.iter().all(|m| below(m.seq) || ahead.contains(&m.seq)))
        };
        let mut removed = false;
        let mut i = 0;
        while let Some((segment, _)) = self.closed.get(i) {
            if done(segment) {
                remove_segment(&self.dir, segment.index)?;
                self.closed.remove(i);
                removed = true;
            } else {
                i += 1;
            }
        }
        if let Some((segment, _)) = self.open.as_ref().filter(|(s, _)| done(s)) {
            remove_segment(&self.dir, segment.index)?;
            self.open = None;
            removed = true;
        }
        if removed { sync_dir(&self.dir) } else { Ok(()) }
    }
}

#[cfg(test)]
pub(crate) mod tests;
