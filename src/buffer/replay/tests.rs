//! The compact outage log on the live path, through `Buffer` over real files: samples logged
//! from the first failed send, replayed grouped per series and in order, bit-exact, each once;
//! the draining file across clean stops and crashes; `max_age` by timestamp; corrupt records.

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use prost::Message;

use super::super::*;
use crate::buffer::disk::tests::TempDir;
use crate::config::BufferConfig;
use crate::model::Labels;
use crate::staging::Staging;
use crate::staging::encode::{TimeSeries, WriteRequest, encode_labels};

/// Per series (encoded labels): (timestamp, value bits) in the order received.
type PerSeries = BTreeMap<Vec<u8>, Vec<(i64, u64)>>;

const STALE: u64 = 0x7ff0_0000_0000_0002;

fn config(memory: u64, disk: u64, segment: u64) -> BufferConfig {
    BufferConfig {
        memory,
        disk,
        segment,
        max_age: Duration::from_secs(3600),
        sync_interval: Duration::from_secs(1),
        persist: Persist::Outage,
    }
}

fn now_ms() -> i64 {
    i64::try_from(SystemTime::now().duration_since(UNIX_EPOCH).expect("after 1970").as_millis()).expect("ms")
}

fn labels(i: usize) -> Vec<u8> {
    encode_labels(&Labels::from_pairs([("__name__", "m"), ("i", i.to_string().as_str())]))
}

/// The queue's routing (`sender::Queue::append`) over a buffer: staged while healthy, logged
/// during an outage.
struct Sim {
    buffer: Buffer,
    staging: Staging,
    max_samples: usize,
}

impl Sim {
    fn open(cfg: &BufferConfig, dir: &TempDir, max_samples: usize) -> Self {
        let mut buffer = Buffer::open(cfg, &dir.0);
        buffer.set_max_samples(max_samples);
        let staging = Staging::new(max_samples, Duration::from_secs(5), buffer.next_seq());
        Sim { buffer, staging, max_samples }
    }

    fn append(&mut self, labels: &[u8], ts: i64, bits: u64) {
        let value = f64::from_bits(bits);
        if self.buffer.logs_samples() {
            self.seal_staged();
            self.buffer.push_sample(labels, ts, value);
            return;
        }
        self.staging.skip_to(self.buffer.next_seq());
        if let Some((block, lane)) = self.staging.push_in(labels, value, ts, Instant::now()) {
            self.buffer.push_in(block, lane);
        }
    }

    /// Seals what is staged into the buffer (the end of a test's scrapes).
    fn seal_staged(&mut self) {
        while let Some((block, lane)) = self.staging.seal() {
            self.buffer.push_in(block, lane);
        }
    }

    /// Takes and settles up to `limit` requests, decoding each into `got`; returns how many.
    fn drain(&mut self, got: &mut PerSeries, limit: usize) -> usize {
        for n in 0..limit {
            let Some(block) = self.buffer.take() else { return n };
            let samples = add_request(got, &block.payload);
            assert_eq!(samples, block.samples as usize, "a request's sample count");
            assert!(samples <= self.max_samples, "{samples} samples in a request");
            self.buffer.settle(block.seq);
        }
        limit
    }
}

/// Adds a request's samples to `got`; returns how many it held.
fn add_request(got: &mut PerSeries, payload: &[u8]) -> usize {
    let raw = snap::raw::Decoder::new().decompress_vec(payload).expect("snappy");
    let request = WriteRequest::decode(&raw[..]).expect("protobuf");
    let mut n = 0;
    for series in request.timeseries {
        let labels = TimeSeries { labels: series.labels, samples: Vec::new() }.encode_to_vec();
        n += series.samples.len();
        got.entry(labels)
            .or_default()
            .extend(series.samples.iter().map(|s| (s.timestamp, s.value.to_bits())));
    }
    n
}

/// What the receiver gets for a sample of `bits`: -0.0 is proto3's default, so unsent (as on
/// the healthy path).
fn sent(bits: u64) -> u64 {
    if bits == (-0.0f64).to_bits() { 0 } else { bits }
}

/// `scrapes` scrapes of `series` series one second apart from `t0`, values from `rng` (staleness
/// markers, random bits, counters); appended through `sim`, recorded in `want`.
fn scrape(sim: &mut Sim, want: &mut PerSeries, rng: &mut fastrand::Rng, t0: i64, series: usize) {
    let ts = t0 + rng.i64(0..5);
    for i in 0..series {
        let bits = match rng.u8(..6) {
            0 => STALE,
            1 => rng.u64(..),
            2 => (-0.0f64).to_bits(),
            _ => (ts as f64).to_bits(),
        };
        let l = labels(i);
        sim.append(&l, ts, bits);
        want.entry(l).or_default().push((ts, sent(bits)));
    }
}

