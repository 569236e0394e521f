//! The configuration, validated: every duration, size and URL already parsed,
//! every default already applied. `load` builds it from TOML (SPEC,
//! Configuration); the rest of the program never sees raw strings.

pub mod duration;
mod http;
mod keypath;
mod kubernetes;
pub mod load;
pub mod reload;
mod schema;
pub mod size;
pub mod web;

use crate::relabel::Rule;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

pub use http::{Auth, HttpClientConfig, Pem, Secret, TlsConfig};
pub use kubernetes::{KubernetesSdConfig, Role as KubernetesRole, Selector as KubernetesSelector};
pub use load::{ConfigError, load, parse};
pub use web::{BcryptHash, WebConfig, WebTls};

/// The embedded default: scrape outpost's own metrics, write to a local Prometheus.
pub const DEFAULT: &str = include_str!("../../config/default.toml");

/// A remote_write's buffer directory under `data_dir`: its name, with
/// anything but `[A-Za-z0-9._-]` replaced by `_`. Two names with the same
/// directory are refused when the config is loaded.
pub fn buffer_dir(name: &str) -> String {
    let safe: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() || "._-".contains(c) { c } else { '_' }).collect();
    if safe.trim_matches('.').is_empty() { "_".into() } else { safe }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Where the configuration came from: a path, or "<default>".
    pub origin: String,
    /// Spilled segments and the send cursor live here. Default: systemd's
    /// `$STATE_DIRECTORY`, else `data` in the working directory.
    pub data_dir: PathBuf,
    pub listen: Option<SocketAddr>,
    pub log_level: log::LevelFilter,
    pub global: Global,
    pub buffer: BufferConfig,
    pub remote_write: Vec<RemoteWrite>,
    pub scrape_configs: Vec<ScrapeConfig>,
    /// How `listen` is protected (`[web]`); the default is plain http, no authentication.
    pub web: WebConfig,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Global {
    pub scrape_interval: Duration,
    pub scrape_timeout: Duration,
    /// Added to every series at send time where the series lacks the name.
    pub external_labels: BTreeMap<String, String>,
    /// Every job's `body_size_limit` unless it sets its own; 0 = none.
    pub body_size_limit: u64,
    /// Every job's scrape budget unless it sets its own values.
    pub budget: ScrapeBudget,
}

/// The default decompressed body limit: vmagent's `-promscrape.maxScrapeSize`. Prometheus has
/// none; on a device with a few hundred MiB a single target could otherwise take them all.
pub const BODY_SIZE_LIMIT: u64 = 16 << 20;

/// What one scrape of one target may make outpost hold, beyond Prometheus's limits (README,
/// "Memory budget"). Exceeding a bound fails the scrape (`up` 0); 0 means no bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScrapeBudget {
    /// Samples in one scrape, before metric relabeling (`sample_limit` counts after it).
    pub series: usize,
    /// Series first seen in one scrape (a page whose series all change every time).
    pub new_series: usize,
    /// Bytes of one series' label names and values, after metric relabeling.
    pub label_bytes: usize,
    /// Bytes of one exposition line, checked as the body is read.
    pub line_length: usize,
}

impl Default for ScrapeBudget {
    fn default() -> Self {
        ScrapeBudget { series: 100_000, new_series: 100_000, label_bytes: 64 << 10, line_length: 128 << 10 }
    }
}

/// The budget of each remote_write's buffer: every `[[remote_write]]` has
/// its own ring and segment directory of these sizes, so one receiver's
/// backlog never evicts another's.
#[derive(Clone, Debug, PartialEq)]
pub struct BufferConfig {
    /// Byte budget of the in-memory ring of sealed blocks.
    pub memory: u64,
    /// Byte budget of the segment files under `data_dir`; at least `segment`.
    pub disk: u64,
    /// Size of one segment file.
    pub segment: u64,
    /// Blocks whose newest sample is older are dropped, not sent.
    pub max_age: Duration,
    /// During an outage, spilled blocks are synced at least this often.
    pub sync_interval: Duration,
    pub persist: Persist,
}

/// When blocks are written to disk (SPEC, Buffer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Persist {
    /// Only during outages, when the ring is full, and at shutdown.
    Outage,
    /// Also every block before its first send.
    Always,
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
    /// Applied to each series before it is sent to this receiver.
    pub write_relabel_configs: Vec<Rule>,
    /// TLS and authorization toward the receiver.
    pub http_client: HttpClientConfig,
    pub metadata_config: MetadataConfig,
}

