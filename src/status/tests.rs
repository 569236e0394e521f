use super::*;
use crate::discovery::targets::populate_job;
use crate::discovery::{Group, Target};
use serde_json::{Value, json};

#[test]
fn rfc3339_as_go_marshals_time() {
    assert_eq!(rfc3339(None), "0001-01-01T00:00:00Z");
    let t = std::time::UNIX_EPOCH + Duration::new(1_700_000_000, 120_000_000);
    assert_eq!(rfc3339(Some(t)), "2023-11-14T22:13:20.12Z");
    let t = std::time::UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
    assert_eq!(rfc3339(Some(t)), "2000-02-29T00:00:00Z");
}

const SECRETS: [&str; 4] = ["hunter2", "tok3n", "urlpass", "orgsecret"];

const CONFIG: &str = r#"listen = "127.0.0.1:9464"
[[remote_write]]
url = "https://user:urlpass@r:9090/api/v1/write"
headers = { "X-Scope-OrgID" = "orgsecret" }
authorization = { type = "Bearer", credentials = "tok3n" }
[[scrape_configs]]
job_name = "a"
keep_dropped_targets = 1
basic_auth = { username = "edge", password = "hunter2" }
[[scrape_configs.relabel_configs]]
source_labels = ["__address__"]
regex = "drop.*"
action = "drop"
[[scrape_configs.relabel_configs]]
source_labels = ["__address__"]
regex = "(.*):.*"
target_label = "host"
[[scrape_configs]]
job_name = "b"
"#;

/// A status with CONFIG and job `a` discovered from `addresses`; every
/// active target gets a fresh health.
fn status(addresses: &[&str]) -> Status {
    let config = Rc::new(crate::config::parse(CONFIG, "t.toml").expect("valid config"));
    let status = Status::default();
    status.set_config(config.clone(), SystemTime::now());
    let group = Group {
        source: "s".into(),
        targets: addresses.iter().map(|a| Labels::from_pairs([("__address__", *a)])).collect(),
        labels: Labels::new(),
    };
    for sc in &config.scrape_configs {
        let groups: Vec<&Group> = if sc.job_name == "a" { vec![&group] } else { vec![] };
        let targets = populate_job(groups, sc);
        status.set_pool(&sc.job_name, targets, sc.keep_dropped_targets, |_: &Target| Some(Rc::default()));
    }
    status
}

fn get(status: &Status, target: &str) -> (&'static str, Value) {
    let (code, kind, body) = api::answer("GET", target, status, SystemTime::now()).expect("an API path");
    assert_eq!(kind, "application/json", "{target}");
    (code, serde_json::from_str(&body).unwrap_or_else(|e| panic!("{target}: {e}: {body}")))
}

fn data(status: &Status, target: &str) -> Value {
    let (code, body) = get(status, target);
    assert_eq!((code, &body["status"]), ("200 OK", &json!("success")), "{target}: {body}");
    body["data"].clone()
}

#[test]
fn targets_before_the_first_scrape_and_the_dropped_ones() {
    let s = status(&["h1:9100", "drop-me:1", "drop-too:2"]);
    let d = data(&s, "/api/v1/targets");
    let active = d["activeTargets"].as_array().expect("a list");
    assert_eq!(active.len(), 1);
    let t = &active[0];
    assert_eq!(t["health"], "unknown");
    assert_eq!(t["lastScrape"], "0001-01-01T00:00:00Z", "Go's zero time before the first scrape");
    assert_eq!(t["lastError"], "");
    assert_eq!(t["lastScrapeDuration"], 0.0);
    assert_eq!(t["labels"], json!({"host": "h1", "instance": "h1:9100", "job": "a"}));
    assert_eq!(
        t["discoveredLabels"],
        json!({"__address__": "h1:9100", "__metrics_path__": "/metrics", "__scheme__": "http",
               "__scrape_interval__": "1m", "__scrape_timeout__": "10s", "job": "a"})
    );
    assert_eq!(
        (&t["scrapeUrl"], &t["scrapeInterval"], &t["scrapeTimeout"]),
        (&json!("http://h1:9100/metrics"), &json!("1m"), &json!("10s"))
    );
    // keep_dropped_targets = 1: one kept, both counted; pool b has none and is listed.
    assert_eq!(d["droppedTargets"].as_array().map(Vec::len), Some(1));
    assert_eq!(d["droppedTargets"][0]["scrapePool"], "a");
    assert_eq!(d["droppedTargets"][0]["discoveredLabels"]["__address__"], "drop-me:1");
    assert_eq!(d["droppedTargetCounts"], json!({"a": 2, "b": 0}));
    assert_eq!(data(&s, "/api/v1/scrape_pools"), json!({"scrapePools": ["a", "b"]}));

    let pools = s.with_pools(|p| p["a"].active[0].health.clone());
    let at = std::time::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    pools.scraped(at, Duration::from_millis(250), Some("connection refused"));
    let t = data(&s, "/api/v1/targets?state=active")["activeTargets"][0].clone();
    assert_eq!(
        (&t["health"], &t["lastError"], &t["lastScrape"]),
        (&json!("down"), &json!("connection refused"), &json!("2023-11-14T22:13:20Z"))
    );
    assert_eq!(t["lastScrapeDuration"], 0.25);
}

