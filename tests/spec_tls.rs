//! TLS and authorization end to end with real parts (issue: remote_write security, https
//! targets): a real Prometheus receiver and a real node_exporter, each behind TLS and basic
//! auth through their own `--web.config.file`, with certificates made at test time. The
//! receiver's data is checked through its query API over https with the same credentials.

mod support;

use std::fs;
use std::sync::atomic::Ordering;
use std::time::Duration;

use support::fake::FakeTarget;
use support::tls::{PASSWORD, Pki, USER, https_query, start_node_exporter_web, start_prometheus_web};
use support::{Child, http_get, poll_until, query, start_outpost, start_prometheus};

/// Real processes scraping every second: a minute means broken, not slow.
const WITHIN: Duration = Duration::from_secs(60);

/// A remote_write to the https receiver, its password in `password_file`.
fn remote_write(receiver: &Child, ca: &std::path::Path, password_file: &std::path::Path) -> String {
    format!(
        r#"[[remote_write]]
url = "https://127.0.0.1:{port}/api/v1/write"
basic_auth = {{ username = "{USER}", password_file = {password_file:?} }}
tls_config = {{ ca_file = {ca:?} }}
[remote_write.queue_config]
batch_send_deadline = "200ms"
max_backoff = "500ms"
"#,
        port = receiver.port,
    )
}

fn outpost_metric(port: u16, name: &str) -> Result<f64, String> {
    let (_, body) = http_get(port, "/metrics").map_err(|e| e.to_string())?;
    let line = body.lines().find(|l| l.starts_with(name)).ok_or_else(|| format!("no {name} yet"))?;
    line.rsplit(' ').next().and_then(|v| v.parse().ok()).ok_or_else(|| format!("bad line {line:?}"))
}

