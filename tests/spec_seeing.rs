//! Seeing what outpost does (issue 10, items 3 and 4), against the real binary with one
//! target up, one down (nothing listens on its port), one dropped by a relabel rule, and a
//! receiver in an outage (it answers 503): `outpost status` in a terminal, and the pages in
//! a real browser (Debian's headless Chromium), screenshots kept under
//! target/test-artifacts/pages/.

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use support::fake::{FakeReceiver, FakeTarget};
use support::{Child, TempDir, free_port, http_request, outpost_command, poll_until, start_outpost};

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

/// Runs `command` to its end, killed after 60 s (outpost status has a 5 s timeout of its own;
/// headless Chromium loads a page in a few seconds on a busy machine).
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
    match waited.recv_timeout(Duration::from_secs(60)) {
        Ok(output) => output.unwrap_or_else(|e| panic!("{what}: {e}")),
        Err(_) => {
            let _ = Command::new("kill").args(["-s", "KILL", &pid.to_string()]).status();
            panic!("{what} (pid {pid}) did not finish within 60 s");
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

fn get(port: u16, path: &str, accept: &str) -> (u16, String) {
    http_request(port, "GET", path, &[("Accept", accept)], &[]).expect("GET")
}

/// Debian's Chromium, headless, with a fresh profile and nothing fetched but `url`.
fn chromium(profile: &Path, args: &[String], url: &str) -> Output {
    let mut command = Command::new(CHROMIUM);
    command
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        .args(["--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic"])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(url);
    run_bounded(command, &format!("chromium {url}"))
}

const CHROMIUM: &str = "/usr/bin/chromium";

/// Where the screenshots are kept: target/test-artifacts/pages/.
fn artifacts() -> PathBuf {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let dir = tmp.parent().unwrap_or(tmp).join("test-artifacts").join("pages");
    fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    dir
}

#[test]
fn pages_show_what_a_person_looks_for_in_a_real_browser() {
    if !Path::new(CHROMIUM).exists() {
        eprintln!(
            "SKIPPED: {CHROMIUM} is missing (Debian package chromium); the pages were not tested in a browser"
        );
        return;
    }
    let scene = scene();
    let port = scene.agent.port;
    // The state the pages must show: the target down with its error, the queue in an outage.
    poll_until(WITHIN, "the down target's error and the outage are known", || {
        let (_, targets) = get(port, "/api/v1/targets", "application/json");
        let (_, queues) = get(port, "/api/v1/status/remote_write", "application/json");
        let up = targets.contains(r#""health":"up""#);
        let down = targets.to_lowercase().contains("connection refused");
        let outage = queues.contains(r#""state":"outage""#);
        if up && down && outage { Ok(()) } else { Err(format!("{targets}\n{queues}")) }
    });
    let profile = TempDir::new("chromium");
    let shots = artifacts();
    let mut pages = Vec::new();
    for (name, path) in [
        ("home", "/"),
        ("targets", "/targets"),
        ("service-discovery", "/service-discovery"),
        ("remote-write", "/remote-write"),
    ] {
        let url = format!("http://127.0.0.1:{port}{path}");
        let dom = chromium(profile.path(), &["--dump-dom".to_owned()], &url);
        assert!(dom.status.success(), "chromium --dump-dom {url}: {}", text(&dom.stderr));
        let shot = shots.join(format!("{name}.png"));
        let _ = fs::remove_file(&shot);
        let taken = chromium(
            profile.path(),
            &[format!("--screenshot={}", shot.display()), "--window-size=1280,900".to_owned()],
            &url,
        );
        assert!(taken.status.success(), "chromium --screenshot {url}: {}", text(&taken.stderr));
        let size = fs::metadata(&shot).map(|m| m.len()).unwrap_or(0);
        assert!(size > 1000, "screenshot {} is {size} bytes", shot.display());
        pages.push(text(&dom.stdout));
    }
    let [home, targets, discovery, remote_write] = pages.try_into().expect("four pages");
    // `/`: what runs, from which file, and the queue's health at a glance.
    let config = scene.agent.dir().join("outpost.toml");
    for want in [
        env!("CARGO_PKG_VERSION"),
        &config.display().to_string(),
        "central",
        "outage since",
        "1 up",
        "1 down",
    ] {
        assert!(home.contains(want), "/ lacks {want:?}:\n{home}");
    }
    // `/targets`: the pool's count, the down target with its error, labels, the up target.
    for want in [
        "edge (1/2 up)",
        &format!("http://{}/metrics", scene.down),
        &format!("http://{}/metrics", scene.up),
        "site=\"pump-house\"",
    ] {
        assert!(targets.contains(want), "/targets lacks {want:?}:\n{targets}");
    }
    assert!(targets.to_lowercase().contains("connection refused"), "/targets shows the error:\n{targets}");
    assert!(targets.contains("class=\"down\">down<"), "the down target is marked down:\n{targets}");
    // `/service-discovery`: discovered against target labels; the dropped target and its rule.
    for want in [
        &format!("__address__=\"{}\"", scene.dropped),
        "Dropped by relabel_configs[0]",
        r#"action = "drop""#,
        r#"regex = '127\.0\.0\.1:9'"#,
        r#"source_labels = ["__address__"]"#,
        &format!("instance=\"{}\"", scene.up),
    ] {
        assert!(discovery.contains(want), "/service-discovery lacks {want:?}:\n{discovery}");
    }
    // `/remote-write`: the outage, its cause and the backlog on disk.
    for want in ["outage since", "HTTP 503", "on disk", "Oldest unsent sample", "Next retry"] {
        assert!(remote_write.contains(want), "/remote-write lacks {want:?}:\n{remote_write}");
    }
    // Without Accept: text/html (curl), /targets is plain text, as vmagent's.
    let (status, plain) = get(port, "/targets", "*/*");
    assert_eq!(status, 200);
    assert!(plain.starts_with("job=\"edge\" (1/2 up)\n\tstate="), "{plain}");
    assert!(!plain.contains('<'), "no HTML: {plain}");
}
