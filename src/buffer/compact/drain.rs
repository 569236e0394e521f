//! Draining compact records (pure): the samples of a window of consecutive records, gathered
//! per series, become remote-write requests that carry several samples per series. It
//! promises: at most `max_samples` samples per request; each series' samples in the order
//! they were written (scrape order, so timestamp order), and a series' samples in one request
//! all older than its samples in any later request of the window; samples older than
//! `buffer.max_age` are dropped by their own timestamp and counted, never sent.

use std::collections::HashMap;

use bytes::Bytes;

use super::{Reader, SeriesSamples};
use crate::staging::encode::append_series_samples;

/// One request of a window: a snappy-compressed `WriteRequest`, the POST body.
#[derive(Clone, Debug, PartialEq)]
pub struct Request {
    pub payload: Bytes,
    pub samples: u32,
    pub min_timestamp_ms: i64,
    pub max_timestamp_ms: i64,
}

/// The samples of one request of a window: series index, range of its samples.
pub type Slice = Vec<(usize, std::ops::Range<usize>)>;

/// A series' encoded labels and its samples (timestamp, value).
type Gathered = (Vec<u8>, Vec<(i64, f64)>);

/// The samples of a window of records, per series (by encoded labels, so across segments).
/// Invariant: `series[i].1` holds series `i`'s samples in the order the records gave them.
#[derive(Default)]
pub struct Window {
    index: HashMap<Vec<u8>, usize, foldhash::fast::RandomState>,
    series: Vec<Gathered>,
    samples: usize,
}

impl Window {
    /// Adds one decoded record, whose series ids `reader` (of the record's segment) knows.
    pub fn add(&mut self, reader: &Reader, record: Vec<SeriesSamples>) {
        for SeriesSamples { series, samples } in record {
            // A decoded id is always in its reader's dictionary (`Reader::decode`).
            let Some(labels) = reader.labels(series) else { continue };
            self.samples += samples.len();
            let i = match self.index.get(labels) {
                Some(i) => *i,
                None => {
                    self.index.insert(labels.to_vec(), self.series.len());
                    self.series.push((labels.to_vec(), Vec::new()));
                    self.series.len() - 1
                }
            };
            self.series[i].1.extend(samples);
        }
    }

    pub fn samples(&self) -> usize {
        self.samples
    }

    /// The window as requests of up to `max_samples` samples, series after series: a request
    /// that fills up in the middle of a series leaves the rest for the next one. Samples with
    /// a timestamp before `oldest_ms` (now minus `buffer.max_age`) are left out; the second
    /// value counts them.
    pub fn requests_since(&self, max_samples: usize, oldest_ms: i64) -> (Vec<Request>, u64) {
        let mut kept = Window::default();
        let mut dropped = 0;
        for (labels, samples) in &self.series {
            let fresh: Vec<(i64, f64)> = samples.iter().copied().filter(|(ts, _)| *ts >= oldest_ms).collect();
            dropped += (samples.len() - fresh.len()) as u64;
            if !fresh.is_empty() {
                kept.samples += fresh.len();
                kept.series.push((labels.clone(), fresh));
            }
        }
        (kept.requests(max_samples), dropped)
    }

    /// How [`Window::requests`] cuts the window: for each request, the series (by index) and
    /// the range of their samples it holds. Depends on the window and `max_samples` only, so a
    /// window read again after a restart is cut the same way.
    pub fn plan(&self, max_samples: usize) -> Vec<Slice> {
        let max_samples = max_samples.max(1);
        let (mut plan, mut request, mut held) = (Vec::new(), Vec::new(), 0);
        for (i, (_, samples)) in self.series.iter().enumerate() {
            let mut start = 0;
            while start < samples.len() {
                let end = samples.len().min(start + max_samples - held);
                request.push((i, start..end));
                held += end - start;
                start = end;
                if held == max_samples {
                    plan.push(std::mem::take(&mut request));
                    held = 0;
                }
            }
        }
        if held > 0 {
            plan.push(request);
        }
        plan
    }

