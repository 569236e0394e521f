//! Reading a whole version 2 segment image (pure), as recovery and replay need it: the
//! frames (`segment::scan`), then every record decoded in order with one `Reader`. A record
//! whose checksum holds but whose body does not decode ends the good part there, as a bad
//! checksum does (`Damage::Record`), so nothing after it is read into the wrong series.

use std::ops::Range;

use super::{Reader, Record, SeriesSamples};
use crate::buffer::disk::Kind;
use crate::buffer::segment::{self, BlockMeta, COMPACT_VERSION, Damage, RECORD_OVERHEAD, Tail};

/// One good record of a version 2 segment.
#[derive(Debug, PartialEq)]
pub enum Held {
    /// A sealed block: the byte range of its body (after the kind byte) in the image.
    Block(Range<usize>),
    Samples(Vec<SeriesSamples>),
}

/// What a version 2 segment image holds.
pub struct Segment {
    pub records: Vec<(BlockMeta, Held)>,
    /// The dictionary of the good records, for `SeriesSamples::series`.
    pub reader: Reader,
    /// Where the good part ends; 0 when the header is bad or not version 2.
    pub valid_len: usize,
    pub tail: Tail,
}

/// Reads a version 2 segment image; any other version reads as a bad header.
pub fn read(bytes: &[u8]) -> Segment {
    let scan = segment::scan(bytes);
    let mut reader = Reader::default();
    let mut records = Vec::with_capacity(scan.records.len());
    if scan.version != COMPACT_VERSION {
        let tail = match scan.version {
            0 => scan.tail,
            version => Tail::Corrupt { at: 0, damage: Damage::BadVersion(version) },
        };
        return Segment { records, reader, valid_len: 0, tail };
    }
    for (meta, range) in scan.records {
        let held = match reader.decode(&bytes[range.clone()]) {
            Ok(Record::Block(_)) => Held::Block(range.start + 1..range.end),
            Ok(Record::Samples(series)) => Held::Samples(series),
            Err(e) => {
                let at = range.start - RECORD_OVERHEAD;
                return Segment {
                    records,
                    reader,
                    valid_len: at,
                    tail: Tail::Corrupt { at, damage: Damage::Record(e) },
                };
            }
        };
        records.push((meta, held));
    }
    Segment { records, reader, valid_len: scan.valid_len, tail: scan.tail }
}

/// Checks the records of a version 2 `scan` of `bytes` as recovery needs it, decoding each one
/// and keeping none of its samples: the first record whose body does not decode ends the good
/// part, and `scan` is cut there. Returns what each good record holds, in order.
pub fn check(bytes: &[u8], scan: &mut segment::Scan) -> Vec<Kind> {
    let mut reader = Reader::default();
    let mut kinds = Vec::with_capacity(scan.records.len());
    for (i, (_, range)) in scan.records.iter().enumerate() {
        match reader.decode(&bytes[range.clone()]) {
            Ok(Record::Block(_)) => kinds.push(Kind::TaggedBlock),
            Ok(Record::Samples(_)) => kinds.push(Kind::Samples),
            Err(e) => {
                let at = range.start - RECORD_OVERHEAD;
                scan.records.truncate(i);
                (scan.valid_len, scan.tail) = (at, Tail::Corrupt { at, damage: Damage::Record(e) });
                break;
            }
        }
    }
    kinds
}
