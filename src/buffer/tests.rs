//! `Buffer` over a real segment log in a temp dir: seeded random operations
//! checked against what must hold (order, exactly-once, losses accounted),
//! clean stops and crashes between them; and a 2-hour outage on virtual time.

use std::collections::BTreeSet;
use std::time::{Duration, UNIX_EPOCH};

use bytes::Bytes;

use super::*;
use crate::buffer::disk::tests::TempDir;
use crate::config::BufferConfig;
use crate::sender::too_old;
use crate::staging::Staging;

fn config(memory: u64, disk: u64, segment: u64, persist: Persist) -> BufferConfig {
    BufferConfig {
        memory,
        disk,
        segment,
        max_age: Duration::from_secs(3600),
        sync_interval: Duration::from_secs(1),
        persist,
    }
}

/// A block whose payload starts with `id`, unique in a test run: after a
/// crash, sequence numbers of blocks that never reached disk are reused.
fn block(seq: u64, len: usize, ts: i64) -> SealedBlock {
    let mut payload = seq.to_le_bytes().to_vec();
    payload.resize(8 + len, (seq % 251) as u8);
    SealedBlock {
        seq,
        payload: Bytes::from(payload),
        samples: 1 + (seq % 7) as u32,
        min_timestamp_ms: ts,
        max_timestamp_ms: ts,
    }
}

/// What one run saw, by block id, for the exactly-once check.
#[derive(Default)]
struct Ledger {
    pushed: BTreeSet<u64>,
    delivered: Vec<u64>,
    lost_samples: u64,
    lost_blocks: u64,
    /// Blocks that were only in RAM when the process "crashed".
    crashed: BTreeSet<u64>,
}

impl Ledger {
    fn account(&mut self, buffer: &mut Buffer) {
        for loss in buffer.take_losses() {
            self.lost_blocks += loss.blocks;
            self.lost_samples += loss.samples;
        }
    }
}

fn random_run(seed: u64, persist: Persist, disk_budget: u64) {
    let dir = TempDir::new("buffer-model");
    let cfg = config(4096, disk_budget, 4096, persist);
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut buffer = Buffer::open(&cfg, &dir.0);
    let mut ledger = Ledger::default();
    let mut next_id = 0u64;
    let id_of = |b: &SealedBlock| u64::from_le_bytes(b.payload[..8].try_into().expect("8 bytes"));
    for step in 0..400 {
        match rng.u8(0..100) {
            0..=39 => {
                let mut b = block(next_id, rng.usize(1..700), step);
                b.seq = buffer.next_seq();
                buffer.push(b);
                ledger.pushed.insert(next_id);
                next_id += 1;
            }
            40..=69 => {
                if let Some(b) = buffer.oldest() {
                    let id = id_of(&b);
                    assert!(ledger.pushed.contains(&id), "seed {seed}: a block never pushed");
                    if rng.u8(0..10) == 0 {
                        buffer.drop_block(b.seq, DropReason::Rejected);
                    } else {
                        buffer.settle(b.seq);
                        ledger.delivered.push(id);
                    }
                }
            }
            70..=79 => buffer.outage(),
            80..=87 => buffer.sync(),
            88..=93 => {
                // Clean stop and start: nothing may be lost.
                buffer.spill_all();
                ledger.account(&mut buffer);
                buffer = Buffer::open(&cfg, &dir.0);
            }
            _ => {
                // Crash: what was only in RAM is gone; the disk is not.
                ledger.crashed.extend(buffer.ring.take_all().iter().map(id_of));
                ledger.account(&mut buffer);
                buffer = Buffer::open(&cfg, &dir.0);
            }
        }
        ledger.account(&mut buffer);
        assert!(buffer.disk_bytes() <= disk_budget, "seed {seed}: disk over budget");
        if let Some(newest_on_disk) = buffer.backlog.back().map(|(m, _)| m.seq) {
            assert!(
                buffer.ring.oldest().is_none_or(|b| b.seq > newest_on_disk),
                "seed {seed}: RAM older than disk"
            );
        }
    }
    // Drain what is left.
    while let Some(b) = buffer.oldest() {
        buffer.settle(b.seq);
        ledger.delivered.push(id_of(&b));
    }
    ledger.account(&mut buffer);
    let delivered: BTreeSet<u64> = ledger.delivered.iter().copied().collect();
    assert_eq!(delivered.len(), ledger.delivered.len(), "seed {seed}: a block delivered twice");
    assert!(ledger.delivered.windows(2).all(|w| w[0] < w[1]), "seed {seed}: delivered out of order");
    assert!(delivered.is_subset(&ledger.pushed));
    let unaccounted = ledger.pushed.len() as u64 - delivered.len() as u64 - ledger.crashed.len() as u64;
    assert_eq!(unaccounted, ledger.lost_blocks, "seed {seed}: every block not delivered is counted, once");
}