/// Prometheus's `metadata_config`: TYPE, HELP and UNIT of the scraped metric
/// families, sent every `send_interval` in requests of at most
/// `max_samples_per_send` entries.
#[derive(Clone, Debug, PartialEq)]
pub struct MetadataConfig {
    pub send: bool,
    pub send_interval: Duration,
    pub max_samples_per_send: usize,
}

#[derive(Clone, Debug, PartialEq)]
pub struct QueueConfig {
    pub max_samples_per_send: usize,
    pub batch_send_deadline: Duration,
    /// Concurrent sends, each for the series whose hash falls to it: `1 <= min_shards <= max_shards`.
    pub min_shards: usize,
    pub max_shards: usize,
    pub min_backoff: Duration,
    pub max_backoff: Duration,
    pub retry_on_http_429: bool,
    /// Bytes per second for backlog uploads; 0 means unlimited.
    pub rate_limit: u64,
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
    /// 0 means no limit, here and in the other limits.
    pub sample_limit: usize,
    /// Dropped targets the status API keeps per job (Prometheus's key); 0 keeps all.
    pub keep_dropped_targets: usize,
    pub label_limit: usize,
    pub label_name_length_limit: usize,
    pub label_value_length_limit: usize,
    /// Bytes of the uncompressed body; resolved: the job's, else the global one.
    pub body_size_limit: u64,
    /// Resolved likewise, bound by bound.
    pub budget: ScrapeBudget,
    /// URL query parameters of every scrape (Prometheus's `params`).
    pub params: BTreeMap<String, Vec<String>>,
    pub static_configs: Vec<StaticConfig>,
    pub file_sd_configs: Vec<FileSdConfig>,
    pub kubernetes_sd_configs: Vec<KubernetesSdConfig>,
    pub http_sd_configs: Vec<HttpSdConfig>,
    /// Applied to each target's labels before it is scraped.
    pub relabel_configs: Vec<Rule>,
    /// Applied to each scraped series before it is staged.
    pub metric_relabel_configs: Vec<Rule>,
    /// TLS and authorization toward the targets; one client per job.
    pub http_client: HttpClientConfig,
}

#[derive(Clone, Debug, PartialEq)]
pub struct StaticConfig {
    /// `host:port` strings (validated to have a port).
    pub targets: Vec<String>,
    pub labels: BTreeMap<String, String>,
}

/// Prometheus's `<file_sd_config>`: JSON target files, re-read every
/// `refresh_interval` (and when the set of files a pattern matches changes).
#[derive(Clone, Debug, PartialEq)]
pub struct FileSdConfig {
    /// Paths, resolved against the configuration file's directory; the last
    /// element may hold `*` and `?` wildcards (validated).
    pub files: Vec<PathBuf>,
    pub refresh_interval: Duration,
}

/// Prometheus's `<http_sd_config>`: target groups fetched from `url` every
/// `refresh_interval` (a request's timeout too, as in Prometheus).
#[derive(Clone, Debug, PartialEq)]
pub struct HttpSdConfig {
    /// http or https with a host (validated).
    pub url: String,
    pub refresh_interval: Duration,
    pub http_client: HttpClientConfig,
}

/// The string checks behind the invariants above. Each returns a reason
/// without context; load.rs adds the value's position and the key.
mod check {
    use std::net::Ipv6Addr;

    /// Headers outpost sets itself: remote write 1.0's own, and those the HTTP
    /// client owns (Prometheus's `reservedHeaders`, less the SigV4 ones).
    const RESERVED_HEADERS: [&str; 12] = [
        "content-encoding",
        "content-type",
        "x-prometheus-remote-write-version",
        "user-agent",
        "host",
        "content-length",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "accept-encoding",
        "proxy-authorization",
        "proxy-authenticate",
    ];

    pub fn log_level(s: &str) -> Result<log::LevelFilter, String> {
        use log::LevelFilter::*;
        let levels = [Error, Warn, Info, Debug, Trace, Off];
        match levels.into_iter().find(|l| l.as_str().to_ascii_lowercase() == s) {
            Some(level) => Ok(level),
            None => Err(format!("log_level {s:?}: expected one of error, warn, info, debug, trace, off")),
        }
    }

