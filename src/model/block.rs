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
    /// The memory ring was full; its oldest block made room.
    BufferFull,
    /// The receiver answered a non-retryable 4xx.
    Rejected,
}

impl DropReason {
    pub const ALL: [DropReason; 2] = [DropReason::BufferFull, DropReason::Rejected];

    pub fn label(self) -> &'static str {
        match self {
            DropReason::BufferFull => "buffer_full",
            DropReason::Rejected => "rejected",
        }
    }
}
