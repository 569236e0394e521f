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
                // A Retry-After gets jitter of our own, up to half of it on top: a
                // fleet refused in the same second must not come back in the same second.
                let wait = match after {
                    Some(after) if overloaded(answer) => after.mul_f64(1.0 + self.rng.f64() / 2.0),
                    Some(after) => after,
                    None => self.backoff.next(&mut self.rng),
                };
                Step::Retry { wait, reason, warning }
            }
            Outcome::Rejected { status, message } => Step::Rejected { status, message },
        }
    }
}

/// Whether an answer says the receiver is overloaded (SPEC, "A fleet
/// reconnects gently"): 429 or a 5xx. A refused connection is an outage, not
/// overload; a timeout is overload when the previous send timed out too (one
/// alone is as likely a lost packet).
pub fn overloaded(answer: &Answer) -> bool {
    matches!(answer, Answer::Status { status, .. } if *status == 429 || (500..=599).contains(status))
}

fn timed_out(answer: &Answer) -> bool {
    matches!(answer, Answer::Transport(e) if e.contains("timeout") || e.contains("timed out"))
}

/// The first pace after the receiver pushes back: 1.25 x the inflow.
pub const REPLAY_EXCESS_START: f64 = 0.25;
/// Increase of the excess per second without pushback, times `1 + excess`.
pub const REPLAY_EXCESS_INCREASE: f64 = 0.004;
/// Multiplicative decrease of the excess on each pushback.
pub const REPLAY_EXCESS_DECREASE: f64 = 0.6;
/// The inflow (blocks sealed per second) is measured over windows this long.
const INFLOW_WINDOW: Duration = Duration::from_secs(30);
/// ... or until this many blocks were sealed, whichever comes first.
const INFLOW_BLOCKS: u32 = 64;
/// At most one decrease per this long: a burst of fast retries is one pushback.
const DECREASE_HOLDOFF: Duration = Duration::from_secs(1);
/// Time without pushback counted towards one increase at most (a long
/// `Retry-After` wait is not a long success).
const MAX_GROWTH_STEP: Duration = Duration::from_secs(10);
/// How far the replay pace's schedule may trail behind: time lost to a wait
/// that was not pushback (a lost request's `remote_timeout`, a refused
/// connection) is made up by sending at twice the pace until the schedule
/// is caught up, at most this much of it. Without it, a device that happened to lose
/// requests falls behind the fleet for good (README, "Running a fleet").
pub const REPLAY_CATCH_UP: Duration = Duration::from_secs(30);

/// Backlog pacing shared by a queue's shards. While a backlog is uploaded,
/// each delivered request holds the next one back by its bytes at
/// `rate_limit`, and, once the receiver has pushed back (429, 5xx, timeout),
/// by the adaptive replay pace: `(1 + excess)` times the queue's own inflow
/// of blocks, the excess growing by `REPLAY_EXCESS_INCREASE x (1 + excess)`
/// per second of success and multiplied by `REPLAY_EXCESS_DECREASE` on a
/// pushback (AIMD; the figures: README, "Running a fleet"). Every device of a fleet then
/// replays in proportion to its own load, so all drain together, and the
/// fleet converges on the receiver's spare capacity. The pace keeps a
/// schedule, one slot per send: a wait that was not pushback leaves the
/// schedule behind, and the sends that follow go out at twice the pace until
/// it is caught up (`REPLAY_CATCH_UP` at most); pushback moves the schedule to
/// now, so nothing refused is made up. Without pushback (a lone device, a
/// receiver with room) and without a backlog (the healthy path) nothing
/// changes: sends are unpaced.
#[derive(Default)]
pub struct Pacer {
    /// `rate_limit`: sends wait until this instant; `None` before the first paced send.
    until: Option<Instant>,
    /// The replay pace's schedule: the slot of the next send; `None` until paced.
    slot: Option<Instant>,
    /// Pushed back since the last delivery: the schedule starts again from now.
    pushed_back: bool,
    /// Replay pace above the inflow; `None` until the receiver pushes back.
    excess: Option<f64>,
    grown_at: Option<Instant>,
    /// Blocks sealed per second, and the window being counted.
    inflow: f64,
    window: Option<(Instant, u32)>,
    /// The last answer was a timeout.
    timed_out: bool,
    decreased_at: Option<Instant>,
}

impl Pacer {
    /// A block was sealed at `now` (the inflow the replay pace is relative to).
    pub fn sealed(&mut self, now: Instant) {
        let (since, count) = self.window.get_or_insert((now, 0));
        *count += 1;
        let elapsed = now.saturating_duration_since(*since);
        if elapsed >= INFLOW_WINDOW || (*count > INFLOW_BLOCKS && !elapsed.is_zero()) {
            let rate = f64::from(*count - 1) / elapsed.as_secs_f64();
            self.inflow = if self.inflow > 0.0 { (self.inflow + rate) / 2.0 } else { rate };
            self.window = Some((now, 1));
        }
    }

