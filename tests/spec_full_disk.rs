//! SPEC, "A full disk drops the oldest data, counted, and the agent keeps scraping", for
//! real: `data_dir` on a tmpfs of a fixed size, mounted and removed by the test (root only;
//! skipped with a message otherwise), filled by outpost during an outage, and by another
//! process. The target's `tick_total` counts its scrapes, so what was kept and what was
//! dropped shows as the ticks the receiver accepted.

mod support;

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::Ordering;
use std::time::Duration;

use support::fake::{FakeReceiver, FakeTarget, delivered};
use support::{Child, TempDir, free_port, http_get, poll_until, start_outpost};

/// Series besides `tick_total` on each page, for volume: about 10,000 samples a second.
const FILLER: usize = 1000;

/// A tmpfs of `size` mounted on a fresh directory; unmounted when dropped (after the outpost
/// using it, which the test declares later and so drops first).
struct SmallFs {
    dir: TempDir,
}

impl SmallFs {
    /// `None` (and a message) when not root: mount needs CAP_SYS_ADMIN.
    fn mount(size: &str) -> Option<SmallFs> {
        let uid = fs::read_to_string("/proc/self/status").ok()?.lines().find_map(|l| {
            l.strip_prefix("Uid:").map(|r| r.split_whitespace().next().unwrap_or("").to_owned())
        });
        if uid.as_deref() != Some("0") {
            eprintln!("skipped: mounting a tmpfs needs root (CI runs as root)");
            return None;
        }
        let dir = TempDir::new("small-fs");
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .expect("run mount");
        if !status.success() {
            eprintln!("skipped: mount -t tmpfs failed ({status}); no mount namespace here");
            return None;
        }
        Some(SmallFs { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

fn ticking() -> FakeTarget {
    FakeTarget::dynamic(Box::new(|n| {
        let mut page = format!("# TYPE tick_total counter\ntick_total {}\n", n + 1);
        for i in 0..FILLER {
            page.push_str(&format!("filler{{i=\"{i}\"}} {n}\n"));
        }
        page
    }))
}

fn config(data_dir: &Path, listen: u16, receiver: &FakeReceiver, target: &FakeTarget) -> String {
    format!(
        r#"data_dir = {dir:?}
listen = "127.0.0.1:{listen}"
[global]
scrape_interval = "100ms"
scrape_timeout = "100ms"
[buffer]
memory = "256KiB"
disk = "64MiB"
segment = "64KiB"
sync_interval = "100ms"
[[remote_write]]
url = "{url}"
[remote_write.queue_config]
max_samples_per_send = 2000
batch_send_deadline = "100ms"
min_backoff = "10ms"
max_backoff = "200ms"
[[scrape_configs]]
job_name = "tick"
[[scrape_configs.static_configs]]
targets = ["{target}"]
"#,
        dir = data_dir.display().to_string(),
        url = receiver.url(),
        target = target.address()
    )
}

fn metric(port: u16, prefix: &str) -> f64 {
    let body = http_get(port, "/metrics").map(|(_, b)| b).unwrap_or_default();
    body.lines()
        .filter(|l| l.starts_with(prefix))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn ticks(receiver: &FakeReceiver) -> Vec<u64> {
    delivered(&receiver.snapshot())
        .into_iter()
        .filter(|(k, _, _)| k.starts_with("__name__=tick_total,"))
        .map(|(_, _, v)| v as u64)
        .collect()
}

/// Waits until the backlog is delivered: nothing pending, no segment left, and the newest
/// tick served accepted.
/// Returns that tick: scraping goes on, so later ones may arrive too.
fn drain(outpost: &mut Child, port: u16, receiver: &FakeReceiver, target: &FakeTarget) -> u64 {
    let want = target.served.load(Ordering::SeqCst);
    poll_until(Duration::from_secs(60), "the backlog drained", || {
        outpost.assert_running();
        let pending = metric(port, "prometheus_remote_storage_samples_pending");
        let disk = metric(port, "outpost_buffer_disk_bytes");
        let max = ticks(receiver).into_iter().max().unwrap_or(0);
        if pending == 0.0 && disk == 0.0 && max >= want {
            Ok(())
        } else {
            Err(format!("pending {pending}, disk {disk} bytes, newest tick {max} of {want}"))
        }
    });
    want
}

/// `ticks` as runs of consecutive values: [(first, last)].
fn runs(ticks: &[u64]) -> Vec<(u64, u64)> {
    let set: BTreeSet<u64> = ticks.iter().copied().collect();
    let mut out: Vec<(u64, u64)> = Vec::new();
    for t in set {
        match out.last_mut() {
            Some((_, last)) if *last + 1 == t => *last = t,
            _ => out.push((t, t)),
        }
    }
    out
}

/// Files a directory holds, with their sizes (for a failing test's message).
fn listing(dir: &Path) -> Vec<(PathBuf, u64)> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        let Ok(meta) = entry.metadata() else { continue };
        if meta.is_dir() {
            out.extend(listing(&entry.path()));
        } else {
            out.push((entry.path(), meta.len()));
        }
    }
    out
}

/// An outage longer than a 1 MiB file system holds: outpost fills it, the log names ENOSPC,
/// the oldest segments go (counted, `disk_full`), scraping goes on, and when the receiver is
/// back what is delivered is the healthy prefix plus the newest ticks that fit, each once,
/// in order.
#[test]
#[ignore = "when the ENOSPC retry deletes a segment the log says `buffer.disk full, oldest segment deleted` and never names ENOSPC; the loss needs a reason of its own (issue 14, item 3)"]
fn full_file_system_keeps_the_newest_data_and_counts_the_rest() {
    let Some(small) = SmallFs::mount("1m") else { return };
    let receiver = FakeReceiver::start(Box::new(|_, _| (204, Vec::new())));
    let target = ticking();
    let port = free_port();
    let mut outpost = start_outpost(&config(&small.path().join("data"), port, &receiver, &target));
    poll_until(Duration::from_secs(30), "healthy ticks delivered", || {
        outpost.assert_running();
        let n = ticks(&receiver).len();
        if n >= 5 { Ok(()) } else { Err(format!("{n} ticks")) }
    });
    receiver.down();
    let down_at = target.served.load(Ordering::SeqCst);
    // Full, then on for as long again: the oldest segments are dropped for the newest.
    let full = poll_until(Duration::from_secs(60), "the file system full (ENOSPC in the log)", || {
        outpost.assert_running();
        let log = outpost.log_tail();
        match log.lines().find(|l| l.contains("no space left on device")) {
            Some(line) => Ok(line.to_owned()),
            None => Err(format!("{:?}", listing(small.path()).len())),
        }
    });
    let full_at = target.served.load(Ordering::SeqCst);
    poll_until(Duration::from_secs(60), "as many scrapes again while full", || {
        let n = target.served.load(Ordering::SeqCst);
        if n >= full_at + (full_at - down_at) { Ok(()) } else { Err(format!("{n} scrapes")) }
    });
    let dropped = metric(port, "prometheus_remote_storage_samples_dropped_total{reason=\"disk_full\"");
    receiver.up();
    let served = drain(&mut outpost, port, &receiver, &target);
    let got = ticks(&receiver);
    let runs = runs(&got);
    let log = outpost.log_tail();
    eprintln!(
        "full disk (1 MiB tmpfs): outage from scrape {down_at}, full at {full_at}, {served} served; \
         delivered runs {runs:?}; {dropped} samples counted dropped (disk_full); first ENOSPC line: {full}"
    );
    assert_eq!(got.len(), got.iter().collect::<BTreeSet<_>>().len(), "no tick delivered twice");
    assert!(got.windows(2).all(|w| w[0] < w[1]), "ticks in order");
    assert_eq!(runs.len(), 2, "the healthy prefix and the newest suffix, one gap between: {runs:?}\n{log}");
    assert_eq!(runs[0].0, 1, "nothing lost before the outage");
    assert!(runs[0].1 >= down_at - 1, "the prefix reaches the outage");
    assert!(runs[1].1 >= served, "the newest tick kept");
    let gap = runs[1].0 - runs[0].1 - 1;
    // Every dropped scrape was counted: its tick_total, its fillers, its five report series;
    // blocks do not end with scrapes, so the count may include parts of the scrapes either side.
    let per_scrape = (FILLER + 1 + 5) as f64;
    assert!(dropped >= gap as f64 * per_scrape, "{dropped} counted, {gap} scrapes missing");
    assert!(dropped <= (gap + 2) as f64 * per_scrape + 4000.0, "{dropped} counted, {gap} scrapes missing");
    assert!(!log.contains("panicked"), "{log}");
}

/// Another process fills the file system during an outage: outpost cannot write a block,
/// says why (ENOSPC), counts every block it drops, keeps scraping, and writes again by itself
/// once the space is freed; everything written then is delivered.
#[test]
fn file_system_filled_by_another_process_recovers_when_space_is_freed() {
    let Some(small) = SmallFs::mount("1m") else { return };
    let receiver = FakeReceiver::start(Box::new(|_, _| (204, Vec::new())));
    let target = ticking();
    let port = free_port();
    let mut outpost = start_outpost(&config(&small.path().join("data"), port, &receiver, &target));
    poll_until(Duration::from_secs(30), "healthy ticks delivered", || {
        outpost.assert_running();
        let n = ticks(&receiver).len();
        if n >= 5 { Ok(()) } else { Err(format!("{n} ticks")) }
    });
    // The other process: a file that takes every free byte.
    let hog = small.path().join("hog");
    let mut file = fs::File::create(&hog).expect("create hog");
    let chunk = vec![0u8; 64 << 10];
    while std::io::Write::write_all(&mut file, &chunk).is_ok() {}
    drop(file);
    receiver.down();
    let down_at = target.served.load(Ordering::SeqCst);
    let full = poll_until(Duration::from_secs(60), "ENOSPC in the log", || {
        outpost.assert_running();
        let log = outpost.log_tail();
        log.lines()
            .find(|l| l.contains("no space left on device"))
            .map(str::to_owned)
            .ok_or_else(|| "not yet".into())
    });
    poll_until(Duration::from_secs(30), "scraping goes on while full", || {
        let n = target.served.load(Ordering::SeqCst);
        if n >= down_at + 20 { Ok(()) } else { Err(format!("{n}")) }
    });
    let dropped_full = metric(port, "prometheus_remote_storage_samples_dropped_total{reason=\"disk_full\"");
    fs::remove_file(&hog).expect("free the space");
    let freed_at = target.served.load(Ordering::SeqCst);
    poll_until(Duration::from_secs(30), "segments written again", || {
        let bytes = metric(port, "outpost_buffer_disk_bytes");
        if bytes > 0.0 { Ok(()) } else { Err(format!("{bytes} bytes on disk")) }
    });
    poll_until(Duration::from_secs(30), "more scrapes after the space came back", || {
        let n = target.served.load(Ordering::SeqCst);
        if n >= freed_at + 10 { Ok(()) } else { Err(format!("{n}")) }
    });
    receiver.up();
    let served = drain(&mut outpost, port, &receiver, &target);
    let got = ticks(&receiver);
    let runs = runs(&got);
    eprintln!(
        "full disk (another process): outage from scrape {down_at}, space freed at {freed_at}, {served} \
         served; delivered runs {runs:?}; {dropped_full} samples counted dropped while full; ENOSPC line: {full}"
    );
    assert_eq!(got.len(), got.iter().collect::<BTreeSet<_>>().len(), "no tick delivered twice");
    assert_eq!(runs.first().map(|r| r.0), Some(1), "nothing lost before the outage");
    assert!(dropped_full > 0.0, "the blocks that found no space were counted");
    let last = runs.last().copied().unwrap_or_default();
    assert!(last.1 >= served, "the newest tick kept");
    assert!(last.0 <= freed_at + 1, "everything from when the space came back was kept: {runs:?}");
}
