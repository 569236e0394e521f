//! The file system calls `Disk` makes: the seam for fault injection (`SegmentFile`, opened by
//! an `Opener`), and the directory, cursor and delivered-file operations around it, which are
//! not fault-injected but are recorded in tests (`trace`: the power-loss test replays them).

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::{DiskError, Target};

/// The four calls `Disk` makes on a segment it writes: the seam where tests inject faults.
#[allow(clippy::len_without_is_empty)] // a file's length, not a collection's: the seam is these four calls
pub trait SegmentFile: Send {
    /// Appends at the end of the file; may write fewer bytes than given.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize>;
    fn sync_data(&mut self) -> io::Result<()>;
    fn set_len(&mut self, len: u64) -> io::Result<()>;
    fn len(&self) -> io::Result<u64>;
}

impl SegmentFile for File {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        io::Write::write(self, buf)
    }
    fn sync_data(&mut self) -> io::Result<()> {
        File::sync_data(self)
    }
    fn set_len(&mut self, len: u64) -> io::Result<()> {
        File::set_len(self, len)
    }
    fn len(&self) -> io::Result<u64> {
        Ok(self.metadata()?.len())
    }
}

/// How `Disk` opens the segments it writes or truncates.
pub trait Opener: Send {
    type File: SegmentFile;
    /// Opens `path` for appending; with `create`, makes a new file and fails if one exists.
    fn open(&self, path: &Path, create: bool) -> io::Result<Self::File>;
}

/// Real files, opened append-only: every write lands at the end, also after a `set_len`.
pub struct AppendOnly;

impl Opener for AppendOnly {
    type File = File;
    fn open(&self, path: &Path, create: bool) -> io::Result<File> {
        OpenOptions::new().append(true).create_new(create).open(path)
    }
}

/// Segment indexes in `dir`, ascending: files named `{index:08}.seg`; anything else is left alone.
pub(super) fn list_segments(dir: &Path) -> Result<Vec<u64>, DiskError> {
    let error = |source| DiskError::Io { op: "list", target: Target::Dir(dir.into()), source };
    let mut indexes = Vec::new();
    for entry in fs::read_dir(dir).map_err(error)? {
        let name = entry.map_err(error)?.file_name();
        let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(".seg")) else { continue };
        match stem.parse::<u64>() {
            Ok(index) if format!("{index:08}") == stem => indexes.push(index),
            _ => {}
        }
    }
    indexes.sort_unstable();
    Ok(indexes)
}

/// The send cursor's file name in `data_dir` (format: `segment.rs`, "The cursor file").
pub(super) const CURSOR_FILE: &str = "cursor";
/// Blocks delivered above the cursor (format: `segment.rs`, "The delivered file").
pub(super) const DELIVERED_FILE: &str = "delivered";
/// How far the window of sample records being sent was delivered (`segment.rs`).
pub(super) const DRAINING_FILE: &str = "draining";

pub(super) fn segment_path(dir: &Path, index: u64) -> PathBuf {
    dir.join(format!("{index:08}.seg"))
}

/// Removes a segment file; one already gone counts as removed.
pub(super) fn remove_segment(dir: &Path, index: u64) -> Result<(), DiskError> {
    match remove_file(&segment_path(dir, index)) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => {
            Err(DiskError::Io { op: "remove", target: Target::Segment(index), source: e })
        }
        _ => Ok(()),
    }
}

/// Makes creates and deletes in `dir` durable.
pub(super) fn sync_dir(dir: &Path) -> Result<(), DiskError> {
    let synced = File::open(dir).and_then(|d| d.sync_all());
    trace::record(&synced, dir, || trace::Op::SyncDir);
    synced.map_err(|source| DiskError::Io { op: "sync", target: Target::Dir(dir.into()), source })
}

pub(super) fn remove_file(path: &Path) -> io::Result<()> {
    let removed = fs::remove_file(path);
    trace::record(&removed, path, || trace::Op::Remove);
    removed
}

