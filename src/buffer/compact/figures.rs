//! Bytes per sample of the compact records against today's sealed blocks, on two loads: the
//! captured node_exporter page (tests/fixtures) scraped every 15 s, its values moved the way
//! counters and gauges move; and a synthetic cAdvisor-like target (long label sets, 1,000
//! series, scraped every second). `cargo test --lib compact::figures -- --nocapture` prints
//! them; the README's buffer section quotes them. Pure: a seeded RNG, no clock.

use super::drain::Window;
use super::{Reader, Record, Writer};
use crate::buffer::segment::{HEADER_LEN, RECORD_OVERHEAD};
use crate::model::Labels;
use crate::parse::{self, Entry, Format, MetricType};
use crate::staging::batch::Batch;
use crate::staging::encode::encode_labels;

/// How a series' value moves from one scrape to the next.
#[derive(Clone, Copy)]
enum Motion {
    /// A counter: grows by whole units (bytes, packets) or by hundredths (seconds).
    Counter {
        whole: bool,
    },
    /// A gauge: changes now and then, by a percent at most.
    Gauge {
        whole: bool,
        chance: f64,
    },
    Constant,
}

struct Series {
    labels: Vec<u8>,
    value: f64,
    motion: Motion,
}

impl Series {
    fn step(&mut self, rng: &mut fastrand::Rng) {
        match self.motion {
            Motion::Counter { whole: true } if rng.f64() < 0.7 => self.value += f64::from(rng.u32(1..50_000)),
            Motion::Counter { whole: false } if rng.f64() < 0.7 => {
                self.value = ((self.value + rng.f64() * 2.0) * 100.0).round() / 100.0;
            }
            Motion::Gauge { whole, chance } if rng.f64() < chance => {
                let v = self.value * (1.0 + (rng.f64() - 0.5) * 0.02);
                self.value = if whole { v.round() } else { v };
            }
            _ => {}
        }
    }
}

/// The captured page's series with the labels a scrape adds.
fn node_exporter() -> Vec<Series> {
    let page = include_str!("../../../tests/fixtures/node_exporter.prom");
    let mut kind = MetricType::Untyped;
    let mut series = Vec::new();
    for entry in parse::parser(Format::Text, page) {
        match entry {
            Ok(Entry::Type { kind: k, .. }) => kind = k,
            Ok(Entry::Sample(s)) => {
                let mut labels = Labels::from_pairs([("__name__", s.name), ("job", "node")]);
                labels.set("instance".into(), "10.0.0.7:9100".into());
                for pair in parse::labels(s.labels).flatten() {
                    labels.set(pair.0.into(), pair.1.into_owned());
                }
                let whole = s.value.fract() == 0.0;
                let motion = match kind {
                    MetricType::Counter => Motion::Counter { whole },
                    _ if s.name.ends_with("_info") => Motion::Constant,
                    MetricType::Gauge => Motion::Gauge { whole, chance: 0.3 },
                    _ => Motion::Gauge { whole, chance: 0.1 },
                };
                series.push(Series { labels: encode_labels(&labels), value: s.value, motion });
            }
            Ok(_) => {}
            Err(e) => panic!("fixture: {e:?}"),
        }
    }
    series
}

/// 50 containers of 20 series each, with cAdvisor's label sets.
fn cadvisor(rng: &mut fastrand::Rng) -> Vec<Series> {
    let metrics: [(&str, Motion); 20] = [
        ("container_cpu_usage_seconds_total", Motion::Counter { whole: false }),
        ("container_cpu_user_seconds_total", Motion::Counter { whole: false }),
        ("container_cpu_system_seconds_total", Motion::Counter { whole: false }),
        ("container_cpu_cfs_periods_total", Motion::Counter { whole: true }),
        ("container_cpu_cfs_throttled_periods_total", Motion::Gauge { whole: true, chance: 0.05 }),
        ("container_memory_usage_bytes", Motion::Gauge { whole: true, chance: 0.9 }),
        ("container_memory_working_set_bytes", Motion::Gauge { whole: true, chance: 0.9 }),
        ("container_memory_rss", Motion::Gauge { whole: true, chance: 0.6 }),
        ("container_memory_cache", Motion::Gauge { whole: true, chance: 0.3 }),
        ("container_memory_failcnt", Motion::Constant),
        ("container_network_receive_bytes_total", Motion::Counter { whole: true }),
        ("container_network_transmit_bytes_total", Motion::Counter { whole: true }),
        ("container_network_receive_packets_total", Motion::Counter { whole: true }),
        ("container_network_transmit_packets_total", Motion::Counter { whole: true }),
        ("container_fs_reads_bytes_total", Motion::Gauge { whole: true, chance: 0.2 }),
        ("container_fs_writes_bytes_total", Motion::Gauge { whole: true, chance: 0.4 }),
        ("container_fs_usage_bytes", Motion::Gauge { whole: true, chance: 0.1 }),
        ("container_spec_memory_limit_bytes", Motion::Constant),
        ("container_start_time_seconds", Motion::Constant),
        ("container_last_seen", Motion::Counter { whole: true }),
    ];
    let mut series = Vec::new();
    for c in 0..50 {
        let pod = format!("app-{c}-7d9f8b6c5-{:05x}", rng.u32(..0xfffff));
        let uid: String = (0..32).map(|_| char::from_digit(rng.u32(..16), 16).unwrap_or('0')).collect();
        let hash: String = (0..64).map(|_| char::from_digit(rng.u32(..16), 16).unwrap_or('0')).collect();
        for (name, motion) in metrics {
            let labels = Labels::from_pairs([
                ("__name__", name.to_string()),
                ("container", format!("app-{c}")),
                ("id", format!("/kubepods/burstable/pod{uid}/{hash}")),
                ("image", format!("registry.example.com/team/app-{c}:1.{c}.0")),
                ("name", format!("k8s_app-{c}_{pod}_default_{uid}_0")),
                ("namespace", "default".to_string()),
                ("pod", pod.clone()),
                ("instance", "10.0.0.7:10250".to_string()),
                ("job", "kubernetes-cadvisor".to_string()),
            ]);
            let value = f64::from(rng.u32(1..1 << 30));
            series.push(Series { labels: encode_labels(&labels), value, motion });
        }
    }
    series
}

