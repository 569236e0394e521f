//! A target's encoded labels, stored compactly: each distinct encoded label
//! (one `TimeSeries.labels` field: key, length, `Label{name, value}`) is kept
//! once per target, and a series is a list of those labels' numbers, one list
//! per queue, in one arena. A cAdvisor-like series shares its `__name__`,
//! `instance`, `job`, `namespace`, `image` and `pod` labels with hundreds of
//! others: it costs a few bytes of numbers and its own unique labels instead
//! of its whole encoding in an allocation of its own (264 bytes of the bench's
//! load, with a reference count and the allocator's header).
//!
//! The labels are written out again, one queue's encoding at a time, into a
//! buffer the caller keeps: the bytes are exactly the queue's encoding, since
//! a series' pieces are its encoding cut at field boundaries.
//!
//! A series that goes away leaves its list behind (its staleness marker is
//! written from it after the scrape); [`compact`](LabelStore::compact) rebuilds
//! both arenas from the series still held once more than half of the lists
//! are such garbage.

use hashbrown::HashTable;
use prost::encoding::{decode_key, decode_varint};
use std::hash::BuildHasher;

use crate::staging::encode::EncodedLabels;

/// Where a series' lists start in the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct At(u32);

pub struct LabelStore {
    /// Each distinct piece, one after another.
    pieces: Vec<u8>,
    /// Where each piece starts, and after the last one where it ends: piece
    /// `i` is `pieces[starts[i]..starts[i + 1]]`.
    starts: Vec<u32>,
    /// Piece numbers, found by their bytes (compared in full: no collision is possible).
    index: HashTable<u32>,
    hasher: foldhash::quality::RandomState,
    /// Per series, per queue, numbers in 16-bit words: 0 when the queue does
    /// not send it, else 1 + its number of pieces, its encoding's length, then
    /// the pieces' numbers (numbers from `ESCAPE` on take three words:
    /// `ESCAPE`, then their high and low halves).
    lists: Vec<u16>,
    /// Words of `lists` that no series held refers to any more.
    garbage: usize,
    /// The queues of every series here.
    queues: usize,
}

/// One queue's encoding of a series, as the numbers of its pieces in a store.
pub struct Pieces<'a> {
    store: &'a LabelStore,
    numbers: &'a [u16],
    total: usize,
}

impl Pieces<'_> {
    fn to_vec(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.total);
        self.write_to(&mut out);
        out
    }
}

impl EncodedLabels for Pieces<'_> {
    fn encoded_len(&self) -> usize {
        self.total
    }

    fn write_to(&self, out: &mut Vec<u8>) {
        out.reserve(self.total);
        let mut words = self.numbers.iter();
        while let Some(id) = next_number(&mut words) {
            out.extend_from_slice(piece_in(&self.store.pieces, &self.store.starts, id));
        }
    }
}

/// Marks a piece number of 32 bits in `lists`.
const ESCAPE: u16 = u16::MAX;

impl Default for LabelStore {
    fn default() -> Self {
        LabelStore {
            pieces: Vec::new(),
            starts: vec![0],
            index: HashTable::new(),
            hasher: foldhash::quality::RandomState::default(),
            lists: Vec::new(),
            garbage: 0,
            queues: 0,
        }
    }
}

