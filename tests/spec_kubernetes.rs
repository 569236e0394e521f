//! Kubernetes discovery (SPEC, "Kubernetes pod discovery") against the in-test API server
//! (support/kube.rs). The golden tests point a real Prometheus at the same server, fed the
//! K3s fixtures, and require outpost's target labels to equal Prometheus's discoveredLabels.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::sync::Mutex;
use std::time::Duration;

use base64::Engine;
use outpost::config::{KubernetesRole, KubernetesSdConfig, Pem, TlsConfig};
use outpost::discovery::kubernetes::watch::{self, Settings};
use outpost::discovery::kubernetes::{nodes, pods};
use outpost::discovery::{Group, ProviderId, Updates};
use serde_json::Value;
use std::process::Command;
use support::kube::{Auth, Fault, Kind, KubeApi};
use support::{Child, LabelSet, TempDir, free_port, http_get, poll_until};

const PODS: &str = include_str!("fixtures/kubernetes/pods.json");
const NODES: &str = include_str!("fixtures/kubernetes/nodes.json");

/// Prometheus lists and watches within a second or two of being ready.
const DISCOVER_WITHIN: Duration = Duration::from_secs(30);

/// The labels of each target as Prometheus builds them from a group (targetsFromGroup): the
/// target's own, then the group's where the target lacks the name; an empty value is no label.
fn flatten(groups: &[Group]) -> BTreeSet<LabelSet> {
    let mut out = BTreeSet::new();
    for g in groups {
        for t in &g.targets {
            let mut set: LabelSet = t.iter().map(|l| (l.name.clone(), l.value.clone())).collect();
            for l in &g.labels {
                set.entry(l.name.clone()).or_insert_with(|| l.value.clone());
            }
            set.retain(|_, v| !v.is_empty());
            out.insert(set);
        }
    }
    out
}

fn golden(text: &str) -> BTreeSet<LabelSet> {
    serde_json::from_str(text).expect("golden file is a JSON list of label sets")
}

fn items(list: &str) -> Vec<Value> {
    let v: Value = serde_json::from_str(list).expect("fixture JSON");
    v["items"].as_array().expect("items").clone()
}

fn our_pods() -> BTreeSet<LabelSet> {
    flatten(
        &items(PODS)
            .into_iter()
            .map(|p| pods::group(&serde_json::from_value(p).expect("pod")))
            .collect::<Vec<_>>(),
    )
}

fn our_nodes() -> BTreeSet<LabelSet> {
    let groups: Vec<Group> = items(NODES)
        .into_iter()
        .filter_map(|n| nodes::group(&serde_json::from_value(n).expect("node")))
        .collect();
    flatten(&groups)
}

/// The golden files come from fixtures/kubernetes/golden.py, a transliteration of Prometheus
/// 2.42's pod.go and node.go (Debian's Prometheus is built without kubernetes_sd_configs, so
/// no real Prometheus here can discover from the test API server).
#[test]
fn pod_and_node_labels_equal_prometheus_golden_files() {
    let pods = our_pods();
    assert_eq!(pods.len(), 18, "targets from the pod fixtures: one per port, init containers too");
    assert_eq!(pods, golden(include_str!("fixtures/kubernetes/pods.golden.json")));
    assert_eq!(our_nodes(), golden(include_str!("fixtures/kubernetes/nodes.golden.json")));
}

/// The dropped targets of `job` at a `/api/v1/targets` API, as discovered labels less the
/// ones the scrape config adds (job, scheme, path, interval, timeout).
fn discovered_at(port: u16, job: &str) -> Result<BTreeSet<LabelSet>, String> {
    let (status, body) = http_get(port, "/api/v1/targets?state=dropped").map_err(|e| e.to_string())?;
    if status != 200 {
        return Err(format!("targets API answered {status}"));
    }
    let v: Value = serde_json::from_str(&body).map_err(|e| e.to_string())?;
    let dropped = v["data"]["droppedTargets"].as_array().ok_or("no droppedTargets")?;
    let added = ["job", "__scheme__", "__metrics_path__", "__scrape_interval__", "__scrape_timeout__"];
    Ok(dropped
        .iter()
        .filter(|t| t["discoveredLabels"]["job"] == job)
        .map(|t| {
            let labels = t["discoveredLabels"].as_object().cloned().unwrap_or_default();
            labels
                .into_iter()
                .filter(|(k, _)| !added.contains(&k.as_str()))
                .map(|(k, v)| (k, v.as_str().unwrap_or("").to_owned()))
                .collect()
        })
        .collect())
}

