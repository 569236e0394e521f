//! `http_sd_configs`, as Prometheus's discovery/http: every
//! `refresh_interval` a GET of `url` must answer 200, `Content-Type:
//! application/json` and a JSON list of `{"targets": [...], "labels": {...}}`.
//! Group `i` has source `<url>:<i>` and the label `__meta_url`. A failed
//! refresh (transport, status, content type, body, JSON) is logged once with
//! its cause and keeps the targets of the last good one. [`parse`] is pure.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use crate::timer::Timer;
use serde::Deserialize;

use super::{Group, Updates};
use crate::client::{Client, describe};
use crate::config::HttpSdConfig;
use crate::model::Labels;
use crate::model::labels::is_valid_name;
use crate::offload::Offload;

/// The label naming the URL a target came from.
pub const URL_LABEL: &str = "__meta_url";
/// A larger body is a failed refresh (Prometheus reads any size; a device cannot).
pub const MAX_BODY_BYTES: u64 = 16 << 20;

/// Failed refreshes of every HTTP provider, as Prometheus's `prometheus_sd_http_failures_total`
/// (one process-wide counter: it has no labels there either).
static FAILURES: AtomicU64 = AtomicU64::new(0);
/// Whether an HTTP provider ran: Prometheus exports
/// `prometheus_sd_refresh_failures_total{mechanism="http"}` once one exists.
static STARTED: AtomicBool = AtomicBool::new(false);

/// Refresh failures so far, and whether any HTTP provider has started.
pub fn failures() -> (u64, bool) {
    (FAILURES.load(Ordering::Relaxed), STARTED.load(Ordering::Relaxed))
}

/// One element of the list, as Go's json.Unmarshal reads `targetgroup.Group`:
/// unknown keys are ignored, a missing key is empty.
#[derive(Deserialize)]
struct RawGroup {
    #[serde(default)]
    targets: Option<Vec<String>>,
    #[serde(default)]
    labels: Option<BTreeMap<String, String>>,
}

/// The groups of one response body fetched from `url`.
pub fn parse(body: &[u8], url: &str) -> Result<Vec<Group>, String> {
    let raw: Option<Vec<Option<RawGroup>>> =
        serde_json::from_slice(body).map_err(|e| format!("malformed JSON: {e}"))?;
    let mut groups = Vec::new();
    for (i, group) in raw.unwrap_or_default().into_iter().enumerate() {
        let Some(group) = group else { return Err(format!("group {i}: nil target group item found")) };
        let mut labels = Labels::new();
        for (name, value) in group.labels.unwrap_or_default() {
            if !is_valid_name(&name) {
                return Err(format!("group {i}: {name:?} is not a valid label name"));
            }
            labels.set(name, value);
        }
        labels.set(URL_LABEL.into(), url.to_owned());
        let targets = group.targets.unwrap_or_default();
        let targets = targets.into_iter().map(|t| Labels::from_pairs([("__address__", t)])).collect();
        groups.push(Group { source: source(url, i), targets, labels });
    }
    Ok(groups)
}

fn source(url: &str, i: usize) -> String {
    format!("{url}:{i}")
}

/// Prometheus's `^(?i:application/json(;\s*charset=("utf-8"|utf-8))?)$`,
/// on the trimmed header value.
pub fn is_json(content_type: &str) -> bool {
    let value = content_type.trim().to_ascii_lowercase();
    let Some(rest) = value.strip_prefix("application/json") else { return false };
    if rest.is_empty() {
        return true;
    }
    let Some(params) = rest.strip_prefix(';') else { return false };
    matches!(params.trim_start().strip_prefix("charset="), Some("utf-8" | "\"utf-8\""))
}

/// The groups of the last good refresh.
#[derive(Default)]
pub struct State {
    last: Vec<Group>,
}

impl State {
    /// Takes a good refresh's groups; returns those that changed, with an
    /// empty group for each index the list no longer has.
    pub fn refresh(&mut self, groups: Vec<Group>) -> Vec<Group> {
        let mut changed: Vec<Group> = groups.iter().filter(|g| !self.last.contains(g)).cloned().collect();
        let gone = self.last.iter().skip(groups.len());
        changed.extend(gone.map(|g| Group { source: g.source.clone(), ..Group::default() }));
        self.last = groups;
        changed
    }
}

