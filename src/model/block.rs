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