/// vmagent (VictoriaMetrics' own Prometheus-compatible kubernetes_sd_configs), pointed at the
/// test API server with the client certificate; every target is dropped by relabeling, so
/// nothing is scraped and each shows under droppedTargets.
fn start_vmagent_on(api: &KubeApi) -> Child {
    let dir = TempDir::new("vmagent-k8s");
    for (name, pem) in [
        ("ca.crt", &api.pki.server_ca),
        ("client.crt", &api.pki.client_cert),
        ("client.key", &api.pki.client_key),
    ] {
        fs::write(dir.path().join(name), pem).expect("write pem");
    }
    let d = dir.path().display();
    let job = |name: &str, role: &str| {
        format!(
            "- job_name: {name}\n  kubernetes_sd_configs:\n  - role: {role}\n    api_server: {url}\n    tls_config:\n      ca_file: {d}/ca.crt\n      cert_file: {d}/client.crt\n      key_file: {d}/client.key\n  relabel_configs:\n  - action: drop\n    source_labels: [__address__]\n    regex: .*\n",
            url = api.url()
        )
    };
    let config = dir.path().join("scrape.yml");
    fs::write(&config, format!("scrape_configs:\n{}{}", job("pods", "pod"), job("nodes", "node")))
        .expect("config");
    let port = free_port();
    let mut command = Command::new(support::program(&["vmagent"]));
    command
        .arg(format!("-promscrape.config={}", config.display()))
        .arg(format!("-httpListenAddr=127.0.0.1:{port}"))
        .arg(format!("-remoteWrite.url=http://127.0.0.1:{}/api/v1/write", free_port()))
        .arg(format!("-remoteWrite.tmpDataPath={d}/queue"));
    let mut child = Child::spawn("vmagent", command, dir, port);
    child.wait_ready("/health");
    child
}

/// A second, independent implementation discovers the same labels from the same API server
/// (and so also checks the test server's list and watch against a real client). Debian 12's
/// vmagent 1.79 does not set `__meta_kubernetes_pod_container_id` and `_container_image`
/// (Prometheus 2.42 does; the golden files check them) and keeps empty values (Prometheus
/// drops them): both are left out of this comparison.
#[test]
fn vmagent_discovers_the_same_labels_from_the_test_api_server() {
    let api = KubeApi::start(Auth::ClientCert);
    api.apply_list(Kind::Pod, PODS);
    api.apply_list(Kind::Node, NODES);
    let (pods, nodes) = (our_pods(), our_nodes());
    let vmagent = start_vmagent_on(&api);
    let theirs_pods = poll_until(DISCOVER_WITHIN, "vmagent discovers every pod target", || {
        let found = discovered_at(vmagent.port, "pods")?;
        if found.len() == pods.len() { Ok(found) } else { Err(format!("{} targets", found.len())) }
    });
    let theirs_nodes = poll_until(DISCOVER_WITHIN, "vmagent discovers every node", || {
        let found = discovered_at(vmagent.port, "nodes")?;
        if found.len() == nodes.len() { Ok(found) } else { Err(format!("{} targets", found.len())) }
    });
    let vm_1_79 = |sets: BTreeSet<LabelSet>| -> BTreeSet<LabelSet> {
        let unknown = ["__meta_kubernetes_pod_container_id", "__meta_kubernetes_pod_container_image"];
        sets.into_iter()
            .map(|mut set| {
                set.retain(|k, v| !v.is_empty() && !unknown.contains(&k.as_str()));
                set
            })
            .collect()
    };
    assert_eq!(differences(&vm_1_79(pods), &vm_1_79(theirs_pods)), Vec::<String>::new());
    assert_eq!(differences(&vm_1_79(nodes), &vm_1_79(theirs_nodes)), Vec::<String>::new());
}