/// Opens the cursor file for writing in place: created if missing, never truncated.
pub(super) fn open_in_place(path: &Path) -> io::Result<File> {
    let existed = path.exists();
    let file = OpenOptions::new().write(true).create(true).truncate(false).open(path);
    trace::record(&file, path, || if existed { trace::Op::Open } else { trace::Op::Create });
    file
}

pub(super) fn write_at(file: &File, path: &Path, buf: &[u8], offset: u64) -> io::Result<()> {
    let written = file.write_all_at(buf, offset);
    trace::record(&written, path, || trace::Op::Write { offset: Some(offset), bytes: buf.to_vec() });
    written
}

pub(super) fn sync_data(file: &File, path: &Path) -> io::Result<()> {
    let synced = file.sync_data();
    trace::record(&synced, path, || trace::Op::Sync);
    synced
}

/// Writes `bytes` as the whole of a new file at `path` (replacing one there), synced.
pub(super) fn write_synced(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let file = File::create(path);
    trace::record(&file, path, || trace::Op::Create);
    let file = file?;
    let written = io::Write::write_all(&mut &file, bytes);
    trace::record(&written, path, || trace::Op::Write { offset: None, bytes: bytes.to_vec() });
    written?;
    let synced = file.sync_all();
    trace::record(&synced, path, || trace::Op::Sync);
    synced
}

pub(super) fn rename(from: &Path, to: &Path) -> io::Result<()> {
    let renamed = fs::rename(from, to);
    trace::record(&renamed, from, || trace::Op::Rename(to.into()));
    renamed
}

/// What the file system calls above did, for the power-loss test: each successful call is
/// handed to the recorder registered for a directory its path is in. Without `cfg(test)`,
/// nothing is recorded and `record` is empty.
pub(crate) mod trace {
    use std::io;
    use std::path::{Path, PathBuf};

    /// One successful call on a file (or, `SyncDir`, on a directory).
    #[derive(Clone, Debug, PartialEq)]
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) enum Op {
        /// A new empty file (an existing one is truncated).
        Create,
        /// An existing file opened; nothing changes.
        Open,
        /// At `offset`, or at the end.
        Write {
            offset: Option<u64>,
            bytes: Vec<u8>,
        },
        SetLen(u64),
        /// The file's data and size are durable.
        Sync,
        /// The directory's entries are durable.
        SyncDir,
        Remove,
        Rename(PathBuf),
    }

    #[cfg(test)]
    pub(crate) type Recorder = std::sync::Arc<std::sync::Mutex<Vec<(PathBuf, Op)>>>;

    #[cfg(test)]
    static RECORDERS: std::sync::Mutex<Vec<(PathBuf, Recorder)>> = std::sync::Mutex::new(Vec::new());

    /// Records every call on a path under `dir` into `recorder` until `unregister`.
    #[cfg(test)]
    pub(crate) fn register(dir: &Path, recorder: Recorder) {
        RECORDERS.lock().unwrap_or_else(|e| e.into_inner()).push((dir.into(), recorder));
    }

    #[cfg(test)]
    pub(crate) fn unregister(dir: &Path) {
        RECORDERS.lock().unwrap_or_else(|e| e.into_inner()).retain(|(d, _)| d != dir);
    }

    #[cfg(test)]
    pub(crate) fn record<T>(result: &io::Result<T>, path: &Path, op: impl FnOnce() -> Op) {
        if result.is_err() {
            return;
        }
        let recorders = RECORDERS.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, recorder)) = recorders.iter().find(|(dir, _)| path.starts_with(dir)) {
            recorder.lock().unwrap_or_else(|e| e.into_inner()).push((path.into(), op()));
        }
    }

    #[cfg(not(test))]
    #[inline(always)]
    pub(crate) fn record<T>(_: &io::Result<T>, _: &Path, _: impl FnOnce() -> Op) {}
}

/// Writes all of `buf`, through short writes.
pub(super) fn write_all(file: &mut impl SegmentFile, mut buf: &[u8]) -> io::Result<()> {
    while !buf.is_empty() {
        match file.write(buf) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => buf = buf.get(n..).unwrap_or_default(),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
