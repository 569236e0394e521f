//! outpost: a Prometheus agent for edge devices.
//!
//! ```text
//!  discovery ──► scrape loops ──► parse ──────► relabel ──► staging ──► buffer ──────► sender ──► receivers
//!  (static,      (one task per    (OpenMetrics  (target,   (batch per   (memory ring,   (per receiver:
//!   file,         target, on one   1.0, text     metric,    shard,       spills to a     shards, retry,
//!   Kubernetes)   smol executor)   0.0.4)        write)     snappy)      segment log)    backoff, 413
//!                                                                                        split, pacing)
//! ```
//!
//! # Layout
//! - [`agent`]: the main loop; builds the stages and runs them on one `LocalExecutor`; SIGHUP reload.
//! - [`config`]: the TOML schema, durations, sizes, validation with `file:line:col`.
//! - [`model`]: sorted label sets, sealed blocks, drop reasons.
//! - [`discovery`]: target groups from `static_configs`, `file_sd_configs`, `http_sd_configs`
//!   and `kubernetes_sd_configs` providers (every role: list+watch of the API server, joined); groups
//!   become targets (populated and relabeled as Prometheus does) and a diff for the scrape pool.
//! - [`scrape`]: one loop per target; fetch off the executor thread; the per-series cache;
//!   staleness markers; `up` and `scrape_*`; the pool of running loops.
//! - [`parse`]: OpenMetrics 1.0 and the text format 0.0.4, pure iterators over borrowed entries.
//! - [`relabel`]: Prometheus's relabel rules, compiled at load, applied to a label set [pure].
//! - [`staging`]: samples into batches (one per shard), encoded as remote-write requests, snappy-compressed.
//! - [`buffer`]: the memory ring and the on-disk segment log; spill, recovery, replay; the
//!   compact sample records of segment version 2 (`buffer::compact`, not yet written).
//! - [`client`]: the HTTP client of scrapes and remote write: TLS (rustls, ring), authorization.
//! - [`sender`]: one queue per receiver; posts blocks in order per shard; classifies answers; backoff; shard count.
//! - [`offload`]: bounded blocking work off the executor thread.
//! - [`timer`]: the executor thread's timers, fired by that thread's own `block_on`.
//! - [`telemetry`]: self-metrics and process metrics, served on `listen` with `/-/healthy` and `/-/ready`.
//! - [`web`]: the `listen` server: connections at once, bounded; TLS, basic auth, `/-/reload` (`[web]`).
//! - [`status`]: what the read API shows: targets with their health, dropped targets and
//!   the rule that dropped them, remote-write state; `/api/v1/*` ([`status::api`]).
//! - [`pages`]: `/`, `/targets`, `/service-discovery`, `/remote-write` for a browser, from [`status`].
//! - [`terminal`]: `outpost status`: the API's targets and queues as tables.
//! - [`systemd`]: sd_notify READY / WATCHDOG / STOPPING.
//! - [`log`]: the stderr (journald) logger.
//! - [`yaml`]: YAML text as a tree with positions (saphyr-parser), serde types from it, YAML out.
#![forbid(unsafe_code)]

pub mod agent;
pub mod buffer;
pub mod client;
pub mod config;
pub mod discovery;
pub mod import;
pub mod log;
pub mod model;
pub mod offload;
pub mod pages;
pub mod parse;
pub mod relabel;
pub mod scrape;
pub mod sender;
pub mod staging;
pub mod status;
pub mod systemd;
pub mod telemetry;
pub mod terminal;
pub mod timer;
pub mod web;
pub mod yaml;
