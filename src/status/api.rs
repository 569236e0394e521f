//! The Prometheus read API under `/api/v1/` (web/api/v1/api.go), as agent
//! mode answers it: targets, scrape pools, metadata, relabel steps, status;
//! the query family answers 422 "unavailable with Prometheus Agent". Every
//! answer is `{"status":"success","data":...}` or Prometheus's error body.
//! Pure over [`Status`] and `now`: a request only reads, and never awaits.

use std::collections::{BTreeMap, BTreeSet};
use std::time::SystemTime;

use serde_json::{Value, json};

use super::{Status, config, remote_write, rfc3339, selector};
use crate::config::duration;
use crate::model::Labels;
use crate::parse::MetricType;
use crate::scrape::metadata::Metadata;

/// An answer: status line, content type, body.
pub type Answer = (&'static str, &'static str, String);

const JSON: &str = "application/json";

/// Paths that need the query engine or rules, by the methods Prometheus
/// routes them for (api.go `wrapAgent`).
const AGENT_UNAVAILABLE: [(&str, &[&str]); 15] = [
    ("/api/v1/query", &["GET", "POST"]),
    ("/api/v1/query_range", &["GET", "POST"]),
    ("/api/v1/query_exemplars", &["GET", "POST"]),
    ("/api/v1/format_query", &["GET", "POST"]),
    ("/api/v1/parse_query", &["GET", "POST"]),
    ("/api/v1/labels", &["GET", "POST"]),
    ("/api/v1/series", &["GET", "POST"]),
    ("/api/v1/alertmanagers", &["GET"]),
    ("/api/v1/status/tsdb", &["GET"]),
    ("/api/v1/status/tsdb/blocks", &["GET"]),
    ("/api/v1/alerts", &["GET"]),
    ("/api/v1/rules", &["GET"]),
    ("/api/v1/admin/tsdb/delete_series", &["POST", "PUT"]),
    ("/api/v1/admin/tsdb/clean_tombstones", &["POST", "PUT"]),
    ("/api/v1/admin/tsdb/snapshot", &["POST", "PUT"]),
];

/// The GET endpoints served.
const SERVED: [&str; 10] = [
    "/api/v1/targets",
    "/api/v1/scrape_pools",
    "/api/v1/targets/metadata",
    "/api/v1/targets/relabel_steps",
    "/api/v1/metadata",
    "/api/v1/status/config",
    "/api/v1/status/flags",
    "/api/v1/status/buildinfo",
    "/api/v1/status/runtimeinfo",
    "/api/v1/status/remote_write",
];

/// Answers a request under `/api/v1/`; `None` for any other path.
/// `target` is the request target (path and query).
pub fn answer(method: &str, target: &str, status: &Status, now: SystemTime) -> Option<Answer> {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    if !path.starts_with("/api/v1/") {
        return None;
    }
    if method == "OPTIONS" {
        return Some(("204 No Content", JSON, String::new()));
    }
    let label_values = path.strip_prefix("/api/v1/label/").and_then(|rest| rest.strip_suffix("/values"));
    let unavailable = match AGENT_UNAVAILABLE.iter().find(|(p, _)| *p == path) {
        Some((_, methods)) => Some(*methods),
        None if label_values.is_some_and(|name| !name.is_empty() && !name.contains('/')) => {
            Some(&["GET"][..])
        }
        None => None,
    };
    if let Some(methods) = unavailable {
        return Some(match methods.contains(&method) {
            true => error("422 Unprocessable Entity", "execution", "unavailable with Prometheus Agent"),
            false => method_not_allowed(),
        });
    }
    if !SERVED.contains(&path) {
        return Some(("404 Not Found", "text/plain; charset=utf-8", "404 page not found\n".into()));
    }
    if method != "GET" {
        return Some(method_not_allowed());
    }
    let params = Params::parse(query);
    let tree = |v: Result<Value, String>| v.map(|v| v.to_string());
    let data = match path {
        "/api/v1/targets" => Ok(targets(status, &params)),
        "/api/v1/scrape_pools" => {
            tree(Ok(json!({ "scrapePools": status.with_pools(|p| p.keys().cloned().collect::<Vec<_>>()) })))
        }
        "/api/v1/targets/metadata" => tree(target_metadata(status, &params)),
        "/api/v1/metadata" => tree(metric_metadata(status, &params)),
        "/api/v1/targets/relabel_steps" => tree(relabel_steps(status, &params)),
        "/api/v1/status/config" => {
            tree(Ok(json!({ "yaml": status.config().map(|c| config::yaml(&c)).unwrap_or_default() })))
        }
        "/api/v1/status/flags" => tree(Ok(flags(status))),
        "/api/v1/status/buildinfo" => tree(Ok(buildinfo())),
        "/api/v1/status/runtimeinfo" => tree(Ok(runtimeinfo(status, now))),
        _ => tree(Ok(remote_write::data(status))),
    };
    Some(match data {
        Ok(data) => ("200 OK", JSON, format!("{{\"status\":\"success\",\"data\":{data}}}")),
        Err(message) => error("400 Bad Request", "bad_data", &message),
    })
}

