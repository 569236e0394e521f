//! The file system calls `Disk` makes: the seam for fault injection (`SegmentFile`, opened by
//! an `Opener`), and the directory operations around it, which are not fault-injected.

use std::fs::{self, File, OpenOptions};
use std::io;
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
    match fs::remove_file(segment_path(dir, index)) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => {
            Err(DiskError::Io { op: "remove", target: Target::Segment(index), source: e })
        }
        _ => Ok(()),
    }
}

/// Makes creates and deletes in `dir` durable.
pub(super) fn sync_dir(dir: &Path) -> Result<(), DiskError> {
    let synced = File::open(dir).and_then(|d| d.sync_all());
    synced.map_err(|source| DiskError::Io { op: "sync", target: Target::Dir(dir.into()), source })
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
