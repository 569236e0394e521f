//! Jittered exponential backoff between `min_backoff` and `max_backoff`.
//! Pure: the random draw comes from the caller's seeded `fastrand::Rng`.
//!
//! Prometheus doubles its backoff without jitter; a fleet of devices whose
//! uplink returns at the same moment must not retry in lockstep, so each wait
//! is drawn uniformly from [step/2, step] ("equal jitter"). The first wait
//! after a success is a uniform random fraction of the step, [0, step]: after
//! an outage the agents of a fleet must not reconnect together (SPEC, Pipeline).

use std::time::Duration;

pub struct Backoff {
    min: Duration,
    max: Duration,
    /// The current step; `min <= step <= max`.
    step: Duration,
    /// No wait drawn since the last success.
    fresh: bool,
}

impl Backoff {
    pub fn new(min: Duration, max: Duration) -> Self {
        let max = max.max(min);
        Backoff { min, max, step: min, fresh: true }
    }

    /// The wait before the next retry; doubles the step up to `max`.
    pub fn next(&mut self, rng: &mut fastrand::Rng) -> Duration {
        let step = self.step;
        self.step = (self.step * 2).min(self.max);
        let half = if std::mem::take(&mut self.fresh) { Duration::ZERO } else { step / 2 };
        let jitter_ns = rng.u64(0..=u64::try_from((step - half).as_nanos()).unwrap_or(u64::MAX));
        half + Duration::from_nanos(jitter_ns)
    }

    /// Back to `min` after a success.
    pub fn reset(&mut self) {
        self.step = self.min;
        self.fresh = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_within_bounds_with_jitter() {
        let (min, max) = (Duration::from_millis(30), Duration::from_secs(5));
        let mut rng = fastrand::Rng::with_seed(1);
        let mut b = Backoff::new(min, max);
        let mut step = min;
        let mut draws = Vec::new();
        for i in 0..20 {
            let d = b.next(&mut rng);
            let low = if i == 0 { Duration::ZERO } else { step / 2 };
            assert!(d >= low && d <= step, "{d:?} outside [{low:?}, {step:?}]");
            draws.push(d);
            step = (step * 2).min(max);
        }
        assert!(draws[10..].iter().any(|d| *d != draws[10]), "no jitter at the cap: {draws:?}");
        b.reset();
        assert!(b.next(&mut rng) <= min);
    }

    #[test]
    fn first_wait_after_success_is_a_random_fraction_of_the_step() {
        let step = Duration::from_secs(1);
        let mut firsts = Vec::new();
        for seed in 0..200 {
            let mut b = Backoff::new(step, step);
            firsts.push(b.next(&mut fastrand::Rng::with_seed(seed)));
        }
        assert!(firsts.iter().all(|d| *d <= step));
        assert!(firsts.iter().any(|d| *d < step / 4), "never below a quarter: {firsts:?}");
        assert!(firsts.iter().any(|d| *d > step * 3 / 4), "never above three quarters");
    }

    #[test]
    fn same_seed_same_waits() {
        let waits = |seed| {
            let mut rng = fastrand::Rng::with_seed(seed);
            let mut b = Backoff::new(Duration::from_millis(10), Duration::from_secs(1));
            (0..8).map(|_| b.next(&mut rng)).collect::<Vec<_>>()
        };
        assert_eq!(waits(3), waits(3));
        assert_ne!(waits(3), waits(4));
    }
}
