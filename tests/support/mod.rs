//! Real parts for end-to-end tests: node_exporter, Prometheus, VictoriaMetrics and the
//! outpost binary (or `OUTPOST_EXEC`), each on a free 127.0.0.1 port with its own temp dir.
//! A [`Child`] owns its process: dropping it kills that PID, waits, removes the dir, and on a
//! failing test prints the tail of the process's output. Every wait here is bounded in
//! attempts and time; nothing but 127.0.0.1 is ever contacted.
#![allow(dead_code)] // each tests/*.rs uses a different part of the harness

pub mod fake;
pub mod kube;
pub mod tls;

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{self, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A series' labels, `__name__` included, as the query API returns them.
pub type LabelSet = BTreeMap<String, String>;

/// How long a service may take to answer its readiness endpoint.
const READY_WITHIN: Duration = Duration::from_secs(30);
/// The pause between two attempts of [`poll_until`].
const POLL_INTERVAL: Duration = Duration::from_millis(250);
/// How much of a process's output a failing test prints.
const LOG_TAIL_BYTES: usize = 8 * 1024;

/// A port that was free on 127.0.0.1 a moment ago (bound to :0, read, released).
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local_addr of a bound listener").port()
}

/// A directory under `std::env::temp_dir()` with a unique name, removed on drop.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().subsec_nanos();
        let name = format!("outpost-{tag}-{}-{}-{nanos}", process::id(), SEQ.fetch_add(1, Ordering::Relaxed));
        let path = std::env::temp_dir().join(name);
        fs::create_dir(&path).unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
        TempDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// A process this test started. Drop kills it by PID and waits for it, so no test leaves a
/// process behind, even when it panics. stdout and stderr go to `output.log` in its dir.
pub struct Child {
    name: String,
    process: process::Child,
    /// The 127.0.0.1 port it listens on (0 when it was given none).
    pub port: u16,
    log: PathBuf,
    /// Dropped after the process is reaped (fields drop after `Drop::drop`).
    dir: TempDir,
}

impl Child {
    /// Starts `command` with output to a log file in `dir`, which the child then owns.
    pub fn spawn(name: &str, mut command: Command, dir: TempDir, port: u16) -> Child {
        let log = dir.path().join("output.log");
        let out = File::create(&log).unwrap_or_else(|e| panic!("create {}: {e}", log.display()));
        let err = out.try_clone().expect("clone log file handle");
        command.stdin(Stdio::null()).stdout(out).stderr(err);
        let process = command.spawn().unwrap_or_else(|e| panic!("start {name} ({command:?}): {e}"));
        Child { name: name.to_owned(), process, port, log, dir }
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn pid(&self) -> u32 {
        self.process.id()
    }

    /// The last few KiB the process wrote to stdout and stderr.
    pub fn log_tail(&self) -> String {
        let bytes = fs::read(&self.log).unwrap_or_default();
        let start = bytes.len().saturating_sub(LOG_TAIL_BYTES);
        String::from_utf8_lossy(&bytes[start..]).into_owned()
    }

    /// Sends `signal` (a `kill -s` name: TERM, KILL, HUP) to this process only.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args(["-s", signal, &self.pid().to_string()])
            .status()
            .unwrap_or_else(|e| panic!("kill -s {signal} {}: {e}", self.pid()));
        assert!(status.success(), "kill -s {signal} {} failed", self.pid());
    }

    /// Waits for the process to exit, polling, for at most `within`.
    pub fn wait_exit(&mut self, within: Duration) -> process::ExitStatus {
        let what = format!("{} (pid {}) exits", self.name, self.pid());
        poll_until(within, &what, || match self.process.try_wait() {
            Ok(Some(status)) => Ok(status),
            Ok(None) => Err("still running".into()),
            Err(e) => Err(e.to_string()),
        })
    }

    /// Stops the process with SIGTERM (a clean shutdown: Prometheus flushes
    /// its WAL) and hands back its directory, to start it again on the same data.
    pub fn stop_keep_dir(mut self) -> TempDir {
        self.signal("TERM");
        self.wait_exit(Duration::from_secs(30));
        std::mem::replace(&mut self.dir, TempDir { path: PathBuf::new() })
    }

    /// Panics with the process's output if it has exited: a dead process never becomes ready.
    pub fn assert_running(&mut self) {
        match self.process.try_wait() {
            Ok(None) => {}
            Ok(Some(status)) => panic!(
                "{} (pid {}) exited early with {status}; its output:\n{}",
                self.name,
                self.pid(),
                self.log_tail()
            ),
            Err(e) => panic!("wait for {} (pid {}): {e}", self.name, self.pid()),
        }
    }

