//! The roles through list and watch against the in-test API server.

use super::*;

fn quick() -> Settings {
    Settings {
        list_timeout: Duration::from_secs(3),
        watch_timeout: Duration::from_secs(1),
        watch_grace: Duration::from_secs(1),
        min_backoff: Duration::from_millis(50),
        max_backoff: Duration::from_millis(200),
        service_account_dir: "/nonexistent".into(),
    }
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

/// A running provider's groups, applied as the agent applies them.
struct Discovered {
    rx: smol::channel::Receiver<outpost::discovery::Update>,
    groups: BTreeMap<String, Group>,
}

impl Discovered {
    fn start(config: KubernetesSdConfig) -> Discovered {
        let (tx, rx) = smol::channel::unbounded();
        let updates = Updates { id: ProviderId(1), tx };
        std::thread::spawn(move || smol::block_on(watch::run(config, updates, quick())));
        Discovered { rx, groups: BTreeMap::new() }
    }

    fn drain(&mut self) {
        while let Ok((_, groups)) = self.rx.try_recv() {
            for g in groups {
                if g.targets.is_empty() {
                    self.groups.remove(&g.source);
                } else {
                    self.groups.insert(g.source.clone(), g);
                }
            }
        }
    }

    /// Waits until `check` holds for the groups; panics with `what` and the groups.
    fn wait(&mut self, what: &str, check: impl Fn(&BTreeMap<String, Group>) -> bool) {
        poll_until(Duration::from_secs(15), what, || {
            self.drain();
            if check(&self.groups) { Ok(()) } else { Err(format!("{:?}", self.groups.keys())) }
        });
    }
}

/// Does group `source`'s target with `address` (or the group, for `None`) hold `label=value`?
fn has(
    groups: &BTreeMap<String, Group>,
    source: &str,
    address: Option<&str>,
    label: &str,
    value: &str,
) -> bool {
    let Some(g) = groups.get(source) else { return false };
    match address {
        None => g.labels.get(label) == Some(value),
        Some(a) => g.targets.iter().any(|t| t.get("__address__") == Some(a) && t.get(label) == Some(value)),
    }
}

fn web_pod(ip: &str) -> Value {
    json!({"metadata": {"name": "web-1", "namespace": "apps", "uid": "u1", "labels": {"app": "web"}},
           "spec": {"nodeName": "edge-01", "containers": [{"name": "web", "image": "web:1", "ports": [
               {"name": "http", "containerPort": 8080, "protocol": "TCP"},
               {"name": "metrics", "containerPort": 9100, "protocol": "TCP"}]}]},
           "status": {"phase": "Running", "podIP": ip, "hostIP": "192.168.1.51"}})
}

fn web_service() -> Value {
    json!({"metadata": {"name": "web", "namespace": "apps", "labels": {"tier": "front"},
                        "annotations": {"prometheus.io/scrape": "true"}},
           "spec": {"type": "ClusterIP", "clusterIP": "10.43.0.10", "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}})
}

fn web_endpoints(ready: &[&str], not_ready: &[&str]) -> Value {
    let address = |ip: &&str| json!({"ip": ip, "nodeName": "edge-01", "targetRef": {"kind": "Pod", "namespace": "apps", "name": "web-1"}});
    json!({"metadata": {"name": "web", "namespace": "apps"},
           "subsets": [{"addresses": ready.iter().map(address).collect::<Vec<_>>(),
                        "notReadyAddresses": not_ready.iter().map(address).collect::<Vec<_>>(),
                        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]}]})
}

#[test]
fn endpoints_follow_their_service_and_pod_through_the_watch() {
    let api = KubeApi::start(Auth::ClientCert);
    let dir = TempDir::new("kube-endpoints");
    // The endpoints come first: their pod and Service are not known yet.
    api.apply(Kind::Endpoints, web_endpoints(&["10.42.0.5"], &[]));
    let mut d = Discovered::start(sd_config(KubernetesRole::Endpoints, &kubeconfig(&api, &dir)));
    let src = "endpoints/apps/web";
    d.wait("a target without pod or service labels", |g| {
        has(g, src, Some("10.42.0.5:8080"), "__meta_kubernetes_endpoint_ready", "true")
            && g[src].targets.iter().all(|t| t.get("__meta_kubernetes_pod_name").is_none())
    });
    api.apply(Kind::Pod, web_pod("10.42.0.5"));
    d.wait("the pod's labels, matched container port and unlisted port", |g| {
        has(g, src, Some("10.42.0.5:8080"), "__meta_kubernetes_pod_container_port_name", "http")
            && has(g, src, Some("10.42.0.5:9100"), "__meta_kubernetes_pod_label_app", "web")
    });
    api.apply(Kind::Service, web_service());
    d.wait("the service's labels", |g| has(g, src, None, "__meta_kubernetes_service_label_tier", "front"));
    api.apply(Kind::Endpoints, web_endpoints(&[], &["10.42.0.5"]));
    d.wait("a not-ready address", |g| {
        has(g, src, Some("10.42.0.5:8080"), "__meta_kubernetes_endpoint_ready", "false")
    });
    api.delete(Kind::Service, "apps", "web");
    d.wait("the service deleted before its endpoints", |g| {
        g.get(src).is_some_and(|g| {
            g.labels.get("__meta_kubernetes_service_name").is_none() && !g.targets.is_empty()
        })
    });
    api.delete(Kind::Endpoints, "apps", "web");
    d.wait("the endpoints' group removed", |g| !g.contains_key(src));
}

#[test]
fn endpointslices_services_and_ingresses_are_watched_under_their_api_groups() {
    let api = KubeApi::start(Auth::ClientCert);
    let dir = TempDir::new("kube-slices");
    let config = kubeconfig(&api, &dir);
    api.apply(Kind::Service, web_service());
    api.apply(Kind::Pod, web_pod("10.42.0.5"));
    api.apply(Kind::EndpointSlice, json!({
        "metadata": {"name": "web-abc12", "namespace": "apps", "labels": {"kubernetes.io/service-name": "web"}},
        "addressType": "IPv4", "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        "endpoints": [{"addresses": ["10.42.0.5"], "conditions": {"ready": true}, "nodeName": "edge-01", "zone": "home",
                       "targetRef": {"kind": "Pod", "namespace": "apps", "name": "web-1"}}]}));
    api.apply(
        Kind::Ingress,
        json!({"metadata": {"name": "bare", "namespace": "apps"}, "spec": {"rules": null}}),
    );
    api.apply(Kind::Ingress, json!({"metadata": {"name": "web", "namespace": "apps"},
        "spec": {"ingressClassName": "traefik", "tls": [{"hosts": ["web.lan"]}], "rules": [{"host": "web.lan"}]}}));
    let mut slices = Discovered::start(sd_config(KubernetesRole::EndpointSlice, &config));
    let mut services = Discovered::start(sd_config(KubernetesRole::Service, &config));
    let mut ingresses = Discovered::start(sd_config(KubernetesRole::Ingress, &config));
    let s = "endpointslice/apps/web-abc12";
    slices.wait("slice joined with its service and pod", |g| {
        has(g, s, None, "__meta_kubernetes_service_name", "web")
            && has(g, s, Some("10.42.0.5:8080"), "__meta_kubernetes_endpointslice_endpoint_zone", "home")
            && has(g, s, Some("10.42.0.5:8080"), "__meta_kubernetes_pod_container_name", "web")
            && has(g, s, Some("10.42.0.5:9100"), "__meta_kubernetes_pod_container_port_name", "metrics")
    });
    services.wait("the service's DNS name", |g| {
        has(g, "svc/apps/web", Some("web.apps.svc:80"), "__meta_kubernetes_service_cluster_ip", "10.43.0.10")
    });
    ingresses.wait("https for a TLS host, path / for a rule without http", |g| {
        has(g, "ingress/apps/web", Some("web.lan"), "__meta_kubernetes_ingress_scheme", "https")
            && has(g, "ingress/apps/web", Some("web.lan"), "__meta_kubernetes_ingress_path", "/")
            && !g.contains_key("ingress/apps/bare")
    });
    let paths: BTreeSet<String> = api
        .requests()
        .iter()
        .map(|r| r.trim_start_matches("GET ").split('?').next().unwrap_or("").to_owned())
        .collect();
    for want in [
        "/apis/discovery.k8s.io/v1/endpointslices",
        "/apis/networking.k8s.io/v1/ingresses",
        "/api/v1/services",
        "/api/v1/pods",
    ] {
        assert!(paths.contains(want), "{want} in {paths:?}");
    }
    assert!(
        !paths.contains("/api/v1/nodes") && !paths.contains("/api/v1/namespaces"),
        "not asked: {paths:?}"
    );
}

static LOGGED: Mutex<Vec<String>> = Mutex::new(Vec::new());

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

#[test]
fn an_unserved_resource_is_named_once_and_retried_while_other_roles_keep_their_targets() {
    if log::set_logger(&Capture).is_ok() {
        log::set_max_level(log::LevelFilter::Info);
    }
    let api = KubeApi::start(Auth::ClientCert);
    let dir = TempDir::new("kube-404");
    let config = kubeconfig(&api, &dir);
    api.set_served(Kind::EndpointSlice, false);
    api.apply(Kind::Service, web_service());
    api.apply(
        Kind::EndpointSlice,
        json!({
        "metadata": {"name": "web-1", "namespace": "apps", "labels": {"kubernetes.io/service-name": "web"}},
        "addressType": "IPv4", "ports": [{"port": 8080}], "endpoints": [{"addresses": ["10.42.0.5"]}]}),
    );
    let mut slices = Discovered::start(sd_config(KubernetesRole::EndpointSlice, &config));
    let mut services = Discovered::start(sd_config(KubernetesRole::Service, &config));
    services.wait("the service role is unaffected", |g| g.contains_key("svc/apps/web"));
    let lists = |api: &KubeApi| api.requests().iter().filter(|r| r.contains("/endpointslices")).count();
    poll_until(Duration::from_secs(10), "endpointslices retried with backoff", || {
        if lists(&api) >= 4 { Ok(()) } else { Err(format!("{} requests", lists(&api))) }
    });
    let named: Vec<String> = LOGGED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .iter()
        .filter(|l| l.contains("kubernetes_sd endpointslices") && l.contains("HTTP 404"))
        .cloned()
        .collect();
    assert_eq!(named.len(), 1, "logged once, however often retried: {named:?}");
    assert!(named[0].contains("the server could not find the requested resource"), "{}", named[0]);
    slices.drain();
    assert!(slices.groups.is_empty(), "nothing sent before every collection is listed");
    api.set_served(Kind::EndpointSlice, true);
    slices.wait("discovered once served", |g| g.contains_key("endpointslice/apps/web-1"));
    services.drain();
    assert!(services.groups.contains_key("svc/apps/web"));
}

#[test]
fn attach_metadata_and_selectors_shape_what_is_watched() {
    let api = KubeApi::start(Auth::ClientCert);
    let dir = TempDir::new("kube-attach");
    let config = kubeconfig(&api, &dir);
    let node = |zone: &str| {
        json!({"metadata": {"name": "edge-01", "labels": {"topology.kubernetes.io/zone": zone}},
                                   "status": {"addresses": [{"type": "InternalIP", "address": "192.168.1.51"}]}})
    };
    api.apply(Kind::Node, node("shelf"));
    api.apply(Kind::Namespace, json!({"metadata": {"name": "apps", "labels": {"team": "edge"}}}));
    api.apply(Kind::Pod, web_pod("10.42.0.5"));
    let mut c = sd_config(KubernetesRole::Pod, &config);
    c.attach_node = true;
    c.attach_namespace = true;
    c.other_selectors = vec![Selector {
        role: KubernetesRole::Node,
        label: "topology.kubernetes.io/zone".into(),
        field: String::new(),
    }];
    let mut pods = Discovered::start(c);
    let src = "pod/apps/web-1";
    pods.wait("node and namespace labels on the pod's group", |g| {
        has(g, src, None, "__meta_kubernetes_node_label_topology_kubernetes_io_zone", "shelf")
            && has(g, src, None, "__meta_kubernetes_namespace_label_team", "edge")
    });
    api.apply(Kind::Node, node("attic"));
    pods.wait("a node's change reaches its pods", |g| {
        has(g, src, None, "__meta_kubernetes_node_label_topology_kubernetes_io_zone", "attic")
    });
    let node_lists: Vec<String> =
        api.requests().into_iter().filter(|r| r.contains("/api/v1/nodes")).collect();
    assert!(
        node_lists.iter().all(|r| r.contains("labelSelector=topology.kubernetes.io%2Fzone")),
        "{node_lists:?}"
    );
}
