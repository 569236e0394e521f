//! The configuration, validated: every duration, size and URL already parsed,
//! every default already applied. `load` builds it from TOML (SPEC,
//! Configuration); the rest of the program never sees raw strings.

pub mod duration;
pub mod load;
pub mod size;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

pub use load::{ConfigError, load, parse};

/// The embedded default: scrape outpost's own metrics, write to a local Prometheus.
pub const DEFAULT: &str = include_str!("../../config/default.toml");

#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Where the configuration came from: a path, or "<default>".
    pub origin: String,
    pub listen: Option<SocketAddr>,
    pub log_level: log::LevelFilter,
    pub global: Global,
    pub buffer: BufferConfig,
    pub remote_write: Vec<RemoteWrite>,
    pub scrape_configs: Vec<ScrapeConfig>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Global {
    pub scrape_interval: Duration,
    pub scrape_timeout: Duration,
    /// Added to every series at send time where the series lacks the name.
    pub external_labels: BTreeMap<String, String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct BufferConfig {
    /// Byte budget of the in-memory ring of sealed blocks.
    pub memory: u64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct RemoteWrite {
    pub name: String,
    /// An absolute http or https URL (validated).
    pub url: String,
    pub remote_timeout: Duration,
    /// Extra request headers; never one of the protocol's own (validated).
    pub headers: BTreeMap<String, String>,
    pub queue_config: QueueConfig,
}

#[derive(Clone, Debug, PartialEq)]
pub struct QueueConfig {
    pub max_samples_per_send: usize,
    pub batch_send_deadline: Duration,
    pub min_backoff: Duration,
    pub max_backoff: Duration,
    pub retry_on_http_429: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Copy)]
pub enum Scheme {
    Http,
    Https,
}

impl Scheme {
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct ScrapeConfig {
    pub job_name: String,
    /// Resolved: the job's own value, else `global.scrape_interval`.
    pub scrape_interval: Duration,
    /// Resolved likewise; never above `scrape_interval` (validated).
    pub scrape_timeout: Duration,
    pub metrics_path: String,
    pub scheme: Scheme,
    pub honor_labels: bool,
    pub honor_timestamps: bool,
    /// 0 means no limit.
    pub sample_limit: usize,
    pub static_configs: Vec<StaticConfig>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct StaticConfig {
    /// `host:port` strings (validated to have a port).
    pub targets: Vec<String>,
    pub labels: BTreeMap<String, String>,
}
