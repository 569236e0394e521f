//! A fleet of outposts after a shared outage (issue 16): N devices run
//! outpost's own sender logic (`sender::flow`: answer classification, backoff,
//! Retry-After, backlog pacing; `sender::too_old`) on virtual time against a
//! receiver model, next to models of Prometheus's and vmagent's retry.
//! Deterministic (seeded); prints the figures the issue asks for. A benchmark,
//! not a test: it asserts nothing. `cargo bench --bench fleet -- --devices 10000`.
//!
//! Each device seals a block of 2,000 samples every 10 s (200 samples/s), has
//! one request in flight (max_shards = 1, the default) and a 30 s
//! remote_timeout. Round trips are lognormal (median 80 ms, p99 1.5 s); 1 % of
//! requests are lost, half before the receiver (never written) and half after
//! (written, the answer lost: the retry duplicates it).

mod check;
mod receiver;
mod strategy;

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant, UNIX_EPOCH};

use bytes::Bytes;
use outpost::model::SealedBlock;
use outpost::sender::flow::{Policy, Step};
use outpost::sender::outcome::Answer;
use outpost::sender::too_old;

const BLOCK_SAMPLES: u32 = 2000;
const BLOCK_INTERVAL: f64 = 10.0;
/// Compressed bytes of a block (README: ~8 bytes/sample on disk).
const BLOCK_BYTES: usize = 16_000;
const REMOTE_TIMEOUT: f64 = 30.0;
const MAX_AGE: Duration = Duration::from_secs(3600);
const LOSS: f64 = 0.01;
const OUTAGE_START: f64 = 120.0;
const OUTAGE: f64 = 1800.0;

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Ev {
    Seal,
    Arrive,
    Answer,
    Ready,
}

struct Device {
    sender: strategy::Sender,
    /// First block of the first seal.
    phase: f64,
    sealed: u64,
    /// Oldest block not yet delivered or dropped.
    head: u64,
    busy: bool,
    /// No send before this (a retry's wait, or the pacer's).
    hold_until: f64,
    /// The request in flight: sent at, lost before/after the receiver, its answer.
    sent_at: f64,
    loss: u8,
    answer: Option<Answer>,
    refusals: u32,
    /// Newest block the receiver wrote (a second write of it is a duplicate).
    written: Option<u64>,
    /// That write's answer was lost on the way back (the injected 1 %).
    written_answer_lost: bool,
    drained: Option<f64>,
}

struct Run {
    now: f64,
    queue: BinaryHeap<Reverse<(u64, u64, Ev, u32)>>,
    seq: u64,
    rng: fastrand::Rng,
    devices: Vec<Device>,
    receiver: receiver::Receiver,
    policy: Policy,
    base: Instant,
    /// Arrivals at the receiver per second of virtual time, and writes.
    offered: Vec<u32>,
    written: Vec<u32>,
    refused_bytes: u64,
    lost_samples: u64,
    duplicate_samples: u64,
    /// Duplicates of writes whose answer the injected loss dropped: at-least-once
    /// delivery cannot avoid them (the receiver would have to deduplicate).
    lost_answer_duplicates: u64,
    events: u64,
}

/// The figures of one run.
pub struct Figures {
    pub peak_1s: f64,
    pub peak_10s: f64,
    pub accepted_share: f64,
    pub last_drain: f64,
    pub p99_p50: f64,
    pub waste_requests: f64,
    pub waste_bytes: f64,
    pub lost: u64,
    pub duplicated: u64,
    pub lost_answer_duplicates: u64,
    pub probe_rate: f64,
    pub steady_after: Option<f64>,
    pub events: u64,
}

impl Run {
    fn at(&mut self, t: f64, ev: Ev, device: u32) {
        self.seq += 1;
        // Rounded up: an event at a hold's end must not come before it.
        self.queue.push(Reverse(((t * 1e6).ceil() as u64, self.seq, ev, device)));
    }

