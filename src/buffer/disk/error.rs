//! What a `Disk` call could not do, with messages that put the context first:
//! "write segment 00000003: no space left on device".

use std::fmt;
use std::io;
use std::path::PathBuf;

use crate::buffer::segment::{BlockMeta, Damage};

/// A failed append: the block was not written. Segments may have been deleted first.
#[derive(Debug)]
pub struct AppendError {
    pub error: DiskError,
    /// Undelivered blocks of segments deleted before the failure: dropped, disk full.
    pub dropped: Vec<BlockMeta>,
    /// How many of `dropped`, at its end, went because the file system was full (ENOSPC).
    pub no_space: usize,
}

/// Which file an I/O error is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    Segment(u64),
    Cursor,
    /// The `delivered` file (blocks delivered above the cursor).
    Delivered,
    Dir(PathBuf),
}

#[derive(Debug)]
pub enum DiskError {
    Io {
        op: &'static str,
        target: Target,
        source: io::Error,
    },
    /// A record read back is not the one its location promised.
    Corrupt {
        segment: u64,
        offset: u64,
        damage: Damage,
    },
    /// A record larger than a segment may hold, or than the whole disk budget.
    TooLarge {
        bytes: u64,
        limit: u64,
    },
    /// fsync failed: the segment is closed and never trusted; `at_risk` were never known synced.
    Poisoned {
        segment: u64,
        source: io::Error,
        at_risk: Vec<BlockMeta>,
    },
}

impl DiskError {
    /// ENOSPC: the file system is full (whatever `buffer.disk` allows).
    pub fn is_no_space(&self) -> bool {
        matches!(self, DiskError::Io { source, .. } if source.kind() == io::ErrorKind::StorageFull)
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Segment(index) => write!(f, "segment {index:08}"),
            Target::Cursor => f.write_str("cursor"),
            Target::Delivered => f.write_str("delivered file"),
            Target::Dir(path) => write!(f, "directory {}", path.display()),
        }
    }
}

impl fmt::Display for DiskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DiskError::Io { op, target, source } => write!(f, "{op} {target}: {}", Reason(source)),
            DiskError::Corrupt { segment, offset, damage } => {
                write!(f, "read segment {segment:08} at offset {offset}: {damage}")
            }
            DiskError::TooLarge { bytes, limit } => {
                write!(f, "append block: {bytes}-byte record exceeds the {limit}-byte limit")
            }
            DiskError::Poisoned { segment, source, at_risk } => {
                write!(f, "sync segment {segment:08}: {}; {} blocks at risk", Reason(source), at_risk.len())
            }
        }
    }
}

impl std::error::Error for DiskError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DiskError::Io { source, .. } | DiskError::Poisoned { source, .. } => Some(source),
            DiskError::Corrupt { .. } | DiskError::TooLarge { .. } => None,
        }
    }
}

impl fmt::Display for AppendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.error.fmt(f)
    }
}

impl std::error::Error for AppendError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&self.error)
    }
}

/// An I/O error as the end of a message: "no space left on device", not
/// "No space left on device (os error 28)".
struct Reason<'a>(&'a io::Error);

impl fmt::Display for Reason<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self.0.to_string();
        let code = self.0.raw_os_error().map(|code| format!(" (os error {code})"));
        let text = code.and_then(|code| text.strip_suffix(&code)).unwrap_or(&text);
        // Lowercase a capitalised first word ("No space"), not an acronym
        // (musl's "I/O error").
        let mut chars = text.chars();
        match (chars.next(), chars.clone().next()) {
            (Some(first), Some(second)) if second.is_lowercase() => {
                write!(f, "{}{}", first.to_lowercase(), chars.as_str())
            }
            _ => f.write_str(text),
        }
    }
}
