use super::*;
use crate::relabel::tests::rule as relabel;

const EXAMPLE: &str = include_str!("../../config/outpost.toml");
const SPEC_EXAMPLE: &str = include_str!("../../tests/fixtures/config/spec-example.toml");
/// The smallest valid config: two lines, so cases appended to it start on line 3.
const RW: &str = "[[remote_write]]\nurl = \"http://r:9090/api/v1/write\"\n";

fn err(text: &str) -> String {
    match parse(text, "t.toml") {
        Ok(config) => panic!("accepted {text:?}: {config:?}"),
        Err(e) => e.to_string(),
    }
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn queue_defaults() -> QueueConfig {
    QueueConfig {
        max_samples_per_send: 2000,
        batch_send_deadline: secs(5),
        min_shards: 1,
        max_shards: 1,
        min_backoff: Duration::from_millis(30),
        max_backoff: secs(5),
        retry_on_http_429: true,
        rate_limit: 0,
    }
}

fn buffer_defaults() -> BufferConfig {
    BufferConfig {
        memory: 4 << 20,
        disk: 256 << 20,
        segment: 4 << 20,
        max_age: secs(3600),
        sync_interval: secs(1),
        persist: Persist::Outage,
    }
}

/// `data_dir`'s default, computed here as load.rs does (systemd's first
/// `$STATE_DIRECTORY` path, else "data"), so the tests pass in and out of systemd.
fn default_data_dir() -> PathBuf {
    match std::env::var("STATE_DIRECTORY") {
        Ok(dirs) if !dirs.is_empty() => PathBuf::from(dirs.split(':').next().unwrap()),
        _ => PathBuf::from("data"),
    }
}

/// `text` with its lines `lines` (1-based, inclusive) commented out, so that
/// the positions of the other lines do not move.
fn comment_out(text: &str, lines: std::ops::RangeInclusive<usize>) -> String {
    let mut out = String::new();
    for (i, line) in text.lines().enumerate() {
        if lines.contains(&(i + 1)) {
            out.push_str("# ");
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

fn job(name: &str, interval: Duration, timeout: Duration, targets: &[&str]) -> ScrapeConfig {
    ScrapeConfig {
        job_name: name.to_string(),
        scrape_interval: interval,
        scrape_timeout: timeout,
        metrics_path: "/metrics".to_string(),
        scheme: Scheme::Http,
        honor_labels: false,
        honor_timestamps: true,
        sample_limit: 0,
        keep_dropped_targets: 0,
        label_limit: 0,
        label_name_length_limit: 0,
        label_value_length_limit: 0,
        body_size_limit: BODY_SIZE_LIMIT,
        budget: ScrapeBudget::default(),
        params: BTreeMap::new(),
        file_sd_configs: vec![],
        kubernetes_sd_configs: vec![],
        http_sd_configs: vec![],
        static_configs: vec![StaticConfig {
            targets: targets.iter().map(|t| t.to_string()).collect(),
            labels: BTreeMap::new(),
        }],
        relabel_configs: vec![],
        metric_relabel_configs: vec![],
        http_client: HttpClientConfig::default(),
    }
}

/// `{ source_labels = ["__name__"], regex = <regex>, action = "drop" }`.
fn drop_by_name(regex: &'static str) -> Rule {
    relabel(&[("source_labels", "__name__"), ("regex", regex), ("action", "drop")])
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// What config/outpost.toml, and the SPEC example without its unsupported
/// keys, parse to: every key at its default except where they say otherwise.
/// (The SPEC's node job has no metric_relabel_configs; the caller clears it.)
fn documented_config(origin: &str) -> Config {
    let mut node = job("node", secs(15), secs(10), &["127.0.0.1:9100"]);
    node.static_configs[0].labels = map(&[("role", "modem")]);
    node.metric_relabel_configs = vec![drop_by_name("node_scrape_collector_.*")];
    Config {
        origin: origin.to_string(),
        data_dir: PathBuf::from("/var/lib/outpost"),
        listen: Some("127.0.0.1:9464".parse().unwrap()),
        log_level: log::LevelFilter::Info,
        global: Global {
            scrape_interval: secs(15),
            scrape_timeout: secs(10),
            external_labels: map(&[("cluster", "edge-01")]),
            body_size_limit: BODY_SIZE_LIMIT,
            budget: ScrapeBudget::default(),
        },
        buffer: buffer_defaults(),
        remote_write: vec![RemoteWrite {
            name: "global".to_string(),
            url: "http://global-prometheus:9090/api/v1/write".to_string(),
            remote_timeout: secs(30),
            headers: map(&[("X-Scope-OrgID", "edge")]),
            queue_config: queue_defaults(),
            write_relabel_configs: vec![drop_by_name("go_.*")],
            http_client: HttpClientConfig::default(),
            metadata_config: metadata_defaults(),
        }],
        scrape_configs: vec![node],
        web: crate::config::WebConfig::default(),
    }
}

#[test]
fn example_file_parses_to_its_documented_values() {
    assert_eq!(parse(EXAMPLE, "outpost.toml"), Ok(documented_config("outpost.toml")));
}

#[test]
fn embedded_default_parses_with_prometheus_defaults() {
    let config = parse(DEFAULT, "<default>").unwrap();
    assert_eq!(config.origin, "<default>");
    assert_eq!(config.listen, Some("127.0.0.1:9464".parse().unwrap()));
    assert_eq!(config.remote_write[0].name, "local");
    assert_eq!(config.remote_write[0].url, "http://127.0.0.1:9090/api/v1/write");
    assert_eq!(config.scrape_configs, vec![job("outpost", secs(60), secs(10), &["127.0.0.1:9464"])]);
}

#[test]
fn load_reads_a_file_and_names_it() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/outpost.toml");
    assert_eq!(load(&path).unwrap().origin, path.display().to_string());
    let missing = std::path::Path::new("/nonexistent/outpost.toml");
    let e = load(missing).unwrap_err();
    assert!(e.to_string().starts_with("/nonexistent/outpost.toml: cannot read: "), "{e}");
    assert_eq!(e.position(), None);
}

#[test]
fn spec_example_parses_with_its_kubernetes_job() {
    let config = parse(SPEC_EXAMPLE, "t.toml").expect("the SPEC's example is valid");
    let job = &config.scrape_configs[1];
    assert_eq!(job.job_name, "kubernetes-pods");
    assert_eq!(
        job.kubernetes_sd_configs,
        [KubernetesSdConfig {
            role: KubernetesRole::Pod,
            api_server: None,
            kubeconfig_file: None,
            http_client: HttpClientConfig::default(),
            namespaces: vec![],
            own_namespace: false,
            label_selector: String::new(),
            field_selector: String::new(),
            other_selectors: vec![],
            attach_node: false,
            attach_namespace: false,
        }]
    );
    assert_eq!(job.relabel_configs.len(), 1);
}

#[test]
fn spec_example_without_its_unsupported_keys_parses_to_the_documented_values() {
    // Lines 52-60: the kubernetes-pods job (its relabel_configs go with it).
    let text = comment_out(SPEC_EXAMPLE, 52..=60);
    let mut want = documented_config("t.toml");
    want.scrape_configs[0].metric_relabel_configs.clear();
    assert_eq!(parse(&text, "t.toml"), Ok(want));
}

#[test]
fn defaults_are_resolved() {
    let config = parse(&format!("{RW}[[scrape_configs]]\njob_name = \"a\"\n"), "t.toml").unwrap();
    let want = Config {
        origin: "t.toml".to_string(),
        data_dir: default_data_dir(),
        listen: None,
        log_level: log::LevelFilter::Info,
        global: Global {
            scrape_interval: secs(60),
            scrape_timeout: secs(10),
            external_labels: BTreeMap::new(),
            body_size_limit: BODY_SIZE_LIMIT,
            budget: ScrapeBudget::default(),
        },
        buffer: buffer_defaults(),
        remote_write: vec![RemoteWrite {
            name: "r:9090".to_string(),
            url: "http://r:9090/api/v1/write".to_string(),
            remote_timeout: secs(30),
            headers: BTreeMap::new(),
            queue_config: queue_defaults(),
            write_relabel_configs: vec![],
            http_client: HttpClientConfig::default(),
            metadata_config: metadata_defaults(),
        }],
        scrape_configs: vec![ScrapeConfig { static_configs: vec![], ..job("a", secs(60), secs(10), &[]) }],
        web: crate::config::WebConfig::default(),
    };
    assert_eq!(config, want);
}

#[test]
fn scrape_timeout_follows_prometheus() {
    let timeouts = |text: &str| {
        let config = parse(
            &format!("{text}{RW}[[scrape_configs]]\njob_name = \"fast\"\nscrape_interval = \"5s\"\n"),
            "t.toml",
        )
        .unwrap();
        (config.global.scrape_timeout, config.scrape_configs[0].scrape_timeout)
    };
    // A job's timeout defaults to global's, capped at the job's own interval.
    assert_eq!(timeouts(""), (secs(10), secs(5)));
    // The global timeout defaults to 10s, capped at the global interval.
    assert_eq!(timeouts("[global]\nscrape_interval = \"3s\"\n"), (secs(3), secs(3)));
    assert_eq!(timeouts("[global]\nscrape_timeout = \"2s\"\n"), (secs(2), secs(2)));
}

#[test]
fn log_level_and_listen_are_parsed() {
    let config = parse(&format!("listen = \"[::1]:9464\"\nlog_level = \"trace\"\n{RW}"), "t.toml").unwrap();
    assert_eq!(config.listen, Some("[::1]:9464".parse().unwrap()));
    assert_eq!(config.log_level, log::LevelFilter::Trace);
    let off = parse(&format!("log_level = \"off\"\n{RW}"), "t.toml").unwrap();
    assert_eq!(off.log_level, log::LevelFilter::Off);
    assert_eq!(
        err(&format!("log_level = \"INFO\"\n{RW}")),
        "t.toml:1:13: log_level: log_level \"INFO\": expected one of error, warn, info, debug, trace, off"
    );
}

#[test]
fn shards_default_to_one_and_min_may_not_exceed_max() {
    let shards = |text: &str| {
        let q =
            &parse(&format!("{RW}[remote_write.queue_config]\n{text}"), "t.toml").unwrap().remote_write[0];
        (q.queue_config.min_shards, q.queue_config.max_shards)
    };
    assert_eq!(shards(""), (1, 1), "one shard unless asked (Prometheus's max_shards default is 50)");
    assert_eq!(shards("max_shards = 4\n"), (1, 4));
    assert_eq!(shards("min_shards = 2\nmax_shards = 4\n"), (2, 4));
    assert_eq!(shards("min_shards = 3\n"), (3, 3), "max follows a larger min");
    let cases = [
        (
            "max_shards = 0\n",
            "t.toml:4:14: remote_write[0] (\"http://r:9090/api/v1/write\").queue_config.max_shards: max_shards must be at least 1",
        ),
        (
            "min_shards = -1\n",
            "t.toml:4:14: remote_write[0] (\"http://r:9090/api/v1/write\").queue_config.min_shards: min_shards must be at least 1",
        ),
        (
            "min_shards = 5\nmax_shards = 4\n",
            "t.toml:4:14: remote_write[0] (\"http://r:9090/api/v1/write\").queue_config.min_shards: min_shards 5 is greater than max_shards 4",
        ),
    ];
    for (text, want) in cases {
        assert_eq!(err(&format!("{RW}[remote_write.queue_config]\n{text}")), want, "{text}");
    }
}

#[test]
fn buffer_data_dir_and_rate_limit_defaults() {
    let config = parse(RW, "t.toml").unwrap();
    assert_eq!(config.data_dir, default_data_dir());
    let buffer = &config.buffer;
    assert_eq!(buffer.memory, 4 * 1024 * 1024);
    assert_eq!(buffer.disk, 256 * 1024 * 1024);
    assert_eq!(buffer.segment, 4 * 1024 * 1024);
    assert_eq!(buffer.max_age, Duration::from_secs(60 * 60));
    assert_eq!(buffer.sync_interval, Duration::from_secs(1));
    assert_eq!(buffer.persist, Persist::Outage);
    assert_eq!(config.remote_write[0].queue_config.rate_limit, 0);
    // An empty [buffer] and [remote_write.queue_config] are the same defaults.
    let empty = parse(&format!("[buffer]\n{RW}[remote_write.queue_config]\n"), "t.toml").unwrap();
    assert_eq!(empty.buffer, buffer_defaults());
    assert_eq!(empty.remote_write[0].queue_config, queue_defaults());
}

#[test]
fn buffer_data_dir_and_rate_limit_are_parsed() {
    let text = format!(
        "data_dir = \"/srv/outpost\"\n[buffer]\nmemory = \"1MiB\"\ndisk = \"64MiB\"\nsegment = \"512KiB\"\n\
         max_age = \"2h30m\"\nsync_interval = \"250ms\"\npersist = \"always\"\n\
         {RW}[remote_write.queue_config]\nrate_limit = \"1MiB\"\n"
    );
    let config = parse(&text, "t.toml").unwrap();
    assert_eq!(config.data_dir, PathBuf::from("/srv/outpost"));
    let want = BufferConfig {
        memory: 1 << 20,
        disk: 64 << 20,
        segment: 512 << 10,
        max_age: secs(2 * 3600 + 30 * 60),
        sync_interval: Duration::from_millis(250),
        persist: Persist::Always,
    };
    assert_eq!(config.buffer, want);
    assert_eq!(
        config.remote_write[0].queue_config,
        QueueConfig { rate_limit: 1_048_576, ..queue_defaults() }
    );

    // A relative data_dir is kept as written (relative to the working directory).
    let relative = parse(&format!("data_dir = \"state/outpost\"\n{RW}"), "t.toml").unwrap();
    assert_eq!(relative.data_dir, PathBuf::from("state/outpost"));
    // "outage", written out, is the default.
    let outage = parse(&format!("[buffer]\npersist = \"outage\"\n{RW}"), "t.toml").unwrap();
    assert_eq!(outage.buffer.persist, Persist::Outage);
    // max_age may be long (VictoriaMetrics accepts any age).
    let week = parse(&format!("[buffer]\nmax_age = \"1w\"\n{RW}"), "t.toml").unwrap();
    assert_eq!(week.buffer.max_age, secs(7 * 24 * 3600));
}

#[test]
fn segment_may_equal_disk() {
    for (buffer, segment) in [
        ("disk = \"4MiB\"", 4 << 20),
        ("disk = \"1MiB\"\nsegment = \"1MiB\"", 1 << 20),
        ("disk = \"1000\"\nsegment = \"1000B\"", 1000),
    ] {
        let config = parse(&format!("[buffer]\n{buffer}\n{RW}"), "t.toml").unwrap();
        assert_eq!((config.buffer.segment, config.buffer.disk), (segment, segment), "{buffer}");
    }
}

#[test]
fn rate_limit_is_any_size_in_bytes_per_second() {
    let cases: &[(&str, u64)] = &[
        ("0", 0),
        ("0B", 0),
        ("0MiB", 0),
        ("512", 512),
        ("64KiB", 64 << 10),
        ("1MiB", 1_048_576),
        ("1MB", 1_048_576),
        ("1GiB", 1 << 30),
    ];
    for (value, want) in cases {
        let text = format!("{RW}[remote_write.queue_config]\nrate_limit = \"{value}\"\n");
        let config = parse(&text, "t.toml").unwrap();
        assert_eq!(config.remote_write[0].queue_config.rate_limit, *want, "{value}");
    }
}

#[test]
fn buffer_data_dir_and_rate_limit_errors() {
    let buffer = |lines: &str| format!("[buffer]\n{lines}\n{RW}");
    let cases: Vec<(String, &str)> = vec![
        (format!("data_dir = \"\"\n{RW}"), "t.toml:1:12: data_dir: data_dir must not be empty"),
        (
            format!("data_dir = 1\n{RW}"),
            "t.toml:1:12: data_dir: invalid type: integer `1`, expected a string",
        ),
        // segment larger than disk: at segment when it is written, else at disk.
        (
            buffer("disk = \"8MiB\"\nsegment = \"16MiB\""),
            "t.toml:3:11: buffer.segment: buffer.segment 16MiB is larger than buffer.disk 8MiB",
        ),
        (
            buffer("segment = \"16MiB\"\ndisk = \"8MiB\""),
            "t.toml:2:11: buffer.segment: buffer.segment 16MiB is larger than buffer.disk 8MiB",
        ),
        (
            buffer("segment = \"512MiB\""),
            "t.toml:2:11: buffer.segment: buffer.segment 512MiB is larger than buffer.disk 256MiB",
        ),
        (
            buffer("disk = \"1MiB\""),
            "t.toml:2:8: buffer.disk: buffer.segment 4MiB is larger than buffer.disk 1MiB",
        ),
        (
            buffer("disk = \"1000\"\nsegment = \"1KiB\""),
            "t.toml:3:11: buffer.segment: buffer.segment 1KiB is larger than buffer.disk 1000B",
        ),
        // Zero sizes.
        (buffer("memory = \"0\""), "t.toml:2:10: buffer.memory: buffer.memory must be greater than 0"),
        (buffer("memory = \"0B\""), "t.toml:2:10: buffer.memory: buffer.memory must be greater than 0"),
        (buffer("disk = \"0\""), "t.toml:2:8: buffer.disk: buffer.disk must be greater than 0"),
        (buffer("disk = \"0GiB\""), "t.toml:2:8: buffer.disk: buffer.disk must be greater than 0"),
        (buffer("segment = \"0\""), "t.toml:2:11: buffer.segment: buffer.segment must be greater than 0"),
        (buffer("segment = \"0KiB\""), "t.toml:2:11: buffer.segment: buffer.segment must be greater than 0"),
        // A zero disk is refused as such, not as smaller than the segment.
        (
            buffer("segment = \"1MiB\"\ndisk = \"0\""),
            "t.toml:3:8: buffer.disk: buffer.disk must be greater than 0",
        ),
        // Malformed sizes.
        (
            buffer("disk = \"lots\""),
            "t.toml:2:8: buffer.disk: invalid size \"lots\": expected an integer number of bytes",
        ),
        (
            buffer("segment = \"4M\""),
            "t.toml:2:11: buffer.segment: invalid size \"4M\": unknown unit \"M\" (one of B, KiB, MiB, GiB, TiB, KB, MB, GB, TB)",
        ),
        (buffer("disk = 256"), "t.toml:2:8: buffer.disk: invalid type: integer `256`, expected a string"),
        // persist.
        (
            buffer("persist = \"sometimes\""),
            "t.toml:2:11: buffer.persist: buffer.persist \"sometimes\": expected \"outage\" or \"always\"",
        ),
        (
            buffer("persist = \"Always\""),
            "t.toml:2:11: buffer.persist: buffer.persist \"Always\": expected \"outage\" or \"always\"",
        ),
        (
            buffer("persist = \"\""),
            "t.toml:2:11: buffer.persist: buffer.persist \"\": expected \"outage\" or \"always\"",
        ),
        (
            buffer("persist = true"),
            "t.toml:2:11: buffer.persist: invalid type: boolean `true`, expected a string",
        ),
        // Zero and malformed durations.
        (buffer("max_age = \"0\""), "t.toml:2:11: buffer.max_age: max_age must be greater than 0"),
        (buffer("max_age = \"0s\""), "t.toml:2:11: buffer.max_age: max_age must be greater than 0"),
        (
            buffer("sync_interval = \"0\""),
            "t.toml:2:17: buffer.sync_interval: sync_interval must be greater than 0",
        ),
        (
            buffer("sync_interval = \"0ms\""),
            "t.toml:2:17: buffer.sync_interval: sync_interval must be greater than 0",
        ),
        (
            buffer("max_age = \"1.5h\""),
            "t.toml:2:11: buffer.max_age: invalid duration \"1.5h\": fractions are not allowed",
        ),
        (
            buffer("sync_interval = \"1\""),
            "t.toml:2:17: buffer.sync_interval: invalid duration \"1\": missing unit (one of y, w, d, h, m, s, ms)",
        ),
        // rate_limit: any size, but a size.
        (
            format!("{RW}[remote_write.queue_config]\nrate_limit = \"-1\"\n"),
            "t.toml:4:14: remote_write[0] (\"http://r:9090/api/v1/write\").queue_config.rate_limit: invalid size \"-1\": expected an integer number of bytes",
        ),
        (
            format!("{RW}[remote_write.queue_config]\nrate_limit = \"1MiB/s\"\n"),
            "t.toml:4:14: remote_write[0] (\"http://r:9090/api/v1/write\").queue_config.rate_limit: invalid size \"1MiB/s\": unknown unit \"MiB/s\" (one of B, KiB, MiB, GiB, TiB, KB, MB, GB, TB)",
        ),
        (
            format!("{RW}[remote_write.queue_config]\nrate_limit = 0\n"),
            "t.toml:4:14: remote_write[0] (\"http://r:9090/api/v1/write\").queue_config.rate_limit: invalid type: integer `0`, expected a string",
        ),
        (
            format!("[buffer]\ndisk = \"16777216TiB\"\n{RW}"),
            "t.toml:2:8: buffer.disk: invalid size \"16777216TiB\": size out of range",
        ),
    ];
    for (text, want) in &cases {
        assert_eq!(err(text), *want, "{text}");
    }
}

#[test]
fn errors_name_origin_line_col_and_reason() {
    let cases: Vec<(String, &str)> = vec![
        // toml's own errors, without its snippet.
        (
            format!("{RW}[global]\nscrape_intervall = \"15s\"\n"),
            "t.toml:4:1: global.scrape_intervall: unknown key `scrape_intervall`; did you mean `scrape_interval`?",
        ),
        (
            format!("{RW}[remote_write.queue_config]\nfoo = 1\n"),
            "t.toml:4:1: remote_write[0] (\"http://r:9090/api/v1/write\").queue_config.foo: unknown key `foo`; known keys: `max_samples_per_send`, `batch_send_deadline`, `min_shards`, `max_shards`, `min_backoff`, `max_backoff`, `retry_on_http_429`, `rate_limit`",
        ),
        (
            format!(
                "{RW}[[scrape_configs]]\njob_name = \"a\"\n[[scrape_configs.static_configs]]\n  target = [\"x:1\"]\n"
            ),
            "t.toml:6:3: scrape_configs[0] (\"a\").static_configs[0].target: unknown key `target`; did you mean `targets`?",
        ),
        (
            format!("log_level = 3\n{RW}"),
            "t.toml:1:13: log_level: invalid type: integer `3`, expected a string",
        ),
        (
            format!("{RW}[[scrape_configs]]\njob_name = \"a\"\nsample_limit = -1\n"),
            "t.toml:5:16: scrape_configs[0] (\"a\").sample_limit: invalid value: integer `-1`, expected usize",
        ),
        ("listen = \"x\n".to_string(), "t.toml:1:12: invalid basic string, expected `\"`"),
        (
            format!("{RW}[[scrape_configs]]\nscrape_interval = \"1s\"\n"),
            "t.toml:3:1: scrape_configs[0]: missing field `job_name`",
        ),
        (
            "[[remote_write]]\nname = \"x\"\n".to_string(),
            "t.toml:1:1: remote_write[0] (\"x\"): missing field `url`",
        ),
        // Semantic errors.
        (String::new(), "t.toml: no [[remote_write]]: at least one receiver is required"),
        (
            format!("[global]\nscrape_interval = \"15x\"\n{RW}"),
            "t.toml:2:19: global.scrape_interval: invalid duration \"15x\": unknown unit \"x\" (one of y, w, d, h, m, s, ms)",
        ),
        (
            format!("[global]\nscrape_interval = \"0\"\n{RW}"),
            "t.toml:2:19: global.scrape_interval: scrape_interval must be greater than 0",
        ),
        (
            format!(
                "{RW}[[scrape_configs]]\njob_name = \"node\"\nscrape_interval = \"15s\"\nscrape_timeout = \"20s\"\n"
            ),
            "t.toml:6:18: scrape_configs[0] (\"node\").scrape_timeout: scrape_timeout 20s is greater than scrape_interval 15s for job \"node\"",
        ),
        (
            format!(
                "[global]\nscrape_interval = \"15s\"\n{RW}[[scrape_configs]]\njob_name = \"node\"\nscrape_timeout = \"20s\"\n"
            ),
            "t.toml:7:18: scrape_configs[0] (\"node\").scrape_timeout: scrape_timeout 20s is greater than scrape_interval 15s for job \"node\"",
        ),
        (
            format!("[global]\nscrape_interval = \"5s\"\nscrape_timeout = \"1m30s\"\n{RW}"),
            "t.toml:3:18: global.scrape_timeout: scrape_timeout 1m30s is greater than scrape_interval 5s in [global]",
        ),
        (
            format!("{RW}[[scrape_configs]]\njob_name = \"node\"\n[[scrape_configs]]\njob_name = \"node\"\n"),
            "t.toml:6:12: scrape_configs[1] (\"node\").job_name: duplicate job_name \"node\"",
        ),
        (
            format!("{RW}[[scrape_configs]]\njob_name = \"\"\n"),
            "t.toml:4:12: scrape_configs[0] (\"\").job_name: job_name must not be empty",
        ),
        (
            format!("{RW}[[scrape_configs]]\njob_name = \"a\"\nscheme = \"ftp\"\n"),
            "t.toml:5:10: scrape_configs[0] (\"a\").scheme: scheme \"ftp\": expected \"http\" or \"https\"",
        ),
        (
            format!("{RW}[[scrape_configs]]\njob_name = \"a\"\nmetrics_path = \"metrics\"\n"),
            "t.toml:5:16: scrape_configs[0] (\"a\").metrics_path: metrics_path \"metrics\": must start with \"/\"",
        ),
        (
            format!(
                "{RW}[[scrape_configs]]\njob_name = \"a\"\n[[scrape_configs.static_configs]]\ntargets = [\"[::1]:9100\", \"127.0.0.1\"]\n"
            ),
            "t.toml:6:26: scrape_configs[0] (\"a\").static_configs[0].targets[1]: target \"127.0.0.1\": port is required (host:port)",
        ),
        (
            format!(
                "{RW}[[scrape_configs]]\njob_name = \"a\"\n[[scrape_configs.static_configs]]\nlabels = {{ \"1x\" = \"y\" }}\n"
            ),
            "t.toml:6:12: scrape_configs[0] (\"a\").static_configs[0].labels.1x: invalid label name \"1x\": must match [a-zA-Z_][a-zA-Z0-9_]*",
        ),
        // Columns count characters, not bytes ("é" is two bytes).
        (
            format!("[global]\nexternal_labels = {{ a = \"é\", __x = \"y\" }}\n{RW}"),
            "t.toml:2:30: global.external_labels.__x: external label name \"__x\" is reserved: names starting with \"__\" are internal",
        ),
        (
            format!("log_level = \"verbose\"\n{RW}"),
            "t.toml:1:13: log_level: log_level \"verbose\": expected one of error, warn, info, debug, trace, off",
        ),
        (
            format!("listen = \"localhost\"\n{RW}"),
            "t.toml:1:10: listen: listen \"localhost\": expected ip:port, e.g. \"127.0.0.1:9464\"",
        ),
        (
            format!("[buffer]\nmemory = \"0MiB\"\n{RW}"),
            "t.toml:2:10: buffer.memory: buffer.memory must be greater than 0",
        ),
        (
            format!("[buffer]\nmemory = \"4XB\"\n{RW}"),
            "t.toml:2:10: buffer.memory: invalid size \"4XB\": unknown unit \"XB\" (one of B, KiB, MiB, GiB, TiB, KB, MB, GB, TB)",
        ),
        (
            "[[remote_write]]\nurl = \"foo\"\n".to_string(),
            "t.toml:2:7: remote_write[0] (\"foo\").url: url \"foo\": must be an absolute http or https URL",
        ),
        (
            "[[remote_write]]\nurl = \"ftp://h/w\"\n".to_string(),
            "t.toml:2:7: remote_write[0] (\"ftp://h/w\").url: url \"ftp://h/w\": scheme must be http or https",
        ),
        (
            "[[remote_write]]\nurl = \"http:///w\"\n".to_string(),
            "t.toml:2:7: remote_write[0] (\"http:///w\").url: url \"http:///w\": host is missing",
        ),
        (
            "[[remote_write]]\nurl = \"http://h:0/w\"\n".to_string(),
            "t.toml:2:7: remote_write[0] (\"http://h:0/w\").url: url \"http://h:0/w\": port must be a number from 1 to 65535",
        ),
        (
            "[[remote_write]]\nurl = \"http://a:1/w\"\n[[remote_write]]\nurl = \"https://u:p@a:1/x\"\n"
                .to_string(),
            "t.toml:4:7: remote_write[1] (\"https://u:p@a:1/x\").url: duplicate remote_write name \"a:1\" (the default, host:port of the url: set `name`)",
        ),
        (
            "[[remote_write]]\nname = \"\"\nurl = \"http://a:1/w\"\n".to_string(),
            "t.toml:2:8: remote_write[0] (\"\").name: remote_write name must not be empty",
        ),
        (
            format!("{RW}remote_timeout = \"1.5s\"\n"),
            "t.toml:3:18: remote_write[0] (\"http://r:9090/api/v1/write\").remote_timeout: invalid duration \"1.5s\": fractions are not allowed",
        ),
        (
            format!("{RW}headers = {{ \"content-type\" = \"text/plain\" }}\n"),
            "t.toml:3:13: remote_write[0] (\"http://r:9090/api/v1/write\").headers.content-type: header \"content-type\" is reserved: outpost sets it itself",
        ),
        (
            format!("{RW}headers = {{ Authorization = \"Bearer x\" }}\n"),
            "t.toml:3:13: remote_write[0] (\"http://r:9090/api/v1/write\").headers.Authorization: header \"Authorization\" is not allowed: credentials belong in basic_auth, bearer_token_file or authorization",
        ),
        (
            format!("{RW}headers = {{ \"X Tenant\" = \"a\" }}\n"),
            "t.toml:3:13: remote_write[0] (\"http://r:9090/api/v1/write\").headers.X Tenant: invalid header name \"X Tenant\"",
        ),
        (
            format!("{RW}headers = {{ X-A = \"1\", x-a = \"2\" }}\n"),
            "t.toml:3:24: remote_write[0] (\"http://r:9090/api/v1/write\").headers.x-a: duplicate header \"x-a\" (names are case-insensitive)",
        ),
        (
            format!("{RW}[remote_write.queue_config]\nmax_samples_per_send = 0\n"),
            "t.toml:4:24: remote_write[0] (\"http://r:9090/api/v1/write\").queue_config.max_samples_per_send: max_samples_per_send must be greater than 0",
        ),
        (
            format!("{RW}[remote_write.queue_config]\nmin_backoff = \"10s\"\n"),
            "t.toml:4:15: remote_write[0] (\"http://r:9090/api/v1/write\").queue_config.min_backoff: min_backoff 10s is greater than max_backoff 5s",
        ),
        (
            format!("{RW}[remote_write.queue_config]\nmax_backoff = \"10ms\"\n"),
            "t.toml:4:15: remote_write[0] (\"http://r:9090/api/v1/write\").queue_config.max_backoff: min_backoff 30ms is greater than max_backoff 10ms",
        ),
        (
            format!("{RW}[remote_write.queue_config]\nrate_limit = \"fast\"\n"),
            "t.toml:4:14: remote_write[0] (\"http://r:9090/api/v1/write\").queue_config.rate_limit: invalid size \"fast\": expected an integer number of bytes",
        ),
    ];
    for (text, want) in &cases {
        assert_eq!(err(text), *want, "{text}");
    }
}

#[test]
fn scrape_limits_and_params_are_parsed() {
    let text = format!(
        "{RW}[[scrape_configs]]\njob_name = \"a\"\nlabel_limit = 10\nlabel_name_length_limit = 20\nlabel_value_length_limit = 30\nbody_size_limit = \"1MB\"\nparams = {{ module = [\"x\", \"y\"] }}\n"
    );
    let job = &parse(&text, "t.toml").expect("valid").scrape_configs[0];
    assert_eq!(
        (job.label_limit, job.label_name_length_limit, job.label_value_length_limit, job.body_size_limit),
        (10, 20, 30, 1 << 20)
    );
    assert_eq!(job.params, BTreeMap::from([("module".to_string(), vec!["x".to_string(), "y".to_string()])]));
    let empty = format!("{RW}[[scrape_configs]]\njob_name = \"a\"\nparams = {{ module = [] }}\n");
    assert_eq!(
        err(&empty),
        "t.toml:5:12: scrape_configs[0] (\"a\").params.module: params \"module\": needs a name and at least one value"
    );
}

/// The memory budget: an edge default body limit (a deviation from Prometheus's none), set in
/// `[global]` for every job; a job's own value wins, and a job's "0" means no limit.
#[test]
fn scrape_budget_defaults_global_values_and_job_overrides() {
    let jobs = "[[scrape_configs]]\njob_name = \"a\"\n[[scrape_configs]]\njob_name = \"b\"\n\
        body_size_limit = \"0\"\nseries_limit = 0\nnew_series_limit = 7\nlabel_bytes_limit = \"1KiB\"\n\
        line_length_limit = \"0\"\n";
    let config = parse(&format!("{RW}{jobs}"), "t.toml").expect("valid");
    let (a, b) = (&config.scrape_configs[0], &config.scrape_configs[1]);
    assert_eq!((a.body_size_limit, a.budget), (16 << 20, ScrapeBudget::default()));
    assert_eq!(
        ScrapeBudget::default(),
        ScrapeBudget { series: 100_000, new_series: 100_000, label_bytes: 65536, line_length: 131072 }
    );
    let lifted = ScrapeBudget { series: 0, new_series: 7, label_bytes: 1024, line_length: 0 };
    assert_eq!((b.body_size_limit, b.budget), (0, lifted));

    let global = "[global]\nbody_size_limit = \"1MiB\"\nseries_limit = 10\nnew_series_limit = 5\n\
        label_bytes_limit = \"2KiB\"\nline_length_limit = \"4KiB\"\n";
    let config = parse(&format!("{global}{RW}{jobs}"), "t.toml").expect("valid");
    let (a, b) = (&config.scrape_configs[0], &config.scrape_configs[1]);
    let set = ScrapeBudget { series: 10, new_series: 5, label_bytes: 2048, line_length: 4096 };
    assert_eq!((config.global.body_size_limit, config.global.budget), (1 << 20, set));
    assert_eq!((a.body_size_limit, a.budget), (1 << 20, set));
    assert_eq!((b.body_size_limit, b.budget), (0, lifted));
    assert_eq!(
        err(&format!("[global]\nline_length_limit = \"wide\"\n{RW}")),
        "t.toml:2:21: global.line_length_limit: invalid size \"wide\": expected an integer number of bytes"
    );
}

#[test]
fn several_remote_writes_each_keep_their_own_settings() {
    let text = "[[remote_write]]\nurl = \"http://a:1/w\"\n\
        [[remote_write.write_relabel_configs]]\nsource_labels = [\"__name__\"]\nregex = \"go_.*\"\naction = \"drop\"\n\
        [[remote_write]]\nname = \"backup\"\nurl = \"http://a:1/other\"\n\
        [remote_write.queue_config]\nmax_shards = 3\n\
        [[remote_write]]\nurl = \"http://b:2/w\"\nmetadata_config = { send = false }\n";
    let config = parse(text, "t.toml").expect("valid");
    let rw = &config.remote_write;
    let names: Vec<&str> = rw.iter().map(|rw| rw.name.as_str()).collect();
    assert_eq!(names, ["a:1", "backup", "b:2"], "in the file's order; unnamed ones are host:port");
    assert_eq!(rw.iter().map(|rw| rw.write_relabel_configs.len()).collect::<Vec<_>>(), [1, 0, 0]);
    assert_eq!(rw.iter().map(|rw| rw.queue_config.max_shards).collect::<Vec<_>>(), [1, 3, 1]);
    assert_eq!(rw.iter().map(|rw| rw.metadata_config.send).collect::<Vec<_>>(), [true, true, false]);
}

#[test]
fn remote_write_names_must_be_unique_and_map_to_distinct_directories() {
    let cases = [
        (
            "[[remote_write]]\nname = \"x\"\nurl = \"http://a:1/w\"\n[[remote_write]]\nname = \"x\"\nurl = \"http://b:1/w\"\n",
            "t.toml:5:8: remote_write[1] (\"x\").name: duplicate remote_write name \"x\"",
        ),
        (
            "[[remote_write]]\nurl = \"http://a:1/w\"\n[[remote_write]]\nname = \"a_1\"\nurl = \"http://b:1/w\"\n",
            "t.toml:4:8: remote_write[1] (\"a_1\").name: remote_write names \"a:1\" and \"a_1\" share the buffer directory \"a_1\": rename one",
        ),
        (
            "[[remote_write]]\nname = \"..\"\nurl = \"http://a:1/w\"\n[[remote_write]]\nname = \"/\"\nurl = \"http://b:1/w\"\n",
            "t.toml:5:8: remote_write[1] (\"/\").name: remote_write names \"..\" and \"/\" share the buffer directory \"_\": rename one",
        ),
    ];
    for (text, want) in cases {
        assert_eq!(err(text), want, "{text}");
    }
    assert_eq!(crate::config::buffer_dir("global/eu 1"), "global_eu_1");
    assert_eq!(crate::config::buffer_dir("a.b-c_9"), "a.b-c_9");
}

#[test]
fn attach_metadata_once_refused_is_accepted_wherever_it_is() {
    let texts = [
        format!(
            "{RW}[[scrape_configs]]\njob_name = \"k\"\n[[scrape_configs.kubernetes_sd_configs]]\nrole = \"pod\"\nattach_metadata = {{ node = true }}\n"
        ),
        // After other tables (relabel rules, a second remote_write).
        format!(
            "{RW}[[remote_write.write_relabel_configs]]\naction = \"drop\"\n[[remote_write]]\nurl = \"http://b:1/w\"\n[[scrape_configs]]\njob_name = \"k\"\n[[scrape_configs.kubernetes_sd_configs]]\nrole = \"pod\"\nattach_metadata = {{ node = true }}\n"
        ),
    ];
    for text in &texts {
        let config = parse(text, "t.toml").unwrap_or_else(|e| panic!("{text}: {e}"));
        assert!(config.scrape_configs[0].kubernetes_sd_configs[0].attach_node);
    }
}

#[test]
fn targets_are_host_and_port() {
    for ok in ["127.0.0.1:9100", "[::1]:9100", "[fe80::1%eth0]:9100", "node-1.local:80", "h:65535"] {
        assert_eq!(check::target(ok), Ok(()), "{ok}");
    }
    let cases = [
        ("127.0.0.1", "port is required (host:port)"),
        ("[::1]", "port is required (host:port)"),
        ("::1:9100", "IPv6 addresses must be in brackets, e.g. [::1]:9100"),
        ("[::1", "missing \"]\" after IPv6 address"),
        ("[zz]:1", "invalid IPv6 address in brackets"),
        ("[::1]x:1", "unexpected text after \"]\""),
        (":9100", "host is missing"),
        ("h:", "port must be a number from 1 to 65535"),
        ("h:65536", "port must be a number from 1 to 65535"),
        ("h:+80", "port must be a number from 1 to 65535"),
        ("h o:80", "invalid character in host"),
        ("http://h:80", "must be host:port, without scheme, path or credentials"),
        ("h:80/metrics", "must be host:port, without scheme, path or credentials"),
    ];
    for (target, want) in cases {
        assert_eq!(check::target(target), Err(want), "{target}");
    }
}

#[test]
fn urls_are_absolute_http_with_a_host() {
    let cases = [
        ("http://r:9090/api/v1/write", Ok("r:9090")),
        ("HTTPS://receiver.example", Ok("receiver.example")),
        ("https://user:pw@r/w?x=1", Ok("r")),
        ("http://[::1]:9090/w", Ok("[::1]:9090")),
        ("r:9090/api/v1/write", Err("must be an absolute http or https URL")),
        ("http://r/a b", Err("must not contain whitespace or control characters")),
        ("http://:9090/w", Err("host is missing")),
        ("http://r:x/w", Err("port must be a number from 1 to 65535")),
        ("http://r:9090:1/w", Err("IPv6 addresses must be in brackets, e.g. [::1]:9100")),
    ];
    for (url, want) in cases {
        assert_eq!(check::url(url), want, "{url}");
    }
}

#[test]
fn no_input_prefix_panics() {
    // Each prefix gives Ok or an error naming the origin. Every prefix of the
    // SPEC example; of the longer outpost.toml, each line end and every 5th
    // character (all of them takes ~2s in a debug build).
    let spec = SPEC_EXAMPLE.char_indices().map(|(i, _)| (SPEC_EXAMPLE, i));
    let example = EXAMPLE.char_indices().filter(|(i, c)| *c == '\n' || i % 5 == 0);
    let cuts = spec.chain(example.map(|(i, _)| (EXAMPLE, i)));
    for (text, cut) in cuts.chain([(EXAMPLE, EXAMPLE.len())]) {
        if let Err(e) = parse(&text[..cut], "p") {
            assert!(e.to_string().starts_with("p:"), "{e}");
        }
    }
}

#[test]
fn relabel_rules_are_parsed_in_order_in_both_toml_forms() {
    let text = format!(
        "{RW}[[remote_write.write_relabel_configs]]\nsource_labels = [\"__name__\"]\nregex = \"go_.*\"\naction = \"drop\"\n\
         [[scrape_configs]]\njob_name = \"a\"\n\
         metric_relabel_configs = [{{ regex = \"pod_(.+)\", action = \"labelmap\" }}, {{ target_label = \"env\", replacement = \"prod\" }}]\n\
         [[scrape_configs.relabel_configs]]\n\
         source_labels = [\"__address__\", \"__meta_port\"]\nseparator = \"@\"\nregex = \"([^:]+):\\\\d+@(\\\\d+)\"\n\
         target_label = \"__address__\"\nreplacement = \"$1:$2\"\naction = \"replace\"\n\
         [[scrape_configs.relabel_configs]]\nsource_labels = [\"__address__\"]\ntarget_label = \"shard\"\nmodulus = 4\naction = \"hashmod\"\n\
         [[scrape_configs.relabel_configs]]\nregex = \"__meta_.*\"\naction = \"labeldrop\"\n"
    );
    let config = parse(&text, "t.toml").unwrap();
    assert_eq!(config.remote_write[0].write_relabel_configs, vec![drop_by_name("go_.*")]);
    let job = &config.scrape_configs[0];
    let want = vec![
        relabel(&[
            ("source_labels", "__address__,__meta_port"),
            ("separator", "@"),
            ("regex", "([^:]+):\\d+@(\\d+)"),
            ("target_label", "__address__"),
            ("replacement", "$1:$2"),
        ]),
        relabel(&[
            ("source_labels", "__address__"),
            ("target_label", "shard"),
            ("modulus", "4"),
            ("action", "hashmod"),
        ]),
        relabel(&[("regex", "__meta_.*"), ("action", "labeldrop")]),
    ];
    assert_eq!(job.relabel_configs, want);
    let want = vec![
        relabel(&[("regex", "pod_(.+)"), ("action", "labelmap")]),
        relabel(&[("target_label", "env"), ("replacement", "prod")]),
    ];
    assert_eq!(job.metric_relabel_configs, want);
    // An empty list is the same as none.
    let empty = parse(&format!("{RW}write_relabel_configs = []\n"), "t.toml").unwrap();
    assert_eq!(empty.remote_write[0].write_relabel_configs, vec![]);
}

#[test]
fn relabel_rules_from_the_example_apply() {
    // The example's write rule drops go_* series and keeps the rest.
    let config = parse(EXAMPLE, "outpost.toml").unwrap();
    let rules = &config.remote_write[0].write_relabel_configs;
    let mut go = crate::model::Labels::from_pairs([("__name__", "go_goroutines"), ("job", "node")]);
    assert!(!crate::relabel::process(&mut go, rules));
    let mut up = crate::model::Labels::from_pairs([("__name__", "up"), ("job", "node")]);
    assert!(crate::relabel::process(&mut up, rules));
    assert_eq!(up, crate::model::Labels::from_pairs([("__name__", "up"), ("job", "node")]));
}

#[test]
fn every_relabel_action_is_accepted() {
    let rules = [
        "{ target_label = \"t\" }",
        "{ action = \"keep\" }",
        "{ action = \"drop\", regex = \"x\" }",
        "{ action = \"keepequal\", source_labels = [\"a\"], target_label = \"b\" }",
        "{ action = \"dropequal\", source_labels = [\"a\"], target_label = \"b\" }",
        "{ action = \"hashmod\", source_labels = [\"a\"], target_label = \"h\", modulus = 8 }",
        "{ action = \"labelmap\", regex = \"x_(.*)\", replacement = \"y_$1\" }",
        "{ action = \"labeldrop\", regex = \"x_.*\" }",
        "{ action = \"labelkeep\", regex = \"x_.*\" }",
        "{ action = \"lowercase\", source_labels = [\"a\"], target_label = \"l\" }",
        "{ action = \"UpperCase\", source_labels = [\"a\"], target_label = \"u\" }",
    ];
    let text = format!("{RW}write_relabel_configs = [\n{}\n]\n", rules.join(",\n"));
    let config = parse(&text, "t.toml").unwrap();
    let actions: Vec<&str> =
        config.remote_write[0].write_relabel_configs.iter().map(|r| r.action().as_str()).collect();
    let want = [
        "replace",
        "keep",
        "drop",
        "keepequal",
        "dropequal",
        "hashmod",
        "labelmap",
        "labeldrop",
        "labelkeep",
        "lowercase",
        "uppercase",
    ];
    assert_eq!(actions, want);
}

#[test]
fn relabel_errors_name_the_rule_and_point_at_the_value() {
    let job = format!("{RW}[[scrape_configs]]\njob_name = \"a\"\n");
    let rule = |lines: &str| format!("{job}[[scrape_configs.relabel_configs]]\n{lines}\n");
    let cases: Vec<(String, &str)> = vec![
        // A key the action needs is missing: at the rule's table header.
        (
            rule("action = \"hashmod\"\nmodulus = 2"),
            "t.toml:5:1: scrape_configs[0] (\"a\").relabel_configs[0]: action \"hashmod\" requires a target_label",
        ),
        (
            rule("action = \"hashmod\"\ntarget_label = \"h\""),
            "t.toml:5:1: scrape_configs[0] (\"a\").relabel_configs[0]: action \"hashmod\" requires a modulus greater than 0",
        ),
        (
            rule(""),
            "t.toml:5:1: scrape_configs[0] (\"a\").relabel_configs[0]: action \"replace\" requires a target_label",
        ),
        // Inline tables: at the table; the index counts from 0.
        (
            format!(
                "{job}relabel_configs = [\n  {{ target_label = \"t\" }},\n  {{ action = \"hashmod\", modulus = 2 }},\n]\n"
            ),
            "t.toml:7:3: scrape_configs[0] (\"a\").relabel_configs[1]: action \"hashmod\" requires a target_label",
        ),
        (
            format!(
                "{job}[[scrape_configs.relabel_configs]]\ntarget_label = \"t\"\n[[scrape_configs.metric_relabel_configs]]\naction = \"keepequal\"\n"
            ),
            "t.toml:7:1: scrape_configs[0] (\"a\").metric_relabel_configs[0]: action \"keepequal\" requires a target_label",
        ),
        (
            format!("{RW}[[remote_write.write_relabel_configs]]\naction = \"lowercase\"\n"),
            "t.toml:3:1: remote_write[0] (\"http://r:9090/api/v1/write\").write_relabel_configs[0]: action \"lowercase\" requires a target_label",
        ),
        // A wrong value: at the value.
        (
            rule("modulus = 0\naction = \"hashmod\"\ntarget_label = \"h\""),
            "t.toml:6:11: scrape_configs[0] (\"a\").relabel_configs[0].modulus: action \"hashmod\" requires a modulus greater than 0",
        ),
        (
            rule("action = \"rename\""),
            "t.toml:6:10: scrape_configs[0] (\"a\").relabel_configs[0].action: unknown action \"rename\": expected one of replace, keep, drop, keepequal, dropequal, hashmod, labelmap, labeldrop, labelkeep, lowercase, uppercase",
        ),
        (
            rule("source_labels = [\"a\", \"b-c\"]\ntarget_label = \"t\""),
            "t.toml:6:23: scrape_configs[0] (\"a\").relabel_configs[0].source_labels[1]: invalid label name \"b-c\" in source_labels: must match [a-zA-Z_][a-zA-Z0-9_]*",
        ),
        (
            rule("regex = \"(\"\ntarget_label = \"t\""),
            "t.toml:6:9: scrape_configs[0] (\"a\").relabel_configs[0].regex: invalid regex \"(\": found open group without closing ')'",
        ),
        (
            rule("regex = \"x\"\ntarget_label = \"a.b\""),
            "t.toml:7:16: scrape_configs[0] (\"a\").relabel_configs[0].target_label: action \"replace\": target_label \"a.b\" is not a valid label name (must match [a-zA-Z_][a-zA-Z0-9_]*)",
        ),
        (
            rule("target_label = \"${1}-x\""),
            "t.toml:6:16: scrape_configs[0] (\"a\").relabel_configs[0].target_label: action \"replace\": target_label \"${1}-x\" is not a label name template (letters, digits, \"_\" and $1, ${1}, $name or ${name} references; not starting with a digit)",
        ),
        (
            rule("action = \"labelmap\"\nreplacement = \"1_$1\""),
            "t.toml:7:15: scrape_configs[0] (\"a\").relabel_configs[0].replacement: action \"labelmap\": replacement \"1_$1\" is not a label name template (letters, digits, \"_\" and $1, ${1}, $name or ${name} references; not starting with a digit)",
        ),
        (
            rule("action = \"uppercase\"\ntarget_label = \"u\"\nreplacement = \"x\""),
            "t.toml:8:15: scrape_configs[0] (\"a\").relabel_configs[0].replacement: action \"uppercase\" does not take a replacement",
        ),
        (
            rule("action = \"keepequal\"\ntarget_label = \"u\"\nregex = \"(.*)\""),
            "t.toml:8:9: scrape_configs[0] (\"a\").relabel_configs[0].regex: action \"keepequal\" takes only source_labels and target_label, not regex",
        ),
        (
            rule("source_labels = []\naction = \"labeldrop\""),
            "t.toml:6:17: scrape_configs[0] (\"a\").relabel_configs[0].source_labels: action \"labeldrop\" takes only regex, not source_labels",
        ),
        // toml's own errors for the rule's keys and types.
        (
            rule("target = \"t\""),
            "t.toml:6:1: scrape_configs[0] (\"a\").relabel_configs[0].target: unknown key `target`; did you mean `target_label`?",
        ),
        (
            rule("modulus = -1"),
            "t.toml:6:11: scrape_configs[0] (\"a\").relabel_configs[0].modulus: invalid value: integer `-1`, expected u64",
        ),
        (
            rule("source_labels = \"a\""),
            "t.toml:6:17: scrape_configs[0] (\"a\").relabel_configs[0].source_labels: invalid type: string \"a\", expected a sequence",
        ),
    ];
    for (text, want) in &cases {
        assert_eq!(err(text), *want, "{text}");
    }
}

fn metadata_defaults() -> MetadataConfig {
    MetadataConfig { send: true, send_interval: Duration::from_secs(60), max_samples_per_send: 500 }
}

#[test]
fn metadata_config_defaults_and_errors() {
    let config = |extra: &str| parse(&format!("{RW}{extra}"), "t.toml");
    let got = config("").expect("defaults").remote_write[0].metadata_config.clone();
    assert_eq!(got, metadata_defaults());
    let got = config(
        "[remote_write.metadata_config]\nsend = false\nsend_interval = \"15s\"\nmax_samples_per_send = 7\n",
    )
    .expect("set")
    .remote_write[0]
        .metadata_config
        .clone();
    assert_eq!(
        got,
        MetadataConfig { send: false, send_interval: Duration::from_secs(15), max_samples_per_send: 7 }
    );
    for (extra, want) in [
        (
            "metadata_config = { send_interval = \"0s\" }\n",
            "t.toml:3:37: send_interval must be greater than 0",
        ),
        (
            "metadata_config = { max_samples_per_send = 0 }\n",
            "t.toml:3:44: max_samples_per_send must be greater than 0",
        ),
        ("metadata_config = { sned = true }\n", "t.toml:3:21: unknown key `sned`"),
    ] {
        let got = err(&format!("{RW}{extra}"));
        // "t.toml:line:col: key path: reason": the key path (keypath.rs) stands between.
        let (place, reason) = want.rsplit_once(": ").expect("place: reason");
        assert!(got.starts_with(place) && got.contains(reason), "{extra}: {got}");
    }
}

#[test]
fn file_sd_configs_resolve_relative_paths_and_default_the_refresh() {
    let text = format!(
        "{RW}[[scrape_configs]]\njob_name = \"a\"\n[[scrape_configs.file_sd_configs]]\nfiles = [\"sd/*.json\", \"/abs/x.json\"]\n[[scrape_configs.file_sd_configs]]\nfiles = [\"node-?.JSON\"]\nrefresh_interval = \"30s\"\n"
    );
    let job = &parse(&text, "/etc/outpost/outpost.toml").expect("valid").scrape_configs[0];
    assert_eq!(
        job.file_sd_configs,
        [
            FileSdConfig {
                files: vec![PathBuf::from("/etc/outpost/sd/*.json"), PathBuf::from("/abs/x.json")],
                refresh_interval: secs(300),
            },
            FileSdConfig {
                files: vec![PathBuf::from("/etc/outpost/node-?.JSON")],
                refresh_interval: secs(30)
            },
        ]
    );
}

#[test]
fn file_sd_configs_errors_name_the_file_entry() {
    let sd = |files: &str, extra: &str| {
        err(&format!(
            "{RW}[[scrape_configs]]\njob_name = \"a\"\n[[scrape_configs.file_sd_configs]]\nfiles = {files}\n{extra}"
        ))
    };
    let cases = [
        (
            sd("[]", ""),
            "t.toml:6:9: scrape_configs[0] (\"a\").file_sd_configs[0].files: file_sd_configs: files must not be empty",
        ),
        (
            sd("[\"*/a.json\"]", ""),
            "t.toml:6:10: scrape_configs[0] (\"a\").file_sd_configs[0].files[0]: file_sd_configs file \"*/a.json\": wildcards are allowed in the last path element only",
        ),
        (
            sd("[\"a.txt\"]", ""),
            "t.toml:6:10: scrape_configs[0] (\"a\").file_sd_configs[0].files[0]: file_sd_configs file \"a.txt\": must end in .json, .yml or .yaml",
        ),
        (
            sd("[\"a.Yml\"]", ""),
            "t.toml:6:10: scrape_configs[0] (\"a\").file_sd_configs[0].files[0]: file_sd_configs file \"a.Yml\": must end in .json, .yml or .yaml",
        ),
        (
            sd("[\"[ab].json\"]", ""),
            "t.toml:6:10: scrape_configs[0] (\"a\").file_sd_configs[0].files[0]: file_sd_configs file \"[ab].json\": character classes ([...]) are not supported; use * and ?",
        ),
        (
            sd("[\"a.json\"]", "refresh_interval = \"0s\""),
            "t.toml:7:20: scrape_configs[0] (\"a\").file_sd_configs[0].refresh_interval: refresh_interval must be greater than 0",
        ),
        (
            sd("[\"a.json\"]", "bogus = 1"),
            "t.toml:7:1: scrape_configs[0] (\"a\").file_sd_configs[0].bogus: unknown key `bogus`; known keys: `files`, `refresh_interval`",
        ),
    ];
    for (got, want) in cases {
        assert_eq!(got, want);
    }
}

#[test]
fn http_sd_configs_default_the_refresh_and_check_the_url() {
    let sd = |body: &str| {
        format!("{RW}[[scrape_configs]]\njob_name = \"a\"\n[[scrape_configs.http_sd_configs]]\n{body}\n")
    };
    let text = sd("url = \"https://sd.lan/targets?x=1\"");
    let job = &parse(&text, "t.toml").expect("valid").scrape_configs[0];
    assert_eq!(
        job.http_sd_configs,
        [HttpSdConfig {
            url: "https://sd.lan/targets?x=1".into(),
            refresh_interval: secs(60),
            http_client: HttpClientConfig::default(),
        }]
    );
    let job = &parse(&sd("url = \"http://sd:8080/\"\nrefresh_interval = \"15s\""), "t.toml").expect("valid");
    assert_eq!(job.scrape_configs[0].http_sd_configs[0].refresh_interval, secs(15));
    let cases = [
        (sd("url = \"\""), "t.toml:6:7: http_sd_configs url \"\": URL is missing"),
        (
            sd("url = \"ftp://x/\""),
            "t.toml:6:7: http_sd_configs url \"ftp://x/\": URL scheme must be 'http' or 'https'",
        ),
        (sd("url = \"http:///a\""), "t.toml:6:7: http_sd_configs url \"http:///a\": host is missing in URL"),
        (
            sd("url = \"http://a/\"\nrefresh_interval = \"0s\""),
            "t.toml:7:20: refresh_interval must be greater than 0",
        ),
        (sd("refresh_interval = \"1m\""), "t.toml:5:1: missing"),
    ];
    for (text, want) in cases {
        // "file:line:col: key path: reason": the key path (keypath.rs) stands between.
        let (place, reason) = want.split_at(want.find(": ").map_or(0, |i| i + 2));
        let got = err(&text);
        assert!(got.starts_with(place) && got.contains(reason), "got {got:?}, want {want:?}");
    }
}

#[test]
fn errors_name_the_key_path_of_the_issue_example() {
    // The second job (index 1, as toml's arrays are counted: from 0) is "node".
    let text = "[[scrape_configs]]\njob_name = \"self\"\n\n[[scrape_configs]]\njob_name = \"node\"\nscrape_interval = \"15x\"\n[[scrape_configs.static_configs]]\ntargets = [\"a:1\"]\n";
    let text = format!("{text}{RW}");
    assert_eq!(
        parse(&text, "outpost.toml").expect_err("15x").to_string(),
        "outpost.toml:6:19: scrape_configs[1] (\"node\").scrape_interval: invalid duration \"15x\": unknown unit \"x\" (one of y, w, d, h, m, s, ms)"
    );
    let typo = text.replace("scrape_interval = \"15x\"", "scrape_intervall = \"15s\"");
    assert_eq!(
        parse(&typo, "outpost.toml").expect_err("typo").to_string(),
        "outpost.toml:6:1: scrape_configs[1] (\"node\").scrape_intervall: unknown key `scrape_intervall`; did you mean `scrape_interval`?"
    );
}

#[test]
fn a_yaml_file_is_named_a_prometheus_file_with_the_import_command() {
    let dir = std::env::temp_dir().join(format!("outpost-yaml-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    for (name, text) in [
        ("prometheus.yml", "global:\n  scrape_interval: 15s\n"),
        ("prometheus.conf", "# comment\nscrape_configs:\n  - job_name: a\n"),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, text).expect("write");
        let got = load(&path).expect_err(name).to_string();
        assert_eq!(
            got,
            format!(
                "{}: this is a Prometheus configuration (YAML); outpost reads TOML: `outpost import {} -o outpost.toml` converts it (README, \"Coming from Prometheus\")",
                path.display(),
                path.display()
            )
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}
