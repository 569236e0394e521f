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

/// Samples each scrape makes: its tick_total, its fillers, its five report series.
const PER_SCRAPE: f64 = (FILLER + 1 + 5) as f64;

/// Every delivered sample is one the target or the scrape made, with a plausible value: no
/// torn or foreign bytes were ever sent as data. `up` is 1 throughout: scraping went on.
fn assert_no_garbage(receiver: &FakeReceiver, target: &FakeTarget) {
    let served = target.served.load(Ordering::SeqCst);
    let reports = ["up,", "scrape_duration_seconds,", "scrape_samples_scraped,"];
    let reports2 = ["scrape_samples_post_metric_relabeling,", "scrape_series_added,"];
    for (key, _, value) in delivered(&receiver.snapshot()) {
        let name = key.strip_prefix("__name__=").unwrap_or(&key);
        let known = name.starts_with("tick_total,")
            || name.starts_with("filler,")
            || reports.iter().chain(&reports2).any(|r| name.starts_with(r));
        assert!(known, "a series the target never served: {key}");
        if name.starts_with("up,") {
            assert_eq!(value, 1.0, "up stays 1 while the disk is full");
        }
        if name.starts_with("tick_total,") || name.starts_with("filler,") {
            assert!(value.fract() == 0.0 && value >= 0.0 && value <= served as f64 + 1.0, "{key} {value}");
        }
    }
}

/// Every missing scrape is counted, and little more: blocks do not end with scrapes, so the
/// count may include parts of the scrapes either side of each gap.
fn assert_counted(dropped: f64, runs: &[(u64, u64)]) -> u64 {
    let gaps = runs.len().saturating_sub(1) as f64;
    let missing: u64 = runs.windows(2).map(|w| w[1].0 - w[0].1 - 1).sum();
    let ideal = missing as f64 * PER_SCRAPE;
    // A scrape at a gap's edge may be kept in part (its tick lost, some fillers delivered).
    assert!(
        dropped >= ideal - gaps * 2.0 * PER_SCRAPE,
        "{dropped} samples counted dropped, {missing} scrapes ({ideal} samples) missing"
    );
    assert!(
        dropped <= ideal + gaps * (2.0 * PER_SCRAPE + 4000.0),
        "{dropped} samples counted dropped, {missing} scrapes ({ideal} samples) missing"
    );
    missing
}

/// An outage longer than a 1 MiB file system holds: outpost fills it, the log names ENOSPC
/// with the directory, the oldest segments go (counted, `no_space`: `buffer.disk` is far from
/// reached), scraping goes on, and when the receiver is back what is delivered is the healthy
/// prefix plus the newest ticks that fit, each once, in order.
#[test]
fn full_file_system_keeps_the_newest_data_and_counts_the_rest() {
    let Some(small) = SmallFs::mount("1m") else { return };
    let receiver = FakeReceiver::start(Box::new(|_, _| (204, Vec::new())));
    let target = ticking();
    let port = free_port();
    let data = small.path().join("data");
    let mut outpost = start_outpost(&config(&data, port, &receiver, &target));
    poll_until(Duration::from_secs(30), "healthy ticks delivered", || {
        outpost.assert_running();
        let n = ticks(&receiver).len();
        if n >= 5 { Ok(()) } else { Err(format!("{n} ticks")) }
    });
    receiver.down();
    let down_at = target.served.load(Ordering::SeqCst);
    // Full, then on for as long again: the oldest segments are dropped for the newest.
    let full = poll_until(Duration::from_secs(120), "the file system full (ENOSPC in the log)", || {
        outpost.assert_running();
        let log = outpost.log_tail();
        match log.lines().find(|l| l.contains("no space left on device")) {
            Some(line) => Ok(line.to_owned()),
            None => Err(format!("{:?}", listing(small.path()).len())),
        }
    });
    assert!(full.contains(&data.display().to_string()), "the line names the directory: {full}");
    let full_at = target.served.load(Ordering::SeqCst);
    let mut peak_disk = 0.0f64;
    poll_until(Duration::from_secs(120), "as many scrapes again while full", || {
        peak_disk = peak_disk.max(metric(port, "outpost_buffer_disk_bytes"));
        let n = target.served.load(Ordering::SeqCst);
        if n >= full_at + (full_at - down_at) { Ok(()) } else { Err(format!("{n} scrapes")) }
    });
    receiver.up();
    let served = drain(&mut outpost, port, &receiver, &target);
    // Read after the drain: blocks sealed while it ran still found the file system full.
    let dropped = metric(port, "prometheus_remote_storage_samples_dropped_total{reason=\"no_space\"");
    let budget = metric(port, "prometheus_remote_storage_samples_dropped_total{reason=\"disk_full\"");
    let got = ticks(&receiver);
    let runs = runs(&got);
    let log = outpost.log_tail();
    assert_eq!(got.len(), got.iter().collect::<BTreeSet<_>>().len(), "no tick delivered twice");
    assert!(got.windows(2).all(|w| w[0] < w[1]), "ticks in order");
    // The healthy prefix and the newest suffix; while the backlog drains the file system is
    // still full, so a segment not yet sent may go for a newer block: gaps after the first
    // are of blocks older than all kept after them, and counted as the first.
    assert!(runs.len() >= 2, "the healthy prefix and the newest suffix, a gap between: {runs:?}\n{log}");
    assert_eq!(runs[0].0, 1, "nothing lost before the outage");
    assert!(runs[0].1 >= down_at - 1, "the prefix reaches the outage");
    let last = runs[runs.len() - 1];
    assert!(last.1 >= served, "the newest tick kept");
    // The file system held `full_at - down_at` scrapes when it filled: most of that is kept.
    assert!(2 * (last.1 - last.0 + 1) >= full_at - down_at, "the newest scrapes that fit kept: {runs:?}");
    assert_eq!(budget, 0.0, "buffer.disk (64 MiB) was never reached: nothing counted disk_full");
    let missing = assert_counted(dropped, &runs);
    assert_no_garbage(&receiver, &target);
    // The ideal: the outage's scrapes less what 1 MiB holds at the rate segments filled it.
    let kept: u64 = runs[1..].iter().map(|r| r.1 - r.0 + 1).sum();
    eprintln!(
        "FIGURE full disk (1 MiB tmpfs, outpost fills it): outage from scrape {down_at}, full at {full_at}, \
         {served} served; delivered runs {runs:?}; {missing} scrapes lost ({ideal} samples), {dropped} \
         samples counted no_space; {kept} newest scrapes kept, peak segment bytes {peak_disk} \
         ({per:.0} bytes a scrape); first ENOSPC line: {full}",
        ideal = missing as f64 * PER_SCRAPE,
        per = peak_disk / (full_at - down_at).max(1) as f64,
    );
    assert!(!log.contains("panicked"), "{log}");
}