    /// Waits until `GET path` on its port answers 200, and panics if it exits or takes too long.
    pub fn wait_ready(&mut self, path: &str) {
        let port = self.port;
        let what = format!("{} answers 200 on 127.0.0.1:{port}{path}", self.name);
        poll_until(READY_WITHIN, &what, || {
            self.assert_running();
            match http_get(port, path) {
                Ok((200, _)) => Ok(()),
                Ok((status, body)) => Err(format!("status {status}: {}", clip(&body))),
                Err(e) => Err(e.to_string()),
            }
        });
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        // Child::kill sends SIGKILL to this PID only; wait reaps it so the PID is not reused
        // while we still hold it.
        let _ = self.process.kill();
        let _ = self.process.wait();
        if std::thread::panicking() {
            eprintln!(
                "--- {} (pid {}) output, last {LOG_TAIL_BYTES} bytes ---\n{}--- end of {} ---",
                self.name,
                self.pid(),
                self.log_tail(),
                self.name
            );
        }
    }
}

/// The first of `names` found on PATH.
pub fn program(names: &[&str]) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        for name in names {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    panic!("none of {names:?} is on PATH; ./run-tests installs them")
}

/// node_exporter on a free port; ready once /metrics answers 200.
pub fn start_node_exporter() -> Child {
    let port = free_port();
    let mut command = Command::new(program(&["prometheus-node-exporter", "node_exporter"]));
    command.arg(format!("--web.listen-address=127.0.0.1:{port}"));
    // Debian enables the systemd collector; it needs systemd's D-Bus socket, which a
    // container lacks (an error per scrape), and it is slow on a busy host.
    command.arg("--no-collector.systemd");
    let mut child = Child::spawn("node_exporter", command, TempDir::new("node-exporter"), port);
    child.wait_ready("/metrics");
    child
}

/// Prometheus as a remote-write receiver (no scrape configs of its own); ready on /-/ready.
pub fn start_prometheus() -> Child {
    start_prometheus_in(TempDir::new("prometheus"), free_port())
}

/// Prometheus on `port` with its storage in `dir`: a restart keeps its data.
pub fn start_prometheus_in(dir: TempDir, port: u16) -> Child {
    start_prometheus_configured(dir, port, "global:\n  evaluation_interval: 1m\n")
}

/// Prometheus with its own `prometheus.yml` (e.g. a scrape job to compare with).
pub fn start_prometheus_configured(dir: TempDir, port: u16, yaml: &str) -> Child {
    let config = dir.path().join("prometheus.yml");
    fs::write(&config, yaml).expect("write prometheus.yml");
    let mut command = Command::new(program(&["prometheus"]));
    command
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--web.enable-remote-write-receiver");
    let mut child = Child::spawn("prometheus", command, dir, port);
    child.wait_ready("/-/ready");
    child
}

/// VictoriaMetrics single-node; ready on /health. By default a query ignores the last 30 s
/// (`-search.latencyOffset`): cut to 0 so a sample shows once VictoriaMetrics has flushed
/// its raw rows: measured with Debian 12's 1.79, up to ~10 s after ingestion for a new
/// series. (`-inmemoryDataFlushInterval`, which shortens that in newer releases, is
/// rejected by 1.79.)
pub fn start_victoria_metrics() -> Child {
    let port = free_port();
    let dir = TempDir::new("victoria-metrics");
    let mut command = Command::new(program(&["victoria-metrics", "victoria-metrics-prod"]));
    command
        .arg(format!("-httpListenAddr=127.0.0.1:{port}"))
        .arg(format!("-storageDataPath={}", dir.path().join("data").display()))
        .arg("-search.latencyOffset=0s")
        .arg("-search.disableCache");
    let mut child = Child::spawn("victoria-metrics", command, dir, port);
    child.wait_ready("/health");
    child
}

/// The outpost binary under test: `OUTPOST_EXEC` (a command line split on whitespace, e.g.
/// `qemu-arm-static /abs/dist/outpost-armv7-unknown-linux-gnueabihf`) when set, else the
/// binary cargo built for this test.
pub fn outpost_command() -> Command {
    match std::env::var("OUTPOST_EXEC") {
        Ok(line) if !line.trim().is_empty() => {
            let mut words = line.split_whitespace();
            let mut command = Command::new(words.next().unwrap_or_default());
            command.args(words);
            command
        }
        _ => Command::new(env!("CARGO_BIN_EXE_outpost")),
    }
}

/// Runs `outpost --config <file>` with `config` written to its temp dir. Unless the config
/// sets `data_dir`, it gets one in that temp dir, so no test writes to the working directory.
pub fn start_outpost(config: &str) -> Child {
    let dir = TempDir::new("outpost");
    let mut text = String::new();
    if !config.lines().any(|line| line.trim_start().starts_with("data_dir")) {
        // Top-level keys must precede every table, so this goes first.
        text.push_str(&format!("data_dir = {:?}\n", dir.path().join("data").display().to_string()));
    }
    text.push_str(config);
    let file = dir.path().join("outpost.toml");
    fs::write(&file, text).expect("write outpost.toml");
    let mut command = outpost_command();
    command.arg("--config").arg(&file);
    let mut child = Child::spawn("outpost", command, dir, 0);
    child.assert_running();
    child
}

