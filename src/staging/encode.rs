//! Remote write 1.0 wire types (prost derive, no protoc) and the two encoding
//! steps of the per-sample path: a series' labels are encoded once, when the
//! series is first seen; each sample then appends one `TimeSeries` message
//! made of those bytes and its value, with no allocation.
//!
//! Appending `TimeSeries` messages one after another is a valid encoding of
//! `WriteRequest.timeseries` (a repeated field is its elements concatenated);
//! `tests::matches_prost_encoding_of_write_request` holds us to that.

use prost::Message;
use prost::encoding::{WireType, encode_key, encode_varint};

use crate::model::Labels;

#[derive(Clone, PartialEq, Message)]
pub struct WriteRequest {
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
    /// Sent in requests of their own, without samples (`sender::metadata`).
    #[prost(message, repeated, tag = "3")]
    pub metadata: Vec<MetricMetadata>,
}

/// One metric family's TYPE, HELP and UNIT.
#[derive(Clone, PartialEq, Message)]
pub struct MetricMetadata {
    /// `MetricMetadata.MetricType`: UNKNOWN 0, COUNTER 1, GAUGE 2, HISTOGRAM 3,
    /// GAUGEHISTOGRAM 4, SUMMARY 5, INFO 6, STATESET 7.
    #[prost(int32, tag = "1")]
    pub r#type: i32,
    #[prost(string, tag = "2")]
    pub metric_family_name: String,
    #[prost(string, tag = "4")]
    pub help: String,
    #[prost(string, tag = "5")]
    pub unit: String,
}

#[derive(Clone, PartialEq, Message)]
pub struct TimeSeries {
    /// Sorted by name (remote write 1.0 requires it).
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
}

#[derive(Clone, PartialEq, Message)]
pub struct Label {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub value: String,
}

#[derive(Clone, Copy, PartialEq, Message)]
pub struct Sample {
    #[prost(double, tag = "1")]
    pub value: f64,
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}

/// Encodes a series' final labels (external labels and write relabeling
/// already applied: `sender::Outgoing`) as the `labels` field of a `TimeSeries`.
pub fn encode_labels(labels: &Labels) -> Vec<u8> {
    let ts = TimeSeries {
        labels: labels.iter().map(|l| Label { name: l.name.clone(), value: l.value.clone() }).collect(),
        samples: Vec::new(),
    };
    ts.encode_to_vec()
}

/// A series' encoded labels (the `TimeSeries.labels` fields, as [`encode_labels`] writes
/// them): contiguous bytes, or the pieces a target's label store keeps them in, written out
/// straight into a batch so that the per-sample path copies each label once.
pub trait EncodedLabels {
    /// Bytes written by `write_to`.
    fn encoded_len(&self) -> usize;
    /// Appends the encoding to `out`.
    fn write_to(&self, out: &mut Vec<u8>);
    /// The encoding as one slice: itself when contiguous, else written into `scratch`.
    fn contiguous<'a>(&'a self, scratch: &'a mut Vec<u8>) -> &'a [u8] {
        scratch.clear();
        self.write_to(scratch);
        scratch
    }
}

/// Contiguous bytes: a slice, a `Vec`, an array, an `Rc<[u8]>`.
impl<T: AsRef<[u8]> + ?Sized> EncodedLabels for T {
    fn encoded_len(&self) -> usize {
        self.as_ref().len()
    }
    fn write_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.as_ref());
    }
    fn contiguous<'a>(&'a self, _: &'a mut Vec<u8>) -> &'a [u8] {
        self.as_ref()
    }
}

/// Appends one `WriteRequest.timeseries` element: `labels` (from
/// [`encode_labels`]) and one sample.
pub fn append_series<L: EncodedLabels + ?Sized>(
    buf: &mut Vec<u8>,
    labels: &L,
    value: f64,
    timestamp_ms: i64,
) {
    // The sample (field 2: key, length, message) is encoded on the stack first,
    // so `buf` grows by three copies: no per-field capacity checks.
    let sample = Sample { value, timestamp: timestamp_ms };
    let mut sample_bytes = [0u8; SAMPLE_MAX];
    let mut rest = &mut sample_bytes[..];
    // SAMPLE_MAX bounds the encoding, so the slice never runs out (it would panic).
    prost::encoding::message::encode(2, &sample, &mut rest);
    let written = SAMPLE_MAX - rest.len();
    let sample_bytes = &sample_bytes[..written];
    // field 1 of WriteRequest (timeseries): key, length, then the labels and the sample
    let labels_len = labels.encoded_len();
    let body_len = (labels_len + sample_bytes.len()) as u64;
    let mut head = [0u8; HEAD_MAX];
    let mut rest = &mut head[..];
    encode_key(1, WireType::LengthDelimited, &mut rest);
    encode_varint(body_len, &mut rest);
    let written = HEAD_MAX - rest.len();
    let head = &head[..written];
    buf.reserve(head.len() + labels_len + sample_bytes.len());
    buf.extend_from_slice(head);
    labels.write_to(buf);
    buf.extend_from_slice(sample_bytes);
}

