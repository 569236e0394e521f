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
    /// 0 means no limit.
    pub sample_limit: usize,
}
