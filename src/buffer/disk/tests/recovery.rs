//! Opening a data directory after a crash or damage: what is cut, counted, kept and reported.

use super::*;

#[test]
fn torn_last_record_at_every_offset() {
    // Blocks 0 and 1 in segment 0, 2 and 3 in segment 1.
    let (source, appended) = written("torn-src", 170, 0..4);
    assert_eq!(appended.iter().map(|(_, at)| at.segment).collect::<Vec<_>>(), vec![0, 0, 1, 1]);
    let images = [fs::read(source.file(0)).unwrap(), fs::read(source.file(1)).unwrap()];
    let start = appended[3].1.offset - RECORD_OVERHEAD as u64;
    for cut in start..images[1].len() as u64 {
        let dir = TempDir::new("torn");
        fs::write(dir.file(0), &images[0]).unwrap();
        fs::write(dir.file(1), &images[1][..cut as usize]).unwrap();
        let faults = FaultyOpener::default();
        let (_, recovery) = open(&dir, &faults, 170, 1 << 20);
        assert_eq!(recovery.pending, appended[..3], "cut at {cut}");
        let damage = SegmentDamage {
            segment: 1,
            offset: start,
            bytes: cut - start,
            damage: None,
            lost: vec![],
            unreadable: 1,
        };
        let want: Vec<_> = (cut > start).then_some(damage).into_iter().collect();
        assert_eq!(recovery.damaged, want, "cut at {cut}");
        assert_eq!(fs::metadata(dir.file(1)).unwrap().len(), start, "cut at {cut}");
        let (disk, again) = open(&dir, &faults, 170, 1 << 20);
        assert_eq!(
            (again.pending, again.damaged),
            (appended[..3].to_vec(), vec![]),
            "reopened, cut at {cut}"
        );
        assert_reads(&disk, &appended[..3]);
    }
}

#[test]
fn damage_in_one_segment_keeps_the_next() {
    // Blocks 0, 1, 2 in segment 0 (payloads 20, 30, 40 bytes), 3 and 4 in segment 1.
    let (dir, appended) = written("damage", 220, 0..5);
    assert_eq!(appended.iter().map(|(_, at)| at.segment).collect::<Vec<_>>(), vec![0, 0, 0, 1, 1]);
    let mut image = fs::read(dir.file(0)).unwrap();
    let len = image.len() as u64;
    image[appended[1].1.offset as usize + 5] ^= 0x10;
    fs::write(dir.file(0), &image).unwrap();
    let faults = FaultyOpener::default();
    let (disk, recovery) = open(&dir, &faults, 220, 1 << 20);
    let pending = vec![appended[0], appended[3], appended[4]];
    assert_eq!(recovery.pending, pending);
    let [
        SegmentDamage {
            segment: 0,
            offset,
            bytes,
            damage: Some(Damage::Checksum { .. }),
            lost,
            unreadable: 1,
        },
    ] = &recovery.damaged[..]
    else {
        panic!("{:?}", recovery.damaged)
    };
    let start = appended[1].1.offset - RECORD_OVERHEAD as u64;
    assert_eq!(
        (*offset, *bytes, lost),
        (start, len - start, &vec![block(2).0]),
        "block 2 decodes, so it is counted"
    );
    assert_reads(&disk, &pending);
    let (_, again) = open(&dir, &faults, 220, 1 << 20);
    assert_eq!((again.pending, again.damaged), (pending, vec![]));
}

#[test]
fn garbage_after_records_is_cut_and_counted() {
    let (dir, appended) = written("garbage", 1 << 20, 0..2);
    let clean = fs::metadata(dir.file(0)).unwrap().len();
    let mut file = OpenOptions::new().append(true).open(dir.file(0)).unwrap();
    io::Write::write_all(&mut file, &[0x5a; 20]).unwrap();
    let faults = FaultyOpener::default();
    let (_, recovery) = open(&dir, &faults, 1 << 20, 1 << 20);
    assert_eq!(recovery.pending, appended);
    assert_eq!((recovery.truncated_bytes(), recovery.damaged[0].offset), (20, clean));
    assert!(matches!(recovery.damaged[0].damage, Some(Damage::Length(_))), "{:?}", recovery.damaged);
    assert_eq!(fs::metadata(dir.file(0)).unwrap().len(), clean);
    let (_, again) = open(&dir, &faults, 1 << 20, 1 << 20);
    assert_eq!((again.truncated_bytes(), again.pending), (0, appended));
}

#[test]
fn bad_header_removes_only_that_segment() {
    let (dir, appended) = written("header", 150, 0..4);
    let mut image = fs::read(dir.file(0)).unwrap();
    image[0] = b'X';
    fs::write(dir.file(0), &image).unwrap();
    fs::write(dir.0.join("00000009.seg"), b"OPS").unwrap(); // a create cut short
    fs::write(dir.0.join("notes.txt"), b"not a segment").unwrap();
    let (_, recovery) = open(&dir, &FaultyOpener::default(), 150, 1 << 20);
    assert_eq!(recovery.pending, appended[2..]);
    let lost = vec![block(0).0, block(1).0];
    let removed = SegmentDamage {
        segment: 0,
        offset: 0,
        bytes: image.len() as u64,
        damage: Some(Damage::BadMagic),
        lost,
        unreadable: 0,
    };
    let torn = SegmentDamage { segment: 9, offset: 0, bytes: 3, damage: None, lost: vec![], unreadable: 0 };
    assert_eq!(recovery.damaged, vec![removed, torn]);
    assert_eq!(segment_files(&dir.0), vec![1, 2]);
    assert!(dir.0.join("notes.txt").exists());
}

