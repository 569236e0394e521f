//! The raw TOML schema of the SPEC's "Configuration (TOML)" section as serde
//! structs: every key the SPEC names and no other (unknown keys are errors
//! with their position). Values keep their byte spans for error positions.
//! Keys outpost does not implement yet are parsed here and refused by
//! [`unsupported`], the one place to delete from as each feature lands.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::ops::Range;
use toml::Spanned;

pub type Labels = BTreeMap<Spanned<String>, Spanned<String>>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    pub data_dir: Option<Spanned<String>>,
    pub listen: Option<Spanned<String>>,
    pub log_level: Option<Spanned<String>>,
    #[serde(default)]
    pub global: RawGlobal,
    #[serde(default)]
    pub buffer: RawBuffer,
    #[serde(default)]
    pub remote_write: Vec<Spanned<RawRemoteWrite>>,
    #[serde(default)]
    pub scrape_configs: Vec<RawScrapeConfig>,
    pub web: Option<RawWeb>,
}

/// `[web]`: Prometheus's web configuration file and lifecycle flags.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWeb {
    pub tls_config: Option<Spanned<RawWebTls>>,
    #[serde(default)]
    pub basic_auth_users: Labels,
    pub enable_lifecycle: Option<bool>,
    pub max_connections: Option<Spanned<i64>>,
    pub read_timeout: Option<Spanned<String>>,
}

