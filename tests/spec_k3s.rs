//! The K3s user's configuration end to end (SPEC, "Kubernetes pod discovery"): outpost
//! discovers pods from the in-test API server through a K3s kubeconfig (inline CA and
//! ECDSA P-256 client certificate), keeps the pods annotated `prometheus.io/scrape: "true"`,
//! scrapes them (their IP is a loopback address where a real node_exporter or a fake target
//! listens) and writes with the external label `cluster`; a deleted pod's series end with
//! staleness markers.

mod support;

use std::fs;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};
use support::fake::{FakeReceiver, delivered};
use support::kube::{Auth, Kind, KubeApi};
use support::{
    Child, TempDir, poll_until, query, series_labels, start_node_exporter, start_outpost, start_prometheus,
};

const STALE_NAN: u64 = 0x7ff0_0000_0000_0002;
/// Generous for a loaded 2-core machine: scrapes here are every 200-500 ms.
const WITHIN: Duration = Duration::from_secs(30);

/// /etc/rancher/k3s/k3s.yaml as K3s writes it, for the test API server.
fn write_k3s_yaml(api: &KubeApi, dir: &Path) -> String {
    let b64 = |pem: &str| base64::engine::general_purpose::STANDARD.encode(pem);
    let text = format!(
        "apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: {}\n    server: {}\n  name: default\ncontexts:\n- context:\n    cluster: default\n    user: default\n  name: default\ncurrent-context: default\nkind: Config\npreferences: {{}}\nusers:\n- name: default\n  user:\n    client-certificate-data: {}\n    client-key-data: {}\n",
        b64(&api.pki.server_ca),
        api.url(),
        b64(&api.pki.client_cert),
        b64(&api.pki.client_key)
    );
    let path = dir.join("k3s.yaml");
    fs::write(&path, text).expect("write k3s.yaml");
    path.display().to_string()
}

/// The README's K3s configuration: pods by annotation, `cluster` on every series.
fn outpost_config(receiver_url: &str, kubeconfig: &str, interval: &str) -> String {
    format!(
        r#"[global]
scrape_interval = "{interval}"
scrape_timeout = "{interval}"
external_labels = {{ cluster = "edge-01" }}
[[remote_write]]
url = "{receiver_url}"
[remote_write.queue_config]
batch_send_deadline = "50ms"
min_backoff = "20ms"
max_backoff = "200ms"
[[scrape_configs]]
job_name = "kubernetes-pods"
[[scrape_configs.kubernetes_sd_configs]]
role = "pod"
kubeconfig_file = {kubeconfig:?}
[[scrape_configs.relabel_configs]]
source_labels = ["__meta_kubernetes_pod_annotation_prometheus_io_scrape"]
action = "keep"
regex = "true"
[[scrape_configs.relabel_configs]]
source_labels = ["__meta_kubernetes_namespace"]
target_label = "namespace"
[[scrape_configs.relabel_configs]]
source_labels = ["__meta_kubernetes_pod_name"]
target_label = "pod"
"#
    )
}

/// A running pod with one container port, at `ip`.
fn pod(name: &str, ip: &str, port: u16, annotations: Value) -> Value {
    json!({
        "metadata": {"name": name, "namespace": "monitoring", "uid": format!("uid-{name}"),
                     "labels": {"app": name}, "annotations": annotations},
        "spec": {"nodeName": "edge-01", "containers": [{"name": name, "image": "prom/node-exporter:v1.7.0",
                 "ports": [{"name": "metrics", "containerPort": port, "protocol": "TCP"}]}]},
        "status": {"phase": "Running", "podIP": ip, "hostIP": "127.0.0.1",
                   "conditions": [{"type": "Ready", "status": "True"}]}
    })
}

fn running(outpost: &mut Child) {
    outpost.assert_running();
}

