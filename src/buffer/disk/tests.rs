use std::fs::{self, OpenOptions};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use super::files::list_segments;
use super::*;

mod power;
mod recovery;
mod samples;

/// strerror(EIO) as outpost prints it: glibc's and musl's texts differ.
const EIO: &str = if cfg!(target_env = "musl") { "I/O error" } else { "input/output error" };

/// A directory under `std::env::temp_dir()` with a unique name, removed on drop.
pub(crate) struct TempDir(pub(crate) PathBuf);

impl TempDir {
    pub(crate) fn new(tag: &str) -> TempDir {
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().subsec_nanos();
        let n = SEQ.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("outpost-disk-{tag}-{}-{n}-{nanos}", std::process::id()));
        fs::create_dir(&path).unwrap();
        TempDir(path)
    }

    fn file(&self, index: u64) -> PathBuf {
        self.0.join(format!("{index:08}.seg"))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// What the next calls on any `FaultyFile` of one opener do; the test changes it as it goes.
#[derive(Clone, Copy, Debug, Default)]
struct Faults {
    /// Writes succeed for this many more bytes (the last one short), then fail with EIO.
    fail_after_bytes: Option<u64>,
    /// `sync_data` fails with EIO.
    fail_sync: bool,
    /// `set_len` fails with EIO.
    fail_set_len: bool,
    /// The directory's capacity: a write that would take its files past it is cut short,
    /// then fails with ENOSPC. Deleting a file frees room, as on a real filesystem.
    enospc: Option<u64>,
    /// Each write takes at most this many bytes.
    short_writes: Option<usize>,
    /// `sync_data` calls made, failed ones included.
    syncs: u64,
}

/// A real file in a temp dir behind the seam, failing as `Faults` says.
struct FaultyFile {
    file: File,
    dir: PathBuf,
    faults: Arc<Mutex<Faults>>,
}

impl SegmentFile for FaultyFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut faults = self.faults.lock().unwrap();
        let mut n = buf.len().min(faults.short_writes.unwrap_or(usize::MAX));
        if let Some(capacity) = faults.enospc {
            let free = capacity.saturating_sub(dir_bytes(&self.dir));
            if free == 0 {
                return Err(io::Error::from_raw_os_error(28));
            }
            n = n.min(free as usize);
        }
        if let Some(left) = faults.fail_after_bytes.as_mut() {
            if *left == 0 {
                return Err(io::Error::from_raw_os_error(5));
            }
            n = n.min(*left as usize);
            *left -= n as u64;
        }
        io::Write::write(&mut self.file, &buf[..n])
    }

    fn sync_data(&mut self) -> io::Result<()> {
        let mut faults = self.faults.lock().unwrap();
        faults.syncs += 1;
        if faults.fail_sync { Err(io::Error::from_raw_os_error(5)) } else { self.file.sync_data() }
    }

    fn set_len(&mut self, len: u64) -> io::Result<()> {
        if self.faults.lock().unwrap().fail_set_len {
            return Err(io::Error::from_raw_os_error(5));
        }
        self.file.set_len(len)
    }

    fn len(&self) -> io::Result<u64> {
        SegmentFile::len(&self.file)
    }
}

#[derive(Clone, Default)]
struct FaultyOpener(Arc<Mutex<Faults>>);

impl FaultyOpener {
    fn set(&self, change: impl FnOnce(&mut Faults)) {
        change(&mut self.0.lock().unwrap());
    }

    fn syncs(&self) -> u64 {
        self.0.lock().unwrap().syncs
    }
}

impl Opener for FaultyOpener {
    type File = FaultyFile;
    fn open(&self, path: &Path, create: bool) -> io::Result<FaultyFile> {
        let dir = path.parent().unwrap().to_path_buf();
        Ok(FaultyFile { file: AppendOnly.open(path, create)?, dir, faults: self.0.clone() })
    }
}

/// Bytes of all files in `dir`, as the filesystem reports them.
fn dir_bytes(dir: &Path) -> u64 {
    fs::read_dir(dir).unwrap().map(|e| e.unwrap().metadata().unwrap().len()).sum()
}

