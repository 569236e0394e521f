//! The senders compared: outpost's own code through its seam
//! (`outpost::sender::flow`), and models of Prometheus's and vmagent's retry.

use std::time::{Duration, Instant, SystemTime};

use outpost::sender::flow::{Pacer, Policy, Shard, Step};
use outpost::sender::outcome::Answer;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Kind {
    /// outpost's defaults: `sender::flow` with queue_config's defaults.
    Outpost,
    /// Prometheus: 30 ms..5 s doubling, no jitter; 429 dropped
    /// (`retry_on_http_429` off, its default before 2.x), Retry-After unused.
    Prometheus,
    /// vmagent: 1 s..60 s doubling, +0..10 % jitter; every error retried.
    Vmagent,
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Kind::Outpost => "outpost",
            Kind::Prometheus => "Prometheus-like",
            Kind::Vmagent => "vmagent-like",
        })
    }
}

/// One device's sender state.
pub enum Sender {
    Outpost { shard: Shard, pacer: Pacer },
    Model { step: Duration, min: Duration, max: Duration, jitter: f64, drop_429: bool, rng: fastrand::Rng },
}

/// queue_config's defaults (src/config/load.rs).
pub fn outpost_policy() -> Policy {
    Policy {
        retry_on_http_429: true,
        min_backoff: Duration::from_millis(30),
        max_backoff: Duration::from_secs(5),
        rate_limit: 0,
    }
}

impl Sender {
    pub fn new(kind: Kind, policy: &Policy, seed: u64) -> Self {
        let model = |min, max, jitter, drop_429| Sender::Model {
            step: min,
            min,
            max,
            jitter,
            drop_429,
            rng: fastrand::Rng::with_seed(seed),
        };
        match kind {
            Kind::Outpost => Sender::Outpost { shard: Shard::new(policy, seed), pacer: Pacer::default() },
            Kind::Prometheus => model(Duration::from_millis(30), Duration::from_secs(5), 0.0, true),
            Kind::Vmagent => model(Duration::from_secs(1), Duration::from_secs(60), 0.1, false),
        }
    }

    /// The answer to a send; `wall` is the virtual wall clock.
    pub fn answered(&mut self, policy: &Policy, answer: &Answer, wall: SystemTime) -> Step {
        match self {
            Sender::Outpost { shard, .. } => shard.answered(policy, answer, wall),
            Sender::Model { step, min, max, jitter, drop_429, rng } => {
                let status = match answer {
                    Answer::Status { status, .. } => Some(*status),
                    Answer::Transport(_) => None,
                };
                match status {
                    Some(200..=299) => {
                        *step = *min;
                        Step::Delivered
                    }
                    Some(429) if *drop_429 => Step::Rejected { status: 429, message: String::new() },
                    _ => {
                        let wait = step.mul_f64(1.0 + *jitter * rng.f64());
                        *step = (*step * 2).min(*max);
                        Step::Retry { wait, reason: String::new(), warning: None }
                    }
                }
            }
        }
    }

    /// A block was sealed at `now`.
    pub fn sealed(&mut self, now: Instant) {
        if let Sender::Outpost { pacer, .. } = self {
            pacer.sealed(now);
        }
    }

    /// A send was answered with a retry at `now`.
    pub fn retried(&mut self, answer: &Answer, now: Instant) {
        if let Sender::Outpost { pacer, .. } = self {
            pacer.retried(answer, now);
        }
    }

    /// After a delivery at `now`: the instant before which it must not send again.
    pub fn delivered(
        &mut self,
        policy: &Policy,
        bytes: usize,
        backlog: bool,
        now: Instant,
    ) -> Option<Instant> {
        match self {
            Sender::Outpost { pacer, .. } => pacer.delivered(policy, bytes, backlog, now),
            Sender::Model { .. } => None,
        }
    }
}
