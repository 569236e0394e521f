//! One open batch: encoded `TimeSeries` messages appended to a buffer that is
//! reused from batch to batch, then sealed (snappy block format) into a block.

use bytes::Bytes;

use super::encode::{EncodedLabels, append_series};
use crate::model::SealedBlock;

pub struct Batch {
    /// An encoded `WriteRequest` so far; its capacity survives sealing.
    buf: Vec<u8>,
    samples: usize,
    min_ts: i64,
    max_ts: i64,
    /// snappy's hash table and output buffer, kept from block to block: a
    /// seal then allocates only the block's own payload, at its final size.
    encoder: snap::raw::Encoder,
    compressed: Vec<u8>,
}

impl Default for Batch {
    fn default() -> Self {
        Self {
            buf: Vec::new(),
            samples: 0,
            min_ts: 0,
            max_ts: 0,
            encoder: snap::raw::Encoder::new(),
            compressed: Vec::new(),
        }
    }
}

impl Batch {
    pub fn push<L: EncodedLabels + ?Sized>(&mut self, labels: &L, value: f64, timestamp_ms: i64) {
        if self.samples == 0 {
            (self.min_ts, self.max_ts) = (timestamp_ms, timestamp_ms);
        } else {
            self.min_ts = self.min_ts.min(timestamp_ms);
            self.max_ts = self.max_ts.max(timestamp_ms);
        }
        append_series(&mut self.buf, labels, value, timestamp_ms);
        self.samples += 1;
    }

    pub fn samples(&self) -> usize {
        self.samples
    }

    /// Compresses the batch into a block and empties it; `None` when empty.
    pub fn seal(&mut self, seq: u64) -> Option<SealedBlock> {
        if self.samples == 0 {
            return None;
        }
        // snap refuses only inputs above 2^32 - 1 bytes; a batch is bounded
        // far below that by max_samples_per_send.
        let bound = snap::raw::max_compress_len(self.buf.len());
        if self.compressed.len() < bound {
            self.compressed.resize(bound, 0);
        }
        let written = self.encoder.compress(&self.buf, &mut self.compressed);
        debug_assert!(written.is_ok(), "batch of {} bytes too large for snappy", self.buf.len());
        let written = written.ok()?;
        let block = SealedBlock {
            seq,
            payload: Bytes::copy_from_slice(&self.compressed[..written]),
            samples: u32::try_from(self.samples).unwrap_or(u32::MAX),
            min_timestamp_ms: self.min_ts,
            max_timestamp_ms: self.max_ts,
        };
        self.buf.clear();
        self.samples = 0;
        Some(block)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Labels;
    use crate::staging::encode::{WriteRequest, encode_labels};
    use prost::Message;

    #[test]
    fn sealed_block_is_snappy_of_the_write_request() {
        let labels = encode_labels(&Labels::from_pairs([("__name__", "up")]));
        let mut batch = Batch::default();
        batch.push(&labels, 1.0, 20);
        batch.push(&labels, 0.0, 10);
        let block = batch.seal(3).expect("two samples");
        assert_eq!((block.samples, block.min_timestamp_ms, block.max_timestamp_ms), (2, 10, 20));
        let raw = snap::raw::Decoder::new().decompress_vec(&block.payload).expect("snappy block format");
        let req = WriteRequest::decode(&raw[..]).expect("protobuf");
        let ts: Vec<i64> = req.timeseries.iter().map(|t| t.samples[0].timestamp).collect();
        assert_eq!(ts, [20, 10], "samples keep the order they were pushed in");
        assert_eq!(batch.samples(), 0);
        assert!(batch.seal(4).is_none());
    }
}