fn segment_files(dir: &Path) -> Vec<u64> {
    list_segments(dir).unwrap()
}

fn open(
    dir: &TempDir,
    faults: &FaultyOpener,
    segment_size: u64,
    budget: u64,
) -> (Disk<FaultyOpener>, Recovery) {
    Disk::open_with(faults.clone(), &dir.0, segment_size, budget).unwrap()
}

/// Block `seq`: a payload of 20 to 80 bytes that tells its seq.
fn block(seq: u64) -> (BlockMeta, Vec<u8>) {
    let meta = BlockMeta {
        seq,
        min_timestamp_ms: seq as i64 * 1000,
        max_timestamp_ms: seq as i64 * 1000 + 999,
        samples: 10,
    };
    (meta, (0..20 + (seq % 7) * 10).map(|i| (seq * 31 + i) as u8).collect())
}

fn append(disk: &mut Disk<FaultyOpener>, seq: u64) -> Appended {
    let (meta, payload) = block(seq);
    disk.append(&meta, &payload).unwrap_or_else(|e| panic!("append {seq}: {e}"))
}

fn seqs(pending: &[(BlockMeta, Location)]) -> Vec<u64> {
    pending.iter().map(|(m, _)| m.seq).collect()
}

fn assert_reads(disk: &Disk<impl Opener>, pending: &[(BlockMeta, Location)]) {
    for (meta, at) in pending {
        let got = disk.read(at).unwrap_or_else(|e| panic!("read {}: {e}", meta.seq));
        assert_eq!(BlockMeta::of(&got), *meta);
        assert_eq!(got.payload, block(meta.seq).1);
    }
}

/// Writes blocks `seqs` through a fresh `Disk` with `segment_size`, synced, and returns the
/// directory and where each went.
fn written(
    tag: &str,
    segment_size: u64,
    seqs: std::ops::Range<u64>,
) -> (TempDir, Vec<(BlockMeta, Location)>) {
    let dir = TempDir::new(tag);
    let (mut disk, _) = open(&dir, &FaultyOpener::default(), segment_size, 1 << 20);
    let appended = seqs.map(|seq| (block(seq).0, append(&mut disk, seq).at)).collect();
    disk.sync().unwrap();
    (dir, appended)
}

#[test]
fn append_read_and_reopen_twice() {
    let dir = TempDir::new("reopen");
    let faults = FaultyOpener::default();
    let (mut disk, recovery) = open(&dir, &faults, 200, 1 << 20);
    assert_eq!(recovery, Recovery::default());
    let appended: Vec<_> = (0..10).map(|seq| (block(seq).0, append(&mut disk, seq).at)).collect();
    disk.sync().unwrap();
    assert_reads(&disk, &appended);
    assert!(disk.segments() > 2, "200-byte segments hold two or three blocks");
    assert_eq!(disk.bytes(), dir_bytes(&dir.0));
    drop(disk);
    for _ in 0..2 {
        let (disk, recovery) = open(&dir, &faults, 200, 1 << 20);
        let want = Recovery { pending: appended.clone(), next_seq: 10, ..Default::default() };
        assert_eq!(recovery, want);
        assert_reads(&disk, &recovery.pending);
        assert_eq!(disk.bytes(), dir_bytes(&dir.0));
    }
    let before = segment_files(&dir.0);
    let (mut disk, _) = open(&dir, &faults, 200, 1 << 20);
    let at = append(&mut disk, 10).at;
    assert_eq!(at.segment, before.last().unwrap() + 1, "appends after a restart start a new segment");
}

#[test]
fn real_files_through_disk_open() {
    fn moves_to_a_blocking_thread<T: Send>() {}
    moves_to_a_blocking_thread::<Disk>();
    let dir = TempDir::new("real");
    let data_dir = dir.0.join("data");
    let (mut disk, recovery) = Disk::open(&data_dir, 4 << 20, 64 << 20).unwrap();
    assert_eq!(recovery.pending, vec![]);
    let (meta, payload) = block(1);
    let at = disk.append(&meta, &payload).unwrap().at;
    assert_eq!(
        at,
        Location { segment: 0, offset: (HEADER_LEN + RECORD_OVERHEAD) as u64, len: 30, kind: Kind::Block }
    );
    disk.append(&block(2).0, &block(2).1).unwrap();
    disk.sync().unwrap();
    assert_eq!(disk.read(&at).unwrap().payload, payload);
    disk.set_delivered(1).unwrap();
    drop(disk);
    let (disk, recovery) = Disk::open(&data_dir, 4 << 20, 64 << 20).unwrap();
    assert_eq!((seqs(&recovery.pending), recovery.cursor, recovery.next_seq), (vec![2], Some(1), 3));
    assert_reads(&disk, &recovery.pending);
}