#[test]
fn an_outage_logs_samples_and_the_backlog_comes_back_per_series_in_order_bit_exact() {
    for (seed, max) in [(1u64, 25usize), (2, 100), (3, 2000)] {
        let dir = TempDir::new("replay-outage");
        let mut sim = Sim::open(&config(1 << 20, 8 << 20, 64 << 10), &dir, max);
        let (mut rng, mut want, mut got) =
            (fastrand::Rng::with_seed(seed), PerSeries::new(), PerSeries::new());
        let t0 = now_ms() - 600_000;
        for s in 0..5 {
            scrape(&mut sim, &mut want, &mut rng, t0 + s * 1000, 30);
        }
        assert!(sim.buffer.memory_bytes() > 0 || sim.staging.pending() > 0, "healthy: in RAM");
        assert_eq!(sim.buffer.disk_bytes(), 0, "healthy: nothing on disk");
        sim.buffer.outage();
        assert!(sim.buffer.logs_samples(), "from the first failed send");
        for s in 5..200 {
            scrape(&mut sim, &mut want, &mut rng, t0 + s * 1000, 30);
            if s % 3 == 0 {
                sim.buffer.sync();
            }
        }
        assert_eq!(sim.staging.pending(), 0, "staged samples were spilled before the first logged one");
        assert_eq!(sim.buffer.memory_bytes(), 0, "nothing in the ring during an outage");
        // Receiver back: drain while scrapes go on, until the buffer is back to RAM only.
        let mut s = 200;
        while sim.buffer.logs_samples() {
            sim.drain(&mut got, 20);
            scrape(&mut sim, &mut want, &mut rng, t0 + s * 1000, 30);
            sim.buffer.sync();
            s += 1;
            assert!(s < 2000, "seed {seed}: the backlog never drains");
        }
        sim.seal_staged();
        sim.drain(&mut got, usize::MAX);
        assert_eq!(got, want, "seed {seed}: every sample once, per series in order, bits exact");
        assert_eq!(sim.buffer.disk_bytes(), 0, "seed {seed}: delivered segments deleted");
        assert_eq!(sim.buffer.pending_samples(), 0);
        assert!(sim.buffer.take_losses().is_empty(), "seed {seed}: nothing lost");
    }
}

/// Samples logged, some requests delivered, then a stop (clean, or a crash after the last
/// sync): the restart sends the rest, and no delivered request again.
fn stop_mid_window(clean: bool) {
    let dir = TempDir::new("replay-restart");
    let cfg = config(1 << 20, 8 << 20, 32 << 10);
    let mut sim = Sim::open(&cfg, &dir, 50);
    let (mut rng, mut want, mut got) = (fastrand::Rng::with_seed(7), PerSeries::new(), PerSeries::new());
    let t0 = now_ms() - 300_000;
    sim.buffer.outage();
    for s in 0..120 {
        scrape(&mut sim, &mut want, &mut rng, t0 + s * 1000, 20);
    }
    sim.buffer.sync();
    assert_eq!(sim.drain(&mut got, 7), 7);
    // One more taken and never answered: in flight at the stop.
    let in_flight = sim.buffer.take().expect("a request in flight");
    if clean {
        sim.buffer.close();
    }
    drop(sim);
    let mut sim = Sim::open(&cfg, &dir, 50);
    sim.drain(&mut got, usize::MAX);
    assert_eq!(got, want, "clean {clean}: every sample once, in order");
    assert!(sim.buffer.take_losses().is_empty());
    assert!(in_flight.samples > 0);
}

#[test]
fn a_clean_stop_in_the_middle_of_a_window_resends_nothing() {
    stop_mid_window(true);
}

#[test]
fn a_crash_in_the_middle_of_a_window_resends_nothing_delivered() {
    stop_mid_window(false);
}