#[derive(Debug)]
struct Figures {
    samples: usize,
    /// Today: one sealed block per scrape, as a segment record.
    blocks_disk: f64,
    /// The compact records, segment headers and framing included.
    compact_disk: f64,
    /// Today's drain sends the blocks as they are.
    blocks_wire: f64,
    /// Requests of `max_samples_per_send` (2,000) samples from the compact records.
    compact_wire: f64,
}

/// `scrapes` scrapes of `series`, `interval_ms` apart with a few milliseconds of jitter, one
/// record (and one block) per scrape: a sync interval (1 s) holds one scrape of a target.
fn measure(mut series: Vec<Series>, scrapes: usize, interval_ms: i64, rng: &mut fastrand::Rng) -> Figures {
    let mut now = 1_700_000_000_000i64;
    let (mut writer, mut reader, mut window, mut batch) =
        (Writer::default(), Reader::default(), Window::default(), Batch::default());
    let (mut blocks_disk, mut blocks_wire, mut compact_disk) = (HEADER_LEN, 0, HEADER_LEN);
    let mut payload = Vec::new();
    for scrape in 0..scrapes {
        now += interval_ms + rng.i64(-3..=3);
        for s in &mut series {
            s.step(rng);
            writer.push(&s.labels, now, s.value);
            batch.push(&s.labels, s.value, now);
        }
        let block = batch.seal(scrape as u64).expect("samples pushed");
        blocks_wire += block.payload.len();
        blocks_disk += RECORD_OVERHEAD + block.payload.len();
        writer.encode(&mut payload).expect("samples pushed");
        // Segments of `buffer.segment` (4 MiB): a new one, with its own dictionary, when full.
        if compact_disk % (4 << 20) + RECORD_OVERHEAD + payload.len() > 4 << 20 {
            writer.new_segment();
            reader = Reader::default();
            writer.encode(&mut payload).expect("samples kept");
            compact_disk += HEADER_LEN;
        }
        writer.commit();
        compact_disk += RECORD_OVERHEAD + payload.len();
        let Ok(Record::Samples(record)) = reader.decode(&payload) else { panic!("decodes") };
        window.add(&reader, record);
    }
    let compact_wire: usize = window.requests(2000).iter().map(|r| r.payload.len()).sum();
    let samples = scrapes * series.len();
    let per = |bytes: usize| bytes as f64 / samples as f64;
    Figures {
        samples,
        blocks_disk: per(blocks_disk),
        compact_disk: per(compact_disk),
        blocks_wire: per(blocks_wire),
        compact_wire: per(compact_wire),
    }
}

/// The goals: at most 4 bytes per sample on disk, 12 on the wire while draining.
#[test]
fn compact_records_meet_the_byte_goals() {
    let mut rng = fastrand::Rng::with_seed(15);
    let node = measure(node_exporter(), 120, 15_000, &mut rng);
    let cadvisor_series = cadvisor(&mut rng);
    let cadvisor = measure(cadvisor_series, 60, 1000, &mut rng);
    for (name, f) in
        [("node_exporter page, 30 min at 15 s", &node), ("cAdvisor-like, 1 min at 1 s", &cadvisor)]
    {
        eprintln!(
            "{name}: {} samples; disk {:.2} -> {:.2} B/sample; wire while draining {:.2} -> {:.2} B/sample",
            f.samples, f.blocks_disk, f.compact_disk, f.blocks_wire, f.compact_wire
        );
        assert!(f.compact_disk <= 4.0, "{name}: {f:?}");
        assert!(f.compact_wire <= 12.0, "{name}: {f:?}");
    }
}
