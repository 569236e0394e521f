//! The compact outage log on the node_exporter page (tests/fixtures), its counters moving
//! every scrape: ns per sample to write a record (push + encode, what an outage adds per
//! sample instead of sealing a block), to read records back and turn them into requests of
//! 2,000 samples (the drain), and today's block sealing for comparison. A benchmark, not a
//! test: it asserts nothing about time. `cargo bench --bench compact`.
//!
//! Then the live path through `Buffer` over real files (a temp dir): an outage of the same
//! scrapes written (sample records, one per scrape as `sync_interval` would, each synced) and
//! drained through `take`/`settle` with no HTTP (cursor and draining file fsyncs included),
//! against today's sealed blocks spilled and drained the same way.

use std::time::Instant;

use outpost::buffer::Buffer;
use outpost::buffer::compact::drain::Window;
use outpost::buffer::compact::{Reader, Record, Writer};
use outpost::config::{BufferConfig, Persist};
use outpost::model::Labels;
use outpost::parse::{self, Entry, Format};
use outpost::staging::batch::Batch;
use outpost::staging::encode::encode_labels;

const PAGE: &str = include_str!("../tests/fixtures/node_exporter.prom");
const SCRAPES: usize = 2000;

fn main() {
    let mut series: Vec<(Vec<u8>, f64, bool)> = Vec::new();
    for entry in parse::parser(Format::Text, PAGE) {
        if let Ok(Entry::Sample(s)) = entry {
            let mut labels = Labels::from_pairs([("__name__", s.name), ("job", "node")]);
            labels.set("instance".into(), "10.0.0.7:9100".into());
            for (name, value) in parse::labels(s.labels).flatten() {
                labels.set(name.into(), value.into_owned());
            }
            series.push((encode_labels(&labels), s.value, s.name.ends_with("_total")));
        }
    }
    let mut rng = fastrand::Rng::with_seed(1);
    // The scrapes, made up front so that only the log's work is timed.
    let mut scrapes = Vec::with_capacity(SCRAPES);
    let mut now = 1_700_000_000_000i64;
    for _ in 0..SCRAPES {
        now += 15_000 + rng.i64(-3..=3);
        for s in &mut series {
            if s.2 && rng.f64() < 0.7 {
                s.1 = ((s.1 + rng.f64() * 2.0) * 100.0).round() / 100.0;
            }
        }
        scrapes.push((now, series.iter().map(|s| s.1).collect::<Vec<f64>>()));
    }
    let samples = (SCRAPES * series.len()) as f64;

    let mut writer = Writer::default();
    let mut payloads = Vec::with_capacity(SCRAPES);
    let t = Instant::now();
    for (ts, values) in &scrapes {
        for (s, value) in series.iter().zip(values) {
            writer.push(&s.0, *ts, *value);
        }
        let mut payload = Vec::new();
        writer.encode(&mut payload);
        writer.commit();
        payloads.push(payload);
    }
    let write_ns = t.elapsed().as_nanos() as f64 / samples;
    let bytes: usize = payloads.iter().map(Vec::len).sum();

    let t = Instant::now();
    let (mut reader, mut window, mut requests, mut sent) = (Reader::default(), Window::default(), 0, 0);
    for chunk in payloads.chunks(100) {
        for payload in chunk {
            if let Ok(Record::Samples(record)) = reader.decode(payload) {
                window.add(&reader, record);
            }
        }
        for request in window.requests(2000) {
            requests += 1;
            sent += request.payload.len();
        }
        window = Window::default();
    }
    let drain = t.elapsed().as_secs_f64();

    let mut batch = Batch::default();
    let t = Instant::now();
    for (seq, (ts, values)) in scrapes.iter().enumerate() {
        for (s, value) in series.iter().zip(values) {
            batch.push(&s.0, *value, *ts);
        }
        std::hint::black_box(batch.seal(seq as u64));
    }
    let seal_ns = t.elapsed().as_nanos() as f64 / samples;

    println!("{} series x {SCRAPES} scrapes = {samples} samples", series.len());
    println!("write the compact log: {write_ns:.0} ns/sample, {:.2} B/sample", bytes as f64 / samples);
    println!("seal blocks (today's per-sample cost): {seal_ns:.0} ns/sample");
    println!(
        "drain (decode, group, encode, snappy): {:.2} M samples/s, {requests} requests, {:.2} B/sample sent",
        samples / drain / 1e6,
        sent as f64 / samples
    );

    let keys: Vec<Vec<u8>> = series.iter().map(|s| s.0.clone()).collect();
    for logged in [false, true] {
        live(&keys, &scrapes, logged);
    }
}

/// An outage of `scrapes` through a `Buffer` on disk, then its drain: sample records
/// (`logged`) or sealed blocks of 2,000 samples.
fn live(series: &[Vec<u8>], scrapes: &[(i64, Vec<f64>)], logged: bool) {
    let dir = std::env::temp_dir().join(format!("outpost-bench-compact-{}-{logged}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let config = BufferConfig {
        memory: 4 << 20,
        disk: 1 << 30,
        segment: 4 << 20,
        max_age: std::time::Duration::from_secs(100 * 365 * 86400),
        sync_interval: std::time::Duration::from_secs(1),
        persist: Persist::Outage,
    };
    let mut buffer = Buffer::open(&config, &dir);
    buffer.set_max_samples(2000);
    buffer.outage();
    let samples = (scrapes.len() * series.len()) as f64;
    let mut batch = Batch::default();
    let (mut peak, t) = (0, Instant::now());
    for (ts, values) in scrapes {
        for (labels, value) in series.iter().zip(values) {
            if logged {
                buffer.push_sample(labels, *ts, *value);
            } else {
                batch.push(labels, *value, *ts);
                if batch.samples() >= 2000 {
                    let block = batch.seal(buffer.next_seq()).expect("samples");
                    buffer.push(block);
                }
            }
        }
        buffer.sync();
        peak = peak.max(buffer.disk_bytes());
    }
    if let Some(block) = batch.seal(buffer.next_seq()) {
        buffer.push(block);
    }
    buffer.sync();
    let write_ns = t.elapsed().as_nanos() as f64 / samples;
    let on_disk = buffer.disk_bytes().max(peak);
    let (t, mut sent, mut wire, mut requests) = (Instant::now(), 0u64, 0usize, 0);
    while let Some(block) = buffer.take() {
        sent += u64::from(block.samples);
        wire += block.payload.len();
        requests += 1;
        buffer.settle(block.seq);
    }
    let drain = t.elapsed().as_secs_f64();
    let kind = if logged { "sample records" } else { "sealed blocks (before)" };
    println!(
        "live path, {kind}: write {write_ns:.0} ns/sample (incl. a write and fsync per scrape), {:.2} B/sample on disk; \
         drain {:.2} M samples/s ({requests} requests, {:.2} B/sample on the wire, {} of {samples} samples)",
        on_disk as f64 / samples,
        sent as f64 / drain / 1e6,
        wire as f64 / sent as f64,
        sent
    );
    let _ = std::fs::remove_dir_all(&dir);
}
