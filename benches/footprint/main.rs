//! The whole-process footprint: outpost, vmagent and Prometheus in agent mode scraping the
//! same synthetic exporter into the same counting receiver, one agent at a time, the agents'
//! order rotated from run to run. Per agent and load it prints the CPU seconds of the
//! agent's process (its threads' run time, in nanoseconds) per million samples the receiver
//! got, RSS median and peak over the window (VmRSS each second), bytes per sample on the
//! wire, samples lost, duplicated and out of order, wakeups (context switches of its
//! threads) per second, and outpost's ratios to each peer; then per agent a least-squares
//! line of RSS over the synthetic loads' series counts, so the cost per series is seen.
//!
//! `cargo bench --bench footprint -- [--window S] [--warmup S] [--runs N]
//!   [--loads 1x1000,5x1000,5x2000,50x2000,150x2000,node] [--agents outpost,vmagent,prometheus]
//!   [--base NAME] [--outpost-shards N] [--quick]`
//!
//! An agent `NAME=PATH` is another outpost binary (a musl build, the tree before a change),
//! measured side by side with the rest; `OUTPOST_EXEC` replaces the default one.
//! `--outpost-shards` sets every outpost's `queue_config.max_shards` (default 1; Prometheus's
//! is 50, vmagent sends on two connections per core). `node` is
//! one real node_exporter scraped every 15 s (CPU as a share of one core). Nothing here is a
//! test: the figures are printed, and only a run in which an agent delivered nothing, or a
//! request the receiver could not decode, fails.

mod exporter;
mod receiver;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use exporter::Exporter;
use receiver::Receiver;

#[derive(Clone)]
struct Load {
    name: String,
    targets: usize,
    series: usize,
    interval: u64,
    node: bool,
}

#[derive(Clone)]
enum Kind {
    Outpost(PathBuf),
    Vmagent,
    Prometheus,
}

#[derive(Clone)]
struct Agent {
    name: String,
    kind: Kind,
}

#[derive(Clone, Default)]
struct Figures {
    cpu_seconds: f64,
    samples: u64,
    wire_bytes: u64,
    rss_median: u64,
    rss_peak: u64,
    threads: u64,
    /// Context switches of the agent's threads per second: its wakeups.
    wakeups: f64,
    lost: u64,
    duplicated: u64,
    out_of_order: u64,
    bad: u64,
    window: f64,
}

impl Figures {
    fn per_million(&self) -> f64 {
        if self.samples == 0 { f64::NAN } else { self.cpu_seconds / self.samples as f64 * 1e6 }
    }
    fn core_share(&self) -> f64 {
        self.cpu_seconds / self.window * 100.0
    }
}

struct Options {
    window: u64,
    warmup: u64,
    runs: usize,
    loads: Vec<Load>,
    agents: Vec<Agent>,
    /// The agent the ratios are of: `--base`, else `outpost`, else the first outpost binary.
    base: Option<String>,
    /// `queue_config.max_shards` for every outpost (`--outpost-shards`), else its default.
    shards: Option<usize>,
}

fn main() {
    let options = options();
    let mut failed = false;
    let mut lines: Vec<(String, Vec<(usize, u64)>)> =
        options.agents.iter().map(|a| (a.name.clone(), Vec::new())).collect();
    for load in &options.loads {
        let window = if load.node { options.window.max(60) } else { options.window };
        let mut results: Vec<Vec<Figures>> = vec![Vec::new(); options.agents.len()];
        for run in 0..options.runs {
            for k in 0..options.agents.len() {
                let a = (k + run) % options.agents.len();
                let agent = &options.agents[a];
                match measure(agent, load, options.warmup, window, options.shards) {
                    Ok(figures) => {
                        if figures.samples == 0 || figures.bad > 0 {
                            failed = true;
                        }
                        results[a].push(figures);
                    }
                    Err(e) => {
                        eprintln!("{} on {}: {e}", agent.name, load.name);
                        failed = true;
                    }
                }
            }
        }
        report(load, window, &options.agents, &results, options.base.as_deref());
        if !load.node {
            for (a, runs) in results.iter().enumerate() {
                if let Some(rss) = median(runs.iter().map(|f| f.rss_median as f64).collect()) {
                    lines[a].1.push((load.targets * load.series, rss as u64));
                }
            }
        }
    }
    println!("\nRSS over series (least squares over the synthetic loads):");
    for (name, points) in &lines {
        if let Some((fixed, slope)) = fit(points) {
            println!("  {name:<12} {:>6.1} MiB + {slope:>5.0} bytes/series", fixed / 1048576.0);
        }
    }
    if failed {
        eprintln!("an agent delivered nothing or sent an undecodable request (see above)");
        std::process::exit(1);
    }
}

