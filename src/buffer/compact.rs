//! The compact record kind for samples written during an outage: version 2 segments. Pure: a
//! `Writer` turns samples into record payloads, a `Reader` turns them back, one segment at a
//! time; `segment.rs` frames them (length, CRC32C) as it frames sealed blocks. Decoding never
//! panics and never allocates more than its input bounds.
//!
//! # Version 2 segments
//!
//! The header is version 1's with version 2 (`"OPSG" | 2 u16 LE | 0 0`), and records are framed
//! exactly as in version 1 (`len | crc32c | meta | payload`, `segment.rs`); `meta.samples` and
//! the timestamps cover the record's samples. Each payload starts with its kind:
//!
//! ```text
//! payload  kind u8 | body
//!          kind 0: body is a sealed block (a snappy remote-write request), as a v1 payload
//!                  (read, not yet written: blocks still go to version 1 segments)
//!          kind 1: samples, head stored as is; kind 2: samples, head in snappy block format
//! samples  head_len varint | head (head_len bytes) | bits (the rest)
//! head     times varint                distinct timestamps of the record's samples
//!          the first as a zigzag varint (ms), then each minus the one before, ascending
//!          new varint                  label sets this record adds to the segment's dictionary
//!          new times: len varint | labels   (the `labels` field of a remote-write TimeSeries)
//!          groups varint               series with samples here, in ascending id order
//!          groups times: id varint | count varint   (id: the first as is, then its gap to
//!                                      the previous one, less one; count >= 1)
//! bits     for each group, for each of its samples: timestamp, then value; zero-padded
//! ```
//!
//! - Label sets get ids in the order they are added, from 0 in each segment: the records
//!   before this one in the segment defined `n`, this one defines `n..n + new`. Each set is
//!   written once per segment, so a segment never needs another and deleting the oldest
//!   breaks nothing (SPEC, Buffer). The labels are the bytes the healthy path sends (external
//!   labels and write relabeling applied), so replay sends exactly those.
//! - Timestamps and values are chained per series through the segment, as in Gorilla
//!   (`bits.rs`). A timestamp whose delta of delta to the series' previous two is zero is bit
//!   `0`; any other (and a series' first in the segment) is bit `1` and its index in `times`,
//!   in as many bits as the largest index needs (none for one timestamp). Scrape timestamps
//!   jitter by a few milliseconds, where a delta of delta would cost 16 bits for every series,
//!   while all series of one scrape share their timestamp. A value is its `f64` bits XORed
//!   with the series' previous value (its first: 64 bits as is): `0` if equal; `10` and the
//!   changed bits within the previous window of leading and trailing zeros; else `11`, 5 bits
//!   of leading zeros (at most 31), 6 bits of length (0 meaning 64) and the changed bits.
//!   Bits are kept exactly, NaN payloads (the staleness marker `0x7ff0000000000002`) included.
//! - A sample record thus depends on the records before it in its segment, never on another
//!   segment. Damage ends a segment at the first bad record anyway, so this costs nothing more.
//! - The head is snappy-compressed when that makes it smaller (kind 2); the bits are not,
//!   since they do not compress.
//! - A record whose checksum holds but whose body does not decode (an unknown kind, an id not
//!   in the dictionary, bits that run out or are left over) is damage, as a bad checksum is
//!   (`read.rs`, `Damage::Record`).

mod bits;
pub mod drain;
pub mod read;

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use prost::encoding::{decode_varint, encode_varint};

use bits::{BitReader, BitWriter, XorState};

/// Kinds of a version 2 record payload (its first byte).
pub const KIND_BLOCK: u8 = 0;
pub const KIND_SAMPLES: u8 = 1;
pub const KIND_SAMPLES_SNAPPY: u8 = 2;
/// A decompressed head may not be larger than a record may be.
const MAX_HEAD: usize = super::segment::MAX_PAYLOAD;

