//! What the read API and the pages show: per job its active targets (discovered
//! labels, health of the last scrape, metric families) and the dropped ones
//! with the rule that dropped them; per queue its remote-write state; the
//! running configuration. Owned on the executor thread: the agent replaces a
//! job's entry on each discovery change, each scrape loop writes only its own
//! [`TargetHealth`], each queue only its own [`QueueStatus`]. Readers borrow
//! between awaits and never hold a borrow across one.

pub mod api;
pub mod config;
pub mod remote_write;
mod selector;

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::{Duration, SystemTime};

use crate::config::Config;
use crate::discovery::targets::{Dropped, JobTargets};
use crate::model::Labels;
use crate::scrape::metadata::Families;
use crate::telemetry::QueueMetrics;

/// Everything the API reads. One per process, shared as `Rc`.
#[derive(Default)]
pub struct Status {
    /// Scrape pools by job name (sorted, as Prometheus lists them).
    pools: RefCell<BTreeMap<String, Pool>>,
    /// Each remote_write queue, in configuration order.
    queues: RefCell<Vec<Queue>>,
    /// The running configuration; replaced on a successful reload.
    config: RefCell<Option<Rc<Config>>>,
    /// The last reload: when, and whether it succeeded (the first load counts).
    last_config: Cell<Option<(SystemTime, bool)>>,
    /// When the process started.
    pub started: Cell<Option<SystemTime>>,
}

/// One scrape pool (job) as the API shows it.
#[derive(Default)]
pub struct Pool {
    /// In discovery order.
    pub active: Vec<ActiveTarget>,
    /// At most `keep_dropped_targets` of them (0: all), in discovery order.
    pub dropped: Vec<Dropped>,
    /// Every dropped label set, kept or not (`droppedTargetCounts`).
    pub dropped_total: usize,
}

/// A target being scraped.
pub struct ActiveTarget {
    /// With the job's defaults, before relabeling.
    pub discovered: Labels,
    pub labels: Labels,
    pub url: String,
    pub interval: Duration,
    pub timeout: Duration,
    /// Shared with the target's scrape loop, which writes it.
    pub health: Rc<TargetHealth>,
}

/// Prometheus's `TargetHealth`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Health {
    /// Not scraped yet.
    #[default]
    Unknown,
    Up,
    Down,
}

impl Health {
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Unknown => "unknown",
            Health::Up => "up",
            Health::Down => "down",
        }
    }
}

/// The last scrape of one target. Written by its loop only.
#[derive(Default)]
pub struct TargetHealth {
    pub last: RefCell<LastScrape>,
    /// The target's metric families (`/api/v1/targets/metadata`); set once by the loop.
    pub families: RefCell<Option<Rc<RefCell<Families>>>>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct LastScrape {
    pub health: Health,
    /// When it started; `None` before the first scrape.
    pub at: Option<SystemTime>,
    pub duration: Duration,
    /// Empty when it succeeded.
    pub error: String,
}

impl TargetHealth {
    /// A scrape that started `at` ended after `duration`, with `error` if it failed.
    pub fn scraped(&self, at: SystemTime, duration: Duration, error: Option<&str>) {
        let mut last = self.last.borrow_mut();
        last.health = if error.is_some() { Health::Down } else { Health::Up };
        last.at = Some(at);
        last.duration = duration;
        last.error.clear();
        last.error.push_str(error.unwrap_or(""));
    }
}

/// One queue as the API shows it: its counters and its state.
pub struct Queue {
    pub metrics: Rc<QueueMetrics>,
    pub state: Rc<QueueStatus>,
}

/// What a remote-write queue is doing, beyond its counters ([`QueueMetrics`]).
/// Written by the queue only.
#[derive(Default)]
pub struct QueueStatus {
    /// Since when no send has been accepted; `None` while healthy.
    pub outage_since: Cell<Option<SystemTime>>,
    /// The last recoverable or refused send: when and why.
    pub last_error: RefCell<Option<(SystemTime, String)>>,
    /// When the next retry of a failed send is due.
    pub next_retry: Cell<Option<SystemTime>>,
    /// Samples held in RAM (staged or in the ring) and in segments on disk.
    pub samples_in_memory: Cell<u64>,
    pub samples_on_disk: Cell<u64>,
    /// The oldest sample not yet delivered, milliseconds; `None` when nothing waits.
    pub oldest_unsent_ms: Cell<Option<i64>>,
    /// Bytes per second for backlog uploads; 0 means unlimited.
    pub rate_limit: Cell<u64>,
}

impl QueueStatus {
    /// A send failed now for `reason` (bounded: a receiver's message can be long).
    pub fn failed(&self, mut reason: String) {
        if reason.len() > MAX_ERROR {
            let mut end = MAX_ERROR;
            while !reason.is_char_boundary(end) {
                end -= 1;
            }
            reason.truncate(end);
            reason.push('…');
        }
        *self.last_error.borrow_mut() = Some((SystemTime::now(), reason));
    }
}

/// Bytes of a receiver's error kept for the status API.
const MAX_ERROR: usize = 512;

/// A queue's state in words: `healthy`, `outage` (since `outage_since`) or
/// `draining` (sending a backlog from disk after an outage).
pub fn queue_state(state: &QueueStatus) -> &'static str {
    if state.outage_since.get().is_some() {
        "outage"
    } else if state.samples_on_disk.get() > 0 {
        "draining"
    } else {
        "healthy"
    }
}