    /// A send was answered with a retry at `now`: an overload answer slows the replay.
    pub fn retried(&mut self, answer: &Answer, now: Instant) {
        let timeout = timed_out(answer);
        let twice = timeout && std::mem::replace(&mut self.timed_out, timeout);
        self.timed_out = timeout;
        let held = self.decreased_at.is_some_and(|t| now.saturating_duration_since(t) < DECREASE_HOLDOFF);
        if overloaded(answer) || twice {
            self.pushed_back = true;
        }
        if (overloaded(answer) || twice) && !held {
            self.decreased_at = Some(now);
            self.excess = Some(self.excess.map_or(REPLAY_EXCESS_START, |e| e * REPLAY_EXCESS_DECREASE));
            self.grown_at = Some(now);
        }
    }

    /// The replay pace's multiple of the inflow, if paced.
    pub fn pace(&self) -> Option<f64> {
        self.excess.map(|e| 1.0 + e)
    }

    /// After `bytes` were delivered at `now`: the instant before which this
    /// shard must not send again, if any.
    pub fn delivered(
        &mut self,
        policy: &Policy,
        bytes: usize,
        backlog: bool,
        now: Instant,
    ) -> Option<Instant> {
        self.timed_out = false;
        let pushed_back = std::mem::take(&mut self.pushed_back);
        if !backlog {
            // Caught up: the healthy path is unpaced; the next backlog starts afresh.
            self.excess = None;
            self.slot = None;
            return None;
        }
        let mut wait = now;
        if policy.rate_limit > 0 {
            let turn = Duration::from_secs_f64(bytes as f64 / policy.rate_limit as f64);
            let until = self.until.map_or(now, |t| t.max(now)) + turn;
            self.until = Some(until);
            wait = until;
        }
        if let Some(e) = &mut self.excess {
            let since = self.grown_at.map_or(Duration::ZERO, |t| now.saturating_duration_since(t));
            *e += REPLAY_EXCESS_INCREASE * (1.0 + *e) * since.min(MAX_GROWTH_STEP).as_secs_f64();
            self.grown_at = Some(now);
            if self.inflow > 0.0 {
                let turn = Duration::from_secs_f64(1.0 / ((1.0 + *e) * self.inflow));
                let catch_up = if pushed_back { Duration::ZERO } else { REPLAY_CATCH_UP };
                let earliest = now.checked_sub(catch_up).unwrap_or(now);
                let slot = self.slot.map_or(now, |s| s.max(earliest)) + turn;
                self.slot = Some(slot);
                // Behind the schedule, at twice the pace: a fleet whose requests
                // timed out together must not come back in one burst.
                wait = wait.max(slot).max(now + turn / 2);
            }
        }
        (wait > now).then_some(wait)
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
        let Step::Retry { wait, reason, warning: None } = shard.answered(&p, &answer(429, Some("7")), now)
        else {
            panic!()
        };
        assert_eq!(reason, "HTTP 429: ");
        let most = Duration::from_millis(10_500);
        assert!(wait >= Duration::from_secs(7) && wait <= most, "7 s plus our jitter: {wait:?}");
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

    #[test]
    fn replay_is_unpaced_until_pushback_then_aimd_relative_to_the_inflow() {
        let p = policy(0);
        let mut pacer = Pacer::default();
        let t0 = Instant::now();
        // 10 blocks a second for 7 s: the inflow is known after 64 blocks.
        for i in 0..70 {
            pacer.sealed(t0 + Duration::from_millis(100 * i));
        }
        let t = t0 + Duration::from_secs(7);
        assert_eq!(pacer.delivered(&p, 500, true, t), None, "no pushback yet: unpaced");
        pacer.retried(&Answer::Transport("connection refused".into()), t);
        assert_eq!(pacer.pace(), None, "an outage is not overload");
        pacer.retried(&Answer::Transport("timeout".into()), t);
        assert_eq!(pacer.pace(), None, "one timeout may be a lost packet");
        pacer.retried(&Answer::Transport("timeout".into()), t);
        assert_eq!(pacer.pace(), Some(1.0 + REPLAY_EXCESS_START), "a second timeout in a row is");
        pacer.retried(&answer(429, None), t + Duration::from_millis(500));
        assert_eq!(pacer.pace(), Some(1.0 + REPLAY_EXCESS_START), "one decrease per second");
        let t = t + Duration::from_secs(2);
        pacer.retried(&answer(503, None), t);
        let after = 1.0 + REPLAY_EXCESS_START * REPLAY_EXCESS_DECREASE;
        assert_eq!(pacer.pace(), Some(after));
        // Paced at about `after` x 10 blocks/s, growing with each success.
        let until = pacer.delivered(&p, 500, true, t).expect("paced");
        let gap = (until - t).as_secs_f64();
        assert!((gap - 1.0 / (after * 10.0)).abs() < 0.01, "{gap}");
        pacer.delivered(&p, 500, true, t + Duration::from_secs(5));
        assert!(pacer.pace().expect("paced") > after, "additive increase");
        assert_eq!(pacer.delivered(&p, 500, false, t), None, "caught up: unpaced");
        assert_eq!(pacer.pace(), None, "the next backlog starts afresh");
    }

    /// A pacer at 1.25 x an inflow of 10 blocks/s (a send every 80 ms), and the instant it got there.
    fn paced_pacer(p: &Policy) -> (Pacer, Instant) {
        let mut pacer = Pacer::default();
        let t0 = Instant::now();
        for i in 0..70 {
            pacer.sealed(t0 + Duration::from_millis(100 * i));
        }
        let t = t0 + Duration::from_secs(7);
        pacer.retried(&answer(429, None), t);
        assert!(pacer.delivered(p, 500, true, t).is_some(), "paced");
        (pacer, t)
    }

    /// Sends delivered from `t` on, each as soon as the pace lets it go: how
    /// many go out at less than 3/4 of the pace's gap (catching up), and the
    /// gap of the first one held for a whole turn.
    fn sends_until_held(pacer: &mut Pacer, p: &Policy, mut t: Instant) -> (usize, Duration) {
        for n in 0..10_000 {
            let until = pacer.delivered(p, 500, true, t).expect("paced");
            let (gap, turn) = (until - t, Duration::from_secs_f64(1.0 / (pacer.pace().unwrap() * 10.0)));
            assert!(gap >= turn / 2 - Duration::from_micros(1), "at most twice the pace: {gap:?}");
            if gap > turn * 3 / 4 {
                return (n, gap);
            }
            t = until;
        }
        panic!("never paced again");
    }

    #[test]
    fn replay_makes_up_a_lost_requests_timeout_but_not_a_pushback() {
        let p = policy(0);
        // A request lost: 30 s until its timeout, then the retry is delivered.
        let (mut pacer, t) = paced_pacer(&p);
        let t = t + Duration::from_secs(30);
        pacer.retried(&Answer::Transport("timeout".into()), t);
        let (caught_up, gap) = sends_until_held(&mut pacer, &p, t);
        // 30 s at about 80 ms a slot, made up at 40 ms a send: as many sends
        // again (the excess grows a little meanwhile).
        assert!((680..=900).contains(&caught_up), "{caught_up} sends made up for 30 s");
        assert!(gap < Duration::from_millis(100), "then paced again: {gap:?}");

        // A longer silence is made up for REPLAY_CATCH_UP only.
        let (mut pacer, t) = paced_pacer(&p);
        let (after_long, _) = sends_until_held(&mut pacer, &p, t + Duration::from_secs(300));
        assert!(after_long.abs_diff(caught_up) < 60, "{after_long} against {caught_up}");

        // Pushback: the wait it asked for is not made up.
        let (mut pacer, t) = paced_pacer(&p);
        let t = t + Duration::from_secs(30);
        pacer.retried(&answer(429, Some("30")), t);
        let (caught_up, gap) = sends_until_held(&mut pacer, &p, t);
        assert_eq!(caught_up, 0, "the next send after a refusal waits its turn");
        let pace = pacer.pace().expect("paced");
        assert!((gap.as_secs_f64() - 1.0 / (pace * 10.0)).abs() < 0.002, "{gap:?} at {pace}");

        // A second timeout in a row is pushback too.
        let (mut pacer, t) = paced_pacer(&p);
        let t = t + Duration::from_secs(60);
        pacer.retried(&Answer::Transport("timeout".into()), t - Duration::from_secs(30));
        pacer.retried(&Answer::Transport("timeout".into()), t);
        assert_eq!(sends_until_held(&mut pacer, &p, t).0, 0);
    }

    #[test]
    fn retry_after_on_overload_gets_up_to_half_again_of_our_own_jitter() {
        let p = policy(0);
        let now = SystemTime::UNIX_EPOCH;
        let waits: Vec<Duration> = (0..50)
            .map(|seed| match Shard::new(&p, seed).answered(&p, &answer(503, Some("10")), now) {
                Step::Retry { wait, .. } => wait,
                other => panic!("{other:?}"),
            })
            .collect();
        assert!(waits.iter().all(|w| *w >= Duration::from_secs(10) && *w <= Duration::from_secs(15)));
        assert!(waits.iter().any(|w| *w > Duration::from_secs(12)), "no jitter: {waits:?}");
        let Step::Retry { wait, .. } = Shard::new(&p, 1).answered(&p, &answer(401, None), now) else {
            panic!()
        };
        assert_eq!(wait, p.max_backoff, "401 waits max_backoff exactly");
    }
}
