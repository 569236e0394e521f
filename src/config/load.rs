//! TOML -> [`Config`]: deserialise into the raw schema (unknown keys are
//! errors), apply Prometheus's defaults, validate, then refuse the keys
//! outpost does not implement yet. Every error reads `origin:line:col: reason`
//! when the input has a position for it, else `origin: reason`.

use super::http::load::RawHttpClient;
use super::schema::{self, Labels, RawBuffer, RawConfig, RawGlobal, RawQueueConfig};
use super::schema::{
    RawFileSdConfig, RawHttpSdConfig, RawMetadataConfig, RawRelabelConfig, RawRemoteWrite, RawScrapeConfig,
};
use super::{BODY_SIZE_LIMIT, BufferConfig, Config, Global, MetadataConfig, QueueConfig, RemoteWrite};
use super::{FileSdConfig, HttpSdConfig, Persist, StaticConfig, check, duration, http, keypath, size};
use super::{Scheme, ScrapeBudget, ScrapeConfig};
use crate::relabel::{Field, Rule, RuleSpec};
use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;
use toml::Spanned;

/// Why a configuration was refused, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    origin: String,
    position: Option<(usize, usize)>,
    reason: String,
}

impl ConfigError {
    /// The path or name the text came from.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// 1-based (line, column in characters), when the error has a place.
    pub fn position(&self) -> Option<(usize, usize)> {
        self.position
    }

    /// The message without origin and position.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.position {
            Some((line, col)) => write!(f, "{}:{line}:{col}: {}", self.origin, self.reason),
            None => write!(f, "{}: {}", self.origin, self.reason),
        }
    }
}

impl std::error::Error for ConfigError {}

/// Reads and parses the file at `path`; errors name the path as origin.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let origin = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(text) if looks_like_yaml(path, &text) => Err(ConfigError {
            reason: format!(
                "this is a Prometheus configuration (YAML); outpost reads TOML: \
                 `outpost import {origin} -o outpost.toml` converts it (README, \"Coming from Prometheus\")"
            ),
            origin,
            position: None,
        }),
        Ok(text) => parse(&text, &origin),
        Err(e) => Err(ConfigError { origin, position: None, reason: format!("cannot read: {e}") }),
    }
}

/// A `.yml`/`.yaml` name, or text that is no TOML but whose first line of
/// content is a YAML `key:` (as `global:` or `scrape_configs:`).
fn looks_like_yaml(path: &Path, text: &str) -> bool {
    let yaml_name =
        path.extension().is_some_and(|e| e.eq_ignore_ascii_case("yml") || e.eq_ignore_ascii_case("yaml"));
    let first = text.lines().map(str::trim).find(|l| !l.is_empty() && !l.starts_with('#'));
    let yaml_line = first.is_some_and(|l| {
        l == "---"
            || l.split_once(':').is_some_and(|(key, rest)| {
                !key.is_empty()
                    && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                    && (rest.is_empty() || rest.starts_with(' '))
            })
    });
    yaml_name || (yaml_line && toml::from_str::<toml::Table>(text).is_err())
}

/// Parses and validates `text`; `origin` names it in errors and in `Config::origin`.
pub fn parse(text: &str, origin: &str) -> Result<Config, ConfigError> {
    let src = Source { text, origin };
    let raw: RawConfig = toml::from_str(text).map_err(|e| {
        // message() is toml's reason without the multi-line source snippet.
        let reason = e.message().lines().collect::<Vec<_>>().join("; ");
        src.error(e.span(), keypath::unknown_key(&reason))
    })?;
    let listen = match &raw.listen {
        Some(v) => Some(v.get_ref().parse().map_err(|_| {
            let reason = format!("listen {:?}: expected ip:port, e.g. \"127.0.0.1:9464\"", v.get_ref());
            src.at(v, reason)
        })?),
        None => None,
    };
    let global = global(&src, &raw.global)?;
    let config = Config {
        origin: origin.to_string(),
        data_dir: match &raw.data_dir {
            Some(v) if v.get_ref().is_empty() => return Err(src.at(v, "data_dir must not be empty")),
            Some(v) => PathBuf::from(v.get_ref()),
            None => default_data_dir(),
        },
        listen,
        log_level: match &raw.log_level {
            Some(v) => check::log_level(v.get_ref()).map_err(|reason| src.at(v, reason))?,
            None => log::LevelFilter::Info,
        },
        buffer: buffer(&src, &raw.buffer)?,
        remote_write: remote_writes(&src, &raw.remote_write)?,
        scrape_configs: scrape_configs(&src, &raw.scrape_configs, &global)?,
        web: super::web::load::web(&src, &raw.web)?,
        global,
    };
    match schema::unsupported(&raw) {
        Some((span, reason)) => Err(src.error(Some(span), reason)),
        None => Ok(config),
    }
}