/// What a sample record says about itself, for its `BlockMeta`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordInfo {
    pub samples: u32,
    pub min_timestamp_ms: i64,
    pub max_timestamp_ms: i64,
}

/// One series' samples in a record, in the order they were written.
#[derive(Clone, Debug, PartialEq)]
pub struct SeriesSamples {
    /// The id in the segment's dictionary ([`Reader::labels`]).
    pub series: u32,
    pub samples: Vec<(i64, f64)>,
}

/// A decoded version 2 payload.
#[derive(Debug, PartialEq)]
pub enum Record<'a> {
    Block(&'a [u8]),
    Samples(Vec<SeriesSamples>),
}

/// Why a payload whose checksum holds does not decode.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecordError {
    Empty,
    UnknownKind(u8),
    /// The head ends inside `field`.
    Truncated(&'static str),
    Snappy(String),
    HeadTooLarge(usize),
    UnknownSeries(u32),
    ZeroCount(u32),
    /// The bits end before every sample is read, or hold a value window wider than 64 bits.
    BadBits,
    TrailingBytes,
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecordError::Empty => f.write_str("sample record: empty payload"),
            RecordError::UnknownKind(kind) => write!(f, "sample record: unknown kind {kind}"),
            RecordError::Truncated(field) => write!(f, "sample record: head ends in {field}"),
            RecordError::Snappy(e) => write!(f, "sample record: head: {e}"),
            RecordError::HeadTooLarge(len) => write!(f, "sample record: head of {len} bytes too large"),
            RecordError::UnknownSeries(id) => write!(f, "sample record: series {id} not in the dictionary"),
            RecordError::ZeroCount(id) => write!(f, "sample record: series {id} with no samples"),
            RecordError::BadBits => f.write_str("sample record: samples do not decode"),
            RecordError::TrailingBytes => f.write_str("sample record: bytes after the last sample"),
        }
    }
}

/// Where a series' chain stands in the segment.
#[derive(Clone, Copy, Debug)]
struct Chain {
    last_ts: i64,
    delta: i64,
    xor: XorState,
}

impl Chain {
    /// Writes one sample after `this` (`None`: the series' first in the segment); `times` is
    /// the record's timestamp table, holding `ts`, and `width` the bits of an index in it.
    fn write(this: Option<Chain>, w: &mut BitWriter, times: &[i64], width: u32, ts: i64, bits: u64) -> Chain {
        if this.is_some_and(|c| c.last_ts.wrapping_add(c.delta) == ts) {
            w.bit(false);
        } else {
            w.bit(true);
            w.bits(times.binary_search(&ts).unwrap_or(0) as u64, width);
        }
        match this {
            None => {
                w.bits(bits, 64);
                Chain { last_ts: ts, delta: 0, xor: XorState::first(bits) }
            }
            Some(mut chain) => {
                bits::write_xor(w, &mut chain.xor, bits);
                (chain.last_ts, chain.delta) = (ts, ts.wrapping_sub(chain.last_ts));
                chain
            }
        }
    }

    fn read(this: Option<Chain>, r: &mut BitReader, times: &[i64], width: u32) -> Option<(Chain, i64, u64)> {
        let ts = match (r.bit()?, this) {
            (false, Some(c)) => c.last_ts.wrapping_add(c.delta),
            (false, None) => return None,
            (true, _) => *times.get(usize::try_from(r.bits(width)?).ok()?)?,
        };
        match this {
            None => {
                let bits = r.bits(64)?;
                Some((Chain { last_ts: ts, delta: 0, xor: XorState::first(bits) }, ts, bits))
            }
            Some(mut chain) => {
                let bits = bits::read_xor(r, &mut chain.xor)?;
                (chain.last_ts, chain.delta) = (ts, ts.wrapping_sub(chain.last_ts));
                Some((chain, ts, bits))
            }
        }
    }
}

/// Bits of an index into a table of `len` entries.
fn index_width(len: usize) -> u32 {
    usize::BITS - len.saturating_sub(1).leading_zeros()
}