    /// `[a-zA-Z_][a-zA-Z0-9_]*`; with `reserved`, also not starting with `__`.
    pub fn label_name(name: &str, reserved: bool) -> Result<(), String> {
        if !crate::model::labels::is_valid_name(name) {
            return Err(format!("invalid label name {name:?}: must match [a-zA-Z_][a-zA-Z0-9_]*"));
        }
        if reserved && name.starts_with("__") {
            return Err(format!(
                "external label name {name:?} is reserved: names starting with \"__\" are internal"
            ));
        }
        Ok(())
    }

    /// A scrape target: `host:port` or `[ipv6]:port`, nothing else.
    pub fn target(t: &str) -> Result<(), &'static str> {
        if t.contains(['/', '?', '#', '@']) {
            return Err("must be host:port, without scheme, path or credentials");
        }
        let (_, port) = host_port(t)?;
        port.ok_or("port is required (host:port)").and_then(check_port)
    }

    /// An absolute http(s) URL with a host; returns its `host[:port]`.
    pub fn url(u: &str) -> Result<&str, &'static str> {
        let Some((scheme, rest)) = u.split_once("://") else {
            return Err("must be an absolute http or https URL");
        };
        if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
            return Err("scheme must be http or https");
        }
        if u.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err("must not contain whitespace or control characters");
        }
        let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
        let host_and_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        if let (_, Some(port)) = host_port(host_and_port)? {
            check_port(port)?;
        }
        Ok(host_and_port)
    }

    /// Refuses reserved names, names that are not HTTP tokens, and control characters.
    pub fn header(name: &str, value: &str) -> Result<(), String> {
        let lower = name.to_ascii_lowercase();
        if RESERVED_HEADERS.contains(&lower.as_str()) {
            return Err(format!("header {name:?} is reserved: outpost sets it itself"));
        }
        if lower == "authorization" {
            return Err(format!(
                "header {name:?} is not allowed: credentials belong in basic_auth, bearer_token_file or authorization"
            ));
        }
        // RFC 9110 token characters.
        let tchar = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
        if name.is_empty() || !name.bytes().all(tchar) {
            return Err(format!("invalid header name {name:?}"));
        }
        if value.chars().any(|c| c.is_control() && c != '\t') {
            return Err(format!("header {name:?}: value must not contain control characters"));
        }
        Ok(())
    }

    /// A file_sd path: wildcards (`*`, `?`) only in the last element, and a
    /// `.json`, `.yml` or `.yaml` name (Prometheus's pattern).
    pub fn file_sd_path(path: &str) -> Result<(), String> {
        let (dir, name) = path.rsplit_once('/').unwrap_or(("", path));
        if dir.contains(['*', '?', '[']) {
            return Err("wildcards are allowed in the last path element only".into());
        }
        if name.contains('[') {
            return Err("character classes ([...]) are not supported; use * and ?".into());
        }
        // Prometheus's pattern: lower or upper case, not mixed.
        if ![".json", ".yml", ".yaml", ".JSON", ".YML", ".YAML"].iter().any(|ext| name.ends_with(ext)) {
            return Err("must end in .json, .yml or .yaml".into());
        }
        Ok(())
    }

    /// Splits `host[:port]` or `[ipv6][:port]` and checks the host.
    fn host_port(s: &str) -> Result<(&str, Option<&str>), &'static str> {
        if let Some(rest) = s.strip_prefix('[') {
            let (host, after) = rest.split_once(']').ok_or("missing \"]\" after IPv6 address")?;
            let address = host.split_once('%').map_or(host, |(address, _zone)| address);
            address.parse::<Ipv6Addr>().map_err(|_| "invalid IPv6 address in brackets")?;
            return match after {
                "" => Ok((host, None)),
                _ => after
                    .strip_prefix(':')
                    .map(|port| (host, Some(port)))
                    .ok_or("unexpected text after \"]\""),
            };
        }
        let (host, port) = match s.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (s, None),
        };
        if host.contains(':') {
            return Err("IPv6 addresses must be in brackets, e.g. [::1]:9100");
        }
        if host.is_empty() {
            return Err("host is missing");
        }
        if !host.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b)) {
            return Err("invalid character in host");
        }
        Ok((host, port))
    }

    fn check_port(port: &str) -> Result<(), &'static str> {
        match port.parse::<u16>() {
            Ok(p) if p > 0 && port.bytes().all(|b| b.is_ascii_digit()) => Ok(()),
            _ => Err("port must be a number from 1 to 65535"),
        }
    }
}

#[cfg(test)]
mod tests;
