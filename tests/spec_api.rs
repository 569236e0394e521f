//! The read API against a real Prometheus 2.42 (Debian) in agent mode with the same jobs: a
//! static job (a real node_exporter and an unreachable target), a file_sd job whose target
//! relabeling drops two of its three targets and rewrites the third. Their /api/v1/targets,
//! /api/v1/scrape_pools and /api/v1/targets/metadata are compared field by field; times and
//! durations (lastScrape, lastScrapeDuration) are left aside. Every difference is named
//! where it is allowed:
//! - `lastError` of the unreachable target: both non-empty, in their own words (Go's
//!   `Get "...": dial tcp ...: connect: connection refused` against ours).
//! - Fields 2.42 predates and 3.x has, which outpost serves as 3.x: `droppedTargets[].scrapePool`
//!   and `droppedTargetCounts` (Prometheus 2.45). They are checked against the test's own
//!   expectation instead.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use support::fake::FakeReceiver;
use support::{
    Child, TempDir, free_port, http_get, http_request, poll_until, start_node_exporter, start_outpost,
};

const WITHIN: Duration = Duration::from_secs(60);

/// Prometheus 2.42 in agent mode with `yaml` as its configuration; ready on /-/ready.
fn start_prometheus_agent(yaml: &str) -> Child {
    let dir = TempDir::new("prometheus-agent");
    let port = free_port();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(&config, yaml).expect("write prometheus.yml");
    let mut command = Command::new(support::program(&["prometheus"]));
    command
        .arg("--enable-feature=agent")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.agent.path={}", dir.path().join("agent").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"));
    let mut child = Child::spawn("prometheus-agent", command, dir, port);
    child.wait_ready("/-/ready");
    child
}

fn get_json(port: u16, path: &str) -> Result<Value, String> {
    let (status, body) = http_get(port, path).map_err(|e| format!("GET {path}: {e}"))?;
    if status != 200 {
        return Err(format!("GET {path}: HTTP {status}: {body}"));
    }
    let json: Value = serde_json::from_str(&body).map_err(|e| format!("GET {path}: {e}: {body}"))?;
    if json["status"] != "success" {
        return Err(format!("GET {path}: {body}"));
    }
    Ok(json["data"].clone())
}

/// Active targets by (scrapePool, scrapeUrl), without the fields that hold times.
fn active(data: &Value) -> BTreeMap<(String, String), Value> {
    let mut out = BTreeMap::new();
    for t in data["activeTargets"].as_array().into_iter().flatten() {
        let mut t = t.clone();
        let key = (
            t["scrapePool"].as_str().unwrap_or("").to_owned(),
            t["scrapeUrl"].as_str().unwrap_or("").to_owned(),
        );
        let object = t.as_object_mut().expect("a target is an object");
        for time in ["lastScrape", "lastScrapeDuration"] {
            assert!(object.remove(time).is_some(), "{time} is present: {object:?}");
        }
        out.insert(key, t);
    }
    out
}

fn dropped_labels(data: &Value) -> BTreeSet<String> {
    data["droppedTargets"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|d| d["discoveredLabels"].to_string())
        .collect()
}

