//! How many shards a queue wants: Prometheus's `calculateDesiredShards`
//! (storage/remote/queue_manager.go) over the same inputs. Pure: the queue
//! reports samples in, out and dropped and how long sends took, and calls
//! `update` every `UPDATE_INTERVAL` with `now` and the highest timestamps.
//!
//! Rates are exponentially weighted per-second averages (weight 0.2), ticked
//! every 10 s. The wanted parallelism is the time a sample takes to send times
//! the rate samples must leave at: the incoming rate (times the share not
//! dropped) plus 5 % per second of the backlog implied by how far the highest
//! sent timestamp trails the highest received one. A change within 30 % of
//! the current count is not made; no downsharding while more than 10 s behind;
//! the result is clamped to `min_shards..=max_shards`.

use std::time::{Duration, Instant};

/// How often the desired shard count is computed (Prometheus's `shardUpdateDuration`).
pub const UPDATE_INTERVAL: Duration = Duration::from_secs(10);
/// Weight of the newest interval in each rate (Prometheus's `ewmaWeight`).
const EWMA_WEIGHT: f64 = 0.2;
/// A change of less than this fraction of the current count is not made.
const TOLERANCE: f64 = 0.3;
/// Share of the backlog to catch up on per second.
const BACKLOG_CATCHUP: f64 = 0.05;
/// No downsharding while the sent timestamps trail by more than this, in seconds.
const MAX_DELAY_TO_DOWNSHARD: f64 = 10.0;

/// An exponentially weighted moving average of a per-second rate, ticked every `UPDATE_INTERVAL`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Ewma {
    /// Events since the last tick.
    events: f64,
    rate: f64,
    /// The first interval with events sets the rate outright.
    started: bool,
}

impl Ewma {
    pub fn add(&mut self, events: f64) {
        self.events += events;
    }

    fn tick(&mut self) {
        let instant = std::mem::take(&mut self.events) / UPDATE_INTERVAL.as_secs_f64();
        if self.started {
            self.rate += EWMA_WEIGHT * (instant - self.rate);
        } else if instant > 0.0 {
            self.started = true;
            self.rate = instant;
        }
    }

    pub fn rate(&self) -> f64 {
        self.rate
    }
}

/// The shard count of one queue and what decides it.
#[derive(Debug)]
pub struct Sharding {
    pub min: usize,
    pub max: usize,
    /// Shards in use; always within `min..=max`.
    pub current: usize,
    /// What the last computation wanted, before rounding and clamping (the `shards_desired` gauge).
    pub desired: f64,
    samples_in: Ewma,
    samples_out: Ewma,
    samples_dropped: Ewma,
    /// Seconds spent sending, per second.
    send_seconds: Ewma,
    /// When a block last left the queue (delivered or refused for good).
    last_send: Option<Instant>,
    /// Resharding waits until then after a recoverable error: more shards
    /// would only make an overloaded receiver worse.
    paused_until: Option<Instant>,
}

impl Sharding {
    /// Starts at `min` shards, as Prometheus does.
    pub fn new(min: usize, max: usize) -> Self {
        let max = max.max(1);
        let min = min.clamp(1, max);
        Sharding {
            min,
            max,
            current: min,
            desired: min as f64,
            samples_in: Ewma::default(),
            samples_out: Ewma::default(),
            samples_dropped: Ewma::default(),
            send_seconds: Ewma::default(),
            last_send: None,
            paused_until: None,
        }
    }

    /// Samples entered the queue.
    pub fn samples_in(&mut self, n: u64) {
        self.samples_in.add(n as f64);
    }

    /// Samples were lost before they could be sent.
    pub fn samples_dropped(&mut self, n: u64) {
        self.samples_dropped.add(n as f64);
    }

    /// A block left the queue, delivered or refused for good, after `took`
    /// (its retries included). Prometheus counts both: either way the samples
    /// are out and the time was spent.
    pub fn sent(&mut self, samples: u64, took: Duration, now: Instant) {
        self.samples_out.add(samples as f64);
        self.send_seconds.add(took.as_secs_f64());
        self.last_send = Some(now);
    }

    /// A send will be retried after `wait`: no resharding for twice that.
    pub fn retrying(&mut self, wait: Duration, now: Instant) {
        let until = now + wait * 2;
        self.paused_until = Some(self.paused_until.map_or(until, |p| p.max(until)));
    }

    /// Ticks the rates and computes the shard count wanted now, given the
    /// newest timestamp received and the newest sent (ms); returns the new
    /// count if the queue should reshard to it.
    pub fn update(&mut self, highest_received_ms: i64, highest_sent_ms: i64, now: Instant) -> Option<usize> {
        let wanted = self.compute(highest_received_ms, highest_sent_ms);
        if wanted == self.current {
            return None;
        }
        // Not while nothing leaves, or while the receiver asks to wait.
        let sending = self.last_send.is_some_and(|t| now.saturating_duration_since(t) <= UPDATE_INTERVAL);
        if !sending || self.paused_until.is_some_and(|p| now < p) {
            return None;
        }
        self.current = wanted;
        Some(wanted)
    }

    fn compute(&mut self, highest_received_ms: i64, highest_sent_ms: i64) -> usize {
        for rate in
            [&mut self.samples_in, &mut self.samples_out, &mut self.samples_dropped, &mut self.send_seconds]
        {
            rate.tick();
        }
        let (rate_in, rate_out) = (self.samples_in.rate(), self.samples_out.rate());
        if rate_out <= 0.0 {
            return self.current;
        }
        let kept = rate_out / (self.samples_dropped.rate() + rate_out);
        let delay = (highest_received_ms - highest_sent_ms) as f64 / 1000.0;
        let backlog = delay * rate_in * kept;
        let seconds_per_sample = self.send_seconds.rate() / rate_out;
        let desired = seconds_per_sample * (rate_in * kept + BACKLOG_CATCHUP * backlog);
        self.desired = desired;

        let current = self.current as f64;
        let wanted = desired.ceil();
        if current * (1.0 - TOLERANCE) <= wanted && wanted <= current * (1.0 + TOLERANCE) {
            return self.current;
        }
        // `as` saturates: NaN gives 0 and is clamped below.
        let wanted = wanted as usize;
        if wanted < self.current && delay > MAX_DELAY_TO_DOWNSHARD {
            return self.current;
        }
        wanted.clamp(self.min, self.max)
    }
}

#[cfg(test)]
mod tests;