    fn rtt(&mut self) -> f64 {
        // Lognormal: median 80 ms, p99 1.5 s (sigma = ln(1.5/0.08)/2.326).
        let (u1, u2) = (self.rng.f64().max(1e-300), self.rng.f64());
        let normal = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
        0.08 * (normal * (1.5f64 / 0.08).ln() / 2.326).exp()
    }

    fn second(&self, t: f64) -> usize {
        t as usize
    }

    fn count(v: &mut Vec<u32>, i: usize) {
        if v.len() <= i {
            v.resize(i + 1, 0);
        }
        v[i] += 1;
    }

    /// Sends the device's oldest block if it may: not busy, something sealed.
    fn try_send(&mut self, d: u32) {
        let now = self.now;
        let wall = UNIX_EPOCH + Duration::from_secs_f64(1.7e9 + now);
        let dev = &mut self.devices[d as usize];
        if dev.busy || now < dev.hold_until {
            return;
        }
        while dev.head < dev.sealed {
            // The block's newest sample is its seal time (outpost's too_old).
            let sealed_at = dev.phase + dev.head as f64 * BLOCK_INTERVAL;
            let block = SealedBlock {
                seq: dev.head,
                payload: Bytes::new(),
                samples: BLOCK_SAMPLES,
                min_timestamp_ms: 0,
                max_timestamp_ms: ((1.7e9 + sealed_at) * 1000.0) as i64,
            };
            if !too_old(&block, MAX_AGE, wall) {
                break;
            }
            dev.head += 1;
            self.lost_samples += u64::from(BLOCK_SAMPLES);
        }
        let dev = &mut self.devices[d as usize];
        if dev.head >= dev.sealed {
            return;
        }
        dev.busy = true;
        dev.sent_at = now;
        let r = self.rng.f64();
        let loss = if r < LOSS / 2.0 {
            1
        } else if r < LOSS {
            2
        } else {
            0
        };
        self.devices[d as usize].loss = loss;
        if loss == 1 {
            self.at(now + REMOTE_TIMEOUT, Ev::Answer, d);
            self.devices[d as usize].answer = Some(Answer::Transport("timeout".into()));
        } else {
            let half = self.rtt() / 2.0;
            self.at(now + half, Ev::Arrive, d);
        }
    }

    fn arrive(&mut self, d: u32) {
        let now = self.now;
        let i = self.second(now);
        Self::count(&mut self.offered, i);
        let deadline = self.devices[d as usize].sent_at + REMOTE_TIMEOUT;
        let back = self.rtt() / 2.0;
        let down = (OUTAGE_START..OUTAGE_START + OUTAGE).contains(&now);
        let (refusals, jitter) = (self.devices[d as usize].refusals, self.rng.f64());
        let verdict = if down {
            receiver::Verdict::Refused { at: now, status: 0, retry_after: None }
        } else {
            self.receiver.arrive(now, deadline, refusals, jitter)
        };
        let dev = &mut self.devices[d as usize];
        let (answer, at) = match verdict {
            receiver::Verdict::Accepted { at } => {
                Self::count(&mut self.written, at as usize);
                if dev.written == Some(dev.head) {
                    if dev.written_answer_lost {
                        self.lost_answer_duplicates += u64::from(BLOCK_SAMPLES);
                    } else {
                        self.duplicate_samples += u64::from(BLOCK_SAMPLES);
                    }
                }
                dev.written = Some(dev.head);
                // The answer is lost, or late past the timeout from the network's
                // tail rather than the receiver's queue.
                dev.written_answer_lost =
                    dev.loss == 2 || (at + back > deadline && at - now < REMOTE_TIMEOUT / 2.0);
                (Answer::Status { status: 204, retry_after: None, message: String::new() }, at)
            }
            receiver::Verdict::Refused { status: 0, at, .. } => {
                (Answer::Transport("connection refused".into()), at)
            }
            receiver::Verdict::Refused { at, status, retry_after } => {
                self.refused_bytes += BLOCK_BYTES as u64;
                let retry_after = retry_after.map(|s| s.to_string());
                (Answer::Status { status, retry_after, message: String::new() }, at)
            }
            receiver::Verdict::Ignored => (Answer::Transport("timeout".into()), f64::INFINITY),
        };
        let (answer, at) = if dev.loss == 2 || at + back > deadline {
            (Answer::Transport("timeout".into()), deadline)
        } else {
            (answer, at + back)
        };
        dev.answer = Some(answer);
        self.at(at, Ev::Answer, d);
    }

