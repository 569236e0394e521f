//! Compact sample records through `Disk` (`samples.rs`): each read back from its own segment
//! alone, through short writes, failed writes and rollbacks, ENOSPC, failed fsyncs, the disk
//! budget and crashes, and never decoded into another series or value.

use std::collections::BTreeMap;

use super::*;
use crate::buffer::compact::{Reader, Record, Writer};
use crate::buffer::segment::{COMPACT_VERSION, Tail};

/// A record's samples: per series labels, (timestamp, value bits) in order.
type PerSeries = BTreeMap<Vec<u8>, Vec<(i64, u64)>>;

/// Samples for record `seq`: `series` series, two samples each, values that tell the seq.
fn samples(seq: u64, series: u64) -> PerSeries {
    (0..series)
        .map(|i| {
            let labels = format!("series-{i}").into_bytes();
            let ts = seq as i64 * 1000;
            let values = vec![(ts, (seq * 10 + i) as f64), (ts + 500, f64::from_bits(0x7ff0_0000_0000_0002))];
            (labels, values.into_iter().map(|(t, v)| (t, v.to_bits())).collect())
        })
        .collect()
}

fn push(writer: &mut Writer, record: &PerSeries) {
    for (labels, samples) in record {
        for (ts, bits) in samples {
            writer.push(labels, *ts, f64::from_bits(*bits));
        }
    }
}

fn append_samples(disk: &mut Disk<FaultyOpener>, writer: &mut Writer, seq: u64, series: u64) -> Appended {
    push(writer, &samples(seq, series));
    let (meta, appended) =
        disk.append_samples(seq, writer).unwrap_or_else(|e| panic!("append {seq}: {e}")).unwrap();
    assert_eq!((meta.seq, meta.samples as u64), (seq, 2 * series));
    appended
}

/// Sample records by seq: the segment each is in, and its samples.
type Records = BTreeMap<u64, (u64, PerSeries)>;

/// Every sample record in `dir`, each segment read with a reader of its own; and how each
/// segment file ends.
fn on_disk(dir: &Path) -> (Records, Vec<(u64, Tail)>) {
    let mut records = BTreeMap::new();
    let mut tails = Vec::new();
    for index in segment_files(dir) {
        let bytes = fs::read(dir.join(format!("{index:08}.seg"))).unwrap();
        let scan = segment::scan(&bytes);
        tails.push((index, scan.tail.clone()));
        if scan.version != COMPACT_VERSION {
            continue;
        }
        let mut reader = Reader::default();
        for (meta, range) in &scan.records {
            let Ok(Record::Samples(series)) = reader.decode(&bytes[range.clone()]) else {
                panic!("segment {index}: record {} does not decode", meta.seq)
            };
            let mut record = PerSeries::new();
            for s in series {
                let labels = reader.labels(s.series).unwrap().to_vec();
                record.insert(labels, s.samples.iter().map(|(t, v)| (*t, v.to_bits())).collect());
            }
            assert!(records.insert(meta.seq, (index, record)).is_none(), "seq {} twice", meta.seq);
        }
    }
    (records, tails)
}

fn expected(seqs: impl IntoIterator<Item = (u64, u64, u64)>) -> Records {
    seqs.into_iter().map(|(seq, segment, series)| (seq, (segment, samples(seq, series)))).collect()
}

#[test]
fn sample_records_read_back_from_their_own_segment_alone() {
    let dir = TempDir::new("samples");
    let faults = FaultyOpener::default();
    let (mut disk, _) = open(&dir, &faults, 400, 1 << 20);
    let mut writer = Writer::default();
    let mut want = Vec::new();
    for seq in 0..12 {
        if seq == 6 {
            // A sealed block between them: a version 1 segment of its own.
            assert_eq!(
                append(&mut disk, seq).at.segment,
                want.last().map_or(0, |w: &(u64, u64, u64)| w.1) + 1
            );
            continue;
        }
        let at = append_samples(&mut disk, &mut writer, seq, 3).at;
        want.push((seq, at.segment, 3));
    }
    disk.sync().unwrap();
    let segments: Vec<u64> = want.iter().map(|w| w.1).collect();
    assert!(segments.windows(2).any(|w| w[0] == w[1]), "records share segments: {segments:?}");
    assert!(segments.windows(2).any(|w| w[0] < w[1]), "and fill several: {segments:?}");
    let (got, tails) = on_disk(&dir.0);
    assert_eq!(got, expected(want));
    assert!(tails.iter().all(|(_, tail)| *tail == Tail::Clean), "{tails:?}");
    // Recovery reports every record pending, in order, sample records as such.
    drop(disk);
    let (_, recovery) = open(&dir, &faults, 400, 1 << 20);
    assert_eq!(seqs(&recovery.pending), (0..12).collect::<Vec<_>>());
    assert!(recovery.unread.is_empty() && recovery.damaged.is_empty(), "{recovery:?}");
    for (meta, at) in &recovery.pending {
        let kind = if meta.seq == 6 { Kind::Block } else { Kind::Samples };
        assert_eq!(at.kind, kind, "seq {}", meta.seq);
    }
    assert!(recovery.pending.iter().any(|(m, at)| m.seq == 6 && at.segment != segments[0]));
}

