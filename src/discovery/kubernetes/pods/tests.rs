use super::*;

fn pod(json: &str) -> Pod {
    serde_json::from_str(json).expect("valid pod JSON")
}

fn fixture(name: &str) -> Pod {
    let list: serde_json::Value =
        serde_json::from_str(include_str!("../../../../tests/fixtures/kubernetes/pods.json"))
            .expect("fixture");
    let item = list["items"].as_array().expect("items").iter().find(|p| p["metadata"]["name"] == name);
    serde_json::from_value(item.expect("fixture pod").clone()).expect("fixture pod parses")
}

#[test]
fn one_target_per_port_then_init_containers() {
    let g = group(&fixture("web-7d4b9c8f6d-x2v7n"));
    assert_eq!(g.source, "pod/apps/web-7d4b9c8f6d-x2v7n");
    let summary: Vec<(&str, &str, &str, &str)> = g
        .targets
        .iter()
        .map(|t| {
            let get = |n| t.get(n).unwrap_or("-");
            (
                get("__address__"),
                get("__meta_kubernetes_pod_container_name"),
                get("__meta_kubernetes_pod_container_port_name"),
                get("__meta_kubernetes_pod_container_init"),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("10.42.1.17:8080", "web", "http", "false"),
            ("10.42.1.17:9102", "exporter", "", "false"),
            ("10.42.1.17:9125", "exporter", "statsd", "false"),
            ("10.42.1.17", "migrate", "-", "true"),
            ("10.42.1.17:7070", "warmup", "warm", "true"),
        ]
    );
    let exporter = &g.targets[2];
    assert_eq!(exporter.get("__meta_kubernetes_pod_container_port_protocol"), Some("UDP"));
    assert_eq!(exporter.get("__meta_kubernetes_pod_container_id"), Some(""), "no status for exporter yet");
    assert!(
        g.targets[3]
            .get("__meta_kubernetes_pod_container_id")
            .is_some_and(|id| id.starts_with("containerd://b1a0"))
    );
    assert_eq!(g.labels.get("__meta_kubernetes_pod_ready"), Some("unknown"), "no Ready condition");
    assert_eq!(g.labels.get("__meta_kubernetes_pod_annotation_prometheus_io_scrape"), Some("true"));
    assert_eq!(g.labels.get("__meta_kubernetes_pod_annotation_empty_annotation"), Some(""));
    assert_eq!(g.labels.get("__meta_kubernetes_pod_annotationpresent_empty_annotation"), Some("true"));
    assert_eq!(g.labels.get("__meta_kubernetes_pod_controller_kind"), Some("ReplicaSet"));
    assert_eq!(g.labels.get("__meta_kubernetes_namespace"), Some("apps"));
}

#[test]
fn no_ip_no_targets_and_no_labels() {
    let g = group(&fixture("web-7d4b9c8f6d-pq8ls"));
    assert_eq!(g, Group { source: "pod/apps/web-7d4b9c8f6d-pq8ls".into(), ..Group::default() });
}

#[test]
fn ipv6_pod_ip_and_owner_without_controller() {
    let g = group(&fixture("debug-shell"));
    assert_eq!(g.targets.len(), 1);
    assert_eq!(g.targets[0].get("__address__"), Some("fd00:42:1::22"), "no port: the bare IP");
    assert_eq!(g.labels.get("__meta_kubernetes_pod_controller_kind"), None);
    let p = pod(
        r#"{"metadata":{"name":"p","namespace":"n"},"spec":{"containers":[{"name":"c","ports":[{"containerPort":80}]}]},
        "status":{"podIP":"fd00::1","conditions":[{"type":"Ready","status":"False"}]}}"#,
    );
    let g = group(&p);
    assert_eq!(g.targets[0].get("__address__"), Some("[fd00::1]:80"));
    assert_eq!(g.labels.get("__meta_kubernetes_pod_ready"), Some("false"));
}

#[test]
fn label_names_are_sanitized_per_character() {
    let p = pod(
        r#"{"metadata":{"name":"p","labels":{"a.b/c-d":"1","é":"2"},"annotations":{"x y":"3"}},"status":{"podIP":"10.0.0.1"}}"#,
    );
    let l = group(&p).labels;
    assert_eq!(l.get("__meta_kubernetes_pod_label_a_b_c_d"), Some("1"));
    assert_eq!(l.get("__meta_kubernetes_pod_label__"), Some("2"), "one underscore for a two-byte character");
    assert_eq!(l.get("__meta_kubernetes_pod_annotation_x_y"), Some("3"));
}

#[test]
fn nulls_and_missing_fields_are_empty() {
    let p = pod(
        r#"{"metadata":{"name":"p","labels":null,"ownerReferences":null},"spec":{"containers":null,"initContainers":null},"status":{"podIP":"10.0.0.1","conditions":null}}"#,
    );
    let g = group(&p);
    assert!(g.targets.is_empty());
    assert_eq!(g.labels.get("__meta_kubernetes_pod_phase"), Some(""));
}