#[test]
fn segment_of_an_unknown_version_is_kept_and_not_sent() {
    let (dir, appended) = written("version", 150, 0..6);
    let mut image = fs::read(dir.file(0)).unwrap();
    image[4] = 3; // version 3
    fs::write(dir.file(0), &image).unwrap();
    let mut flags = fs::read(dir.file(1)).unwrap();
    flags[7] = 1; // a reserved byte a later version may use as a flag
    fs::write(dir.file(1), &flags).unwrap();
    let kept: Vec<_> = appended.iter().filter(|(_, at)| at.segment >= 2).cloned().collect();
    let next = appended.last().unwrap().1.segment + 1;
    for reopen in 0..2 {
        let (mut disk, recovery) = open(&dir, &FaultyOpener::default(), 150, 1 << 20);
        let unread = vec![(0, Damage::BadVersion(3)), (1, Damage::BadVersion(1))];
        assert_eq!((recovery.unread, recovery.damaged), (unread, vec![]), "reopen {reopen}");
        assert_eq!(fs::read(dir.file(0)).unwrap(), image, "reopen {reopen}");
        assert_eq!(fs::read(dir.file(1)).unwrap(), flags, "reopen {reopen}");
        if reopen == 0 {
            assert_eq!(recovery.pending, kept, "segments 2 and later as before");
            assert_eq!(append(&mut disk, 9).at.segment, next, "new blocks go after the kept segments");
            disk.sync().unwrap();
        } else {
            let mut want = seqs(&kept);
            want.push(9);
            assert_eq!(seqs(&recovery.pending), want);
        }
    }
}

#[test]
fn delivered_blocks_are_not_reported_again() {
    let dir = TempDir::new("cursor");
    let faults = FaultyOpener::default();
    let (mut disk, _) = open(&dir, &faults, 250, 1 << 20);
    let appended: Vec<_> = (0..6).map(|seq| (block(seq).0, append(&mut disk, seq).at)).collect();
    assert_eq!(appended.iter().map(|(_, at)| at.segment).collect::<Vec<_>>(), vec![0, 0, 0, 1, 1, 2]);
    disk.set_delivered(4).unwrap();
    assert_eq!(segment_files(&dir.0), vec![2], "segments 0 and 1 hold only blocks up to 4");
    disk.set_delivered(2).unwrap();
    disk.sync().unwrap();
    drop(disk);
    let (mut disk, recovery) = open(&dir, &faults, 250, 1 << 20);
    assert_eq!((recovery.pending, recovery.cursor, recovery.next_seq), (appended[5..].to_vec(), Some(4), 6));
    disk.set_delivered(5).unwrap();
    assert_eq!((disk.segments(), disk.bytes(), segment_files(&dir.0)), (0, 0, vec![]));
    let at = append(&mut disk, 6).at;
    assert_eq!(at.segment, 3);
    disk.set_delivered(6).unwrap();
    assert_eq!(segment_files(&dir.0), Vec::<u64>::new(), "the open segment goes too once delivered");
    assert_eq!(append(&mut disk, 7).at.segment, 4);
    drop(disk);
    let (_, recovery) = open(&dir, &faults, 250, 1 << 20);
    assert_eq!((seqs(&recovery.pending), recovery.cursor), (vec![7], Some(6)));
}

#[test]
fn cursor_survives_a_torn_slot() {
    let dir = TempDir::new("cursor-torn");
    let faults = FaultyOpener::default();
    let (mut disk, _) = open(&dir, &faults, 1 << 20, 1 << 20);
    (0..5).for_each(|seq| drop(append(&mut disk, seq)));
    disk.set_delivered(1).unwrap();
    disk.set_delivered(2).unwrap();
    drop(disk);
    let path = dir.0.join("cursor");
    let mut cursor = fs::read(&path).unwrap();
    assert_eq!(cursor.len(), 32);
    // Generation 2 went to slot 0: tear it, as a power cut during its write would.
    cursor[3] ^= 0xff;
    fs::write(&path, &cursor).unwrap();
    let (mut disk, recovery) = open(&dir, &faults, 1 << 20, 1 << 20);
    assert_eq!((recovery.cursor, seqs(&recovery.pending)), (Some(1), vec![2, 3, 4]));
    disk.set_delivered(3).unwrap();
    let (_, recovery) = open(&dir, &faults, 1 << 20, 1 << 20);
    assert_eq!((recovery.cursor, seqs(&recovery.pending)), (Some(3), vec![4]));
}