    /// One request of a [`Window::plan`], leaving out samples with a timestamp before
    /// `oldest_ms`; the second value counts them. `None` when none is left.
    pub fn encode(
        &self,
        slice: &Slice,
        oldest_ms: i64,
        encoder: &mut snap::raw::Encoder,
    ) -> (Option<Request>, u64) {
        let (mut body, mut dropped) = (Vec::new(), 0);
        let mut request = Request {
            payload: Bytes::new(),
            samples: 0,
            min_timestamp_ms: i64::MAX,
            max_timestamp_ms: i64::MIN,
        };
        let mut fresh = Vec::new();
        for (i, range) in slice {
            let Some((labels, samples)) = self.series.get(*i) else { continue };
            let Some(samples) = samples.get(range.clone()) else { continue };
            fresh.clear();
            fresh.extend(samples.iter().copied().filter(|(ts, _)| *ts >= oldest_ms));
            dropped += (samples.len() - fresh.len()) as u64;
            if fresh.is_empty() {
                continue;
            }
            append_series_samples(&mut body, labels, &fresh);
            for &(ts, _) in &fresh {
                request.min_timestamp_ms = request.min_timestamp_ms.min(ts);
                request.max_timestamp_ms = request.max_timestamp_ms.max(ts);
            }
            request.samples += fresh.len() as u32;
        }
        if request.samples == 0 {
            return (None, dropped);
        }
        // A request is bounded by `max_samples`, far below snappy's 4 GiB limit.
        request.payload = encoder.compress_vec(&body).unwrap_or_default().into();
        (Some(request), dropped)
    }

    /// [`Window::requests_since`] with nothing too old.
    pub fn requests(&self, max_samples: usize) -> Vec<Request> {
        let max_samples = max_samples.max(1);
        let mut requests = Vec::new();
        let mut body = Vec::new();
        let mut request =
            Request { payload: Bytes::new(), samples: 0, min_timestamp_ms: 0, max_timestamp_ms: 0 };
        let mut encoder = snap::raw::Encoder::new();
        let mut seal = |body: &mut Vec<u8>, request: &mut Request| {
            // A request is bounded by `max_samples`, far below snappy's 4 GiB limit.
            let payload = encoder.compress_vec(body).unwrap_or_default();
            body.clear();
            let sealed = Request { payload: payload.into(), ..*request };
            request.samples = 0;
            sealed
        };
        for (labels, samples) in &self.series {
            let mut rest = samples.as_slice();
            while !rest.is_empty() {
                let room = max_samples - request.samples as usize;
                let (now, later) = rest.split_at(room.min(rest.len()));
                append_series_samples(&mut body, labels, now);
                for &(ts, _) in now {
                    if request.samples == 0 {
                        (request.min_timestamp_ms, request.max_timestamp_ms) = (ts, ts);
                    }
                    request.min_timestamp_ms = request.min_timestamp_ms.min(ts);
                    request.max_timestamp_ms = request.max_timestamp_ms.max(ts);
                    request.samples += 1;
                }
                if request.samples as usize == max_samples {
                    requests.push(seal(&mut body, &mut request));
                }
                rest = later;
            }
        }
        if request.samples > 0 {
            requests.push(seal(&mut body, &mut request));
        }
        requests
    }
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::super::Writer;
    use super::*;
    use crate::model::Labels;
    use crate::staging::encode::{WriteRequest, encode_labels};

    type PerSeries = HashMap<Vec<u8>, Vec<(i64, u64)>>;

    /// Records of random samples of `series` series, read back through a `Reader` into a window.
    fn window(seed: u64, series: usize, records: usize) -> (Window, PerSeries) {
        let mut rng = fastrand::Rng::with_seed(seed);
        let labels: Vec<Vec<u8>> = (0..series)
            .map(|i| encode_labels(&Labels::from_pairs([("__name__", "m"), ("i", i.to_string().as_str())])))
            .collect();
        let (mut writer, mut reader, mut window) = (Writer::default(), Reader::default(), Window::default());
        let mut want = PerSeries::new();
        let mut now = 1_700_000_000_000i64;
        for _ in 0..records {
            for _ in 0..rng.usize(1..40) {
                let l = &labels[rng.usize(..series)];
                now += rng.i64(0..2000);
                let bits = match rng.u8(..4) {
                    0 => 0x7ff0_0000_0000_0002,
                    1 => rng.u64(..),
                    _ => (now as f64).to_bits(),
                };
                writer.push(l, now, f64::from_bits(bits));
                // -0.0 is proto3's default and goes unsent, as on the healthy path (prost).
                let sent = if bits == (-0.0f64).to_bits() { 0 } else { bits };
                want.entry(l.clone()).or_default().push((now, sent));
            }
            let mut payload = Vec::new();
            writer.encode(&mut payload).expect("samples");
            writer.commit();
            let Ok(super::super::Record::Samples(record)) = reader.decode(&payload) else {
                panic!("decodes")
            };
            window.add(&reader, record);
        }
        (window, want)
    }