#[test]
fn short_writes_are_finished() {
    let dir = TempDir::new("short");
    let faults = FaultyOpener::default();
    faults.set(|f| f.short_writes = Some(3));
    let (mut disk, _) = open(&dir, &faults, 1 << 20, 1 << 20);
    let appended: Vec<_> = (0..3).map(|seq| (block(seq).0, append(&mut disk, seq).at)).collect();
    disk.sync().unwrap();
    assert_reads(&disk, &appended);
    let (_, recovery) = open(&dir, &faults, 1 << 20, 1 << 20);
    assert_eq!((recovery.pending, recovery.damaged), (appended, vec![]));
}

#[test]
fn failed_write_leaves_no_torn_record() {
    let dir = TempDir::new("eio");
    let faults = FaultyOpener::default();
    let (mut disk, _) = open(&dir, &faults, 1 << 20, 1 << 20);
    let mut appended: Vec<_> = (0..2).map(|seq| (block(seq).0, append(&mut disk, seq).at)).collect();
    let len = fs::metadata(dir.file(0)).unwrap().len();
    faults.set(|f| f.fail_after_bytes = Some(10));
    let (meta, payload) = block(2);
    let failed = disk.append(&meta, &payload).unwrap_err();
    assert_eq!(failed.to_string(), format!("write segment 00000000: {EIO}"));
    assert_eq!(fs::metadata(dir.file(0)).unwrap().len(), len, "the 10 bytes written were cut");
    assert_eq!(disk.bytes(), len);
    faults.set(|f| f.fail_after_bytes = None);
    appended.push((block(3).0, append(&mut disk, 3).at));
    assert_eq!(appended[2].1.segment, 0, "the segment is still good to append to");
    disk.sync().unwrap();
    let (disk, recovery) = open(&dir, &faults, 1 << 20, 1 << 20);
    assert_eq!((&recovery.pending, &recovery.damaged), (&appended, &vec![]));
    assert_reads(&disk, &appended);
}

#[test]
fn failed_rollback_closes_the_segment() {
    let dir = TempDir::new("rollback");
    let faults = FaultyOpener::default();
    let (mut disk, _) = open(&dir, &faults, 1 << 20, 1 << 20);
    let mut appended: Vec<_> = (0..2).map(|seq| (block(seq).0, append(&mut disk, seq).at)).collect();
    let good = fs::metadata(dir.file(0)).unwrap().len();
    faults.set(|f| (f.fail_after_bytes, f.fail_set_len) = (Some(10), true));
    assert!(disk.append(&block(2).0, &block(2).1).is_err());
    faults.set(|f| (f.fail_after_bytes, f.fail_set_len) = (None, false));
    appended.push((block(3).0, append(&mut disk, 3).at));
    assert_eq!(appended[2].1.segment, 1, "nothing is written after a torn record");
    assert_eq!(disk.bytes(), dir_bytes(&dir.0), "the torn bytes count against the budget");
    disk.sync().unwrap();
    drop(disk);
    let (disk, recovery) = open(&dir, &faults, 1 << 20, 1 << 20);
    let torn =
        SegmentDamage { segment: 0, offset: good, bytes: 10, damage: None, lost: vec![], unreadable: 1 };
    assert_eq!((&recovery.pending, recovery.damaged), (&appended, vec![torn]));
    assert_reads(&disk, &appended);
}

