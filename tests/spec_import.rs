//! `outpost import` end to end: a Prometheus configuration run by a real Prometheus 2.42
//! in agent mode and its import run by outpost, on the same real node_exporter (a static
//! job and a file_sd job with relabel rules), deliver the same series with the same labels
//! to one real Prometheus receiver. And the command's exit codes and messages.

mod support;

use std::collections::BTreeSet;
use std::fs;
use std::process::Command;
use std::time::Duration;

use support::{Child, LabelSet, TempDir, outpost_command, poll_until, query, series_labels};

/// Both agents scrape every second; a minute means something is broken, not slow.
const ARRIVE_WITHIN: Duration = Duration::from_secs(60);

/// Prometheus in agent mode (`--enable-feature=agent`) with the configuration file
/// `config` (relative paths in it are taken from its directory), its WAL in `dir`.
fn start_prometheus_agent(dir: TempDir, config: &std::path::Path) -> Child {
    let port = support::free_port();
    let mut command = Command::new(support::program(&["prometheus"]));
    command
        .arg(format!("--config.file={}", config.display()))
        .arg("--enable-feature=agent")
        .arg(format!("--storage.agent.path={}", dir.path().join("agent").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"));
    let mut child = Child::spawn("prometheus-agent", command, dir, port);
    child.wait_ready("/-/ready");
    child
}

fn import(args: &[&str]) -> (i32, String, String) {
    let out = outpost_command().arg("import").args(args).output().expect("run outpost import");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr))
}