/// Each (target, label, value) in one set and not in the other, a target named by its address.
fn differences(ours: &BTreeSet<LabelSet>, theirs: &BTreeSet<LabelSet>) -> Vec<String> {
    let triples = |sets: &BTreeSet<LabelSet>| -> BTreeSet<(String, String, String)> {
        let mut out = BTreeSet::new();
        for set in sets {
            let target = format!(
                "{}/{}",
                set["__address__"],
                set.get("__meta_kubernetes_pod_container_port_name").map_or("", String::as_str)
            );
            for (k, v) in set {
                out.insert((target.clone(), k.clone(), v.clone()));
            }
        }
        out
    };
    let (a, b) = (triples(ours), triples(theirs));
    let only = |x: &BTreeSet<_>, y: &BTreeSet<_>, side: &str| -> Vec<String> {
        x.difference(y)
            .map(|(t, k, v): &(String, String, String)| format!("only {side}: {t} {k}={v:?}"))
            .collect()
    };
    let mut out = only(&a, &b, "ours");
    out.extend(only(&b, &a, "theirs"));
    out
}

// ---- list and watch against the test API server ----

/// Short timeouts so that a hanging watch is given up within seconds.
fn quick() -> Settings {
    Settings {
        list_timeout: Duration::from_secs(3),
        watch_timeout: Duration::from_secs(1),
        watch_grace: Duration::from_secs(1),
        min_backoff: Duration::from_millis(50),
        max_backoff: Duration::from_millis(300),
        service_account_dir: "/nonexistent".into(),
    }
}

/// A kubeconfig as K3s writes it, with the CA, client certificate and key inline.
fn k3s_yaml(api: &KubeApi, cert: &str, key: &str) -> String {
    let b64 = |pem: &str| base64::engine::general_purpose::STANDARD.encode(pem);
    format!(
        "apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: {}\n    server: {}\n  name: default\ncontexts:\n- context:\n    cluster: default\n    user: default\n  name: default\ncurrent-context: default\nkind: Config\npreferences: {{}}\nusers:\n- name: default\n  user:\n    client-certificate-data: {}\n    client-key-data: {}\n",
        b64(&api.pki.server_ca),
        api.url(),
        b64(cert),
        b64(key)
    )
}

fn sd_config(role: KubernetesRole, kubeconfig: &std::path::Path) -> KubernetesSdConfig {
    KubernetesSdConfig {
        role,
        api_server: None,
        kubeconfig_file: Some(kubeconfig.to_owned()),
        http_client: Default::default(),
        namespaces: vec![],
        own_namespace: false,
        label_selector: String::new(),
        field_selector: String::new(),
        other_selectors: vec![],
        attach_node: false,
        attach_namespace: false,
    }
}

/// A running provider and the groups it sent, applied as the agent applies them.
struct Discovered {
    rx: smol::channel::Receiver<outpost::discovery::Update>,
    groups: BTreeMap<String, Group>,
    sends: usize,
}

impl Discovered {
    fn start(config: KubernetesSdConfig, settings: Settings) -> Discovered {
        let (tx, rx) = smol::channel::unbounded();
        let updates = Updates { id: ProviderId(1), tx };
        std::thread::spawn(move || smol::block_on(watch::run(config, updates, settings)));
        Discovered { rx, groups: BTreeMap::new(), sends: 0 }
    }

    fn drain(&mut self) {
        while let Ok((_, groups)) = self.rx.try_recv() {
            self.sends += 1;
            for g in groups {
                if g.targets.is_empty() {
                    self.groups.remove(&g.source);
                } else {
                    self.groups.insert(g.source.clone(), g);
                }
            }
        }
    }

    fn addresses(&mut self) -> BTreeSet<String> {
        self.drain();
        self.groups
            .values()
            .flat_map(|g| g.targets.iter().map(|t| t.get("__address__").unwrap_or("").to_owned()))
            .collect()
    }

    /// Waits until the discovered addresses are exactly `want`.
    fn wait_for(&mut self, what: &str, want: &[&str]) {
        let want: BTreeSet<String> = want.iter().map(|s| (*s).to_owned()).collect();
        poll_until(Duration::from_secs(15), what, || {
            let got = self.addresses();
            if got == want { Ok(()) } else { Err(format!("{got:?}")) }
        });
    }
}

