//! The segment file format and the send cursor format, as bytes in and values out. Pure:
//! no file is opened here; `disk.rs` does the I/O. Decoding never panics on any input and tells
//! "need more bytes" (`Torn`) from "these bytes are wrong" (`Corrupt`).
//!
//! # Segment files
//!
//! A segment is an append-only file: an 8-byte header, then records back to back, nothing else.
//!
//! ```text
//! header   "OPSG" | version u16 LE = 1 or 2 | 2 reserved bytes, zero
//! record   len u32 LE | crc32c u32 LE | meta (28 bytes) | payload (len - 28 bytes)
//! meta     seq u64 LE | min_timestamp_ms i64 LE | max_timestamp_ms i64 LE | samples u32 LE
//! ```
//!
//! - `len` counts meta and payload, and is bounded: `28 <= len <= 28 + 32 MiB`. A `len` out of
//!   bounds is damage, never an allocation.
//! - `crc32c` is CRC-32C (Castagnoli) over meta and payload, the bytes `len` counts. It catches
//!   every single-bit error; a flipped bit in `len` itself either leaves the bounds, or moves the
//!   end of the record so the checksum no longer matches, or (in the last record only) points
//!   past the end of the file, which reads as a torn tail.
//! - In version 1, the payload is a sealed block's body: a snappy-compressed remote-write
//!   request, stored as is. Version 2 adds compact sample records for outages: its payloads
//!   start with a kind byte (`compact.rs` has that format).
//! - Records never span segments and never refer to each other, so damage in one segment costs
//!   only the records from the damage to the end of that segment (SPEC, Buffer).
//! - A nonzero reserved byte reads as an unsupported version: a later version may use them as
//!   flags that this one would not understand. A segment of a version this one does not read
//!   is kept as it is and not sent (a later version may read it).
//!
//! Reading a segment: check the header, then decode records until the first that is not whole
//! (`Torn`: a write that did not finish) or not right (`Corrupt`); everything before it is good
//! and the file is cut there ([`scan`]).
//!
//! # The cursor file
//!
//! `cursor` holds the highest delivered `seq` in two 16-byte slots:
//!
//! ```text
//! slot     delivered_seq u64 LE | generation u32 LE | crc32c u32 LE over the first 12 bytes
//! file     slot 0 | slot 1                               (32 bytes)
//! ```
//!
//! Generation `g` is written in place to slot `g % 2`, so each write lands on the slot holding
//! the value before last. A torn in-place write can only damage the slot being written; the
//! other still holds the previous value, intact. Reading takes the valid slot with the newer
//! generation (compared modulo 2^32, so the counter may wrap); no valid slot means no cursor.
//!
//! # The delivered file
//!
//! With more than one shard, blocks are delivered out of seq order, and the cursor covers only
//! the delivered prefix. `delivered` lists blocks above the cursor that are delivered too (or
//! dropped: never to be sent). It is written at a spill or shutdown, to a temporary file that
//! is synced and renamed over it, and removed when there is nothing to list; with one shard it
//! never exists.
//!
//! ```text
//! file     count u32 LE | seq u64 LE, count times | crc32c u32 LE over everything before it
//! ```
//!
//! A file that is short, long or fails its checksum lists nothing: those blocks are sent again.
//!
//! # The draining file
//!
//! Sample records are sent a window at a time: consecutive records, their samples gathered per
//! series and cut into requests (`compact::drain`); the records are delivered once every request
//! of the window is (the cursor then moves past them). `draining` says how many requests of the
//! window being sent were delivered, written as each one is, so a restart re-sends none of them
//! (a crash: at most those in flight, as for blocks). Two slots written in turn, as the cursor's:
//!
//! ```text
//! slot     first_seq u64 LE | last_seq u64 LE | samples u64 LE | max_samples u32 LE
//!          | requests u32 LE | generation u32 LE | crc32c u32 LE over the first 36 bytes
//! file     slot 0 | slot 1                                          (80 bytes)
//! ```
//!
//! The valid slot with the newer generation counts, and only for the window it names: the
//! records `first_seq..=last_seq` read again hold `samples` samples and are cut into requests
//! of `max_samples`. Anything else (another window, no valid slot) counts nothing: the window
//! is sent whole. A delivered window is overwritten with one that names no seq
//! (`first_seq = u64::MAX`).

use std::fmt;
use std::ops::Range;

use crate::model::SealedBlock;