/// Prometheus's defaults (config.DefaultGlobalConfig, DefaultRemoteWriteConfig, DefaultQueueConfig).
const SCRAPE_INTERVAL: Duration = Duration::from_secs(60);
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(10);
const REMOTE_TIMEOUT: Duration = Duration::from_secs(30);
const BUFFER_MEMORY: u64 = 4 << 20;
const BUFFER_DISK: u64 = 256 << 20;
const BUFFER_SEGMENT: u64 = 4 << 20;
const BUFFER_MAX_AGE: Duration = Duration::from_secs(3600);
const BUFFER_SYNC_INTERVAL: Duration = Duration::from_secs(1);
const MAX_SAMPLES_PER_SEND: usize = 2000;
const BATCH_SEND_DEADLINE: Duration = Duration::from_secs(5);
/// Prometheus's default `min_shards`; its `max_shards` default is 50, but on an edge device one
/// connection is the default and more are asked for (README, "Shards").
const MIN_SHARDS: usize = 1;
const MAX_SHARDS: usize = 1;
/// Prometheus's metadata_config defaults.
const METADATA_SEND_INTERVAL: Duration = Duration::from_secs(60);
const METADATA_MAX_SAMPLES_PER_SEND: usize = 500;
const MIN_BACKOFF: Duration = Duration::from_millis(30);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
const FILE_SD_REFRESH_INTERVAL: Duration = Duration::from_secs(300);
const HTTP_SD_REFRESH_INTERVAL: Duration = Duration::from_secs(60);

/// The text being parsed, to turn byte spans into `origin:line:col`.
pub(super) struct Source<'a> {
    text: &'a str,
    origin: &'a str,
}