fn error(status: &'static str, kind: &str, message: &str) -> Answer {
    // Prometheus's field order (serde_json's maps sort their keys).
    let (kind, message) = (Value::from(kind), Value::from(message));
    (status, JSON, format!("{{\"status\":\"error\",\"errorType\":{kind},\"error\":{message}}}"))
}

fn method_not_allowed() -> Answer {
    ("405 Method Not Allowed", "text/plain; charset=utf-8", "Method Not Allowed\n".into())
}

/// `GET /api/v1/targets`: `state` (active, dropped, any; other values show
/// neither) and `scrapePool` filter as Prometheus's (api.go `targets`).
/// Serialized from structs borrowing the status, not through a JSON tree.
fn targets(status: &Status, params: &Params) -> String {
    let pool_filter = params.get("scrapePool").unwrap_or("");
    let state = params.get("state").unwrap_or("").to_ascii_lowercase();
    let show_active = matches!(state.as_str(), "" | "any" | "active");
    let show_dropped = matches!(state.as_str(), "" | "any" | "dropped");
    let global = GlobalUrl::new(status);
    status.with_pools(|pools| {
        let wanted = |name: &String| pool_filter.is_empty() || name == pool_filter;
        let lasts: Vec<_> = pools
            .iter()
            .filter(|(name, _)| show_active && wanted(name))
            .flat_map(|(name, pool)| pool.active.iter().map(move |t| (name, t, t.health.last.borrow())))
            .collect();
        let answer = TargetsJson {
            active_targets: lasts
                .iter()
                .map(|(name, t, last)| ActiveJson {
                    discovered_labels: LabelsJson(&t.discovered),
                    labels: LabelsJson(&t.labels),
                    scrape_pool: name,
                    scrape_url: &t.url,
                    global_url: global.of(&t.url),
                    last_error: &last.error,
                    last_scrape: rfc3339(last.at),
                    last_scrape_duration: last.duration.as_secs_f64(),
                    health: last.health.as_str(),
                    scrape_interval: duration::format(t.interval),
                    scrape_timeout: duration::format(t.timeout),
                })
                .collect(),
            dropped_targets: pools
                .iter()
                .filter(|(name, _)| show_dropped && wanted(name))
                .flat_map(|(name, pool)| {
                    pool.dropped.iter().map(move |d| DroppedJson {
                        discovered_labels: LabelsJson(&d.discovered),
                        scrape_pool: name,
                    })
                })
                .collect(),
            dropped_target_counts: show_dropped
                .then(|| pools.iter().map(|(name, pool)| (name.as_str(), pool.dropped_total)).collect()),
        };
        // Borrowed strings and numbers into a String: serializing cannot fail.
        serde_json::to_string(&answer).unwrap_or_default()
    })
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct TargetsJson<'a> {
    active_targets: Vec<ActiveJson<'a>>,
    dropped_targets: Vec<DroppedJson<'a>>,
    dropped_target_counts: Option<BTreeMap<&'a str, usize>>,
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct ActiveJson<'a> {
    discovered_labels: LabelsJson<'a>,
    labels: LabelsJson<'a>,
    scrape_pool: &'a str,
    scrape_url: &'a str,
    global_url: String,
    last_error: &'a str,
    last_scrape: String,
    last_scrape_duration: f64,
    health: &'static str,
    scrape_interval: String,
    scrape_timeout: String,
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct DroppedJson<'a> {
    discovered_labels: LabelsJson<'a>,
    scrape_pool: &'a str,
}

/// A label set as a JSON object, serialized in place.
struct LabelsJson<'a>(&'a Labels);