pub const HEADER_LEN: usize = 8;
pub const META_LEN: usize = 28;
/// `len` and `crc32c` before the meta, plus the meta.
pub const RECORD_OVERHEAD: usize = 8 + META_LEN;
/// The largest payload a record may carry.
pub const MAX_PAYLOAD: usize = 32 << 20;
pub const MAGIC: [u8; 4] = *b"OPSG";
pub const VERSION: u16 = 1;
/// Segments whose payloads start with a kind byte, sample records among them (`compact.rs`).
pub const COMPACT_VERSION: u16 = 2;
pub const CURSOR_LEN: usize = 2 * CURSOR_SLOT_LEN;
pub const CURSOR_SLOT_LEN: usize = 16;

/// What a record says about its block, so the buffer can index and count it unread.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockMeta {
    pub seq: u64,
    pub min_timestamp_ms: i64,
    pub max_timestamp_ms: i64,
    pub samples: u32,
}

impl BlockMeta {
    pub fn of(block: &SealedBlock) -> Self {
        BlockMeta {
            seq: block.seq,
            min_timestamp_ms: block.min_timestamp_ms,
            max_timestamp_ms: block.max_timestamp_ms,
            samples: block.samples,
        }
    }
}

/// One step of decoding at a record boundary.
#[derive(Debug, PartialEq)]
pub enum Frame<'a> {
    /// A whole, checked record; `len` is the bytes it took, `len` and `crc32c` included.
    Record {
        meta: BlockMeta,
        payload: &'a [u8],
        len: usize,
    },
    /// The bytes end before the record does (or there are none).
    Torn,
    Corrupt(Damage),
}

/// What is wrong with bytes that are all there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Damage {
    BadMagic,
    /// The version field, when it or the reserved bytes are not what this version writes.
    BadVersion(u16),
    /// A record `len` outside `META_LEN..=META_LEN + MAX_PAYLOAD`.
    Length(u32),
    Checksum {
        stored: u32,
        computed: u32,
    },
    /// A version 2 record whose checksum holds but whose body does not decode (`compact.rs`).
    Record(crate::buffer::compact::RecordError),
}

impl fmt::Display for Damage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Damage::BadMagic => f.write_str("bad magic"),
            Damage::BadVersion(version @ VERSION..=COMPACT_VERSION) => {
                write!(f, "unsupported header (version {version}, reserved bytes set)")
            }
            Damage::BadVersion(version) => write!(f, "unsupported version {version}"),
            Damage::Length(len) => write!(f, "record length {len} out of bounds"),
            Damage::Checksum { stored, computed } => {
                write!(f, "checksum mismatch (stored {stored:#010x}, computed {computed:#010x})")
            }
            Damage::Record(e) => e.fmt(f),
        }
    }
}

/// The result of checking a segment header.
#[derive(Debug, PartialEq)]
pub enum Header {
    /// Version 1 or 2.
    Valid(u16),
    Torn,
    Corrupt(Damage),
}

pub fn header() -> [u8; HEADER_LEN] {
    header_of(VERSION)
}

pub fn header_of(version: u16) -> [u8; HEADER_LEN] {
    let [m0, m1, m2, m3] = MAGIC;
    let [v0, v1] = version.to_le_bytes();
    [m0, m1, m2, m3, v0, v1, 0, 0]
}

pub fn check_header(bytes: &[u8]) -> Header {
    let Some(head) = bytes.get(..HEADER_LEN) else { return Header::Torn };
    if head[..4] != MAGIC {
        return Header::Corrupt(Damage::BadMagic);
    }
    let version = u16::from_le_bytes([head[4], head[5]]);
    if !(VERSION..=COMPACT_VERSION).contains(&version) || head[6..] != [0, 0] {
        return Header::Corrupt(Damage::BadVersion(version));
    }
    Header::Valid(version)
}

/// Appends one record for `payload` to `out`. The caller keeps `payload` within [`MAX_PAYLOAD`];
/// a larger one is written but reads back as [`Damage::Length`].
pub fn encode_record(meta: &BlockMeta, payload: &[u8], out: &mut Vec<u8>) {
    debug_assert!(payload.len() <= MAX_PAYLOAD, "payload of {} bytes over MAX_PAYLOAD", payload.len());
    let len = u32::try_from(META_LEN + payload.len()).unwrap_or(u32::MAX);
    let mut meta_bytes = [0u8; META_LEN];
    meta_bytes[..8].copy_from_slice(&meta.seq.to_le_bytes());
    meta_bytes[8..16].copy_from_slice(&meta.min_timestamp_ms.to_le_bytes());
    meta_bytes[16..24].copy_from_slice(&meta.max_timestamp_ms.to_le_bytes());
    meta_bytes[24..].copy_from_slice(&meta.samples.to_le_bytes());
    let crc = crc32c::crc32c_append(crc32c::crc32c(&meta_bytes), payload);
    out.reserve(RECORD_OVERHEAD + payload.len());
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(&meta_bytes);
    out.extend_from_slice(payload);
}