/// `buffer.disk` (or a full file system) takes the oldest segment while the window read from
/// it is being sent: the window is in RAM and goes out to its end, what was delivered is not
/// counted lost, nothing is sent twice, and every sample is delivered or counted, exactly.
#[test]
fn a_segment_deleted_while_its_window_is_sent_is_sent_to_the_end_and_counted_exactly() {
    let dir = TempDir::new("replay-deleted");
    let mut sim = Sim::open(&config(1 << 20, 24 << 10, 4 << 10), &dir, 50);
    let (mut rng, mut want, mut got) = (fastrand::Rng::with_seed(11), PerSeries::new(), PerSeries::new());
    let t0 = now_ms() - 3_000_000;
    sim.buffer.outage();
    let mut s = 0;
    let mut scrapes = |sim: &mut Sim, want: &mut PerSeries, n: usize| {
        for _ in 0..n {
            scrape(sim, want, &mut rng, t0 + s * 1000, 20);
            s += 1;
            if s % 2 == 0 {
                sim.buffer.sync();
            }
        }
    };
    scrapes(&mut sim, &mut want, 40);
    // Three of the first window's sixteen requests out, then the disk runs over its budget.
    assert_eq!(sim.drain(&mut got, 3), 3);
    let window_first = sim.buffer.drain.as_ref().map(|d| d.first).expect("a window being sent");
    let mut lost = 0;
    for _ in 0..2000 {
        scrapes(&mut sim, &mut want, 1);
        lost += sim.buffer.take_losses().iter().map(|l| l.samples).sum::<u64>();
        if lost > 0 {
            break;
        }
    }
    assert!(lost > 0, "the budget was never reached");
    assert_eq!(sim.buffer.drain.as_ref().map(|d| d.first), Some(window_first), "the window goes on");
    sim.buffer.sync();
    sim.drain(&mut got, usize::MAX);
    lost += sim.buffer.take_losses().iter().map(|l| l.samples).sum::<u64>();
    let delivered: usize = got.values().map(Vec::len).sum();
    let logged: usize = want.values().map(Vec::len).sum();
    assert_eq!(delivered as u64 + lost, logged as u64, "every sample delivered or counted, once");
    for (series, samples) in &got {
        let all = &want[series];
        assert!(samples.windows(2).all(|w| w[0].0 < w[1].0), "{series:?}: in order, none twice");
        assert!(samples.iter().all(|x| all.contains(x)), "{series:?}: only samples logged");
        assert!(samples.len() >= 40, "{series:?}: the window's samples delivered");
    }
}

/// A ring that fills while the receiver answers spills sealed blocks as they are, and samples
/// go on being staged: the compact log (CPU to log and re-encode each sample) is for an outage.
/// A failed send after that starts it; either way every sample comes back once, in order.
#[test]
fn a_full_ring_spills_blocks_and_only_an_outage_logs_samples() {
    let dir = TempDir::new("replay-full-ring");
    let mut sim = Sim::open(&config(4 << 10, 8 << 20, 64 << 10), &dir, 50);
    let (mut rng, mut want, mut got) = (fastrand::Rng::with_seed(13), PerSeries::new(), PerSeries::new());
    let t0 = now_ms() - 100_000;
    for s in 0..40 {
        scrape(&mut sim, &mut want, &mut rng, t0 + s * 1000, 30);
    }
    assert!(sim.buffer.disk_bytes() > 0, "the ring filled and spilled");
    assert!(!sim.buffer.logs_samples(), "no send failed: samples are still staged");
    sim.drain(&mut got, 5);
    sim.buffer.outage();
    assert!(sim.buffer.logs_samples(), "a failed send: samples go to the compact log");
    for s in 40..60 {
        scrape(&mut sim, &mut want, &mut rng, t0 + s * 1000, 30);
    }
    sim.buffer.sync();
    sim.drain(&mut got, usize::MAX);
    assert!(!sim.buffer.logs_samples(), "the backlog delivered: back to memory only");
    sim.seal_staged();
    sim.drain(&mut got, usize::MAX);
    assert_eq!(got, want, "every sample once, per series in order");
    assert!(sim.buffer.take_losses().is_empty());
    assert_eq!(sim.buffer.disk_bytes(), 0, "delivered segments deleted");
}

#[test]
fn max_age_drops_logged_samples_by_their_own_timestamp() {
    let dir = TempDir::new("replay-age");
    let mut cfg = config(1 << 20, 8 << 20, 64 << 10);
    cfg.max_age = Duration::from_secs(60);
    let mut sim = Sim::open(&cfg, &dir, 40);
    let (mut rng, mut want, mut got) = (fastrand::Rng::with_seed(3), PerSeries::new(), PerSeries::new());
    sim.buffer.outage();
    let now = now_ms();
    // 120 scrapes one second apart ending now: the first half is older than max_age.
    for s in 0..120 {
        scrape(&mut sim, &mut want, &mut rng, now - 120_000 + s * 1000, 10);
    }
    sim.buffer.sync();
    sim.drain(&mut got, usize::MAX);
    let cutoff = now - 60_000 + 5_000;
    for samples in want.values_mut() {
        samples.retain(|(ts, _)| *ts >= cutoff);
    }
    for samples in got.values_mut() {
        assert!(samples.iter().all(|(ts, _)| *ts >= now - 61_000), "nothing older than max_age sent");
        samples.retain(|(ts, _)| *ts >= cutoff);
    }
    assert_eq!(got, want, "every fresh sample sent");
    let too_old: u64 =
        sim.buffer.take_losses().iter().filter(|l| l.reason == DropReason::TooOld).map(|l| l.samples).sum();
    assert!((500..=650).contains(&too_old), "{too_old} samples dropped as too old, about 600");
}