#[test]
fn random_operations_keep_order_and_account_for_every_block() {
    for seed in 0..6 {
        random_run(seed, Persist::Outage, 1 << 20);
        random_run(seed, Persist::Always, 1 << 20);
    }
}

#[test]
fn random_operations_with_a_tight_disk_budget_count_what_they_drop() {
    for seed in 100..110 {
        random_run(seed, Persist::Outage, 16 << 10);
    }
}

#[test]
fn healthy_buffer_writes_nothing_and_an_outage_returns_to_memory_after_the_backlog() {
    let dir = TempDir::new("buffer-healthy");
    let mut buffer = Buffer::open(&config(1 << 20, 1 << 20, 64 << 10, Persist::Outage), &dir.0);
    for seq in 0..50 {
        buffer.push(block(seq, 300, 0));
        let b = buffer.oldest().expect("block");
        buffer.settle(b.seq);
    }
    assert_eq!(buffer.disk_bytes(), 0, "no disk while the receiver keeps up");
    buffer.push(block(50, 300, 0));
    buffer.outage();
    assert!(buffer.disk_bytes() > 0 && buffer.memory_bytes() == 0, "an outage spills the ring");
    buffer.push(block(51, 300, 0));
    assert_eq!(buffer.memory_bytes(), 0, "during an outage new blocks go to disk");
    for want in [50, 51] {
        let b = buffer.oldest().expect("backlog");
        assert_eq!(b.seq, want);
        buffer.settle(b.seq);
    }
    assert_eq!(buffer.disk_bytes(), 0, "delivered segments are deleted");
    buffer.push(block(52, 300, 0));
    assert!(buffer.memory_bytes() > 0 && buffer.disk_bytes() == 0, "back to memory only");
}

/// Two hours of receiver outage, driven in milliseconds: a scrape of 100
/// samples every 15 s staged into blocks, the receiver down from minute 10
/// to minute 130, `max_age` 1 h. Everything is either delivered in order or
/// dropped as too old, and what is dropped is exactly what aged out.
#[test]
fn two_hour_outage_on_virtual_time() {
    let dir = TempDir::new("buffer-virtual");
    let cfg = config(64 << 10, 64 << 20, 1 << 20, Persist::Outage);
    let mut buffer = Buffer::open(&cfg, &dir.0);
    let mut staging = Staging::new(500, Duration::from_secs(5), buffer.next_seq());
    let labels =
        crate::staging::encode::encode_labels(&crate::model::Labels::from_pairs([("__name__", "m")]));
    let start = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let (down, up) = (Duration::from_secs(600), Duration::from_secs(7800));
    let (mut delivered, mut too_old_blocks, mut pushed) = (Vec::new(), 0u64, 0u64);
    let mut t = Duration::ZERO;
    let instant = std::time::Instant::now();
    while t < Duration::from_secs(3 * 3600) {
        let ts =
            i64::try_from((start + t).duration_since(UNIX_EPOCH).expect("epoch").as_millis()).expect("ms");
        for _ in 0..100 {
            if let Some(b) = staging.push(&labels, 1.0, ts, instant) {
                buffer.push(b);
                pushed += 1;
            }
        }
        let receiver_up = t < down || t >= up;
        while let Some(b) = buffer.oldest() {
            if too_old(&b, cfg.max_age, start + t) {
                buffer.drop_block(b.seq, DropReason::TooOld);
                too_old_blocks += 1;
            } else if receiver_up {
                delivered.push((b.seq, b.max_timestamp_ms, t));
                buffer.settle(b.seq);
            } else {
                buffer.outage();
                break;
            }
        }
        t += Duration::from_secs(15);
    }
    let losses = buffer.take_losses();
    assert!(delivered.windows(2).all(|w| w[0].0 < w[1].0), "in order");
    assert_eq!(delivered.len() as u64 + too_old_blocks, pushed, "every block delivered or aged out");
    for (seq, max_ts, at) in &delivered {
        let age_ms = i64::try_from((start + *at).duration_since(UNIX_EPOCH).expect("epoch").as_millis())
            .expect("ms")
            - max_ts;
        assert!(age_ms <= 3_600_000, "block {seq} delivered {age_ms} ms old, over max_age");
    }
    // Blocks sealed in the first hour of the outage aged out; the second hour's were delivered.
    let per_block_s = 500 / 100 * 15;
    let expected = (3600 / per_block_s) as u64;
    assert!(too_old_blocks.abs_diff(expected) <= 2, "{too_old_blocks} aged out, about {expected} expected");
    let counted: u64 = losses.iter().filter(|l| l.reason == DropReason::TooOld).map(|l| l.blocks).sum();
    assert_eq!(counted, too_old_blocks, "each aged-out block counted as too_old");
    assert_eq!(buffer.disk_bytes(), 0, "the backlog was delivered and its segments deleted");
}

