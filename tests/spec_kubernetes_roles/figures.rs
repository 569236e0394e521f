//! Figure: memory per watched object.

use super::*;

/// `n` pods of `per_service` each behind a Service with its EndpointSlice, K3s-sized
/// (labels, annotations, owner references, two container ports).
fn cluster(api: &KubeApi, n: usize, per_service: usize) {
    for i in 0..n {
        let ip = format!("10.42.{}.{}", i / 250, i % 250 + 2);
        let svc = format!("app-{}", i / per_service);
        api.apply(Kind::Pod, json!({
            "metadata": {"name": format!("{svc}-7d4b9c8f6d-{i:05}"), "namespace": "apps", "uid": format!("uid-{i:08}"),
                         "labels": {"app": svc, "pod-template-hash": "7d4b9c8f6d", "app.kubernetes.io/part-of": "shop"},
                         "annotations": {"prometheus.io/scrape": "true", "prometheus.io/port": "9102"},
                         "ownerReferences": [{"kind": "ReplicaSet", "name": format!("{svc}-7d4b9c8f6d"), "controller": true}]},
            "spec": {"nodeName": format!("edge-{:02}", i % 3), "containers": [
                {"name": "app", "image": "registry.example.com/shop/app:1.4.2", "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]},
                {"name": "exporter", "image": "quay.io/prometheus/statsd-exporter:v0.26.0", "ports": [{"name": "metrics", "containerPort": 9102, "protocol": "TCP"}]}]},
            "status": {"phase": "Running", "podIP": ip, "hostIP": "192.168.1.50",
                       "conditions": [{"type": "Ready", "status": "True"}],
                       "containerStatuses": [{"name": "app", "containerID": format!("containerd://{i:064}")}]}}));
    }
    for s in 0..n.div_ceil(per_service) {
        let svc = format!("app-{s}");
        api.apply(Kind::Service, json!({
            "metadata": {"name": svc, "namespace": "apps", "labels": {"app": svc},
                         "annotations": {"prometheus.io/scrape": "true", "prometheus.io/port": "9102"}},
            "spec": {"type": "ClusterIP", "clusterIP": format!("10.43.{}.{}", s / 250, s % 250 + 1),
                     "ports": [{"name": "http", "port": 80, "protocol": "TCP"}, {"name": "metrics", "port": 9102, "protocol": "TCP"}]}}));
        let endpoints: Vec<Value> = (s * per_service..((s + 1) * per_service).min(n))
            .map(|i| json!({"addresses": [format!("10.42.{}.{}", i / 250, i % 250 + 2)], "conditions": {"ready": true, "serving": true, "terminating": false},
                            "nodeName": format!("edge-{:02}", i % 3),
                            "targetRef": {"kind": "Pod", "namespace": "apps", "name": format!("{svc}-7d4b9c8f6d-{i:05}")}}))
            .collect();
        api.apply(Kind::EndpointSlice, json!({
            "metadata": {"name": format!("{svc}-x7k2p"), "namespace": "apps", "labels": {"kubernetes.io/service-name": svc}},
            "addressType": "IPv4", "endpoints": endpoints,
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}, {"name": "metrics", "port": 9102, "protocol": "TCP"}]}));
    }
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap_or("VmRSS: 0 kB");
    line.split_whitespace().nth(1).and_then(|v| v.parse().ok()).unwrap_or(0)
}

/// outpost's RSS once its jobs `pod` and `endpointslice` (every target dropped by
/// relabeling, so nothing is scraped) have listed `n` pods.
fn settled_rss(n: usize) -> u64 {
    let api = KubeApi::start(Auth::ClientCert);
    cluster(&api, n, 10);
    let dir = TempDir::new("kube-rss");
    let config = kubeconfig(&api, &dir);
    let job = |name: &str, role: &str| {
        format!(
            "[[scrape_configs]]\njob_name = \"{name}\"\n[[scrape_configs.kubernetes_sd_configs]]\nrole = \"{role}\"\nkubeconfig_file = {config:?}\n[[scrape_configs.relabel_configs]]\naction = \"drop\"\nsource_labels = [\"__address__\"]\nregex = \".*\"\n"
        )
    };
    let outpost = support::start_outpost(&format!(
        "[[remote_write]]\nurl = \"http://127.0.0.1:9/api/v1/write\"\n{}{}",
        job("pods", "pod"),
        job("service-endpoints", "endpointslice")
    ));
    // Four watches (pods; endpointslices, services, pods) are open once every list was taken.
    poll_until(Duration::from_secs(60), "every collection listed and watched", || {
        if api.watching() >= 4 { Ok(()) } else { Err(format!("{} watches", api.watching())) }
    });
    // Then the RSS the same twice in a row (the join has taken the lists).
    let mut last = 0;
    poll_until(Duration::from_secs(30), "RSS settles", || {
        let now = rss_kib(outpost.pid());
        if now == last {
            Ok(now)
        } else {
            last = now;
            Err(format!("{now} KiB"))
        }
    })
}

/// The figure for the README: KiB of RSS per watched object at 1,000 pods with 100
/// Services and their EndpointSlices (pods watched twice: by the pod job and the join).
/// Run it against the release binary: `cargo build --release` and then
/// `OUTPOST_EXEC=target/release/outpost cargo test --test spec_kubernetes_roles -- --ignored --nocapture`.
#[test]
#[ignore = "a figure, not a check: run by hand against the release binary"]
fn figure_rss_per_watched_object_at_1000_pods() {
    let empty = settled_rss(0);
    let full = settled_rss(1000);
    let objects = 1000 + 100 + 100;
    println!(
        "RSS: {empty} KiB with no objects, {full} KiB with 1,000 pods, 100 services, 100 endpointslices: {:.1} KiB per object",
        (full.saturating_sub(empty)) as f64 / objects as f64
    );
}