    fn answer(&mut self, d: u32) {
        let now = self.now;
        let wall = UNIX_EPOCH + Duration::from_secs_f64(1.7e9 + now);
        let vnow = self.base + Duration::from_secs_f64(now);
        let dev = &mut self.devices[d as usize];
        dev.busy = false;
        let answer = dev.answer.take().unwrap_or(Answer::Transport("no answer".into()));
        let refused = matches!(answer, Answer::Status { status: 429 | 503, .. });
        dev.refusals = if refused { dev.refusals + 1 } else { 0 };
        match dev.sender.answered(&self.policy, &answer, wall) {
            Step::Delivered => {
                dev.head += 1;
                let backlog = dev.sealed > dev.head + 1;
                self.note_drain(d);
                let dev = &mut self.devices[d as usize];
                match dev.sender.delivered(&self.policy, BLOCK_BYTES, backlog, vnow) {
                    Some(until) => {
                        let t = (until - self.base).as_secs_f64();
                        dev.hold_until = t;
                        self.at(t, Ev::Ready, d);
                    }
                    None => self.try_send(d),
                }
            }
            Step::Retry { wait, .. } => {
                dev.sender.retried(&answer, vnow);
                let t = now + wait.as_secs_f64().max(0.001);
                dev.hold_until = t;
                self.at(t, Ev::Ready, d);
            }
            Step::Rejected { .. } => {
                dev.head += 1;
                self.lost_samples += u64::from(BLOCK_SAMPLES);
                self.note_drain(d);
                self.try_send(d);
            }
        }
    }

    /// A device has drained (caught up) when, after the outage, its backlog is
    /// gone: nothing older than the block being sealed is waiting.
    fn note_drain(&mut self, d: u32) {
        let end = OUTAGE_START + OUTAGE;
        let dev = &mut self.devices[d as usize];
        if dev.drained.is_none() && self.now >= end && dev.sealed <= dev.head + 1 {
            dev.drained = Some(self.now - end);
        }
    }
}