/// Correct credentials deliver; a wrong password gets 401 and the data stays buffered and
/// retried; rewriting the password file recovers without a restart, and every scrape made
/// meanwhile arrives: the target counts its scrapes, so the values at the receiver must be
/// 1, 2, 3, ... with none missing.
#[test]
fn remote_write_with_basic_auth_recovers_after_the_password_file_is_fixed_losing_nothing() {
    let pki = Pki::new();
    let receiver = start_prometheus_web(&pki);
    let client = pki.client();
    let target =
        FakeTarget::dynamic(Box::new(|n| format!("# TYPE scrape_number gauge\nscrape_number {}\n", n + 1)));
    let password_file = pki.dir().join("password");
    fs::write(&password_file, "wrong-password\n").expect("write password");
    let listen = support::free_port();
    let mut outpost = start_outpost(&format!(
        r#"listen = "127.0.0.1:{listen}"
[global]
scrape_interval = "1s"
scrape_timeout = "1s"
{rw}
[[scrape_configs]]
job_name = "counted"
[[scrape_configs.static_configs]]
targets = ["{target}"]
"#,
        rw = remote_write(&receiver, &pki.ca, &password_file),
        target = target.address(),
    ));

    // Refused with 401 and retried, with the samples kept.
    poll_until(WITHIN, "outpost retries after 401", || {
        outpost.assert_running();
        let retried = outpost_metric(listen, "prometheus_remote_storage_samples_retried_total")?;
        if retried > 0.0 && target.served.load(Ordering::SeqCst) >= 3 {
            Ok(())
        } else {
            Err(format!("{retried} retried"))
        }
    });
    assert!(outpost.log_tail().contains("HTTP 401"), "the 401 is logged:\n{}", outpost.log_tail());
    assert_eq!(https_query(&client, receiver.port, "scrape_number"), Ok(vec![]), "nothing got through");

    fs::write(&password_file, format!("{PASSWORD}\n")).expect("fix password");
    let fixed_at = target.served.load(Ordering::SeqCst);
    let values = poll_until(WITHIN, "the scrapes made during the 401s reach the receiver", || {
        outpost.assert_running();
        let result = https_query(&client, receiver.port, r#"scrape_number{job="counted"}[10m]"#)?;
        let values: Vec<f64> = result
            .first()
            .and_then(|s| s["values"].as_array())
            .map(|v| v.iter().filter_map(|p| p[1].as_str()?.parse().ok()).collect())
            .unwrap_or_default();
        if values.len() as u64 > fixed_at { Ok(values) } else { Err(format!("{} samples", values.len())) }
    });
    let expected: Vec<f64> = (1..=values.len()).map(|n| n as f64).collect();
    assert_eq!(values, expected, "every scrape from the first one on, in order, none missing");
    let log = outpost.log_tail();
    assert!(log.contains("new credentials read from password_file"), "{log}");
    assert_eq!(outpost_metric(listen, "prometheus_remote_storage_samples_failed_total"), Ok(0.0));
}

/// A receiver whose certificate the configured CA did not sign: refused with a log line
/// naming the peer and the CA file; the samples stay buffered.
#[test]
fn remote_write_with_the_wrong_ca_is_refused_with_a_clear_log_line() {
    let pki = Pki::new();
    let receiver = start_prometheus_web(&pki);
    let password_file = pki.dir().join("password");
    fs::write(&password_file, PASSWORD).expect("write password");
    let target = FakeTarget::start("# TYPE x gauge\nx 1\n");
    let listen = support::free_port();
    let mut outpost = start_outpost(&format!(
        r#"listen = "127.0.0.1:{listen}"
[global]
scrape_interval = "1s"
scrape_timeout = "1s"
{rw}
[[scrape_configs]]
job_name = "x"
[[scrape_configs.static_configs]]
targets = ["{target}"]
"#,
        rw = remote_write(&receiver, &pki.other_ca, &password_file),
        target = target.address(),
    ));
    let want = format!(
        "tls handshake with 127.0.0.1:{}: invalid peer certificate: UnknownIssuer (verified against ca_file {})",
        receiver.port,
        pki.other_ca.display()
    );
    poll_until(WITHIN, "the refusal is logged", || {
        outpost.assert_running();
        if outpost.log_tail().contains(&want) { Ok(()) } else { Err("not yet".into()) }
    });
    let pending = poll_until(WITHIN, "samples are kept", || {
        match outpost_metric(listen, "prometheus_remote_storage_samples_pending") {
            Ok(n) if n > 0.0 => Ok(n),
            other => Err(format!("{other:?}")),
        }
    });
    assert!(pending > 0.0);
    assert_eq!(outpost_metric(listen, "prometheus_remote_storage_samples_failed_total"), Ok(0.0));
}

/// node_exporter over https with basic auth, scraped with tls_config + basic_auth: up=1 and
/// its series arrive; the same target with a wrong password is up=0.
#[test]
fn https_node_exporter_with_basic_auth_is_scraped() {
    let pki = Pki::new();
    let node = start_node_exporter_web(&pki);
    let receiver = start_prometheus();
    let mut outpost = start_outpost(&format!(
        r#"[global]
scrape_interval = "1s"
scrape_timeout = "1s"
[[remote_write]]
url = "http://127.0.0.1:{receiver}/api/v1/write"
[remote_write.queue_config]
batch_send_deadline = "200ms"
[[scrape_configs]]
job_name = "node"
scheme = "https"
basic_auth = {{ username = "{USER}", password = "{PASSWORD}" }}
tls_config = {{ ca_file = {ca:?} }}
[[scrape_configs.static_configs]]
targets = ["127.0.0.1:{node}"]
[[scrape_configs]]
job_name = "wrong-password"
scheme = "https"
basic_auth = {{ username = "{USER}", password = "nope" }}
tls_config = {{ ca_file = {ca:?} }}
[[scrape_configs.static_configs]]
targets = ["127.0.0.1:{node}"]
"#,
        receiver = receiver.port,
        node = node.port,
        ca = pki.ca,
    ));
    let up = |job: &str| -> Result<f64, String> {
        let result = query(receiver.port, &format!("up{{job=\"{job}\"}}"))?;
        let value = result.first().and_then(|s| s["value"][1].as_str()?.parse().ok());
        value.ok_or_else(|| "no up yet".to_owned())
    };
    poll_until(WITHIN, "up for both jobs", || {
        outpost.assert_running();
        match (up("node")?, up("wrong-password")?) {
            (1.0, 0.0) => Ok(()),
            other => Err(format!("up {other:?}")),
        }
    });
    let series = poll_until(WITHIN, "node_exporter's series arrive", || {
        let result = query(receiver.port, r#"count({job="node", __name__=~"node_.+"})"#)?;
        let count: f64 = result.first().and_then(|s| s["value"][1].as_str()?.parse().ok()).unwrap_or(0.0);
        if count >= 50.0 { Ok(count) } else { Err(format!("{count} node_ series")) }
    });
    assert!(series >= 50.0);
    let log = outpost.log_tail();
    assert!(
        log.contains(&format!(
            "scrape https://127.0.0.1:{}/metrics: server returned HTTP status 401",
            node.port
        )),
        "{log}"
    );
}

/// `outpost check` names an unreadable CA file and an unusable key with the config position.
#[test]
fn outpost_check_names_unusable_tls_and_credential_files() {
    let pki = Pki::new();
    let dir = support::TempDir::new("check-tls");
    let config = dir.path().join("outpost.toml");
    let check = |text: &str| {
        fs::write(&config, text).expect("write config");
        let output = support::outpost_command()
            .arg("check")
            .arg("--config")
            .arg(&config)
            .output()
            .expect("run outpost check");
        (output.status.code(), String::from_utf8_lossy(&output.stderr).into_owned())
    };
    let rw = "[[remote_write]]\nurl = \"https://127.0.0.1:1/api/v1/write\"\n";
    let (code, stderr) = check(&format!("{rw}tls_config = {{ ca_file = \"missing-ca.pem\" }}\n"));
    assert_eq!(code, Some(1), "{stderr}");
    let missing = dir.path().join("missing-ca.pem");
    assert!(
        stderr.contains(&format!(
            "{}:3:26: remote_write[0] (\"https://127.0.0.1:1/api/v1/write\").tls_config.ca_file: tls_config: ca_file {}: cannot read: No such file or directory",
            config.display(),
            missing.display()
        )),
        "{stderr}"
    );
    // A certificate with a key that is not its own.
    let other_key = dir.path().join("other.key");
    fs::write(&other_key, rcgen::KeyPair::generate().expect("key").serialize_pem()).expect("write key");
    let (code, stderr) =
        check(&format!("{rw}tls_config = {{ cert_file = {:?}, key_file = {:?} }}\n", pki.cert, other_key));
    assert_eq!(code, Some(1), "{stderr}");
    let want =
        format!("tls_config: key_file {} does not fit cert_file {}", other_key.display(), pki.cert.display());
    assert!(stderr.contains(&want), "{stderr}");
    let (code, stderr) = check(&format!("{rw}bearer_token_file = \"token\"\n"));
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "{}:3:21: remote_write[0] (\"https://127.0.0.1:1/api/v1/write\").bearer_token_file: bearer_token_file {}: cannot read",
            config.display(),
            dir.path().join("token").display()
        )),
        "{stderr}"
    );
}
