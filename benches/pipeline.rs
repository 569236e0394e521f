//! The per-sample path on a real node_exporter page: parse → labels (three
//! metric_relabel rules, external labels, one write_relabel rule) → encode →
//! compress. Prints ns/sample and heap allocations/sample for the
//! first scrape of a target (every series new) and for the steady state
//! (every series seen in the previous scrape). A benchmark, not a test: it
//! asserts nothing about time. `OUTGOING=2 cargo bench --bench pipeline`
//! measures two remote_writes (every sample staged for both).

use std::alloc::{GlobalAlloc, Layout, System};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use outpost::discovery::{Limits, Target};
use outpost::model::Labels;
use outpost::parse::Format;
use outpost::relabel::{Rule, RuleSpec};
use outpost::scrape::ingest;
use outpost::scrape::metadata::Registry;
use outpost::scrape::series::SeriesCache;
use outpost::sender::Outgoing;
use outpost::staging::Staging;

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: every method delegates to `System` with the caller's own pointer
// and layout, so `System`'s guarantees carry over unchanged; the counter is
// an atomic with no other effect.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded as received (see the impl's comment).
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `alloc`/`realloc` above, i.e. from `System`.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: as for `dealloc`; `new_size` is the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// A rule from `key = value` pairs as a config would write them.
fn rule(pairs: &[(&str, &str)]) -> Rule {
    let mut spec = RuleSpec::default();
    for (key, value) in pairs {
        let v = Some((*value).to_owned());
        match *key {
            "source_labels" => spec.source_labels = Some(vec![(*value).to_owned()]),
            "regex" => spec.regex = v,
            "target_label" => spec.target_label = v,
            "action" => spec.action = v,
            _ => unreachable!("key {key}"),
        }
    }
    Rule::new(spec).expect("valid rule")
}

const PAGE: &str = include_str!("../tests/fixtures/node_exporter.prom");

fn main() {
    let target = Target {
        labels: Labels::from_pairs([("instance", "127.0.0.1:9100"), ("job", "node"), ("role", "modem")]),
        url: "http://127.0.0.1:9100/metrics".into(),
        interval: Duration::from_secs(15),
        timeout: Duration::from_secs(10),
        honor_labels: false,
        honor_timestamps: true,
        limits: Limits::default(),
        metric_relabel: vec![
            rule(&[("source_labels", "__name__"), ("regex", "node_scrape_collector_.*"), ("action", "drop")]),
            rule(&[
                ("source_labels", "__name__"),
                ("regex", "node_([a-z]+)_.*"),
                ("target_label", "subsystem"),
            ]),
            rule(&[("regex", "role"), ("action", "labeldrop")]),
        ],
    };
    // `OUTGOING=2`: a second remote_write without write relabeling.
    let queues: usize = std::env::var("OUTGOING").ok().and_then(|n| n.parse().ok()).unwrap_or(1);
    let mut outgoing = vec![Rc::new(Outgoing {
        external_labels: vec![("cluster".to_owned(), "edge-01".to_owned())],
        write_relabel: vec![rule(&[("source_labels", "__name__"), ("regex", "go_.*"), ("action", "drop")])],
    })];
    for _ in 1..queues {
        outgoing.push(Rc::new(Outgoing {
            external_labels: vec![("cluster".to_owned(), "edge-01".to_owned())],
            write_relabel: Vec::new(),
        }));
    }
    let mut stagings: Vec<Staging> =
        (0..queues).map(|_| Staging::new(2000, Duration::from_secs(5), 0)).collect();
    // Metadata is sent by default, so the scrape records every family's HELP and TYPE.
    let registry = Registry::new(true);
    let mut cache = SeriesCache::with_metadata(registry.register());
    let mut staged = Vec::new();
    let mut compressed = 0usize;

    let mut stale = Vec::new();
    // Returns the samples scraped and the blocks sealed.
    let mut scrape = |cache: &mut SeriesCache, ts: i64| -> (usize, usize) {
        staged.clear();
        let n = ingest(PAGE.as_bytes(), Format::Text, &target, cache, &outgoing, ts, &mut staged)
            .expect("fixture parses")
            .samples;
        cache.end(&mut stale);
        let now = Instant::now();
        let mut blocks = 0;
        for (labels, value, ts) in staged.drain(..) {
            cache.store().each(labels, |queue, labels| {
                if let Some(block) = stagings[queue].push(labels, value, ts, now) {
                    compressed += block.payload.len();
                    blocks += 1;
                }
            });
        }
        (n, blocks)
    };

    // First scrape: every series is new.
    let (a0, t0) = (ALLOCATIONS.load(Ordering::Relaxed), Instant::now());
    let (samples, _) = scrape(&mut cache, 1);
    let (cold_ns, cold_allocs) = (t0.elapsed().as_nanos(), ALLOCATIONS.load(Ordering::Relaxed) - a0);

    // Steady state: warm up, then measure many scrapes of the same page.
    for i in 0..20 {
        scrape(&mut cache, 2 + i);
    }
    // `cargo bench --bench pipeline -- ROUNDS`: fewer rounds for valgrind
    // (instructions per sample = difference of two runs' counts).
    let rounds: i64 = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(400);
    let (a0, t0) = (ALLOCATIONS.load(Ordering::Relaxed), Instant::now());
    let mut warm_blocks = 0;
    for i in 0..rounds {
        warm_blocks += scrape(&mut cache, 100 + i).1;
    }
    let (warm_ns, warm_allocs) = (t0.elapsed().as_nanos(), ALLOCATIONS.load(Ordering::Relaxed) - a0);
    let total = (samples * rounds as usize) as f64;

    println!("pipeline benchmark: node_exporter page, {samples} samples, {} bytes", PAGE.len());
    println!(
        "  first scrape : {:>8.1} ns/sample  {:>6.2} allocations/sample",
        cold_ns as f64 / samples as f64,
        cold_allocs as f64 / samples as f64
    );
    println!(
        "  steady state : {:>8.1} ns/sample  {:>6.3} allocations/sample  ({rounds} scrapes)",
        warm_ns as f64 / total,
        warm_allocs as f64 / total
    );
    println!(
        "                 {warm_allocs} allocations in all, {warm_blocks} blocks sealed ({} per block)",
        if warm_blocks > 0 { format!("{:.2}", warm_allocs as f64 / warm_blocks as f64) } else { "-".into() }
    );
    println!(
        "  compressed   : {:>8.1} bytes/sample on the wire",
        compressed as f64 / (total + 21.0 * samples as f64)
    );
}