#[test]
fn enospc_deletes_the_oldest_closed_segment_and_retries() {
    let dir = TempDir::new("enospc");
    let faults = FaultyOpener::default();
    // Blocks 0, 7, 14 have the same size; 60-byte segments hold one each.
    let (mut disk, _) = open(&dir, &faults, 60, 1 << 20);
    append(&mut disk, 0);
    append(&mut disk, 7);
    faults.set(|f| f.enospc = Some(dir_bytes(&dir.0)));
    let appended = append(&mut disk, 14);
    assert_eq!(appended.dropped, vec![block(0).0]);
    // Segment 2 was created and removed again when its header did not fit.
    assert_eq!(segment_files(&dir.0), vec![1, 3]);
    assert_eq!(disk.read(&appended.at).unwrap().seq, 14);
    assert_eq!(disk.bytes(), dir_bytes(&dir.0));
}

#[test]
fn enospc_that_persists_fails_with_the_dropped_blocks() {
    let dir = TempDir::new("enospc-full");
    let faults = FaultyOpener::default();
    let (mut disk, _) = open(&dir, &faults, 1 << 20, 1 << 20);
    append(&mut disk, 0);
    disk.sync().unwrap();
    drop(disk);
    let (mut disk, _) = open(&dir, &faults, 1 << 20, 1 << 20);
    append(&mut disk, 1);
    faults.set(|f| f.enospc = Some(0));
    let (meta, payload) = block(2);
    let failed = disk.append(&meta, &payload).unwrap_err();
    assert_eq!(failed.to_string(), "write segment 00000001: no space left on device");
    assert_eq!(failed.dropped, vec![block(0).0], "segment 0 was deleted for the retry");
    assert_eq!(segment_files(&dir.0), vec![1]);
    assert_eq!(disk.bytes(), dir_bytes(&dir.0), "no part of block 2 is left");
}

#[test]
fn failed_fsync_poisons_the_segment() {
    let dir = TempDir::new("fsync");
    let faults = FaultyOpener::default();
    let (mut disk, _) = open(&dir, &faults, 1 << 20, 1 << 20);
    let synced: Vec<_> = (0..2).map(|seq| (block(seq).0, append(&mut disk, seq).at)).collect();
    disk.sync().unwrap();
    let at_risk = append(&mut disk, 2).at;
    faults.set(|f| f.fail_sync = true);
    let err = disk.sync().unwrap_err();
    assert_eq!(err.to_string(), format!("sync segment 00000000: {EIO}; 1 blocks at risk"));
    let DiskError::Poisoned { segment: 0, at_risk: risky, .. } = err else { panic!("{err:?}") };
    assert_eq!(risky, vec![block(2).0]);
    let syncs = faults.syncs();
    disk.sync().unwrap();
    assert_eq!(faults.syncs(), syncs, "a poisoned segment is never synced again");
    faults.set(|f| f.fail_sync = false);
    let poisoned_len = fs::metadata(dir.file(0)).unwrap().len();
    assert_eq!(append(&mut disk, 3).at.segment, 1, "the next append opens a new segment");
    disk.sync().unwrap();
    assert_eq!(fs::metadata(dir.file(0)).unwrap().len(), poisoned_len, "never appended to again");
    assert_reads(&disk, &synced);
    // Still readable, the checksum checked again; whether it reached flash is what is unknown.
    assert_eq!(disk.read(&at_risk).unwrap().seq, 2);
}

#[test]
fn oversized_records() {
    let dir = TempDir::new("large");
    let faults = FaultyOpener::default();
    let (mut disk, _) = open(&dir, &faults, 100, 500);
    append(&mut disk, 0);
    let err = disk.append(&block(1).0, &[7; 500]).unwrap_err();
    assert_eq!(err.to_string(), "append block: 536-byte record exceeds the 492-byte limit");
    assert_eq!((err.dropped, disk.segments()), (vec![], 1), "nothing deleted for it");
    let big = disk.append(&block(1).0, &[7; 300]).unwrap().at;
    assert_eq!(big.segment, 1, "larger than a segment: a segment of its own");
    assert_eq!(append(&mut disk, 2).at.segment, 2);
    assert_eq!(disk.read(&big).unwrap().payload.len(), 300);
}

