//! The fleet mixin (`mixin/`): `promtool check rules` accepts it, its unit
//! tests (`mixin/tests.yml`) pass under `promtool test rules`, and a real
//! global Prometheus loaded with it fires the expected alerts for a real
//! outpost whose other receivers fail. promtool and Prometheus come from
//! Debian's `prometheus` package (./run-tests installs it); without them the
//! tests fail rather than pass unchecked.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::Value;
use support::fake::FakeReceiver;
use support::{TempDir, free_port, http_get, poll_until, program, query, series_value, start_outpost};

fn mixin(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("mixin").join(file)
}

/// Runs promtool with `args`; panics with its output unless it exits 0.
fn promtool(args: &[&Path]) -> String {
    let output = Command::new(program(&["promtool"]))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run promtool {args:?}: {e}"));
    let text =
        format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "promtool {args:?} failed ({}):\n{text}", output.status);
    text
}

#[test]
fn mixin_rules_pass_promtool_check() {
    let out = promtool(&[Path::new("check"), Path::new("rules"), &mixin("alerts.yml"), &mixin("rules.yml")]);
    assert!(out.contains("SUCCESS: 8 rules found"), "eight alerts:\n{out}");
    assert!(out.contains("SUCCESS: 7 rules found"), "seven recording rules:\n{out}");
}

#[test]
fn mixin_unit_tests_pass_promtool_test_rules() {
    let out = promtool(&[Path::new("test"), Path::new("rules"), &mixin("tests.yml")]);
    assert!(out.contains("SUCCESS"), "{out}");
}

/// `alerts.yml` with every `for:` cut to 1 s and the behind threshold to 5 s,
/// so that a test sees pending become firing in seconds (the expressions are
/// the mixin's own). Each replacement must
/// match, so a changed mixin breaks this test rather than silently testing less.
fn short_alerts() -> String {
    let text = std::fs::read_to_string(mixin("alerts.yml")).expect("read mixin/alerts.yml");
    let behind = "  ) > 120\n";
    assert_eq!(text.matches(behind).count(), 1, "one behind threshold in alerts.yml");
    let mut out = String::new();
    for line in text.replace(behind, "  ) > 5\n").lines() {
        match line.trim_start().strip_prefix("for: ") {
            Some(_) => out.push_str(&line.replace(line.trim_start(), "for: 1s")),
            None => out.push_str(line),
        }
        out.push('\n');
    }
    assert_eq!(out.matches("for: 1s").count(), 7, "seven alerts with a for: duration");
    out
}

/// The alerts Prometheus on `port` reports (`/api/v1/alerts`): objects with
/// `labels`, `annotations`, `state` and `value`.
fn alerts(port: u16) -> Result<Vec<Value>, String> {
    let (status, body) = http_get(port, "/api/v1/alerts").map_err(|e| format!("GET /api/v1/alerts: {e}"))?;
    let json: Value = serde_json::from_str(&body).map_err(|e| format!("/api/v1/alerts: {e}: {body}"))?;
    match json["data"]["alerts"].as_array() {
        Some(alerts) if status == 200 => Ok(alerts.clone()),
        _ => Err(format!("/api/v1/alerts: status {status}: {body}")),
    }
}

fn named<'a>(alerts: &'a [Value], name: &str, state: &str) -> Vec<&'a Value> {
    alerts.iter().filter(|a| a["labels"]["alertname"] == name && a["state"] == state).collect()
}

