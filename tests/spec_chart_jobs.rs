//! The prometheus-community `prometheus` chart's default scrape jobs, imported from the
//! chart's values (`outpost import --helm`, shared/fixtures) and run by outpost against the
//! in-test Kubernetes API server, a real node_exporter, a real blackbox exporter and a real
//! Pushgateway, delivering to a real Prometheus: every job's targets come up with the labels
//! the job promises (namespace, service, node, pod, the labelmaps, instance).
//!
//! Translated for the test, each named where it is done ([`translate`]): the in-cluster
//! service account becomes the test API server's address, CA and token in every
//! `kubernetes_sd_configs`; `kubernetes.default.svc:443` is that server; `localhost:9090` the
//! receiving Prometheus; the `blackbox` address a real blackbox exporter; Service DNS names
//! (`<service>.<namespace>.svc:<port>`, no cluster DNS here) 127.0.0.1:<port>; intervals of
//! 1m and 5m are 1s. Everything else is the chart's, rule for rule.

mod support;

use std::collections::BTreeMap;
use std::fs;
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};
use support::kube::{Auth, Kind, KubeApi};
use support::{Child, LabelSet, TempDir, free_port, poll_until, query, series_labels};

const VALUES: &str = "../shared/fixtures/prometheus-configs/helm-prometheus-chart-values.yaml";
const TOKEN: &str = "chart-jobs-token";

/// The chart's values, from the shared fixtures (beside the repository or in it).
fn values_path() -> std::path::PathBuf {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let beside = root.join("..").join(VALUES.trim_start_matches("../"));
    [beside, root.join(VALUES)].into_iter().find(|p| p.exists()).unwrap_or_else(|| {
        panic!(
            "the chart's values file {VALUES} is missing: the shared fixtures must be beside the repository"
        )
    })
}

/// The imported TOML with the test's translations (module docs), each checked to apply.
fn translate(toml: &str, api: &KubeApi, dir: &TempDir, receiver: u16, blackbox: u16) -> String {
    let sa = "/var/run/secrets/kubernetes.io/serviceaccount";
    let mut out = toml.to_owned();
    let mut replace = |from: &str, to: &str, what: &str| {
        assert!(out.contains(from), "{what}: {from:?} is not in the import any more");
        out = out.replace(from, to);
    };
    let (ca, token) = (dir.path().join("ca.crt"), dir.path().join("token"));
    replace(&format!("{sa}/ca.crt"), &ca.display().to_string(), "the service account's CA");
    replace(&format!("{sa}/token"), &token.display().to_string(), "the service account's token");
    let access = format!(
        "api_server = {:?}\nbearer_token_file = {:?}\ntls_config = {{ ca_file = {:?} }}\n",
        api.url(),
        token.display().to_string(),
        ca.display().to_string()
    );
    for role in ["endpoints", "node", "service", "pod"] {
        let line = format!("role = \"{role}\"\n");
        replace(&line, &format!("{line}{access}"), "in-cluster discovery");
    }
    replace("kubernetes.default.svc:443", &format!("127.0.0.1:{}", api.port), "the API server's Service");
    replace("\"localhost:9090\"", &format!("\"127.0.0.1:{receiver}\""), "Prometheus's own job");
    replace("replacement = \"blackbox\"", &format!("replacement = \"127.0.0.1:{blackbox}\""), "blackbox");
    replace("scrape_interval = \"1m\"", "scrape_interval = \"1s\"", "global interval");
    replace("scrape_timeout = \"10s\"", "scrape_timeout = \"1s\"", "global timeout");
    replace("scrape_interval = \"5m\"", "scrape_interval = \"1s\"", "the slow jobs' interval");
    replace("scrape_timeout = \"30s\"", "scrape_timeout = \"1s\"", "the slow jobs' timeout");
    replace(
        "url = \"http://127.0.0.1:9090/api/v1/write\"",
        &format!("url = \"http://127.0.0.1:{receiver}/api/v1/write\""),
        "the receiver",
    );
    // No cluster DNS: a Service's name is 127.0.0.1, rewritten before the chart's own rules.
    let dns = "[[scrape_configs.relabel_configs]]\nsource_labels = [\"__address__\"]\nregex = '[^:]+\\.svc:(\\d+)'\ntarget_label = \"__address__\"\nreplacement = \"127.0.0.1:$1\"\n\n";
    let mut jobs: Vec<String> = out.split("[[scrape_configs]]\n").map(str::to_owned).collect();
    let mut rewritten = 0;
    for job in jobs.iter_mut().filter(|j| j.contains("role = \"service\"")) {
        *job = job.replacen(
            "[[scrape_configs.relabel_configs]]\n",
            &format!("{dns}[[scrape_configs.relabel_configs]]\n"),
            1,
        );
        rewritten += 1;
    }
    assert_eq!(rewritten, 2, "the chart has two service-role jobs (pushgateway, services)");
    jobs.join("[[scrape_configs]]\n")
}

