//! Power loss at the disk seam: a seeded run of appends, syncs, deliveries and deletions for
//! room is recorded call by call (`files::trace`: every write, fsync, set_len, create, remove
//! and rename); then at every fsync, and at a seeded sample of the calls between, the states a
//! power cut could leave there (`model.rs`) are written out and opened as outpost opens
//! `data_dir` after a reboot. In each: no block synced before the cut and not delivered is
//! lost (README: a power cut costs at most `buffer.sync_interval`, the time between syncs);
//! no block whose delivery was recorded comes back (the cursor and the saved `delivered`
//! file; blocks delivered ahead and not yet saved may, as the README says); every block
//! recovered reads back as it was written. For both record kinds: sealed blocks (version 1)
//! and compact sample records (version 2: the records recovery keeps pending must decode,
//! with their segment's dictionary, to what was written, synced records all there).

mod model;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use super::files::trace::{self, Op, Recorder};
use super::*;
use crate::buffer::compact::Writer;
use crate::buffer::compact::read::{Held, read as read_compact};
use crate::buffer::segment::Tail;
use model::{Cut, Replay};

const SEGMENT: u64 = 300;
const BUDGET: u64 = 1500;
/// Random cuts tried per crash point.
const RANDOM_CUTS: u64 = 4;

/// A segment file under the seam whose calls are recorded.
struct RecordingFile {
    file: File,
    path: PathBuf,
}

impl SegmentFile for RecordingFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = io::Write::write(&mut self.file, buf);
        if let Ok(n) = n {
            let bytes = buf[..n].to_vec();
            trace::record(&Ok(()), &self.path, || Op::Write { offset: None, bytes });
        }
        n
    }
    fn sync_data(&mut self) -> io::Result<()> {
        let synced = self.file.sync_data();
        trace::record(&synced, &self.path, || Op::Sync);
        synced
    }
    fn set_len(&mut self, len: u64) -> io::Result<()> {
        let done = self.file.set_len(len);
        trace::record(&done, &self.path, || Op::SetLen(len));
        done
    }
    fn len(&self) -> io::Result<u64> {
        SegmentFile::len(&self.file)
    }
}

struct RecordingOpener;

impl Opener for RecordingOpener {
    type File = RecordingFile;
    fn open(&self, path: &Path, create: bool) -> io::Result<RecordingFile> {
        let file = AppendOnly.open(path, create);
        trace::record(&file, path, || if create { Op::Create } else { Op::Open });
        Ok(RecordingFile { file: file?, path: path.into() })
    }
}

/// What the run did, each call stamped with the number of recorded calls when it began and
/// when it returned.
#[derive(Default)]
struct History {
    /// Block payloads (version 1) or encoded samples (version 2) by seq, with when the append
    /// began and returned.
    written: BTreeMap<u64, (Written, usize, usize)>,
    /// `Disk::sync` returned Ok.
    syncs: Vec<usize>,
    /// Blocks dropped for room by an append that began then.
    dropped: Vec<(usize, u64)>,
    /// Blocks delivered (a delivery call began then).
    delivered: Vec<(usize, u64)>,
    /// The cursor as of `set_delivered` returning.
    cursor: Vec<(usize, u64)>,
    /// The blocks delivered above the cursor as of `save_ahead` returning.
    saved: Vec<(usize, BTreeSet<u64>)>,
}

#[derive(Clone, Debug, PartialEq)]
enum Written {
    Block(Vec<u8>),
    /// Per series (labels), its samples as (timestamp, value bits).
    Samples(BTreeMap<Vec<u8>, Vec<(i64, u64)>>),
}

/// Samples of record `seq`: a few series, values that tell the seq.
fn samples(seq: u64, rng: &mut fastrand::Rng) -> BTreeMap<Vec<u8>, Vec<(i64, u64)>> {
    (0..rng.u64(1..6))
        .map(|i| {
            let ts = seq as i64 * 1000;
            let values = vec![(ts, (seq * 10 + i) as f64), (ts + 500, f64::NAN)];
            (format!("series-{i}").into_bytes(), values.into_iter().map(|(t, v)| (t, v.to_bits())).collect())
        })
        .collect()
}

