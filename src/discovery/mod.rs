//! Targets: what to scrape and the labels every one of its series carries.

pub mod kubernetes;
pub mod static_sd;

use std::time::Duration;

use crate::config::{ScrapeConfig, duration};
use crate::model::Labels;
use crate::relabel;

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
}

/// Turns a discovered label set (with `__address__`) into a target, as
/// Prometheus's PopulateLabels does: the job's defaults are added where
/// absent (`job`, `__scheme__`, `__metrics_path__`, `__scrape_interval__`,
/// `__scrape_timeout__`, `__param_<name>`), `relabel_configs` run (`None`: the
/// target is dropped), `instance` defaults to `__address__`, the URL is built
/// from the `__` labels, and then every `__` label and empty value goes.
pub fn populate(mut labels: Labels, sc: &ScrapeConfig) -> Result<Option<Target>, String> {
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
    if !relabel::process(&mut labels, &sc.relabel_configs) {
        return Ok(None);
    }
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
    Ok(Some(Target {
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
        },
        metric_relabel: sc.metric_relabel_configs.clone(),
    }))
}

/// Percent-encodes a query component: unreserved characters stay.
fn percent_encode(text: &str) -> String {
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