/// Decodes the record at the start of `bytes`.
pub fn decode(bytes: &[u8]) -> Frame<'_> {
    let (Some(len), Some(stored)) = (le_u32(bytes, 0), le_u32(bytes, 4)) else { return Frame::Torn };
    let body_len = len as usize;
    if !(META_LEN..=META_LEN + MAX_PAYLOAD).contains(&body_len) {
        return Frame::Corrupt(Damage::Length(len));
    }
    let Some(body) = bytes.get(8..8 + body_len) else { return Frame::Torn };
    let computed = crc32c::crc32c(body);
    if computed != stored {
        return Frame::Corrupt(Damage::Checksum { stored, computed });
    }
    let (meta, payload) = body.split_at(META_LEN);
    let meta = BlockMeta {
        seq: le_u64(meta, 0),
        min_timestamp_ms: le_u64(meta, 8) as i64,
        max_timestamp_ms: le_u64(meta, 16) as i64,
        samples: le_u32(meta, 24).unwrap_or(0),
    };
    Frame::Record { meta, payload, len: 8 + body_len }
}

/// What a whole segment image holds.
#[derive(Debug, PartialEq)]
pub struct Scan {
    /// The header's version; 0 when the header is bad.
    pub version: u16,
    /// Every good record before the tail, with the byte range of its payload.
    pub records: Vec<(BlockMeta, Range<usize>)>,
    /// Where the good part ends: after the last good record, or `HEADER_LEN` if there is none;
    /// 0 when the header itself is bad.
    pub valid_len: usize,
    pub tail: Tail,
}

/// How a segment image ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Tail {
    /// Right after the last record.
    Clean,
    /// With part of a record (or header) at `at`.
    Torn { at: usize },
    /// With bytes at `at` that are not a record (or header).
    Corrupt { at: usize, damage: Damage },
}

/// Scans a whole segment image (header included): every good record until the first Torn/Corrupt.
pub fn scan(bytes: &[u8]) -> Scan {
    let mut records = Vec::new();
    let version = match check_header(bytes) {
        Header::Valid(version) => version,
        Header::Torn => return Scan { version: 0, records, valid_len: 0, tail: Tail::Torn { at: 0 } },
        Header::Corrupt(damage) => {
            return Scan { version: 0, records, valid_len: 0, tail: Tail::Corrupt { at: 0, damage } };
        }
    };
    let mut at = HEADER_LEN;
    let tail = loop {
        let Some(rest) = bytes.get(at..).filter(|rest| !rest.is_empty()) else { break Tail::Clean };
        match decode(rest) {
            Frame::Record { meta, payload, len } => {
                let start = at + RECORD_OVERHEAD;
                records.push((meta, start..start + payload.len()));
                at += len;
            }
            Frame::Torn => break Tail::Torn { at },
            Frame::Corrupt(damage) => break Tail::Corrupt { at, damage },
        }
    };
    Scan { version, records, valid_len: at, tail }
}

/// What is left to tell about the records from a damaged one at `at` to the end of `bytes`.
#[derive(Debug, Default, PartialEq)]
pub struct Lost {
    /// Records past the damage that still decode: their blocks are lost, but countable.
    pub readable: Vec<BlockMeta>,
    /// Records (or partial records) that could not be read at all.
    pub unreadable: u64,
}

/// Counts the records lost when a segment is cut at `at`. A checksum mismatch still has a
/// `len` in bounds, so decoding resumes after it; any other damage or a torn record ends the
/// count, since where the next record starts is no longer known.
pub fn lost(bytes: &[u8], mut at: usize) -> Lost {
    let mut lost = Lost::default();
    while let Some(rest) = bytes.get(at..).filter(|rest| !rest.is_empty()) {
        match decode(rest) {
            Frame::Record { meta, len, .. } => {
                lost.readable.push(meta);
                at += len;
            }
            Frame::Corrupt(Damage::Checksum { .. }) => {
                lost.unreadable += 1;
                at += 8 + le_u32(rest, 0).map_or(rest.len(), |len| len as usize);
            }
            Frame::Torn | Frame::Corrupt(_) => {
                lost.unreadable += 1;
                break;
            }
        }
    }
    lost
}

/// One cursor slot: generation `generation` goes to slot `generation % 2`.
pub fn encode_cursor_slot(delivered_seq: u64, generation: u32) -> [u8; CURSOR_SLOT_LEN] {
    let mut slot = [0u8; CURSOR_SLOT_LEN];
    slot[..8].copy_from_slice(&delivered_seq.to_le_bytes());
    slot[8..12].copy_from_slice(&generation.to_le_bytes());
    let crc = crc32c::crc32c(&slot[..12]);
    slot[12..].copy_from_slice(&crc.to_le_bytes());
    slot
}