impl serde::Serialize for LabelsJson<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|l| (l.name.as_str(), l.value.as_str())))
    }
}

/// A label set as a JSON object (Prometheus's `labels.Labels`).
pub fn labels(labels: &Labels) -> Value {
    Value::Object(labels.iter().map(|l| (l.name.clone(), Value::from(l.value.as_str()))).collect())
}

/// Prometheus's `getGlobalURL` with its default external URL
/// (`http://<hostname>:<listen port>/`): a target on localhost is shown
/// with the host name, and with our own scheme and port when it is us.
struct GlobalUrl {
    hostname: String,
    own_port: String,
}

const LOCALHOST: [&str; 3] = ["127.0.0.1", "localhost", "::1"];

impl GlobalUrl {
    fn new(status: &Status) -> Self {
        let own_port =
            status.config().and_then(|c| c.listen).map(|a| a.port().to_string()).unwrap_or_default();
        GlobalUrl { hostname: hostname(), own_port }
    }

    fn of(&self, url: &str) -> String {
        let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if !p.contains(']') => (h.trim_start_matches('[').trim_end_matches(']'), p),
            _ => (authority.trim_start_matches('[').trim_end_matches(']'), ""),
        };
        if !LOCALHOST.contains(&host) {
            return url.to_owned();
        }
        let host = self.hostname.as_str();
        match port {
            "" => format!("{scheme}://{host}{tail}"),
            p if p == self.own_port => format!("http://{host}:{p}{tail}"),
            p => format!("{scheme}://{host}:{p}{tail}"),
        }
    }
}

/// The kernel's host name (what Go's `os.Hostname` reads).
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_owned()).unwrap_or_default()
}

/// `match_target` and `limit` as Prometheus reads them (api.go `targetMetadata`).
fn target_metadata(status: &Status, params: &Params) -> Result<Value, String> {
    let limit = limit(params, "limit")?;
    let matchers = match params.get("match_target").filter(|s| !s.is_empty()) {
        Some(text) => {
            Some(selector::parse(text).map_err(|e| format!("invalid parameter \"match_target\": {e}"))?)
        }
        None => None,
    };
    let metric = params.get("metric").unwrap_or("");
    let mut out = Vec::new();
    status.with_pools(|pools| {
        for t in pools.values().flat_map(|p| &p.active) {
            if limit.is_some_and(|l| out.len() >= l) {
                break;
            }
            if matchers.as_ref().is_some_and(|m| !selector::matches(m, &t.labels)) {
                continue;
            }
            let families = t.health.families.borrow().clone();
            let Some(families) = families else { continue };
            let families = families.borrow();
            if metric.is_empty() {
                for md in families.list() {
                    out.push(json!({
                        "target": labels(&t.labels),
                        "metric": md.family,
                        "type": type_name(md.kind),
                        "help": md.help,
                        "unit": md.unit,
                    }));
                }
            } else if let Some(md) = families.get(metric) {
                out.push(json!({
                    "target": labels(&t.labels),
                    "type": type_name(md.kind),
                    "help": md.help,
                    "unit": md.unit,
                }));
            }
        }
    });
    Ok(Value::Array(out))
}

/// `GET /api/v1/metadata`: per family its distinct (type, help, unit).
fn metric_metadata(status: &Status, params: &Params) -> Result<Value, String> {
    let (limit, per_metric) = (limit(params, "limit")?, limit(params, "limit_per_metric")?);
    let metric = params.get("metric").unwrap_or("");
    let mut families: BTreeMap<String, BTreeSet<(String, String, String)>> = BTreeMap::new();
    let mut add = |md: Metadata| {
        let set = families.entry(md.family).or_default();
        if per_metric.is_none_or(|l| l == 0 || set.len() < l) {
            set.insert((type_name(md.kind).to_owned(), md.help, md.unit));
        }
    };
    status.with_pools(|pools| {
        for t in pools.values().flat_map(|p| &p.active) {
            let Some(f) = t.health.families.borrow().clone() else { continue };
            let f = f.borrow();
            if metric.is_empty() {
                f.list().for_each(&mut add);
            } else if let Some(md) = f.get(metric) {
                add(md);
            }
        }
    });
    let mut out = serde_json::Map::new();
    for (name, set) in families {
        if limit.is_some_and(|l| out.len() >= l) {
            break;
        }
        let list: Vec<Value> = set
            .into_iter()
            .map(|(kind, help, unit)| json!({"type": kind, "help": help, "unit": unit}))
            .collect();
        out.insert(name, Value::Array(list));
    }
    Ok(Value::Object(out))
}