fn pod(namespace: &str, name: &str, ip: &str, node: &str) -> Value {
    serde_json::json!({
        "metadata": {"name": name, "namespace": namespace, "uid": format!("uid-{name}"), "labels": {"app": name},
                     "annotations": {"prometheus.io/scrape": "true"}},
        "spec": {"nodeName": node, "containers": [{"name": "app", "image": "app:1", "ports": [{"name": "metrics", "containerPort": 9100, "protocol": "TCP"}]}]},
        "status": {"phase": "Running", "podIP": ip, "hostIP": "192.168.1.50", "conditions": [{"type": "Ready", "status": "True"}]}
    })
}

/// Every pod target of the fixtures, by address.
const FIXTURE_ADDRESSES: [&str; 18] = [
    "10.42.0.2",
    "10.42.0.3:10250",
    "10.42.0.4:53",
    "10.42.0.4:9153",
    "10.42.0.6",
    "10.42.0.8:8000",
    "10.42.0.8:8443",
    "10.42.0.8:9000",
    "10.42.0.8:9100",
    "10.42.0.9:443",
    "10.42.0.9:80",
    "10.42.1.17",
    "10.42.1.17:7070",
    "10.42.1.17:8080",
    "10.42.1.17:9102",
    "10.42.1.17:9125",
    "fd00:42:1::22",
    "",
];

