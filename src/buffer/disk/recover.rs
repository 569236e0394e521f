//! Opening a data directory: every segment is scanned, a torn or corrupt tail is cut at the
//! last good record and counted, a segment with a bad header is removed and counted, and the
//! blocks not yet delivered are reported in order (SPEC, Buffer: "On start, segments are
//! scanned"). Blocks are self-contained, so damage never costs a later segment.

use std::collections::VecDeque;
use std::fs;
use std::io;
use std::path::Path;

use super::files::{
    CURSOR_FILE, DELIVERED_FILE, DRAINING_FILE, list_segments, remove_segment, segment_path, sync_dir,
};
use super::{AppendOnly, Disk, DiskError, Kind, Location, Opener, Segment, SegmentFile, Target};
use crate::buffer::compact;
use crate::buffer::segment::{self, BlockMeta, Damage, HEADER_LEN, Tail};

/// What `Disk::open` found.
#[derive(Debug, Default, PartialEq)]
pub struct Recovery {
    /// Blocks on disk not yet delivered (seq above the cursor), oldest first.
    pub pending: Vec<(BlockMeta, Location)>,
    /// Segments cut at their first bad record, or removed for a bad header.
    pub damaged: Vec<SegmentDamage>,
    /// Segments of a version this build does not send, kept as they are (a later one may).
    pub unread: Vec<(u64, Damage)>,
    /// The highest delivered seq; `None` if no cursor was ever written (or both slots are bad).
    pub cursor: Option<u64>,
    /// The `draining` file: how far a window of sample records was delivered.
    pub draining: Option<segment::Progress>,
    /// One past the highest seq on disk or in the cursor: where new blocks continue.
    pub next_seq: u64,
}

impl Recovery {
    /// Bytes cut from segment tails or removed with bad headers.
    pub fn truncated_bytes(&self) -> u64 {
        self.damaged.iter().map(|d| d.bytes).sum()
    }
}

/// One segment's loss at recovery.
#[derive(Debug, PartialEq)]
pub struct SegmentDamage {
    pub segment: u64,
    /// Where the good part ended; 0 when the header was bad and the file was removed.
    pub offset: u64,
    /// Bytes cut (or removed).
    pub bytes: u64,
    /// What was wrong; `None` for a torn tail (a write that did not finish).
    pub damage: Option<Damage>,
    /// Undelivered blocks past the damage whose records still decode: lost, and countable.
    pub lost: Vec<BlockMeta>,
    /// Records past the damage that could not be read at all, the damaged one included.
    pub unreadable: u64,
}

impl Disk<AppendOnly> {
    pub fn open(dir: &Path, segment_size: u64, disk_budget: u64) -> Result<(Self, Recovery), DiskError> {
        Disk::open_with(AppendOnly, dir, segment_size, disk_budget)
    }
}

