//! `http_sd_configs` against a local server whose answer the test sets: Prometheus's
//! format and semantics (discovery/http): groups with `__meta_url` and `<url>:<i>` sources,
//! the refresh-interval header, a shorter list removing groups, and every failed refresh
//! (status, content type, malformed JSON, a nil group, a body over the bound) keeping
//! the targets of the last good one, with its cause logged.

mod support;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use outpost::config::{HttpClientConfig, HttpSdConfig};
use outpost::discovery::{Group, ProviderId, Updates, http_sd};
use outpost::offload::Offload;
use support::poll_until;

/// What the server answers: status, Content-Type, body.
type Answer = (u16, &'static str, Vec<u8>);

/// Answers every GET with the current [`Answer`] and keeps each request's headers.
struct SdServer {
    port: u16,
    answer: Arc<Mutex<Answer>>,
    requests: Arc<Mutex<Vec<BTreeMap<String, String>>>>,
    stop: Arc<AtomicBool>,
}

impl SdServer {
    fn start(answer: Answer) -> SdServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().expect("addr").port();
        let answer = Arc::new(Mutex::new(answer));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (a, r, s) = (answer.clone(), requests.clone(), stop.clone());
        std::thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                let Ok((stream, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                };
                let _ = stream.set_nonblocking(false);
                let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
                let mut reader = BufReader::new(stream);
                let mut headers = BTreeMap::new();
                let mut line = String::new();
                // Request line, then headers up to the blank line; bounded.
                for _ in 0..100 {
                    line.clear();
                    if reader.by_ref().take(8192).read_line(&mut line).unwrap_or(0) == 0 {
                        break;
                    }
                    let l = line.trim_end();
                    if l.is_empty() {
                        break;
                    }
                    if let Some((k, v)) = l.split_once(':') {
                        headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
                    }
                }
                r.lock().expect("lock").push(headers);
                let (status, content_type, body) = a.lock().expect("lock").clone();
                let mut stream = reader.into_inner();
                let head = format!(
                    "HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(head.as_bytes()).and_then(|()| stream.write_all(&body));
            }
        });
        SdServer { port, answer, requests, stop }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/sd", self.port)
    }

    fn answer(&self, answer: Answer) {
        *self.answer.lock().expect("lock") = answer;
    }

    fn requests(&self) -> usize {
        self.requests.lock().expect("lock").len()
    }
}

impl Drop for SdServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn json(body: &str) -> Answer {
    (200, "application/json", body.as_bytes().to_vec())
}

/// The provider on its own thread; its groups applied as the agent applies them.
struct Discovered {
    rx: smol::channel::Receiver<outpost::discovery::Update>,
    groups: BTreeMap<String, Group>,
}

impl Discovered {
    fn start(url: String) -> Discovered {
        let (tx, rx) = smol::channel::unbounded();
        let config = HttpSdConfig {
            url,
            refresh_interval: Duration::from_millis(150),
            http_client: HttpClientConfig::default(),
        };
        std::thread::spawn(move || {
            let offload = Offload::new(1);
            smol::block_on(http_sd::run(config, Updates { id: ProviderId(1), tx }, &offload))
        });
        Discovered { rx, groups: BTreeMap::new() }
    }

    /// source -> sorted addresses, and the `__meta_url` of each group.
    fn current(&mut self) -> BTreeMap<String, (Vec<String>, String)> {
        while let Ok((_, groups)) = self.rx.try_recv() {
            for g in groups {
                if g.targets.is_empty() {
                    self.groups.remove(&g.source);
                } else {
                    self.groups.insert(g.source.clone(), g);
                }
            }
        }
        let view = |g: &Group| {
            let mut a: Vec<String> =
                g.targets.iter().filter_map(|t| t.get("__address__")).map(str::to_owned).collect();
            a.sort();
            (a, g.labels.get(http_sd::URL_LABEL).unwrap_or("").to_owned())
        };
        self.groups.iter().map(|(k, g)| (k.clone(), view(g))).collect()
    }