fn fixture_addresses_and(extra: &[&'static str]) -> Vec<&'static str> {
    // The coredns pod has two targets on 10.42.0.4:53 (UDP and TCP): one address.
    let mut all: Vec<&str> = FIXTURE_ADDRESSES.iter().copied().filter(|a| !a.is_empty()).collect();
    all.extend(extra);
    all
}

#[test]
fn pods_are_listed_then_watched_with_bookmarks() {
    let api = KubeApi::start(Auth::ClientCert);
    api.apply_list(Kind::Pod, PODS);
    let dir = TempDir::new("kube-watch");
    let kubeconfig = dir.path().join("k3s.yaml");
    fs::write(&kubeconfig, k3s_yaml(&api, &api.pki.client_cert, &api.pki.client_key)).expect("k3s.yaml");
    let mut d = Discovered::start(sd_config(KubernetesRole::Pod, &kubeconfig), quick());
    d.wait_for("the fixtures' pods are listed", &fixture_addresses_and(&[]));

    api.apply(Kind::Pod, pod("apps", "new", "10.42.1.30", "edge-02"));
    d.wait_for("an added pod appears", &fixture_addresses_and(&["10.42.1.30:9100"]));
    api.apply(Kind::Pod, pod("apps", "new", "10.42.1.31", "edge-02"));
    d.wait_for("a modified pod moves", &fixture_addresses_and(&["10.42.1.31:9100"]));
    api.delete(Kind::Pod, "apps", "new");
    d.wait_for("a deleted pod goes", &fixture_addresses_and(&[]));

    // A bookmark moves the resourceVersion the next watch starts from.
    let rv = api.bookmark(Kind::Pod);
    let from_bookmark = format!("resourceVersion={rv}&");
    poll_until(Duration::from_secs(15), "a watch resumes from the bookmark", || {
        let requests = api.requests();
        if requests.iter().any(|r| r.contains("watch=true") && r.contains(&from_bookmark)) {
            Ok(())
        } else {
            Err(format!("{:?}", requests.last()))
        }
    });
    let requests = api.requests();
    assert!(requests[0].starts_with("GET /api/v1/pods?resourceVersion=0"), "{requests:?}");
    assert!(
        requests.iter().filter(|r| r.contains("watch=true")).all(|r| r.contains("allowWatchBookmarks=true")),
        "{requests:?}"
    );
    assert_eq!(requests.iter().filter(|r| !r.contains("watch=true")).count(), 1, "listed once: {requests:?}");
}

#[test]
fn an_expired_resource_version_relists_in_stream_and_over_http() {
    let api = KubeApi::start(Auth::ClientCert);
    api.apply(Kind::Pod, pod("apps", "a", "10.42.1.1", "edge-01"));
    api.apply(Kind::Pod, pod("apps", "b", "10.42.1.2", "edge-01"));
    let dir = TempDir::new("kube-410");
    let kubeconfig = dir.path().join("k3s.yaml");
    fs::write(&kubeconfig, k3s_yaml(&api, &api.pki.client_cert, &api.pki.client_key)).expect("k3s.yaml");
    let mut d = Discovered::start(sd_config(KubernetesRole::Pod, &kubeconfig), quick());
    d.wait_for("listed", &["10.42.1.1:9100", "10.42.1.2:9100"]);
    let lists = |api: &KubeApi| api.requests().iter().filter(|r| !r.contains("watch=true")).count();

    // In-stream ERROR 410, and the history is gone: only a relist learns that b was deleted.
    api.expire_watches();
    api.delete(Kind::Pod, "apps", "b");
    api.compact();
    d.wait_for("b is gone after the relist", &["10.42.1.1:9100"]);
    assert_eq!(lists(&api), 2);
    let requests = api.requests();
    assert_eq!(
        requests.iter().filter(|r| r.as_str() == "GET /api/v1/pods?").count(),
        1,
        "a fresh list: {requests:?}"
    );

    // HTTP 410 to the next watch.
    api.fault(Fault::Gone);
    api.apply(Kind::Pod, pod("apps", "c", "10.42.1.3", "edge-01"));
    d.wait_for("c appears", &["10.42.1.1:9100", "10.42.1.3:9100"]);
    poll_until(Duration::from_secs(15), "a relist after HTTP 410", || {
        if lists(&api) == 3 { Ok(()) } else { Err(format!("{} lists", lists(&api))) }
    });
}

#[test]
fn namespaces_and_selectors_narrow_the_watch() {
    let api = KubeApi::start(Auth::ClientCert);
    api.apply_list(Kind::Pod, PODS);
    let dir = TempDir::new("kube-ns");
    let kubeconfig = dir.path().join("k3s.yaml");
    fs::write(&kubeconfig, k3s_yaml(&api, &api.pki.client_cert, &api.pki.client_key)).expect("k3s.yaml");
    let mut config = sd_config(KubernetesRole::Pod, &kubeconfig);
    config.namespaces = vec!["apps".into(), "default".into()];
    config.field_selector = "spec.nodeName=edge-02".into();
    config.label_selector = "app=web".into();
    let mut d = Discovered::start(config, quick());
    d.wait_for(
        "web pods on edge-02 in apps",
        &["10.42.1.17", "10.42.1.17:7070", "10.42.1.17:8080", "10.42.1.17:9102", "10.42.1.17:9125"],
    );
    api.apply(Kind::Pod, pod("kube-system", "web", "10.42.1.40", "edge-02"));
    api.apply(Kind::Pod, pod("default", "web", "10.42.1.41", "edge-02"));
    d.wait_for(
        "a matching pod in default, none from kube-system",
        &[
            "10.42.1.17",
            "10.42.1.17:7070",
            "10.42.1.17:8080",
            "10.42.1.17:9102",
            "10.42.1.17:9125",
            "10.42.1.41:9100",
        ],
    );
    let requests = api.requests();
    assert!(requests.iter().any(|r| r.starts_with("GET /api/v1/namespaces/apps/pods?resourceVersion=0&labelSelector=app%3Dweb&fieldSelector=spec.nodeName%3Dedge-02")), "{requests:?}");
    assert!(requests.iter().all(|r| !r.starts_with("GET /api/v1/pods")), "{requests:?}");
}

#[test]
fn nodes_through_api_server_and_tls_config() {
    let api = KubeApi::start(Auth::ClientCert);
    api.apply_list(Kind::Node, NODES);
    let dir = TempDir::new("kube-nodes");
    for (name, pem) in [
        ("ca.crt", &api.pki.server_ca),
        ("client.crt", &api.pki.client_cert),
        ("client.key", &api.pki.client_key),
    ] {
        fs::write(dir.path().join(name), pem).expect("pem");
    }
    let mut config = sd_config(KubernetesRole::Node, dir.path());
    config.kubeconfig_file = None;
    config.api_server = Some(api.url());
    config.http_client.tls = TlsConfig {
        ca: Some(Pem::File(dir.path().join("ca.crt"))),
        cert: Some(Pem::File(dir.path().join("client.crt"))),
        key: Some(Pem::File(dir.path().join("client.key"))),
        ..TlsConfig::default()
    };
    let mut d = Discovered::start(config, quick());
    d.wait_for("three kubelets", &["192.168.1.50:10250", "192.168.1.51:10250", "[fd00::60]:10250"]);
    d.drain();
    assert_eq!(d.groups["node/edge-02"].targets[0].get("instance"), Some("edge-02"));
}

// ---- bad input: logged with the cause, retried, known targets stay ----

static LOGGED: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Keeps every log line of this test binary, to check that causes are named.
struct Capture;

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }
    fn log(&self, record: &log::Record) {
        let line = format!("{} {}", record.level(), record.args());
        LOGGED.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(line);
    }
    fn flush(&self) {}
}

