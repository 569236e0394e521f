//! Targets: what to scrape and the labels every one of its series carries.

pub mod static_sd;

use std::time::Duration;

use crate::model::Labels;

/// One target, as a scrape loop needs it.
#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    /// `job`, `instance` and the static labels; no `__`-prefixed label
    /// survives discovery (Prometheus drops them after target relabeling).
    pub labels: Labels,
    /// scheme://address/metrics_path
    pub url: String,
    pub interval: Duration,
    pub timeout: Duration,
    pub honor_labels: bool,
    pub honor_timestamps: bool,
    pub limits: Limits,
}

/// A scrape's limits; 0 means no limit. Exceeding one fails the scrape
/// (`up` 0), as in Prometheus.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Limits {
    /// Samples appended per scrape, after metric relabeling.
    pub sample: usize,
    /// Labels per series, `__name__` included.
    pub label: usize,
    pub label_name_length: usize,
    pub label_value_length: usize,
    /// Bytes of the uncompressed body.
    pub body_size: u64,
}
