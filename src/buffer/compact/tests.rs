use std::collections::BTreeMap;

use super::bits::{BitReader, BitWriter, XorState, read_xor, write_xor};
use super::*;
use crate::buffer::segment::{self, BlockMeta, COMPACT_VERSION, Frame, HEADER_LEN, Tail};

/// Prometheus's staleness marker (`value.StaleNaN`).
const STALE: u64 = 0x7ff0_0000_0000_0002;
/// Prometheus's "normal" NaN (`value.NormalNaN`).
const NORMAL_NAN: u64 = 0x7ff8_0000_0000_0001;

/// A record's samples per series labels, each series in order: what a reader must give back.
type PerSeries = BTreeMap<Vec<u8>, Vec<(i64, u64)>>;

fn per_series(samples: &[(Vec<u8>, i64, u64)]) -> PerSeries {
    let mut map = PerSeries::new();
    for (labels, ts, bits) in samples {
        map.entry(labels.clone()).or_default().push((*ts, *bits));
    }
    map
}

fn decoded(reader: &Reader, series: &[SeriesSamples]) -> PerSeries {
    let mut map = PerSeries::new();
    for s in series {
        let labels = reader.labels(s.series).expect("a decoded id is in the dictionary").to_vec();
        let samples = s.samples.iter().map(|(ts, v)| (*ts, v.to_bits())).collect();
        assert!(map.insert(labels, samples).is_none(), "a series twice in one record");
    }
    map
}

/// Pushes and encodes `samples` as one record, committed.
fn record(writer: &mut Writer, samples: &[(Vec<u8>, i64, u64)]) -> (RecordInfo, Vec<u8>) {
    for (labels, ts, bits) in samples {
        writer.push(labels, *ts, f64::from_bits(*bits));
    }
    let mut out = Vec::new();
    let info = writer.encode(&mut out).expect("samples pushed");
    writer.commit();
    (info, out)
}

#[test]
fn xor_round_trips_every_bit() {
    let mut rng = fastrand::Rng::with_seed(3);
    let mut values: Vec<u64> =
        [0.0f64, -0.0, 1.0, 1.0, 2.5, 2.5, f64::INFINITY, f64::NEG_INFINITY, f64::MIN_POSITIVE, f64::MAX]
            .iter()
            .map(|v| v.to_bits())
            .collect();
    values.extend([STALE, STALE, NORMAL_NAN, 1, u64::MAX, 0, 1 << 63, 0x8000_0000_0000_0001]);
    values.extend(std::iter::repeat_with(|| rng.u64(..)).take(500));
    values.extend((0..500).map(|i| (1000.0 + f64::from(i) * 0.25).to_bits()));
    let mut w = BitWriter::default();
    w.bits(values[0], 64);
    let mut state = XorState::first(values[0]);
    for &v in &values[1..] {
        write_xor(&mut w, &mut state, v);
    }
    let bytes = w.into_bytes();
    let mut r = BitReader::new(&bytes);
    let first = r.bits(64).unwrap();
    let mut state = XorState::first(first);
    let mut back = vec![first];
    for _ in 1..values.len() {
        back.push(read_xor(&mut r, &mut state).expect("written"));
    }
    assert_eq!(back, values);
    assert!(r.at_end());
}