fn capture_logs() {
    if log::set_logger(&Capture).is_ok() {
        log::set_max_level(log::LevelFilter::Info);
    }
}

/// Waits for a log line holding every one of `parts`.
fn wait_logged(what: &str, parts: &[&str]) -> String {
    poll_until(Duration::from_secs(15), what, || {
        let lines = LOGGED.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        lines
            .iter()
            .find(|l| parts.iter().all(|p| l.contains(p)))
            .cloned()
            .ok_or_else(|| format!("{} lines, none with {parts:?}", lines.len()))
    })
}

#[test]
fn malformed_json_unknown_events_and_hanging_or_empty_watches_are_survived() {
    capture_logs();
    let api = KubeApi::start(Auth::ClientCert);
    api.apply(Kind::Pod, pod("bad", "a", "10.42.2.1", "edge-01"));
    let dir = TempDir::new("kube-bad");
    let kubeconfig = dir.path().join("k3s.yaml");
    fs::write(&kubeconfig, k3s_yaml(&api, &api.pki.client_cert, &api.pki.client_key)).expect("k3s.yaml");
    let mut config = sd_config(KubernetesRole::Pod, &kubeconfig);
    config.namespaces = vec!["bad".into()];
    let mut d = Discovered::start(config, quick());
    d.wait_for("listed", &["10.42.2.1:9100"]);

    api.fault(Fault::MalformedEvent);
    wait_logged(
        "a cut watch event is logged with its cause",
        &["namespace bad", "watch event: EOF while parsing"],
    );
    api.apply(Kind::Pod, pod("bad", "b", "10.42.2.2", "edge-01"));
    d.wait_for("watching again after the malformed event", &["10.42.2.1:9100", "10.42.2.2:9100"]);

    api.fault(Fault::UnknownEvent);
    wait_logged("an unknown event type is logged", &["namespace bad", "unknown type \"FROBNICATED\""]);
    api.apply(Kind::Pod, pod("bad", "c", "10.42.2.3", "edge-01"));
    d.wait_for("the stream goes on", &["10.42.2.1:9100", "10.42.2.2:9100", "10.42.2.3:9100"]);

    api.fault(Fault::MalformedList);
    api.expire_watches();
    wait_logged("a malformed list is logged", &["namespace bad", "list: EOF while parsing"]);
    assert_eq!(d.addresses().len(), 3, "known targets stay while the list fails");
    api.apply(Kind::Pod, pod("bad", "d", "10.42.2.4", "edge-01"));
    d.wait_for("listed again", &["10.42.2.1:9100", "10.42.2.2:9100", "10.42.2.3:9100", "10.42.2.4:9100"]);

    api.fault(Fault::EndWatch);
    wait_logged("a watch that ends at once is a failure", &["namespace bad", "very short watch"]);

    api.fault(Fault::HangWatch);
    wait_logged("a watch that hangs is given up", &["namespace bad", "the watch hung: not ended within"]);
    api.apply(Kind::Pod, pod("bad", "e", "10.42.2.5", "edge-01"));
    d.wait_for(
        "watching again after the hang",
        &["10.42.2.1:9100", "10.42.2.2:9100", "10.42.2.3:9100", "10.42.2.4:9100", "10.42.2.5:9100"],
    );
}

#[test]
fn an_expired_certificate_is_refused_until_the_kubeconfig_is_fixed() {
    capture_logs();
    let api = KubeApi::start(Auth::ClientCert);
    api.apply(Kind::Pod, pod("certs", "a", "10.42.3.1", "edge-01"));
    let dir = TempDir::new("kube-cert");
    let kubeconfig = dir.path().join("k3s.yaml");
    fs::write(&kubeconfig, k3s_yaml(&api, &api.pki.expired_cert, &api.pki.expired_key)).expect("k3s.yaml");
    let mut config = sd_config(KubernetesRole::Pod, &kubeconfig);
    config.namespaces = vec!["certs".into()];
    let mut d = Discovered::start(config, quick());
    let line = wait_logged("the refused handshake is logged", &["namespace certs", "list https://127.0.0.1"]);
    assert!(line.contains("received fatal alert: CertificateExpired"), "the server's reason: {line}");
    assert_eq!(d.addresses().len(), 0);
    // K3s rotates its certificates and rewrites k3s.yaml: read again on the next try.
    fs::write(&kubeconfig, k3s_yaml(&api, &api.pki.client_cert, &api.pki.client_key)).expect("k3s.yaml");
    d.wait_for("discovery works with the new certificate", &["10.42.3.1:9100"]);
}

