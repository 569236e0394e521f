use super::*;

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
        min_backoff: Duration::from_millis(30),
        max_backoff: secs(5),
        retry_on_http_429: true,
    }
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
        static_configs: vec![StaticConfig {
            targets: targets.iter().map(|t| t.to_string()).collect(),
            labels: BTreeMap::new(),
        }],
    }
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[test]
fn example_file_parses_to_its_documented_values() {
    let mut node = job("node", secs(15), secs(10), &["127.0.0.1:9100"]);
    node.static_configs[0].labels = map(&[("role", "modem")]);
    let want = Config {
        origin: "outpost.toml".to_string(),
        listen: Some("127.0.0.1:9464".parse().unwrap()),
        log_level: log::LevelFilter::Info,
        global: Global {
            scrape_interval: secs(15),
            scrape_timeout: secs(10),
            external_labels: map(&[("cluster", "edge-01")]),
        },
        buffer: BufferConfig { memory: 4 << 20 },
        remote_write: vec![RemoteWrite {
            name: "global".to_string(),
            url: "http://global-prometheus:9090/api/v1/write".to_string(),
            remote_timeout: secs(30),
            headers: map(&[("X-Scope-OrgID", "edge")]),
            queue_config: queue_defaults(),
        }],
        scrape_configs: vec![node],
    };
    assert_eq!(parse(EXAMPLE, "outpost.toml"), Ok(want));
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
fn spec_example_is_fully_recognised_then_refused_at_first_unsupported_key() {
    // Deserialising the whole file comes first, so an unknown key anywhere
    // would be reported instead of this refusal.
    assert_eq!(err(SPEC_EXAMPLE), "t.toml:2:12: data_dir is not supported yet");
}

#[test]
fn defaults_are_resolved() {
    let config = parse(&format!("{RW}[[scrape_configs]]\njob_name = \"a\"\n"), "t.toml").unwrap();
    let want = Config {
        origin: "t.toml".to_string(),
        listen: None,
        log_level: log::LevelFilter::Info,
        global: Global {
            scrape_interval: secs(60),
            scrape_timeout: secs(10),
            external_labels: BTreeMap::new(),
        },
        buffer: BufferConfig { memory: 4 << 20 },
        remote_write: vec![RemoteWrite {
            name: "r:9090".to_string(),
            url: "http://r:9090/api/v1/write".to_string(),
            remote_timeout: secs(30),
            headers: BTreeMap::new(),
            queue_config: queue_defaults(),
        }],
        scrape_configs: vec![ScrapeConfig { static_configs: vec![], ..job("a", secs(60), secs(10), &[]) }],
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
        "t.toml:1:13: log_level \"INFO\": expected one of error, warn, info, debug, trace, off"
    );
}

#[test]
fn current_behaviour_values_are_accepted() {
    for value in ["max_shards = 1", "rate_limit = \"0\"", "rate_limit = \"0B\""] {
        assert!(parse(&format!("{RW}[remote_write.queue_config]\n{value}\n"), "t.toml").is_ok(), "{value}");
    }
}

#[test]
fn errors_name_origin_line_col_and_reason() {
    let cases: Vec<(String, &str)> = vec![
        // toml's own errors, without its snippet.
        (
            format!("{RW}[global]\nscrape_intervall = \"15s\"\n"),
            "t.toml:4:1: unknown field `scrape_intervall`, expected one of `scrape_interval`, `scrape_timeout`, `external_labels`",
        ),
        (
            format!("{RW}[remote_write.queue_config]\nfoo = 1\n"),
            "t.toml:4:1: unknown field `foo`, expected one of `max_samples_per_send`, `batch_send_deadline`, `max_shards`, `min_backoff`, `max_backoff`, `retry_on_http_429`, `rate_limit`",
        ),
        (
            format!(
                "{RW}[[scrape_configs]]\njob_name = \"a\"\n[[scrape_configs.static_configs]]\n  target = [\"x:1\"]\n"
            ),
            "t.toml:6:3: unknown field `target`, expected `targets` or `labels`",
        ),
        (format!("log_level = 3\n{RW}"), "t.toml:1:13: invalid type: integer `3`, expected a string"),
        (
            format!("{RW}[[scrape_configs]]\njob_name = \"a\"\nsample_limit = -1\n"),
            "t.toml:5:16: invalid value: integer `-1`, expected usize",
        ),
        ("listen = \"x\n".to_string(), "t.toml:1:12: invalid basic string, expected `\"`"),
        (
            format!("{RW}[[scrape_configs]]\nscrape_interval = \"1s\"\n"),
            "t.toml:3:1: missing field `job_name`",
        ),
        ("[[remote_write]]\nname = \"x\"\n".to_string(), "t.toml:1:1: missing field `url`"),
        // Semantic errors.
        (String::new(), "t.toml: no [[remote_write]]: at least one receiver is required"),
        (
            format!("[global]\nscrape_interval = \"15x\"\n{RW}"),
            "t.toml:2:19: invalid duration \"15x\": unknown unit \"x\" (one of y, w, d, h, m, s, ms)",
        ),
        (
            format!("[global]\nscrape_interval = \"0\"\n{RW}"),
            "t.toml:2:19: scrape_interval must be greater than 0",
        ),
        (
            format!(
                "{RW}[[scrape_configs]]\njob_name = \"node\"\nscrape_interval = \"15s\"\nscrape_timeout = \"20s\"\n"
            ),
            "t.toml:6:18: scrape_timeout 20s is greater than scrape_interval 15s for job \"node\"",
        ),
        (
            format!(
                "[global]\nscrape_interval = \"15s\"\n{RW}[[scrape_configs]]\njob_name = \"node\"\nscrape_timeout = \"20s\"\n"
            ),
            "t.toml:7:18: scrape_timeout 20s is greater than scrape_interval 15s for job \"node\"",
        ),
        (
            format!("[global]\nscrape_interval = \"5s\"\nscrape_timeout = \"1m30s\"\n{RW}"),
            "t.toml:3:18: scrape_timeout 1m30s is greater than scrape_interval 5s in [global]",
        ),
        (
            format!("{RW}[[scrape_configs]]\njob_name = \"node\"\n[[scrape_configs]]\njob_name = \"node\"\n"),
            "t.toml:6:12: duplicate job_name \"node\"",
        ),
        (format!("{RW}[[scrape_configs]]\njob_name = \"\"\n"), "t.toml:4:12: job_name must not be empty"),
        (
            format!("{RW}[[scrape_configs]]\njob_name = \"a\"\nscheme = \"ftp\"\n"),
            "t.toml:5:10: scheme \"ftp\": expected \"http\" or \"https\"",
        ),
        (
            format!("{RW}[[scrape_configs]]\njob_name = \"a\"\nmetrics_path = \"metrics\"\n"),
            "t.toml:5:16: metrics_path \"metrics\": must start with \"/\"",
        ),
        (
            format!(
                "{RW}[[scrape_configs]]\njob_name = \"a\"\n[[scrape_configs.static_configs]]\ntargets = [\"[::1]:9100\", \"127.0.0.1\"]\n"
            ),
            "t.toml:6:26: target \"127.0.0.1\": port is required (host:port)",
        ),
        (
            format!(
                "{RW}[[scrape_configs]]\njob_name = \"a\"\n[[scrape_configs.static_configs]]\nlabels = {{ \"1x\" = \"y\" }}\n"
            ),
            "t.toml:6:12: invalid label name \"1x\": must match [a-zA-Z_][a-zA-Z0-9_]*",
        ),
        // Columns count characters, not bytes ("é" is two bytes).
        (
            format!("[global]\nexternal_labels = {{ a = \"é\", __x = \"y\" }}\n{RW}"),
            "t.toml:2:30: external label name \"__x\" is reserved: names starting with \"__\" are internal",
        ),
        (
            format!("log_level = \"verbose\"\n{RW}"),
            "t.toml:1:13: log_level \"verbose\": expected one of error, warn, info, debug, trace, off",
        ),
        (
            format!("listen = \"localhost\"\n{RW}"),
            "t.toml:1:10: listen \"localhost\": expected ip:port, e.g. \"127.0.0.1:9464\"",
        ),
        (format!("[buffer]\nmemory = \"0MiB\"\n{RW}"), "t.toml:2:10: buffer.memory must be greater than 0"),
        (
            format!("[buffer]\nmemory = \"4XB\"\n{RW}"),
            "t.toml:2:10: invalid size \"4XB\": unknown unit \"XB\" (one of B, KiB, MiB, GiB, TiB, KB, MB, GB, TB)",
        ),
        (
            "[[remote_write]]\nurl = \"foo\"\n".to_string(),
            "t.toml:2:7: url \"foo\": must be an absolute http or https URL",
        ),
        (
            "[[remote_write]]\nurl = \"ftp://h/w\"\n".to_string(),
            "t.toml:2:7: url \"ftp://h/w\": scheme must be http or https",
        ),
        (
            "[[remote_write]]\nurl = \"http:///w\"\n".to_string(),
            "t.toml:2:7: url \"http:///w\": host is missing",
        ),
        (
            "[[remote_write]]\nurl = \"http://h:0/w\"\n".to_string(),
            "t.toml:2:7: url \"http://h:0/w\": port must be a number from 1 to 65535",
        ),
        (
            "[[remote_write]]\nurl = \"http://a:1/w\"\n[[remote_write]]\nurl = \"https://u:p@a:1/x\"\n"
                .to_string(),
            "t.toml:4:7: duplicate remote_write name \"a:1\"",
        ),
        (
            "[[remote_write]]\nname = \"\"\nurl = \"http://a:1/w\"\n".to_string(),
            "t.toml:2:8: remote_write name must not be empty",
        ),
        (
            format!("{RW}remote_timeout = \"1.5s\"\n"),
            "t.toml:3:18: invalid duration \"1.5s\": fractions are not allowed",
        ),
        (
            format!("{RW}headers = {{ \"content-type\" = \"text/plain\" }}\n"),
            "t.toml:3:13: header \"content-type\" is reserved: outpost sets it itself",
        ),
        (
            format!("{RW}headers = {{ Authorization = \"Bearer x\" }}\n"),
            "t.toml:3:13: header \"Authorization\" is not allowed: credentials belong in bearer_token_file, basic_auth or authorization (not supported yet)",
        ),
        (
            format!("{RW}headers = {{ \"X Tenant\" = \"a\" }}\n"),
            "t.toml:3:13: invalid header name \"X Tenant\"",
        ),
        (
            format!("{RW}headers = {{ X-A = \"1\", x-a = \"2\" }}\n"),
            "t.toml:3:24: duplicate header \"x-a\" (names are case-insensitive)",
        ),
        (
            format!("{RW}[remote_write.queue_config]\nmax_samples_per_send = 0\n"),
            "t.toml:4:24: max_samples_per_send must be greater than 0",
        ),
        (
            format!("{RW}[remote_write.queue_config]\nmin_backoff = \"10s\"\n"),
            "t.toml:4:15: min_backoff 10s is greater than max_backoff 5s",
        ),
        (
            format!("{RW}[remote_write.queue_config]\nmax_backoff = \"10ms\"\n"),
            "t.toml:4:15: min_backoff 30ms is greater than max_backoff 10ms",
        ),
        (
            format!("{RW}[remote_write.queue_config]\nrate_limit = \"fast\"\n"),
            "t.toml:4:14: invalid size \"fast\": expected an integer number of bytes",
        ),
    ];
    for (text, want) in &cases {
        assert_eq!(err(text), *want, "{text}");
    }
}

#[test]
fn unsupported_keys_are_refused_where_they_are() {
    // (section, `key = value`); the message names `section.key`.
    let cases = [
        ("", "data_dir = \"/var/lib/outpost\""),
        ("buffer", "disk = \"256MiB\""),
        ("buffer", "segment = \"4MiB\""),
        ("buffer", "max_age = \"1h\""),
        ("buffer", "sync_interval = \"1s\""),
        ("buffer", "persist = \"outage\""),
        ("remote_write", "bearer_token_file = \"/t\""),
        ("remote_write", "basic_auth = { username = \"u\" }"),
        ("remote_write", "authorization = { credentials_file = \"/t\" }"),
        ("remote_write", "tls_config = { ca_file = \"/ca\" }"),
        ("remote_write", "write_relabel_configs = []"),
        ("remote_write", "metadata_config = { send = false }"),
        ("scrape_configs", "params = { module = [\"x\"] }"),
        ("scrape_configs", "label_limit = 10"),
        ("scrape_configs", "label_name_length_limit = 10"),
        ("scrape_configs", "label_value_length_limit = 10"),
        ("scrape_configs", "body_size_limit = \"1MB\""),
        ("scrape_configs", "basic_auth = { username = \"u\" }"),
        ("scrape_configs", "bearer_token_file = \"/t\""),
        ("scrape_configs", "tls_config = { insecure_skip_verify = true }"),
        ("scrape_configs", "file_sd_configs = [{ files = [\"a.json\"] }]"),
        ("scrape_configs", "kubernetes_sd_configs = [{ role = \"pod\" }]"),
        ("scrape_configs", "relabel_configs = []"),
        ("scrape_configs", "metric_relabel_configs = []"),
    ];
    for (section, line) in cases {
        let text = match section {
            "" => format!("{line}\n{RW}"),
            "buffer" => format!("[buffer]\n{line}\n{RW}"),
            "remote_write" => format!("{RW}{line}\n"),
            _ => format!("{RW}[[scrape_configs]]\njob_name = \"a\"\n{line}\n"),
        };
        let (key, _) = line.split_once(" = ").unwrap();
        let what = if section.is_empty() { key.to_string() } else { format!("{section}.{key}") };
        let line_no = text.lines().position(|l| l == line).unwrap() + 1;
        let col = key.len() + 4;
        let want = format!("t.toml:{line_no}:{col}: {what} is not supported yet");
        assert_eq!(err(&text), want, "{text}");
    }
}

#[test]
fn unsupported_values_and_tables_are_refused_earliest_first() {
    let cases = [
        (
            format!("{RW}[remote_write.queue_config]\nmax_shards = 4\n"),
            "t.toml:4:14: queue_config.max_shards other than 1 is not supported yet",
        ),
        (
            format!("{RW}[remote_write.queue_config]\nrate_limit = \"1MiB\"\n"),
            "t.toml:4:14: queue_config.rate_limit other than \"0\" is not supported yet",
        ),
        (
            format!("{RW}[[remote_write]]\nurl = \"http://b:1/w\"\n"),
            "t.toml:3:1: more than one [[remote_write]] is not supported yet",
        ),
        (
            format!(
                "{RW}[[scrape_configs]]\njob_name = \"k\"\n[[scrape_configs.kubernetes_sd_configs]]\nrole = \"pod\"\n"
            ),
            "t.toml:5:1: scrape_configs.kubernetes_sd_configs is not supported yet",
        ),
        (
            format!("{RW}[[remote_write.write_relabel_configs]]\naction = \"drop\"\n"),
            "t.toml:3:1: remote_write.write_relabel_configs is not supported yet",
        ),
        // The first entry's tls_config (line 3) comes before the second entry (line 4).
        (
            format!("{RW}tls_config = {{}}\n[[remote_write]]\nurl = \"http://b:1/w\"\n"),
            "t.toml:3:14: remote_write.tls_config is not supported yet",
        ),
        (
            format!("[buffer]\npersist = \"always\"\ndisk = \"1GiB\"\n{RW}"),
            "t.toml:2:11: buffer.persist is not supported yet",
        ),
    ];
    for (text, want) in &cases {
        assert_eq!(err(text), *want, "{text}");
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
