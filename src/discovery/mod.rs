//! Targets: what to scrape and the labels every one of its series carries.
//!
//! Discovery is shaped like Prometheus's discovery manager, small. Each
//! `*_sd_configs` entry of a scrape config is one *provider*: a future that
//! runs on the agent's executor and sends [`Group`]s through its [`Updates`]
//! handle. The agent keeps the latest group per (provider, source), turns a
//! job's groups into [`Target`]s with [`populate`], and diffs them against the
//! running scrape loops ([`targets::diff`]).
//!
//! # Writing a provider
//! A provider is `async fn run(config, updates: Updates, offload: &Offload)`,
//! added as a [`Provider`] variant and an arm in [`Provider::run`]:
//! - Its first send is its whole target set (possibly empty): it replaces
//!   every group the agent held for this provider. Later sends carry only the
//!   groups that changed; a group replaces the one with the same `source`, and
//!   a group with no targets removes that source (Prometheus's semantics).
//! - `source` is unique within the provider and stable (e.g. a file path and
//!   index, `namespace/pod`), so that an unchanged object keeps its targets.
//! - Each target's labels carry `__address__` and any `__meta_*`; the group's
//!   `labels` apply to every target that lacks them.
//! - It never blocks the executor thread: file reads and HTTP go through
//!   `Offload` (a watch that blocks for good holds one of its threads).
//! - It runs until its future is dropped (the config changed on reload, or
//!   the agent stops); `Updates::send` returning `false` means nobody listens
//!   any more, and it should return.
//! - On errors it logs the cause, retries with backoff and keeps its previous
//!   groups (it sends nothing), so known targets keep being scraped.

pub mod file_sd;
pub mod http_sd;
pub mod kubernetes;
pub mod providers;
pub mod static_sd;
pub mod targets;

pub use targets::{Diff, Key};

use std::time::Duration;

use smol::channel::Sender;

use crate::config::{FileSdConfig, HttpSdConfig, KubernetesSdConfig, ScrapeBudget, ScrapeConfig, duration};
use crate::model::Labels;
use crate::offload::Offload;
use crate::relabel;

/// A target group: the targets one provider knows from one source
/// (Prometheus's `targetgroup.Group`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Group {
    /// Unique and stable within the provider, e.g. `/etc/sd/a.json:0`.
    pub source: String,
    /// One label set per target, each with `__address__` and any `__meta_*`.
    pub targets: Vec<Labels>,
    /// Labels for every target of the group; a target's own label wins.
    pub labels: Labels,
}

/// Names one running provider. Given by the agent, unique for the life of
/// the process: a provider restarted on reload gets a new one, so updates a
/// stopped provider left in the channel are recognised and ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProviderId(pub u64);

/// What a provider sends: its id and the groups that changed.
pub type Update = (ProviderId, Vec<Group>);

/// A provider's handle on the channel into the agent.
#[derive(Clone, Debug)]
pub struct Updates {
    pub id: ProviderId,
    pub tx: Sender<Update>,
}

impl Updates {
    /// Sends `groups` to the agent; `false` when the agent no longer listens.
    pub async fn send(&self, groups: Vec<Group>) -> bool {
        self.tx.send((self.id, groups)).await.is_ok()
    }
}

/// One `*_sd_configs` entry of a scrape config. Two equal values are the same
/// provider: on reload a provider whose config is unchanged keeps running.
#[derive(Clone, Debug, PartialEq)]
pub enum Provider {
    File(FileSdConfig),
    Kubernetes(Box<KubernetesSdConfig>),
    Http(HttpSdConfig),
}

impl Provider {
    /// Every provider of `sc`, in configuration order (static_configs are
    /// not providers: their groups are known at load, [`static_sd::groups`]).
    pub fn of(sc: &ScrapeConfig) -> Vec<Provider> {
        let files = sc.file_sd_configs.iter().cloned().map(Provider::File);
        let kubernetes = sc.kubernetes_sd_configs.iter().map(|k| Provider::Kubernetes(Box::new(k.clone())));
        let http = sc.http_sd_configs.iter().cloned().map(Provider::Http);
        files.chain(kubernetes).chain(http).collect()
    }

    /// Runs the provider until the future is dropped or the agent stops listening.
    pub async fn run(self, updates: Updates, offload: &Offload) {
        match self {
            Provider::File(config) => file_sd::run(config, updates, offload).await,
            Provider::Http(config) => http_sd::run(config, updates, offload).await,
            // Watches block for good: their own threads, not the offload pool (kubernetes/watch.rs).
            Provider::Kubernetes(config) => {
                kubernetes::watch::run(*config, updates, Default::default()).await
            }
        }
    }
}

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
    /// `metric_relabel_configs`, applied to each new series.
    pub metric_relabel: Vec<relabel::Rule>,
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
    /// outpost's own bounds of what one scrape may hold.
    pub budget: ScrapeBudget,
}