/// One GET: the body of a 200 answer with a JSON content type, or why not.
fn fetch(client: &Client, url: &str, interval: Duration) -> Result<Vec<u8>, String> {
    let seconds = interval.as_secs_f64();
    let response = client
        .get(url)
        .header("Accept", "application/json")
        .header("X-Prometheus-Refresh-Interval-Seconds", seconds.to_string())
        .call();
    let mut response = response.map_err(|e| describe(&e))?;
    let status = response.status().as_u16();
    client.answered(status, &format!("http_sd {url}"));
    if status != 200 {
        return Err(format!("server returned HTTP status {status}"));
    }
    let content_type = response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
    if !is_json(content_type) {
        return Err(format!("unsupported content type {content_type:?}"));
    }
    let body = response.body_mut().with_config().limit(MAX_BODY_BYTES).read_to_vec();
    body.map_err(|e| match e {
        ureq::Error::BodyExceedsLimit(_) => format!("body larger than {MAX_BODY_BYTES} bytes"),
        e => format!("reading the body: {}", describe(&e)),
    })
}

/// Runs the provider: one refresh now, then every `refresh_interval`; each
/// request times out after `refresh_interval`, as in Prometheus.
pub async fn run(config: HttpSdConfig, updates: Updates, offload: &Offload) {
    let url = config.url.clone();
    let interval = config.refresh_interval;
    let mut state = State::default();
    let mut client: Option<Client> = None;
    let mut trouble: Option<String> = None;
    let mut first = true;
    STARTED.store(true, Ordering::Relaxed);
    loop {
        let result = match &client {
            Some(c) => Ok(c.clone()),
            None => Client::new(&config.http_client, interval).map_err(|e| format!("client: {e}")),
        };
        let result = match result {
            Ok(c) => {
                client = Some(c.clone());
                let u = url.clone();
                let body = offload.run(move || fetch(&c, &u, interval)).await;
                body.and_then(|b| parse(&b, &url))
            }
            Err(e) => Err(e),
        };
        match result {
            Ok(groups) => {
                if trouble.take().is_some() {
                    log::info!("http_sd {url}: refreshed again");
                }
                let changed = state.refresh(groups);
                if (first || !changed.is_empty()) && !updates.send(changed).await {
                    return;
                }
                first = false;
            }
            Err(e) => {
                FAILURES.fetch_add(1, Ordering::Relaxed);
                if trouble.as_ref() != Some(&e) {
                    log::error!("http_sd {url}: {e}; keeping the targets of the last good refresh");
                    trouble = Some(e);
                }
            }
        }
        Timer::after(interval).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "http://sd.lan/targets";

    #[test]
    fn groups_get_sources_and_the_url_label() {
        let body = br#"[{"targets":["a:1","b:2"],"labels":{"env":"edge"},"extra":1},{"targets":["c:3"]},{}]"#;
        let groups = parse(body, URL).expect("valid");
        assert_eq!(groups.len(), 3);
        assert_eq!(groups[0].source, "http://sd.lan/targets:0");
        assert_eq!(groups[0].targets[1].get("__address__"), Some("b:2"));
        assert_eq!(groups[0].labels.get("env"), Some("edge"));
        assert_eq!(groups[1].labels.get(URL_LABEL), Some(URL));
        assert!(groups[2].targets.is_empty());
        assert_eq!(parse(b"[]", URL), Ok(vec![]));
        assert_eq!(parse(b"null", URL), Ok(vec![]));
    }

    #[test]
    fn bad_bodies_are_named() {
        let cases: [(&[u8], &str); 5] = [
            (b"[{\"targets\":[\"a:1\"]", "malformed JSON: EOF while parsing"),
            (b"{\"targets\":[]}", "malformed JSON: invalid type: map"),
            (b"[null]", "group 0: nil target group item found"),
            (br#"[{"targets":["a:1"],"labels":{"a-b":"x"}}]"#, "group 0: \"a-b\" is not a valid label name"),
            (br#"[{"targets":[1]}]"#, "malformed JSON: invalid type: integer"),
        ];
        for (body, want) in cases {
            let err = parse(body, URL).expect_err("bad body");
            assert!(err.starts_with(want), "{err:?} should start with {want:?}");
        }
    }

    #[test]
    fn content_type_as_prometheus_matches_it() {
        for ok in [
            "application/json",
            " Application/JSON ",
            "application/json; charset=utf-8",
            "application/json;charset=\"UTF-8\"",
        ] {
            assert!(is_json(ok), "{ok}");
        }
        for bad in
            ["", "text/plain", "application/json; charset=latin1", "application/jsonx", "application/json;"]
        {
            assert!(!is_json(bad), "{bad}");
        }
    }

    #[test]
    fn a_shorter_list_removes_the_missing_indexes_and_unchanged_groups_are_not_resent() {
        let mut state = State::default();
        let two = parse(br#"[{"targets":["a:1"]},{"targets":["b:1"]}]"#, URL).expect("valid");
        assert_eq!(state.refresh(two.clone()).len(), 2);
        assert_eq!(state.refresh(two), vec![]);
        let one = parse(br#"[{"targets":["a:1"]}]"#, URL).expect("valid");
        let changed = state.refresh(one);
        assert_eq!(changed, vec![Group { source: format!("{URL}:1"), ..Group::default() }]);
    }
}