impl Source<'_> {
    /// An error at `span`, its reason prefixed with the key path there (keypath.rs).
    pub(super) fn error(&self, span: Option<Range<usize>>, reason: impl Into<String>) -> ConfigError {
        let reason = match span.as_ref().and_then(|span| keypath::at(self.text, span.start)) {
            Some(path) => format!("{path}: {}", reason.into()),
            None => reason.into(),
        };
        let position = span.map(|span| {
            // Bytes, not str slicing: a span must never panic, whatever it is.
            let before = &self.text.as_bytes()[..span.start.min(self.text.len())];
            let line_start = before.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
            let line = 1 + before.iter().filter(|b| **b == b'\n').count();
            // Count characters: skip UTF-8 continuation bytes.
            let col = 1 + before[line_start..].iter().filter(|b| (**b & 0xC0) != 0x80).count();
            (line, col)
        });
        ConfigError { origin: self.origin.to_string(), position, reason }
    }

    pub(super) fn at<T>(&self, value: &Spanned<T>, reason: impl Into<String>) -> ConfigError {
        self.error(Some(value.span()), reason)
    }

    /// A path from the configuration: a relative one is taken from the
    /// configuration file's directory, as Prometheus does.
    pub(super) fn path(&self, value: &str) -> PathBuf {
        let dir = Path::new(self.origin).parent().unwrap_or(Path::new(""));
        dir.join(value)
    }

    /// An optional duration; zero is refused (it would mean a busy loop or no timeout).
    pub(super) fn duration(
        &self,
        key: &str,
        value: &Option<Spanned<String>>,
    ) -> Result<Option<Duration>, ConfigError> {
        let Some(value) = value else { return Ok(None) };
        let d = duration::parse(value.get_ref())
            .map_err(|e| self.at(value, format!("invalid duration {:?}: {e}", value.get_ref())))?;
        if d.is_zero() {
            return Err(self.at(value, format!("{key} must be greater than 0")));
        }
        Ok(Some(d))
    }

    /// `series_limit`, `new_series_limit` (counts) and `label_bytes_limit`, `line_length_limit`
    /// (sizes), each `base`'s where absent.
    fn budget(
        &self,
        [series, new_series]: [&Option<Spanned<u64>>; 2],
        [label_bytes, line_length]: [&Option<Spanned<String>>; 2],
        base: ScrapeBudget,
    ) -> Result<ScrapeBudget, ConfigError> {
        let count = |v: &Option<Spanned<u64>>, base| {
            v.as_ref().map_or(base, |v| usize::try_from(*v.get_ref()).unwrap_or(usize::MAX))
        };
        let size =
            |v, base: usize| self.size_or(v, base as u64).map(|n| usize::try_from(n).unwrap_or(usize::MAX));
        Ok(ScrapeBudget {
            series: count(series, base.series),
            new_series: count(new_series, base.new_series),
            label_bytes: size(label_bytes, base.label_bytes)?,
            line_length: size(line_length, base.line_length)?,
        })
    }

    /// A size that may be absent: `default` then.
    fn size_or(&self, value: &Option<Spanned<String>>, default: u64) -> Result<u64, ConfigError> {
        value.as_ref().map_or(Ok(default), |v| self.size(v))
    }

    fn size(&self, value: &Spanned<String>) -> Result<u64, ConfigError> {
        size::parse(value.get_ref())
            .map_err(|e| self.at(value, format!("invalid size {:?}: {e}", value.get_ref())))
    }

    /// Checks each label name; `reserved` refuses the `__` prefix too.
    fn labels(&self, raw: &Labels, reserved: bool) -> Result<BTreeMap<String, String>, ConfigError> {
        let mut out = BTreeMap::new();
        for (name, value) in raw {
            check::label_name(name.get_ref(), reserved).map_err(|reason| self.at(name, reason))?;
            out.insert(name.get_ref().clone(), value.get_ref().clone());
        }
        Ok(out)
    }

    /// Prometheus's rule (config.ScrapeConfig.Validate): an explicit timeout
    /// above the interval is an error; a missing one is the default timeout,
    /// capped at the interval.
    fn timeout(
        &self,
        raw: &Option<Spanned<String>>,
        interval: Duration,
        default: Duration,
        context: &str,
    ) -> Result<Duration, ConfigError> {
        match (raw, self.duration("scrape_timeout", raw)?) {
            (Some(value), Some(timeout)) if timeout > interval => Err(self.at(
                value,
                format!(
                    "scrape_timeout {} is greater than scrape_interval {} {context}",
                    duration::format(timeout),
                    duration::format(interval)
                ),
            )),
            (_, Some(timeout)) => Ok(timeout),
            (_, None) => Ok(default.min(interval)),
        }
    }
}

fn global(src: &Source, raw: &RawGlobal) -> Result<Global, ConfigError> {
    let scrape_interval = src.duration("scrape_interval", &raw.scrape_interval)?.unwrap_or(SCRAPE_INTERVAL);
    Ok(Global {
        scrape_interval,
        scrape_timeout: src.timeout(&raw.scrape_timeout, scrape_interval, SCRAPE_TIMEOUT, "in [global]")?,
        external_labels: src.labels(&raw.external_labels, true)?,
        body_size_limit: src.size_or(&raw.body_size_limit, BODY_SIZE_LIMIT)?,
        budget: src.budget(
            [&raw.series_limit, &raw.new_series_limit],
            [&raw.label_bytes_limit, &raw.line_length_limit],
            ScrapeBudget::default(),
        )?,
    })
}

/// systemd's `StateDirectory=` (its first path), else `data` as Prometheus's agent does.
fn default_data_dir() -> PathBuf {
    match std::env::var("STATE_DIRECTORY") {
        Ok(dirs) if !dirs.is_empty() => PathBuf::from(dirs.split(':').next().unwrap_or(&dirs)),
        _ => PathBuf::from("data"),
    }
}