/// The delivered seq and generation of the newer valid slot; `None` if neither is valid
/// (no cursor was ever written, or both slots are damaged).
pub fn decode_cursor(bytes: &[u8]) -> Option<(u64, u32)> {
    let slot = |i: usize| {
        let slot = bytes.get(i * CURSOR_SLOT_LEN..(i + 1) * CURSOR_SLOT_LEN)?;
        let valid = le_u32(slot, 12) == Some(crc32c::crc32c(&slot[..12]));
        valid.then(|| (le_u64(slot, 0), le_u32(slot, 8).unwrap_or(0)))
    };
    match (slot(0), slot(1)) {
        // Serial-number order (RFC 1982): the two slots hold consecutive generations.
        (Some(a), Some(b)) => Some(if (b.1.wrapping_sub(a.1) as i32) > 0 { b } else { a }),
        (a, b) => a.or(b),
    }
}

/// The `delivered` file listing `seqs`.
pub fn encode_delivered(seqs: &[u64]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + 8 * seqs.len());
    out.extend_from_slice(&(seqs.len() as u32).to_le_bytes());
    for seq in seqs {
        out.extend_from_slice(&seq.to_le_bytes());
    }
    let crc = crc32c::crc32c(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// The seqs a `delivered` file lists; `None` if it is damaged.
pub fn decode_delivered(bytes: &[u8]) -> Option<Vec<u64>> {
    let count = le_u32(bytes, 0)? as usize;
    let end = count.checked_mul(8)?.checked_add(4)?;
    if bytes.len() != end + 4 || le_u32(bytes, end)? != crc32c::crc32c(&bytes[..end]) {
        return None;
    }
    Some((0..count).map(|i| le_u64(bytes, 4 + 8 * i)).collect())
}

fn le_u32(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

/// Reads 8 bytes the caller has already bounds-checked; a short slice reads as 0.
fn le_u64(bytes: &[u8], at: usize) -> u64 {
    bytes.get(at..at + 8).and_then(|b| b.try_into().ok()).map_or(0, u64::from_le_bytes)
}

/// How far the window of sample records being sent was delivered (the draining file).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    pub first_seq: u64,
    pub last_seq: u64,
    pub samples: u64,
    pub max_samples: u32,
    /// Requests of the window delivered, from the first.
    pub requests: u32,
}

impl Progress {
    /// Names no window: what a slot says once its window is delivered.
    pub const NONE: Progress =
        Progress { first_seq: u64::MAX, last_seq: 0, samples: 0, max_samples: 0, requests: 0 };
}

pub const PROGRESS_SLOT_LEN: usize = 40;
pub const PROGRESS_LEN: usize = 2 * PROGRESS_SLOT_LEN;

/// One draining slot: generation `generation` goes to slot `generation % 2`.
pub fn encode_progress_slot(p: &Progress, generation: u32) -> [u8; PROGRESS_SLOT_LEN] {
    let mut out = [0u8; PROGRESS_SLOT_LEN];
    out[..8].copy_from_slice(&p.first_seq.to_le_bytes());
    out[8..16].copy_from_slice(&p.last_seq.to_le_bytes());
    out[16..24].copy_from_slice(&p.samples.to_le_bytes());
    out[24..28].copy_from_slice(&p.max_samples.to_le_bytes());
    out[28..32].copy_from_slice(&p.requests.to_le_bytes());
    out[32..36].copy_from_slice(&generation.to_le_bytes());
    let crc = crc32c::crc32c(&out[..36]);
    out[36..].copy_from_slice(&crc.to_le_bytes());
    out
}

/// The progress and generation of the newer valid slot; `None` if neither is valid.
pub fn decode_progress(bytes: &[u8]) -> Option<(Progress, u32)> {
    let slot = |i: usize| {
        let slot = bytes.get(i * PROGRESS_SLOT_LEN..(i + 1) * PROGRESS_SLOT_LEN)?;
        if le_u32(slot, 36)? != crc32c::crc32c(&slot[..36]) {
            return None;
        }
        let progress = Progress {
            first_seq: le_u64(slot, 0),
            last_seq: le_u64(slot, 8),
            samples: le_u64(slot, 16),
            max_samples: le_u32(slot, 24)?,
            requests: le_u32(slot, 28)?,
        };
        Some((progress, le_u32(slot, 32)?))
    };
    match (slot(0), slot(1)) {
        (Some(a), Some(b)) => Some(if (b.1.wrapping_sub(a.1) as i32) > 0 { b } else { a }),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests;
