use super::*;

fn meta(seq: u64) -> BlockMeta {
    BlockMeta {
        seq,
        min_timestamp_ms: -5 + seq as i64,
        max_timestamp_ms: 1_700_000_000_000,
        samples: 7 * seq as u32,
    }
}

type Block = (BlockMeta, Vec<u8>);

/// A valid segment of three records (the first with an empty payload), and each record's
/// `(start, end)` offsets.
fn three_records() -> (Vec<u8>, Vec<Block>, Vec<(usize, usize)>) {
    let blocks: Vec<Block> =
        vec![(meta(1), vec![]), (meta(2), b"hello".to_vec()), (meta(3), (0..40u8).collect())];
    let mut bytes = header().to_vec();
    let mut spans = Vec::new();
    for (meta, payload) in &blocks {
        let start = bytes.len();
        encode_record(meta, payload, &mut bytes);
        spans.push((start, bytes.len()));
    }
    (bytes, blocks, spans)
}

/// The records of a scan as (meta, payload bytes).
fn found(bytes: &[u8], scan: &Scan) -> Vec<Block> {
    scan.records.iter().map(|(meta, range)| (*meta, bytes[range.clone()].to_vec())).collect()
}

#[test]
fn records_round_trip() {
    let (bytes, blocks, spans) = three_records();
    let mut at = HEADER_LEN;
    for ((meta, payload), (start, end)) in blocks.iter().zip(&spans) {
        assert_eq!(at, *start);
        let Frame::Record { meta: got, payload: got_payload, len } = decode(&bytes[at..]) else {
            panic!("no record at {at}")
        };
        assert_eq!((got, got_payload, len), (*meta, payload.as_slice(), end - start));
        assert_eq!(len, RECORD_OVERHEAD + payload.len());
        at += len;
    }
    let scan = scan(&bytes);
    assert_eq!(found(&bytes, &scan), blocks);
    assert_eq!((scan.valid_len, scan.tail), (bytes.len(), Tail::Clean));
}

#[test]
fn block_meta_of_a_sealed_block() {
    let block = SealedBlock {
        seq: 9,
        payload: bytes::Bytes::from_static(b"x"),
        samples: 3,
        min_timestamp_ms: -1,
        max_timestamp_ms: 2,
    };
    assert_eq!(
        BlockMeta::of(&block),
        BlockMeta { seq: 9, min_timestamp_ms: -1, max_timestamp_ms: 2, samples: 3 }
    );
}

#[test]
fn header_checks() {
    assert_eq!(header(), *b"OPSG\x01\x00\x00\x00");
    assert_eq!(check_header(&header()), Header::Valid(1));
    assert_eq!(header_of(COMPACT_VERSION), *b"OPSG\x02\x00\x00\x00");
    assert_eq!(check_header(&header_of(COMPACT_VERSION)), Header::Valid(2));
    assert_eq!(check_header(&header()[..7]), Header::Torn);
    assert_eq!(check_header(b""), Header::Torn);
    assert_eq!(check_header(b"OPSF\x01\x00\x00\x00"), Header::Corrupt(Damage::BadMagic));
    assert_eq!(check_header(b"OPSG\x03\x00\x00\x00"), Header::Corrupt(Damage::BadVersion(3)));
    assert_eq!(check_header(b"OPSG\x00\x00\x00\x00"), Header::Corrupt(Damage::BadVersion(0)));
    assert_eq!(check_header(b"OPSG\x02\x00\x01\x00"), Header::Corrupt(Damage::BadVersion(2)));
    assert_eq!(check_header(b"OPSG\x01\x00\x00\x80"), Header::Corrupt(Damage::BadVersion(1)));
}