#[test]
fn an_annotated_pod_reaches_prometheus_with_cluster_and_its_deletion_ends_the_series() {
    let api = KubeApi::start(Auth::ClientCert);
    let node = start_node_exporter();
    let other = start_node_exporter();
    api.apply(
        Kind::Pod,
        pod("node-exporter-x7k2p", "127.0.0.1", node.port, json!({"prometheus.io/scrape": "true"})),
    );
    api.apply(Kind::Pod, pod("not-annotated", "127.0.0.1", other.port, json!({})));
    let prometheus = start_prometheus();
    let dir = TempDir::new("k3s-e2e");
    let kubeconfig = write_k3s_yaml(&api, dir.path());
    let url = format!("http://127.0.0.1:{}/api/v1/write", prometheus.port);
    let mut outpost = start_outpost(&outpost_config(&url, &kubeconfig, "500ms"));

    let up = r#"up{job="kubernetes-pods",pod="node-exporter-x7k2p"}"#;
    let series = poll_until(WITHIN, "the annotated pod's up reaches Prometheus", || {
        running(&mut outpost);
        match query(prometheus.port, up)? {
            result if result.len() == 1 && result[0]["value"][1] == "1" => Ok(series_labels(&result[0])),
            result => Err(format!("{result:?}")),
        }
    });
    let instance = format!("127.0.0.1:{}", node.port);
    assert_eq!(series.get("cluster").map(String::as_str), Some("edge-01"), "{series:?}");
    assert_eq!(series.get("namespace").map(String::as_str), Some("monitoring"), "{series:?}");
    assert_eq!(series.get("instance"), Some(&instance), "{series:?}");
    let cpu = r#"count(node_cpu_seconds_total{cluster="edge-01",pod="node-exporter-x7k2p"})"#;
    poll_until(WITHIN, "node_exporter's series arrive with cluster", || {
        match query(prometheus.port, cpu)?.len() {
            1 => Ok(()),
            n => Err(format!("{n} results")),
        }
    });
    let unannotated = r#"count(up{pod="not-annotated"})"#;
    assert_eq!(
        query(prometheus.port, unannotated).expect("query"),
        Vec::<Value>::new(),
        "dropped by relabeling"
    );

    api.delete(Kind::Pod, "monitoring", "node-exporter-x7k2p");
    poll_until(WITHIN, "up of the deleted pod ends in Prometheus", || {
        running(&mut outpost);
        match query(prometheus.port, up)? {
            result if result.is_empty() => Ok(()),
            result => Err(format!("still {result:?}")),
        }
    });
    let any = format!(r#"count({{instance="{instance}"}})"#);
    poll_until(WITHIN, "every series of the deleted pod ends", || match query(prometheus.port, &any)? {
        result if result.is_empty() => Ok(()),
        result => Err(format!("still {result:?}")),
    });
    running(&mut outpost);
}

#[test]
fn a_deleted_pod_gets_staleness_markers_with_the_exact_bits() {
    let api = KubeApi::start(Auth::ClientCert);
    let target = support::fake::FakeTarget::start("pod_metric{x=\"y\"} 1\n");
    let skipped = support::fake::FakeTarget::start("never 1\n");
    api.apply(Kind::Pod, pod("app-1", "127.0.0.1", target.port, json!({"prometheus.io/scrape": "true"})));
    api.apply(Kind::Pod, pod("app-2", "127.0.0.1", skipped.port, json!({"prometheus.io/scrape": "false"})));
    let receiver = FakeReceiver::start(Box::new(|_, _| (204, Vec::new())));
    let dir = TempDir::new("k3s-stale");
    let kubeconfig = write_k3s_yaml(&api, dir.path());
    let mut outpost = start_outpost(&outpost_config(&receiver.url(), &kubeconfig, "200ms"));
    let with = "pod=app-1";
    poll_until(WITHIN, "app-1 delivered with cluster", || {
        running(&mut outpost);
        let n = delivered(&receiver.snapshot())
            .iter()
            .filter(|(k, _, _)| {
                k.starts_with("__name__=pod_metric,") && k.contains("cluster=edge-01,") && k.contains(with)
            })
            .count();
        if n >= 3 { Ok(()) } else { Err(format!("{n} samples")) }
    });
    api.delete(Kind::Pod, "monitoring", "app-1");
    let names = ["pod_metric", "up", "scrape_duration_seconds", "scrape_samples_scraped"];
    poll_until(WITHIN, "markers for the deleted pod", || {
        let marked = names.iter().all(|n| receiver.samples(n, with).last().map(|s| s.1) == Some(STALE_NAN));
        if marked { Ok(()) } else { Err("not yet".into()) }
    });
    let served_at_deletion = target.served.load(Ordering::SeqCst);
    for name in names {
        let got = receiver.samples(name, with);
        assert_eq!(got.iter().filter(|(_, b)| *b == STALE_NAN).count(), 1, "{name}: one marker: {got:?}");
        assert_eq!(got.last().map(|s| s.1), Some(STALE_NAN), "{name}: the marker is last: {got:?}");
    }
    assert_eq!(target.served.load(Ordering::SeqCst), served_at_deletion, "a deleted pod is not scraped");
    assert_eq!(skipped.served.load(Ordering::SeqCst), 0, "a pod without the annotation is never scraped");
}

/// config/k3s.toml passes `outpost check` once the credentials the drop-in hands over
/// exist (here made by the test API server's CA, in place of /run/credentials/…).
#[test]
fn the_k3s_example_config_is_valid() {
    let api = KubeApi::start(Auth::ClientCert);
    let dir = TempDir::new("k3s-example");
    let credentials = dir.path().join("credentials");
    fs::create_dir(&credentials).expect("mkdir");
    write_k3s_yaml(&api, &credentials);
    fs::rename(credentials.join("k3s.yaml"), credentials.join("kubeconfig")).expect("rename");
    for (name, pem) in [
        ("kubelet-ca", &api.pki.server_ca),
        ("kubelet-cert", &api.pki.client_cert),
        ("kubelet-key", &api.pki.client_key),
    ] {
        fs::write(credentials.join(name), pem).expect("pem");
    }
    let example = include_str!("../config/k3s.toml")
        .replace("/run/credentials/outpost.service", &credentials.display().to_string());
    let config = dir.path().join("k3s.toml");
    fs::write(&config, example).expect("write config");
    let out =
        support::outpost_command().arg("check").arg("--config").arg(&config).output().expect("run check");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let parsed = outpost::config::load(&config).expect("valid");
    let jobs: Vec<&str> = parsed.scrape_configs.iter().map(|sc| sc.job_name.as_str()).collect();
    assert_eq!(jobs, ["kubernetes-pods", "kubelet", "kubelet-cadvisor"]);
    assert_eq!(parsed.global.external_labels.get("cluster").map(String::as_str), Some("edge-01"));

    // Its pod relabeling on the K3s fixtures: the annotated pods, at their annotated port
    // and path; traefik's four container ports give one target.
    let pods: Value = serde_json::from_str(include_str!("fixtures/kubernetes/pods.json")).expect("fixture");
    let groups: Vec<_> = pods["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|p| {
            outpost::discovery::kubernetes::pods::group(&serde_json::from_value(p.clone()).expect("pod"))
        })
        .collect();
    let targets = outpost::discovery::targets::populate_groups(&groups, &parsed.scrape_configs[0]);
    let mut urls: Vec<&str> = targets.iter().map(|t| t.url.as_str()).collect();
    urls.sort();
    assert_eq!(urls, ["http://10.42.0.8:9100/metrics", "http://10.42.1.17:9102/metrics"]);
    let web = targets.iter().find(|t| t.url.contains("10.42.1.17")).expect("web");
    let label = |name: &str| web.labels.get(name).map(str::to_owned);
    assert_eq!(label("pod").as_deref(), Some("web-7d4b9c8f6d-x2v7n"));
    assert_eq!(label("namespace").as_deref(), Some("apps"));
    assert_eq!(label("node").as_deref(), Some("edge-02"));
    assert_eq!(label("app").as_deref(), Some("web"), "labelmap of the pod's labels");
    assert_eq!(label("app_kubernetes_io_part_of").as_deref(), Some("shop"));
}