#[test]
fn sample_records_through_short_writes() {
    let dir = TempDir::new("samples-short");
    let faults = FaultyOpener::default();
    faults.set(|f| f.short_writes = Some(3));
    let (mut disk, _) = open(&dir, &faults, 1 << 20, 1 << 20);
    let mut writer = Writer::default();
    let want: Vec<_> =
        (0..4).map(|seq| (seq, append_samples(&mut disk, &mut writer, seq, 4).at.segment, 4)).collect();
    assert_eq!(on_disk(&dir.0).0, expected(want));
}

#[test]
fn a_failed_sample_write_is_rolled_back_and_the_dictionary_stays_whole() {
    let dir = TempDir::new("samples-eio");
    let faults = FaultyOpener::default();
    let (mut disk, _) = open(&dir, &faults, 1 << 20, 1 << 20);
    let mut writer = Writer::default();
    let mut want = vec![(0, append_samples(&mut disk, &mut writer, 0, 2).at.segment, 2)];
    // Record 1 brings series-2 and series-3 into the dictionary, and fails.
    faults.set(|f| f.fail_after_bytes = Some(10));
    push(&mut writer, &samples(1, 4));
    let failed = disk.append_samples(1, &mut writer).unwrap_err();
    assert_eq!(failed.to_string(), format!("write segment 00000000: {EIO}"));
    assert_eq!((writer.samples(), writer.series()), (0, 2), "its samples dropped, its series forgotten");
    faults.set(|f| f.fail_after_bytes = None);
    want.push((2, append_samples(&mut disk, &mut writer, 2, 4).at.segment, 4));
    assert_eq!(want[1].1, 0, "the same segment, which defines series-2 and series-3 in record 2");
    let (got, tails) = on_disk(&dir.0);
    assert_eq!((got, tails), (expected(want), vec![(0, Tail::Clean)]));
}

#[test]
fn a_failed_rollback_sends_the_next_record_to_a_new_segment() {
    let dir = TempDir::new("samples-rollback");
    let faults = FaultyOpener::default();
    let (mut disk, _) = open(&dir, &faults, 1 << 20, 1 << 20);
    let mut writer = Writer::default();
    let mut want = vec![(0, append_samples(&mut disk, &mut writer, 0, 2).at.segment, 2)];
    faults.set(|f| (f.fail_after_bytes, f.fail_set_len) = (Some(10), true));
    push(&mut writer, &samples(1, 2));
    assert!(disk.append_samples(1, &mut writer).is_err());
    faults.set(|f| (f.fail_after_bytes, f.fail_set_len) = (None, false));
    want.push((2, append_samples(&mut disk, &mut writer, 2, 2).at.segment, 2));
    assert_eq!(want[1].1, 1, "nothing is written after a torn record");
    let (got, tails) = on_disk(&dir.0);
    assert_eq!(got, expected(want), "record 2 carries its own dictionary");
    assert!(matches!(tails[..], [(0, Tail::Torn { .. }), (1, Tail::Clean)]), "{tails:?}");
}

#[test]
fn sample_enospc_deletes_the_oldest_closed_segment_and_retries() {
    let dir = TempDir::new("samples-enospc");
    let faults = FaultyOpener::default();
    let (mut disk, _) = open(&dir, &faults, 100, 1 << 20);
    let mut writer = Writer::default();
    let first = append_samples(&mut disk, &mut writer, 0, 1).at;
    let second = append_samples(&mut disk, &mut writer, 1, 1).at;
    assert_eq!((first.segment, second.segment), (0, 1), "100-byte segments hold one record each");
    // Room for a header and part of a record: the write is cut short, then fails.
    faults.set(|f| f.enospc = Some(dir_bytes(&dir.0) + 20));
    let appended = append_samples(&mut disk, &mut writer, 2, 1);
    assert_eq!(appended.at.segment, 2, "the new segment, its torn record rolled back");
    assert_eq!(appended.dropped.iter().map(|m| m.seq).collect::<Vec<_>>(), vec![0]);
    let (got, _) = on_disk(&dir.0);
    assert_eq!(got, expected([(1, 1, 1), (2, appended.at.segment, 1)]));
    assert_eq!(disk.bytes(), dir_bytes(&dir.0));
}