#[test]
fn record_layout() {
    let mut writer = Writer::default();
    let one = 1f64.to_bits();
    let (info, payload) = record(&mut writer, &[(b"L".to_vec(), 1000, one), (b"L".to_vec(), 2000, one)]);
    assert_eq!(info, RecordInfo { samples: 2, min_timestamp_ms: 1000, max_timestamp_ms: 2000 });
    #[rustfmt::skip]
    let want = [
        KIND_SAMPLES, 11,
        2, 0xd0, 0x0f, 0xe8, 0x07, // two timestamps: 1000 (zigzag varint), then 1000 more
        1, 1, b'L', // one new label set, "L"
        1, 0, 2, // one group: series 0, two samples
        // 1 and index 0 | 1.0 in 64 bits | 1 and index 1 (not 1000 + delta 0) | 0 (same value)
        0x8f, 0xfc, 0, 0, 0, 0, 0, 0, 0x30,
    ];
    assert_eq!(payload, want);
    // The second record adds no label set: series 0 continues its chain, its timestamp the
    // one its last delta predicts (bit 0), its value the same (bit 0).
    let (_, second) = record(&mut writer, &[(b"L".to_vec(), 3000, one)]);
    assert_eq!(second, [KIND_SAMPLES, 7, 1, 0xf0, 0x2e, 0, 1, 0, 1, 0]);
    let mut reader = Reader::default();
    let Ok(Record::Samples(first)) = reader.decode(&payload) else { panic!("decodes") };
    assert_eq!(first, vec![SeriesSamples { series: 0, samples: vec![(1000, 1.0), (2000, 1.0)] }]);
    let Ok(Record::Samples(next)) = reader.decode(&second) else { panic!("decodes") };
    assert_eq!(next, vec![SeriesSamples { series: 0, samples: vec![(3000, 1.0)] }]);
    assert_eq!(reader.labels(0), Some(&b"L"[..]));
    assert_eq!(reader.labels(1), None);
}

#[test]
fn a_long_head_is_snappy_compressed() {
    let mut writer = Writer::default();
    let labels = b"__name__ node_cpu_seconds_total cpu 0 mode idle instance 10.0.0.1:9100".to_vec();
    let samples: Vec<_> = (0..50u8).map(|i| ([&labels[..], &[i]].concat(), 5, 0)).collect();
    let (_, payload) = record(&mut writer, &samples);
    assert_eq!(payload[0], KIND_SAMPLES_SNAPPY);
    let mut reader = Reader::default();
    let Ok(Record::Samples(series)) = reader.decode(&payload) else { panic!("decodes") };
    assert_eq!(decoded(&reader, &series), per_series(&samples));
}

#[test]
fn empty_writer_encodes_nothing() {
    let mut out = vec![1, 2, 3];
    assert_eq!(Writer::default().encode(&mut out), None);
    assert!(out.is_empty());
}

#[test]
fn decode_errors() {
    let mut good = Writer::default();
    let (_, one) = record(&mut good, &[(b"a".to_vec(), 7, 0)]);
    let with_head = |head: &[u8], bits: &[u8]| [&[KIND_SAMPLES, head.len() as u8][..], head, bits].concat();
    let huge = [&[KIND_SAMPLES_SNAPPY, 5][..], &[0x80, 0x80, 0x80, 0x80, 0x04]].concat();
    let cases: Vec<(&str, Vec<u8>, RecordError)> = vec![
        ("empty", vec![], RecordError::Empty),
        ("unknown kind", vec![7, 0], RecordError::UnknownKind(7)),
        ("no head length", vec![KIND_SAMPLES], RecordError::Truncated("head length")),
        ("head past the end", vec![KIND_SAMPLES, 5, 0], RecordError::Truncated("head")),
        ("no times", with_head(&[], &[]), RecordError::Truncated("times")),
        ("times past the head", with_head(&[3, 0, 1], &[]), RecordError::Truncated("times")),
        ("label set past the head", with_head(&[0, 1, 9, b'x'], &[]), RecordError::Truncated("dictionary")),
        ("no groups", with_head(&[0, 0], &[]), RecordError::Truncated("groups")),
        ("id not defined", with_head(&[0, 0, 1, 0, 1], &[0]), RecordError::UnknownSeries(0)),
        ("no samples", with_head(&[0, 1, 1, b'a', 1, 0, 0], &[]), RecordError::ZeroCount(0)),
        ("count beyond the bits", with_head(&[0, 1, 1, b'a', 1, 0, 1], &[]), RecordError::BadBits),
        ("bits run out", with_head(&[1, 0, 1, 1, b'a', 1, 0, 1], &[0x80]), RecordError::BadBits),
        ("no timestamp to index", with_head(&[0, 1, 1, b'a', 1, 0, 1], &[0x80, 0]), RecordError::BadBits),
        ("a first sample predicted", with_head(&[1, 0, 1, 1, b'a', 1, 0, 1], &[0; 9]), RecordError::BadBits),
        ("byte after the head", with_head(&[0, 0, 0, 0], &[]), RecordError::TrailingBytes),
        ("byte after the bits", [&one[..], &[0]].concat(), RecordError::TrailingBytes),
        ("bit after the samples", [&one[..one.len() - 1], &[1]].concat(), RecordError::TrailingBytes),
        ("snappy head claims 1 GiB", huge, RecordError::HeadTooLarge(1 << 30)),
        ("snappy garbage", vec![KIND_SAMPLES_SNAPPY, 2, 3, 0xff], RecordError::Snappy(String::new())),
    ];
    for (name, payload, want) in cases {
        let got = Reader::default().decode(&payload);
        match (got, want) {
            (Err(RecordError::Snappy(_)), RecordError::Snappy(_)) => {}
            (got, want) => assert_eq!(got, Err(want), "{name}"),
        }
    }
    assert_eq!(Reader::default().decode(&[KIND_BLOCK, 1, 2]), Ok(Record::Block(&[1, 2][..])));
    assert_eq!(Reader::default().decode(&one).map(|_| ()), Ok(()), "the good record");
}