    fn wait_for(&mut self, what: &str, url: &str, want: &[(usize, &[&str])]) {
        let want: BTreeMap<String, (Vec<String>, String)> = want
            .iter()
            .map(|(i, a)| {
                (format!("{url}:{i}"), (a.iter().map(|s| (*s).to_owned()).collect(), url.to_owned()))
            })
            .collect();
        poll_until(Duration::from_secs(10), what, || {
            let got = self.current();
            if got == want { Ok(()) } else { Err(format!("{got:?}")) }
        });
    }
}

static LOGGED: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }
    fn log(&self, record: &log::Record) {
        let line = format!("{} {}", record.level(), record.args());
        LOGGED.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(line);
    }
    fn flush(&self) {}
}

fn wait_logged(what: &str, parts: &[&str]) {
    if log::set_logger(&Capture).is_ok() {
        log::set_max_level(log::LevelFilter::Info);
    }
    poll_until(Duration::from_secs(10), what, || {
        let lines = LOGGED.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match lines.iter().any(|l| parts.iter().all(|p| l.contains(p))) {
            true => Ok(()),
            false => Err(format!("{} lines, none with {parts:?}", lines.len())),
        }
    });
}

#[test]
fn groups_are_refreshed_with_the_url_label_and_the_interval_header() {
    let server = SdServer::start(json(
        r#"[{"targets":["10.0.0.1:9100","10.0.0.2:9100"],"labels":{"env":"edge"}},{"targets":["10.0.0.3:9100"]}]"#,
    ));
    let url = server.url();
    let mut d = Discovered::start(url.clone());
    d.wait_for("both groups", &url, &[(0, &["10.0.0.1:9100", "10.0.0.2:9100"]), (1, &["10.0.0.3:9100"])]);
    assert_eq!(d.groups[&format!("{url}:0")].labels.get("env"), Some("edge"));
    let headers = server.requests.lock().expect("lock")[0].clone();
    assert_eq!(headers.get("x-prometheus-refresh-interval-seconds").map(String::as_str), Some("0.15"));
    assert_eq!(headers.get("accept").map(String::as_str), Some("application/json"));
    server.answer(json(r#"[{"targets":["10.0.0.4:9100"]}]"#));
    d.wait_for("the shorter list: group 1 removed, group 0 replaced", &url, &[(0, &["10.0.0.4:9100"])]);
    server.answer(json("[]"));
    d.wait_for("an empty list removes every group", &url, &[]);
}

#[test]
fn a_failed_refresh_keeps_the_last_targets_and_names_the_cause() {
    let server = SdServer::start(json(r#"[{"targets":["10.1.0.1:9100"]}]"#));
    let url = server.url();
    let mut d = Discovered::start(url.clone());
    let good: &[(usize, &[&str])] = &[(0, &["10.1.0.1:9100"])];
    d.wait_for("the first refresh", &url, good);
    let over = vec![b' '; (http_sd::MAX_BODY_BYTES + 1) as usize];
    let failures: [(Answer, &str); 5] = [
        ((503, "text/plain", b"down".to_vec()), "server returned HTTP status 503"),
        ((200, "text/plain", b"[]".to_vec()), "unsupported content type \"text/plain\""),
        (json(r#"[{"targets":["10.1.0.2:9100"]"#), "malformed JSON: EOF while parsing"),
        (json(r#"[null]"#), "group 0: nil target group item found"),
        ((200, "application/json", over), "body larger than 16777216 bytes"),
    ];
    for (answer, cause) in failures {
        let before = server.requests();
        server.answer(answer);
        wait_logged(cause, &[&url, cause, "keeping the targets of the last good refresh"]);
        poll_until(Duration::from_secs(10), "another refresh after the failure", || {
            if server.requests() > before + 1 { Ok(()) } else { Err("not yet".into()) }
        });
        assert_eq!(
            d.current(),
            [(format!("{url}:0"), (vec!["10.1.0.1:9100".to_owned()], url.clone()))].into(),
            "after {cause}"
        );
    }
    server.answer(json(r#"[{"targets":["10.1.0.9:9100"]}]"#));
    d.wait_for("recovered", &url, &[(0, &["10.1.0.9:9100"])]);
    wait_logged("recovery is logged", &[&url, "refreshed again"]);
}

/// The lines of family `name` in an exposition: HELP, TYPE and samples, values cut off.
fn family_lines(exposition: &str, name: &str) -> Vec<String> {
    exposition
        .lines()
        .filter(|l| {
            let l = l.strip_prefix("# HELP ").or_else(|| l.strip_prefix("# TYPE ")).unwrap_or(l);
            l.strip_prefix(name).is_some_and(|rest| rest.starts_with([' ', '{']))
        })
        .map(|l| match l.starts_with('#') {
            true => l.to_owned(),
            false => l.rsplit_once(' ').map_or(l, |(series, _)| series).to_owned(),
        })
        .collect()
}

/// The value of the sample line `series` (labels included) in an exposition.
fn sample_value(exposition: &str, series: &str) -> Option<f64> {
    exposition.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn failed_refreshes_are_counted_as_prometheus_counts_them() {
    use support::{Child, TempDir, free_port, http_get, start_outpost};
    let server = SdServer::start((503, "text/plain", b"down".to_vec()));
    let url = server.url();
    let dir = TempDir::new("prometheus-agent");
    let config = dir.path().join("prometheus.yml");
    let yaml = format!(
        "scrape_configs:\n  - job_name: sd\n    http_sd_configs:\n      - url: {url}\n        refresh_interval: 1s\n"
    );
    std::fs::write(&config, yaml).expect("write prometheus.yml");
    let prometheus_port = free_port();
    let mut command = std::process::Command::new(support::program(&["prometheus"]));
    command
        .arg("--enable-feature=agent")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.agent.path={}", dir.path().join("agent").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{prometheus_port}"));
    let mut prometheus = Child::spawn("prometheus-agent", command, dir, prometheus_port);
    prometheus.wait_ready("/-/ready");
    let listen = free_port();
    let _outpost = start_outpost(&format!(
        r#"listen = "127.0.0.1:{listen}"
[[remote_write]]
url = "http://127.0.0.1:{}/unused"
[[scrape_configs]]
job_name = "sd"
[[scrape_configs.http_sd_configs]]
url = "{url}"
refresh_interval = "1s"
"#,
        free_port()
    ));
    let failures = "prometheus_sd_http_failures_total";
    let refresh = "prometheus_sd_refresh_failures_total{mechanism=\"http\"}";
    // Both have failed at least twice (each fetches once at start, then every second).
    let expositions = poll_until(Duration::from_secs(20), "two failed refreshes counted by each", || {
        let mut out = Vec::new();
        for (who, port) in [("prometheus", prometheus_port), ("outpost", listen)] {
            let (_, text) = http_get(port, "/metrics").map_err(|e| format!("{who}: {e}"))?;
            match (sample_value(&text, failures), sample_value(&text, refresh)) {
                (Some(a), Some(b)) if a >= 2.0 && b >= 2.0 => out.push(text),
                got => return Err(format!("{who}: {got:?}")),
            }
        }
        Ok(out)
    });
    let (theirs, ours) = (&expositions[0], &expositions[1]);
    for family in [failures, "prometheus_sd_refresh_failures_total"] {
        assert_eq!(family_lines(ours, family), family_lines(theirs, family), "{family}");
        assert!(!family_lines(ours, family).is_empty(), "{family} exported");
    }
    // Named difference: Prometheus also exports prometheus_sd_refresh_duration_seconds (a
    // summary of every refresh's duration); outpost does not time refreshes.
    assert!(!family_lines(theirs, "prometheus_sd_refresh_duration_seconds").is_empty());
    assert!(family_lines(ours, "prometheus_sd_refresh_duration_seconds").is_empty());
    assert!(server.requests() >= 2, "the SD server was asked");
}