impl LabelStore {
    /// Stores a series' encoding for each queue (`None` where the queue does
    /// not send it); `Err` when the store would pass 4 GiB. Every series of a
    /// store has the same queues.
    pub fn add<'a>(&mut self, per_queue: impl IntoIterator<Item = Option<&'a [u8]>>) -> Result<At, String> {
        let at = u32::try_from(self.lists.len()).map_err(|_| TOO_LARGE.to_owned())?;
        let mut queues = 0;
        for encoding in per_queue {
            queues += 1;
            let Some(encoding) = encoding else {
                self.lists.push(0);
                continue;
            };
            let len = u32::try_from(encoding.len()).map_err(|_| TOO_LARGE.to_owned())?;
            // At most one piece a byte.
            push_number(&mut self.lists, 1 + split(encoding).count() as u32);
            push_number(&mut self.lists, len);
            for piece in split(encoding) {
                let id = self.intern(piece)?;
                push_number(&mut self.lists, id);
            }
        }
        debug_assert!(self.queues == 0 || self.queues == queues, "one store, one set of queues");
        self.queues = queues;
        Ok(At(at))
    }

    /// Hands `f` the encoding of the series at `at` for each queue that sends it, with the
    /// queue's position: as its pieces, which the caller writes out where it wants them
    /// (straight into a batch: each label is copied once).
    pub fn each(&self, at: At, mut f: impl FnMut(usize, &Pieces<'_>)) {
        let mut words = self.lists.get(at.0 as usize..).unwrap_or_default().iter();
        for queue in 0..self.queues {
            let Some(count) = next_number(&mut words) else { return };
            if count == 0 {
                continue;
            }
            let Some(total) = next_number(&mut words) else { return };
            // The piece numbers of this queue; the next queue's list follows them.
            let start = words.as_slice();
            for _ in 1..count {
                if next_number(&mut words).is_none() {
                    return;
                }
            }
            let numbers = &start[..start.len() - words.as_slice().len()];
            f(queue, &Pieces { store: self, numbers, total });
        }
    }

    /// The series at `at` is no longer held: its list is garbage (still
    /// readable until the next [`compact`](Self::compact)).
    pub fn release(&mut self, at: At) {
        self.garbage += self.list_len(at);
    }

    /// More than half of the lists are garbage, and enough of it to be worth a pass.
    pub fn wants_compaction(&self) -> bool {
        self.garbage >= 2048 && self.garbage * 2 > self.lists.len()
    }

    /// Rebuilds the store from the series still held, whose places are
    /// updated; pieces only released series used are dropped.
    pub fn compact<'a>(&mut self, held: impl Iterator<Item = &'a mut At>) {
        let mut fresh = LabelStore { hasher: self.hasher.clone(), ..LabelStore::default() };
        let mut per_queue: Vec<Option<Vec<u8>>> = Vec::with_capacity(self.queues);
        for at in held {
            per_queue.clear();
            per_queue.resize(self.queues, None);
            self.each(*at, |q, pieces| per_queue[q] = Some(pieces.to_vec()));
            // The fresh store holds a subset of this one: it cannot pass 4 GiB.
            if let Ok(new) = fresh.add(per_queue.iter().map(Option::as_deref)) {
                *at = new;
            }
        }
        fresh.queues = self.queues;
        fresh.pieces.shrink_to_fit();
        fresh.starts.shrink_to_fit();
        fresh.lists.shrink_to_fit();
        let LabelStore { pieces, starts, index, hasher, .. } = &mut fresh;
        index.shrink_to_fit(|&id| hasher.hash_one(piece_in(pieces, starts, id as usize)));
        *self = fresh;
    }

    /// Bytes held, capacity included.
    #[cfg(test)]
    pub fn capacity_bytes(&self) -> usize {
        self.pieces.capacity()
            + self.starts.capacity() * size_of::<u32>()
            + self.lists.capacity() * size_of::<u16>()
            + self.index.capacity() * (size_of::<u32>() + 1)
    }

    /// Each queue's encoding of the series at `at`.
    #[cfg(test)]
    pub fn get(&self, at: At) -> Vec<Option<Vec<u8>>> {
        let mut out = vec![None; self.queues];
        self.each(at, |q, pieces| out[q] = Some(pieces.to_vec()));
        out
    }

    /// Distinct pieces held.
    #[cfg(test)]
    pub fn pieces(&self) -> usize {
        self.starts.len() - 1
    }

    /// Words of the lists at `at`.
    fn list_len(&self, at: At) -> usize {
        let start = self.lists.get(at.0 as usize..).unwrap_or_default();
        let mut words = start.iter();
        for _ in 0..self.queues {
            let Some(count) = next_number(&mut words) else { break };
            if count > 0 {
                next_number(&mut words);
            }
            for _ in 1..count {
                next_number(&mut words);
            }
        }
        start.len() - words.len()
    }

    fn intern(&mut self, piece: &[u8]) -> Result<u32, String> {
        let hash = self.hasher.hash_one(piece);
        let Self { pieces, starts, index, hasher, .. } = self;
        if let Some(&id) = index.find(hash, |&id| piece_in(pieces, starts, id as usize) == piece) {
            return Ok(id);
        }
        let id = u32::try_from(starts.len() - 1).map_err(|_| TOO_LARGE.to_owned())?;
        let end = u32::try_from(pieces.len() + piece.len()).map_err(|_| TOO_LARGE.to_owned())?;
        pieces.extend_from_slice(piece);
        starts.push(end);
        index.insert_unique(hash, id, |&id| hasher.hash_one(piece_in(pieces, starts, id as usize)));
        Ok(id)
    }
}

const TOO_LARGE: &str = "the labels of one target pass 4 GiB";

/// Appends `n` to a list: one word below `ESCAPE`, else three.
fn push_number(lists: &mut Vec<u16>, n: u32) {
    match u16::try_from(n) {
        Ok(n) if n != ESCAPE => lists.push(n),
        _ => lists.extend([ESCAPE, (n >> 16) as u16, n as u16]),
    }
}

/// The next number of a list (see `push_number`).
fn next_number(words: &mut std::slice::Iter<'_, u16>) -> Option<usize> {
    match *words.next()? {
        ESCAPE => {
            let (high, low) = (*words.next()?, *words.next()?);
            Some(usize::from(high) << 16 | usize::from(low))
        }
        id => Some(usize::from(id)),
    }
}

/// Piece `id` of `pieces` cut at `starts`.
fn piece_in<'a>(pieces: &'a [u8], starts: &[u32], id: usize) -> &'a [u8] {
    match starts.get(id..id + 2) {
        Some(&[start, end]) => pieces.get(start as usize..end as usize).unwrap_or_default(),
        _ => &[],
    }
}

