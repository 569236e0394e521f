use super::*;
use crate::config::{self, Config, KubernetesRole, ScrapeConfig};
use crate::relabel::tests::rule;
use std::time::Duration;

/// The shared fixtures lie beside the repository (CI lays shared/ beside the clone).
fn fixture(name: &str) -> (String, String) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/prometheus-configs");
    let path = dir.join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!("{}: {e}: the fixtures must lie in ../shared/fixtures beside the repository", path.display())
    });
    (text, path.display().to_string())
}

fn import_ok(text: &str, origin: &str, options: &Options) -> Imported {
    import(text, origin, options).unwrap_or_else(|e| panic!("{origin}: {e:#?}"))
}

/// The TOML as `outpost check` loads it, from a file in the fixtures' directory.
fn load(toml: &str, origin: &str) -> Config {
    let origin = Path::new(origin).with_extension("toml").display().to_string();
    config::parse(toml, &origin).unwrap_or_else(|e| panic!("{e}\n{toml}"))
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn job<'a>(c: &'a Config, name: &str) -> &'a ScrapeConfig {
    c.scrape_configs.iter().find(|j| j.job_name == name).unwrap_or_else(|| panic!("no job {name}"))
}

fn reasons(notes: &[String]) -> Vec<String> {
    // "origin:line:col: path: reason" without the origin.
    notes
        .iter()
        .map(|n| n.split_once(".yml:").or(n.split_once(".yaml:")).map_or(n.clone(), |(_, r)| r.to_string()))
        .collect()
}

#[test]
fn prometheus_agent_example_means_the_same() {
    let (text, origin) = fixture("prometheus-agent.yml");
    let imported = import_ok(&text, &origin, &Options::default());
    assert!(imported.left_out.is_empty(), "{:?}", imported.left_out);
    let c = load(&imported.toml, &origin);
    assert_eq!(c.global.scrape_interval, secs(15));
    assert_eq!(c.global.scrape_timeout, secs(10), "Prometheus's default");
    let j = job(&c, "prometheus");
    assert_eq!(j.static_configs[0].targets, ["localhost:9090"]);
    assert_eq!((j.scrape_interval, j.metrics_path.as_str(), j.body_size_limit), (secs(15), "/metrics", 0));
    assert_eq!(c.remote_write.len(), 1);
    let rw = &c.remote_write[0];
    assert_eq!(rw.url, "http://remote-write-url");
    // Where outpost's defaults differ, Prometheus's values are written.
    assert_eq!((rw.queue_config.max_shards, rw.queue_config.retry_on_http_429), (50, true));
    assert_eq!((rw.queue_config.min_shards, rw.queue_config.max_samples_per_send), (1, 2000));
    assert_eq!(rw.remote_timeout, secs(30));
    // Stable: the same input gives the same text.
    assert_eq!(import_ok(&text, &origin, &Options::default()).toml, imported.toml);
}

#[test]
fn thanos_agent_keeps_label_values_as_written() {
    let (text, origin) = fixture("thanos-agent-batmobile.yml");
    let imported = import_ok(&text, &origin, &Options::default());
    let c = load(&imported.toml, &origin);
    let labels: Vec<(&str, &str)> =
        c.global.external_labels.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(
        labels,
        [("cluster", "batmobile"), ("replica", "0")],
        "replica: 0 is the string \"0\", as go-yaml reads it"
    );
    assert_eq!(c.remote_write[0].url, "http://127.0.0.1:10908/api/v1/receive");
    assert_eq!(job(&c, "prometheus-agent").scrape_interval, secs(5));
}