#[test]
fn record_error_messages() {
    assert_eq!(RecordError::UnknownSeries(4).to_string(), "sample record: series 4 not in the dictionary");
    assert_eq!(RecordError::Truncated("times").to_string(), "sample record: head ends in times");
    assert_eq!(RecordError::UnknownKind(9).to_string(), "sample record: unknown kind 9");
}

/// Random samples: `series` label sets, timestamps mostly regular, values of every kind.
fn random_samples(
    rng: &mut fastrand::Rng,
    series: usize,
    n: usize,
    now: &mut i64,
) -> Vec<(Vec<u8>, i64, u64)> {
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let id = rng.usize(..series);
        let labels = format!("series-{id}-{}", "x".repeat(id % 7)).into_bytes();
        let step = match rng.u8(..20) {
            0 => rng.i64(-100_000..100_000),
            1 => rng.i64(..),
            2..=9 => 0,
            _ => 1000 + rng.i64(-3..=3),
        };
        *now = now.wrapping_add(step);
        let bits = match rng.u8(..10) {
            0 => STALE,
            1 => NORMAL_NAN,
            2 => rng.u64(..),
            3 | 4 => (id as f64).to_bits(),
            _ => (*now as f64 / 1000.0 + id as f64).to_bits(),
        };
        samples.push((labels, *now, bits));
    }
    samples
}

/// The property: whatever is written, segment after segment, record after record, through
/// discarded records and records encoded again for a new segment, reads back sample for sample.
#[test]
fn any_samples_written_read_back_exactly_per_series_in_order() {
    for seed in 0..40 {
        let mut rng = fastrand::Rng::with_seed(seed);
        let mut now = rng.i64(..);
        let series = 1 + rng.usize(..40);
        let mut writer = Writer::default();
        let mut reader = Reader::default();
        let mut committed = 0;
        for step in 0..60 {
            let n = rng.usize(1..80);
            let samples = random_samples(&mut rng, series, n, &mut now);
            let at = format!("seed {seed} step {step}");
            for (labels, ts, bits) in &samples {
                writer.push(labels, *ts, f64::from_bits(*bits));
            }
            assert_eq!(writer.samples(), samples.len(), "{at}");
            let mut payload = Vec::new();
            writer.encode(&mut payload).expect("samples pushed");
            match rng.u8(..10) {
                // The write failed: nothing of this record reaches the segment.
                0 => {
                    writer.discard();
                    assert_eq!((writer.samples(), writer.series()), (0, committed), "{at}");
                    continue;
                }
                // It did not fit: the same samples go first in a new segment.
                1 => {
                    writer.new_segment();
                    reader = Reader::default();
                    writer.encode(&mut payload).expect("samples kept");
                }
                _ => {}
            }
            writer.commit();
            committed = writer.series();
            let Ok(Record::Samples(got)) = reader.decode(&payload) else { panic!("{at}: decodes") };
            assert_eq!(decoded(&reader, &got), per_series(&samples), "{at}");
        }
    }
}