fn run(n: usize, capacity_factor: f64, rx: receiver::Kind, kind: strategy::Kind, seed: u64) -> Figures {
    let steady = n as f64 / BLOCK_INTERVAL;
    let capacity = capacity_factor * steady;
    let policy = strategy::outpost_policy();
    let mut rng = fastrand::Rng::with_seed(seed);
    let devices = (0..n)
        .map(|i| Device {
            sender: strategy::Sender::new(kind, &policy, seed.wrapping_mul(1_000_003).wrapping_add(i as u64)),
            phase: rng.f64() * BLOCK_INTERVAL,
            sealed: 0,
            head: 0,
            busy: false,
            hold_until: 0.0,
            sent_at: 0.0,
            loss: 0,
            answer: None,
            refusals: 0,
            written: None,
            written_answer_lost: false,
            drained: None,
        })
        .collect();
    let mut sim = Run {
        now: 0.0,
        queue: BinaryHeap::new(),
        seq: 0,
        rng,
        devices,
        receiver: receiver::Receiver::new(rx, capacity),
        policy,
        base: Instant::now(),
        offered: Vec::new(),
        written: Vec::new(),
        refused_bytes: 0,
        lost_samples: 0,
        duplicate_samples: 0,
        lost_answer_duplicates: 0,
        events: 0,
    };
    for d in 0..n {
        let phase = sim.devices[d].phase;
        sim.at(phase, Ev::Seal, d as u32);
    }
    let end = OUTAGE_START + OUTAGE;
    // Ideal drain: the backlog (OUTAGE of load) at the spare capacity.
    let t_star = OUTAGE / (capacity_factor - 1.0);
    let horizon = end + 4.0 * t_star + 600.0;
    let mut all_drained_at = None;
    while let Some(Reverse((t, _, ev, d))) = sim.queue.pop() {
        sim.now = t as f64 / 1e6;
        if sim.now > horizon {
            break;
        }
        if let Some(done) = all_drained_at
            && sim.now > done + 300.0
        {
            break;
        }
        sim.events += 1;
        match ev {
            Ev::Seal => {
                let vnow = sim.base + Duration::from_secs_f64(sim.now);
                sim.devices[d as usize].sender.sealed(vnow);
                sim.devices[d as usize].sealed += 1;
                sim.at(sim.now + BLOCK_INTERVAL, Ev::Seal, d);
                sim.try_send(d);
            }
            Ev::Arrive => sim.arrive(d),
            Ev::Answer => sim.answer(d),
            Ev::Ready => sim.try_send(d),
        }
        if all_drained_at.is_none()
            && sim.now > end
            && sim.events.is_multiple_of(4096)
            && sim.devices.iter().all(|d| d.drained.is_some())
        {
            all_drained_at = Some(sim.now);
        }
    }
    if std::env::var_os("FLEET_DEBUG").is_some() {
        let sealed: u64 = sim.devices.iter().map(|d| d.sealed).sum();
        let head: u64 = sim.devices.iter().map(|d| d.head).sum();
        let written: u64 = sim.written.iter().map(|&w| u64::from(w)).sum();
        eprintln!("sealed {sealed} settled {head} written {written} at {:.0} s", sim.now);
    }
    figures(&sim, capacity, steady)
}