/// A negative limit is no limit, as Prometheus's -1 default.
fn limit(params: &Params, name: &str) -> Result<Option<usize>, String> {
    match params.get(name).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => match s.parse::<i64>() {
            Ok(n) => Ok(usize::try_from(n).ok()),
            Err(_) => Err(format!("{name} must be a number")),
        },
    }
}

/// Prometheus's `model.MetricType` names.
fn type_name(kind: MetricType) -> &'static str {
    match kind {
        MetricType::Counter => "counter",
        MetricType::Gauge => "gauge",
        MetricType::Histogram => "histogram",
        MetricType::Summary => "summary",
        MetricType::Untyped => "unknown",
        MetricType::GaugeHistogram => "gaugehistogram",
        MetricType::Info => "info",
        MetricType::Stateset => "stateset",
    }
}

/// Prometheus 3.8's relabel steps: each `relabel_configs` rule of the pool
/// applied to `labels` (a JSON object), with the labels after it, `{}` once dropped.
fn relabel_steps(status: &Status, params: &Params) -> Result<Value, String> {
    let pool =
        params.get("scrapePool").filter(|s| !s.is_empty()).ok_or("no scrapePool parameter provided")?;
    let text = params.get("labels").filter(|s| !s.is_empty()).ok_or("no labels parameter provided")?;
    let given: BTreeMap<String, String> =
        serde_json::from_str(text).map_err(|e| format!("error parsing labels: {e}"))?;
    let config = status.config().ok_or("error retrieving scrape config: no configuration")?;
    let sc = config
        .scrape_configs
        .iter()
        .find(|sc| sc.job_name == pool)
        .ok_or_else(|| format!("error retrieving scrape config: scrape pool {pool:?} not found"))?;
    let mut current = Labels::from_pairs(given);
    let mut keep = true;
    let steps: Vec<Value> = sc
        .relabel_configs
        .iter()
        .map(|rule| {
            keep = keep && crate::relabel::apply_one(&mut current, rule);
            let output = if keep { labels(&current) } else { json!({}) };
            json!({ "rule": config::rule_json(rule), "output": output, "keep": keep })
        })
        .collect();
    Ok(json!({ "steps": steps }))
}

fn flags(status: &Status) -> Value {
    let config = status.config();
    json!({ "config": config.map(|c| c.origin.clone()).unwrap_or_default() })
}

/// Prometheus's `PrometheusVersion` fields; outpost is no Go program, so
/// `goVersion` is empty, and it has no branch or build user.
fn buildinfo() -> Value {
    json!({
        "version": env!("CARGO_PKG_VERSION"),
        "revision": option_env!("OUTPOST_REVISION").unwrap_or(""),
        "branch": "",
        "buildUser": "",
        "buildDate": "",
        "goVersion": "",
    })
}

/// Prometheus's `RuntimeInfo` fields; the Go runtime's are outpost's
/// equivalent where one exists (one scheduling thread: GOMAXPROCS 1).
fn runtimeinfo(status: &Status, now: SystemTime) -> Value {
    let (last, success) = status.last_config().map_or((None, false), |(t, ok)| (Some(t), ok));
    json!({
        "startTime": rfc3339(status.started.get()),
        "CWD": std::env::current_dir().map(|d| d.display().to_string()).unwrap_or_default(),
        "hostname": hostname(),
        "serverTime": rfc3339(Some(now)),
        "reloadConfigSuccess": success,
        "lastConfigTime": rfc3339(last),
        "corruptionCount": 0,
        "goroutineCount": 0,
        "GOMAXPROCS": 1,
        "GOMEMLIMIT": 0,
        "GOGC": "",
        "GODEBUG": "",
        "storageRetention": "",
    })
}

/// Query parameters, decoded as Go's `url.ParseQuery` (`+` is a space); a
/// pair that does not decode is skipped, as `r.URL.Query()` skips it.
struct Params(Vec<(String, String)>);

impl Params {
    fn parse(query: &str) -> Self {
        let pairs = query
            .split('&')
            .filter(|p| !p.is_empty())
            .filter_map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                Some((decode(k)?, decode(v)?))
            })
            .collect();
        Params(pairs)
    }

    /// The first value of `name`.
    fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

fn decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}