#[test]
fn a_401_reads_the_token_again() {
    capture_logs();
    let api = KubeApi::start(Auth::Token);
    api.set_token("fresh-token");
    api.apply(Kind::Pod, pod("tokens", "a", "10.42.4.1", "edge-01"));
    let dir = TempDir::new("kube-token");
    let token = dir.path().join("token");
    fs::write(&token, "stale-token\n").expect("token");
    fs::write(dir.path().join("ca.crt"), &api.pki.server_ca).expect("ca");
    let kubeconfig = dir.path().join("kubeconfig");
    let text = format!(
        "current-context: c\nclusters: [{{name: k, cluster: {{server: '{}', certificate-authority: ca.crt}}}}]\ncontexts: [{{name: c, context: {{cluster: k, user: u}}}}]\nusers: [{{name: u, user: {{tokenFile: token}}}}]\n",
        api.url()
    );
    fs::write(&kubeconfig, text).expect("kubeconfig");
    let mut config = sd_config(KubernetesRole::Pod, &kubeconfig);
    config.namespaces = vec!["tokens".into()];
    let mut d = Discovered::start(config, quick());
    wait_logged("the 401 is logged", &["namespace tokens", "HTTP 401", "reading the credentials again"]);
    fs::write(&token, "fresh-token\n").expect("token");
    d.wait_for("the new token works", &["10.42.4.1:9100"]);
    api.fault(Fault::Unauthorized);
    api.apply(Kind::Pod, pod("tokens", "b", "10.42.4.2", "edge-01"));
    d.wait_for("a later 401 is recovered from", &["10.42.4.1:9100", "10.42.4.2:9100"]);
}

/// On reload (SIGHUP calls `reload_credentials`) a running watcher reads its token again
/// before its next request, without waiting for a 401.
#[test]
fn a_reload_reads_the_credentials_again_without_an_auth_failure() {
    let api = KubeApi::start(Auth::Token);
    api.set_token("token-one");
    api.add_token("token-two");
    api.apply(Kind::Pod, pod("reload", "a", "10.42.5.1", "edge-01"));
    let dir = TempDir::new("kube-reload");
    let token = dir.path().join("token");
    fs::write(&token, "token-one\n").expect("token");
    fs::write(dir.path().join("ca.crt"), &api.pki.server_ca).expect("ca");
    let kubeconfig = dir.path().join("kubeconfig");
    let text = format!(
        "current-context: c\nclusters: [{{name: k, cluster: {{server: '{}', certificate-authority: ca.crt}}}}]\ncontexts: [{{name: c, context: {{cluster: k, user: u}}}}]\nusers: [{{name: u, user: {{tokenFile: token}}}}]\n",
        api.url()
    );
    fs::write(&kubeconfig, text).expect("kubeconfig");
    let mut config = sd_config(KubernetesRole::Pod, &kubeconfig);
    config.namespaces = vec!["reload".into()];
    let mut d = Discovered::start(config, quick());
    d.wait_for("listed with the first token", &["10.42.5.1:9100"]);
    fs::write(&token, "token-two\n").expect("token");
    // Watches end every 1-2 s here: two more requests still carry the old token.
    let seen = api.authorizations().len();
    poll_until(Duration::from_secs(15), "two more requests", || {
        if api.authorizations().len() >= seen + 2 { Ok(()) } else { Err("not yet".into()) }
    });
    assert!(api.authorizations().iter().all(|a| a == "Bearer token-one"), "no 401, no re-read");
    watch::reload_credentials();
    poll_until(Duration::from_secs(15), "a request with the new token", || {
        let auths = api.authorizations();
        if auths.last().is_some_and(|a| a == "Bearer token-two") {
            Ok(())
        } else {
            Err(format!("{:?}", auths.last()))
        }
    });
    assert_eq!(d.addresses().len(), 1, "the target stays");
}