    #[test]
    fn requests_hold_every_sample_once_per_series_in_order() {
        for (seed, max) in [(1, 1), (2, 3), (3, 7), (4, 50), (5, 100_000)] {
            let (window, want) = window(seed, 6, 30);
            let requests = window.requests(max);
            let mut got = PerSeries::new();
            let mut last_seen: HashMap<Vec<u8>, usize> = HashMap::new();
            for (n, request) in requests.iter().enumerate() {
                let raw = snap::raw::Decoder::new().decompress_vec(&request.payload).expect("snappy");
                let decoded = WriteRequest::decode(&raw[..]).expect("protobuf");
                let samples: usize = decoded.timeseries.iter().map(|t| t.samples.len()).sum();
                assert_eq!(samples, request.samples as usize, "seed {seed} request {n}");
                assert!(samples <= max && samples > 0, "seed {seed} request {n}: {samples} samples");
                let ts = decoded.timeseries.iter().flat_map(|t| t.samples.iter().map(|s| s.timestamp));
                assert_eq!(ts.clone().min(), Some(request.min_timestamp_ms), "seed {seed} request {n}");
                assert_eq!(ts.max(), Some(request.max_timestamp_ms), "seed {seed} request {n}");
                for series in decoded.timeseries {
                    let labels = TimeSeriesLabels(series.labels.clone()).encode();
                    // A series is in one stretch of consecutive requests: no later request
                    // goes back to it after another series.
                    let previous = last_seen.insert(labels.clone(), n);
                    assert!(previous.is_none_or(|p| p + 1 >= n), "seed {seed} request {n}");
                    let samples = series.samples.iter().map(|s| (s.timestamp, s.value.to_bits()));
                    got.entry(labels).or_default().extend(samples);
                }
            }
            assert_eq!(got, want, "seed {seed}: every sample once, in order, bits exact");
            let total: usize = want.values().map(Vec::len).sum();
            assert_eq!((window.samples(), requests.len()), (total, total.div_ceil(max)), "seed {seed}");
        }
    }

    /// Labels as `encode_labels` writes them.
    struct TimeSeriesLabels(Vec<crate::staging::encode::Label>);

    impl TimeSeriesLabels {
        fn encode(self) -> Vec<u8> {
            crate::staging::encode::TimeSeries { labels: self.0, samples: Vec::new() }.encode_to_vec()
        }
    }

    #[test]
    fn max_age_drops_by_each_samples_timestamp() {
        let (window, want) = window(9, 4, 20);
        let all: Vec<i64> = want.values().flatten().map(|(ts, _)| *ts).collect();
        let mut sorted = all.clone();
        sorted.sort_unstable();
        let oldest = sorted[sorted.len() / 2];
        let (requests, dropped) = window.requests_since(5, oldest);
        assert_eq!(dropped, all.iter().filter(|ts| **ts < oldest).count() as u64);
        let sent: u32 = requests.iter().map(|r| r.samples).sum();
        assert_eq!(u64::from(sent) + dropped, all.len() as u64);
        assert!(requests.iter().all(|r| r.min_timestamp_ms >= oldest));
        assert_eq!(window.requests_since(5, i64::MIN), (window.requests(5), 0));
        assert_eq!(window.requests_since(5, i64::MAX), (vec![], all.len() as u64));
    }

    #[test]
    fn a_plan_encodes_to_the_same_requests() {
        let mut encoder = snap::raw::Encoder::new();
        for (seed, max) in [(11, 1), (12, 4), (13, 2000)] {
            let (window, want) = window(seed, 5, 25);
            let plan = window.plan(max);
            let encoded: Vec<Request> =
                plan.iter().filter_map(|slice| window.encode(slice, i64::MIN, &mut encoder).0).collect();
            assert_eq!(encoded, window.requests(max), "seed {seed}");
            let total: usize = want.values().map(Vec::len).sum();
            let (none, dropped) = window.encode(&plan[0], i64::MAX, &mut encoder);
            assert_eq!((none, dropped as usize), (None, plan[0].iter().map(|(_, r)| r.len()).sum()));
            assert_eq!(plan.len(), total.div_ceil(max), "seed {seed}");
        }
    }

    #[test]
    fn an_empty_window_has_no_requests() {
        assert_eq!(Window::default().requests(10), vec![]);
    }
}