/// Appends one `WriteRequest.timeseries` element holding several samples of one series, in
/// the order given (the compact log's drain: `buffer::compact::drain`).
pub fn append_series_samples(buf: &mut Vec<u8>, labels: &[u8], samples: &[(i64, f64)]) {
    let sample_len = |&(timestamp, value): &(i64, f64)| Sample { value, timestamp }.encoded_len();
    let body: usize = samples
        .iter()
        .map(|s| {
            let len = sample_len(s);
            1 + prost::encoding::encoded_len_varint(len as u64) + len
        })
        .sum::<usize>()
        + labels.len();
    encode_key(1, WireType::LengthDelimited, buf);
    encode_varint(body as u64, buf);
    buf.extend_from_slice(labels);
    for &(timestamp, value) in samples {
        prost::encoding::message::encode(2, &Sample { value, timestamp }, buf);
    }
}

/// The longest `samples` field of one sample: key and length (2 bytes), a
/// double (9) and an int64 varint (up to 11).
const SAMPLE_MAX: usize = 2 + 9 + 11;
/// The longest key and length of a `timeseries` element.
const HEAD_MAX: usize = 1 + 10;

/// One half of a block split after a 413.
#[derive(Clone, Debug, PartialEq)]
pub struct Part {
    pub payload: bytes::Bytes,
    pub samples: u32,
}

/// Why a block could not be split.
#[derive(Debug, PartialEq)]
pub enum SplitError {
    /// The payload is not a snappy `WriteRequest` (never true of our own blocks).
    Undecodable(String),
    /// One sample of one series alone is too large: nothing left to split.
    SingleSeries,
}