#[test]
fn decode_order() {
    let mut record = Vec::new();
    encode_record(&meta(1), b"abc", &mut record);
    let with_len = |len: u32| [&len.to_le_bytes()[..], &record[4..]].concat();
    let computed = crc32c::crc32c(&record[8..]);
    let cases: Vec<(&str, Vec<u8>, Frame)> = vec![
        ("empty", vec![], Frame::Torn),
        ("7 bytes, even with a bad len", vec![0xff; 7], Frame::Torn),
        ("len below the meta", with_len(27), Frame::Corrupt(Damage::Length(27))),
        ("len above the limit", with_len(u32::MAX), Frame::Corrupt(Damage::Length(u32::MAX))),
        ("largest len, few bytes", with_len((META_LEN + MAX_PAYLOAD) as u32), Frame::Torn),
        ("one byte short", record[..record.len() - 1].to_vec(), Frame::Torn),
        (
            "checksum",
            [&record[..4], &[0, 0, 0, 0], &record[8..]].concat(),
            Frame::Corrupt(Damage::Checksum { stored: 0, computed }),
        ),
    ];
    for (name, bytes, want) in cases {
        assert_eq!(decode(&bytes), want, "{name}");
    }
}

#[test]
fn every_truncation_is_torn_at_the_good_prefix() {
    let (bytes, blocks, spans) = three_records();
    let boundaries: Vec<usize> = std::iter::once(HEADER_LEN).chain(spans.iter().map(|s| s.1)).collect();
    for cut in 0..=bytes.len() {
        let prefix = &bytes[..cut];
        let scan = scan(prefix);
        let whole = spans.iter().filter(|(_, end)| *end <= cut).count();
        assert_eq!(found(prefix, &scan), blocks[..whole], "cut at {cut}");
        let valid_len = boundaries.iter().copied().filter(|&b| b <= cut).max().unwrap_or(0);
        assert_eq!(scan.valid_len, valid_len, "cut at {cut}");
        let tail = if boundaries.contains(&cut) { Tail::Clean } else { Tail::Torn { at: valid_len } };
        assert_eq!(scan.tail, tail, "cut at {cut}");
    }
}

#[test]
fn every_bit_flip_is_caught_never_delivered() {
    let (bytes, blocks, spans) = three_records();
    let (mut torn, mut lengths, mut checksums) = (0, 0, 0);
    for i in 0..bytes.len() {
        for bit in 0..8 {
            let mut flipped = bytes.clone();
            flipped[i] ^= 1 << bit;
            let scan = scan(&flipped);
            // The record holding the flipped byte (the header counts as "record 0, start 0").
            let (k, start) = match spans.iter().position(|&(start, end)| (start..end).contains(&i)) {
                Some(k) => (k, spans[k].0),
                None => (0, 0),
            };
            let at = format!("byte {i} bit {bit}");
            assert_eq!(found(&flipped, &scan), blocks[..k], "{at}");
            assert_eq!(scan.valid_len, start, "{at}");
            // A larger `len` that reaches past the end of the image reads as a torn record.
            let len_grew = (start..start + 4).contains(&i) && flipped[i] > bytes[i];
            let new_len = u32::from_le_bytes(flipped[start..start + 4].try_into().unwrap()) as usize;
            let past_end = len_grew && start + 8 + new_len > bytes.len();
            match scan.tail {
                Tail::Corrupt { at: tail_at, damage } => {
                    assert_eq!(tail_at, start, "{at}");
                    match damage {
                        Damage::Length(_) => lengths += 1,
                        Damage::Checksum { .. } => checksums += 1,
                        Damage::BadMagic | Damage::BadVersion(_) => assert!(i < HEADER_LEN, "{at}"),
                        Damage::Record(e) => panic!("{at}: a version 1 segment has no sample records: {e}"),
                    }
                }
                Tail::Torn { at: tail_at } => {
                    assert!(start > 0 && past_end, "{at}: torn");
                    assert_eq!(tail_at, start, "{at}");
                    torn += 1;
                }
                Tail::Clean => panic!("{at}: not caught"),
            }
        }
    }
    // Each way of catching a flip happened, so none of the arms above is vacuous.
    assert!(torn > 0 && lengths > 0 && checksums > 0, "torn {torn}, length {lengths}, checksum {checksums}");
}