fn node() -> Value {
    json!({"metadata": {"name": "edge-01", "uid": "n1",
                        "labels": {"kubernetes.io/hostname": "edge-01", "node-role.kubernetes.io/edge": "true"}},
           "status": {"addresses": [{"type": "InternalIP", "address": "127.0.0.1"}, {"type": "Hostname", "address": "edge-01"}],
                      "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}}}})
}

fn service(ns: &str, name: &str, port: u16, labels: Value, annotations: Value) -> Value {
    json!({"metadata": {"name": name, "namespace": ns, "uid": format!("s-{name}"), "labels": labels, "annotations": annotations},
           "spec": {"type": "ClusterIP", "clusterIP": "10.43.0.10", "ports": [{"name": "metrics", "port": port, "protocol": "TCP"}]}})
}

/// Endpoints of `ns/name` at 127.0.0.1:`port`, port named `port_name`, the address backed
/// by pod `pod` when given.
fn endpoints(ns: &str, name: &str, port_name: &str, port: u16, pod: Option<&str>) -> Value {
    let mut address = json!({"ip": "127.0.0.1", "nodeName": "edge-01"});
    if let Some(pod) = pod {
        address["targetRef"] = json!({"kind": "Pod", "namespace": ns, "name": pod});
    }
    json!({"metadata": {"name": name, "namespace": ns},
           "subsets": [{"addresses": [address], "ports": [{"name": port_name, "port": port, "protocol": "TCP"}]}]})
}

fn pod(ns: &str, name: &str, phase: &str, labels: Value, annotations: Value, port: u16) -> Value {
    json!({"metadata": {"name": name, "namespace": ns, "uid": format!("p-{name}"), "labels": labels, "annotations": annotations},
           "spec": {"nodeName": "edge-01", "containers": [{"name": "main", "image": "x:1", "ports": [
               {"name": "metrics", "containerPort": port, "protocol": "TCP"}]}]},
           "status": {"phase": phase, "podIP": "127.0.0.1", "hostIP": "127.0.0.1"}})
}

/// The cluster: one node; the API server's own Service; a node-exporter Service (annotated
/// for the service-endpoints job, backed by a pod); one for the slow job; one probed through
/// blackbox; the Pushgateway's; an annotated Running pod, the same Pending (dropped), a slow pod.
fn apply_cluster(api: &KubeApi, exporter: u16, pushgateway: u16) {
    api.apply(Kind::Node, node());
    api.apply(
        Kind::Service,
        service("default", "kubernetes", 443, json!({"component": "apiserver"}), json!({})),
    );
    api.apply(Kind::Endpoints, endpoints("default", "kubernetes", "https", api.port, None));
    let scrape = json!({"prometheus.io/scrape": "true", "prometheus.io/port": exporter.to_string()});
    let labels = json!({"app.kubernetes.io/name": "node-exporter"});
    api.apply(Kind::Service, service("monitoring", "node-exporter", 9100, labels.clone(), scrape.clone()));
    api.apply(
        Kind::Endpoints,
        endpoints("monitoring", "node-exporter", "metrics", 9100, Some("node-exporter-x7k2p")),
    );
    api.apply(Kind::Pod, pod("monitoring", "node-exporter-x7k2p", "Running", labels, json!({}), 9100));
    let slow = json!({"prometheus.io/scrape_slow": "true", "prometheus.io/port": exporter.to_string()});
    api.apply(
        Kind::Service,
        service("monitoring", "slow-exporter", 9100, json!({"tier": "slow"}), slow.clone()),
    );
    api.apply(Kind::Endpoints, endpoints("monitoring", "slow-exporter", "metrics", 9100, None));
    let probe = json!({"prometheus.io/probe": "true"});
    api.apply(Kind::Service, service("apps", "web", exporter, json!({"app": "web"}), probe));
    let pushed = json!({"prometheus.io/probe": "pushgateway"});
    api.apply(
        Kind::Service,
        service("monitoring", "pushgateway", pushgateway, json!({"app": "pushgateway"}), pushed),
    );
    api.apply(Kind::Pod, pod("apps", "web-1", "Running", json!({"app": "web"}), scrape.clone(), exporter));
    api.apply(Kind::Pod, pod("apps", "web-2", "Pending", json!({"app": "web"}), scrape, exporter));
    api.apply(Kind::Pod, pod("apps", "batch-1", "Running", json!({"app": "batch"}), slow, exporter));
}

fn start_blackbox(dir: &TempDir) -> Child {
    let config = dir.path().join("blackbox.yml");
    fs::write(&config, "modules:\n  http_2xx:\n    prober: http\n    timeout: 1s\n").expect("blackbox.yml");
    let port = free_port();
    let mut command = Command::new(support::program(&["prometheus-blackbox-exporter", "blackbox_exporter"]));
    command
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"));
    let mut child = Child::spawn("blackbox", command, TempDir::new("blackbox"), port);
    child.wait_ready("/metrics");
    child
}

fn start_pushgateway() -> Child {
    let port = free_port();
    let mut command = Command::new(support::program(&["prometheus-pushgateway", "pushgateway"]));
    command.arg(format!("--web.listen-address=127.0.0.1:{port}"));
    let mut child = Child::spawn("pushgateway", command, TempDir::new("pushgateway"), port);
    child.wait_ready("/-/ready");
    child
}

/// The series of `selector` in the receiver, by `instance` (or the whole set when absent).
fn series(receiver: u16, selector: &str) -> Result<Vec<LabelSet>, String> {
    Ok(query(receiver, selector)?.iter().map(series_labels).collect())
}

/// The one series of `selector` whose value is 1, with its labels; Err while not there.
fn one_up(receiver: u16, selector: &str) -> Result<LabelSet, String> {
    let found = query(receiver, selector)?;
    match found.as_slice() {
        [one] if support::series_value(one) == Some(1.0) => Ok(series_labels(one)),
        _ => Err(format!("{selector}: {found:?}")),
    }
}

fn labels(set: &LabelSet, keys: &[&str]) -> BTreeMap<String, String> {
    keys.iter().map(|k| ((*k).to_owned(), set.get(*k).cloned().unwrap_or_default())).collect()
}

fn want(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

#[test]
fn the_charts_default_jobs_deliver_the_labels_they_promise() {
    let api = KubeApi::start(Auth::Token);
    api.set_token(TOKEN);
    let exporter = support::start_node_exporter();
    let receiver = support::start_prometheus();
    let dir = TempDir::new("chart-jobs");
    fs::write(dir.path().join("ca.crt"), &api.pki.server_ca).expect("ca.crt");
    fs::write(dir.path().join("token"), TOKEN).expect("token");
    let blackbox = start_blackbox(&dir);
    let pushgateway = start_pushgateway();
    // Something pushed, so honor_labels shows: its job label survives the scrape.
    let (code, body) = support::http_request(
        pushgateway.port,
        "POST",
        "/metrics/job/edge-batch",
        &[],
        b"edge_batch_last_success_timestamp_seconds 1700000000\n",
    )
    .expect("push");
    assert_eq!(code, 200, "{body}");
    api.proxy("/metrics", exporter.port, "/metrics");
    for page in ["metrics", "metrics/cadvisor"] {
        api.proxy(&format!("/api/v1/nodes/edge-01/proxy/{page}"), exporter.port, "/metrics");
    }
    apply_cluster(&api, exporter.port, pushgateway.port);

    let out = dir.path().join("imported.toml");
    let status = support::outpost_command()
        .args(["import", "--helm", "--keep-going"])
        .arg(values_path())
        .arg("-o")
        .arg(&out)
        .output()
        .expect("outpost import");
    // Exit 2 (some parts left out: rule_files, and no remote_write in a server's values) or 1
    // (written, but the in-cluster paths do not exist here); the file is written either way.
    let toml = fs::read_to_string(&out).unwrap_or_else(|e| {
        panic!("import wrote nothing ({e}): {}", String::from_utf8_lossy(&status.stderr))
    });
    let config = translate(&toml, &api, &dir, receiver.port, blackbox.port);
    let _outpost = support::start_outpost(&config);

    let r = receiver.port;
    let within = Duration::from_secs(60);
    let exporter_at = format!("127.0.0.1:{}", exporter.port);
    let up = |selector: &str| poll_until(within, selector, || one_up(r, &format!("up{{{selector}}}")));

    let own = up(r#"job="prometheus""#);
    assert_eq!(own["instance"], format!("127.0.0.1:{r}"));

    let apiservers = up(r#"job="kubernetes-apiservers""#);
    assert_eq!(
        apiservers["instance"],
        format!("127.0.0.1:{}", api.port),
        "the https endpoint of default/kubernetes"
    );

    for job in ["kubernetes-nodes", "kubernetes-nodes-cadvisor"] {
        let node = up(&format!(r#"job="{job}""#));
        let keys = ["instance", "kubernetes_io_hostname", "node_role_kubernetes_io_edge"];
        assert_eq!(
            labels(&node, &keys),
            want(&[
                ("instance", "edge-01"),
                ("kubernetes_io_hostname", "edge-01"),
                ("node_role_kubernetes_io_edge", "true")
            ]),
            "{job}: {node:?}"
        );
    }
    let paths: Vec<String> = api.requests().into_iter().filter(|r| r.contains("/proxy/")).collect();
    assert!(paths.iter().any(|p| p.ends_with("/api/v1/nodes/edge-01/proxy/metrics")), "{paths:?}");
    assert!(paths.iter().any(|p| p.ends_with("/api/v1/nodes/edge-01/proxy/metrics/cadvisor")), "{paths:?}");
    let bearer = format!("Bearer {TOKEN}");
    assert!(
        api.authorizations().iter().all(|a| *a == bearer),
        "every request, scrapes too, carries the token"
    );

    // Service endpoints: the port from the annotation, the service's labels mapped, the node
    // from the endpoint's pod.
    let keys = ["instance", "namespace", "service", "node", "app_kubernetes_io_name"];
    let endpoints = up(r#"job="kubernetes-service-endpoints""#);
    assert_eq!(
        labels(&endpoints, &keys),
        want(&[
            ("instance", &exporter_at),
            ("namespace", "monitoring"),
            ("service", "node-exporter"),
            ("node", "edge-01"),
            ("app_kubernetes_io_name", "node-exporter")
        ])
    );
    let slow = up(r#"job="kubernetes-service-endpoints-slow""#);
    assert_eq!(
        labels(&slow, &["instance", "namespace", "service", "tier", "node"]),
        want(&[
            ("instance", &exporter_at),
            ("namespace", "monitoring"),
            ("service", "slow-exporter"),
            ("tier", "slow"),
            ("node", "")
        ]),
        "no pod behind it: no node"
    );

    // Probed through blackbox: the target as a parameter, instance the probed address (here
    // 127.0.0.1:<port>; in a cluster <service>.<namespace>.svc:<port>).
    let probed = up(r#"job="kubernetes-services""#);
    assert_eq!(
        labels(&probed, &["instance", "namespace", "service", "app"]),
        want(&[("instance", &exporter_at), ("namespace", "apps"), ("service", "web"), ("app", "web")])
    );
    poll_until(within, "blackbox's probe of the service succeeded", || {
        one_up(r, r#"probe_success{job="kubernetes-services"}"#)
    });

    let pushgateway_up = up(r#"job="prometheus-pushgateway""#);
    assert_eq!(pushgateway_up["instance"], format!("127.0.0.1:{}", pushgateway.port));
    let pushed = poll_until(within, "the pushed series, its job label honoured", || {
        match series(r, "edge_batch_last_success_timestamp_seconds")?.as_slice() {
            [one] => Ok(one.clone()),
            other => Err(format!("{other:?}")),
        }
    });
    assert_eq!(pushed["job"], "edge-batch", "honor_labels keeps the pushed job: {pushed:?}");

    let pods = up(r#"job="kubernetes-pods""#);
    assert_eq!(
        labels(&pods, &["instance", "namespace", "pod", "node", "app"]),
        want(&[
            ("instance", &exporter_at),
            ("namespace", "apps"),
            ("pod", "web-1"),
            ("node", "edge-01"),
            ("app", "web")
        ])
    );
    let batch = up(r#"job="kubernetes-pods-slow""#);
    assert_eq!(
        labels(&batch, &["namespace", "pod", "app"]),
        want(&[("namespace", "apps"), ("pod", "batch-1"), ("app", "batch")])
    );
    // The Pending pod is dropped by the chart's phase rule: one pod target, never web-2.
    let every_pod = series(r, r#"up{job=~"kubernetes-pods.*"}"#).expect("query");
    assert!(every_pod.iter().all(|l| l["pod"] != "web-2"), "{every_pod:?}");
    assert_eq!(every_pod.len(), 2, "{every_pod:?}");
}