#[test]
fn state_and_scrape_pool_filter_as_prometheus() {
    let s = status(&["h1:9100", "drop-me:1"]);
    let count = |d: &Value| {
        (d["activeTargets"].as_array().map(Vec::len), d["droppedTargets"].as_array().map(Vec::len))
    };
    let cases = [
        ("", (Some(1), Some(1))),
        ("?state=active", (Some(1), Some(0))),
        ("?state=DROPPED", (Some(0), Some(1))),
        ("?state=any&scrapePool=b", (Some(0), Some(0))),
        ("?scrapePool=a", (Some(1), Some(1))),
        ("?state=nonsense", (Some(0), Some(0))),
    ];
    for (query, want) in cases {
        let d = data(&s, &format!("/api/v1/targets{query}"));
        assert_eq!(count(&d), want, "{query}");
    }
    // droppedTargetCounts: every pool whatever scrapePool says; null when dropped are not shown.
    assert_eq!(data(&s, "/api/v1/targets?scrapePool=b")["droppedTargetCounts"], json!({"a": 1, "b": 0}));
    assert_eq!(data(&s, "/api/v1/targets?state=active")["droppedTargetCounts"], Value::Null);
}

#[test]
fn relabel_steps_as_prometheus_3_8() {
    let s = status(&[]);
    let labels = api_encode(r#"{"__address__":"h1:9100","job":"a"}"#);
    let d = data(&s, &format!("/api/v1/targets/relabel_steps?scrapePool=a&labels={labels}"));
    let steps = d["steps"].as_array().expect("steps");
    assert_eq!(steps.len(), 2);
    assert_eq!(
        steps[0],
        json!({"rule": {"source_labels": ["__address__"], "separator": ";", "regex": "drop.*", "replacement": "$1", "action": "drop"},
               "output": {"__address__": "h1:9100", "job": "a"}, "keep": true})
    );
    assert_eq!(steps[1]["output"], json!({"__address__": "h1:9100", "host": "h1", "job": "a"}));
    assert_eq!(steps[1]["rule"]["target_label"], "host");
    let dropped = api_encode(r#"{"__address__":"drop-me:1"}"#);
    let d = data(&s, &format!("/api/v1/targets/relabel_steps?scrapePool=a&labels={dropped}"));
    assert_eq!(d["steps"][0]["keep"], false);
    assert_eq!(d["steps"][0]["output"], json!({}));
    assert_eq!(
        d["steps"][1],
        json!({"rule": d["steps"][1]["rule"], "output": {}, "keep": false}),
        "dropped stays dropped"
    );
    for (query, error) in [
        ("", "no scrapePool parameter provided"),
        ("?scrapePool=a", "no labels parameter provided"),
        ("?scrapePool=zz&labels=%7B%7D", "error retrieving scrape config: scrape pool \"zz\" not found"),
    ] {
        let (code, body) = get(&s, &format!("/api/v1/targets/relabel_steps{query}"));
        assert_eq!(code, "400 Bad Request", "{query}");
        assert_eq!(body, json!({"status": "error", "errorType": "bad_data", "error": error}), "{query}");
    }
    let (code, body) = get(&s, "/api/v1/targets/relabel_steps?scrapePool=a&labels=%7Bx");
    assert_eq!((code, &body["errorType"]), ("400 Bad Request", &json!("bad_data")));
    assert!(body["error"].as_str().unwrap_or("").starts_with("error parsing labels: "), "{body}");
}

fn api_encode(text: &str) -> String {
    crate::discovery::percent_encode(text)
}

#[test]
fn no_answer_holds_a_secret() {
    let s = status(&["h1:9100"]);
    let yaml = data(&s, "/api/v1/status/config")["yaml"].as_str().expect("yaml").to_owned();
    for secret in SECRETS {
        assert!(!yaml.contains(secret), "{secret} in {yaml}");
    }
    assert!(yaml.contains("password: <secret>") && yaml.contains("credentials: <secret>"), "{yaml}");
    assert!(yaml.contains("https://user:<secret>@r:9090/api/v1/write"), "{yaml}");
    assert!(yaml.contains("X-Scope-OrgID: <secret>"), "{yaml}");
    assert!(yaml.contains("keep_dropped_targets: 1") && yaml.contains("regex: drop.*"), "{yaml}");
    let parsed: serde_yaml_ng::Value = serde_yaml_ng::from_str(&yaml).expect("valid YAML");
    assert_eq!(parsed["scrape_configs"][0]["job_name"].as_str(), Some("a"));
    let queue = Rc::new(crate::telemetry::QueueMetrics::new("r", "https://user:urlpass@r:9090/api/v1/write"));
    s.add_queue(queue, Rc::default());
    for path in [
        "/api/v1/targets",
        "/api/v1/status/flags",
        "/api/v1/status/buildinfo",
        "/api/v1/status/runtimeinfo",
        "/api/v1/status/remote_write",
        "/api/v1/targets/metadata",
        "/api/v1/metadata",
    ] {
        let body = data(&s, path).to_string();
        for secret in SECRETS {
            assert!(!body.contains(secret), "{secret} in {path}: {body}");
        }
    }
}

#[test]
fn errors_methods_and_unknown_paths_as_prometheus() {
    let s = status(&[]);
    let unavailable =
        r#"{"status":"error","errorType":"execution","error":"unavailable with Prometheus Agent"}"#;
    for (method, path) in [
        ("GET", "/api/v1/query?query=up"),
        ("POST", "/api/v1/query_range"),
        ("GET", "/api/v1/label/job/values"),
        ("POST", "/api/v1/series"),
        ("GET", "/api/v1/rules"),
        ("PUT", "/api/v1/admin/tsdb/snapshot"),
    ] {
        let answer = api::answer(method, path, &s, SystemTime::now()).expect("API path");
        assert_eq!(
            (answer.0, answer.2.as_str()),
            ("422 Unprocessable Entity", unavailable),
            "{method} {path}"
        );
    }
    let code = |method, path| api::answer(method, path, &s, SystemTime::now()).map(|a| a.0);
    assert_eq!(code("POST", "/api/v1/targets"), Some("405 Method Not Allowed"));
    assert_eq!(code("GET", "/api/v1/admin/tsdb/snapshot"), Some("405 Method Not Allowed"));
    assert_eq!(code("GET", "/api/v1/nope"), Some("404 Not Found"));
    assert_eq!(code("GET", "/api/v1/label//values"), Some("404 Not Found"));
    assert_eq!(code("OPTIONS", "/api/v1/targets"), Some("204 No Content"));
    assert_eq!(code("GET", "/metrics"), None, "not the API's");
    for (path, error) in [
        ("/api/v1/targets/metadata?limit=x", "limit must be a number"),
        ("/api/v1/metadata?limit_per_metric=1.5", "limit_per_metric must be a number"),
    ] {
        assert_eq!(
            get(&s, path),
            ("400 Bad Request", json!({"status": "error", "errorType": "bad_data", "error": error}))
        );
    }
    let (code, body) = get(&s, "/api/v1/targets/metadata?match_target=%7Bjob%3D");
    assert_eq!(code, "400 Bad Request");
    assert!(
        body["error"].as_str().unwrap_or("").starts_with("invalid parameter \"match_target\": "),
        "{body}"
    );
    // Undecodable pairs are skipped, as Go's URL.Query skips them.
    assert_eq!(get(&s, "/api/v1/targets?state=%zz&x").0, "200 OK");
}

#[test]
fn metadata_per_target_and_per_family() {
    let s = status(&["h1:9100", "h2:9100"]);
    let families: Vec<_> = s.with_pools(|p| {
        p["a"]
            .active
            .iter()
            .map(|t| {
                let f = Rc::new(RefCell::new(Families::default()));
                *t.health.families.borrow_mut() = Some(f.clone());
                f
            })
            .collect()
    });
    let body = "# HELP up_total Ups.\n# TYPE up_total counter\n# TYPE g gauge\n";
    for (i, f) in families.iter().enumerate() {
        for entry in crate::parse::parser(crate::parse::Format::Text, body).map_while(Result::ok) {
            f.borrow_mut().record(&entry, crate::parse::Format::Text);
        }
        if i == 1 {
            let other = "# HELP g Other help.\n";
            for entry in crate::parse::parser(crate::parse::Format::Text, other).map_while(Result::ok) {
                f.borrow_mut().record(&entry, crate::parse::Format::Text);
            }
        }
    }
    let all = data(&s, "/api/v1/targets/metadata");
    assert_eq!(all.as_array().map(Vec::len), Some(4));
    assert_eq!(
        all[0],
        json!({"target": {"host": "h1", "instance": "h1:9100", "job": "a"}, "metric": "up_total", "type": "counter", "help": "Ups.", "unit": ""})
    );
    let one = data(&s, "/api/v1/targets/metadata?metric=g&match_target=%7Binstance%3D~%22h2.%2A%22%7D");
    assert_eq!(
        one,
        json!([{"target": {"host": "h2", "instance": "h2:9100", "job": "a"}, "type": "gauge", "help": "Other help.", "unit": ""}])
    );
    assert_eq!(
        data(&s, "/api/v1/targets/metadata?limit=1").as_array().map(Vec::len),
        Some(2),
        "limit counts before a target, as Prometheus"
    );
    let per_family = data(&s, "/api/v1/metadata");
    assert_eq!(per_family["up_total"], json!([{"type": "counter", "help": "Ups.", "unit": ""}]));
    assert_eq!(per_family["g"].as_array().map(Vec::len), Some(2));
    assert_eq!(data(&s, "/api/v1/metadata?limit_per_metric=1")["g"].as_array().map(Vec::len), Some(1));
    assert_eq!(data(&s, "/api/v1/metadata?limit=1").as_object().map(|o| o.len()), Some(1));
    assert_eq!(data(&s, "/api/v1/metadata?metric=g").as_object().map(|o| o.len()), Some(1));
}

#[test]
fn remote_write_status_shows_outage_backlog_and_drops() {
    let s = Status::default();
    let metrics = Rc::new(crate::telemetry::QueueMetrics::new("central", "http://c:9090/api/v1/write"));
    let state = Rc::new(QueueStatus::default());
    s.add_queue(metrics.clone(), state.clone());
    let q = data(&s, "/api/v1/status/remote_write")["queues"][0].clone();
    assert_eq!(
        (&q["state"], &q["outageSince"], &q["lastError"]),
        (&json!("healthy"), &Value::Null, &json!(""))
    );
    let since = std::time::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    state.outage_since.set(Some(since));
    state.failed("connection refused".into());
    state.samples_on_disk.set(1000);
    state.samples_in_memory.set(20);
    state.oldest_unsent_ms.set(Some(1_700_000_000_500));
    metrics.highest_sent_timestamp_ms.set(1_699_999_999_000);
    metrics.dropped(crate::model::DropReason::TooOld, 7);
    let q = data(&s, "/api/v1/status/remote_write")["queues"][0].clone();
    assert_eq!(q["state"], "outage");
    assert_eq!(q["outageSince"], "2023-11-14T22:13:20Z");
    assert_eq!(q["lastError"], "connection refused");
    assert_eq!((&q["disk"]["samples"], &q["memory"]["samples"]), (&json!(1000), &json!(20)));
    assert_eq!(q["oldestUnsentTimestamp"], "2023-11-14T22:13:20.5Z");
    assert_eq!(q["newestSentTimestamp"], "2023-11-14T22:13:19Z");
    assert_eq!(q["droppedSamples"][crate::model::DropReason::TooOld.label()], 7);
    state.outage_since.set(None);
    assert_eq!(data(&s, "/api/v1/status/remote_write")["queues"][0]["state"], "draining");
    state.failed("x".repeat(10_000));
    assert!(state.last_error.borrow().as_ref().is_some_and(|(_, e)| e.len() < 600), "bounded");
}

#[test]
fn malformed_requests_never_panic() {
    let s = status(&["h1:9100", "drop-me:1"]);
    let pieces = [
        "/api/v1/",
        "targets",
        "targets/metadata",
        "metadata",
        "targets/relabel_steps",
        "label/",
        "/values",
        "?",
        "&",
        "=",
        "%",
        "%4",
        "%zz",
        "%e2%82",
        "+",
        "é",
        "state=",
        "scrapePool=",
        "match_target=",
        "%7B",
        "%7D",
        "job",
        "%3D~",
        "%22",
        "%27",
        "`",
        "%5C",
        "limit=",
        "-1",
        "labels=",
        "metric=",
        "\u{0}",
    ];
    let mut rng = 0x2545_f491_4f6c_dd1d_u64;
    for _ in 0..20_000 {
        let mut target = String::from("/api/v1/");
        for _ in 0..(rng % 9) {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            target.push_str(pieces[(rng % pieces.len() as u64) as usize]);
        }
        for method in ["GET", "POST", "DELETE"] {
            let answer = api::answer(method, &target, &s, SystemTime::now()).expect("an API path");
            assert!(!answer.0.starts_with('5'), "{method} {target}: {answer:?}");
        }
    }
}