fn options() -> Options {
    let mut window = 30;
    let mut warmup = 10;
    let mut runs = 2;
    let mut loads = "1x1000,5x1000,5x2000,50x2000,150x2000,node".to_owned();
    let mut agents = "outpost,vmagent,prometheus".to_owned();
    let mut base = None;
    let mut shards = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| usage(&format!("{arg} needs a value")));
        match arg.as_str() {
            "--window" => window = value().parse().unwrap_or_else(|_| usage("--window: seconds")),
            "--warmup" => warmup = value().parse().unwrap_or_else(|_| usage("--warmup: seconds")),
            "--runs" => runs = value().parse().unwrap_or_else(|_| usage("--runs: a count")),
            "--loads" => loads = value(),
            "--agents" => agents = value(),
            "--base" => base = Some(value()),
            "--outpost-shards" => {
                shards = Some(value().parse().unwrap_or_else(|_| usage("--outpost-shards: a count")))
            }
            "--quick" => {
                (window, warmup, runs) = (4, 2, 1);
                loads = "2x500".to_owned();
            }
            "--bench" => {}
            other => usage(&format!("unknown argument {other}")),
        }
    }
    let loads =
        loads.split(',').map(|l| parse_load(l).unwrap_or_else(|| usage(&format!("bad load {l}")))).collect();
    let agents = agents.split(',').map(parse_agent).collect();
    Options { window, warmup, runs: runs.max(1), loads, agents, base, shards }
}

fn usage(why: &str) -> ! {
    eprintln!(
        "footprint: {why}\nusage: footprint [--window S] [--warmup S] [--runs N] [--loads TxS,...,node] [--agents outpost,vmagent,prometheus,NAME=PATH] [--base NAME] [--outpost-shards N] [--quick]"
    );
    std::process::exit(2)
}

fn parse_load(text: &str) -> Option<Load> {
    if text == "node" {
        return Some(Load {
            name: "node_exporter @15s".into(),
            targets: 1,
            series: 0,
            interval: 15,
            node: true,
        });
    }
    let (t, s) = text.split_once('x')?;
    let (targets, series): (usize, usize) = (t.parse().ok()?, s.parse().ok()?);
    let name = format!("{targets} x {series} @1s");
    Some(Load { name, targets, series, interval: 1, node: false })
}

fn parse_agent(text: &str) -> Agent {
    let kind = match text {
        "vmagent" => Kind::Vmagent,
        "prometheus" => Kind::Prometheus,
        "outpost" => Kind::Outpost(match std::env::var("OUTPOST_EXEC") {
            Ok(path) if !path.trim().is_empty() => PathBuf::from(path.trim()),
            _ => PathBuf::from(env!("CARGO_BIN_EXE_outpost")),
        }),
        other => match other.split_once('=') {
            Some((name, path)) => {
                return Agent { name: name.to_owned(), kind: Kind::Outpost(PathBuf::from(path)) };
            }
            None => usage(&format!("unknown agent {other}")),
        },
    };
    Agent { name: text.to_owned(), kind }
}