#[test]
fn a_failed_fsync_poisons_and_the_next_record_starts_afresh() {
    let dir = TempDir::new("samples-fsync");
    let faults = FaultyOpener::default();
    let (mut disk, _) = open(&dir, &faults, 1 << 20, 1 << 20);
    let mut writer = Writer::default();
    let mut want = vec![(0, append_samples(&mut disk, &mut writer, 0, 3).at.segment, 3)];
    faults.set(|f| f.fail_sync = true);
    let err = disk.sync().unwrap_err();
    assert!(matches!(err, DiskError::Poisoned { segment: 0, .. }), "{err:?}");
    faults.set(|f| f.fail_sync = false);
    want.push((1, append_samples(&mut disk, &mut writer, 1, 3).at.segment, 3));
    assert_eq!(want[1].1, 1, "a poisoned segment is never appended to again");
    assert_eq!(on_disk(&dir.0).0, expected(want), "segment 1 defines its series again");
}

#[test]
fn oversized_sample_record() {
    let dir = TempDir::new("samples-large");
    let faults = FaultyOpener::default();
    let (mut disk, _) = open(&dir, &faults, 100, 300);
    let mut writer = Writer::default();
    push(&mut writer, &samples(0, 40));
    let err = disk.append_samples(0, &mut writer).unwrap_err();
    assert!(err.to_string().ends_with("-byte record exceeds the 292-byte limit"), "{err}");
    assert_eq!((writer.samples(), disk.segments()), (0, 0));
    assert!(disk.append_samples(1, &mut writer).unwrap().is_none(), "nothing pushed");
}

/// Seeded random operations against a model, with crashes that tear the newest segment at a
/// random offset: every record on disk is exactly one that was written, and every record
/// written, not deleted and not torn away, is on disk.
#[test]
fn seeded_ops_with_crashes_never_decode_wrong_samples() {
    const SEGMENT: u64 = 600;
    const BUDGET: u64 = 3000;
    for seed in 0..4 {
        let dir = TempDir::new("samples-ops");
        let faults = FaultyOpener::default();
        let mut rng = fastrand::Rng::with_seed(seed);
        let (mut disk, _) = open(&dir, &faults, SEGMENT, BUDGET);
        let mut writer = Writer::default();
        // seq -> (segment, end of record in it, samples)
        let mut model: BTreeMap<u64, (u64, u64, PerSeries)> = BTreeMap::new();
        // Sealed blocks written between sample records (recovery indexes both kinds).
        let mut blocks = std::collections::BTreeSet::new();
        for seq in 0..300u64 {
            let at = format!("seed {seed} seq {seq}");
            match rng.u8(..100) {
                0..75 => {
                    let series = rng.u64(1..6);
                    let appended = append_samples(&mut disk, &mut writer, seq, series);
                    for dropped in &appended.dropped {
                        let known = model.remove(&dropped.seq).is_some() || blocks.remove(&dropped.seq);
                        assert!(known, "{at}: dropped {}", dropped.seq);
                    }
                    let end = appended.at.offset + u64::from(appended.at.len);
                    model.insert(seq, (appended.at.segment, end, samples(seq, series)));
                }
                75..80 => {
                    let appended = append(&mut disk, seq);
                    for dropped in &appended.dropped {
                        let known = model.remove(&dropped.seq).is_some() || blocks.remove(&dropped.seq);
                        assert!(known, "{at}: dropped {}", dropped.seq);
                    }
                    blocks.insert(seq);
                }
                80..85 if !model.is_empty() => {
                    disk.set_delivered(seq).unwrap();
                    let files = segment_files(&dir.0);
                    model.retain(|_, (segment, _, _)| files.contains(segment));
                }
                85..95 => {
                    let _ = disk.sync();
                }
                _ => {
                    disk.sync().unwrap();
                    drop(disk);
                    if let Some(&last) = segment_files(&dir.0).last() {
                        let path = dir.file(last);
                        let len = fs::metadata(&path).unwrap().len();
                        let cut = rng.u64(HEADER_LEN as u64..=len.max(HEADER_LEN as u64));
                        OpenOptions::new().write(true).open(&path).unwrap().set_len(cut).unwrap();
                        model.retain(|_, (segment, end, _)| *segment != last || *end <= cut);
                    }
                    (disk, _) = open(&dir, &faults, SEGMENT, BUDGET);
                }
            }
            let (got, _) = on_disk(&dir.0);
            let want: Records =
                model.iter().map(|(seq, (segment, _, s))| (*seq, (*segment, s.clone()))).collect();
            assert_eq!(got, want, "{at}");
        }
    }
}