fn buffer(src: &Source, raw: &RawBuffer) -> Result<BufferConfig, ConfigError> {
    let positive = |key: &str, value: &Option<Spanned<String>>, default: u64| match value {
        Some(value) => match src.size(value)? {
            0 => Err(src.at(value, format!("buffer.{key} must be greater than 0"))),
            bytes => Ok(bytes),
        },
        None => Ok(default),
    };
    let memory = positive("memory", &raw.memory, BUFFER_MEMORY)?;
    let disk = positive("disk", &raw.disk, BUFFER_DISK)?;
    let segment = positive("segment", &raw.segment, BUFFER_SEGMENT)?;
    if segment > disk {
        let place = raw.segment.as_ref().or(raw.disk.as_ref());
        let reason = format!(
            "buffer.segment {} is larger than buffer.disk {}",
            size::format(segment),
            size::format(disk)
        );
        return Err(src.error(place.map(Spanned::span), reason));
    }
    let persist = match &raw.persist {
        None => Persist::Outage,
        Some(v) => match v.get_ref().as_str() {
            "outage" => Persist::Outage,
            "always" => Persist::Always,
            other => {
                return Err(src.at(v, format!("buffer.persist {other:?}: expected \"outage\" or \"always\"")));
            }
        },
    };
    Ok(BufferConfig {
        memory,
        disk,
        segment,
        max_age: src.duration("max_age", &raw.max_age)?.unwrap_or(BUFFER_MAX_AGE),
        sync_interval: src.duration("sync_interval", &raw.sync_interval)?.unwrap_or(BUFFER_SYNC_INTERVAL),
        persist,
    })
}

fn remote_writes(src: &Source, raw: &[Spanned<RawRemoteWrite>]) -> Result<Vec<RemoteWrite>, ConfigError> {
    if raw.is_empty() {
        return Err(src.error(None, "no [[remote_write]]: at least one receiver is required"));
    }
    let mut out: Vec<RemoteWrite> = Vec::with_capacity(raw.len());
    for entry in raw {
        let entry = entry.get_ref();
        let rw = remote_write(src, entry)?;
        let place = entry.name.as_ref().unwrap_or(&entry.url);
        if out.iter().any(|other| other.name == rw.name) {
            let hint =
                if entry.name.is_none() { " (the default, host:port of the url: set `name`)" } else { "" };
            return Err(src.at(place, format!("duplicate remote_write name {:?}{hint}", rw.name)));
        }
        let dir = super::buffer_dir(&rw.name);
        if let Some(other) = out.iter().find(|other| super::buffer_dir(&other.name) == dir) {
            return Err(src.at(
                place,
                format!(
                    "remote_write names {:?} and {:?} share the buffer directory {dir:?}: rename one",
                    other.name, rw.name
                ),
            ));
        }
        out.push(rw);
    }
    Ok(out)
}

fn remote_write(src: &Source, raw: &RawRemoteWrite) -> Result<RemoteWrite, ConfigError> {
    let url = raw.url.get_ref();
    let authority = check::url(url).map_err(|reason| src.at(&raw.url, format!("url {url:?}: {reason}")))?;
    let name = match &raw.name {
        Some(name) if name.get_ref().is_empty() => {
            return Err(src.at(name, "remote_write name must not be empty"));
        }
        Some(name) => name.get_ref().clone(),
        None => authority.to_string(),
    };
    let mut headers = BTreeMap::new();
    for (key, value) in &raw.headers {
        check::header(key.get_ref(), value.get_ref()).map_err(|reason| src.at(key, reason))?;
        if headers.keys().any(|k: &String| k.eq_ignore_ascii_case(key.get_ref())) {
            return Err(
                src.at(key, format!("duplicate header {:?} (names are case-insensitive)", key.get_ref()))
            );
        }
        headers.insert(key.get_ref().clone(), value.get_ref().clone());
    }
    let http_client = http::load::http_client(
        src,
        RawHttpClient {
            basic_auth: &raw.basic_auth,
            bearer_token_file: &raw.bearer_token_file,
            authorization: &raw.authorization,
            tls_config: &raw.tls_config,
        },
    )?;
    Ok(RemoteWrite {
        name,
        url: url.clone(),
        remote_timeout: src.duration("remote_timeout", &raw.remote_timeout)?.unwrap_or(REMOTE_TIMEOUT),
        headers,
        queue_config: queue_config(src, &raw.queue_config)?,
        write_relabel_configs: relabel_configs(src, &raw.write_relabel_configs)?,
        http_client,
        metadata_config: metadata_config(src, &raw.metadata_config)?,
    })
}

