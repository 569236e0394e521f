//! SPEC, Pipeline (discovery) and Operations (SIGHUP), against the real binary:
//! file_sd targets appear and disappear as their file is rewritten, a removed
//! target's series end with Prometheus's staleness marker, and a reload is
//! applied by difference (an invalid one changes nothing; an unchanged target
//! keeps its schedule; a reload during an outage loses nothing).

mod support;

use std::fs;
use std::path::Path;
use std::time::Duration;

use support::fake::{FakeReceiver, FakeTarget};
use support::{
    Child, poll_until, query, series_labels, start_node_exporter, start_outpost, start_prometheus,
};

const STALE_NAN: u64 = 0x7ff0_0000_0000_0002;
/// Generous for a loaded 2-core machine: the scrape interval here is 100-400 ms.
const WITHIN: Duration = Duration::from_secs(30);

/// Writes `text` to `path` whole (a rename), as a careful user or tool does.
fn write_atomically(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    fs::write(&tmp, text).expect("write temp file");
    fs::rename(&tmp, path).expect("rename into place");
}

/// Rewrites the running outpost's config (keeping the `data_dir` line
/// start_outpost put first) and sends SIGHUP.
fn reload(outpost: &Child, config: &str) {
    let file = outpost.dir().join("outpost.toml");
    let old = fs::read_to_string(&file).expect("read outpost.toml");
    let data_dir = old.lines().next().unwrap_or_default();
    write_atomically(&file, &format!("{data_dir}\n{config}"));
    outpost.signal("HUP");
}

fn log_has(outpost: &Child, text: &str) -> Result<(), String> {
    let log = outpost.log_tail();
    if log.contains(text) { Ok(()) } else { Err(format!("no {text:?} in the log yet")) }
}

fn fake_receiver() -> FakeReceiver {
    FakeReceiver::start(Box::new(|_, _| (204, Vec::new())))
}

/// A job `files` with one file_sd pattern relative to the config's directory.
fn file_sd_config(receiver_url: &str, interval: &str) -> String {
    format!(
        r#"[global]
scrape_interval = "{interval}"
scrape_timeout = "{interval}"
[[remote_write]]
url = "{receiver_url}"
[remote_write.queue_config]
batch_send_deadline = "50ms"
min_backoff = "20ms"
max_backoff = "200ms"
[[scrape_configs]]
job_name = "files"
[[scrape_configs.file_sd_configs]]
files = ["targets/*.json"]
refresh_interval = "200ms"
[[scrape_configs.relabel_configs]]
source_labels = ["__meta_filepath"]
regex = ".*/([^/]*)"
target_label = "sd_file"
"#
    )
}

fn targets_file(outpost: &Child) -> std::path::PathBuf {
    let dir = outpost.dir().join("targets");
    fs::create_dir_all(&dir).expect("mkdir targets");
    dir.join("edge.json")
}