/// Several shards: blocks pushed into lanes (shard of an epoch), taken and
/// settled out of order with several in flight, resharded, spilled, stopped
/// cleanly. Checked: a block is taken only when every older block still held
/// is another shard's of the same epoch (so a series, one shard per epoch,
/// stays in order), each block is delivered at most once across clean stops,
/// and every block not delivered is counted once.
fn random_sharded_run(seed: u64, persist: Persist, disk_budget: u64, max_shards: u16) {
    let dir = TempDir::new("buffer-shards");
    let cfg = config(4096, disk_budget, 4096, persist);
    let mut rng = fastrand::Rng::with_seed(seed);
    let open = || {
        let mut b = Buffer::open(&cfg, &dir.0);
        b.set_max_shards(usize::from(max_shards));
        b
    };
    let mut buffer = open();
    let mut ledger = Ledger::default();
    let (mut epoch, mut shards) = (1u32, max_shards);
    let mut lane_of_seq: std::collections::HashMap<u64, Lane> = Default::default();
    let mut in_flight: Vec<(u64, u64)> = Vec::new();
    let id_of = |b: &SealedBlock| u64::from_le_bytes(b.payload[..8].try_into().expect("8 bytes"));
    let check_order = |buffer: &Buffer, lanes: &std::collections::HashMap<u64, Lane>, b: &SealedBlock| {
        let lane = lanes[&b.seq];
        let held = buffer.backlog.iter().map(|(m, _)| m.seq).chain(buffer.ring.seqs());
        for older in held.take_while(|s| *s < b.seq) {
            let other = lanes[&older];
            assert!(
                other.epoch == lane.epoch && other.shard != lane.shard,
                "seed {seed}: block {} ({lane:?}) taken while {older} ({other:?}) is held",
                b.seq
            );
        }
    };
    let mut next_id = 0u64;
    for step in 0..500 {
        match rng.u8(0..100) {
            0..=34 => {
                let mut b = block(next_id, rng.usize(1..500), step);
                b.seq = buffer.next_seq();
                let lane = Lane { epoch, shard: rng.u16(0..shards) };
                lane_of_seq.insert(b.seq, lane);
                buffer.push_in(b, lane);
                ledger.pushed.insert(next_id);
                next_id += 1;
            }
            35..=54 => {
                if let Some(b) = buffer.take() {
                    check_order(&buffer, &lane_of_seq, &b);
                    assert!(in_flight.iter().all(|(s, _)| *s != b.seq), "seed {seed}: taken twice");
                    in_flight.push((b.seq, id_of(&b)));
                }
            }
            55..=74 => {
                if !in_flight.is_empty() {
                    let (seq, id) = in_flight.swap_remove(rng.usize(0..in_flight.len()));
                    if !buffer.holds(seq) {
                        // Its segment was deleted for space while it was out: counted as lost.
                    } else if rng.u8(0..10) == 0 {
                        buffer.drop_block(seq, DropReason::Rejected);
                    } else {
                        buffer.settle(seq);
                        ledger.delivered.push(id);
                    }
                }
            }
            75..=79 => {
                epoch += 1;
                shards = rng.u16(1..=max_shards);
            }
            80..=84 => buffer.outage(),
            85..=89 => buffer.sync(),
            _ => {
                // Clean stop and start: requests in flight are abandoned, sent again later.
                buffer.spill_all();
                ledger.account(&mut buffer);
                buffer = open();
                in_flight.clear();
                epoch += 1;
            }
        }
        ledger.account(&mut buffer);
        assert!(buffer.disk_bytes() <= disk_budget, "seed {seed}: disk over budget");
        // Blocks lost while out (segment deleted for space) are no longer in flight.
        let out = in_flight.iter().filter(|(s, _)| buffer.holds(*s)).count();
        assert_eq!(buffer.in_flight(), out, "seed {seed}: in flight");
    }
    // Drain, settling in random order among what is out.
    for _ in 0..100_000 {
        while let Some(b) = buffer.take() {
            check_order(&buffer, &lane_of_seq, &b);
            in_flight.push((b.seq, id_of(&b)));
        }
        if in_flight.is_empty() {
            break;
        }
        let (seq, id) = in_flight.swap_remove(rng.usize(0..in_flight.len()));
        if buffer.holds(seq) {
            buffer.settle(seq);
            ledger.delivered.push(id);
        }
    }
    ledger.account(&mut buffer);
    assert!(in_flight.is_empty() && buffer.take().is_none(), "seed {seed}: drained");
    let delivered: BTreeSet<u64> = ledger.delivered.iter().copied().collect();
    assert_eq!(delivered.len(), ledger.delivered.len(), "seed {seed}: a block delivered twice");
    let unaccounted = ledger.pushed.len() as u64 - delivered.len() as u64;
    assert_eq!(unaccounted, ledger.lost_blocks, "seed {seed}: every block not delivered is counted, once");
    assert_eq!(buffer.disk_bytes(), 0, "seed {seed}: every segment reclaimed once delivered");
}