/// Calls `attempt` every 250 ms until it returns `Ok`, for at most `within` (and so a bounded
/// number of attempts). Panics naming `what` and the last reason it was not yet true.
pub fn poll_until<T>(within: Duration, what: &str, mut attempt: impl FnMut() -> Result<T, String>) -> T {
    let started = Instant::now();
    let max_attempts = within.as_millis() / POLL_INTERVAL.as_millis() + 1;
    let mut last = String::from("never tried");
    for _ in 0..max_attempts {
        match attempt() {
            Ok(value) => return value,
            Err(reason) => last = reason,
        }
        if started.elapsed() >= within {
            break;
        }
        std::thread::sleep(POLL_INTERVAL);
    }
    panic!("{what}: not within {within:?}; last attempt: {last}")
}

/// `GET path` on 127.0.0.1:port over HTTP/1.0 (so never chunked): (status, body).
pub fn http_get(port: u16, path: &str) -> io::Result<(u16, String)> {
    http_request(port, "GET", path, &[], &[])
}

/// One HTTP/1.0 request to 127.0.0.1:port with a bounded connect, read and write time.
pub fn http_request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> io::Result<(u16, String)> {
    let timeout = Duration::from_secs(10);
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let mut request =
        format!("{method} {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nContent-Length: {}\r\n", body.len());
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes())?;
    stream.write_all(body)?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let text = String::from_utf8_lossy(&response);
    let bad = |why: &str| io::Error::new(io::ErrorKind::InvalidData, format!("{why}: {}", clip(&text)));
    let (head, body) = text.split_once("\r\n\r\n").ok_or_else(|| bad("no end of headers"))?;
    let status =
        head.split(' ').nth(1).and_then(|code| code.parse().ok()).ok_or_else(|| bad("no status code"))?;
    Ok((status, body.to_owned()))
}

/// Evaluates `promql` on the Prometheus-compatible query API at 127.0.0.1:port and returns
/// `data.result` (an instant vector). Any failure is an `Err` naming it, for [`poll_until`].
pub fn query(port: u16, promql: &str) -> Result<Vec<serde_json::Value>, String> {
    let path = format!("/api/v1/query?query={}", url_encode(promql));
    let (status, body) = http_get(port, &path).map_err(|e| format!("query {promql}: {e}"))?;
    if status != 200 {
        return Err(format!("query {promql}: status {status}: {}", clip(&body)));
    }
    let json: serde_json::Value =
        serde_json::from_str(&body).map_err(|e| format!("query {promql}: {e}: {}", clip(&body)))?;
    match json["data"]["result"].as_array() {
        Some(result) if json["status"] == "success" => Ok(result.clone()),
        _ => Err(format!("query {promql}: unexpected answer {}", clip(&body))),
    }
}

/// The labels of one series of a query result (`result[i].metric`).
pub fn series_labels(series: &serde_json::Value) -> LabelSet {
    series["metric"]
        .as_object()
        .map(|metric| {
            metric
                .iter()
                .map(|(name, value)| (name.clone(), value.as_str().unwrap_or_default().to_owned()))
                .collect()
        })
        .unwrap_or_default()
}

/// The value of one series of an instant-vector result (`result[i].value[1]`, a string).
pub fn series_value(series: &serde_json::Value) -> Option<f64> {
    series["value"][1].as_str()?.parse().ok()
}

/// The label sets (with `__name__`) of every sample line of metric `name` in a text-format
/// exposition, e.g. node_exporter's /metrics. A small parser, enough for exporters' output.
pub fn exposed_series(exposition: &str, name: &str) -> Vec<LabelSet> {
    exposition
        .lines()
        .filter_map(|line| {
            let rest = line.strip_prefix(name)?;
            if !(rest.starts_with('{') || rest.starts_with(' ')) {
                return None; // another metric whose name starts with `name`
            }
            let mut labels = parse_labels(rest)
                .unwrap_or_else(|| panic!("cannot parse the labels of exposed line {line:?}"));
            labels.insert("__name__".to_owned(), name.to_owned());
            Some(labels)
        })
        .collect()
}

/// `{a="x",b="y\"z"} 1` -> {a: x, b: y"z}; a line without `{` has no labels.
fn parse_labels(rest: &str) -> Option<LabelSet> {
    let mut labels = LabelSet::new();
    let Some(mut rest) = rest.strip_prefix('{') else {
        return Some(labels);
    };
    loop {
        rest = rest.trim_start_matches([' ', ',']);
        if rest.starts_with('}') {
            return Some(labels);
        }
        let (name, after) = rest.split_once("=\"")?;
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next()? {
                (i, '"') => break i,
                (_, '\\') => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    other => value.push(other),
                },
                (_, c) => value.push(c),
            }
        };
        labels.insert(name.trim().to_owned(), value);
        rest = &after[end + 1..];
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
pub fn url_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The first 1 KiB of a body, for error messages.
fn clip(text: &str) -> &str {
    let mut end = text.len().min(1024);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}