/// `[web.tls_config]`: the server side of Prometheus's `tls_server_config`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWebTls {
    pub cert_file: Option<Spanned<String>>,
    pub key_file: Option<Spanned<String>>,
    pub client_ca_file: Option<Spanned<String>>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGlobal {
    pub scrape_interval: Option<Spanned<String>>,
    pub scrape_timeout: Option<Spanned<String>>,
    #[serde(default)]
    pub external_labels: Labels,
    pub body_size_limit: Option<Spanned<String>>,
    pub series_limit: Option<Spanned<u64>>,
    pub new_series_limit: Option<Spanned<u64>>,
    pub label_bytes_limit: Option<Spanned<String>>,
    pub line_length_limit: Option<Spanned<String>>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBuffer {
    pub memory: Option<Spanned<String>>,
    pub disk: Option<Spanned<String>>,
    pub segment: Option<Spanned<String>>,
    pub max_age: Option<Spanned<String>>,
    pub sync_interval: Option<Spanned<String>>,
    pub persist: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRemoteWrite {
    pub name: Option<Spanned<String>>,
    pub url: Spanned<String>,
    pub remote_timeout: Option<Spanned<String>>,
    #[serde(default)]
    pub headers: Labels,
    #[serde(default)]
    pub queue_config: RawQueueConfig,
    pub bearer_token_file: Option<Spanned<String>>,
    pub basic_auth: Option<Spanned<RawBasicAuth>>,
    pub authorization: Option<Spanned<RawAuthorization>>,
    pub tls_config: Option<Spanned<RawTlsConfig>>,
    #[serde(default)]
    pub write_relabel_configs: Vec<Spanned<RawRelabelConfig>>,
    #[serde(default)]
    pub metadata_config: RawMetadataConfig,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMetadataConfig {
    pub send: Option<bool>,
    pub send_interval: Option<Spanned<String>>,
    pub max_samples_per_send: Option<Spanned<usize>>,
}

/// Prometheus's `<basic_auth>`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBasicAuth {
    pub username: Option<Spanned<String>>,
    pub username_file: Option<Spanned<String>>,
    pub password: Option<Spanned<String>>,
    pub password_file: Option<Spanned<String>>,
}

/// Prometheus's `<authorization>`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAuthorization {
    pub r#type: Option<Spanned<String>>,
    pub credentials: Option<Spanned<String>>,
    pub credentials_file: Option<Spanned<String>>,
}

/// Prometheus's `<tls_config>` (without min/max_version: rustls speaks TLS 1.2 and 1.3).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTlsConfig {
    pub ca: Option<Spanned<String>>,
    pub ca_file: Option<Spanned<String>>,
    pub cert: Option<Spanned<String>>,
    pub cert_file: Option<Spanned<String>>,
    pub key: Option<Spanned<String>>,
    pub key_file: Option<Spanned<String>>,
    pub server_name: Option<Spanned<String>>,
    pub insecure_skip_verify: Option<bool>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawQueueConfig {
    pub max_samples_per_send: Option<Spanned<usize>>,
    pub batch_send_deadline: Option<Spanned<String>>,
    pub min_shards: Option<Spanned<i64>>,
    pub max_shards: Option<Spanned<i64>>,
    pub min_backoff: Option<Spanned<String>>,
    pub max_backoff: Option<Spanned<String>>,
    pub retry_on_http_429: Option<bool>,
    pub rate_limit: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawScrapeConfig {
    pub job_name: Spanned<String>,
    pub scrape_interval: Option<Spanned<String>>,
    pub scrape_timeout: Option<Spanned<String>>,
    pub metrics_path: Option<Spanned<String>>,
    pub scheme: Option<Spanned<String>>,
    pub honor_labels: Option<bool>,
    pub honor_timestamps: Option<bool>,
    pub sample_limit: Option<usize>,
    pub keep_dropped_targets: Option<usize>,
    #[serde(default)]
    pub static_configs: Vec<RawStaticConfig>,
    #[serde(default)]
    pub params: BTreeMap<Spanned<String>, Vec<String>>,
    pub label_limit: Option<Spanned<u64>>,
    pub label_name_length_limit: Option<Spanned<u64>>,
    pub label_value_length_limit: Option<Spanned<u64>>,
    pub body_size_limit: Option<Spanned<String>>,
    pub series_limit: Option<Spanned<u64>>,
    pub new_series_limit: Option<Spanned<u64>>,
    pub label_bytes_limit: Option<Spanned<String>>,
    pub line_length_limit: Option<Spanned<String>>,
    pub basic_auth: Option<Spanned<RawBasicAuth>>,
    pub bearer_token_file: Option<Spanned<String>>,
    pub authorization: Option<Spanned<RawAuthorization>>,
    pub tls_config: Option<Spanned<RawTlsConfig>>,
    #[serde(default)]
    pub file_sd_configs: Vec<RawFileSdConfig>,
    #[serde(default)]
    pub kubernetes_sd_configs: Vec<Spanned<RawKubernetesSdConfig>>,
    #[serde(default)]
    pub http_sd_configs: Vec<Spanned<RawHttpSdConfig>>,
    #[serde(default)]
    pub relabel_configs: Vec<Spanned<RawRelabelConfig>>,
    #[serde(default)]
    pub metric_relabel_configs: Vec<Spanned<RawRelabelConfig>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStaticConfig {
    #[serde(default)]
    pub targets: Vec<Spanned<String>>,
    #[serde(default)]
    pub labels: Labels,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFileSdConfig {
    pub files: Spanned<Vec<Spanned<String>>>,
    pub refresh_interval: Option<Spanned<String>>,
}

/// Prometheus's `<http_sd_config>`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHttpSdConfig {
    pub url: Spanned<String>,
    pub refresh_interval: Option<Spanned<String>>,
    pub basic_auth: Option<Spanned<RawBasicAuth>>,
    pub bearer_token_file: Option<Spanned<String>>,
    pub authorization: Option<Spanned<RawAuthorization>>,
    pub tls_config: Option<Spanned<RawTlsConfig>>,
}

/// Prometheus's `<kubernetes_sd_config>`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawKubernetesSdConfig {
    pub role: Spanned<String>,
    pub api_server: Option<Spanned<String>>,
    pub kubeconfig_file: Option<Spanned<String>>,
    pub namespaces: Option<Spanned<RawNamespaces>>,
    #[serde(default)]
    pub selectors: Vec<Spanned<RawSelector>>,
    pub basic_auth: Option<Spanned<RawBasicAuth>>,
    pub bearer_token_file: Option<Spanned<String>>,
    pub authorization: Option<Spanned<RawAuthorization>>,
    pub tls_config: Option<Spanned<RawTlsConfig>>,
    pub attach_metadata: Option<Spanned<RawAttachMetadata>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAttachMetadata {
    #[serde(default)]
    pub node: bool,
    #[serde(default)]
    pub namespace: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNamespaces {
    #[serde(default)]
    pub names: Vec<Spanned<String>>,
    #[serde(default)]
    pub own_namespace: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSelector {
    pub role: Spanned<String>,
    pub label: Option<Spanned<String>>,
    pub field: Option<Spanned<String>>,
}

/// Prometheus's `<relabel_config>`; a key left out takes its default.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRelabelConfig {
    pub source_labels: Option<Spanned<Vec<Spanned<String>>>>,
    pub separator: Option<Spanned<String>>,
    pub target_label: Option<Spanned<String>>,
    pub regex: Option<Spanned<String>>,
    pub modulus: Option<Spanned<u64>>,
    pub replacement: Option<Spanned<String>>,
    pub action: Option<Spanned<String>>,
}

/// The earliest key in the text that the SPEC names but outpost does not
/// implement yet, as (span, reason); `None` when there is none.
pub fn unsupported(raw: &RawConfig) -> Option<(Range<usize>, String)> {
    // Every key the SPEC names is implemented now; a new one is added here
    // as (name, its span) until it is.
    let _ = raw;
    let found: Vec<(&str, Option<Range<usize>>)> = Vec::new();
    let (span, what) = found
        .into_iter()
        .filter_map(|(what, span)| Some((span?, what)))
        .min_by_key(|(span, _)| span.start)?;
    Some((span, format!("{what} is not supported yet")))
}