#[test]
fn targets_scrape_pools_and_metadata_answer_as_prometheus_agent() {
    let node = start_node_exporter();
    let unreachable = free_port();
    let fake_port = free_port(); // nothing listens: only dropped by relabeling anyway
    let dir = TempDir::new("sd");
    let sd_file = dir.path().join("targets.json");
    let sd = serde_json::json!([
        {"targets": [format!("127.0.0.1:{}", node.port)], "labels": {"keep": "yes", "team": "edge"}},
        {"targets": [format!("127.0.0.1:{fake_port}"), "127.0.0.1:1"], "labels": {"keep": "no"}},
    ]);
    std::fs::write(&sd_file, sd.to_string()).expect("write file_sd");
    let sd_path = sd_file.display().to_string();
    let yaml = format!(
        r#"global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: static
    static_configs:
      - targets: ['127.0.0.1:{node}', '127.0.0.1:{unreachable}']
        labels: {{env: test}}
  - job_name: files
    scrape_interval: 2s
    file_sd_configs:
      - files: ['{sd_path}']
    relabel_configs:
      - source_labels: [keep]
        regex: 'no'
        action: drop
      - source_labels: [__address__]
        regex: '127\.0\.0\.1:(.*)'
        target_label: port
        replacement: '$1'
      - regex: keep
        action: labeldrop
"#,
        node = node.port
    );
    let prometheus = start_prometheus_agent(&yaml);
    let receiver = FakeReceiver::start(Box::new(|_, _| (204, Vec::new())));
    let listen = free_port();
    let mut outpost = start_outpost(&format!(
        r#"listen = "127.0.0.1:{listen}"
[global]
scrape_interval = "1s"
scrape_timeout = "1s"
[[remote_write]]
url = "{url}"
[[scrape_configs]]
job_name = "static"
[[scrape_configs.static_configs]]
targets = ["127.0.0.1:{node}", "127.0.0.1:{unreachable}"]
labels = {{ env = "test" }}
[[scrape_configs]]
job_name = "files"
scrape_interval = "2s"
[[scrape_configs.file_sd_configs]]
files = [{sd_path:?}]
[[scrape_configs.relabel_configs]]
source_labels = ["keep"]
regex = "no"
action = "drop"
[[scrape_configs.relabel_configs]]
source_labels = ["__address__"]
regex = '127\.0\.0\.1:(.*)'
target_label = "port"
replacement = "$1"
[[scrape_configs.relabel_configs]]
regex = "keep"
action = "labeldrop"
"#,
        url = receiver.url(),
        node = node.port
    ));
    outpost.port = listen;
    outpost.wait_ready("/-/ready");

    // Both have scraped every target at least once: no health is "unknown".
    let scraped = |port: u16| -> Result<Value, String> {
        let data = get_json(port, "/api/v1/targets")?;
        let targets = data["activeTargets"].as_array().ok_or("no activeTargets")?;
        if targets.len() != 3 || targets.iter().any(|t| t["health"] == "unknown") {
            return Err(format!("not all scraped yet: {targets:?}"));
        }
        Ok(data)
    };
    let theirs = poll_until(WITHIN, "Prometheus scraped every target", || scraped(prometheus.port));
    let ours = poll_until(WITHIN, "outpost scraped every target", || scraped(listen));

    let (mut theirs_active, mut ours_active) = (active(&theirs), active(&ours));
    assert_eq!(
        theirs_active.keys().collect::<Vec<_>>(),
        ours_active.keys().collect::<Vec<_>>(),
        "the same active targets"
    );
    let down_key = ("static".to_owned(), format!("http://127.0.0.1:{unreachable}/metrics"));
    for (key, t) in [(&down_key, &mut theirs_active), (&down_key, &mut ours_active)]
        .into_iter()
        .map(|(k, m)| (k, m.get_mut(k).expect("the unreachable target")))
    {
        assert_eq!(t["health"], "down", "{key:?}");
        // Named difference: the error text is each program's own.
        assert!(!t["lastError"].as_str().unwrap_or("").is_empty(), "an error for {key:?}: {t}");
        t["lastError"] = Value::Null;
    }
    for (key, want) in &theirs_active {
        assert_eq!(ours_active[key], *want, "target {key:?}: outpost vs Prometheus, field by field");
    }
    // The relabeled target: `port` from the address, `keep` gone, `team` from the file.
    let files_key = ("files".to_owned(), format!("http://127.0.0.1:{}/metrics", node.port));
    assert_eq!(ours_active[&files_key]["labels"]["port"], node.port.to_string());
    assert_eq!(ours_active[&files_key]["scrapeInterval"], "2s");
    assert_eq!(ours_active[&files_key]["discoveredLabels"]["__meta_filepath"], sd_path.as_str());

    assert_eq!(dropped_labels(&ours), dropped_labels(&theirs), "the same dropped targets");
    assert_eq!(dropped_labels(&ours).len(), 2);
    // Named difference: 2.42 has neither field (3.x does).
    for d in theirs["droppedTargets"].as_array().into_iter().flatten() {
        assert!(d.get("scrapePool").is_none(), "Prometheus 2.42 has no droppedTargets[].scrapePool");
    }
    assert!(theirs.get("droppedTargetCounts").is_none(), "Prometheus 2.42 has no droppedTargetCounts");
    for d in ours["droppedTargets"].as_array().into_iter().flatten() {
        assert_eq!(d["scrapePool"], "files");
    }
    assert_eq!(ours["droppedTargetCounts"], serde_json::json!({"files": 2, "static": 0}));

    // Filters: state and scrapePool as Prometheus applies them.
    for query in [
        "?state=active",
        "?state=dropped",
        "?state=any",
        "?scrapePool=files",
        "?state=Dropped&scrapePool=static",
        "?state=bogus",
    ] {
        let path = format!("/api/v1/targets{query}");
        let (t, o) = (
            get_json(prometheus.port, &path).expect("Prometheus"),
            get_json(listen, &path).expect("outpost"),
        );
        assert_eq!(active(&o).keys().collect::<Vec<_>>(), active(&t).keys().collect::<Vec<_>>(), "{path}");
        assert_eq!(dropped_labels(&o), dropped_labels(&t), "{path}");
        assert!(o["activeTargets"].is_array() && o["droppedTargets"].is_array(), "lists, never null: {path}");
    }

    let pools = |port| get_json(port, "/api/v1/scrape_pools").expect("scrape_pools");
    assert_eq!(pools(listen), pools(prometheus.port), "/api/v1/scrape_pools");
    assert_eq!(pools(listen), serde_json::json!({"scrapePools": ["files", "static"]}));

    // Metadata of the real node_exporter, as each scraped it.
    let selector = format!("{{job=\"static\",instance=\"127.0.0.1:{}\"}}", node.port);
    let path = format!("/api/v1/targets/metadata?match_target={}", support::url_encode(&selector));
    let metadata = |port| -> Result<BTreeSet<String>, String> {
        let data = get_json(port, &path)?;
        let set: BTreeSet<String> = data.as_array().into_iter().flatten().map(Value::to_string).collect();
        if set.len() < 50 {
            return Err(format!("only {} families", set.len()));
        }
        Ok(set)
    };
    let theirs_md = poll_until(WITHIN, "Prometheus's target metadata", || metadata(prometheus.port));
    let ours_md = poll_until(WITHIN, "outpost's target metadata", || metadata(listen));
    let missing: Vec<_> = theirs_md.difference(&ours_md).take(3).collect();
    let extra: Vec<_> = ours_md.difference(&theirs_md).take(3).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "metadata differ: only Prometheus {missing:?}, only outpost {extra:?}"
    );
    let one = |port| get_json(port, &format!("{path}&metric=node_cpu_seconds_total")).expect("one metric");
    assert_eq!(one(listen), one(prometheus.port), "metadata of one metric");
    let limited = |port| get_json(port, &format!("{path}&limit=1")).expect("limit");
    assert_eq!(
        limited(listen).as_array().map(Vec::len),
        limited(prometheus.port).as_array().map(Vec::len),
        "limit"
    );

    // The query family: agent mode's 422, byte for byte; errors and methods as Prometheus.
    for path in [
        "/api/v1/query?query=up",
        "/api/v1/query_range?query=up",
        "/api/v1/labels",
        "/api/v1/label/job/values",
        "/api/v1/series?match[]=up",
    ] {
        let (t, o) =
            (http_get(prometheus.port, path).expect("Prometheus"), http_get(listen, path).expect("outpost"));
        assert_eq!(t.0, 422, "{path}: {}", t.1);
        assert_eq!(o, t, "{path}");
    }
    for (method, path) in [
        ("POST", "/api/v1/query"),
        ("GET", "/api/v1/targets/metadata?limit=x"),
        ("GET", "/api/v1/nope"),
        ("POST", "/api/v1/targets"),
        ("GET", "/api/v1/metadata?limit=x"),
    ] {
        let t = http_request(prometheus.port, method, path, &[], &[]).expect("Prometheus");
        let o = http_request(listen, method, path, &[], &[]).expect("outpost");
        assert_eq!(o.0, t.0, "{method} {path}: status; Prometheus said {}", t.1);
        if t.1.starts_with('{') {
            assert_eq!(o.1, t.1, "{method} {path}: body");
        }
    }
    drop(dir);
}