/// Splits a sealed payload in two halves by series, order kept, for a
/// receiver that answered 413 (SPEC, status table); a request of one series
/// with several samples is split by samples. Re-encoding is the one
/// exception to "a retry never re-encodes": the receiver asked for less.
pub fn split(payload: &[u8]) -> Result<(Part, Part), SplitError> {
    let raw = snap::raw::Decoder::new()
        .decompress_vec(payload)
        .map_err(|e| SplitError::Undecodable(e.to_string()))?;
    let mut request = WriteRequest::decode(&raw[..]).map_err(|e| SplitError::Undecodable(e.to_string()))?;
    let second = match &mut request.timeseries[..] {
        // One series of several samples (the compact log's drain sends those): split its
        // samples, the older half first.
        [one] if one.samples.len() >= 2 => {
            let later = one.samples.split_off(one.samples.len() / 2);
            vec![TimeSeries { labels: one.labels.clone(), samples: later }]
        }
        [] | [_] => return Err(SplitError::SingleSeries),
        _ => request.timeseries.split_off(request.timeseries.len() / 2),
    };
    let part = |timeseries: Vec<TimeSeries>| -> Result<Part, SplitError> {
        let samples = timeseries.iter().map(|t| t.samples.len()).sum::<usize>();
        let encoded = WriteRequest { timeseries, metadata: Vec::new() }.encode_to_vec();
        let payload = snap::raw::Encoder::new()
            .compress_vec(&encoded)
            .map_err(|e| SplitError::Undecodable(e.to_string()))?;
        Ok(Part { payload: payload.into(), samples: u32::try_from(samples).unwrap_or(u32::MAX) })
    };
    Ok((part(request.timeseries)?, part(second)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_prost_encoding_of_write_request() {
        let a =
            Labels::from_pairs([("__name__", "up"), ("job", "node"), ("cluster", "edge"), ("region", "eu")]);
        let b =
            Labels::from_pairs([("__name__", "x"), ("cluster", "mine"), ("z", "é\"\n"), ("region", "eu")]);
        let mut buf = Vec::new();
        append_series(&mut buf, &encode_labels(&a), 1.0, 1000);
        append_series(&mut buf, &encode_labels(&b), f64::NAN, -5);
        append_series(&mut buf, &encode_labels(&a), 2.5, i64::MAX);

        let label = |n: &str, v: &str| Label { name: n.into(), value: v.into() };
        let a_labels = vec![
            label("__name__", "up"),
            label("cluster", "edge"),
            label("job", "node"),
            label("region", "eu"),
        ];
        let b_labels = vec![
            label("__name__", "x"),
            label("cluster", "mine"),
            label("region", "eu"),
            label("z", "é\"\n"),
        ];
        let want = WriteRequest {
            metadata: Vec::new(),
            timeseries: vec![
                TimeSeries {
                    labels: a_labels.clone(),
                    samples: vec![Sample { value: 1.0, timestamp: 1000 }],
                },
                TimeSeries { labels: b_labels, samples: vec![Sample { value: f64::NAN, timestamp: -5 }] },
                TimeSeries { labels: a_labels, samples: vec![Sample { value: 2.5, timestamp: i64::MAX }] },
            ],
        };
        assert_eq!(buf, want.encode_to_vec());
        let back = WriteRequest::decode(&buf[..]).expect("decodes");
        assert_eq!(back.encode_to_vec(), buf, "round trip (NaN compares unequal, so bytes are compared)");
        assert_eq!(back.timeseries[1].labels, want.timeseries[1].labels);
    }

    #[test]
    fn several_samples_of_a_series_match_prost() {
        let a = Labels::from_pairs([("__name__", "up"), ("job", "node")]);
        let samples = [(1000, 1.0), (2000, f64::from_bits(0x7ff0_0000_0000_0002)), (i64::MIN, -0.0)];
        let mut buf = Vec::new();
        append_series_samples(&mut buf, &encode_labels(&a), &samples);
        append_series_samples(&mut buf, &encode_labels(&a), &[]);
        let labels = vec![
            Label { name: "__name__".into(), value: "up".into() },
            Label { name: "job".into(), value: "node".into() },
        ];
        let want = WriteRequest {
            metadata: Vec::new(),
            timeseries: vec![
                TimeSeries {
                    labels: labels.clone(),
                    samples: samples.iter().map(|&(timestamp, value)| Sample { value, timestamp }).collect(),
                },
                TimeSeries { labels, samples: vec![] },
            ],
        };
        assert_eq!(buf, want.encode_to_vec());
    }

    #[test]
    fn split_one_series_by_samples_older_half_first() {
        let labels = encode_labels(&Labels::from_pairs([("__name__", "m")]));
        let mut buf = Vec::new();
        append_series_samples(&mut buf, &labels, &[(1, 1.0), (2, 2.0), (3, 3.0)]);
        let payload = snap::raw::Encoder::new().compress_vec(&buf).expect("compress");
        let (a, b) = split(&payload).expect("three samples split");
        assert_eq!((a.samples, b.samples), (1, 2));
        let samples = |p: &Part| {
            let raw = snap::raw::Decoder::new().decompress_vec(&p.payload).expect("snappy");
            let r = WriteRequest::decode(&raw[..]).expect("protobuf");
            assert_eq!(r.timeseries.len(), 1);
            assert_eq!(r.timeseries[0].labels, vec![Label { name: "__name__".into(), value: "m".into() }]);
            r.timeseries[0].samples.iter().map(|s| s.timestamp).collect::<Vec<_>>()
        };
        assert_eq!((samples(&a), samples(&b)), (vec![1], vec![2, 3]));
        assert_eq!(split(&a.payload), Err(SplitError::SingleSeries), "one sample of one series");
    }

    #[test]
    fn long_label_sets_use_multi_byte_lengths() {
        let long = "v".repeat(300);
        let l = Labels::from_pairs([("__name__", "m"), ("a", long.as_str())]);
        let mut buf = Vec::new();
        append_series(&mut buf, &encode_labels(&l), 0.0, 0);
        let back = WriteRequest::decode(&buf[..]).expect("decodes");
        assert_eq!(back.timeseries[0].labels[1].value, long);
    }

    #[test]
    fn split_halves_by_series_in_order() {
        let mut buf = Vec::new();
        for i in 0..5 {
            let l = Labels::from_pairs([("__name__", "m"), ("i", i.to_string().as_str())]);
            append_series(&mut buf, &encode_labels(&l), f64::from(i), i64::from(i));
        }
        let payload = snap::raw::Encoder::new().compress_vec(&buf).expect("compress");
        let (a, b) = split(&payload).expect("five series split");
        assert_eq!((a.samples, b.samples), (2, 3));
        let values = |p: &Part| {
            let raw = snap::raw::Decoder::new().decompress_vec(&p.payload).expect("snappy");
            let r = WriteRequest::decode(&raw[..]).expect("protobuf");
            r.timeseries.iter().map(|t| t.samples[0].value).collect::<Vec<_>>()
        };
        assert_eq!(values(&a), [0.0, 1.0]);
        assert_eq!(values(&b), [2.0, 3.0, 4.0]);
        assert_eq!(split(&a.payload).map(|(x, y)| (x.samples, y.samples)), Ok((1, 1)));
        let (single, _) = split(&a.payload).expect("two series");
        assert_eq!(split(&single.payload), Err(SplitError::SingleSeries));
        assert!(matches!(split(b"not snappy"), Err(SplitError::Undecodable(_))));
    }
}