/// SPEC: a Prometheus agent's configuration, imported, means the same: one receiver gets
/// each series twice, once from Prometheus (`via="prometheus"`, its external label) and
/// once from outpost; the imported TOML differs from the import's output in that label's
/// value only. Without `via`, the label sets must be equal, target labels from
/// static_configs, file_sd files and relabel_configs included; metric_relabel_configs
/// keep the same subset on both sides.
#[test]
fn prometheus_and_outpost_deliver_the_same_series_from_the_same_configuration() {
    let node = support::start_node_exporter();
    let receiver = support::start_prometheus();
    let dir = TempDir::new("import-e2e");
    fs::create_dir_all(dir.path().join("targets")).expect("targets dir");
    let sd = format!(
        r#"[{{"targets": ["127.0.0.1:{}"], "labels": {{"rack": "r1", "__meta_source": "file"}}}}]"#,
        node.port
    );
    fs::write(dir.path().join("targets/node.json"), sd).expect("file_sd file");
    let yaml = format!(
        r#"global:
  scrape_interval: 1s
  scrape_timeout: 1s
  external_labels:
    via: prometheus
    site: 7
scrape_configs:
  - job_name: node
    static_configs:
      - targets: ['127.0.0.1:{node}']
        labels: {{env: edge}}
    relabel_configs:
      - source_labels: [__address__]
        regex: '127\.0\.0\.1:(.*)'
        target_label: port
        replacement: $1
    metric_relabel_configs:
      - source_labels: [__name__]
        regex: node_(load|memory_Mem|cpu_seconds).*|up|scrape_.*
        action: keep
  - job_name: files
    file_sd_configs:
      - files: [targets/*.json]
        refresh_interval: 1s
    relabel_configs:
      - source_labels: [__meta_source]
        target_label: source
    metric_relabel_configs:
      - source_labels: [__name__]
        regex: node_load1|up
        action: keep
remote_write:
  - url: http://127.0.0.1:{receiver}/api/v1/write
    queue_config:
      batch_send_deadline: 200ms
"#,
        node = node.port,
        receiver = receiver.port
    );
    fs::write(dir.path().join("prometheus.yml"), &yaml).expect("write yaml");
    // Written elsewhere: the file_sd path is made absolute (both read it from the file's directory).
    let out = TempDir::new("import-e2e-out");
    let toml_path = out.path().join("outpost.toml");
    let input = dir.path().join("prometheus.yml");
    let (code, _, stderr) = import(&[&input.display().to_string(), "-o", &toml_path.display().to_string()]);
    assert_eq!(code, 0, "{stderr}");
    let toml = fs::read_to_string(&toml_path).expect("imported toml");
    assert!(toml.contains(&format!("{}/targets/*.json", dir.path().display())), "{toml}");
    let agent_dir = TempDir::new("prometheus-agent");
    let prometheus = start_prometheus_agent(agent_dir, &input);
    let outpost =
        support::start_outpost(&toml.replacen("\"via\" = \"prometheus\"", "\"via\" = \"outpost\"", 1));

    let sets = |via: &str| -> Result<BTreeSet<LabelSet>, String> {
        Ok(query(receiver.port, &format!(r#"{{job=~"node|files",via="{via}"}}"#))?
            .iter()
            .map(|s| {
                let mut l = series_labels(s);
                l.remove("via");
                l
            })
            .collect())
    };
    let (from_prometheus, from_outpost) = poll_until(
        ARRIVE_WITHIN,
        "both agents deliver the same series",
        || {
            let a = sets("prometheus")?;
            let b = sets("outpost")?;
            let files = a.iter().filter(|l| l.get("job").map(String::as_str) == Some("files")).count();
            if a.len() > 10 && files > 0 && a == b {
                Ok((a, b))
            } else {
                let only_a: Vec<_> = a.difference(&b).take(3).collect();
                let only_b: Vec<_> = b.difference(&a).take(3).collect();
                Err(format!(
                    "{} from prometheus, {} from outpost; only prometheus: {only_a:?}; only outpost: {only_b:?}",
                    a.len(),
                    b.len()
                ))
            }
        },
    );
    assert_eq!(from_prometheus, from_outpost);
    let up_files = from_prometheus
        .iter()
        .find(|l| l["__name__"] == "up" && l["job"] == "files")
        .expect("up of the file_sd target");
    assert_eq!(
        (up_files["rack"].as_str(), up_files["source"].as_str(), up_files["site"].as_str()),
        ("r1", "file", "7")
    );
    let up_node =
        from_prometheus.iter().find(|l| l["__name__"] == "up" && l["job"] == "node").expect("up of node");
    assert_eq!((up_node["env"].as_str(), up_node["port"].clone()), ("edge", node.port.to_string()));
    assert!(
        from_prometheus.iter().all(|l| l["__name__"] == "up"
            || l["__name__"].starts_with("scrape_")
            || l["__name__"].starts_with("node_")),
        "metric_relabel_configs kept the same subset"
    );
    drop((outpost, prometheus));
}

#[test]
fn import_refuses_what_outpost_lacks_and_keep_going_writes_the_rest() {
    let dir = TempDir::new("import-cli");
    let input = dir.path().join("prometheus.yml");
    fs::write(
        &input,
        "scrape_configs:\n  - job_name: a\n    oauth2: {client_id: x}\n    static_configs: [{targets: ['a:1']}]\nremote_write:\n  - url: http://r:9090/api/v1/write\n",
    )
    .expect("write");
    let output = dir.path().join("outpost.toml");
    let (input, output) = (input.display().to_string(), output.display().to_string());
    let (code, stdout, stderr) = import(&[&input, "-o", &output]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stdout.is_empty());
    assert!(
        stderr.contains(&format!(
            "{input}:3:5: scrape_configs[0] (\"a\").oauth2: outpost has no oauth2 authentication"
        )),
        "{stderr}"
    );
    assert!(!std::path::Path::new(&output).exists(), "nothing written without --keep-going");
    let (code, _, stderr) = import(&["--keep-going", &input, "-o", &output]);
    assert_eq!(code, 2, "{stderr}");
    let toml = fs::read_to_string(&output).expect("written");
    assert!(toml.contains("# left out: ") && toml.contains("oauth2"), "{toml}");
    let check = outpost_command().args(["check", "--config", &output]).output().expect("check");
    assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stderr));
    // check on the YAML itself names the import.
    let check = outpost_command().args(["check", "--config", &input]).output().expect("check");
    assert_eq!(check.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&check.stderr);
    assert!(
        stderr.contains("this is a Prometheus configuration (YAML)") && stderr.contains("outpost import"),
        "{stderr}"
    );
    // Invalid input: exit 1, the position named.
    fs::write(dir.path().join("bad.yml"), "global:\n  scrape_interval: 15x\n").expect("write");
    let bad = dir.path().join("bad.yml").display().to_string();
    let (code, _, stderr) = import(&[&bad]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains(&format!("{bad}:2:20: global.scrape_interval: invalid duration \"15x\"")),
        "{stderr}"
    );
}

/// The K3s edge agent's job (pod discovery kept by `prometheus.io/scrape`, a `cluster`
/// label), run by vmagent from the YAML and by outpost from its import, against the
/// in-test Kubernetes API server with the K3s fixture pods. Every target's address is
/// rewritten to the local node_exporter (unconditionally: nothing but 127.0.0.1 is ever
/// scraped), its instance named by pod and port, so each kept pod port delivers `up` and
/// `node_load1` with its pod's labels. Differences named: vmagent gets the remote write
/// URL and its `via` label as flags (its file has no remote_write), outpost as the
/// imported TOML plus `via` in [global]; vmagent's extra `scrape_timeout_seconds` series
/// is not compared.
#[test]
fn vmagent_and_outpost_deliver_the_same_kubernetes_series_from_the_same_configuration() {
    use support::kube::{Auth, Kind, KubeApi};
    let api = KubeApi::start(Auth::ClientCert);
    api.apply_list(Kind::Pod, include_str!("fixtures/kubernetes/pods.json"));
    let node = support::start_node_exporter();
    let receiver = support::start_prometheus();
    let dir = TempDir::new("import-k8s");
    for (name, pem) in [
        ("ca.crt", &api.pki.server_ca),
        ("client.crt", &api.pki.client_cert),
        ("client.key", &api.pki.client_key),
    ] {
        fs::write(dir.path().join(name), pem).expect("write pem");
    }
    let scrape = format!(
        r#"global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: kubernetes
    kubernetes_sd_configs:
      - role: pod
        api_server: {api}
        tls_config:
          ca_file: ca.crt
          cert_file: client.crt
          key_file: client.key
    relabel_configs:
      - source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_scrape]
        action: keep
        regex: true
      - source_labels: [__meta_kubernetes_pod_name, __meta_kubernetes_pod_container_port_number]
        separator: ':'
        target_label: instance
      - source_labels: [__meta_kubernetes_namespace]
        target_label: namespace
      - target_label: cluster
        replacement: edge-01
      - target_label: __address__
        replacement: 127.0.0.1:{node}
    metric_relabel_configs:
      - source_labels: [__name__]
        regex: up|node_load1
        action: keep
"#,
        api = api.url(),
        node = node.port
    );
    let scrape_file = dir.path().join("scrape.yml");
    fs::write(&scrape_file, &scrape).expect("scrape.yml");
    let full = dir.path().join("prometheus.yml");
    fs::write(
        &full,
        format!("{scrape}remote_write:\n  - url: http://127.0.0.1:{}/api/v1/write\n", receiver.port),
    )
    .expect("prometheus.yml");
    let out = TempDir::new("import-k8s-out");
    let toml_path = out.path().join("outpost.toml");
    let (code, _, stderr) = import(&[&full.display().to_string(), "-o", &toml_path.display().to_string()]);
    assert_eq!(code, 0, "{stderr}");
    let toml = fs::read_to_string(&toml_path).expect("imported");
    assert!(toml.contains(&format!("\"ca_file\" = \"{}/ca.crt\"", dir.path().display())), "rebased: {toml}");

    let vm_port = support::free_port();
    let mut command = Command::new(support::program(&["vmagent"]));
    command
        .arg(format!("-promscrape.config={}", scrape_file.display()))
        .arg(format!("-httpListenAddr=127.0.0.1:{vm_port}"))
        .arg(format!("-remoteWrite.url=http://127.0.0.1:{}/api/v1/write", receiver.port))
        .arg("-remoteWrite.label=via=vmagent")
        .arg(format!("-remoteWrite.tmpDataPath={}/queue", dir.path().display()));
    let mut vmagent = Child::spawn("vmagent", command, TempDir::new("vmagent-import"), vm_port);
    vmagent.wait_ready("/health");
    let outpost = support::start_outpost(&toml.replacen(
        "[global]\n",
        "[global]\nexternal_labels = { via = \"outpost\" }\n",
        1,
    ));

    let sets = |via: &str| -> Result<BTreeSet<LabelSet>, String> {
        Ok(query(receiver.port, &format!(r#"{{job="kubernetes",__name__=~"up|node_load1",via="{via}"}}"#))?
            .iter()
            .map(|s| {
                let mut l = series_labels(s);
                l.remove("via");
                l
            })
            .collect())
    };
    // 9 kept pod ports (traefik's and the web pods'), 2 series each. Only `up` and node_load1
    // are compared: vmagent adds a `scrape_timeout_seconds` series per target, outpost
    // (as Prometheus 2.42 without extra-scrape-metrics) does not.
    let (theirs, ours) = poll_until(ARRIVE_WITHIN, "vmagent and outpost deliver the same series", || {
        let theirs = sets("vmagent")?;
        let ours = sets("outpost")?;
        if theirs.len() == 18 && theirs == ours {
            Ok((theirs, ours))
        } else {
            let only_theirs: Vec<_> = theirs.difference(&ours).take(3).collect();
            let only_ours: Vec<_> = ours.difference(&theirs).take(3).collect();
            Err(format!(
                "{} from vmagent, {} from outpost; only vmagent: {only_theirs:?}; only outpost: {only_ours:?}",
                theirs.len(),
                ours.len()
            ))
        }
    });
    assert_eq!(theirs, ours);
    let up = ours
        .iter()
        .find(|l| l["__name__"] == "up" && l["instance"] == "web-7d4b9c8f6d-x2v7n:9102")
        .expect("web's exporter port");
    assert_eq!((up["namespace"].as_str(), up["cluster"].as_str()), ("apps", "edge-01"));
    drop((outpost, vmagent));
}