/// `/api/v1/status/remote_write` through an outage of a receiver: healthy, then "outage"
/// since a time with the error and the next retry, samples waiting; healthy again once the
/// receiver is back and the backlog is sent. The password in the URL is never shown.
#[test]
fn remote_write_status_names_the_outage_and_its_end() {
    let receiver = FakeReceiver::start(Box::new(|_, _| (204, Vec::new())));
    let url = receiver.url().replacen("http://", "http://edge:s3cret@", 1);
    let listen = free_port();
    let mut outpost = start_outpost(&format!(
        r#"listen = "127.0.0.1:{listen}"
[global]
scrape_interval = "1s"
scrape_timeout = "1s"
[[remote_write]]
name = "central"
url = "{url}"
[remote_write.queue_config]
batch_send_deadline = "100ms"
min_backoff = "50ms"
max_backoff = "200ms"
rate_limit = "1MiB"
[[scrape_configs]]
job_name = "self"
[[scrape_configs.static_configs]]
targets = ["127.0.0.1:{listen}"]
"#
    ));
    outpost.port = listen;
    outpost.wait_ready("/-/ready");
    let queue = || -> Result<Value, String> {
        let data = get_json(listen, "/api/v1/status/remote_write")?;
        let body = data.to_string();
        assert!(!body.contains("s3cret"), "the URL's password is shown: {body}");
        Ok(data["queues"][0].clone())
    };
    let q = poll_until(WITHIN, "samples delivered", || {
        let q = queue()?;
        if q["newestSentTimestamp"].is_null() { Err(format!("nothing sent yet: {q}")) } else { Ok(q) }
    });
    assert_eq!(
        (&q["name"], &q["state"], &q["outageSince"]),
        (&Value::from("central"), &Value::from("healthy"), &Value::Null)
    );
    assert_eq!(q["url"], receiver.url().replacen("http://", "http://edge:<secret>@", 1));
    assert_eq!(q["rateLimitBytesPerSecond"], 1_048_576);
    assert_eq!((&q["shards"]["min"], &q["shards"]["max"]), (&Value::from(1), &Value::from(1)));

    receiver.down();
    let q = poll_until(WITHIN, "an outage with samples waiting", || {
        let q = queue()?;
        let waiting =
            q["memory"]["samples"].as_u64().unwrap_or(0) + q["disk"]["samples"].as_u64().unwrap_or(0);
        if q["state"] == "outage" && waiting > 0 && !q["oldestUnsentTimestamp"].is_null() {
            Ok(q)
        } else {
            Err(q.to_string())
        }
    });
    assert!(q["outageSince"].as_str().is_some_and(|t| t.ends_with('Z')), "{q}");
    assert!(q["lastErrorTime"].is_string() && !q["lastError"].as_str().unwrap_or("").is_empty(), "{q}");
    assert!(q["nextRetry"].is_string(), "{q}");

    receiver.up();
    poll_until(WITHIN, "healthy again, nothing on disk", || {
        let q = queue()?;
        if q["state"] == "healthy" && q["outageSince"].is_null() { Ok(()) } else { Err(q.to_string()) }
    });
}