#[test]
fn server_configurations_import_with_what_an_agent_lacks_named() {
    for (name, want) in [
        (
            "dockprom-prometheus.yml",
            &["14:1: rule_files: an agent evaluates no rules", "41:1: alerting: an agent sends no alerts"][..],
        ),
        ("internet-pi-prometheus.yml", &["14:1: rule_files: an agent evaluates no rules"][..]),
        (
            "prometheus-example.yml",
            &[
                "36:5: scrape_configs[0] (\"prometheus\").scrape_native_histograms: outpost has no `scrape_native_histograms` other than false",
            ][..],
        ),
    ] {
        let (text, origin) = fixture(name);
        let imported = import_ok(&text, &origin, &Options::default());
        let mut got = reasons(&imported.left_out);
        let receiver = got.pop().expect("the receiver note");
        assert!(
            receiver
                .ends_with("remote_write: none in the file: outpost's default receiver written; set yours"),
            "{receiver}"
        );
        assert_eq!(got, want, "{name}");
        let c = load(&imported.toml, &origin);
        assert_eq!(c.remote_write[0].url, DEFAULT_RECEIVER);
        for rule in want {
            let comment = format!("# left out: {origin}:{rule}");
            assert!(imported.toml.contains(&comment), "{name}: {comment}\n{}", imported.toml);
        }
    }
    let (text, origin) = fixture("dockprom-prometheus.yml");
    let c = load(&import_ok(&text, &origin, &Options::default()).toml, &origin);
    let jobs: Vec<(&str, Duration, bool)> =
        c.scrape_configs.iter().map(|j| (j.job_name.as_str(), j.scrape_interval, j.honor_labels)).collect();
    assert_eq!(
        jobs,
        [
            ("nodeexporter", secs(5), false),
            ("cadvisor", secs(5), false),
            ("prometheus", secs(10), false),
            ("pushgateway", secs(10), true)
        ]
    );
    assert_eq!(c.global.external_labels["monitor"], "docker-host-alpha");
    assert_eq!(job(&c, "pushgateway").static_configs[0].targets, ["pushgateway:9091"]);
    let (text, origin) = fixture("prometheus-example.yml");
    let c = load(&import_ok(&text, &origin, &Options::default()).toml, &origin);
    assert_eq!(job(&c, "prometheus").static_configs[0].labels["app"], "prometheus");
}

#[test]
fn internet_pi_keeps_file_sd_params_and_relabel_rules() {
    let (text, origin) = fixture("internet-pi-prometheus.yml");
    let c = load(&import_ok(&text, &origin, &Options::default()).toml, &origin);
    let speedtest = job(&c, "speedtest");
    assert_eq!((speedtest.scrape_interval, speedtest.scrape_timeout), (secs(3600), secs(60)));
    let ping = job(&c, "ping");
    assert_eq!(ping.metrics_path, "/probe");
    assert_eq!(ping.params["module"], ["http_2xx"]);
    let dir = Path::new(&origin).parent().expect("dir");
    assert_eq!(
        ping.file_sd_configs[0].files,
        [dir.join("pinghosts.yaml")],
        "relative to the file, as Prometheus"
    );
    assert_eq!(ping.file_sd_configs[0].refresh_interval, secs(300));
    let want = [
        rule(&[
            ("source_labels", "__address__"),
            ("regex", "(.*);(.*)"),
            ("target_label", "instance"),
            ("replacement", "$1"),
        ]),
        rule(&[
            ("source_labels", "__address__"),
            ("regex", "(.*);(.*)"),
            ("target_label", "humanname"),
            ("replacement", "$2"),
        ]),
        rule(&[("source_labels", "instance"), ("target_label", "__param_target")]),
        rule(&[("target_label", "__address__"), ("replacement", "ping:9115")]),
    ];
    assert_eq!(ping.relabel_configs, want);
}

#[test]
fn blackbox_targets_are_any_strings_before_relabeling() {
    let (text, origin) = fixture("blackbox-exporter-example.yml");
    let c = load(&import_ok(&text, &origin, &Options::default()).toml, &origin);
    let b = job(&c, "blackbox");
    assert_eq!(
        b.static_configs[0].targets,
        ["http://prometheus.io", "https://prometheus.io", "http://example.com:8080"]
    );
    assert_eq!(b.relabel_configs.len(), 3);
    assert_eq!(job(&c, "blackbox_exporter").static_configs[0].targets, ["127.0.0.1:9115"]);
}