/// A seeded run against a `Disk` in `dir`, recorded. `compact`: records are sample records.
fn run(dir: &Path, seed: u64, steps: usize, compact: bool) -> (Vec<(PathBuf, Op)>, History) {
    let recorder: Recorder = Default::default();
    trace::register(dir, recorder.clone());
    let calls = || recorder.lock().unwrap().len();
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut h = History::default();
    let (mut disk, _) = Disk::open_with(RecordingOpener, dir, SEGMENT, BUDGET).unwrap();
    let mut writer = Writer::default();
    // Blocks held (not delivered, not dropped), in order.
    let mut held: Vec<u64> = Vec::new();
    let mut next = 0u64;
    for _ in 0..steps {
        let began = calls();
        match rng.u8(..100) {
            0..55 => {
                let seq = next;
                next += 1;
                let (written, appended) = if compact {
                    let record = samples(seq, &mut rng);
                    for (labels, values) in &record {
                        for (ts, bits) in values {
                            writer.push(labels, *ts, f64::from_bits(*bits));
                        }
                    }
                    let (_, appended) = disk.append_samples(seq, &mut writer).unwrap().unwrap();
                    (Written::Samples(record), appended)
                } else {
                    let len = rng.usize(10..150);
                    let payload: Vec<u8> = std::iter::repeat_with(|| rng.u8(..)).take(len).collect();
                    let meta = BlockMeta { seq, min_timestamp_ms: 0, max_timestamp_ms: 0, samples: 1 };
                    let appended = disk.append(&meta, &payload).unwrap();
                    (Written::Block(payload), appended)
                };
                for meta in &appended.dropped {
                    h.dropped.push((began, meta.seq));
                    held.retain(|s| *s != meta.seq);
                }
                h.written.insert(seq, (written, began, calls()));
                held.push(seq);
            }
            55..75 => {
                disk.sync().unwrap();
                h.syncs.push(calls());
            }
            75..85 if !compact && !held.is_empty() => {
                let upto = held[rng.usize(..held.len().min(3))];
                h.delivered.extend(held.iter().filter(|s| **s <= upto).map(|s| (began, *s)));
                held.retain(|s| *s > upto);
                disk.set_delivered(upto).unwrap();
                h.cursor.push((calls(), upto));
            }
            85..95 if !compact && held.len() > 1 => {
                let seq = held.remove(rng.usize(1..held.len()));
                h.delivered.push((began, seq));
                disk.set_delivered_ahead(seq).unwrap();
            }
            _ if !compact => {
                disk.save_ahead().unwrap();
                h.saved.push((calls(), disk.ahead().collect()));
            }
            _ => {}
        }
    }
    drop(disk);
    trace::unregister(dir);
    let trace = recorder.lock().unwrap().clone();
    (trace, h)
}

/// Checks one crash state: `k` calls had been made when the power went.
fn check(h: &History, k: usize, files: &BTreeMap<String, Vec<u8>>, what: &str, lost: &mut u64) {
    let dir = TempDir::new("power-state");
    for (name, data) in files {
        fs::write(dir.0.join(name), data).unwrap();
    }
    let (disk, recovery) =
        Disk::open(&dir.0, SEGMENT, BUDGET).unwrap_or_else(|e| panic!("{what}: open: {e}"));
    let synced_at = h.syncs.iter().copied().filter(|s| *s <= k).max().unwrap_or(0);
    let delivered: BTreeSet<u64> = h.delivered.iter().filter(|(at, _)| *at <= k).map(|(_, s)| *s).collect();
    let dropped: BTreeSet<u64> = h.dropped.iter().filter(|(at, _)| *at <= k).map(|(_, s)| *s).collect();
    let cursor = h.cursor.iter().filter(|(at, _)| *at <= k).map(|(_, s)| *s).max();
    let saved = h.saved.iter().rev().find(|(at, _)| *at <= k).map(|(_, s)| s.clone()).unwrap_or_default();
    let recovered: BTreeMap<u64, Written> = recovered(&disk, &recovery, &dir.0, what);
    for (seq, got) in &recovered {
        let Some((want, began, _)) = h.written.get(seq) else {
            panic!("{what}: block {seq} was never written")
        };
        assert!(*began <= k, "{what}: block {seq} written after the cut");
        assert_eq!(got, want, "{what}: block {seq} recovered other than written");
        assert!(
            cursor.is_none_or(|c| *seq > c),
            "{what}: block {seq} at or below the cursor {cursor:?} again"
        );
        assert!(!saved.contains(seq), "{what}: block {seq} saved as delivered, sent again");
    }
    for (seq, (_, _, done)) in &h.written {
        let must = *done <= synced_at && !delivered.contains(seq) && !dropped.contains(seq);
        assert!(!must || recovered.contains_key(seq), "{what}: block {seq}, synced before the cut, lost");
        if *done <= k && !delivered.contains(seq) && !dropped.contains(seq) && !recovered.contains_key(seq) {
            *lost += 1;
        }
    }
    let seqs: Vec<u64> = recovery.pending.iter().map(|(m, _)| m.seq).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{what}: recovered out of order: {seqs:?}");
    let top = seqs.last().copied().max(cursor);
    assert!(
        top.is_none_or(|t| recovery.next_seq > t),
        "{what}: next seq {} reuses {top:?}",
        recovery.next_seq
    );
    drop(disk);
    let (_, again) = Disk::open(&dir.0, SEGMENT, BUDGET).unwrap();
    assert_eq!(again.pending, recovery.pending, "{what}: a second start recovers the same");
}

