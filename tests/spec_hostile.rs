//! SPEC, "Memory has a budget" and "Bad input gets a clear error": the real binary against
//! targets that try to make it hold too much, and against a second instance on its data_dir.
//! Each case ends with a per-target error (`up` 0, the reason once in the log), no panic, and
//! the process's peak resident memory (VmHWM, and VmRSS polled, from /proc/PID/status) under
//! `RSS_CEILING_KIB`. Big bodies are generated as they are written, never held by the test.
//! The binary is the one cargo built for the test (debug with `cargo test`); `OUTPOST_EXEC`
//! runs another, e.g. `OUTPOST_EXEC=target/release/outpost` for the README's figures.

mod support;

use std::fs;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use support::fake::FakeReceiver;
use support::{Child, TempDir, outpost_command, poll_until, start_outpost};

/// The resident memory every case must stay under, with the default limits (README, "Memory
/// budget"): the binary and its threads, one 16 MiB body buffer (the scrape in flight), the
/// series of one target at `series_limit`, or one Kubernetes list at its bounds. The measured
/// peaks are printed by each test (`--nocapture`).
const RSS_CEILING_KIB: u64 = 64 << 10;

/// How long a case may take to show its first failed scrape.
const FAIL_WITHIN: Duration = Duration::from_secs(30);

/// A target that writes each answer as it is generated, one thread per connection; every
/// writer stops at the first failed write (outpost hung up), at `stop`, or at its own bound.
struct Streamer {
    port: u16,
    /// Requests answered so far.
    served: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// Writes the answer to the request whose first line is given.
type Respond = Arc<dyn Fn(&str, &mut TcpStream, &AtomicBool) -> io::Result<()> + Send + Sync>;

impl Streamer {
    fn start(respond: Respond) -> Streamer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind streamer");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().expect("addr").port();
        let (served, stop) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicBool::new(false)));
        let thread = {
            let (served, stop) = (served.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    let Ok((mut stream, _)) = listener.accept() else {
                        std::thread::sleep(Duration::from_millis(2));
                        continue;
                    };
                    let (respond, served, stop) = (respond.clone(), served.clone(), stop.clone());
                    std::thread::spawn(move || {
                        let _ = stream.set_nonblocking(false);
                        let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                        let Ok(line) = request_line(&stream) else { return };
                        served.fetch_add(1, Ordering::SeqCst);
                        let _ = respond(&line, &mut stream, &stop);
                    });
                }
            })
        };
        Streamer { port, served, stop, thread: Some(thread) }
    }

    fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Streamer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Reads a request's head (at most 64 KiB) and returns its first line.
fn request_line(stream: &TcpStream) -> io::Result<String> {
    let mut reader = BufReader::new(stream.try_clone()?).take(64 << 10);
    let mut first = String::new();
    reader.read_line(&mut first)?;
    let mut line = String::new();
    while reader.read_line(&mut line)? > 2 {
        line.clear();
    }
    Ok(first.trim_end().to_owned())
}

const TEXT_HEAD: &str =
    "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nConnection: close\r\n\r\n";

/// Writes what `fill` puts in a 64 KiB buffer, again and again, until it returns false, `stop`
/// is set, `max` bytes are written, or a write fails.
fn stream_body(
    stream: &mut TcpStream,
    stop: &AtomicBool,
    max: u64,
    mut fill: impl FnMut(&mut Vec<u8>) -> bool,
) -> io::Result<()> {
    let mut buf = Vec::with_capacity(64 << 10);
    let mut written = 0u64;
    while written < max && !stop.load(Ordering::SeqCst) {
        buf.clear();
        let more = fill(&mut buf);
        stream.write_all(&buf)?;
        written += buf.len() as u64;
        if !more {
            break;
        }
    }
    stream.flush()
}