/// The in-cluster files of the Kubernetes examples, made here.
fn with_service_account(toml: &str) -> (String, PathBuf) {
    // One directory per call: the tests run in parallel and each removes its own.
    static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("outpost-import-sa-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let cert = rcgen::generate_simple_self_signed(vec!["kubernetes".into()]).expect("cert");
    std::fs::write(dir.join("ca.crt"), cert.cert.pem()).expect("ca");
    std::fs::write(dir.join("token"), "t\n").expect("token");
    (toml.replace("/var/run/secrets/kubernetes.io/serviceaccount", &dir.display().to_string()), dir)
}

#[test]
fn kubernetes_examples_keep_discovery_credentials_and_rules() {
    let (text, origin) = fixture("prometheus-kubernetes.yml");
    let imported = import_ok(&text, &origin, &Options::default());
    assert_eq!(
        reasons(&imported.left_out),
        ["16:1: remote_write: none in the file: outpost's default receiver written; set yours"]
    );
    assert!(imported.toml.contains("# keep_dropped_targets: 100 (only Prometheus's targets page)"));
    assert!(imported.toml.contains("role = \"endpoints\"") && imported.toml.contains("role = \"ingress\""));
    let (toml, dir) = with_service_account(&imported.toml);
    // Every job passes the check, the endpoints, service and ingress ones too.
    let c = load(&toml, &origin);
    for name in [
        "kubernetes-apiservers",
        "kubernetes-service-endpoints",
        "kubernetes-services",
        "kubernetes-ingresses",
    ] {
        assert_eq!(job(&c, name).kubernetes_sd_configs.len(), 1, "{name}");
    }
    let nodes = job(&c, "kubernetes-nodes");
    assert_eq!(nodes.kubernetes_sd_configs[0].role, KubernetesRole::Node);
    assert!(matches!(nodes.scheme, config::Scheme::Https));
    assert_eq!(
        nodes.relabel_configs,
        [rule(&[("action", "labelmap"), ("regex", "__meta_kubernetes_node_label_(.+)")])]
    );
    assert!(format!("{:?}", nodes.http_client).contains(&dir.join("token").display().to_string()));
    assert_eq!(job(&c, "kubernetes-cadvisor").metrics_path, "/metrics/cadvisor");
    let pods = job(&c, "kubernetes-pods");
    assert_eq!(pods.kubernetes_sd_configs[0].role, KubernetesRole::Pod);
    std::fs::remove_dir_all(dir).ok();
}

fn helm(set: &[(&str, &str)]) -> Options {
    Options {
        helm: true,
        set: set.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        rebase: None,
    }
}

#[test]
fn kube_prometheus_stack_agent_values_mean_the_same() {
    let (text, origin) = fixture("kps-agent-edge.yaml");
    let imported = import_ok(&text, &origin, &helm(&[]));
    let notes = reasons(&imported.left_out);
    assert_eq!(notes.len(), 2, "{notes:?}");
    assert!(
        notes[0].starts_with("11:3: prometheus.prometheusSpec: ServiceMonitors, PodMonitors"),
        "{}",
        notes[0]
    );
    assert!(notes[1].contains("`prometheus` and `prometheus_replica`"), "{}", notes[1]);
    let c = load(&imported.toml, &origin);
    assert_eq!(c.global.scrape_interval, secs(30), "the operator's default");
    assert_eq!(
        (c.remote_write[0].name.as_str(), c.remote_write[0].url.as_str()),
        ("edge-01", "http://global.example:9090/api/v1/write")
    );
    let k = job(&c, "kubernetes");
    assert_eq!(k.kubernetes_sd_configs[0].role, KubernetesRole::Pod);
    let want = [
        rule(&[
            ("source_labels", "__meta_kubernetes_pod_annotation_prometheus_io_scrape"),
            ("action", "keep"),
            ("regex", "true"),
        ]),
        rule(&[("target_label", "cluster"), ("replacement", "edge-01")]),
    ];
    assert_eq!(k.relabel_configs, want, "the unquoted `regex: true` is the string \"true\"");

    // The same values with their placeholders: refused at each, unless given with --set.
    let (text, origin) = fixture("kps-agent-edge-placeholders.yaml");
    let errors = import(&text, &origin, &helm(&[])).expect_err("placeholders");
    assert_eq!(
        reasons(&errors),
        [
            "11:15: prometheus.prometheusSpec.remoteWrite[0].name: Helm placeholder `${name}` is not filled in: give it with --set name=VALUE",
            "12:21: prometheus.prometheusSpec.remoteWrite[0].url: Helm placeholder `${hostname}` is not filled in: give it with --set hostname=VALUE",
            "23:26: prometheus.prometheusSpec.additionalScrapeConfigs[0].relabel_configs[1].replacement: Helm placeholder `${name}` is not filled in: give it with --set name=VALUE",
        ]
    );
    let filled = import_ok(&text, &origin, &helm(&[("name", "edge-01"), ("hostname", "global.example")]));
    assert_eq!(load(&filled.toml, &origin).scrape_configs, c.scrape_configs);
    assert_eq!(load(&filled.toml, &origin).remote_write, c.remote_write);
}

#[test]
fn kube_prometheus_stack_camel_case_remote_write_and_secret_references() {
    let values = r#"prometheus:
  agentMode: true
  prometheusSpec:
    scrapeInterval: 15s
    externalLabels:
      cluster: "{{ .Values.cluster }}"
    remoteWrite:
      - url: https://r.example/api/v1/write
        remoteTimeout: 10s
        headers:
          X-Scope-OrgID: edge
        queueConfig:
          maxShards: 4
          maxSamplesPerSend: 500
          batchSendDeadline: 2s
          retryOnRateLimit: false
          capacity: 2500
        writeRelabelConfigs:
          - sourceLabels: [__name__]
            regex: go_.*
            action: Drop
        basicAuth:
          username:
            name: rw-secret
            key: user
        tlsConfig:
          caFile: /etc/ca.pem
          insecureSkipVerify: true
  additionalServiceMonitors:
    - name: x
"#;
    let imported = import_ok(values, "values.yaml", &helm(&[(".Values.cluster", "edge-02")]));
    let notes = reasons(&imported.left_out);
    assert!(notes.iter().any(|n| n.starts_with("23:11: prometheus.prometheusSpec.remoteWrite[0].basicAuth.username: a Secret or ConfigMap reference")), "{notes:?}");
    assert!(
        notes.iter().any(|n| n.starts_with("29:3: prometheus.additionalServiceMonitors: the operator's")),
        "{notes:?}"
    );
    assert!(
        imported
            .toml
            .contains("tls_config = { \"ca_file\" = \"/etc/ca.pem\", \"insecure_skip_verify\" = true }"),
        "{}",
        imported.toml
    );
    // The CA file does not exist here: check the rest without it.
    let toml = imported
        .toml
        .replace("tls_config = { \"ca_file\" = \"/etc/ca.pem\", \"insecure_skip_verify\" = true }", "");
    let c = load(&toml, "values.yaml");
    assert_eq!(c.global.scrape_interval, secs(15));
    assert_eq!(c.global.external_labels["cluster"], "edge-02");
    let rw = &c.remote_write[0];
    assert_eq!((rw.remote_timeout, rw.headers["X-Scope-OrgID"].as_str()), (secs(10), "edge"));
    let q = &rw.queue_config;
    assert_eq!(
        (q.max_shards, q.max_samples_per_send, q.batch_send_deadline, q.retry_on_http_429),
        (4, 500, secs(2), false)
    );
    assert_eq!(
        rw.write_relabel_configs,
        [rule(&[("source_labels", "__name__"), ("regex", "go_.*"), ("action", "drop")])]
    );
}

#[test]
fn prometheus_chart_values_import_their_jobs() {
    let (text, origin) = fixture("helm-prometheus-chart-values.yaml");
    let imported = import_ok(&text, &origin, &helm(&[]));
    let notes = reasons(&imported.left_out);
    assert_eq!(notes[0], "844:5: serverFiles.\"prometheus.yml\".rule_files: an agent evaluates no rules");
    assert!(
        notes[1]
            .ends_with("server.remoteWrite: none in the file: outpost's default receiver written; set yours"),
        "{notes:?}"
    );
    assert_eq!(notes.len(), 2, "{notes:?}");
    let (toml, dir) = with_service_account(&imported.toml);
    // Every job passes the check, the endpoints and service ones too.
    let c = load(&toml, &origin);
    let jobs: Vec<&str> = c.scrape_configs.iter().map(|j| j.job_name.as_str()).collect();
    assert_eq!(jobs.len(), 10, "{jobs:?}");
    for name in [
        "prometheus",
        "kubernetes-nodes",
        "kubernetes-nodes-cadvisor",
        "kubernetes-pods",
        "kubernetes-pods-slow",
    ] {
        assert!(jobs.contains(&name), "{name}: {jobs:?}");
    }
    let slow = job(&c, "kubernetes-pods-slow");
    assert_eq!((slow.scrape_interval, slow.scrape_timeout, slow.honor_labels), (secs(300), secs(30), true));
    assert_eq!(slow.kubernetes_sd_configs[0].role, KubernetesRole::Pod);
    assert_eq!((c.global.scrape_interval, c.global.scrape_timeout), (secs(60), secs(10)));
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn what_outpost_lacks_is_refused_with_position_and_key_path() {
    let text = r#"scrape_configs:
  - job_name: node
    oauth2:
      client_id: a
    consul_sd_configs:
      - server: c:8500
    static_configs:
      - targets: [a:1]
    tls_config:
      min_version: TLS13
remote_write:
  - url: http://r/w
    sigv4: {}
    queue_config:
      sample_age_limit: 5m
storage:
  tsdb: {}
"#;
    let imported = import_ok(text, "p.yml", &Options::default());
    assert_eq!(
        imported.left_out,
        [
            "p.yml:3:5: scrape_configs[0] (\"node\").oauth2: outpost has no oauth2 authentication",
            "p.yml:5:5: scrape_configs[0] (\"node\").consul_sd_configs: outpost has no consul discovery",
            "p.yml:10:7: scrape_configs[0] (\"node\").tls_config.min_version: outpost has no `min_version` here",
            "p.yml:13:5: remote_write[0] (\"http://r/w\").sigv4: outpost has no sigv4 authentication",
            "p.yml:15:7: remote_write[0] (\"http://r/w\").queue_config.sample_age_limit: outpost has no `sample_age_limit` in queue_config",
            "p.yml:16:1: storage: outpost has no `storage`",
        ]
    );
    for note in ["oauth2", "consul_sd_configs", "sigv4", "sample_age_limit"] {
        assert!(imported.toml.contains(&format!("{note}: outpost has no")), "a comment names {note}");
    }
    let c = load(&imported.toml, "p.yml");
    assert_eq!(job(&c, "node").static_configs[0].targets, ["a:1"]);
}

#[test]
fn yaml_is_read_as_prometheus_reads_it() {
    // Anchors, aliases and merge keys are followed; scalars keep their text.
    let text = r#"x-job: &job
  scrape_interval: 30s
  honor_labels: yes
  static_configs:
    - targets: ['a:1']
      labels: {version: 1.10, n: 0x1F, empty: }
scrape_configs:
  - <<: *job
    job_name: one
    scrape_interval: 10s
  - <<: *job
    job_name: two
    metric_relabel_configs:
      - source_labels: [flag]
        regex: true
        action: KEEP
      - source_labels: [__name__]
        modulus: 8
        target_label: shard
        action: hashmod
remote_write:
  - url: http://r/w
"#;
    let imported = import_ok(text, "p.yml", &Options::default());
    assert_eq!(reasons(&imported.left_out), ["1:1: x-job: outpost has no `x-job`"]);
    let c = load(&imported.toml, "p.yml");
    let (one, two) = (job(&c, "one"), job(&c, "two"));
    assert_eq!(
        (one.scrape_interval, one.honor_labels),
        (secs(10), true),
        "the job's own key wins over the merged one"
    );
    assert_eq!((two.scrape_interval, two.honor_labels), (secs(30), true));
    let labels = &two.static_configs[0].labels;
    assert_eq!(
        (labels["version"].as_str(), labels["n"].as_str()),
        ("1.10", "0x1F"),
        "as written, as go-yaml reads a scalar into a string"
    );
    assert_eq!(labels["empty"], "");
    assert_eq!(
        two.metric_relabel_configs,
        [
            rule(&[("source_labels", "flag"), ("regex", "true"), ("action", "keep")]),
            rule(&[
                ("source_labels", "__name__"),
                ("modulus", "8"),
                ("target_label", "shard"),
                ("action", "hashmod")
            ]),
        ]
    );
}

#[test]
fn bad_yaml_is_an_error_with_its_position() {
    let cases = [
        ("scrape_configs:\n\t- job_name: a\n", "p.yml:2:"),
        (
            "global:\n  scrape_interval: 15s\n  scrape_interval: 30s\n",
            "p.yml:3:3: duplicate key `scrape_interval` (first at 2:3)",
        ),
        (
            "global:\n  external_labels:\n    a: [1, 2]\n",
            "p.yml:3:8: global.external_labels.a: a label value must be a string, found a sequence",
        ),
        (
            "global:\n  scrape_interval: 15x\n",
            "p.yml:2:20: global.scrape_interval: invalid duration \"15x\": unknown unit \"x\"",
        ),
        (
            "scrape_configs:\n  - job_name: a\n    sample_limit: lots\n",
            "p.yml:3:19: scrape_configs[0] (\"a\").sample_limit: expected an integer, found \"lots\"",
        ),
        ("scrape_configs: {a: 1}\n", "p.yml:1:17: scrape_configs: expected a sequence, found a mapping"),
    ];
    for (text, want) in cases {
        let errors = import(text, "p.yml", &Options::default()).expect_err(text);
        assert!(errors[0].starts_with(want), "{text}\n got: {errors:?}\nwant: {want}");
    }
    let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
    for (name, prev) in [("b", "a"), ("c", "b"), ("d", "c"), ("e", "d"), ("f", "e"), ("g", "f"), ("h", "g")] {
        bomb.push_str(&format!("{name}: &{name} [{}]\n", vec![format!("*{prev}"); 10].join(", ")));
    }
    let errors = import(&bomb, "p.yml", &Options::default()).expect_err("bomb");
    assert!(errors[0].contains("expands to more than 200000 nodes"), "{errors:?}");
}

#[test]
fn relative_paths_are_rebased_when_the_output_lives_elsewhere() {
    let text = "scrape_configs:\n  - job_name: a\n    bearer_token_file: tok\n    file_sd_configs:\n      - files: [sd/*.json, /abs/x.json]\nremote_write:\n  - url: http://r/w\n";
    let options = Options { rebase: Some(PathBuf::from("/etc/prometheus")), ..Options::default() };
    let imported = import_ok(text, "p.yml", &options);
    assert!(imported.toml.contains("bearer_token_file = \"/etc/prometheus/tok\""), "{}", imported.toml);
    assert!(
        imported.toml.contains("files = [\"/etc/prometheus/sd/*.json\", \"/abs/x.json\"]"),
        "{}",
        imported.toml
    );
}

/// A scalar as Prometheus reads it into a string, from serde_yaml_ng's typed value.
fn yaml_text(v: &serde_yaml_ng::Value) -> String {
    match v {
        serde_yaml_ng::Value::String(s) => s.clone(),
        serde_yaml_ng::Value::Bool(b) => b.to_string(),
        serde_yaml_ng::Value::Number(n) => n.to_string(),
        other => panic!("not a scalar: {other:?}"),
    }
}

/// The YAML read by another parser (serde_yaml_ng) against the loaded import: every job
/// (but `skipped`), its interval and timeout as Prometheus resolves them, path, scheme,
/// targets and their labels, discovery, every rule, credential paths, and every receiver.
fn assert_means_the_same(yaml: &serde_yaml_ng::Value, c: &Config, skipped: &[String]) {
    use serde_yaml_ng::Value as Y;
    let dur = |v: &Y| config::duration::parse(&yaml_text(v)).expect("duration");
    let global = &yaml["global"];
    let interval =
        if global["scrape_interval"].is_null() { secs(60) } else { dur(&global["scrape_interval"]) };
    let timeout = if global["scrape_timeout"].is_null() {
        secs(10).min(interval)
    } else {
        dur(&global["scrape_timeout"])
    };
    assert_eq!((c.global.scrape_interval, c.global.scrape_timeout), (interval, timeout));
    if let Some(labels) = global["external_labels"].as_mapping() {
        for (k, v) in labels {
            assert_eq!(c.global.external_labels[&yaml_text(k)], yaml_text(v));
        }
    }
    let rules = |list: &Y| -> Vec<crate::relabel::Rule> {
        list.as_sequence()
            .map(|rules| {
                rules
                    .iter()
                    .map(|r| {
                        let fields: Vec<(String, String)> = r
                            .as_mapping()
                            .expect("rule")
                            .iter()
                            .map(|(k, v)| {
                                let key = yaml_text(k);
                                let value = match v {
                                    Y::Sequence(items) => {
                                        items.iter().map(yaml_text).collect::<Vec<_>>().join(",")
                                    }
                                    v if key == "action" => yaml_text(v).to_lowercase(),
                                    v => yaml_text(v),
                                };
                                (key, value)
                            })
                            .collect();
                        let pairs: Vec<(&str, &str)> =
                            fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                        rule(&pairs)
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut seen = 0;
    for j in yaml["scrape_configs"].as_sequence().expect("scrape_configs") {
        let name = yaml_text(&j["job_name"]);
        if skipped.iter().any(|s| s.contains(&format!("\"{name}\""))) {
            continue;
        }
        seen += 1;
        let job = job(c, &name);
        let i = if j["scrape_interval"].is_null() { interval } else { dur(&j["scrape_interval"]) };
        let t = if j["scrape_timeout"].is_null() { timeout.min(i) } else { dur(&j["scrape_timeout"]) };
        assert_eq!((job.scrape_interval, job.scrape_timeout), (i, t), "{name}");
        let path = j["metrics_path"].as_str().unwrap_or("/metrics");
        assert_eq!(
            (job.metrics_path.as_str(), job.scheme.as_str()),
            (path, j["scheme"].as_str().unwrap_or("http")),
            "{name}"
        );
        assert_eq!(job.honor_labels, j["honor_labels"].as_bool().unwrap_or(false), "{name}");
        let groups = j["static_configs"].as_sequence().cloned().unwrap_or_default();
        assert_eq!(job.static_configs.len(), groups.len(), "{name}");
        for (ours, theirs) in job.static_configs.iter().zip(&groups) {
            let targets: Vec<String> = theirs["targets"]
                .as_sequence()
                .map(|t| t.iter().map(yaml_text).collect())
                .unwrap_or_default();
            assert_eq!(ours.targets, targets, "{name}");
            if let Some(labels) = theirs["labels"].as_mapping() {
                assert_eq!(ours.labels.len(), labels.len(), "{name}");
            }
        }
        let files = j["file_sd_configs"].as_sequence().cloned().unwrap_or_default();
        assert_eq!(job.file_sd_configs.len(), files.len(), "{name}");
        for (ours, theirs) in job.file_sd_configs.iter().zip(&files) {
            for (path, file) in ours.files.iter().zip(theirs["files"].as_sequence().expect("files")) {
                assert!(path.ends_with(yaml_text(file)), "{name}: {path:?}");
            }
        }
        let k8s = j["kubernetes_sd_configs"].as_sequence().map_or(0, Vec::len);
        assert_eq!(job.kubernetes_sd_configs.len(), k8s, "{name}");
        assert_eq!(job.relabel_configs, rules(&j["relabel_configs"]), "{name}");
        assert_eq!(job.metric_relabel_configs, rules(&j["metric_relabel_configs"]), "{name}");
        let client = format!("{:?}", job.http_client);
        for file in
            [&j["bearer_token_file"], &j["authorization"]["credentials_file"], &j["tls_config"]["ca_file"]]
        {
            if let Some(file) = file.as_str() {
                let base = Path::new(file).file_name().and_then(|f| f.to_str()).unwrap_or(file);
                assert!(client.contains(base), "{name}: {file} in {client}");
            }
        }
    }
    assert_eq!(c.scrape_configs.len(), seen, "every job");
    match yaml["remote_write"].as_sequence() {
        Some(list) => {
            let urls: Vec<String> = list.iter().map(|rw| yaml_text(&rw["url"])).collect();
            assert_eq!(c.remote_write.iter().map(|rw| rw.url.clone()).collect::<Vec<_>>(), urls);
        }
        None => assert_eq!(c.remote_write[0].url, DEFAULT_RECEIVER),
    }
}

#[test]
fn every_fixture_means_what_its_yaml_means() {
    let plain = [
        "prometheus-agent.yml",
        "prometheus-example.yml",
        "thanos-agent-batmobile.yml",
        "dockprom-prometheus.yml",
        "internet-pi-prometheus.yml",
        "blackbox-exporter-example.yml",
        "prometheus-kubernetes.yml",
    ];
    for name in plain {
        let (text, origin) = fixture(name);
        let imported = import_ok(&text, &origin, &Options::default());
        assert_eq!(import_ok(&text, &origin, &Options::default()).toml, imported.toml, "{name}: stable");
        let (toml, dir) = with_service_account(&imported.toml);
        let skipped: Vec<String> = Vec::new();
        let yaml: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).expect("yaml");
        assert_means_the_same(&yaml, &load(&toml, &origin), &skipped);
        std::fs::remove_dir_all(dir).ok();
    }
    // Helm values: the Prometheus file they make, read by the other parser.
    let (text, origin) = fixture("kps-agent-edge.yaml");
    let values: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).expect("yaml");
    let spec = &values["prometheus"]["prometheusSpec"];
    let yaml: serde_yaml_ng::Value = serde_yaml_ng::from_str(&format!(
        "global: {{scrape_interval: 30s}}\nscrape_configs: {}\nremote_write: {}\n",
        serde_json::to_string(&spec["additionalScrapeConfigs"]).expect("json"),
        serde_json::to_string(&spec["remoteWrite"]).expect("json"),
    ))
    .expect("yaml");
    assert_means_the_same(&yaml, &load(&import_ok(&text, &origin, &helm(&[])).toml, &origin), &[]);
    let (text, origin) = fixture("helm-prometheus-chart-values.yaml");
    let values: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).expect("yaml");
    let yaml: serde_yaml_ng::Value = serde_yaml_ng::from_str(&format!(
        "global: {}\nscrape_configs: {}\n",
        serde_json::to_string(&values["server"]["global"]).expect("json"),
        serde_json::to_string(&values["serverFiles"]["prometheus.yml"]["scrape_configs"]).expect("json"),
    ))
    .expect("yaml");
    let (toml, dir) = with_service_account(&import_ok(&text, &origin, &helm(&[])).toml);
    let skipped: Vec<String> = Vec::new();
    assert_means_the_same(&yaml, &load(&toml, &origin), &skipped);
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn scrape_configs_given_as_yaml_text_in_helm_values_are_read() {
    let kps = "prometheus:\n  agentMode: true\n  prometheusSpec:\n    remoteWrite: [{url: 'http://r/w'}]\n    additionalScrapeConfigs: |\n      - job_name: a\n        static_configs: [{targets: ['a:1']}]\n";
    let c = load(&import_ok(kps, "values.yaml", &helm(&[])).toml, "values.yaml");
    assert_eq!(job(&c, "a").static_configs[0].targets, ["a:1"]);
    let chart = "server:\n  remoteWrite: [{url: 'http://r/w'}]\nserverFiles:\n  prometheus.yml:\n    scrape_configs:\n      - job_name: a\n        static_configs: [{targets: ['a:1']}]\nextraScrapeConfigs: |\n  - job_name: b\n    scrape_interval: 5s\n    static_configs: [{targets: ['b:1']}]\n";
    let c = load(&import_ok(chart, "values.yaml", &helm(&[])).toml, "values.yaml");
    let jobs: Vec<(&str, Duration)> =
        c.scrape_configs.iter().map(|j| (j.job_name.as_str(), j.scrape_interval)).collect();
    assert_eq!(jobs, [("a", secs(60)), ("b", secs(5))]);
    assert_eq!(c.remote_write[0].url, "http://r/w");
    let broken = chart.replace("    scrape_interval: 5s", "    scrape_interval: 5s\n    scrape_interval: 6s");
    let errors = import(&broken, "values.yaml", &helm(&[])).expect_err("duplicate");
    assert_eq!(
        errors,
        [
            "values.yaml:11:5: extraScrapeConfigs: in its YAML text: duplicate key `scrape_interval` (first at 2:3 of the text)"
        ]
    );
}