/// Writes the sample records of one segment at a time. Samples are `push`ed, then `encode`d
/// into one payload; the payload's new series and chains become the segment's only on
/// `commit`, once the record is on disk. Invariant: `dict[..committed]` and `chains` are what
/// the segment's records on disk define; `dict[committed..]` are series of pushed samples only.
pub struct Writer {
    ids: HashMap<Arc<[u8]>, u32, foldhash::fast::RandomState>,
    dict: Vec<Arc<[u8]>>,
    committed: usize,
    /// One per committed series.
    chains: Vec<Chain>,
    /// Pushed samples: series id, timestamp, value bits.
    rows: Vec<(u32, i64, u64)>,
    /// Chains as the last `encode` left them, for `commit`.
    encoded: Vec<(u32, Chain)>,
    snappy: snap::raw::Encoder,
    /// The segment file the committed state belongs to, as the disk shell names it.
    segment: Option<u64>,
}

impl Default for Writer {
    fn default() -> Self {
        Writer {
            ids: HashMap::default(),
            dict: Vec::new(),
            committed: 0,
            chains: Vec::new(),
            rows: Vec::new(),
            encoded: Vec::new(),
            snappy: snap::raw::Encoder::new(),
            segment: None,
        }
    }
}

impl Writer {
    /// Adds a sample of the series whose encoded labels are `labels`.
    pub fn push(&mut self, labels: &[u8], timestamp_ms: i64, value: f64) {
        let id = match self.ids.get(labels) {
            Some(id) => *id,
            None => {
                let id = u32::try_from(self.dict.len()).unwrap_or(u32::MAX);
                let labels: Arc<[u8]> = labels.into();
                self.ids.insert(labels.clone(), id);
                self.dict.push(labels);
                id
            }
        };
        self.rows.push((id, timestamp_ms, value.to_bits()));
    }

    /// Samples pushed since the last `commit` or `discard`.
    pub fn samples(&self) -> usize {
        self.rows.len()
    }

    /// Series the segment's records define so far.
    pub fn series(&self) -> usize {
        self.committed
    }

    /// Encodes the pushed samples as one payload into `out` (cleared first); `None` if there
    /// are none. May be called again, after `new_segment`, for the same samples.
    pub fn encode(&mut self, out: &mut Vec<u8>) -> Option<RecordInfo> {
        out.clear();
        self.encoded.clear();
        if self.rows.is_empty() {
            return None;
        }
        // Stable: each series keeps the order of its samples.
        self.rows.sort_by_key(|row| row.0);
        let mut times: Vec<i64> = self.rows.iter().map(|row| row.1).collect();
        times.sort_unstable();
        times.dedup();
        let (min, max) = (times[0], times[times.len() - 1]);
        let width = index_width(times.len());
        let mut head = Vec::with_capacity(16 + 4 * self.rows.len());
        encode_varint(times.len() as u64, &mut head);
        encode_varint(zigzag(min), &mut head);
        for pair in times.windows(2) {
            encode_varint(pair[1].wrapping_sub(pair[0]) as u64, &mut head);
        }
        encode_varint((self.dict.len() - self.committed) as u64, &mut head);
        for labels in &self.dict[self.committed..] {
            encode_varint(labels.len() as u64, &mut head);
            head.extend_from_slice(labels);
        }
        let groups = self.rows.chunk_by(|a, b| a.0 == b.0);
        encode_varint(groups.clone().count() as u64, &mut head);
        let mut bits = BitWriter::default();
        let mut previous: Option<u32> = None;
        for group in groups {
            let id = group[0].0;
            encode_varint(u64::from(previous.map_or(id, |p| id - p - 1)), &mut head);
            encode_varint(group.len() as u64, &mut head);
            previous = Some(id);
            let mut chain = self.chains.get(id as usize).copied();
            for &(_, ts, value) in group {
                chain = Some(Chain::write(chain, &mut bits, &times, width, ts, value));
            }
            if let Some(chain) = chain {
                self.encoded.push((id, chain));
            }
        }
        let compressed = snap::raw::max_compress_len(head.len());
        let mut packed = vec![0; compressed];
        let packed_len = self.snappy.compress(&head, &mut packed).unwrap_or(usize::MAX);
        let (kind, head) = if packed_len < head.len() {
            packed.truncate(packed_len);
            (KIND_SAMPLES_SNAPPY, packed)
        } else {
            (KIND_SAMPLES, head)
        };
        let bits = bits.into_bytes();
        out.reserve(1 + 10 + head.len() + bits.len());
        out.push(kind);
        encode_varint(head.len() as u64, out);
        out.extend_from_slice(&head);
        out.extend_from_slice(&bits);
        Some(RecordInfo {
            samples: u32::try_from(self.rows.len()).unwrap_or(u32::MAX),
            min_timestamp_ms: min,
            max_timestamp_ms: max,
        })
    }