/// Turns a discovered label set (with `__address__`) into a target, as
/// Prometheus's PopulateLabels does: the job's defaults are added where
/// absent (`job`, `__scheme__`, `__metrics_path__`, `__scrape_interval__`,
/// `__scrape_timeout__`, `__param_<name>`), `relabel_configs` run (`None`: the
/// target is dropped), `instance` defaults to `__address__`, the URL is built
/// from the `__` labels, and then every `__` label and empty value goes.
pub fn populate(labels: Labels, sc: &ScrapeConfig) -> Result<Option<Target>, String> {
    match populate_traced(labels, sc).1 {
        Populated::Target(target) => Ok(Some(target)),
        Populated::Dropped(_) => Ok(None),
        Populated::Failed(reason) => Err(reason),
    }
}

/// What became of one discovered label set.
#[derive(Clone, Debug, PartialEq)]
pub enum Populated {
    Target(Target),
    /// Dropped by the `relabel_configs` rule at this index.
    Dropped(usize),
    /// Not a target: the reason (no address, a bad interval, ...).
    Failed(String),
}

/// As [`populate`], and also returns the discovered labels: the label set
/// with the job's defaults added, before relabeling (Prometheus's
/// `discoveredLabels`).
pub fn populate_traced(mut labels: Labels, sc: &ScrapeConfig) -> (Labels, Populated) {
    let defaults = [
        ("job", sc.job_name.clone()),
        ("__scheme__", sc.scheme.as_str().to_owned()),
        ("__metrics_path__", sc.metrics_path.clone()),
        ("__scrape_interval__", duration::format(sc.scrape_interval)),
        ("__scrape_timeout__", duration::format(sc.scrape_timeout)),
    ];
    let params = sc.params.iter().filter_map(|(k, v)| Some((format!("__param_{k}"), v.first()?.clone())));
    for (name, value) in defaults.into_iter().map(|(n, v)| (n.to_owned(), v)).chain(params) {
        if labels.get(&name).is_none_or(str::is_empty) {
            labels.set(name, value);
        }
    }
    let discovered = labels.clone();
    if let Some(rule) = relabel::first_drop(&mut labels, &sc.relabel_configs) {
        return (discovered, Populated::Dropped(rule));
    }
    let populated = match build(labels, sc) {
        Ok(target) => Populated::Target(target),
        Err(reason) => Populated::Failed(reason),
    };
    (discovered, populated)
}

/// The target of a relabeled label set.
fn build(mut labels: Labels, sc: &ScrapeConfig) -> Result<Target, String> {
    let get = |name: &str| labels.get(name).unwrap_or("").to_owned();
    let address = get("__address__");
    if address.is_empty() {
        return Err("no __address__ after relabeling".into());
    }
    let interval = duration::parse(&get("__scrape_interval__"))
        .map_err(|e| format!("__scrape_interval__ {:?}: {e}", get("__scrape_interval__")))?;
    let timeout = duration::parse(&get("__scrape_timeout__"))
        .map_err(|e| format!("__scrape_timeout__ {:?}: {e}", get("__scrape_timeout__")))?;
    if interval.is_zero() || timeout > interval {
        return Err(format!("scrape timeout {timeout:?} above interval {interval:?}"));
    }
    let mut url = format!("{}://{}{}", get("__scheme__"), address, get("__metrics_path__"));
    // The job's params, each replaced by its `__param_` label when that is set.
    let mut query: Vec<(String, Vec<String>)> =
        sc.params.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    for l in labels.iter().filter(|l| l.name.starts_with("__param_") && !l.value.is_empty()) {
        let name = &l.name["__param_".len()..];
        match query.iter_mut().find(|(k, _)| k == name) {
            Some((_, values)) => *values = vec![l.value.clone()],
            None => query.push((name.to_owned(), vec![l.value.clone()])),
        }
    }
    for (i, (name, value)) in query.iter().flat_map(|(k, vs)| vs.iter().map(move |v| (k, v))).enumerate() {
        url.push(if i == 0 && !url.contains('?') { '?' } else { '&' });
        url.push_str(&percent_encode(name));
        url.push('=');
        url.push_str(&percent_encode(value));
    }
    if labels.get("instance").is_none_or(str::is_empty) {
        labels.set("instance".into(), address);
    }
    labels.retain(|l| !l.name.starts_with("__") && !l.value.is_empty());
    Ok(Target {
        labels,
        url,
        interval,
        timeout,
        honor_labels: sc.honor_labels,
        honor_timestamps: sc.honor_timestamps,
        limits: Limits {
            sample: sc.sample_limit,
            label: sc.label_limit,
            label_name_length: sc.label_name_length_limit,
            label_value_length: sc.label_value_length_limit,
            body_size: sc.body_size_limit,
            budget: sc.budget,
        },
        metric_relabel: sc.metric_relabel_configs.clone(),
    })
}

/// Percent-encodes a query component: unreserved characters stay.
pub(crate) fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