/// A segment image, each record's `(start, end)`, and what each holds (`None`: a block).
type Image = (Vec<u8>, Vec<(usize, usize)>, Vec<Option<PerSeries>>);

/// A version 2 segment: a block record, then three sample records.
fn compact_segment() -> Image {
    let mut rng = fastrand::Rng::with_seed(11);
    let mut now = 1_700_000_000_000;
    let mut image = segment::header_of(COMPACT_VERSION).to_vec();
    let mut spans = Vec::new();
    let mut expect = Vec::new();
    let block = [&[KIND_BLOCK][..], b"a sealed block"].concat();
    let meta = BlockMeta { seq: 1, min_timestamp_ms: 0, max_timestamp_ms: 0, samples: 1 };
    let start = image.len();
    segment::encode_record(&meta, &block, &mut image);
    spans.push((start, image.len()));
    expect.push(None);
    let mut writer = Writer::default();
    for seq in 2..5 {
        let samples = random_samples(&mut rng, 5, 6, &mut now);
        let (info, payload) = record(&mut writer, &samples);
        let meta = BlockMeta {
            seq,
            min_timestamp_ms: info.min_timestamp_ms,
            max_timestamp_ms: info.max_timestamp_ms,
            samples: info.samples,
        };
        let start = image.len();
        segment::encode_record(&meta, &payload, &mut image);
        spans.push((start, image.len()));
        expect.push(Some(per_series(&samples)));
    }
    (image, spans, expect)
}

/// What [`read::read`] delivers from `image`: each record's samples until the first record
/// that is not whole or not right (`None` for a block record).
fn read_image(image: &[u8]) -> (Vec<Option<PerSeries>>, Tail) {
    let segment = read::read(image);
    let out = segment
        .records
        .iter()
        .map(|(_, held)| match held {
            read::Held::Block(_) => None,
            read::Held::Samples(series) => Some(decoded(&segment.reader, series)),
        })
        .collect();
    if let Tail::Corrupt { damage: segment::Damage::Record(e), .. } = &segment.tail {
        panic!("a record whose checksum holds does not decode: {e}");
    }
    (out, segment.tail)
}

#[test]
fn a_record_that_does_not_decode_ends_the_good_part() {
    let (image, spans, expect) = compact_segment();
    // Record 2 rewritten with a series id no record defined, its checksum made right.
    let mut bad = image[..spans[2].0].to_vec();
    let payload = [KIND_SAMPLES, 5, 0, 0, 1, 99, 1];
    let meta = BlockMeta { seq: 3, min_timestamp_ms: 0, max_timestamp_ms: 0, samples: 1 };
    segment::encode_record(&meta, &payload, &mut bad);
    bad.extend_from_slice(&image[spans[2].1..]);
    let got = read::read(&bad);
    assert_eq!(got.records.len(), 2);
    assert_eq!(got.valid_len, spans[2].0);
    let damage = segment::Damage::Record(RecordError::UnknownSeries(99));
    assert_eq!(got.tail, Tail::Corrupt { at: spans[2].0, damage: damage.clone() });
    assert_eq!(damage.to_string(), "sample record: series 99 not in the dictionary");
    let Some(read::Held::Block(body)) = got.records.first().map(|r| &r.1) else { panic!("a block first") };
    assert_eq!(&bad[body.clone()], b"a sealed block");
    assert_eq!(read_image(&image).0, expect);
}

