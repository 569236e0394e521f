//! A sealed block: one remote-write request, already encoded and
//! snappy-compressed, with what the buffer and sender need to know about it
//! without decoding it (SPEC, Pipeline: "retrying a block never re-encodes it").

use bytes::Bytes;

#[derive(Clone, Debug, PartialEq)]
pub struct SealedBlock {
    /// Position in the send order; strictly increasing per queue.
    pub seq: u64,
    /// The snappy-compressed `WriteRequest`, exactly the POST body.
    pub payload: Bytes,
    /// Samples in the request.
    pub samples: u32,
    /// Oldest and newest sample timestamp, milliseconds since the epoch.
    pub min_timestamp_ms: i64,
    pub max_timestamp_ms: i64,
}

impl SealedBlock {
    /// Bytes the block costs the ring's budget.
    pub fn cost(&self) -> usize {
        self.payload.len() + std::mem::size_of::<SealedBlock>()
    }
}

/// Why samples were lost. Every loss goes through this enum, and its label is
/// the `reason` of `prometheus_remote_storage_samples_dropped_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// The memory ring was full and the disk could not take its blocks.
    BufferFull,
    /// `buffer.disk` was full: the oldest segment was deleted.
    DiskFull,
    /// The file system holding `data_dir` was full (ENOSPC) before `buffer.disk` was: the
    /// oldest segment was deleted to make room, or the block could not be written at all.
    NoSpace,
    /// A spilled record failed its checksum, was torn by a crash, or sat in a
    /// segment whose fsync failed.
    Corrupt,
    /// Older than `buffer.max_age` before it could be sent.
    TooOld,
    /// The receiver answered 413 for a single series.
    TooLarge,
    /// The receiver answered a non-retryable 4xx.
    Rejected,
}

impl DropReason {
    pub const ALL: [DropReason; 7] = [
        DropReason::BufferFull,
        DropReason::DiskFull,
        DropReason::NoSpace,
        DropReason::Corrupt,
        DropReason::TooOld,
        DropReason::TooLarge,
        DropReason::Rejected,
    ];

    pub fn label(self) -> &'static str {
        match self {
            DropReason::BufferFull => "buffer_full",
            DropReason::DiskFull => "disk_full",
            DropReason::NoSpace => "no_space",
            DropReason::Corrupt => "corrupt",
            DropReason::TooOld => "too_old",
            DropReason::TooLarge => "too_large",
            DropReason::Rejected => "rejected",
        }
    }

    /// For the log line that reports the loss.
    pub fn describe(self) -> &'static str {
        match self {
            DropReason::BufferFull => {
                "memory buffer full and nowhere to spill (raise buffer.memory, check data_dir)"
            }
            DropReason::DiskFull => "buffer.disk full, oldest segment deleted (raise buffer.disk)",
            DropReason::NoSpace => {
                "no space left on device for data_dir before buffer.disk was reached: oldest segment \
                 deleted or block not written (free space there, or lower buffer.disk)"
            }
            DropReason::Corrupt => "damaged on disk (torn by a crash, checksum mismatch, or failed fsync)",
            DropReason::TooOld => "older than buffer.max_age",
            DropReason::TooLarge => "a single series too large for the receiver (413)",
            DropReason::Rejected => "rejected by the receiver",
        }
    }
}