/// `encoding` cut at its fields (each a key, a length and that many bytes);
/// whatever does not parse as one is a last piece of its own, so the pieces
/// always join to `encoding`.
fn split(encoding: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = encoding;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let len = field_len(rest).filter(|&n| n <= rest.len()).unwrap_or(rest.len());
        let (piece, tail) = rest.split_at(len);
        rest = tail;
        Some(piece)
    })
}

/// The length of the length-delimited field at the start of `bytes`, key and length included.
fn field_len(bytes: &[u8]) -> Option<usize> {
    let mut cursor = bytes;
    let (_, wire_type) = decode_key(&mut cursor).ok()?;
    if wire_type != prost::encoding::WireType::LengthDelimited {
        return None;
    }
    let len = usize::try_from(decode_varint(&mut cursor).ok()?).ok()?;
    (bytes.len() - cursor.len()).checked_add(len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Labels;
    use crate::staging::encode::encode_labels;

    fn series(i: usize) -> Vec<u8> {
        let labels = Labels::from_pairs([
            ("__name__", "container_cpu_usage_seconds_total"),
            ("id", &format!("/kubepods/pod{i:08x}")),
            ("instance", "10.0.0.1:9100"),
            ("job", "cadvisor"),
            ("namespace", &format!("ns-{}", i % 3)),
        ]);
        encode_labels(&labels)
    }

    #[test]
    fn a_series_is_written_back_byte_for_byte_and_shared_labels_are_kept_once() {
        let mut store = LabelStore::default();
        let held: Vec<(At, Vec<u8>)> = (0..100)
            .map(|i| {
                let bytes = series(i);
                let at = store.add([Some(&bytes[..]), None, Some(&b""[..])]).expect("fits");
                (at, bytes)
            })
            .collect();
        for (at, bytes) in &held {
            assert_eq!(store.get(*at), [Some(bytes.clone()), None, Some(Vec::new())]);
        }
        // __name__, instance, job, 3 namespaces and 100 ids.
        assert_eq!(store.pieces(), 106);
        let whole: usize = held.iter().map(|(_, b)| b.len()).sum();
        assert!(store.capacity_bytes() * 3 < whole * 2, "{} of {whole}", store.capacity_bytes());
    }

    #[test]
    fn numbers_past_16_bits_take_three_words() {
        let mut store = LabelStore::default();
        let held: Vec<(At, Vec<u8>)> = (0..70_000)
            .map(|i| {
                let bytes = encode_labels(&Labels::from_pairs([("i", &i.to_string()[..])]));
                (store.add([Some(&bytes[..])]).expect("fits"), bytes)
            })
            .collect();
        let long = encode_labels(&Labels::from_pairs([("__name__", "m"), ("v", &"x".repeat(100_000)[..])]));
        let at = store.add([None, Some(&long[..])].into_iter().skip(1)).expect("fits");
        assert_eq!(store.pieces(), 70_002);
        for (at, bytes) in held.iter().step_by(997).chain(held.last()) {
            assert_eq!(store.get(*at), [Some(bytes.clone())]);
        }
        assert_eq!(store.get(at), [Some(long)]);
    }

    #[test]
    fn bytes_that_are_not_fields_still_join_to_the_encoding() {
        let mut store = LabelStore::default();
        for odd in [&b"\x0a\x7f"[..], b"\x08\x01", b"\x0a\x02ab\xff", b"\x0a"] {
            let at = store.add([Some(odd)]).expect("fits");
            assert_eq!(store.get(at), [Some(odd.to_vec())], "{odd:?}");
        }
    }

    #[test]
    fn compaction_keeps_what_is_held_and_drops_the_rest() {
        let mut store = LabelStore::default();
        let mut held: Vec<(At, Vec<u8>)> = Vec::new();
        // Churn: every round replaces all 1,000 series with new ones.
        for round in 0..20 {
            for (at, _) in held.drain(..) {
                store.release(at);
            }
            if store.wants_compaction() {
                store.compact(std::iter::empty());
            }
            for i in 0..1000 {
                let bytes = series(round * 1000 + i);
                held.push((store.add([Some(&bytes[..])]).expect("fits"), bytes));
            }
        }
        assert!(store.pieces() <= 2 * 1006, "garbage pieces dropped: {}", store.pieces());
        // Release half, compact with the other half held: their bytes survive the move.
        let (gone, kept) = held.split_at_mut(600);
        for (at, _) in gone.iter() {
            store.release(*at);
        }
        assert!(store.wants_compaction());
        let before = store.capacity_bytes();
        store.compact(kept.iter_mut().map(|(at, _)| at));
        assert!(store.capacity_bytes() < before, "{} < {before}", store.capacity_bytes());
        for (at, bytes) in kept.iter() {
            assert_eq!(store.get(*at), [Some(bytes.clone())]);
        }
        assert_eq!(store.pieces(), 400 + 6);
        assert!(!store.wants_compaction());
    }
}