/// Resident memory of `pid`, bytes (VmRSS).
fn rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc/PID/status");
    let kb = status.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.trim().strip_suffix("kB"));
    kb.and_then(|v| v.trim().parse::<u64>().ok()).expect("VmRSS") * 1024
}

/// Figures for the README: the time of `/api/v1/targets` with 1,000 targets, and the RSS
/// one active and one dropped target add (VmRSS after each stage has settled: every loop
/// scraped once; so it includes the scrape loops, discovery's groups and the allocator). Run with
/// `cargo test --release --test spec_api -- --ignored --nocapture figures`.
#[test]
#[ignore = "figures, not a check: prints timings and memory"]
fn figures() {
    let target = support::fake::FakeTarget::start("# TYPE g gauge\ng 1\n");
    let dir = TempDir::new("sd-figures");
    let file = dir.path().join("targets.json");
    let write = |active: usize, dropped: usize| {
        let group = |i: usize, drop: bool| serde_json::json!({"targets": [target.address()], "labels": {"i": i.to_string(), "drop": drop.to_string(), "zone": "edge-zone-a"}});
        let groups: Vec<Value> =
            (0..active).map(|i| group(i, false)).chain((0..dropped).map(|i| group(i, true))).collect();
        std::fs::write(&file, serde_json::to_string(&groups).expect("json")).expect("write targets");
    };
    write(0, 0);
    let listen = free_port();
    let receiver = FakeReceiver::start(Box::new(|_, _| (204, Vec::new())));
    let mut outpost = start_outpost(&format!(
        r#"listen = "127.0.0.1:{listen}"
[[remote_write]]
url = "{url}"
[[scrape_configs]]
job_name = "many"
scrape_interval = "10s"
keep_dropped_targets = 1
[[scrape_configs.file_sd_configs]]
files = [{file:?}]
refresh_interval = "1s"
[[scrape_configs.relabel_configs]]
source_labels = ["drop"]
regex = "true"
action = "drop"
"#,
        url = receiver.url(),
        file = file.display().to_string()
    ));
    outpost.port = listen;
    outpost.wait_ready("/-/ready");
    let counts = || -> Result<(usize, u64), String> {
        let d = get_json(listen, "/api/v1/targets")?;
        Ok((
            d["activeTargets"].as_array().map_or(0, Vec::len),
            d["droppedTargetCounts"]["many"].as_u64().unwrap_or(0),
        ))
    };
    let settle = |want: (usize, u64)| {
        poll_until(Duration::from_secs(60), "targets applied", || {
            let got = counts()?;
            if got == want { Ok(()) } else { Err(format!("{got:?}")) }
        });
        // Every loop has scraped once (interval 10 s) and the allocator has settled.
        std::thread::sleep(Duration::from_secs(11));
        rss(outpost.pid())
    };
    let base = settle((0, 0));
    write(1000, 0);
    let active = settle((1000, 0));
    write(1000, 10_000);
    let dropped = settle((1000, 10_000));
    // The status's own share: the same targets, each dropped one now kept for the API.
    let file = outpost.dir().join("outpost.toml");
    let text = std::fs::read_to_string(&file).expect("config");
    std::fs::write(&file, text.replace("keep_dropped_targets = 1", "keep_dropped_targets = 0"))
        .expect("config");
    outpost.signal("HUP");
    poll_until(Duration::from_secs(60), "all dropped targets kept", || {
        let n = get_json(listen, "/api/v1/targets?state=dropped")?["droppedTargets"]
            .as_array()
            .map_or(0, Vec::len);
        if n == 10_000 { Ok(()) } else { Err(format!("{n} kept")) }
    });
    std::thread::sleep(Duration::from_secs(11));
    let kept = rss(outpost.pid());
    let mut times = Vec::new();
    let mut bytes = 0;
    for _ in 0..20 {
        let started = std::time::Instant::now();
        let (status, body) = http_get(listen, "/api/v1/targets").expect("targets");
        times.push(started.elapsed());
        assert_eq!(status, 200);
        bytes = body.len();
    }
    times.sort();
    let mut active_only = Vec::new();
    for _ in 0..20 {
        let started = std::time::Instant::now();
        http_get(listen, "/api/v1/targets?state=active").expect("targets");
        active_only.push(started.elapsed());
    }
    active_only.sort();
    println!("rss: base {base}, +1000 active {active}, +10000 dropped {dropped}");
    println!("per active target: {} bytes", (active.saturating_sub(base)) / 1000);
    println!(
        "per dropped target: {} bytes (discovery and relabeling, keep_dropped_targets = 1)",
        (dropped.saturating_sub(active)) / 10_000
    );
    println!(
        "per dropped target kept for the API: {} bytes more (keep_dropped_targets = 0)",
        kept.saturating_sub(dropped) / 10_000
    );
    println!(
        "GET /api/v1/targets (1,000 active, 10,000 dropped, {bytes} bytes): median {:?}, max {:?}",
        times[10], times[19]
    );
    println!(
        "GET /api/v1/targets?state=active (1,000): median {:?}, max {:?}",
        active_only[10], active_only[19]
    );
}

