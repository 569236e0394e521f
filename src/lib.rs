//! outpost: a Prometheus agent for edge devices.
//!
//! ```text
//!  discovery ──► scrape loops ──► parse ──► relabel ──► staging ──► ring ──► sender ──► receiver
//!  (static)      (one task per    (text              (batch,      (memory)  (ureq, retry,
//!                 target, on one   0.0.4)             encode,                backoff)
//!                 smol executor)                      snappy)
//! ```
//!
//! # Layout
//! - [`agent`]: the main loop; builds the stages and runs them on one `LocalExecutor`.
//! - [`config`]: the TOML schema, durations, sizes, validation with `file:line:col`.
//! - [`model`]: sorted label sets and sealed blocks.
//! - [`discovery`]: targets from `static_configs`.
//! - [`scrape`]: one loop per target; fetch off the executor thread; `up` and `scrape_*`.
//! - [`parse`]: the text exposition format 0.0.4, a pure iterator over borrowed entries.
//! - [`relabel`]: Prometheus's relabel rules, compiled at load, applied to a label set [pure].
//! - [`staging`]: samples into batches, encoded as remote-write requests, snappy-compressed.
//! - [`buffer`]: the ring of sealed blocks under a byte budget.
//! - [`sender`]: posts blocks in order; classifies answers; jittered backoff.
//! - [`offload`]: bounded blocking work off the executor thread.
//! - [`telemetry`]: self-metrics, served on `listen`.
//! - [`systemd`]: sd_notify READY / WATCHDOG / STOPPING.
//! - [`log`]: the stderr (journald) logger.
#![forbid(unsafe_code)]

pub mod agent;
pub mod buffer;
pub mod config;
pub mod discovery;
pub mod log;
pub mod model;
pub mod offload;
pub mod parse;
pub mod relabel;
pub mod scrape;
pub mod sender;
pub mod staging;
pub mod systemd;
pub mod telemetry;
