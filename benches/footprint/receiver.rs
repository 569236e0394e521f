//! The counting receiver: a remote-write 1.0 endpoint on 127.0.0.1 (HTTP/1.1, keep-alive,
//! snappy, protobuf) that keeps no samples, only counts: samples and wire bytes, and per
//! series the last timestamp (a sample at that timestamp again is a duplicate, an older one
//! out of order). Per target (`instance`) it groups the exporter's samples by scrape
//! timestamp and reads `synthetic_scrape_seq` in each group, so a scrape whose group is
//! missing or short is counted as lost (agent series, `up` and `scrape_*`, and staleness
//! markers are counted as samples but not checked).

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, HashMap};
use std::hash::Hasher;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use prost::Message;
use prost::bytes::Bytes;

#[derive(Clone, PartialEq, Message)]
struct WriteRequest {
    #[prost(message, repeated, tag = "1")]
    timeseries: Vec<TimeSeries>,
}

#[derive(Clone, PartialEq, Message)]
struct TimeSeries {
    #[prost(message, repeated, tag = "1")]
    labels: Vec<Label>,
    #[prost(message, repeated, tag = "2")]
    samples: Vec<outpost::staging::encode::Sample>,
}

/// Label bytes are slices of the request body: no copy, no UTF-8 check.
#[derive(Clone, PartialEq, Message)]
struct Label {
    #[prost(bytes = "bytes", tag = "1")]
    name: Bytes,
    #[prost(bytes = "bytes", tag = "2")]
    value: Bytes,
}

/// Prometheus's staleness marker.
const STALE_NAN: u64 = 0x7ff0_0000_0000_0002;

/// What the receiver has counted so far.
#[derive(Clone, Copy, Default, Debug)]
pub struct Counts {
    pub requests: u64,
    pub samples: u64,
    pub wire_bytes: u64,
    pub duplicated: u64,
    pub out_of_order: u64,
    pub bad_requests: u64,
}

#[derive(Default)]
struct Group {
    samples: u64,
    seq: Option<u64>,
}

#[derive(Default)]
struct State {
    counts: Counts,
    last: HashMap<u64, i64>,
    /// Per instance, per scrape timestamp.
    groups: HashMap<Bytes, BTreeMap<i64, Group>>,
}

pub struct Receiver {
    pub port: u16,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
}

impl Receiver {
    pub fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind receiver");
        let port = listener.local_addr().expect("addr").port();
        let state = Arc::new(Mutex::new(State::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (s, st) = (state.clone(), stop.clone());
        thread::spawn(move || {
            for stream in listener.incoming() {
                if st.load(Ordering::Relaxed) {
                    return;
                }
                let Ok(stream) = stream else { continue };
                let (s, st) = (s.clone(), st.clone());
                thread::spawn(move || serve(stream, &s, &st));
            }
        });
        Receiver { port, state, stop }
    }

    pub fn counts(&self) -> Counts {
        self.state.lock().expect("receiver state").counts
    }

    /// Exporter samples lost: scrapes missing between the first and last one received per
    /// target, and groups short of `expected` samples (`series` + the seq gauge), leaving
    /// out each target's newest `tail` scrapes, which may still be on their way.
    pub fn lost(&self, expected: u64, tail: usize) -> u64 {
        let state = self.state.lock().expect("receiver state");
        let mut lost = 0;
        for groups in state.groups.values() {
            let settled = groups.len().saturating_sub(tail);
            let mut seqs = Vec::with_capacity(settled);
            for group in groups.values().take(settled) {
                lost += expected.saturating_sub(group.samples);
                if let Some(seq) = group.seq {
                    seqs.push(seq);
                }
            }
            seqs.sort_unstable();
            for pair in seqs.windows(2) {
                lost += pair[1].saturating_sub(pair[0]).saturating_sub(1) * expected;
            }
        }
        lost
    }

    /// Targets that delivered at least one scrape of the exporter's series.
    pub fn targets_seen(&self) -> usize {
        self.state.lock().expect("receiver state").groups.len()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// Reads requests on one connection until the peer closes it, answering each with 204.
fn serve(stream: TcpStream, state: &Mutex<State>, stop: &AtomicBool) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(120)));
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    let mut compressed = Vec::new();
    let mut decoder = snap::raw::Decoder::new();
    loop {
        let mut length = None;
        let mut complete = false;
        for _ in 0..100 {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) if line.trim_end().is_empty() => {
                    complete = true;
                    break;
                }
                Ok(_) => {
                    if let Some((name, value)) = line.split_once(':')
                        && name.eq_ignore_ascii_case("content-length")
                    {
                        length = value.trim().parse::<usize>().ok();
                    }
                }
            }
        }
        let (true, Some(length)) = (complete, length) else { return };
        if stop.load(Ordering::Relaxed) || length > 256 << 20 {
            return;
        }
        compressed.resize(length, 0);
        if reader.read_exact(&mut compressed).is_err() {
            return;
        }
        let ok = decoder
            .decompress_vec(&compressed)
            .ok()
            .and_then(|body| WriteRequest::decode(Bytes::from(body)).ok())
            .map(|request| count(state, &request, length as u64))
            .is_some();
        let answer: &[u8] = if ok {
            b"HTTP/1.1 204 No Content\r\n\r\n"
        } else {
            state.lock().expect("receiver state").counts.bad_requests += 1;
            b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"
        };
        if reader.get_mut().write_all(answer).is_err() {
            return;
        }
    }
}

fn count(state: &Mutex<State>, request: &WriteRequest, wire: u64) {
    // Per series, outside the lock: its identity, its name and instance.
    let keyed: Vec<(u64, &TimeSeries, bool, bool, Option<&Bytes>)> = request
        .timeseries
        .iter()
        .map(|series| {
            let mut hasher = DefaultHasher::new();
            let (mut name, mut instance) = (&b""[..], None);
            for label in &series.labels {
                hasher.write(&label.name);
                hasher.write_u8(0xff);
                hasher.write(&label.value);
                hasher.write_u8(0xff);
                match &label.name[..] {
                    b"__name__" => name = &label.value[..],
                    b"instance" => instance = Some(&label.value),
                    _ => {}
                }
            }
            let agent = name == b"up" || name.starts_with(b"scrape_");
            (hasher.finish(), series, agent, name == b"synthetic_scrape_seq", instance)
        })
        .collect();
    let mut state = state.lock().expect("receiver state");
    let state = &mut *state;
    state.counts.requests += 1;
    state.counts.wire_bytes += wire;
    for (key, series, agent, seq, instance) in keyed {
        for sample in &series.samples {
            state.counts.samples += 1;
            let last = state.last.entry(key).or_insert(i64::MIN);
            if sample.timestamp == *last {
                state.counts.duplicated += 1;
            } else if sample.timestamp < *last {
                state.counts.out_of_order += 1;
            } else {
                *last = sample.timestamp;
            }
            if agent || sample.value.to_bits() == STALE_NAN {
                continue;
            }
            let Some(instance) = instance else { continue };
            // The key is a copy: a slice would keep the whole request body alive.
            if !state.groups.contains_key(instance) {
                state.groups.insert(Bytes::copy_from_slice(instance), BTreeMap::new());
            }
            let groups = state.groups.get_mut(instance).expect("inserted above");
            let group = groups.entry(sample.timestamp).or_default();
            group.samples += 1;
            if seq {
                group.seq = Some(sample.value as u64);
            }
        }
    }
}