#[test]
fn only_version_2_segments_are_read() {
    let mut v1 = segment::header().to_vec();
    segment::encode_record(
        &BlockMeta { seq: 1, min_timestamp_ms: 0, max_timestamp_ms: 0, samples: 1 },
        b"x",
        &mut v1,
    );
    let got = read::read(&v1);
    let bad = Tail::Corrupt { at: 0, damage: segment::Damage::BadVersion(1) };
    assert_eq!((got.records.len(), got.valid_len, got.tail), (0, 0, bad));
    assert_eq!(read::read(b"OPS").tail, Tail::Torn { at: 0 });
}

#[test]
fn compact_segment_reads_back() {
    let (image, _, expect) = compact_segment();
    assert_eq!(read_image(&image), (expect, Tail::Clean));
}

#[test]
fn every_prefix_of_a_compact_segment_is_torn_after_whole_records() {
    let (image, spans, expect) = compact_segment();
    for cut in 0..image.len() {
        let (got, tail) = read_image(&image[..cut]);
        let whole = spans.iter().filter(|(_, end)| *end <= cut).count();
        assert_eq!(got, expect[..whole], "cut at {cut}");
        let boundary = cut == HEADER_LEN || spans.iter().any(|(_, end)| *end == cut);
        assert_eq!(matches!(tail, Tail::Clean), boundary, "cut at {cut}: {tail:?}");
        assert!(!matches!(tail, Tail::Corrupt { .. }), "cut at {cut}: {tail:?}");
    }
}

#[test]
fn every_bit_flip_in_a_compact_segment_is_caught_never_decoded() {
    let (image, spans, expect) = compact_segment();
    for i in 0..image.len() {
        for bit in 0..8 {
            let mut flipped = image.clone();
            flipped[i] ^= 1 << bit;
            let (got, tail) = read_image(&flipped);
            let k = spans.iter().position(|&(start, end)| (start..end).contains(&i)).unwrap_or(0);
            assert_eq!(got, expect[..k], "byte {i} bit {bit}");
            assert!(!matches!(tail, Tail::Clean), "byte {i} bit {bit}: not caught");
        }
    }
}

/// Below the checksum: any prefix or single-bit flip of a payload, and random bytes, decode
/// to an error or to something, never a panic (the checksum is what keeps them from being
/// sent).
#[test]
fn any_payload_bytes_never_panic() {
    let (image, spans, _) = compact_segment();
    let payloads: Vec<&[u8]> = spans.iter().map(|&(s, e)| &image[s + segment::RECORD_OVERHEAD..e]).collect();
    let primed = |upto: usize| {
        let mut reader = Reader::default();
        for p in &payloads[..upto] {
            reader.decode(p).expect("good payload");
        }
        reader
    };
    for (k, payload) in payloads.iter().enumerate() {
        for cut in 0..payload.len() {
            let _ = primed(k).decode(&payload[..cut]);
        }
        for i in 0..payload.len() {
            for bit in 0..8 {
                let mut flipped = payload.to_vec();
                flipped[i] ^= 1 << bit;
                let _ = primed(k).decode(&flipped);
            }
        }
    }
    let mut rng = fastrand::Rng::with_seed(5);
    for _ in 0..5000 {
        let n = rng.usize(..64);
        let mut bytes: Vec<u8> = std::iter::repeat_with(|| rng.u8(..)).take(n).collect();
        if let Some(kind) = bytes.first_mut() {
            *kind = rng.u8(1..=2);
        }
        let _ = primed(payloads.len()).decode(&bytes);
    }
    // A frame the segment decoder accepts carries the payload above as is.
    let Frame::Record { payload, .. } = segment::decode(&image[spans[1].0..]) else { panic!("record") };
    assert_eq!(payload, payloads[1]);
}