fn metadata_config(src: &Source, raw: &RawMetadataConfig) -> Result<MetadataConfig, ConfigError> {
    let send_interval = src.duration("send_interval", &raw.send_interval)?.unwrap_or(METADATA_SEND_INTERVAL);
    if let Some(place) = raw.send_interval.as_ref().filter(|_| send_interval.is_zero()) {
        return Err(src.at(place, "send_interval must be greater than 0"));
    }
    let max_samples_per_send = match &raw.max_samples_per_send {
        Some(value) if *value.get_ref() == 0 => {
            return Err(src.at(value, "max_samples_per_send must be greater than 0"));
        }
        Some(value) => *value.get_ref(),
        None => METADATA_MAX_SAMPLES_PER_SEND,
    };
    Ok(MetadataConfig { send: raw.send.unwrap_or(true), send_interval, max_samples_per_send })
}

fn queue_config(src: &Source, raw: &RawQueueConfig) -> Result<QueueConfig, ConfigError> {
    let max_samples_per_send = match &raw.max_samples_per_send {
        Some(value) if *value.get_ref() == 0 => {
            return Err(src.at(value, "max_samples_per_send must be greater than 0"));
        }
        Some(value) => *value.get_ref(),
        None => MAX_SAMPLES_PER_SEND,
    };
    let min_backoff = src.duration("min_backoff", &raw.min_backoff)?.unwrap_or(MIN_BACKOFF);
    let max_backoff = src.duration("max_backoff", &raw.max_backoff)?.unwrap_or(MAX_BACKOFF);
    if min_backoff > max_backoff {
        // Point at whichever the user wrote; at least one was, or the defaults would hold.
        if let Some(place) = raw.min_backoff.as_ref().or(raw.max_backoff.as_ref()) {
            return Err(src.at(
                place,
                format!(
                    "min_backoff {} is greater than max_backoff {}",
                    duration::format(min_backoff),
                    duration::format(max_backoff)
                ),
            ));
        }
    }
    let shards = |key: &str, value: &Option<Spanned<i64>>, default: usize| match value {
        None => Ok(default),
        Some(v) => usize::try_from(*v.get_ref())
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| src.at(v, format!("{key} must be at least 1"))),
    };
    let min_shards = shards("min_shards", &raw.min_shards, MIN_SHARDS)?;
    let max_shards = shards("max_shards", &raw.max_shards, MAX_SHARDS.max(min_shards))?;
    if min_shards > max_shards
        && let Some(place) = raw.min_shards.as_ref().or(raw.max_shards.as_ref())
    {
        return Err(src.at(place, format!("min_shards {min_shards} is greater than max_shards {max_shards}")));
    }
    let rate_limit = match &raw.rate_limit {
        Some(value) => src.size(value)?,
        None => 0,
    };
    Ok(QueueConfig {
        max_samples_per_send,
        batch_send_deadline: src
            .duration("batch_send_deadline", &raw.batch_send_deadline)?
            .unwrap_or(BATCH_SEND_DEADLINE),
        min_shards,
        max_shards,
        min_backoff,
        max_backoff,
        retry_on_http_429: raw.retry_on_http_429.unwrap_or(true),
        rate_limit,
    })
}

fn scrape_configs(
    src: &Source,
    raw: &[RawScrapeConfig],
    global: &Global,
) -> Result<Vec<ScrapeConfig>, ConfigError> {
    let mut out: Vec<ScrapeConfig> = Vec::with_capacity(raw.len());
    for job in raw {
        let job_name = job.job_name.get_ref();
        if out.iter().any(|other| other.job_name == *job_name) {
            return Err(src.at(&job.job_name, format!("duplicate job_name {job_name:?}")));
        }
        out.push(scrape_config(src, job, global)?);
    }
    Ok(out)
}

