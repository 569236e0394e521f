//! Kubernetes discovery (SPEC, "Kubernetes pod discovery") against the in-test API server
//! (support/kube.rs). The golden tests point a real Prometheus at the same server, fed the
//! K3s fixtures, and require outpost's target labels to equal Prometheus's discoveredLabels.

mod support;

use std::collections::BTreeSet;
use std::fs;
use std::time::Duration;

use outpost::discovery::Group;
use outpost::discovery::kubernetes::{nodes, pods};
use serde_json::Value;
use std::process::Command;
use support::kube::{Auth, Kind, KubeApi};
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