/// A fresh exporter, receiver and agent; the agent's figures over `window` seconds once every
/// target has delivered and `warmup` seconds have passed.
fn measure(
    agent: &Agent,
    load: &Load,
    warmup: u64,
    window: u64,
    shards: Option<usize>,
) -> Result<Figures, String> {
    let (exporter, node) = if load.node {
        (None, Some(start_node_exporter()?))
    } else {
        (Some(Exporter::start(load.targets, load.series)), None)
    };
    let targets: Vec<String> = match (&exporter, &node) {
        (Some(e), _) => e.ports.iter().map(|p| format!("127.0.0.1:{p}")).collect(),
        (_, Some((_, port))) => vec![format!("127.0.0.1:{port}")],
        _ => unreachable!("one of them is started"),
    };
    let receiver = Receiver::start();
    let dir = scratch(&agent.name);
    let mut child = Guard(spawn(agent, load, &targets, receiver.port, &dir, shards)?);
    let pid = child.0.id();

    // Every target delivered (bounded), then the warm-up.
    let deadline = Instant::now() + Duration::from_secs(120 + 2 * load.interval);
    while receiver.targets_seen() < load.targets && !(load.node && receiver.counts().samples > 0) {
        if Instant::now() > deadline {
            return Err(format!(
                "only {} of {} targets delivered in 120 s",
                receiver.targets_seen(),
                load.targets
            ));
        }
        if let Ok(Some(status)) = child.0.try_wait() {
            return Err(format!("exited early: {status}; its log: {}", dir.join("log").display()));
        }
        thread::sleep(Duration::from_millis(200));
    }
    thread::sleep(Duration::from_secs(warmup));

    let (cpu0, counts0, start) = (cpu_seconds(pid)?, receiver.counts(), Instant::now());
    let run0 = threads_runtime(pid);
    let switches0 = context_switches(pid);
    let mut rss = Vec::new();
    let mut threads = 0;
    for tick in 1..=window {
        let next = start + Duration::from_secs(tick);
        thread::sleep(next.saturating_duration_since(Instant::now()));
        let (r, t) = status(pid)?;
        rss.push(r);
        threads = threads.max(t);
    }
    let (cpu1, counts1, elapsed) = (cpu_seconds(pid)?, receiver.counts(), start.elapsed().as_secs_f64());
    let run1 = threads_runtime(pid);
    let switches1 = context_switches(pid);
    rss.sort_unstable();
    let figures = Figures {
        cpu_seconds: cpu_used(cpu1 - cpu0, run1 - run0),
        samples: counts1.samples - counts0.samples,
        wire_bytes: counts1.wire_bytes - counts0.wire_bytes,
        rss_median: rss[rss.len() / 2],
        rss_peak: *rss.last().unwrap_or(&0),
        threads,
        wakeups: switches1.saturating_sub(switches0) as f64 / elapsed,
        lost: if load.node { 0 } else { receiver.lost(load.series as u64 + 1, 3) },
        duplicated: counts1.duplicated,
        out_of_order: counts1.out_of_order,
        bad: counts1.bad_requests,
        window: elapsed,
    };
    drop(child);
    drop(node);
    let _ = fs::remove_dir_all(&dir);
    Ok(figures)
}