/// A node_exporter written into the file is scraped and reaches a real
/// Prometheus with the labels the file gave it (and one made from
/// `__meta_filepath`); taken out of the file, its series ends at once in
/// Prometheus's query API (a staleness marker, not the 5-minute lookback).
#[test]
fn a_target_written_to_a_file_reaches_prometheus_and_its_removal_ends_the_series() {
    let prometheus = start_prometheus();
    let node = start_node_exporter();
    let url = format!("http://127.0.0.1:{}/api/v1/write", prometheus.port);
    let mut outpost = start_outpost(&file_sd_config(&url, "500ms"));
    let file = targets_file(&outpost);
    write_atomically(&file, "[]");
    let instance = format!("127.0.0.1:{}", node.port);
    write_atomically(&file, &format!(r#"[{{"targets": ["{instance}"], "labels": {{"site": "modem-7"}}}}]"#));

    let up = format!(r#"up{{job="files",instance="{instance}"}}"#);
    let series = poll_until(WITHIN, "the new target's up reaches Prometheus", || {
        outpost.assert_running();
        match query(prometheus.port, &up)? {
            result if result.len() == 1 && result[0]["value"][1] == "1" => Ok(series_labels(&result[0])),
            result => Err(format!("{result:?}")),
        }
    });
    assert_eq!(series.get("site").map(String::as_str), Some("modem-7"), "{series:?}");
    assert_eq!(series.get("sd_file").map(String::as_str), Some("edge.json"), "__meta_filepath: {series:?}");
    let cpu = format!(r#"count(node_cpu_seconds_total{{instance="{instance}",site="modem-7"}})"#);
    poll_until(WITHIN, "node_exporter's own series arrive", || match query(prometheus.port, &cpu)?.len() {
        1 => Ok(()),
        n => Err(format!("{n} results")),
    });

    write_atomically(&file, "[]");
    poll_until(WITHIN, "up of the removed target ends in Prometheus", || {
        outpost.assert_running();
        match query(prometheus.port, &up)? {
            result if result.is_empty() => Ok(()),
            result => Err(format!("still {result:?}")),
        }
    });
    let any = format!(r#"count({{instance="{instance}"}})"#);
    poll_until(WITHIN, "every series of the removed target ends", || match query(prometheus.port, &any)? {
        result if result.is_empty() => Ok(()),
        result => Err(format!("still {result:?}")),
    });
    outpost.assert_running();
}

/// The removed target's series and its five report series each get exactly
/// one staleness marker with Prometheus's bits, after their last sample; the
/// target left in the file gets none and keeps being scraped.
#[test]
fn a_target_removed_from_a_file_gets_staleness_markers_with_the_exact_bits() {
    let receiver = fake_receiver();
    let gone = FakeTarget::start("a 1\nb{x=\"y\"} 2\n");
    let kept = FakeTarget::start("a 1\n");
    let outpost = start_outpost(&file_sd_config(&receiver.url(), "100ms"));
    let file = targets_file(&outpost);
    let both = format!(r#"[{{"targets": ["{}", "{}"]}}]"#, gone.address(), kept.address());
    write_atomically(&file, &both);
    let (gone_instance, kept_instance) =
        (format!("instance={},", gone.address()), format!("instance={},", kept.address()));
    poll_until(WITHIN, "both targets delivered", || {
        let n = |with: &str| receiver.samples("a", with).len();
        if n(&gone_instance) >= 3 && n(&kept_instance) >= 3 { Ok(()) } else { Err("not yet".into()) }
    });
    write_atomically(&file, &format!(r#"[{{"targets": ["{}"]}}]"#, kept.address()));
    let names = ["a", "b", "up", "scrape_duration_seconds", "scrape_samples_scraped"];
    poll_until(WITHIN, "markers for the removed target", || {
        let marked =
            names.iter().all(|n| receiver.samples(n, &gone_instance).last().map(|s| s.1) == Some(STALE_NAN));
        if marked { Ok(()) } else { Err("not yet".into()) }
    });
    let served_at_removal = gone.served.load(std::sync::atomic::Ordering::SeqCst);
    let kept_before = receiver.samples("up", &kept_instance).len();
    poll_until(WITHIN, "the kept target goes on", || {
        if receiver.samples("up", &kept_instance).len() >= kept_before + 5 {
            Ok(())
        } else {
            Err("not yet".into())
        }
    });
    for name in names.iter().chain(&["scrape_samples_post_metric_relabeling", "scrape_series_added"]) {
        let got = receiver.samples(name, &gone_instance);
        let markers = got.iter().filter(|(_, bits)| *bits == STALE_NAN).count();
        assert_eq!(markers, 1, "{name}: one marker: {got:?}");
        assert_eq!(got.last().map(|s| s.1), Some(STALE_NAN), "{name}: the marker is last: {got:?}");
        assert!(got.windows(2).all(|w| w[0].0 < w[1].0), "{name}: timestamps increase: {got:?}");
        let kept_series = receiver.samples(name, &kept_instance);
        assert!(
            kept_series.iter().all(|(_, bits)| *bits != STALE_NAN),
            "{name} of the kept target: {kept_series:?}"
        );
    }
    assert_eq!(
        gone.served.load(std::sync::atomic::Ordering::SeqCst),
        served_at_removal,
        "the removed target is not scraped any more"
    );
}

/// A file that stops parsing keeps its targets (and says why, naming the
/// file); a file that disappears removes them.
#[test]
fn a_malformed_file_keeps_its_targets_and_a_deleted_one_removes_them() {
    let receiver = fake_receiver();
    let target = FakeTarget::start("a 1\n");
    let outpost = start_outpost(&file_sd_config(&receiver.url(), "100ms"));
    let file = targets_file(&outpost);
    write_atomically(&file, &format!(r#"[{{"targets": ["{}"]}}]"#, target.address()));
    let instance = format!("instance={},", target.address());
    poll_until(WITHIN, "the target is scraped", || {
        if receiver.samples("up", &instance).len() >= 2 { Ok(()) } else { Err("not yet".into()) }
    });
    write_atomically(&file, r#"[{"targets": ["#);
    let name = file.display().to_string();
    poll_until(WITHIN, "the parse error is logged with the file name", || {
        log_has(&outpost, &format!("file_sd {name}: EOF while parsing"))
    });
    let before = receiver.samples("up", &instance).len();
    poll_until(WITHIN, "the target is still scraped", || {
        if receiver.samples("up", &instance).len() >= before + 5 { Ok(()) } else { Err("not yet".into()) }
    });
    assert!(receiver.samples("up", &instance).iter().all(|s| s.1 != STALE_NAN), "no marker while kept");

    fs::remove_file(&file).expect("remove the targets file");
    poll_until(WITHIN, "its targets are removed", || match receiver.samples("up", &instance).last() {
        Some((_, bits)) if *bits == STALE_NAN => Ok(()),
        _ => Err("no marker yet".into()),
    });
}

fn static_config(receiver_url: &str, jobs: &[(&str, &str)], extra_rw: &str) -> String {
    let mut text = format!(
        r#"[global]
scrape_interval = "400ms"
scrape_timeout = "400ms"
[[remote_write]]
url = "{receiver_url}"
{extra_rw}
[remote_write.queue_config]
batch_send_deadline = "50ms"
min_backoff = "20ms"
max_backoff = "200ms"
"#
    );
    for (job, target) in jobs {
        text.push_str(&format!(
            "[[scrape_configs]]\njob_name = \"{job}\"\n[[scrape_configs.static_configs]]\ntargets = [\"{target}\"]\n"
        ));
    }
    text
}

/// The timestamps of `up` for one target: strictly one scrape per interval,
/// neither a duplicate (two within half an interval) nor a gap (none within
/// one and a half). A tolerance of half the 400 ms interval absorbs timer
/// and scheduling jitter on a loaded machine, yet a skipped scrape (800 ms)
/// or an extra one (~0 ms) falls outside it.
fn assert_on_schedule(ups: &[(i64, u64)], what: &str) {
    assert!(ups.len() >= 6, "{what}: too few scrapes to judge: {ups:?}");
    for w in ups.windows(2) {
        let gap = w[1].0 - w[0].0;
        assert!(
            (200..=600).contains(&gap),
            "{what}: {gap} ms between scrapes at {} and {}: {ups:?}",
            w[0].0,
            w[1].0
        );
    }
}

#[test]
fn sighup_with_an_invalid_config_keeps_the_running_one_and_logs_the_position() {
    let receiver = fake_receiver();
    let target = FakeTarget::start("a 1\n");
    let config = static_config(&receiver.url(), &[("one", &target.address())], "");
    let mut outpost = start_outpost(&config);
    let instance = format!("instance={},", target.address());
    poll_until(WITHIN, "scraped", || {
        if receiver.samples("up", &instance).len() >= 2 { Ok(()) } else { Err("not yet".into()) }
    });
    // Line 2 of the rewritten file is the first of `config`: line 3 holds the error.
    let broken = config.replacen("scrape_interval = \"400ms\"", "scrape_interval = \"soon\"", 1);
    reload(&outpost, &broken);
    let file = outpost.dir().join("outpost.toml").display().to_string();
    poll_until(WITHIN, "the error is logged with its position", || {
        log_has(
            &outpost,
            &format!(
                "SIGHUP: invalid config, still running the previous one: {file}:3:19: global.scrape_interval: invalid duration \"soon\""
            ),
        )
    });
    let before = receiver.samples("up", &instance).len();
    poll_until(WITHIN, "the old config keeps scraping", || {
        if receiver.samples("up", &instance).len() >= before + 4 { Ok(()) } else { Err("not yet".into()) }
    });
    outpost.assert_running();
    let ups = receiver.samples("up", &instance);
    assert!(ups.iter().all(|s| s.1 != STALE_NAN), "nothing was stopped: {ups:?}");
    assert_on_schedule(&ups, "the running target");
}

#[test]
fn sighup_adding_a_job_keeps_the_unchanged_target_on_its_schedule() {
    let receiver = fake_receiver();
    let (a, b) = (FakeTarget::start("a 1\n"), FakeTarget::start("b 1\n"));
    let mut outpost = start_outpost(&static_config(&receiver.url(), &[("one", &a.address())], ""));
    let (a_instance, b_instance) =
        (format!("instance={},", a.address()), format!("instance={},", b.address()));
    poll_until(WITHIN, "a scraped", || {
        if receiver.samples("up", &a_instance).len() >= 4 { Ok(()) } else { Err("not yet".into()) }
    });
    reload(&outpost, &static_config(&receiver.url(), &[("one", &a.address()), ("two", &b.address())], ""));
    poll_until(WITHIN, "the reload is logged", || log_has(&outpost, "SIGHUP: configuration reloaded"));
    poll_until(WITHIN, "the new job is scraped", || {
        if receiver.samples("up", &b_instance).len() >= 4 { Ok(()) } else { Err("not yet".into()) }
    });
    let at_reload = receiver.samples("up", &a_instance).len();
    poll_until(WITHIN, "a goes on", || {
        if receiver.samples("up", &a_instance).len() >= at_reload + 3 {
            Ok(())
        } else {
            Err("not yet".into())
        }
    });
    outpost.assert_running();
    let ups = receiver.samples("up", &a_instance);
    assert!(ups.iter().all(|s| s.1 != STALE_NAN), "a was never stopped: {ups:?}");
    assert_on_schedule(&ups, "the unchanged target across the reload");
    assert!(outpost.log_tail().contains("job two: 1 targets added, 0 changed, 0 removed, 0 unchanged"));
}

/// A reload while the receiver is down touches neither the buffer nor its
/// backlog: once the receiver is back every scrape of the whole run is there,
/// once, and the rebuilt client sends the new header.
#[test]
fn sighup_during_an_outage_loses_no_samples() {
    let receiver = fake_receiver();
    let a = FakeTarget::start("a 1\n");
    let mut outpost = start_outpost(&static_config(&receiver.url(), &[("one", &a.address())], ""));
    let instance = format!("instance={},", a.address());
    poll_until(WITHIN, "a delivered", || {
        if receiver.samples("up", &instance).len() >= 3 { Ok(()) } else { Err("not yet".into()) }
    });
    receiver.down();
    let served = || a.served.load(std::sync::atomic::Ordering::SeqCst);
    let at_outage = served();
    poll_until(WITHIN, "scrapes go on during the outage", || {
        if served() >= at_outage + 4 { Ok(()) } else { Err("not yet".into()) }
    });
    let header = r#"headers = { "X-Reloaded" = "yes" }"#;
    reload(&outpost, &static_config(&receiver.url(), &[("one", &a.address())], header));
    poll_until(WITHIN, "the reload is logged", || log_has(&outpost, "SIGHUP: configuration reloaded"));
    let at_reload = served();
    poll_until(WITHIN, "scrapes go on after the reload", || {
        if served() >= at_reload + 3 { Ok(()) } else { Err("not yet".into()) }
    });
    receiver.up();
    let scraped = served();
    poll_until(WITHIN, "every scrape delivered", || {
        let n = receiver.samples("up", &instance).len() as u64;
        if n >= scraped { Ok(()) } else { Err(format!("{n} of {scraped}")) }
    });
    outpost.assert_running();
    let ups = receiver.samples("up", &instance);
    assert_on_schedule(&ups, "the target through the outage and the reload");
    let with_header = receiver
        .snapshot()
        .iter()
        .filter(|r| (200..300).contains(&r.status))
        .filter(|r| r.headers.iter().any(|(k, v)| k.eq_ignore_ascii_case("x-reloaded") && v == "yes"))
        .count();
    assert!(with_header > 0, "the rebuilt client sends the new header");
}

/// The series caches hold labels encoded with the external labels: a reload
/// that changes them ends every series under the old value (one marker each)
/// and sends the same target's series under the new one.
#[test]
fn sighup_changing_external_labels_reaches_every_series() {
    let receiver = fake_receiver();
    let a = FakeTarget::start("a 1\n");
    let with_cluster = |cluster: &str| {
        static_config(&receiver.url(), &[("one", &a.address())], "")
            .replace("[global]\n", &format!("[global]\nexternal_labels = {{ cluster = \"{cluster}\" }}\n"))
    };
    let outpost = start_outpost(&with_cluster("old"));
    let instance = format!("instance={},", a.address());
    let (old, new) = ("cluster=old,", "cluster=new,");
    poll_until(WITHIN, "a delivered", || {
        if receiver.samples("a", old).len() >= 2 { Ok(()) } else { Err("not yet".into()) }
    });
    reload(&outpost, &with_cluster("new"));
    poll_until(WITHIN, "series under the new label", || {
        if receiver.samples("a", new).len() >= 3 { Ok(()) } else { Err("not yet".into()) }
    });
    for name in ["a", "up", "scrape_series_added"] {
        let before = receiver.samples(name, old);
        assert_eq!(before.iter().filter(|s| s.1 == STALE_NAN).count(), 1, "{name} old: {before:?}");
        assert_eq!(before.last().map(|s| s.1), Some(STALE_NAN), "{name}: the marker ends the old series");
        let after = receiver.samples(name, new);
        assert!(after.iter().all(|s| s.1 != STALE_NAN), "{name} new: {after:?}");
        let last_old = before.last().map_or(0, |s| s.0);
        assert!(
            after.iter().all(|s| s.0 >= last_old),
            "{name}: the new series starts after the old one ends"
        );
        assert!(receiver.samples(name, &instance).len() == before.len() + after.len());
    }
}

/// A job removed by a reload ends its targets' series; a job whose scrape
/// settings changed restarts its loop: one marker, then scrapes at the new
/// interval.
#[test]
fn sighup_removing_a_job_and_changing_another_ends_and_restarts_their_loops() {
    let receiver = fake_receiver();
    let (a, b) = (FakeTarget::start("a 1\n"), FakeTarget::start("b 1\n"));
    let outpost =
        start_outpost(&static_config(&receiver.url(), &[("one", &a.address()), ("two", &b.address())], ""));
    let (a_instance, b_instance) =
        (format!("instance={},", a.address()), format!("instance={},", b.address()));
    poll_until(WITHIN, "both scraped", || {
        let n = |with: &str| receiver.samples("up", with).len();
        if n(&a_instance) >= 3 && n(&b_instance) >= 3 { Ok(()) } else { Err("not yet".into()) }
    });
    let faster = static_config(&receiver.url(), &[("one", &a.address())], "").replace(
        "job_name = \"one\"\n",
        "job_name = \"one\"\nscrape_interval = \"200ms\"\nscrape_timeout = \"200ms\"\n",
    );
    reload(&outpost, &faster);
    poll_until(WITHIN, "the reload is logged", || log_has(&outpost, "SIGHUP: configuration reloaded"));
    poll_until(WITHIN, "a scraped at the new interval", || {
        let ups = receiver.samples("up", &a_instance);
        let after = ups.iter().skip_while(|s| s.1 != STALE_NAN).count();
        if after >= 6 { Ok(()) } else { Err(format!("{after} after the marker")) }
    });
    let b_ups = receiver.samples("up", &b_instance);
    assert_eq!(b_ups.last().map(|s| s.1), Some(STALE_NAN), "the removed job's target ends: {b_ups:?}");
    assert_eq!(b_ups.iter().filter(|s| s.1 == STALE_NAN).count(), 1);
    let b_served = b.served.load(std::sync::atomic::Ordering::SeqCst);

    let ups = receiver.samples("up", &a_instance);
    assert_eq!(
        ups.iter().filter(|s| s.1 == STALE_NAN).count(),
        1,
        "one marker for the changed target: {ups:?}"
    );
    let after: Vec<_> = ups.iter().skip_while(|s| s.1 != STALE_NAN).skip(1).collect();
    // Half the new 200 ms interval either way, as assert_on_schedule allows.
    for w in after.windows(2) {
        let gap = w[1].0 - w[0].0;
        assert!((100..=300).contains(&gap), "{gap} ms between scrapes at the new interval: {after:?}");
    }
    assert!(outpost.log_tail().contains("job one: 0 targets added, 1 changed, 0 removed, 0 unchanged"));
    assert!(outpost.log_tail().contains("job two: 0 targets added, 0 changed, 1 removed, 0 unchanged"));
    assert_eq!(b.served.load(std::sync::atomic::Ordering::SeqCst), b_served, "b is not scraped any more");
}

/// YAML target files (`.yml`): the same format as JSON, read by extension; a
/// YAML syntax error is logged with the file name and position and keeps the
/// file's targets.
#[test]
fn a_yaml_target_file_is_read_like_a_json_one() {
    let receiver = fake_receiver();
    let target = FakeTarget::start("a 1\n");
    let config = file_sd_config(&receiver.url(), "100ms").replace("targets/*.json", "targets/*.yml");
    let outpost = start_outpost(&config);
    let file = targets_file(&outpost).with_extension("yml");
    write_atomically(&file, &format!("- targets: ['{}']\n  labels:\n    site: modem-9\n", target.address()));
    // Labels arrive sorted: the file's `site` and `sd_file` (from __meta_filepath) follow job.
    let with = format!("instance={},job=files,sd_file=edge.yml,site=modem-9", target.address());
    poll_until(WITHIN, "the YAML file's target is scraped with its labels", || {
        match receiver.samples("a", &with).len() {
            0 => Err("no sample of a with the file's labels yet".into()),
            _ => Ok(()),
        }
    });
    write_atomically(&file, "- targets: ['a:1'\n");
    let name = file.display().to_string();
    poll_until(WITHIN, "the YAML error is logged with the file name and line", || {
        log_has(&outpost, &format!("file_sd {name}: ")).and_then(|()| log_has(&outpost, "line 2"))
    });
    let before = receiver.samples("a", &with).len();
    poll_until(WITHIN, "the target is still scraped", || {
        if receiver.samples("a", &with).len() >= before + 3 { Ok(()) } else { Err("not yet".into()) }
    });
}