    /// The payload `encode` gave last is in the segment.
    pub fn commit(&mut self) {
        self.committed = self.dict.len();
        self.chains.resize(self.committed, Chain { last_ts: 0, delta: 0, xor: XorState::first(0) });
        for (id, chain) in self.encoded.drain(..) {
            self.chains[id as usize] = chain;
        }
        self.rows.clear();
    }

    /// [`Writer::commit`], the record having gone to segment file `segment`.
    pub fn commit_to(&mut self, segment: u64) {
        self.commit();
        self.segment = Some(segment);
    }

    /// The segment file of the committed state (`commit_to`); `None` after `new_segment`.
    pub fn segment(&self) -> Option<u64> {
        self.segment
    }

    /// Takes the pushed samples out, each series' in the order pushed (labels, timestamp,
    /// value), and forgets them as `discard` does: they leave the log (the backlog was
    /// delivered while they waited, and they become sealed blocks in RAM).
    pub fn take_pending(&mut self) -> Vec<(Arc<[u8]>, i64, f64)> {
        let rows = std::mem::take(&mut self.rows);
        let taken =
            rows.iter().map(|&(id, ts, v)| (self.dict[id as usize].clone(), ts, f64::from_bits(v))).collect();
        self.discard();
        taken
    }

    /// Forgets the pushed samples (their record could not be written).
    pub fn discard(&mut self) {
        for labels in self.dict.drain(self.committed..) {
            self.ids.remove(&labels);
        }
        self.rows.clear();
        self.encoded.clear();
    }

    /// The next record starts a new segment: the dictionary and chains start over. Pushed
    /// samples are kept, to be encoded again.
    pub fn new_segment(&mut self) {
        let dict = std::mem::take(&mut self.dict);
        let rows = std::mem::take(&mut self.rows);
        (self.committed, self.encoded, self.segment) = (0, Vec::new(), None);
        self.ids.clear();
        self.chains.clear();
        for (id, ts, value) in rows {
            self.push(&dict[id as usize], ts, f64::from_bits(value));
        }
    }
}

/// Reads the records of one version 2 segment, in order; the dictionary and chains grow as
/// they go. After an error, the rest of the segment cannot be read.
#[derive(Default)]
pub struct Reader {
    dict: Vec<Vec<u8>>,
    /// `None`: a series defined but with no sample yet in the segment.
    chains: Vec<Option<Chain>>,
}

impl Reader {
    /// The encoded labels of series `id`, once a record has defined it.
    pub fn labels(&self, id: u32) -> Option<&[u8]> {
        self.dict.get(id as usize).map(Vec::as_slice)
    }