impl<O: Opener> Disk<O> {
    /// Opens `dir` (creating it if missing), truncates each segment at its first bad record,
    /// removes segments with a bad header or with every block delivered, and reports the rest.
    /// New blocks go to a new segment: a recovered one may end in a write that was never synced.
    pub fn open_with(
        opener: O,
        dir: &Path,
        segment_size: u64,
        disk_budget: u64,
    ) -> Result<(Self, Recovery), DiskError> {
        if let Err(e) = fs::metadata(dir) {
            let dir_error = |source| DiskError::Io { op: "create", target: Target::Dir(dir.into()), source };
            if e.kind() != io::ErrorKind::NotFound {
                return Err(dir_error(e));
            }
            fs::create_dir_all(dir).map_err(dir_error)?;
            sync_dir(dir.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")))?;
        }
        let cursor = match fs::read(dir.join(CURSOR_FILE)) {
            Ok(bytes) => segment::decode_cursor(&bytes),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(source) => return Err(DiskError::Io { op: "read", target: Target::Cursor, source }),
        };
        let mut disk = Disk {
            dir: dir.into(),
            opener,
            segment_size,
            disk_budget,
            closed: VecDeque::new(),
            open: None,
            next_index: 0,
            delivered: cursor.map(|(seq, _)| seq),
            ahead: Default::default(),
            ahead_saved: false,
            draining: Default::default(),
            generation: cursor.map_or(0, |(_, generation)| generation),
            cursor: None,
            record: Vec::new(),
        };
        let mut recovery = Recovery {
            cursor: disk.delivered,
            next_seq: disk.delivered.map_or(0, |d| d.saturating_add(1)),
            ..Default::default()
        };
        match fs::read(dir.join(DELIVERED_FILE)) {
            Ok(bytes) => {
                disk.ahead_saved = true;
                let seqs = segment::decode_delivered(&bytes).unwrap_or_default();
                // A listed seq is never reused, even once its segment is gone.
                recovery.next_seq =
                    seqs.iter().map(|s| s.saturating_add(1)).fold(recovery.next_seq, u64::max);
                disk.ahead = seqs.into_iter().filter(|s| !disk.is_delivered(*s)).collect();
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(source) => return Err(DiskError::Io { op: "read", target: Target::Delivered, source }),
        }
        match fs::read(dir.join(DRAINING_FILE)) {
            Ok(bytes) => {
                let found = segment::decode_progress(&bytes);
                disk.draining.generation = found.map_or(0, |(_, generation)| generation);
                disk.draining.live = true;
                recovery.draining = found.map(|(progress, _)| progress);
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(source) => return Err(DiskError::Io { op: "read", target: Target::Delivered, source }),
        }
        let mut removed_bad = false;
        for index in list_segments(dir)? {
            disk.next_index = index + 1;
            removed_bad |= !disk.recover(index, &mut recovery)?;
        }
        if removed_bad {
            sync_dir(dir)?;
        }
        disk.remove_delivered()?;
        Ok((disk, recovery))
    }

    /// Scans segment `index`, cuts or removes its damage, and adds it to `closed` and
    /// `recovery`; false if it was removed.
    fn recover(&mut self, index: u64, recovery: &mut Recovery) -> Result<bool, DiskError> {
        let path = segment_path(&self.dir, index);
        let error = |op| move |source| DiskError::Io { op, target: Target::Segment(index), source };
        let bytes = fs::read(&path).map_err(error("read"))?;
        let mut scan = segment::scan(&bytes);
        if let Tail::Corrupt { at: 0, damage: damage @ Damage::BadVersion(_) } = &scan.tail {
            // Not ours to cut or delete, and outside the disk budget: named in the log.
            recovery.unread.push((index, damage.clone()));
            return Ok(true);
        }
        // Version 2: a record whose body does not decode is damage there, as a bad checksum is.
        let kinds = if scan.version == segment::COMPACT_VERSION {
            compact::read::check(&bytes, &mut scan)
        } else {
            vec![Kind::Block; scan.records.len()]
        };
        let metas = scan.records.iter().map(|(meta, _)| meta);
        // Saturating: a seq read from disk may be any value.
        recovery.next_seq = metas.map(|m| m.seq.saturating_add(1)).fold(recovery.next_seq, u64::max);
        let (at, damage) = match scan.tail {
            Tail::Clean => (None, None),
            Tail::Torn { at } => (Some(at), None),
            Tail::Corrupt { at, damage } => (Some(at), Some(damage)),
        };
        if let Some(at) = at {
            let lost = segment::lost(&bytes, at.max(HEADER_LEN));
            recovery.next_seq =
                lost.readable.iter().map(|m| m.seq.saturating_add(1)).fold(recovery.next_seq, u64::max);
            let undelivered = lost.readable.into_iter().filter(|m| !self.is_delivered(m.seq)).collect();
            let (offset, cut) = (at as u64, bytes.len().saturating_sub(at) as u64);
            let unreadable = lost.unreadable;
            recovery.damaged.push(SegmentDamage {
                segment: index,
                offset,
                bytes: cut,
                damage,
                lost: undelivered,
                unreadable,
            });
            if scan.valid_len == 0 {
                remove_segment(&self.dir, index)?;
                return Ok(false);
            }
            let mut file = self.opener.open(&path, false).map_err(error("open"))?;
            file.set_len(offset).map_err(error("truncate"))?;
            file.sync_data().map_err(error("sync"))?;
        }
        for ((meta, payload), kind) in scan.records.iter().zip(kinds) {
            if !self.is_delivered(meta.seq) {
                let skip = kind.skip();
                let (offset, len) = (payload.start as u64 + skip, payload.len() as u32 - skip as u32);
                recovery.pending.push((*meta, Location { segment: index, offset, len, kind }));
            }
        }
        let blocks: Vec<BlockMeta> = scan.records.into_iter().map(|(meta, _)| meta).collect();
        let (version, bytes) = (scan.version, scan.valid_len as u64);
        let segment = Segment { index, version, bytes, synced: blocks.len(), blocks };
        self.closed.push_back((segment, None));
        Ok(true)
    }
}