/// Kills and reaps the agent it holds (by its own PID) when dropped.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(
    agent: &Agent,
    load: &Load,
    targets: &[String],
    receiver: u16,
    dir: &Path,
    shards: Option<usize>,
) -> Result<Child, String> {
    let url = format!("http://127.0.0.1:{receiver}/api/v1/write");
    let quoted: Vec<String> = targets.iter().map(|t| format!("\"{t}\"")).collect();
    let timeout = load.interval.min(10);
    let scrape = format!(
        "global:\n  scrape_interval: {i}s\n  scrape_timeout: {timeout}s\nscrape_configs:\n  - job_name: synthetic\n    static_configs:\n      - targets: [{t}]\n",
        i = load.interval,
        t = quoted.join(", ")
    );
    let port = free_port();
    let mut command = match &agent.kind {
        Kind::Outpost(path) => {
            let queue =
                shards.map_or(String::new(), |n| format!("[remote_write.queue_config]\nmax_shards = {n}\n"));
            let toml = format!(
                "listen = \"127.0.0.1:{port}\"\ndata_dir = \"{d}\"\n\n[global]\nscrape_interval = \"{i}s\"\nscrape_timeout = \"{timeout}s\"\n\n[[remote_write]]\nname = \"bench\"\nurl = \"{url}\"\n{queue}\n[[scrape_configs]]\njob_name = \"synthetic\"\n[[scrape_configs.static_configs]]\ntargets = [{t}]\n",
                d = dir.join("data").display(),
                i = load.interval,
                t = quoted.join(", ")
            );
            write(&dir.join("outpost.toml"), &toml)?;
            let mut c = Command::new(path);
            c.arg("--config").arg(dir.join("outpost.toml"));
            c
        }
        Kind::Vmagent => {
            write(&dir.join("scrape.yml"), &scrape)?;
            let mut c = Command::new("vmagent");
            c.arg(format!("-promscrape.config={}", dir.join("scrape.yml").display()))
                .arg(format!("-remoteWrite.url={url}"))
                .arg(format!("-remoteWrite.tmpDataPath={}", dir.join("data").display()))
                .arg(format!("-httpListenAddr=127.0.0.1:{port}"));
            c
        }
        Kind::Prometheus => {
            write(&dir.join("prometheus.yml"), &format!("{scrape}remote_write:\n  - url: {url}\n"))?;
            let mut c = Command::new("prometheus");
            c.arg("--enable-feature=agent")
                .arg(format!("--config.file={}", dir.join("prometheus.yml").display()))
                .arg(format!("--storage.agent.path={}", dir.join("data").display()))
                .arg(format!("--web.listen-address=127.0.0.1:{port}"));
            c
        }
    };
    let log = fs::File::create(dir.join("log")).map_err(|e| format!("create log: {e}"))?;
    let err = log.try_clone().map_err(|e| format!("log: {e}"))?;
    command.stdin(Stdio::null()).stdout(log).stderr(err);
    command.spawn().map_err(|e| format!("start {}: {e}", agent.name))
}

fn start_node_exporter() -> Result<(Guard, u16), String> {
    let port = free_port();
    let child = Command::new("prometheus-node-exporter")
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--no-collector.systemd")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("start node_exporter: {e}"))?;
    let guard = Guard(child);
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            return Err("node_exporter did not listen in 20 s".into());
        }
        thread::sleep(Duration::from_millis(50));
    }
    Ok((guard, port))
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    fs::write(path, text).map_err(|e| format!("write {}: {e}", path.display()))
}