/// Peak and current resident memory of `pid` in KiB: (VmHWM, VmRSS).
fn memory_kib(pid: u32) -> (u64, u64) {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

/// Polls VmRSS every 20 ms for `within`, returning its highest value and the final VmHWM.
fn watch_memory(pid: u32, within: Duration) -> (u64, u64) {
    let started = Instant::now();
    let mut highest = 0;
    for _ in 0..(within.as_millis() / 20 + 1) {
        highest = highest.max(memory_kib(pid).1);
        if started.elapsed() >= within {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    (highest, memory_kib(pid).0)
}

/// outpost scraping `target` every `interval` for job "hostile", writing to `receiver`.
fn hostile_config(data_dir: &Path, receiver: &FakeReceiver, targets: &str, extra: &str) -> String {
    format!(
        r#"data_dir = {dir:?}
log_level = "info"
[global]
scrape_interval = "1s"
scrape_timeout = "1s"
[[remote_write]]
name = "global"
url = "{url}"
[remote_write.queue_config]
batch_send_deadline = "100ms"
max_samples_per_send = 5000
[[scrape_configs]]
job_name = "hostile"
{extra}
{targets}"#,
        dir = data_dir.display().to_string(),
        url = receiver.url(),
    )
}

fn static_target(address: &str) -> String {
    format!("[[scrape_configs.static_configs]]\ntargets = [\"{address}\"]\n")
}

/// `up` values the receiver got for job "hostile", in time order.
fn ups(receiver: &FakeReceiver) -> Vec<f64> {
    receiver.samples("up", "job=hostile").into_iter().map(|(_, bits)| f64::from_bits(bits)).collect()
}

/// Runs one hostile target case: waits for `scrapes` failed scrapes (`up` 0 delivered), then
/// checks the reason is logged once and resident memory stayed under the ceiling.
fn expect_failure(name: &str, respond: Respond, extra: &str, reason: &str, scrapes: usize) -> (u64, u64) {
    let receiver = FakeReceiver::start(Box::new(|_, _| (200, Vec::new())));
    let target = Streamer::start(respond);
    let data = TempDir::new("hostile");
    let mut outpost =
        start_outpost(&hostile_config(data.path(), &receiver, &static_target(&target.address()), extra));
    let pid = outpost.pid();
    let started = Instant::now();
    let mut highest = 0;
    poll_until(FAIL_WITHIN, &format!("{name}: {scrapes} failed scrapes delivered as up 0"), || {
        outpost.assert_running();
        highest = highest.max(memory_kib(pid).1);
        let ups = ups(&receiver);
        if ups.iter().any(|v| *v != 0.0) {
            panic!("{name}: a scrape succeeded: up {ups:?}");
        }
        if ups.len() >= scrapes { Ok(()) } else { Err(format!("up so far {ups:?}")) }
    });
    let (polled, peak) = watch_memory(pid, Duration::from_millis(200));
    highest = highest.max(polled);
    outpost.assert_running();
    let log = outpost.log_tail();
    let lines: Vec<&str> =
        log.lines().filter(|l| l.contains("scrape http://") && l.contains(reason)).collect();
    assert_eq!(lines.len(), 1, "{name}: the reason {reason:?} once in the log:\n{log}");
    assert!(!log.contains("panicked"), "{name}: {log}");
    eprintln!(
        "{name}: peak RSS {} KiB (VmHWM), {} KiB polled VmRSS, in {:.1} s; log: {}",
        peak,
        highest,
        started.elapsed().as_secs_f64(),
        lines[0]
    );
    assert!(peak <= RSS_CEILING_KIB, "{name}: VmHWM {peak} KiB above the {RSS_CEILING_KIB} KiB ceiling");
    (peak, highest)
}

/// A 1.7 MB gzip body that inflates to 1 GiB of valid lines: refused at the 16 MiB limit,
/// checked on the inflated stream as it is read (SPEC: "bounded reads").
#[test]
fn gzip_bomb_is_refused_at_the_body_limit() {
    let bomb = Arc::new(gzip_bomb());
    assert!(bomb.len() < 2_000_000, "the bomb is {} bytes", bomb.len());
    let respond: Respond = Arc::new(move |_, stream, _| {
        stream.write_all(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Encoding: gzip\r\nConnection: close\r\n\r\n",
        )?;
        stream.write_all(&bomb)
    });
    expect_failure("gzip bomb", respond, "", "body size limit exceeded (16777216 bytes)", 2);
}

/// A gzip stream of 1 GiB: 1,024 copies of one compressed MiB of the same line, each ended by
/// a full flush (so every copy is the same bytes), a final block, and the trailer's CRC32 and
/// length, combined from the MiB's (flate2's `Crc::combine`) rather than computed over the GiB.
fn gzip_bomb() -> Vec<u8> {
    use flate2::{Compress, Compression, Crc, FlushCompress};
    // Lines of 4 KiB, mostly one repeated byte: deflate's best ratio (about 1,000:1).
    let line = format!("bomb_total{{pad=\"{}\"}} 1\n", "x".repeat(4000));
    let line = line.as_bytes();
    let mut mib = Vec::with_capacity(1 << 20);
    while mib.len() + line.len() <= 1 << 20 {
        mib.extend_from_slice(line);
    }
    mib.resize(1 << 20, b'\n');
    let mut deflate = Compress::new(Compression::best(), false);
    let mut block = Vec::with_capacity(8 << 10);
    deflate.compress_vec(&mib, &mut block, FlushCompress::Full).expect("deflate");
    let mut end = Vec::with_capacity(64);
    let mut last = Compress::new(Compression::best(), false);
    last.compress_vec(&[], &mut end, FlushCompress::Finish).expect("final block");
    let (mut crc, mut unit) = (Crc::new(), Crc::new());
    crc.update(&mib);
    unit.update(&mib);
    for _ in 1..1024 {
        crc.combine(&unit);
    }
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];
    for _ in 0..1024 {
        out.extend_from_slice(&block);
    }
    out.extend_from_slice(&end);
    out.extend_from_slice(&crc.sum().to_le_bytes());
    out.extend_from_slice(&crc.amount().to_le_bytes());
    out
}

/// A body that never ends, of distinct valid series: refused at the body limit.
#[test]
fn endless_body_is_refused_at_the_body_limit() {
    let respond: Respond = Arc::new(|_, stream, stop| {
        stream.write_all(TEXT_HEAD.as_bytes())?;
        let mut i = 0u64;
        stream_body(stream, stop, 4 << 30, |buf| {
            while buf.len() < 60 << 10 {
                i += 1;
                buf.extend_from_slice(format!("endless_total{{i=\"{i}\"}} {i}\n").as_bytes());
            }
            true
        })
    });
    expect_failure("endless body", respond, "", "body size limit exceeded (16777216 bytes)", 2);
}

/// One byte a second after the headers: `scrape_timeout` ends the scrape, whatever arrives.
#[test]
fn slowloris_target_is_ended_by_scrape_timeout() {
    let respond: Respond = Arc::new(|_, stream, stop| {
        stream.write_all(TEXT_HEAD.as_bytes())?;
        for byte in b"slow_total 1\n".iter().cycle().take(120) {
            if stop.load(Ordering::SeqCst) {
                break;
            }
            stream.write_all(&[*byte])?;
            std::thread::sleep(Duration::from_secs(1));
        }
        Ok(())
    });
    expect_failure("slowloris", respond, "", "timeout", 2);
}

/// A 100 MB label value: the line length bound ends the read at 128 KiB, long before the
/// body limit, and the value is never parsed.
#[test]
fn huge_label_value_is_refused_at_the_line_length_limit() {
    let respond: Respond = Arc::new(|_, stream, stop| {
        stream.write_all(TEXT_HEAD.as_bytes())?;
        stream.write_all(b"big{value=\"")?;
        let mut left = 100_000_000u64;
        stream_body(stream, stop, 100_000_000, |buf| {
            let n = left.min(64 << 10);
            buf.resize(n as usize, b'v');
            left -= n;
            left > 0
        })?;
        stream.write_all(b"\"} 1\n")
    });
    expect_failure(
        "100 MB label value",
        respond,
        "",
        "line_length_limit exceeded: a line longer than 131072 bytes",
        2,
    );
}

/// A page of a million series (10 MB, under the body limit): refused at `series_limit`.
#[test]
fn million_series_page_is_refused_at_the_series_limit() {
    let respond: Respond = Arc::new(|_, stream, stop| {
        stream.write_all(TEXT_HEAD.as_bytes())?;
        let mut i = 0u64;
        stream_body(stream, stop, 64 << 20, |buf| {
            while buf.len() < 60 << 10 && i < 1_000_000 {
                buf.extend_from_slice(format!("m{i} 1\n").as_bytes());
                i += 1;
            }
            i < 1_000_000
        })
    });
    expect_failure(
        "million series",
        respond,
        "",
        "series_limit exceeded: more than 100000 samples in one scrape",
        2,
    );
}

/// A config with one receiver, no targets, and `data_dir` set.
fn idle_config(data_dir: &Path, receiver: &FakeReceiver) -> String {
    format!(
        "data_dir = {:?}\n[[remote_write]]\nname = \"global\"\nurl = \"{}\"\n",
        data_dir.display().to_string(),
        receiver.url()
    )
}

/// The PID written in `dir/lock`, once it is `pid`.
fn wait_lock_holder(dir: &Path, pid: u32) {
    poll_until(Duration::from_secs(10), &format!("{}/lock names pid {pid}", dir.display()), || {
        let text = fs::read_to_string(dir.join("lock")).map_err(|e| e.to_string())?;
        if text.trim() == pid.to_string() { Ok(()) } else { Err(format!("lock says {text:?}")) }
    });
}

/// SPEC: one instance per data_dir. The second start exits 1 naming the directory and the
/// holder's PID; it neither binds `listen` nor touches a segment (Prometheus: "opening storage
/// failed: lock DB directory: resource temporarily unavailable").
#[test]
fn second_instance_on_a_data_dir_exits_1_naming_the_holder() {
    let receiver = FakeReceiver::start(Box::new(|_, _| (200, Vec::new())));
    let data = TempDir::new("lock-data");
    let config = idle_config(data.path(), &receiver);
    let first = start_outpost(&config);
    wait_lock_holder(data.path(), first.pid());
    wait_lock_holder(&data.path().join("global"), first.pid());

    let file = data.path().join("second.toml");
    fs::write(&file, &config).expect("write second.toml");
    let mut second = outpost_command();
    second.arg("--config").arg(&file).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let second = second.spawn().expect("start the second outpost");
    let output = wait_output(second, Duration::from_secs(10));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "second instance: {stderr}");
    let expected = format!("lock {}: held by another outpost (pid {})", data.path().display(), first.pid());
    assert!(stderr.contains(&expected), "expected {expected:?} in: {stderr}");
    // The first one still holds it and runs.
    wait_lock_holder(data.path(), first.pid());
}

/// SPEC: a stale lock left by a killed process never stops a start: flock is the kernel's and
/// ends with the process; the PID left in the file is only a name.
#[test]
fn lock_of_a_killed_instance_never_stops_a_start() {
    let receiver = FakeReceiver::start(Box::new(|_, _| (200, Vec::new())));
    let data = TempDir::new("lock-stale");
    let config = idle_config(data.path(), &receiver);
    let mut first = start_outpost(&config);
    wait_lock_holder(data.path(), first.pid());
    first.signal("KILL");
    first.wait_exit(Duration::from_secs(10));
    let stale = fs::read_to_string(data.path().join("lock")).expect("lock file stays");
    assert_eq!(stale.trim(), first.pid().to_string());

    let mut second: Child = start_outpost(&config);
    wait_lock_holder(data.path(), second.pid());
    wait_lock_holder(&data.path().join("global"), second.pid());
    second.assert_running();
}

/// Waits for `child` to exit within `within` (polled), then collects its output.
fn wait_output(mut child: std::process::Child, within: Duration) -> std::process::Output {
    let started = Instant::now();
    for _ in 0..(within.as_millis() / 50 + 1) {
        if child.try_wait().expect("try_wait").is_some() || started.elapsed() >= within {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    if child.try_wait().expect("try_wait").is_none() {
        let _ = child.kill();
        let output = child.wait_with_output().expect("wait");
        panic!("did not exit within {within:?}: {}", String::from_utf8_lossy(&output.stderr));
    }
    child.wait_with_output().expect("collect output")
}

/// A page whose 10,000 series all change every scrape: every scrape succeeds, the old series
/// end (staleness markers) and are forgotten, and memory stays flat instead of growing.
#[test]
fn churning_series_keep_memory_flat() {
    const SERIES: u64 = 10_000;
    let receiver = FakeReceiver::start(Box::new(|_, _| (200, Vec::new())));
    let generation = Arc::new(AtomicU64::new(0));
    let target = {
        let generation = generation.clone();
        Streamer::start(Arc::new(move |_, stream, stop| {
            stream.write_all(TEXT_HEAD.as_bytes())?;
            let n = generation.fetch_add(1, Ordering::SeqCst);
            let mut i = 0;
            stream_body(stream, stop, 64 << 20, |buf| {
                while buf.len() < 60 << 10 && i < SERIES {
                    buf.extend_from_slice(format!("churn{{gen=\"{n}\",i=\"{i}\"}} 1\n").as_bytes());
                    i += 1;
                }
                i < SERIES
            })
        }))
    };
    let data = TempDir::new("hostile-churn");
    let config = hostile_config(data.path(), &receiver, &static_target(&target.address()), "");
    let mut outpost = start_outpost(&config);
    let pid = outpost.pid();
    let mut highest = 0;
    let mut after = Vec::new();
    poll_until(FAIL_WITHIN, "six successful scrapes of a churning page", || {
        outpost.assert_running();
        let rss = memory_kib(pid).1;
        highest = highest.max(rss);
        let ups = ups(&receiver);
        assert!(ups.iter().all(|v| *v == 1.0), "every churning scrape succeeds: {ups:?}");
        if after.len() < ups.len() {
            after.resize(ups.len(), rss);
        }
        if ups.len() >= 6 {
            Ok(())
        } else {
            Err(format!(
                "{} scrapes so far, {} requests received, {} served",
                ups.len(),
                receiver.snapshot().len(),
                target.served.load(Ordering::SeqCst)
            ))
        }
    });
    let peak = memory_kib(pid).0;
    eprintln!("churn: peak RSS {peak} KiB (VmHWM), {highest} KiB polled; VmRSS after each scrape {after:?}");
    assert!(peak <= RSS_CEILING_KIB, "churn: VmHWM {peak} KiB above the ceiling");
    // Flat: the sixth scrape's memory within a third of the second's (each holds 10,000
    // series; a cache that kept old series would hold 60,000 by then).
    assert!(after[5] <= after[1] + after[1] / 3, "memory grows with churn: {after:?}");
    let log = outpost.log_tail();
    assert!(!log.contains("WARN  scrape"), "no scrape failed: {log}");
}

/// A thousand targets at once (distinct label sets on one address): every one is scraped and
/// reported up, within the same memory ceiling.
#[test]
fn thousand_targets_at_once() {
    const TARGETS: usize = 1000;
    let receiver = FakeReceiver::start(Box::new(|_, _| (200, Vec::new())));
    let target = Streamer::start(Arc::new(|_, stream, _| {
        let mut page = String::from(TEXT_HEAD);
        for i in 0..10 {
            page.push_str(&format!("small_total{{i=\"{i}\"}} {i}\n"));
        }
        stream.write_all(page.as_bytes())
    }));
    let address = target.address();
    let targets: String = (0..TARGETS)
        .map(|t| {
            format!(
                "[[scrape_configs.static_configs]]\ntargets = [\"{address}\"]\nlabels = {{ t = \"{t}\" }}\n"
            )
        })
        .collect();
    let data = TempDir::new("hostile-many");
    let mut config = hostile_config(data.path(), &receiver, &targets, "");
    config = config.replace("scrape_interval = \"1s\"", "scrape_interval = \"2s\"");
    let mut outpost = start_outpost(&config);
    let pid = outpost.pid();
    let mut highest = 0;
    let up_targets = poll_until(Duration::from_secs(60), "all 1,000 targets up", || {
        outpost.assert_running();
        highest = highest.max(memory_kib(pid).1);
        let up: std::collections::BTreeSet<String> = support::fake::delivered(&receiver.snapshot())
            .into_iter()
            .filter(|(k, _, v)| k.starts_with("__name__=up,") && *v == 1.0)
            .filter_map(|(k, _, _)| k.split(",t=").nth(1).map(str::to_owned))
            .collect();
        if up.len() == TARGETS { Ok(up.len()) } else { Err(format!("{} up so far", up.len())) }
    });
    let peak = memory_kib(pid).0;
    eprintln!(
        "1,000 targets: peak RSS {peak} KiB (VmHWM), {highest} KiB polled; {up_targets} up after {} requests",
        target.served.load(Ordering::SeqCst)
    );
    assert!(peak <= RSS_CEILING_KIB, "1,000 targets: VmHWM {peak} KiB above the ceiling");
}

/// A pod of a Pod list, as the API server writes it (one container port, running, ready).
fn pod_json(i: u64) -> String {
    format!(
        r#"{{"metadata":{{"name":"pod-{i}","namespace":"default","uid":"uid-{i}","resourceVersion":"1","labels":{{"app":"a{}"}}}},"spec":{{"nodeName":"node-1","containers":[{{"name":"c","image":"busybox","ports":[{{"name":"http","containerPort":8080,"protocol":"TCP"}}]}}]}},"status":{{"phase":"Running","podIP":"10.0.{}.{}","hostIP":"10.1.0.1","conditions":[{{"type":"Ready","status":"True"}}]}}}}"#,
        i % 10,
        i / 250 % 250,
        i % 250
    )
}

/// An API server (plain HTTP) whose pod list is written by `list`; a watch is answered 200
/// and then kept open, silent, until the test ends.
fn kube_api(
    list: impl Fn(&mut TcpStream, &AtomicBool) -> io::Result<()> + Send + Sync + 'static,
) -> Streamer {
    Streamer::start(Arc::new(move |line, stream, stop| {
        let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n";
        stream.write_all(head.as_bytes())?;
        if line.contains("watch=") {
            for _ in 0..600 {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            return Ok(());
        }
        list(stream, stop)
    }))
}

fn kube_config(data_dir: &Path, receiver: &FakeReceiver, api: &Streamer) -> String {
    // No pod is annotated: every target is dropped by relabeling, so only discovery holds them.
    let sd = format!(
        "[[scrape_configs.kubernetes_sd_configs]]\nrole = \"pod\"\napi_server = \"http://{}\"\n\
         [[scrape_configs.relabel_configs]]\nsource_labels = [\"__meta_kubernetes_pod_annotation_prometheus_io_scrape\"]\n\
         action = \"keep\"\nregex = \"true\"\n",
        api.address()
    );
    hostile_config(data_dir, receiver, &sd, "")
}

/// An API server whose pod list of `pods` pods is written as it is generated.
fn kube_pods(pods: u64) -> Streamer {
    kube_api(move |stream, stop| {
        stream.write_all(
            br#"{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"1"},"items":["#,
        )?;
        let mut i = 0;
        stream_body(stream, stop, 64 << 20, |buf| {
            while buf.len() < 60 << 10 && i < pods {
                if i > 0 {
                    buf.push(b',');
                }
                buf.extend_from_slice(pod_json(i).as_bytes());
                i += 1;
            }
            i < pods
        })?;
        stream.write_all(b"]}")
    })
}

/// 5,000 pods, the most one list may hold: decoded and held as discovery state within the
/// ceiling; the watch that follows (the second request) shows the list was taken whole.
#[test]
fn kubernetes_list_of_5000_pods_is_held_within_the_ceiling() {
    let receiver = FakeReceiver::start(Box::new(|_, _| (200, Vec::new())));
    let api = kube_pods(5_000);
    let data = TempDir::new("hostile-kube");
    let mut outpost = start_outpost(&kube_config(data.path(), &receiver, &api));
    let pid = outpost.pid();
    let mut highest = 0;
    poll_until(FAIL_WITHIN, "the pod list taken and a watch opened", || {
        outpost.assert_running();
        highest = highest.max(memory_kib(pid).1);
        let served = api.served.load(Ordering::SeqCst);
        if served >= 2 { Ok(()) } else { Err(format!("{served} requests")) }
    });
    let (polled, peak) = watch_memory(pid, Duration::from_secs(1));
    highest = highest.max(polled);
    let log = outpost.log_tail();
    eprintln!("kubernetes 5,000 pods: peak RSS {peak} KiB (VmHWM), {highest} KiB polled");
    assert!(!log.contains("kubernetes_sd"), "no discovery error: {log}");
    assert!(peak <= RSS_CEILING_KIB, "5,000 pods: VmHWM {peak} KiB above the ceiling");
}

/// 50,000 pods (a 25 MB list, under the byte limit): refused whole with the count and what
/// to do, before any pod is decoded; retried with backoff.
#[test]
fn kubernetes_list_of_50000_pods_is_refused_with_its_count() {
    let receiver = FakeReceiver::start(Box::new(|_, _| (200, Vec::new())));
    let api = kube_pods(50_000);
    let data = TempDir::new("hostile-kube");
    let mut outpost = start_outpost(&kube_config(data.path(), &receiver, &api));
    let pid = outpost.pid();
    let mut highest = 0;
    let line = poll_until(FAIL_WITHIN, "the 50,000-pod list refused in the log", || {
        outpost.assert_running();
        highest = highest.max(memory_kib(pid).1);
        let log = outpost.log_tail();
        let refused = "list: 50000 objects, more than the 5000 outpost keeps; select fewer";
        log.lines().find(|l| l.contains("kubernetes_sd") && l.contains(refused)).map(str::to_owned).ok_or(log)
    });
    let (polled, peak) = watch_memory(pid, Duration::from_secs(1));
    highest = highest.max(polled);
    eprintln!("kubernetes 50,000 pods: peak RSS {peak} KiB (VmHWM), {highest} KiB polled; log: {line}");
    assert!(peak <= RSS_CEILING_KIB, "50,000 pods: VmHWM {peak} KiB above the ceiling");
}

/// An API server whose list holds one pod with a 100 MB annotation: refused at the list
/// limit, the reason logged, and retried without growing.
#[test]
fn kubernetes_100_mb_object_is_refused() {
    let receiver = FakeReceiver::start(Box::new(|_, _| (200, Vec::new())));
    let api = kube_api(|stream, stop| {
        stream.write_all(br#"{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"1"},"items":[{"metadata":{"name":"big","namespace":"default","annotations":{"a":""#)?;
        let mut left = 100_000_000u64;
        stream_body(stream, stop, 100_000_000, |buf| {
            let n = left.min(64 << 10);
            buf.resize(n as usize, b'x');
            left -= n;
            left > 0
        })?;
        stream.write_all(br#""}}}]}"#)
    });
    let data = TempDir::new("hostile-kube-big");
    let mut outpost = start_outpost(&kube_config(data.path(), &receiver, &api));
    let pid = outpost.pid();
    let mut highest = 0;
    let line = poll_until(FAIL_WITHIN, "the 100 MB list refused in the log", || {
        outpost.assert_running();
        highest = highest.max(memory_kib(pid).1);
        let log = outpost.log_tail();
        log.lines().find(|l| l.contains("kubernetes_sd") && l.contains("list")).map(str::to_owned).ok_or(log)
    });
    let (polled, peak) = watch_memory(pid, Duration::from_secs(1));
    highest = highest.max(polled);
    eprintln!("kubernetes 100 MB object: peak RSS {peak} KiB (VmHWM), {highest} KiB polled; log: {line}");
    assert!(peak <= RSS_CEILING_KIB, "100 MB object: VmHWM {peak} KiB above the ceiling");
}