    pub fn decode<'a>(&mut self, payload: &'a [u8]) -> Result<Record<'a>, RecordError> {
        let (&kind, mut rest) = payload.split_first().ok_or(RecordError::Empty)?;
        let head_bytes = match kind {
            KIND_BLOCK => return Ok(Record::Block(rest)),
            KIND_SAMPLES | KIND_SAMPLES_SNAPPY => {
                let len = varint(&mut rest, "head length")?;
                let len = usize::try_from(len).map_err(|_| RecordError::Truncated("head"))?;
                let head = rest.get(..len).ok_or(RecordError::Truncated("head"))?;
                rest = &rest[len..];
                head
            }
            other => return Err(RecordError::UnknownKind(other)),
        };
        let unpacked;
        let mut head = if kind == KIND_SAMPLES_SNAPPY {
            let len =
                snap::raw::decompress_len(head_bytes).map_err(|e| RecordError::Snappy(e.to_string()))?;
            if len > MAX_HEAD {
                return Err(RecordError::HeadTooLarge(len));
            }
            unpacked = snap::raw::Decoder::new()
                .decompress_vec(head_bytes)
                .map_err(|e| RecordError::Snappy(e.to_string()))?;
            unpacked.as_slice()
        } else {
            head_bytes
        };
        let count = varint(&mut head, "times")?;
        let mut times = Vec::new();
        if count > 0 {
            let mut ts = unzigzag(varint(&mut head, "times")?);
            times.push(ts);
            // Each takes at least a byte, so this loop ends with the head.
            for _ in 1..count {
                ts = ts.wrapping_add(varint(&mut head, "times")? as i64);
                times.push(ts);
            }
        }
        let width = index_width(times.len());
        let new = varint(&mut head, "dictionary")?;
        for _ in 0..new {
            // Each entry takes at least its length byte, so this loop ends with the head.
            let len = varint(&mut head, "dictionary")?;
            let len = usize::try_from(len).map_err(|_| RecordError::Truncated("dictionary"))?;
            let labels = head.get(..len).ok_or(RecordError::Truncated("dictionary"))?;
            self.dict.push(labels.to_vec());
            self.chains.push(None);
            head = &head[len..];
        }
        let groups = varint(&mut head, "groups")?;
        let mut bits = BitReader::new(rest);
        // Every sample takes at least two bits: this bounds what the counts may allocate.
        let mut budget = bits.remaining() / 2;
        let mut headers = Vec::new();
        let mut previous: Option<u32> = None;
        for _ in 0..groups {
            let step = varint(&mut head, "series id")?;
            let id = previous
                .map_or(Some(step), |p| u64::from(p).checked_add(step)?.checked_add(1))
                .and_then(|id| u32::try_from(id).ok())
                .filter(|id| (*id as usize) < self.dict.len())
                .ok_or(RecordError::UnknownSeries(u32::try_from(step).unwrap_or(u32::MAX)))?;
            let count = varint(&mut head, "sample count")?;
            if count == 0 {
                return Err(RecordError::ZeroCount(id));
            }
            let count = usize::try_from(count).ok().filter(|c| *c <= budget).ok_or(RecordError::BadBits)?;
            budget -= count;
            headers.push((id, count));
            previous = Some(id);
        }
        if !head.is_empty() {
            return Err(RecordError::TrailingBytes);
        }
        let mut series = Vec::with_capacity(headers.len());
        for (id, count) in headers {
            let mut chain = self.chains[id as usize];
            let mut samples = Vec::with_capacity(count);
            for _ in 0..count {
                let (next, ts, value) =
                    Chain::read(chain, &mut bits, &times, width).ok_or(RecordError::BadBits)?;
                chain = Some(next);
                samples.push((ts, f64::from_bits(value)));
            }
            self.chains[id as usize] = chain;
            series.push(SeriesSamples { series: id, samples });
        }
        if !bits.at_end() {
            return Err(RecordError::TrailingBytes);
        }
        Ok(Record::Samples(series))
    }
}

fn varint(bytes: &mut &[u8], field: &'static str) -> Result<u64, RecordError> {
    decode_varint(bytes).map_err(|_| RecordError::Truncated(field))
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

#[cfg(test)]
mod figures;
#[cfg(test)]
mod tests;