fn scrape_config(src: &Source, job: &RawScrapeConfig, global: &Global) -> Result<ScrapeConfig, ConfigError> {
    let job_name = job.job_name.get_ref();
    if job_name.is_empty() {
        return Err(src.at(&job.job_name, "job_name must not be empty"));
    }
    let scrape_interval =
        src.duration("scrape_interval", &job.scrape_interval)?.unwrap_or(global.scrape_interval);
    let context = format!("for job {job_name:?}");
    let scrape_timeout =
        src.timeout(&job.scrape_timeout, scrape_interval, global.scrape_timeout, &context)?;
    let metrics_path = match &job.metrics_path {
        Some(path) if !path.get_ref().starts_with('/') => {
            let reason = format!("metrics_path {:?}: must start with \"/\"", path.get_ref());
            return Err(src.at(path, reason));
        }
        Some(path) => path.get_ref().clone(),
        None => "/metrics".to_string(),
    };
    let scheme = match job.scheme.as_ref().map(|s| (s, s.get_ref().as_str())) {
        None | Some((_, "http")) => Scheme::Http,
        Some((_, "https")) => Scheme::Https,
        Some((value, other)) => {
            let reason = format!("scheme {other:?}: expected \"http\" or \"https\"");
            return Err(src.at(value, reason));
        }
    };
    let mut static_configs = Vec::with_capacity(job.static_configs.len());
    for group in &job.static_configs {
        // With relabel_configs a target is any string, as in Prometheus (the blackbox
        // exporter's `http://...` targets): __address__ is what relabeling leaves.
        for target in group.targets.iter().filter(|_| job.relabel_configs.is_empty()) {
            check::target(target.get_ref())
                .map_err(|reason| src.at(target, format!("target {:?}: {reason}", target.get_ref())))?;
        }
        static_configs.push(StaticConfig {
            targets: group.targets.iter().map(|t| t.get_ref().clone()).collect(),
            labels: src.labels(&group.labels, false)?,
        });
    }
    let mut file_sd_configs = Vec::with_capacity(job.file_sd_configs.len());
    for sd in &job.file_sd_configs {
        file_sd_configs.push(file_sd_config(src, sd)?);
    }
    let kubernetes_sd_configs = job
        .kubernetes_sd_configs
        .iter()
        .map(|sd| super::kubernetes::load::kubernetes_sd_config(src, sd))
        .collect::<Result<Vec<_>, _>>()?;
    let http_sd_configs =
        job.http_sd_configs.iter().map(|sd| http_sd_config(src, sd)).collect::<Result<Vec<_>, _>>()?;
    let http_client = http::load::http_client(
        src,
        RawHttpClient {
            basic_auth: &job.basic_auth,
            bearer_token_file: &job.bearer_token_file,
            authorization: &job.authorization,
            tls_config: &job.tls_config,
        },
    )?;
    Ok(ScrapeConfig {
        job_name: job_name.clone(),
        scrape_interval,
        scrape_timeout,
        metrics_path,
        scheme,
        honor_labels: job.honor_labels.unwrap_or(false),
        honor_timestamps: job.honor_timestamps.unwrap_or(true),
        sample_limit: job.sample_limit.unwrap_or(0),
        keep_dropped_targets: job.keep_dropped_targets.unwrap_or(0),
        label_limit: limit(&job.label_limit),
        label_name_length_limit: limit(&job.label_name_length_limit),
        label_value_length_limit: limit(&job.label_value_length_limit),
        // A job's "0" means no limit (in Prometheus it means the global one), so a job can
        // still lift the edge default.
        body_size_limit: src.size_or(&job.body_size_limit, global.body_size_limit)?,
        budget: src.budget(
            [&job.series_limit, &job.new_series_limit],
            [&job.label_bytes_limit, &job.line_length_limit],
            global.budget,
        )?,
        params: params(src, &job.params)?,
        static_configs,
        file_sd_configs,
        kubernetes_sd_configs,
        http_sd_configs,
        relabel_configs: relabel_configs(src, &job.relabel_configs)?,
        metric_relabel_configs: relabel_configs(src, &job.metric_relabel_configs)?,
        http_client,
    })
}

/// Prometheus's check (discovery/file): a path whose last element may hold
/// wildcards, ending in .json, .yml or .yaml. Relative paths are taken from the configuration file's
/// directory, as Prometheus does.
fn file_sd_config(src: &Source, raw: &RawFileSdConfig) -> Result<FileSdConfig, ConfigError> {
    if raw.files.get_ref().is_empty() {
        return Err(src.at(&raw.files, "file_sd_configs: files must not be empty"));
    }
    let base = Path::new(src.origin).parent().unwrap_or(Path::new(""));
    let mut files = Vec::with_capacity(raw.files.get_ref().len());
    for file in raw.files.get_ref() {
        let path = file.get_ref();
        check::file_sd_path(path)
            .map_err(|reason| src.at(file, format!("file_sd_configs file {path:?}: {reason}")))?;
        files.push(base.join(path));
    }
    Ok(FileSdConfig {
        files,
        refresh_interval: src
            .duration("refresh_interval", &raw.refresh_interval)?
            .unwrap_or(FILE_SD_REFRESH_INTERVAL),
    })
}