#[test]
fn a_corrupt_sample_record_is_cut_and_counted_never_sent_as_other_series() {
    let dir = TempDir::new("replay-corrupt");
    let cfg = config(1 << 20, 8 << 20, 1 << 20);
    let mut sim = Sim::open(&cfg, &dir, 100);
    let (mut rng, mut want) = (fastrand::Rng::with_seed(5), PerSeries::new());
    let t0 = now_ms() - 100_000;
    sim.buffer.outage();
    for s in 0..30 {
        scrape(&mut sim, &mut want, &mut rng, t0 + s * 1000, 10);
        sim.buffer.sync();
    }
    let held = sim.buffer.backlog_samples();
    sim.buffer.close();
    drop(sim);
    // A bit flipped in the middle of the one segment: the records from there on are lost.
    let path = dir.0.join("00000000.seg");
    let mut bytes = std::fs::read(&path).expect("segment");
    let at = bytes.len() / 2;
    bytes[at] ^= 0x10;
    std::fs::write(&path, &bytes).expect("write");
    let mut sim = Sim::open(&cfg, &dir, 100);
    let corrupt: u64 =
        sim.buffer.take_losses().iter().filter(|l| l.reason == DropReason::Corrupt).map(|l| l.samples).sum();
    let mut got = PerSeries::new();
    sim.drain(&mut got, usize::MAX);
    let delivered: usize = got.values().map(Vec::len).sum();
    assert!(corrupt > 0 && delivered > 0, "corrupt {corrupt}, delivered {delivered}");
    // The damaged record's own count is behind the failed checksum: counted as a block only
    // (as for sealed blocks); the records after it are counted by their metas.
    assert_eq!(delivered as u64 + corrupt + 10, held, "every sample delivered or counted corrupt");
    for (series, samples) in &got {
        let all = &want[series];
        assert_eq!(samples[..], all[..samples.len()], "a prefix of each series, never another's samples");
    }
}

#[test]
fn back_to_memory_seals_the_samples_still_waiting_into_the_ring() {
    let dir = TempDir::new("replay-back");
    let mut sim = Sim::open(&config(1 << 20, 8 << 20, 64 << 10), &dir, 500);
    let (mut rng, mut want, mut got) = (fastrand::Rng::with_seed(9), PerSeries::new(), PerSeries::new());
    let t0 = now_ms() - 100_000;
    sim.buffer.outage();
    for s in 0..10 {
        scrape(&mut sim, &mut want, &mut rng, t0 + s * 1000, 10);
    }
    sim.buffer.sync();
    // Logged after the last record: still in the writer when the backlog is delivered.
    scrape(&mut sim, &mut want, &mut rng, t0 + 10_000, 10);
    sim.drain(&mut got, usize::MAX);
    assert!(!sim.buffer.logs_samples(), "back to memory only");
    assert_eq!(sim.buffer.disk_bytes(), 0);
    scrape(&mut sim, &mut want, &mut rng, t0 + 11_000, 10);
    sim.seal_staged();
    sim.drain(&mut got, usize::MAX);
    assert_eq!(got, want);
    assert_eq!(sim.buffer.disk_bytes(), 0, "healthy again: nothing written");
}

/// Property: any sequence of samples, logged with syncs, clean stops and crashes (after a
/// sync) at random points, comes back sample for sample, per series in order, none twice.
#[test]
fn any_samples_logged_come_back_exactly_once_per_series_in_order() {
    for seed in 0..12 {
        let dir = TempDir::new("replay-property");
        let mut rng = fastrand::Rng::with_seed(seed);
        let cfg = config(1 << 20, 64 << 20, rng.u64(2 << 10..64 << 10));
        let max = rng.usize(1..300);
        let mut sim = Sim::open(&cfg, &dir, max);
        let (mut want, mut got) = (PerSeries::new(), PerSeries::new());
        let series = rng.usize(1..40);
        let t0 = now_ms() - 1_000_000;
        sim.buffer.outage();
        for s in 0..300 {
            match rng.u8(..20) {
                0 => sim.buffer.sync(),
                1 => {
                    sim.buffer.close();
                    sim = Sim::open(&cfg, &dir, max);
                }
                2 => {
                    sim.buffer.sync();
                    sim = Sim::open(&cfg, &dir, max);
                }
                3..=5 => {
                    sim.drain(&mut got, rng.usize(0..4));
                }
                _ => {}
            }
            if !sim.buffer.logs_samples() {
                sim.buffer.outage();
            }
            let n = rng.usize(1..=series);
            scrape(&mut sim, &mut want, &mut rng, t0 + s * 1000, n);
        }
        sim.buffer.sync();
        sim.drain(&mut got, usize::MAX);
        sim.seal_staged();
        sim.drain(&mut got, usize::MAX);
        assert_eq!(got, want, "seed {seed}");
        assert!(sim.buffer.take_losses().is_empty(), "seed {seed}");
    }
}