/// One outpost of cluster `edge-07` sends to the global Prometheus (which
/// evaluates the mixin every second) and to two more receivers: `ticket`
/// starts answering 503, `archive` 400. The global Prometheus fires
/// OutpostRemoteWriteBehind for `ticket` and OutpostSamplesDropped
/// (`reason="rejected"`) for `archive`, each with the device's external labels,
/// and neither for its own queue.
#[test]
fn global_prometheus_fires_behind_and_dropped_for_a_failing_receiver() {
    let dir = TempDir::new("global");
    std::fs::write(dir.path().join("alerts.yml"), short_alerts()).expect("write alerts.yml");
    let rules = std::fs::read_to_string(mixin("rules.yml")).expect("read mixin/rules.yml");
    assert_eq!(rules.matches("    interval: 1m\n").count(), 1, "one recording group, every minute");
    std::fs::write(dir.path().join("rules.yml"), rules.replace("    interval: 1m\n", "    interval: 1s\n"))
        .expect("write rules.yml");
    let yaml = format!(
        "global:\n  evaluation_interval: 1s\nrule_files:\n  - {}\n  - {}\n",
        dir.path().join("alerts.yml").display(),
        dir.path().join("rules.yml").display()
    );
    let port = free_port();
    let global = support::start_prometheus_configured(dir, port, &yaml);
    let failing = Arc::new(AtomicBool::new(false));
    let answering = |status: u16| {
        let failing = failing.clone();
        FakeReceiver::start(Box::new(move |_, _| {
            (if failing.load(Ordering::SeqCst) { status } else { 204 }, Vec::new())
        }))
    };
    let (ticket, archive) = (answering(503), answering(400));
    let listen = free_port();
    let queue = "[remote_write.queue_config]\nbatch_send_deadline = \"200ms\"\nmin_backoff = \"50ms\"\nmax_backoff = \"1s\"";
    let config = format!(
        r#"listen = "127.0.0.1:{listen}"
[global]
scrape_interval = "1s"
scrape_timeout = "1s"
external_labels = {{ cluster = "edge-07", device = "d1" }}
[[remote_write]]
name = "global"
url = "http://127.0.0.1:{port}/api/v1/write"
{queue}
[[remote_write]]
name = "ticket"
url = "{ticket}"
{queue}
[[remote_write]]
name = "archive"
url = "{archive}"
{queue}
[[scrape_configs]]
job_name = "outpost"
[[scrape_configs.static_configs]]
targets = ["127.0.0.1:{listen}"]
"#,
        ticket = ticket.url(),
        archive = archive.url(),
    );
    let mut outpost = start_outpost(&config);

    // Every receiver accepts: the global Prometheus sees each queue deliver,
    // and no alert of the mixin fires (right after the start, a queue that has
    // not delivered yet is briefly "behind" by the whole epoch; that resolves).
    poll_until(Duration::from_secs(30), "every queue delivering, no mixin alert firing", || {
        outpost.assert_running();
        let sent = query(
            port,
            r#"prometheus_remote_storage_queue_highest_sent_timestamp_seconds{job="outpost",cluster="edge-07"} > 0"#,
        )?;
        let firing: Vec<_> = alerts(port)?.into_iter().filter(|a| a["state"] == "firing").collect();
        if sent.len() == 3 && firing.is_empty() {
            Ok(())
        } else {
            Err(format!("{} queues delivered; firing: {firing:?}", sent.len()))
        }
    });

    failing.store(true, Ordering::SeqCst);
    let switched = std::time::Instant::now();
    let firing = poll_until(
        Duration::from_secs(40),
        "OutpostRemoteWriteBehind and OutpostSamplesDropped firing",
        || {
            let all = alerts(port)?;
            let behind = named(&all, "OutpostRemoteWriteBehind", "firing");
            let dropped = named(&all, "OutpostSamplesDropped", "firing");
            if !behind.is_empty() && !dropped.is_empty() {
                Ok(all)
            } else {
                Err(format!("not yet; alerts: {all:?}"))
            }
        },
    );
    eprintln!("both alerts firing {:.1?} after the receivers began failing", switched.elapsed());
    let behind = named(&firing, "OutpostRemoteWriteBehind", "firing");
    assert_eq!(behind.len(), 1, "only ticket is behind: {behind:?}");
    let labels = &behind[0]["labels"];
    for (name, want) in [
        ("cluster", "edge-07"),
        ("device", "d1"),
        ("remote_name", "ticket"),
        ("url", ticket.url().as_str()),
        ("severity", "warning"),
    ] {
        assert_eq!(labels[name], want, "label {name} of {behind:?}");
    }
    let summary = behind[0]["annotations"]["summary"].as_str().unwrap_or_default();
    assert!(summary.starts_with("outpost edge-07/d1: remote_write ticket is "), "{summary}");
    let dropped = named(&firing, "OutpostSamplesDropped", "firing");
    assert_eq!(dropped.len(), 1, "only archive drops, and for one reason: {dropped:?}");
    for (name, want) in
        [("cluster", "edge-07"), ("device", "d1"), ("remote_name", "archive"), ("reason", "rejected")]
    {
        assert_eq!(dropped[0]["labels"][name], want, "label {name} of {dropped:?}");
    }
    // The recording rules (their group cut to every second) see the same.
    let value = |promql: &str| query(port, promql).ok()?.first().and_then(series_value);
    assert_eq!(value(r#"cluster:outpost_devices:count{cluster="edge-07"}"#), Some(1.0), "one device");
    let behind = value(
        r#"cluster_remote_name:outpost_remote_write_behind_seconds:max{cluster="edge-07",remote_name="ticket"}"#,
    );
    assert!(behind.is_some_and(|s| s > 5.0), "ticket behind by {behind:?} s");
    let dropping = value(
        r#"cluster_reason:prometheus_remote_storage_samples_dropped:rate5m{cluster="edge-07",reason="rejected"}"#,
    );
    assert!(dropping.is_some_and(|r| r > 0.0), "rejected samples per second {dropping:?}");
    drop(global);
}