/// Prometheus's checks (discovery/http SDConfig.UnmarshalYAML): an http or
/// https URL with a host; refresh_interval defaults to 60s.
fn http_sd_config(src: &Source, raw: &Spanned<RawHttpSdConfig>) -> Result<HttpSdConfig, ConfigError> {
    let sd = raw.get_ref();
    let url = sd.url.get_ref();
    let reason = match url.split_once("://") {
        _ if url.is_empty() => Some("URL is missing"),
        Some((scheme, _)) if !matches!(scheme, "http" | "https") => {
            Some("URL scheme must be 'http' or 'https'")
        }
        None => Some("URL scheme must be 'http' or 'https'"),
        Some((_, rest)) if rest.split(['/', '?', '#']).next().unwrap_or("").is_empty() => {
            Some("host is missing in URL")
        }
        _ => None,
    };
    if let Some(reason) = reason {
        return Err(src.at(&sd.url, format!("http_sd_configs url {url:?}: {reason}")));
    }
    check::url(url).map_err(|reason| src.at(&sd.url, format!("http_sd_configs url {url:?}: {reason}")))?;
    let refresh_interval =
        src.duration("refresh_interval", &sd.refresh_interval)?.unwrap_or(HTTP_SD_REFRESH_INTERVAL);
    let http_client = http::load::http_client(
        src,
        RawHttpClient {
            basic_auth: &sd.basic_auth,
            bearer_token_file: &sd.bearer_token_file,
            authorization: &sd.authorization,
            tls_config: &sd.tls_config,
        },
    )?;
    Ok(HttpSdConfig { url: url.clone(), refresh_interval, http_client })
}

/// A count limit; 0 (or absent) means none.
fn limit(value: &Option<Spanned<u64>>) -> usize {
    value.as_ref().map_or(0, |v| usize::try_from(*v.get_ref()).unwrap_or(usize::MAX))
}

/// `params`: names must be non-empty; each needs at least one value.
fn params(
    src: &Source,
    raw: &BTreeMap<Spanned<String>, Vec<String>>,
) -> Result<BTreeMap<String, Vec<String>>, ConfigError> {
    let mut out = BTreeMap::new();
    for (name, values) in raw {
        if name.get_ref().is_empty() || values.is_empty() {
            return Err(
                src.at(name, format!("params {:?}: needs a name and at least one value", name.get_ref()))
            );
        }
        out.insert(name.get_ref().clone(), values.clone());
    }
    Ok(out)
}

/// Validates and compiles each rule (relabel::Rule::new has Prometheus's
/// checks). An error reads `path.key[i].field: reason` and points at the offending
/// value, or at the rule when the key it needs is missing.
fn relabel_configs(src: &Source, raw: &[Spanned<RawRelabelConfig>]) -> Result<Vec<Rule>, ConfigError> {
    let text = |v: &Option<Spanned<String>>| v.as_ref().map(|v| v.get_ref().clone());
    let mut rules = Vec::with_capacity(raw.len());
    for entry in raw {
        let r = entry.get_ref();
        let spec = RuleSpec {
            source_labels: r
                .source_labels
                .as_ref()
                .map(|v| v.get_ref().iter().map(|s| s.get_ref().clone()).collect()),
            separator: text(&r.separator),
            regex: text(&r.regex),
            modulus: r.modulus.as_ref().map(|v| *v.get_ref()),
            target_label: text(&r.target_label),
            replacement: text(&r.replacement),
            action: text(&r.action),
        };
        let rule = Rule::new(spec).map_err(|e| {
            let span = |v: &Option<Spanned<String>>| v.as_ref().map(Spanned::span);
            let place = match e.field() {
                Field::Action => span(&r.action),
                Field::SourceLabels => r.source_labels.as_ref().map(Spanned::span),
                Field::SourceLabel(j) => {
                    r.source_labels.as_ref().and_then(|v| v.get_ref().get(j)).map(Spanned::span)
                }
                Field::Separator => span(&r.separator),
                Field::Regex => span(&r.regex),
                Field::Modulus => r.modulus.as_ref().map(Spanned::span),
                Field::TargetLabel => span(&r.target_label),
                Field::Replacement => span(&r.replacement),
            };
            // The key path (keypath.rs) names `key[i]` and the field.
            src.error(Some(place.unwrap_or_else(|| entry.span())), e.to_string())
        })?;
        rules.push(rule);
    }
    Ok(rules)
}