fn scratch(name: &str) -> PathBuf {
    let safe: String = name.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
    let dir = std::env::temp_dir().join(format!("outpost-footprint-{}-{safe}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("scratch directory");
    dir
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// utime + stime of `pid`, in seconds (USER_HZ is 100 on Linux).
fn cpu_seconds(pid: u32) -> Result<f64, String> {
    let stat =
        fs::read_to_string(format!("/proc/{pid}/stat")).map_err(|e| format!("/proc/{pid}/stat: {e}"))?;
    let after = stat.rsplit_once(')').map(|(_, rest)| rest).ok_or("stat without a command")?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).ok_or("short stat");
    Ok((ticks(11)? + ticks(12)?) as f64 / 100.0)
}

/// CPU seconds over the window: the threads' own run time (nanoseconds, where `stat` counts
/// ticks of 10 ms: a 60 s window at half a percent of a core is 30 ticks), unless `stat`
/// saw more than two ticks and 2 % beyond it, which means threads that ran in the window
/// exited before its end and took their run time with them.
fn cpu_used(stat: f64, runtime: f64) -> f64 {
    if stat > runtime * 1.02 + 0.02 { stat } else { runtime }
}

/// Run time in seconds of the threads `pid` has now (`schedstat`: nanoseconds on the CPU).
fn threads_runtime(pid: u32) -> f64 {
    let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else { return 0.0 };
    let nanos: u64 = tasks
        .flatten()
        .filter_map(|t| fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum();
    nanos as f64 / 1e9
}

/// Voluntary and involuntary context switches of the threads `pid` has now (a thread that
/// exited takes its count with it: agents whose threads come and go are undercounted).
fn context_switches(pid: u32) -> u64 {
    let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else { return 0 };
    tasks
        .flatten()
        .filter_map(|t| fs::read_to_string(t.path().join("status")).ok())
        .map(|status| {
            status
                .lines()
                .filter(|l| l.contains("ctxt_switches:"))
                .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
                .sum::<u64>()
        })
        .sum()
}

/// VmRSS in bytes and the thread count.
fn status(pid: u32) -> Result<(u64, u64), String> {
    let status =
        fs::read_to_string(format!("/proc/{pid}/status")).map_err(|e| format!("/proc/{pid}/status: {e}"))?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Ok((field("VmRSS:") * 1024, field("Threads:")))
}

fn median(mut values: Vec<f64>) -> Option<f64> {
    values.retain(|v| v.is_finite());
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied()
}

fn fit(points: &[(usize, u64)]) -> Option<(f64, f64)> {
    if points.len() < 2 {
        return None;
    }
    let n = points.len() as f64;
    let (sx, sy) = points.iter().fold((0.0, 0.0), |(a, b), &(x, y)| (a + x as f64, b + y as f64));
    let (mx, my) = (sx / n, sy / n);
    let (num, den) = points.iter().fold((0.0, 0.0), |(a, b), &(x, y)| {
        let dx = x as f64 - mx;
        (a + dx * (y as f64 - my), b + dx * dx)
    });
    if den == 0.0 {
        return None;
    }
    let slope = num / den;
    Some((my - slope * mx, slope))
}

fn mib(bytes: f64) -> f64 {
    bytes / 1048576.0
}

fn report(load: &Load, window: u64, agents: &[Agent], results: &[Vec<Figures>], base: Option<&str>) {
    let series = load.targets * load.series;
    println!(
        "\n{} ({} series), {window} s window, {} run(s) each, agents interleaved",
        load.name,
        series,
        results.first().map_or(0, Vec::len)
    );
    println!(
        "  {:<12} {:>9} {:>13} {:>7} {:>9} {:>9} {:>8} {:>7} {:>7} {:>5} {:>4} {:>7} {:>7}",
        "agent",
        "CPU-s/M",
        "(runs)",
        "CPU %",
        "RSS med",
        "RSS peak",
        "B/sample",
        "lost",
        "dup",
        "ooo",
        "thr",
        "samp/s",
        "wake/s"
    );
    let mut medians = Vec::new();
    for (agent, runs) in agents.iter().zip(results) {
        let per = |f: fn(&Figures) -> f64| median(runs.iter().map(f).collect()).unwrap_or(f64::NAN);
        let cpu = per(Figures::per_million);
        let (lo, hi) = runs
            .iter()
            .map(Figures::per_million)
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)));
        let rss = per(|f| f.rss_median as f64);
        let share = per(Figures::core_share);
        println!(
            "  {:<12} {:>9.3} {:>13} {:>6.2}% {:>5.1} MiB {:>5.1} MiB {:>8.2} {:>7} {:>7} {:>5} {:>4} {:>7.0} {:>7.1}",
            agent.name,
            cpu,
            format!("{lo:.2}-{hi:.2}"),
            share,
            mib(rss),
            mib(per(|f| f.rss_peak as f64)),
            per(|f| f.wire_bytes as f64 / f.samples.max(1) as f64),
            runs.iter().map(|f| f.lost).max().unwrap_or(0),
            runs.iter().map(|f| f.duplicated).max().unwrap_or(0),
            runs.iter().map(|f| f.out_of_order).max().unwrap_or(0),
            runs.iter().map(|f| f.threads).max().unwrap_or(0),
            per(|f| f.samples as f64 / f.window),
            per(|f| f.wakeups),
        );
        medians.push((agent, cpu, share, rss));
    }
    let chosen = medians
        .iter()
        .find(|(a, ..)| a.name == base.unwrap_or("outpost"))
        .or_else(|| medians.iter().find(|(a, ..)| base.is_none() && matches!(a.kind, Kind::Outpost(_))));
    let Some(&(first, cpu, share, rss)) = chosen else {
        return;
    };
    for &(peer, peer_cpu, peer_share, peer_rss) in &medians {
        if std::ptr::eq(peer, first) {
            continue;
        }
        let cpu_ratio = if load.node { share / peer_share } else { cpu / peer_cpu };
        println!("  {} / {}: CPU {:.2}x, RSS {:.2}x", first.name, peer.name, cpu_ratio, rss / peer_rss);
    }
}