#[test]
fn read_checks_the_checksum_again() {
    let (dir, appended) = written("read", 1 << 20, 0..2);
    let (disk, _) = open(&dir, &FaultyOpener::default(), 1 << 20, 1 << 20);
    // Damaged after recovery checked it: flash can change under a running agent.
    let mut image = fs::read(dir.file(0)).unwrap();
    image[appended[1].1.offset as usize] ^= 1;
    fs::write(dir.file(0), &image).unwrap();
    let err = disk.read(&appended[1].1).unwrap_err();
    assert!(matches!(err, DiskError::Corrupt { segment: 0, damage: Damage::Checksum { .. }, .. }), "{err:?}");
    assert!(err.to_string().starts_with("read segment 00000000 at offset 100: checksum mismatch"), "{err}");
    let wrong = Location { len: appended[1].1.len - 1, ..appended[1].1 };
    let err = disk.read(&wrong).unwrap_err();
    assert!(matches!(err, DiskError::Corrupt { damage: Damage::Length(58), .. }), "{err:?}");
}

#[test]
fn error_messages_put_context_first() {
    let io = |op, target, code| DiskError::Io { op, target, source: io::Error::from_raw_os_error(code) };
    assert_eq!(io("open", Target::Segment(12), 13).to_string(), "open segment 00000012: permission denied");
    assert_eq!(
        io("write", Target::Segment(3), 28).to_string(),
        "write segment 00000003: no space left on device"
    );
    assert_eq!(io("sync", Target::Cursor, 5).to_string(), format!("sync cursor: {EIO}"));
    let dir = Target::Dir("/var/lib/outpost".into());
    assert_eq!(io("list", dir, 2).to_string(), "list directory /var/lib/outpost: no such file or directory");
}

#[test]
fn disk_use_stays_within_budget() {
    const SEGMENT: u64 = 300;
    const BUDGET: u64 = 1000;
    let dir = TempDir::new("budget");
    let faults = FaultyOpener::default();
    let mut rng = fastrand::Rng::with_seed(42);
    let (mut disk, _) = open(&dir, &faults, SEGMENT, BUDGET);
    // The model: undelivered blocks in order, with their payloads.
    let mut model: VecDeque<(BlockMeta, Location, Vec<u8>)> = VecDeque::new();
    let (mut next, mut dropped_total) = (0u64, 0);
    for step in 0..1500 {
        match rng.u8(..100) {
            0..70 => {
                let len = rng.usize(..200);
                let payload: Vec<u8> = std::iter::repeat_with(|| rng.u8(..)).take(len).collect();
                let meta = BlockMeta { seq: next, ..block(next).0 };
                next += 1;
                let appended = disk.append(&meta, &payload).unwrap();
                for dropped in &appended.dropped {
                    assert_eq!(model.pop_front().map(|b| b.0), Some(*dropped), "step {step}: oldest first");
                }
                dropped_total += appended.dropped.len();
                model.push_back((meta, appended.at, payload));
            }
            70..90 if !model.is_empty() => {
                let upto = model[rng.usize(..model.len())].0.seq;
                disk.set_delivered(upto).unwrap();
                model.retain(|b| b.0.seq > upto);
            }
            90..95 => disk.sync().unwrap(),
            _ => {
                disk.sync().unwrap();
                drop(disk);
                let recovery;
                (disk, recovery) = open(&dir, &faults, SEGMENT, BUDGET);
                let want: Vec<_> = model.iter().map(|(meta, at, _)| (*meta, *at)).collect();
                assert_eq!((recovery.pending, recovery.damaged), (want, vec![]), "step {step}");
            }
        }
        assert!(disk.bytes() <= BUDGET, "step {step}: {} bytes", disk.bytes());
        assert_eq!(
            disk.bytes(),
            dir_bytes(&dir.0) - fs::metadata(dir.0.join("cursor")).map_or(0, |m| m.len())
        );
    }
    for (meta, at, payload) in &model {
        let got = disk.read(at).unwrap();
        assert_eq!((got.seq, &got.payload[..]), (meta.seq, &payload[..]));
    }
    assert!(dropped_total > 100, "the budget was the limit, not the deliveries: {dropped_total} dropped");
}
