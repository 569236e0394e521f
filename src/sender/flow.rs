//! What a queue does after each answer: classify it, wait as told or back off,
//! pace the backlog upload (SPEC, Pipeline; "A fleet reconnects gently").
//! Pure, as quinn-proto's core: answers and `now` in, waits and instants out.
//! The send loop in `mod.rs` drives it with real time and HTTP; the fleet
//! simulation (`benches/fleet.rs`) with virtual time and receiver models.

use std::time::{Duration, Instant, SystemTime};

use super::backoff::Backoff;
use super::outcome::{self, Answer, Outcome};
use crate::config::QueueConfig;

/// The parts of `queue_config` the flow reads.
#[derive(Clone, Debug)]
pub struct Policy {
    pub retry_on_http_429: bool,
    pub min_backoff: Duration,
    pub max_backoff: Duration,
    /// Backlog upload pace, bytes/s; 0: unpaced.
    pub rate_limit: u64,
}

impl Policy {
    pub fn new(q: &QueueConfig) -> Self {
        Policy {
            retry_on_http_429: q.retry_on_http_429,
            min_backoff: q.min_backoff,
            max_backoff: q.max_backoff,
            rate_limit: q.rate_limit,
        }
    }
}

/// What to do with the block that was sent.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    Delivered,
    /// Send it again after `wait`.
    Retry {
        wait: Duration,
        reason: String,
        warning: Option<String>,
    },
    /// Never again: drop it (413 is the caller's to split).
    Rejected {
        status: u16,
        message: String,
    },
}

/// One shard's retry state: its backoff and its seeded RNG.
pub struct Shard {
    backoff: Backoff,
    rng: fastrand::Rng,
}

impl Shard {
    pub fn new(policy: &Policy, seed: u64) -> Self {
        Shard {
            backoff: Backoff::new(policy.min_backoff, policy.max_backoff),
            rng: fastrand::Rng::with_seed(seed),
        }
    }

    /// The answer to a send; `now` resolves an HTTP-date `Retry-After`.
    pub fn answered(&mut self, policy: &Policy, answer: &Answer, now: SystemTime) -> Step {
        match outcome::classify(answer, policy.retry_on_http_429, policy.max_backoff, now) {
            Outcome::Delivered => {
                self.backoff.reset();
                Step::Delivered
            }
            Outcome::Retry { after, reason, warning } => {
                let wait = after.unwrap_or_else(|| self.backoff.next(&mut self.rng));
                Step::Retry { wait, reason, warning }
            }
            Outcome::Rejected { status, message } => Step::Rejected { status, message },
        }
    }
}

/// Backlog pacing shared by a queue's shards: while a backlog is uploaded,
/// each delivered request holds the next one back by its bytes at `rate_limit`.
#[derive(Default)]
pub struct Pacer {
    /// Sends wait until this instant; `None` before the first paced send.
    until: Option<Instant>,
}

impl Pacer {
    /// After `bytes` were delivered at `now`: the instant before which this
    /// shard must not send again, if any.
    pub fn delivered(
        &mut self,
        policy: &Policy,
        bytes: usize,
        backlog: bool,
        now: Instant,
    ) -> Option<Instant> {
        if policy.rate_limit == 0 || !backlog {
            return None;
        }
        let turn = Duration::from_secs_f64(bytes as f64 / policy.rate_limit as f64);
        let until = self.until.map_or(now, |t| t.max(now)) + turn;
        self.until = Some(until);
        Some(until)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(rate_limit: u64) -> Policy {
        Policy {
            retry_on_http_429: true,
            min_backoff: Duration::from_millis(30),
            max_backoff: Duration::from_secs(5),
            rate_limit,
        }
    }

    fn answer(status: u16, retry_after: Option<&str>) -> Answer {
        Answer::Status { status, retry_after: retry_after.map(str::to_owned), message: String::new() }
    }

    #[test]
    fn retries_back_off_until_a_delivery_resets_them() {
        let p = policy(0);
        let mut shard = Shard::new(&p, 7);
        let now = SystemTime::UNIX_EPOCH;
        let mut waits = Vec::new();
        for _ in 0..12 {
            match shard.answered(&p, &Answer::Transport("connection refused".into()), now) {
                Step::Retry { wait, warning: None, .. } => waits.push(wait),
                other => panic!("{other:?}"),
            }
        }
        assert!(waits[0] <= p.min_backoff, "the first wait is a fraction of min_backoff: {waits:?}");
        assert!(waits[11] >= p.max_backoff / 2 && waits[11] <= p.max_backoff, "{waits:?}");
        assert_eq!(shard.answered(&p, &answer(204, None), now), Step::Delivered);
        let Step::Retry { wait, .. } = shard.answered(&p, &answer(503, None), now) else { panic!() };
        assert!(wait <= p.min_backoff, "reset by the delivery: {wait:?}");
    }

    #[test]
    fn retry_after_replaces_the_backoff_step() {
        let p = policy(0);
        let mut shard = Shard::new(&p, 1);
        let now = SystemTime::UNIX_EPOCH;
        let step = shard.answered(&p, &answer(429, Some("7")), now);
        assert_eq!(
            step,
            Step::Retry { wait: Duration::from_secs(7), reason: "HTTP 429: ".into(), warning: None }
        );
        let no_retry = Policy { retry_on_http_429: false, ..p.clone() };
        assert_eq!(
            shard.answered(&no_retry, &answer(429, Some("7")), now),
            Step::Rejected { status: 429, message: String::new() }
        );
    }

    #[test]
    fn pacer_spaces_backlog_sends_by_bytes_at_rate_limit() {
        let p = policy(1000);
        let mut pacer = Pacer::default();
        let t0 = Instant::now();
        assert_eq!(pacer.delivered(&p, 500, true, t0), Some(t0 + Duration::from_millis(500)));
        // A second shard delivering at the same moment waits its turn after the first.
        assert_eq!(pacer.delivered(&p, 500, true, t0), Some(t0 + Duration::from_secs(1)));
        assert_eq!(pacer.delivered(&p, 500, false, t0), None, "no backlog, no pacing");
        assert_eq!(pacer.delivered(&policy(0), 500, true, t0), None, "rate_limit 0: unpaced");
    }
}