#[test]
fn sharded_random_operations_keep_per_shard_order_and_deliver_once_across_clean_stops() {
    for seed in 0..8 {
        random_sharded_run(seed, Persist::Outage, 1 << 20, 4);
        random_sharded_run(seed, Persist::Always, 1 << 20, 3);
    }
}

#[test]
fn sharded_random_operations_with_a_tight_disk_budget_count_what_they_drop() {
    for seed in 200..210 {
        random_sharded_run(seed, Persist::Outage, 16 << 10, 4);
    }
}

/// Blocks 0..6 on disk in two shards (even seqs shard 0, odd shard 1); 1 and 3
/// are delivered ahead of 0. What the next run sends: after a clean stop, not
/// 1 or 3; after a crash, 1 and 3 again (delivered above the cursor since the
/// last spill). Once 0 is delivered the cursor covers 0 and 1.
#[test]
fn blocks_delivered_ahead_of_the_cursor_survive_a_clean_stop_and_are_resent_after_a_crash() {
    let cfg = config(1 << 20, 1 << 20, 1 << 20, Persist::Always);
    let sent_after = |clean: bool| {
        let dir = TempDir::new("buffer-ahead");
        let mut buffer = Buffer::open(&cfg, &dir.0);
        buffer.set_max_shards(2);
        for seq in 0..6 {
            buffer.push_in(block(seq, 100, 0), Lane { epoch: 1, shard: (seq % 2) as u16 });
        }
        let taken: Vec<u64> = std::iter::from_fn(|| buffer.take().map(|b| b.seq)).collect();
        assert_eq!(taken, [0, 1], "one block per shard in flight");
        buffer.settle(1);
        assert_eq!(buffer.take().map(|b| b.seq), Some(3), "shard 1 goes on while shard 0 waits");
        buffer.settle(3);
        if clean {
            buffer.spill_all();
        }
        drop(buffer);
        let mut buffer = Buffer::open(&cfg, &dir.0);
        let mut sent = Vec::new();
        while let Some(b) = buffer.take() {
            assert!(buffer.take().is_none(), "recovered blocks go one at a time");
            sent.push(b.seq);
            buffer.settle(b.seq);
        }
        sent
    };
    assert_eq!(sent_after(true), [0, 2, 4, 5]);

    // A request in flight at shutdown that is delivered before the exit is not sent again.
    let dir = TempDir::new("buffer-ahead-closing");
    let mut buffer = Buffer::open(&cfg, &dir.0);
    buffer.set_max_shards(2);
    for seq in 0..4 {
        buffer.push_in(block(seq, 100, 0), Lane { epoch: 1, shard: (seq % 2) as u16 });
    }
    let (_, b) = (buffer.take().expect("0"), buffer.take().expect("1"));
    buffer.close();
    buffer.settle(b.seq);
    drop(buffer);
    let mut buffer = Buffer::open(&cfg, &dir.0);
    let sent: Vec<u64> = std::iter::from_fn(|| {
        let b = buffer.take()?;
        buffer.settle(b.seq);
        Some(b.seq)
    })
    .collect();
    assert_eq!(sent, [0, 2, 3], "block 1, delivered while stopping, is not sent again");
    assert_eq!(sent_after(false), [0, 1, 2, 3, 4, 5], "a crash re-sends what was delivered ahead");

    let dir = TempDir::new("buffer-ahead-cursor");
    let mut buffer = Buffer::open(&cfg, &dir.0);
    buffer.set_max_shards(2);
    for seq in 0..4 {
        buffer.push_in(block(seq, 100, 0), Lane { epoch: 1, shard: (seq % 2) as u16 });
    }
    let (a, b) = (buffer.take().expect("0"), buffer.take().expect("1"));
    buffer.settle(b.seq);
    buffer.settle(a.seq);
    drop(buffer);
    let (_, recovery) = disk::Disk::open(&dir.0, cfg.segment, cfg.disk).expect("reopen");
    assert_eq!(recovery.cursor, Some(1), "the cursor covers the delivered prefix 0, 1");
}