impl Status {
    /// The running configuration: what the API shows, and each job's rules.
    pub fn set_config(&self, config: Rc<Config>, at: SystemTime) {
        *self.config.borrow_mut() = Some(config);
        self.last_config.set(Some((at, true)));
    }

    /// A reload failed: the running configuration stays.
    pub fn reload_failed(&self, at: SystemTime) {
        self.last_config.set(Some((at, false)));
    }

    pub fn config(&self) -> Option<Rc<Config>> {
        self.config.borrow().clone()
    }

    pub fn last_config(&self) -> Option<(SystemTime, bool)> {
        self.last_config.get()
    }

    pub fn add_queue(&self, metrics: Rc<QueueMetrics>, state: Rc<QueueStatus>) {
        self.queues.borrow_mut().push(Queue { metrics, state });
    }

    /// A job's targets changed: `health` finds each active target's loop state
    /// (by its URL and labels); `keep_dropped` bounds the dropped ones kept (0: all).
    pub fn set_pool(
        &self,
        job: &str,
        targets: JobTargets,
        keep_dropped: usize,
        mut health: impl FnMut(&crate::discovery::Target) -> Option<Rc<TargetHealth>>,
    ) {
        let active: Vec<ActiveTarget> = targets
            .active
            .into_iter()
            .filter_map(|(discovered, target)| {
                let health = health(&target)?;
                Some(ActiveTarget {
                    discovered,
                    url: target.url,
                    interval: target.interval,
                    timeout: target.timeout,
                    labels: target.labels,
                    health,
                })
            })
            .collect();
        let dropped_total = targets.dropped.len();
        let mut dropped = targets.dropped;
        if keep_dropped > 0 {
            dropped.truncate(keep_dropped);
        }
        dropped.shrink_to_fit();
        // A job without targets is still a scrape pool (Prometheus lists it).
        self.pools.borrow_mut().insert(job.to_owned(), Pool { active, dropped, dropped_total });
    }

    /// A job is gone from the configuration.
    pub fn remove_pool(&self, job: &str) {
        self.pools.borrow_mut().remove(job);
    }

    /// Runs `f` over the pools, by job name. `f` must not await.
    pub fn with_pools<T>(&self, f: impl FnOnce(&BTreeMap<String, Pool>) -> T) -> T {
        f(&self.pools.borrow())
    }

    /// Runs `f` over the queues, in configuration order. `f` must not await.
    pub fn with_queues<T>(&self, f: impl FnOnce(&[Queue]) -> T) -> T {
        f(&self.queues.borrow())
    }
}

/// A time as Go's `time.Time` marshals to JSON (RFC 3339, nanoseconds
/// without trailing zeros, UTC): `None` is Go's zero time.
pub fn rfc3339(t: Option<SystemTime>) -> String {
    let Some(since) = t.and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()) else {
        return "0001-01-01T00:00:00Z".into();
    };
    let secs = since.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Howard Hinnant's civil_from_days.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let (h, m, s) = (rem / 3600, rem % 3600 / 60, rem % 60);
    let mut out = format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}");
    let nanos = since.subsec_nanos();
    if nanos > 0 {
        let frac = format!("{nanos:09}");
        out.push('.');
        out.push_str(frac.trim_end_matches('0'));
    }
    out.push('Z');
    out
}

/// A timestamp in milliseconds as a time.
pub fn from_millis(ms: i64) -> Option<SystemTime> {
    let ms = u64::try_from(ms).ok()?;
    std::time::UNIX_EPOCH.checked_add(Duration::from_millis(ms))
}

#[cfg(test)]
mod tests;