/// What a start recovers: version 1 blocks read back through `Disk`; version 2 segments (kept
/// unread by this build) decoded whole, each torn at most at its end, never corrupt.
fn recovered(disk: &Disk, recovery: &Recovery, dir: &Path, what: &str) -> BTreeMap<u64, Written> {
    let mut out = BTreeMap::new();
    // Sample records decode only with their segment's dictionary: those segments are read
    // whole, and only the records recovery kept pending are taken from them.
    let mut compact_segments = BTreeSet::new();
    let pending: BTreeSet<u64> = recovery.pending.iter().map(|(m, _)| m.seq).collect();
    for (meta, at) in &recovery.pending {
        if at.kind == crate::buffer::disk::Kind::Samples {
            compact_segments.insert(at.segment);
            continue;
        }
        let block = disk.read(at).unwrap_or_else(|e| panic!("{what}: read {}: {e}", meta.seq));
        out.insert(meta.seq, Written::Block(block.payload.to_vec()));
    }
    assert!(recovery.unread.is_empty(), "{what}: segments kept unread: {:?}", recovery.unread);
    for index in compact_segments {
        let segment = read_compact(&fs::read(segment_path(dir, index)).unwrap());
        assert!(!matches!(segment.tail, Tail::Corrupt { .. }), "{what}: segment {index}: {:?}", segment.tail);
        for (meta, held) in segment.records {
            if !pending.contains(&meta.seq) {
                continue;
            }
            let Held::Samples(series) = held else { panic!("{what}: a block in a sample segment") };
            let record = series
                .iter()
                .map(|s| {
                    let labels = segment.reader.labels(s.series).unwrap().to_vec();
                    (labels, s.samples.iter().map(|(t, v)| (*t, v.to_bits())).collect())
                })
                .collect();
            let twice = out.insert(meta.seq, Written::Samples(record));
            assert!(twice.is_none(), "{what}: record {} in two segments", meta.seq);
        }
    }
    out
}

/// Replays the run's calls and checks the crash states at every fsync and a seeded sample of
/// the other calls; returns (states checked, unsynced blocks lost across them).
fn crash_everywhere(tag: &str, seed: u64, compact: bool) -> (u64, u64, usize) {
    let dir = TempDir::new(tag);
    let (trace, h) = run(&dir.0, seed, 160, compact);
    assert!(h.syncs.len() > 10 && !h.dropped.is_empty(), "the run syncs and deletes for room");
    let mut rng = fastrand::Rng::with_seed(seed ^ 0x5eed);
    let mut replay = Replay::default();
    let (mut states, mut lost) = (0u64, 0u64);
    for k in 0..=trace.len() {
        if k > 0 {
            let (path, op) = &trace[k - 1];
            replay.apply(path, op);
        }
        let fsync = k > 0 && matches!(trace[k - 1].1, Op::Sync | Op::SyncDir);
        if !fsync && rng.u8(..4) != 0 {
            continue;
        }
        let mut cuts = vec![Cut::Issued];
        if replay.has_unsynced() {
            cuts.push(Cut::Synced);
            cuts.extend((0..RANDOM_CUTS).map(|i| Cut::Random(seed * 1000 + k as u64 * 10 + i)));
        }
        for cut in cuts {
            let what = format!("{tag} seed {seed}, cut after call {k} of {} ({cut:?})", trace.len());
            check(&h, k, &replay.crash(cut), &what, &mut lost);
            states += 1;
        }
    }
    (states, lost, trace.len())
}

#[test]
fn power_cut_at_every_fsync_loses_only_unsynced_blocks() {
    let (mut states, mut lost, mut calls) = (0, 0, 0);
    for seed in [1, 2, 3] {
        let (s, l, c) = crash_everywhere("power-blocks", seed, false);
        (states, lost, calls) = (states + s, lost + l, calls + c);
    }
    eprintln!(
        "FIGURE power loss, sealed blocks: {states} crash states checked ({calls} recorded calls, 3 seeds); \
         {lost} unsynced blocks lost across them, none synced"
    );
}

#[test]
fn power_cut_at_every_fsync_keeps_synced_sample_records() {
    let (mut states, mut lost, mut calls) = (0, 0, 0);
    for seed in [4, 5] {
        let (s, l, c) = crash_everywhere("power-samples", seed, true);
        (states, lost, calls) = (states + s, lost + l, calls + c);
    }
    eprintln!(
        "FIGURE power loss, compact sample records: {states} crash states checked ({calls} recorded calls, \
         2 seeds); {lost} unsynced records lost across them, none synced"
    );
}