/// The commented `kubernetes-service-endpoints` job of config/k3s.toml, uncommented, with the
/// kubeconfig at `kubeconfig`.
fn service_endpoints_job(kubeconfig: &str) -> String {
    let example = include_str!("../config/k3s.toml");
    let start = example
        .find("# [[scrape_configs]]\n# job_name = \"kubernetes-service-endpoints\"")
        .expect("the job is in config/k3s.toml");
    example[start..]
        .lines()
        .take_while(|l| l.starts_with("# "))
        .map(|l| l.trim_start_matches("# "))
        .collect::<Vec<_>>()
        .join("\n")
        .replace("/run/credentials/outpost.service/kubeconfig", kubeconfig)
}

/// The prometheus-community chart's kubernetes-service-endpoints job as config/k3s.toml has
/// it (role endpointslice, attach_metadata node): an annotated Service's endpoint, a real
/// node_exporter, reaches a real Prometheus with the labels the job promises (namespace,
/// service, node, the Service's labels), and the Service's annotated port is the one scraped.
#[test]
fn the_service_endpoints_job_reaches_prometheus_with_service_namespace_and_node() {
    let api = KubeApi::start(Auth::ClientCert);
    let node = start_node_exporter();
    let prometheus = start_prometheus();
    let dir = TempDir::new("k3s-svc-endpoints");
    let kubeconfig = write_k3s_yaml(&api, dir.path());
    api.apply(
        Kind::Node,
        json!({"metadata": {"name": "edge-01", "labels": {"kubernetes.io/arch": "arm64"}},
                                 "status": {"addresses": [{"type": "InternalIP", "address": "127.0.0.1"}]}}),
    );
    api.apply(Kind::Pod, pod("node-exporter-x7k2p", "127.0.0.1", node.port, json!({})));
    api.apply(Kind::Service, json!({
        "metadata": {"name": "node-exporter", "namespace": "monitoring", "labels": {"app.kubernetes.io/name": "node-exporter"},
                     "annotations": {"prometheus.io/scrape": "true", "prometheus.io/port": node.port.to_string()}},
        "spec": {"type": "ClusterIP", "clusterIP": "10.43.9.100", "ports": [{"name": "metrics", "port": 9100, "protocol": "TCP"}]}}));
    api.apply(Kind::EndpointSlice, json!({
        "metadata": {"name": "node-exporter-8kq2d", "namespace": "monitoring",
                     "labels": {"kubernetes.io/service-name": "node-exporter"}},
        "addressType": "IPv4", "ports": [{"name": "metrics", "port": 9100, "protocol": "TCP"}],
        "endpoints": [{"addresses": ["127.0.0.1"], "conditions": {"ready": true}, "nodeName": "edge-01",
                       "targetRef": {"kind": "Pod", "namespace": "monitoring", "name": "node-exporter-x7k2p"}}]}));
    // An unannotated Service's endpoints are dropped by the job's keep rule.
    api.apply(
        Kind::Service,
        json!({"metadata": {"name": "quiet", "namespace": "monitoring"}, "spec": {"ports": [{"port": 80}]}}),
    );
    api.apply(Kind::EndpointSlice, json!({
        "metadata": {"name": "quiet-1", "namespace": "monitoring", "labels": {"kubernetes.io/service-name": "quiet"}},
        "addressType": "IPv4", "ports": [{"port": 80}], "endpoints": [{"addresses": ["127.0.0.1"]}]}));
    let url = format!("http://127.0.0.1:{}/api/v1/write", prometheus.port);
    let base = outpost_config(&url, &kubeconfig, "500ms");
    let base = &base[..base.find("[[scrape_configs]]").expect("a job")];
    let mut outpost = start_outpost(&format!("{base}{}\n", service_endpoints_job(&kubeconfig)));

    let up = r#"up{job="kubernetes-service-endpoints"}"#;
    let series = poll_until(WITHIN, "the service's endpoint reaches Prometheus", || {
        running(&mut outpost);
        match query(prometheus.port, up)? {
            result if result.len() == 1 && result[0]["value"][1] == "1" => Ok(series_labels(&result[0])),
            result => Err(format!("{result:?}")),
        }
    });
    let want = [
        ("cluster", "edge-01".to_owned()),
        ("namespace", "monitoring".to_owned()),
        ("service", "node-exporter".to_owned()),
        ("node", "edge-01".to_owned()),
        ("app_kubernetes_io_name", "node-exporter".to_owned()),
        ("instance", format!("127.0.0.1:{}", node.port)),
    ];
    for (name, value) in want {
        assert_eq!(series.get(name), Some(&value), "{name} in {series:?}");
    }
    let cpu = r#"count(node_cpu_seconds_total{job="kubernetes-service-endpoints",service="node-exporter"})"#;
    poll_until(WITHIN, "node_exporter's series arrive", || match query(prometheus.port, cpu)?.len() {
        1 => Ok(()),
        n => Err(format!("{n} results")),
    });
    running(&mut outpost);
}