fn figures(sim: &Run, capacity: f64, steady: f64) -> Figures {
    let end = OUTAGE_START + OUTAGE;
    let mut drains: Vec<f64> = sim.devices.iter().map(|d| d.drained.unwrap_or(f64::INFINITY)).collect();
    drains.sort_by(f64::total_cmp);
    let pct = |p: f64| drains[((drains.len() - 1) as f64 * p) as usize];
    let last = *drains.last().unwrap_or(&0.0);
    let from = (end + 10.0) as usize;
    let to = if last.is_finite() { (end + last) as usize } else { sim.offered.len() };
    let get = |v: &Vec<u32>, i: usize| f64::from(v.get(i).copied().unwrap_or(0));
    let peak_1s = (from..to.max(from + 1)).map(|i| get(&sim.offered, i)).fold(0.0, f64::max) / capacity;
    let peak_10s = (from..to.max(from + 10))
        .map(|i| (i..i + 10).map(|j| get(&sim.offered, j)).sum::<f64>())
        .fold(0.0, f64::max)
        / (10.0 * capacity);
    let drain_span = (to.saturating_sub(end as usize)).max(1) as f64;
    let accepted: f64 = (end as usize..to).map(|i| get(&sim.written, i)).sum();
    let offered: f64 = (end as usize..to).map(|i| get(&sim.offered, i)).sum();
    let probe_rate =
        (OUTAGE_START as usize..end as usize).map(|i| get(&sim.offered, i)).sum::<f64>() / OUTAGE;
    // Back to steady: the first minute after the last drain offering at most 1.1 x the steady load.
    let steady_after = (to..sim.offered.len().saturating_sub(60))
        .find(|&i| (i..i + 60).map(|j| get(&sim.offered, j)).sum::<f64>() <= 1.1 * 60.0 * steady)
        .map(|i| (i as f64 - end - last).max(0.0));
    Figures {
        peak_1s,
        peak_10s,
        accepted_share: accepted / (drain_span * capacity),
        last_drain: last,
        p99_p50: pct(0.99) / pct(0.5),
        waste_requests: (offered - accepted).max(0.0) / accepted.max(1.0),
        waste_bytes: sim.refused_bytes as f64 / (accepted.max(1.0) * BLOCK_BYTES as f64),
        lost: sim.lost_samples,
        duplicated: sim.duplicate_samples,
        lost_answer_duplicates: sim.lost_answer_duplicates,
        probe_rate: probe_rate / capacity,
        steady_after,
        events: sim.events,
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let (mut n, mut seed, mut quick, mut check) = (10_000usize, 1u64, false, false);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--devices" => n = args.next().and_then(|v| v.parse().ok()).unwrap_or(n),
            "--seed" => seed = args.next().and_then(|v| v.parse().ok()).unwrap_or(seed),
            "--quick" => quick = true,
            "--check" => check = true,
            _ => {} // cargo bench passes --bench
        }
    }
    println!(
        "fleet: {n} devices x 200 samples/s, a shared {} min outage, seed {seed}; capacity as a multiple of the steady load",
        OUTAGE / 60.0
    );
    println!(
        "{:<21} {:<16} {:>4} {:>7} {:>7} {:>7} {:>9} {:>7} {:>7} {:>7} {:>10} {:>10} {:>10} {:>6} {:>8}",
        "receiver",
        "sender",
        "cap",
        "peak1s",
        "peak10s",
        "accept",
        "last/T*",
        "p99/p50",
        "wasteR",
        "wasteB",
        "lost",
        "dup",
        "dupLostAns",
        "probe",
        "steady+"
    );
    // --check: only outpost on the receivers it must pass on (issue 16, item 3).
    let (receivers, senders): (&[receiver::Kind], &[strategy::Kind]) = if check {
        (&[receiver::Kind::Mimir, receiver::Kind::Victoria], &[strategy::Kind::Outpost])
    } else {
        (
            &[receiver::Kind::Mimir, receiver::Kind::Victoria, receiver::Kind::Prometheus],
            &[strategy::Kind::Outpost, strategy::Kind::Prometheus, strategy::Kind::Vmagent],
        )
    };
    let factors: &[f64] = if quick { &[1.5] } else { &[1.5, 2.0] };
    let mut failures = Vec::new();
    for &factor in factors {
        for &rx in receivers {
            for &kind in senders {
                let started = Instant::now();
                let f = run(n, factor, rx, kind, seed);
                let t_star = OUTAGE / (factor - 1.0);
                println!(
                    "{:<21} {:<16} {:>4.1} {:>7.2} {:>7.2} {:>7.2} {:>9} {:>7.2} {:>7.3} {:>7.3} {:>10} {:>10} {:>10} {:>6.2} {:>8} ({:.1} s, {} events)",
                    rx.to_string(),
                    kind.to_string(),
                    factor,
                    f.peak_1s,
                    f.peak_10s,
                    f.accepted_share,
                    if f.last_drain.is_finite() {
                        format!("{:.2}", f.last_drain / t_star)
                    } else {
                        "never".into()
                    },
                    f.p99_p50,
                    f.waste_requests,
                    f.waste_bytes,
                    f.lost,
                    f.duplicated,
                    f.lost_answer_duplicates,
                    f.probe_rate,
                    f.steady_after.map_or("-".into(), |s| format!("{s:.0}s")),
                    started.elapsed().as_secs_f64(),
                    f.events
                );
                if check {
                    for failed in check::failures(&f, t_star) {
                        failures.push(format!("{rx} x {kind} at {factor} x load: {failed}"));
                    }
                }
            }
        }
    }
    if check {
        if failures.is_empty() {
            println!("fleet --check: every criterion of issue 16 item 3 holds");
        } else {
            for f in &failures {
                println!("FAILED {f}");
            }
            std::process::exit(1);
        }
    }
}