/// The Kubernetes jobs (pods and nodes from the in-test API server, fed the K3s fixtures)
/// compared with vmagent's /api/v1/targets (Debian's Prometheus 2.42 has no Kubernetes
/// discovery here): both drop every target by relabeling, so each discovered label set shows
/// under droppedTargets. Named differences: vmagent 1.79 does not set
/// `__meta_kubernetes_pod_container_id`/`_container_image` and keeps labels with empty values
/// (Prometheus and outpost drop them); it lists the job's defaults (`job`, `__scheme__`,
/// `__metrics_path__`, `__scrape_interval__`, `__scrape_timeout__`) in its own way, so those are
/// compared with the expected values instead.
#[test]
fn kubernetes_dropped_targets_answer_as_vmagent() {
    use support::kube::{Auth, Kind, KubeApi};
    let api = KubeApi::start(Auth::ClientCert);
    api.apply_list(Kind::Pod, include_str!("fixtures/kubernetes/pods.json"));
    api.apply_list(Kind::Node, include_str!("fixtures/kubernetes/nodes.json"));
    let dir = TempDir::new("api-k8s");
    for (name, pem) in [
        ("ca.crt", &api.pki.server_ca),
        ("client.crt", &api.pki.client_cert),
        ("client.key", &api.pki.client_key),
    ] {
        std::fs::write(dir.path().join(name), pem).expect("write pem");
    }
    let d = dir.path().display().to_string();
    let yaml_job = |name: &str, role: &str| {
        format!(
            "- job_name: {name}\n  kubernetes_sd_configs:\n  - role: {role}\n    api_server: {url}\n    tls_config:\n      ca_file: {d}/ca.crt\n      cert_file: {d}/client.crt\n      key_file: {d}/client.key\n  relabel_configs:\n  - action: drop\n    source_labels: [__address__]\n    regex: .*\n",
            url = api.url()
        )
    };
    let config = dir.path().join("scrape.yml");
    std::fs::write(
        &config,
        format!("scrape_configs:\n{}{}", yaml_job("pods", "pod"), yaml_job("nodes", "node")),
    )
    .expect("config");
    let vm_port = free_port();
    let mut command = Command::new(support::program(&["vmagent"]));
    command
        .arg(format!("-promscrape.config={}", config.display()))
        .arg(format!("-httpListenAddr=127.0.0.1:{vm_port}"))
        .arg(format!("-remoteWrite.url=http://127.0.0.1:{}/api/v1/write", free_port()))
        .arg(format!("-remoteWrite.tmpDataPath={d}/queue"));
    let mut vmagent = Child::spawn("vmagent", command, TempDir::new("vmagent-api"), vm_port);
    vmagent.wait_ready("/health");

    let toml_job = |name: &str, role: &str| {
        format!(
            "[[scrape_configs]]\njob_name = \"{name}\"\n[[scrape_configs.kubernetes_sd_configs]]\nrole = \"{role}\"\napi_server = \"{url}\"\ntls_config = {{ ca_file = \"{d}/ca.crt\", cert_file = \"{d}/client.crt\", key_file = \"{d}/client.key\" }}\n[[scrape_configs.relabel_configs]]\nsource_labels = [\"__address__\"]\nregex = \".*\"\naction = \"drop\"\n",
            url = api.url()
        )
    };
    let receiver = FakeReceiver::start(Box::new(|_, _| (204, Vec::new())));
    let listen = free_port();
    let mut outpost = start_outpost(&format!(
        "listen = \"127.0.0.1:{listen}\"\n[[remote_write]]\nurl = \"{}\"\n{}{}",
        receiver.url(),
        toml_job("pods", "pod"),
        toml_job("nodes", "node")
    ));
    outpost.port = listen;
    outpost.wait_ready("/-/ready");

    let defaults = ["job", "__scheme__", "__metrics_path__", "__scrape_interval__", "__scrape_timeout__"];
    let unknown = ["__meta_kubernetes_pod_container_id", "__meta_kubernetes_pod_container_image"];
    let discovered = |port: u16, job: &str| -> Result<BTreeSet<BTreeMap<String, String>>, String> {
        let data = get_json(port, "/api/v1/targets?state=dropped")?;
        let set: BTreeSet<BTreeMap<String, String>> = data["droppedTargets"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|t| t["discoveredLabels"]["job"] == job)
            .map(|t| {
                let labels = t["discoveredLabels"].as_object().cloned().unwrap_or_default();
                labels
                    .into_iter()
                    .map(|(k, v)| (k, v.as_str().unwrap_or("").to_owned()))
                    .filter(|(k, v)| {
                        !v.is_empty() && !defaults.contains(&k.as_str()) && !unknown.contains(&k.as_str())
                    })
                    .collect()
            })
            .collect();
        if set.is_empty() { Err(format!("no {job} targets yet")) } else { Ok(set) }
    };
    for job in ["pods", "nodes"] {
        let theirs = poll_until(WITHIN, &format!("vmagent discovers {job}"), || discovered(vm_port, job));
        let ours = poll_until(WITHIN, &format!("outpost discovers {job}"), || {
            let ours = discovered(listen, job)?;
            if ours.len() == theirs.len() {
                Ok(ours)
            } else {
                Err(format!("{} of {}", ours.len(), theirs.len()))
            }
        });
        let only_ours: Vec<_> = ours.difference(&theirs).take(2).collect();
        let only_theirs: Vec<_> = theirs.difference(&ours).take(2).collect();
        assert!(
            only_ours.is_empty() && only_theirs.is_empty(),
            "{job}: only outpost {only_ours:?}; only vmagent {only_theirs:?}"
        );
    }
    let data = get_json(listen, "/api/v1/targets").expect("targets");
    assert_eq!(data["activeTargets"], serde_json::json!([]));
    for t in data["droppedTargets"].as_array().into_iter().flatten() {
        let labels = &t["discoveredLabels"];
        assert_eq!(
            (&labels["__scheme__"], &labels["__metrics_path__"]),
            (&Value::from("http"), &Value::from("/metrics"))
        );
        assert_eq!(
            (&labels["__scrape_interval__"], &labels["__scrape_timeout__"]),
            (&Value::from("1m"), &Value::from("10s"))
        );
        assert_eq!(labels["job"], t["scrapePool"]);
    }
    drop(dir);
}