#[test]
fn garbage_after_records_is_a_bad_tail() {
    let (bytes, blocks, spans) = three_records();
    let mut rng = fastrand::Rng::with_seed(7);
    let random: Vec<u8> = std::iter::repeat_with(|| rng.u8(..)).take(100).collect();
    let garbage: Vec<(&str, Vec<u8>)> = vec![
        ("one zero", vec![0]),
        ("zeros", vec![0; 64]),
        ("random", random),
        ("a second header", header().to_vec()),
        ("a record's first half", bytes[spans[2].0..spans[2].0 + 20].to_vec()),
        ("0xff", vec![0xff; 12]),
    ];
    for (name, extra) in garbage {
        let image = [&bytes[..], &extra].concat();
        let scan = scan(&image);
        assert_eq!(found(&image, &scan), blocks, "{name}");
        assert_eq!(scan.valid_len, bytes.len(), "{name}");
        match scan.tail {
            Tail::Torn { at } | Tail::Corrupt { at, .. } => assert_eq!(at, bytes.len(), "{name}"),
            Tail::Clean => panic!("{name}: garbage read as clean"),
        }
    }
}

#[test]
fn lost_counts_what_follows_the_damage() {
    let (bytes, blocks, spans) = three_records();
    let mut flipped = bytes.clone();
    flipped[spans[1].1 - 1] ^= 1; // the last payload byte of record 1
    assert_eq!(lost(&flipped, spans[1].0), Lost { readable: vec![blocks[2].0], unreadable: 1 });
    let mut length = bytes.clone();
    length[spans[1].0 + 3] = 0x80; // record 1's len far out of bounds: record 2 cannot be found
    assert_eq!(lost(&length, spans[1].0), Lost { readable: vec![], unreadable: 1 });
    assert_eq!(lost(&bytes[..bytes.len() - 1], spans[2].0), Lost { readable: vec![], unreadable: 1 });
    assert_eq!(lost(&bytes, bytes.len()), Lost::default());
    assert_eq!(lost(&bytes, HEADER_LEN).readable, blocks.iter().map(|b| b.0).collect::<Vec<_>>());
}

#[test]
fn damage_messages() {
    assert_eq!(Damage::BadMagic.to_string(), "bad magic");
    assert_eq!(Damage::BadVersion(3).to_string(), "unsupported version 3");
    assert_eq!(Damage::BadVersion(2).to_string(), "unsupported header (version 2, reserved bytes set)");
    assert_eq!(Damage::BadVersion(1).to_string(), "unsupported header (version 1, reserved bytes set)");
    assert_eq!(Damage::Length(3).to_string(), "record length 3 out of bounds");
    assert_eq!(
        Damage::Checksum { stored: 0xdead, computed: 0xbeef0001 }.to_string(),
        "checksum mismatch (stored 0x0000dead, computed 0xbeef0001)"
    );
}

/// A cursor file from two slots.
fn cursor(slot0: [u8; 16], slot1: [u8; 16]) -> Vec<u8> {
    [slot0, slot1].concat()
}

#[test]
fn cursor_reads_the_newer_slot() {
    // Generations 1 and 2 go to slots 1 and 0.
    assert_eq!(decode_cursor(&cursor(encode_cursor_slot(20, 2), encode_cursor_slot(10, 1))), Some((20, 2)));
    assert_eq!(decode_cursor(&cursor(encode_cursor_slot(40, 4), encode_cursor_slot(50, 5))), Some((50, 5)));
    // Only one slot ever written; the other is still zeros.
    assert_eq!(decode_cursor(&cursor([0; 16], encode_cursor_slot(10, 1))), Some((10, 1)));
    assert_eq!(decode_cursor(&encode_cursor_slot(7, 0)), Some((7, 0)), "a file cut after slot 0");
}

#[test]
fn cursor_generation_order_wraps() {
    let wrapped = cursor(encode_cursor_slot(100, 0), encode_cursor_slot(99, u32::MAX));
    assert_eq!(decode_cursor(&wrapped), Some((100, 0)));
    let before = cursor(encode_cursor_slot(98, u32::MAX - 1), encode_cursor_slot(99, u32::MAX));
    assert_eq!(decode_cursor(&before), Some((99, u32::MAX)));
}