/// Another process fills the file system during an outage, while outpost writes to it: outpost
/// deletes its own oldest segments for the newest blocks and, with none left to delete, drops
/// blocks, saying why (ENOSPC, with the directory) and counting every one; it keeps scraping,
/// and writes again by itself once the space is freed; everything written then is delivered.
#[test]
fn file_system_filled_by_another_process_recovers_when_space_is_freed() {
    let Some(small) = SmallFs::mount("1m") else { return };
    let receiver = FakeReceiver::start(Box::new(|_, _| (204, Vec::new())));
    let target = ticking();
    let port = free_port();
    let data = small.path().join("data");
    let mut outpost = start_outpost(&config(&data, port, &receiver, &target));
    poll_until(Duration::from_secs(30), "healthy ticks delivered", || {
        outpost.assert_running();
        let n = ticks(&receiver).len();
        if n >= 5 { Ok(()) } else { Err(format!("{n} ticks")) }
    });
    receiver.down();
    let down_at = target.served.load(Ordering::SeqCst);
    poll_until(Duration::from_secs(30), "a backlog on disk", || {
        let bytes = metric(port, "outpost_buffer_disk_bytes");
        if bytes >= 256.0 * 1024.0 { Ok(()) } else { Err(format!("{bytes} bytes on disk")) }
    });
    // The other process: dd takes every free byte while outpost goes on writing, and stops
    // at ENOSPC itself.
    let hog = small.path().join("hog");
    let dd = Command::new("dd")
        .args(["if=/dev/zero", "bs=16k", "status=none"])
        .arg(format!("of={}", hog.display()))
        .status()
        .expect("run dd");
    assert!(!dd.success(), "dd ends when the file system is full");
    let full = poll_until(Duration::from_secs(60), "ENOSPC in the log", || {
        outpost.assert_running();
        let log = outpost.log_tail();
        log.lines()
            .find(|l| l.contains("no space left on device"))
            .map(str::to_owned)
            .ok_or_else(|| "not yet".into())
    });
    assert!(full.contains(&data.display().to_string()), "the line names the directory: {full}");
    let hog_at = target.served.load(Ordering::SeqCst);
    poll_until(Duration::from_secs(30), "scraping goes on while full", || {
        outpost.assert_running();
        let n = target.served.load(Ordering::SeqCst);
        if n >= hog_at + 30 { Ok(()) } else { Err(format!("{n}")) }
    });
    let dropped_full = metric(port, "prometheus_remote_storage_samples_dropped_total{reason=\"no_space\"");
    fs::remove_file(&hog).expect("free the space");
    let freed_at = target.served.load(Ordering::SeqCst);
    poll_until(Duration::from_secs(30), "more scrapes after the space came back", || {
        let n = target.served.load(Ordering::SeqCst);
        if n >= freed_at + 10 { Ok(()) } else { Err(format!("{n}")) }
    });
    receiver.up();
    let served = drain(&mut outpost, port, &receiver, &target);
    let dropped = metric(port, "prometheus_remote_storage_samples_dropped_total{reason=\"no_space\"");
    let budget = metric(port, "prometheus_remote_storage_samples_dropped_total{reason=\"disk_full\"");
    let got = ticks(&receiver);
    let runs = runs(&got);
    let log = outpost.log_tail();
    assert_eq!(got.len(), got.iter().collect::<BTreeSet<_>>().len(), "no tick delivered twice");
    assert!(got.windows(2).all(|w| w[0] < w[1]), "ticks in order");
    assert_eq!(runs.first().map(|r| r.0), Some(1), "nothing lost before the outage: {runs:?}");
    assert!(dropped_full > 0.0, "the blocks that found no space were counted");
    let last = runs.last().copied().unwrap_or_default();
    assert!(last.1 >= served, "the newest tick kept");
    assert!(last.0 <= freed_at + 1, "everything from when the space came back was kept: {runs:?}");
    assert_eq!(budget, 0.0, "buffer.disk was never reached");
    let missing = assert_counted(dropped + budget, &runs);
    assert_no_garbage(&receiver, &target);
    eprintln!(
        "FIGURE full disk (1 MiB tmpfs, filled by dd during the outage): outage from scrape {down_at}, \
         dd at {hog_at}, space freed at {freed_at}, {served} served; delivered runs {runs:?}; {missing} \
         scrapes lost ({ideal} samples), {dropped} samples counted no_space; ENOSPC line: {full}",
        ideal = missing as f64 * PER_SCRAPE,
    );
    assert!(!log.contains("panicked"), "{log}");
}
