//! The synthetic exporter: `targets` listeners on 127.0.0.1, each answering every GET with a
//! page of `series` series, half node_exporter-like (CPU modes, network devices, file
//! systems) and half cAdvisor-like (seven labels with pod UIDs and container IDs), with HELP
//! and TYPE lines. Counters grow each scrape, gauges move, so the pages compress as real
//! ones do. Each page also carries `synthetic_scrape_seq`, the number of that answer, so the
//! receiver can tell which scrape a sample belongs to and which samples of it are missing.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::Duration;

/// One series: its text up to the value, and how its value moves.
struct Line {
    text: String,
    base: f64,
    /// Per answer: a counter's increase, or a gauge's swing.
    step: f64,
    counter: bool,
}

/// A page: family headers interleaved with series, in exposition order.
enum Part {
    Header(String),
    Series(Line),
}

pub struct Exporter {
    pub ports: Vec<u16>,
    stop: Arc<AtomicBool>,
}

impl Exporter {
    pub fn start(targets: usize, series: usize) -> Exporter {
        let stop = Arc::new(AtomicBool::new(false));
        let mut ports = Vec::new();
        for t in 0..targets {
            let listener = TcpListener::bind("127.0.0.1:0").expect("bind exporter");
            ports.push(listener.local_addr().expect("addr").port());
            let page = Arc::new(page(t, series));
            let (stop, seq) = (stop.clone(), Arc::new(AtomicU64::new(0)));
            thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    let Ok(stream) = stream else { continue };
                    let (page, seq) = (page.clone(), seq.clone());
                    thread::spawn(move || serve(stream, &page, &seq));
                }
            });
        }
        Exporter { ports, stop }
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for port in &self.ports {
            let _ = TcpStream::connect(("127.0.0.1", *port));
        }
    }
}

/// Answers requests on one keep-alive connection until the peer closes it.
fn serve(stream: TcpStream, page: &[Part], seq: &AtomicU64) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(120)));
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    let mut body = String::new();
    loop {
        // The request head, up to its blank line (bounded: 100 lines).
        let mut complete = false;
        for _ in 0..100 {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) if line.trim_end().is_empty() => {
                    complete = true;
                    break;
                }
                Ok(_) => {}
            }
        }
        if !complete {
            return;
        }
        let n = seq.fetch_add(1, Ordering::Relaxed) + 1;
        render(page, n, &mut body);
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        let stream = reader.get_mut();
        if stream.write_all(head.as_bytes()).and_then(|()| stream.write_all(body.as_bytes())).is_err() {
            return;
        }
    }
}

fn render(page: &[Part], n: u64, out: &mut String) {
    out.clear();
    out.push_str(
        "# HELP synthetic_scrape_seq The number of this answer.\n# TYPE synthetic_scrape_seq gauge\n",
    );
    let _ = writeln!(out, "synthetic_scrape_seq {n}");
    let k = n as f64;
    for part in page {
        match part {
            Part::Header(h) => out.push_str(h),
            Part::Series(l) => {
                let v =
                    if l.counter { l.base + k * l.step } else { l.base + l.step * ((n % 7) as f64 - 3.0) };
                let _ = writeln!(out, "{} {v}", l.text);
            }
        }
    }
}

const NODE: [(&str, &str, &str); 4] = [
    ("node_cpu_seconds_total", "counter", "Seconds the CPUs spent in each mode."),
    ("node_network_receive_bytes_total", "counter", "Network device statistic receive_bytes."),
    ("node_filesystem_avail_bytes", "gauge", "Filesystem space available to non-root users in bytes."),
    ("node_disk_io_time_seconds_total", "counter", "Total seconds spent doing I/Os."),
];

const CADVISOR: [(&str, &str, &str); 4] = [
    ("container_cpu_usage_seconds_total", "counter", "Cumulative cpu time consumed in seconds."),
    ("container_memory_working_set_bytes", "gauge", "Current working set in bytes."),
    ("container_network_transmit_bytes_total", "counter", "Cumulative count of bytes transmitted"),
    ("container_fs_reads_bytes_total", "counter", "Cumulative count of bytes read"),
];

/// Target `t`'s page of `series` series: the node half, then the cAdvisor half, each family's
/// series together under its HELP and TYPE.
fn page(t: usize, series: usize) -> Vec<Part> {
    let node = series / 2;
    let mut parts = Vec::with_capacity(series + 16);
    let mut push_family =
        |families: &[(&str, &str, &str); 4], count: usize, label: &dyn Fn(usize) -> String| {
            for (f, (name, kind, help)) in families.iter().enumerate() {
                let start = count * f / 4;
                let end = count * (f + 1) / 4;
                if start == end {
                    continue;
                }
                parts.push(Part::Header(format!("# HELP {name} {help}\n# TYPE {name} {kind}\n")));
                for i in start..end {
                    let counter = *kind == "counter";
                    let h = hash(t, i);
                    parts.push(Part::Series(Line {
                        text: format!("{name}{{{}}}", label(i)),
                        base: (h % 1_000_000) as f64 * if counter { 1.0 } else { 4096.0 },
                        step: if counter {
                            ((h >> 20) % 5000) as f64 / 100.0
                        } else {
                            ((h >> 24) % 64) as f64 * 512.0
                        },
                        counter,
                    }));
                }
            }
        };
    push_family(&NODE, node, &|i| {
        let modes = ["idle", "iowait", "irq", "nice", "softirq", "steal", "system", "user"];
        format!("cpu=\"{}\",device=\"eth{}\",mode=\"{}\"", i / 8, i % 4, modes[i % 8])
    });
    push_family(&CADVISOR, series - node, &|i| {
        let (ns, pod) = (i % 12, i / 3);
        format!(
            "container=\"app-{c}\",id=\"/kubepods/burstable/pod{uid:08x}-5f3e-4c2a-9b1d-{t:012x}/{cid:016x}{cid:016x}\",image=\"registry.example.com/team-{ns}/app-{c}:1.{m}.{p}\",name=\"k8s_app-{c}_pod-{pod}_ns-{ns}_{uid:08x}_0\",namespace=\"ns-{ns}\",pod=\"pod-{pod}-{h:05x}\"",
            c = i % 3,
            uid = hash(t, pod) as u32,
            cid = hash(t, i),
            m = i % 20,
            p = i % 7,
            h = hash(t, pod) % 0xfffff
        )
    });
    parts
}

/// A cheap deterministic mix of (target, series).
fn hash(t: usize, i: usize) -> u64 {
    let mut x = (t as u64) << 32 ^ i as u64 ^ 0x9e37_79b9_7f4a_7c15;
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x
}