#[test]
fn torn_cursor_slot_falls_back_to_the_other() {
    let good = cursor(encode_cursor_slot(20, 2), encode_cursor_slot(30, 3));
    // Generation 4 was being written to slot 0 when power went: every partial write of it.
    let next = encode_cursor_slot(40, 4);
    for cut in 0..16 {
        let mut torn = good.clone();
        torn[..cut].copy_from_slice(&next[..cut]);
        assert_eq!(decode_cursor(&torn), Some((30, 3)), "slot 0 written up to byte {cut}");
    }
    for i in 0..16 {
        for bit in 0..8 {
            let mut flipped = good.clone();
            flipped[16 + i] ^= 1 << bit;
            assert_eq!(decode_cursor(&flipped), Some((20, 2)), "slot 1 byte {i} bit {bit}");
        }
    }
}

#[test]
fn no_valid_cursor_slot_is_none() {
    assert_eq!(decode_cursor(&[0; CURSOR_LEN]), None);
    assert_eq!(decode_cursor(&[]), None);
    assert_eq!(decode_cursor(&encode_cursor_slot(7, 0)[..15]), None);
    let mut both = cursor(encode_cursor_slot(20, 2), encode_cursor_slot(30, 3));
    both[0] ^= 1;
    both[16] ^= 1;
    assert_eq!(decode_cursor(&both), None);
}

#[test]
fn delivered_file_round_trips_and_every_prefix_or_bit_flip_lists_nothing() {
    for seqs in [vec![], vec![7], vec![3, 9, u64::MAX]] {
        assert_eq!(decode_delivered(&encode_delivered(&seqs)), Some(seqs.clone()));
    }
    let good = encode_delivered(&[5, 6, 8]);
    for cut in 0..good.len() {
        assert_eq!(decode_delivered(&good[..cut]), None, "cut at {cut}");
    }
    let mut long = good.clone();
    long.push(0);
    assert_eq!(decode_delivered(&long), None, "trailing bytes");
    for i in 0..good.len() {
        for bit in 0..8 {
            let mut flipped = good.clone();
            flipped[i] ^= 1 << bit;
            assert_eq!(decode_delivered(&flipped), None, "byte {i} bit {bit}");
        }
    }
}

#[test]
fn draining_slots_read_the_newer_and_every_torn_or_flipped_slot_falls_back() {
    let p = |requests| Progress { first_seq: 10, last_seq: 14, samples: 900, max_samples: 100, requests };
    let file = |a: [u8; PROGRESS_SLOT_LEN], b: [u8; PROGRESS_SLOT_LEN]| [a, b].concat();
    // Generation 3 is in slot 1, generation 2 in slot 0.
    let good = file(encode_progress_slot(&p(2), 2), encode_progress_slot(&p(3), 3));
    assert_eq!(decode_progress(&good), Some((p(3), 3)));
    let wrapped = file(encode_progress_slot(&p(5), 0), encode_progress_slot(&p(4), u32::MAX));
    assert_eq!(decode_progress(&wrapped), Some((p(5), 0)), "generations wrap");
    for cut in 0..good.len() {
        let want = if cut >= PROGRESS_SLOT_LEN { Some((p(2), 2)) } else { None };
        assert_eq!(decode_progress(&good[..cut]), want, "cut at {cut}");
    }
    for i in 0..good.len() {
        for bit in 0..8 {
            let mut flipped = good.clone();
            flipped[i] ^= 1 << bit;
            let want = if i < PROGRESS_SLOT_LEN { (p(3), 3) } else { (p(2), 2) };
            assert_eq!(decode_progress(&flipped), Some(want), "byte {i} bit {bit}");
        }
    }
    assert_eq!(decode_progress(&[0; PROGRESS_LEN]), None, "no valid slot");
}
