use std::collections::BTreeMap;

use serde_json::json;

use super::*;
use crate::discovery::kubernetes::events::decode_list;

const PODS: &str = include_str!("../../../../tests/fixtures/kubernetes/pods.json");
const NODES: &str = include_str!("../../../../tests/fixtures/kubernetes/nodes.json");

fn object(resource: Resource, value: serde_json::Value) -> Object {
    resource.decode(value.to_string().as_bytes()).expect("valid object")
}

fn pod(name: &str, ip: &str, node: &str) -> Object {
    object(
        Resource::Pod,
        json!({"metadata": {"name": name, "namespace": "apps", "labels": {"app": name}},
               "spec": {"nodeName": node, "containers": [{"name": "c", "ports": [
                   {"name": "http", "containerPort": 8080, "protocol": "TCP"},
                   {"name": "metrics", "containerPort": 9100, "protocol": "TCP"}]}]},
               "status": {"podIP": ip}}),
    )
}

fn listed(resource: Resource, list: &str) -> Vec<Object> {
    decode_list(resource, list.as_bytes()).expect("list").1
}

#[test]
fn pods_send_only_changes_and_a_relist_removes_what_is_gone() {
    let mut join = Join::new(Resource::Pod, &[Resource::Pod]);
    let first = join.apply(0, Change::Listed(listed(Resource::Pod, PODS))).expect("the whole set");
    assert_eq!(first.len(), 9);
    assert_eq!(join.apply(0, Change::Listed(listed(Resource::Pod, PODS))), None, "the same list again");
    let a = join.apply(0, Change::Upsert(pod("a", "10.0.0.1", "n1"))).expect("new pod");
    assert_eq!(a[0].source, "pod/apps/a");
    assert_eq!(join.apply(0, Change::Upsert(pod("a", "10.0.0.1", "n1"))), None, "unchanged");
    let moved = join.apply(0, Change::Upsert(pod("a", "10.0.0.2", "n1"))).expect("new IP");
    assert_eq!(moved[0].targets[0].get("__address__"), Some("10.0.0.2:8080"));
    let lost_ip = join.apply(0, Change::Upsert(pod("a", "", "n1"))).expect("no IP");
    assert!(lost_ip[0].targets.is_empty() && lost_ip[0].labels.is_empty());
    let deleted = join.apply(0, Change::Deleted("apps/a".into())).expect("deleted");
    assert_eq!(deleted, vec![Group { source: "pod/apps/a".into(), ..Group::default() }]);
    assert_eq!(join.apply(0, Change::Deleted("apps/a".into())), None, "deleting an unknown object");
    let fewer: Vec<Object> = listed(Resource::Pod, PODS).into_iter().skip(2).collect();
    let changed = join.apply(0, Change::Listed(fewer)).expect("two gone");
    assert_eq!(changed.len(), 2);
    assert!(changed.iter().all(|g| g.targets.is_empty()));
}

#[test]
fn a_node_without_address_keeps_its_group() {
    let mut join = Join::new(Resource::Node, &[Resource::Node]);
    assert_eq!(join.apply(0, Change::Listed(listed(Resource::Node, NODES))).map(|g| g.len()), Some(3));
    let addressless = object(Resource::Node, json!({"metadata": {"name": "edge-01"}, "status": {}}));
    assert_eq!(join.apply(0, Change::Upsert(addressless)), None);
    assert_eq!(join.targets(), 3, "kept, not removed");
}

#[test]
fn nothing_is_sent_until_every_collection_is_listed_then_the_whole_set_even_empty() {
    let mut join = Join::new(Resource::Endpoints, &[Resource::Endpoints, Resource::Service, Resource::Pod]);
    assert_eq!(join.apply(1, Change::Listed(vec![])), None);
    assert_eq!(join.apply(1, Change::Upsert(pod("x", "10.0.0.9", "n1"))), None, "wrong store, still waiting");
    assert_eq!(join.apply(0, Change::Listed(vec![])), None);
    assert_eq!(join.apply(2, Change::Listed(vec![])), Some(vec![]), "all listed: the (empty) set");
}

fn endpoints(addresses: serde_json::Value) -> Object {
    object(
        Resource::Endpoints,
        json!({"metadata": {"name": "web", "namespace": "apps"},
               "subsets": [{"addresses": addresses, "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]}]}),
    )
}

fn service() -> Object {
    object(
        Resource::Service,
        json!({"metadata": {"name": "web", "namespace": "apps", "labels": {"tier": "front"}},
               "spec": {"ports": [{"port": 80}], "clusterIP": "10.43.0.10"}}),
    )
}

fn labels_of(groups: &[Group]) -> (Vec<Vec<String>>, Vec<String>) {
    let targets = groups[0]
        .targets
        .iter()
        .map(|t| t.iter().map(|l| format!("{}={}", l.name, l.value)).collect())
        .collect();
    let group = groups[0].labels.iter().map(|l| format!("{}={}", l.name, l.value)).collect();
    (targets, group)
}

#[test]
fn endpoints_follow_their_pod_and_service_arriving_late_or_deleted_first() {
    let mut join = Join::new(Resource::Endpoints, &[Resource::Endpoints, Resource::Service, Resource::Pod]);
    let address =
        json!([{"ip": "10.42.0.5", "targetRef": {"kind": "Pod", "namespace": "apps", "name": "web-1"}}]);
    join.apply(1, Change::Listed(vec![]));
    join.apply(2, Change::Listed(vec![]));
    // The pod is not known yet: a target without the pod's labels.
    let first = join.apply(0, Change::Listed(vec![endpoints(address)])).expect("whole set");
    let (targets, group) = labels_of(&first);
    assert_eq!(targets.len(), 1);
    assert!(targets[0].contains(&"__meta_kubernetes_endpoint_address_target_name=web-1".to_owned()));
    assert!(!targets[0].iter().any(|l| l.starts_with("__meta_kubernetes_pod_")), "{targets:?}");
    assert!(!group.iter().any(|l| l.starts_with("__meta_kubernetes_service_")), "{group:?}");
    // The pod arrives: its labels, the matched container port, and its other port as a target of its own.
    let with_pod = join.apply(2, Change::Upsert(pod("web-1", "10.42.0.5", "n1"))).expect("rebuilt");
    let (targets, _) = labels_of(&with_pod);
    assert_eq!(targets.len(), 2, "{targets:?}");
    assert!(targets[0].contains(&"__meta_kubernetes_pod_container_port_name=http".to_owned()));
    assert!(targets[0].contains(&"__meta_kubernetes_pod_label_app=web-1".to_owned()));
    assert!(targets[1].contains(&"__address__=10.42.0.5:9100".to_owned()));
    assert!(!targets[1].iter().any(|l| l.starts_with("__meta_kubernetes_endpoint_")));
    // The Service arrives, then is deleted before its endpoints.
    let with_service = join.apply(1, Change::Upsert(service())).expect("rebuilt");
    assert!(labels_of(&with_service).1.contains(&"__meta_kubernetes_service_label_tier=front".to_owned()));
    let without = join.apply(1, Change::Deleted("apps/web".into())).expect("rebuilt");
    assert!(!labels_of(&without).1.iter().any(|l| l.starts_with("__meta_kubernetes_service_")));
    // An unrelated pod changes nothing.
    assert_eq!(join.apply(2, Change::Upsert(pod("other", "10.42.0.6", "n1"))), None);
    let gone = join.apply(0, Change::Deleted("apps/web".into())).expect("removed");
    assert_eq!(gone, vec![Group { source: "endpoints/apps/web".into(), ..Group::default() }]);
}

#[test]
fn attached_node_and_namespace_metadata_follow_their_objects() {
    let resources = [Resource::Pod, Resource::Node, Resource::Namespace];
    let mut join = Join::new(Resource::Pod, &resources);
    let node = |zone: &str| {
        object(
            Resource::Node,
            json!({"metadata": {"name": "n1", "labels": {"topology.kubernetes.io/zone": zone}}}),
        )
    };
    let ns = object(Resource::Namespace, json!({"metadata": {"name": "apps", "labels": {"team": "edge"}}}));
    join.apply(1, Change::Listed(vec![node("a")]));
    join.apply(2, Change::Listed(vec![ns]));
    let first = join.apply(0, Change::Listed(vec![pod("p", "10.42.0.7", "n1")])).expect("whole set");
    let group = labels_of(&first).1;
    for want in [
        "__meta_kubernetes_node_name=n1",
        "__meta_kubernetes_node_label_topology_kubernetes_io_zone=a",
        "__meta_kubernetes_node_labelpresent_topology_kubernetes_io_zone=true",
        "__meta_kubernetes_namespace_label_team=edge",
    ] {
        assert!(group.contains(&want.to_owned()), "{want} in {group:?}");
    }
    let moved = join.apply(1, Change::Upsert(node("b"))).expect("the node's label changed");
    assert!(
        labels_of(&moved)
            .1
            .contains(&"__meta_kubernetes_node_label_topology_kubernetes_io_zone=b".to_owned())
    );
    let gone = join.apply(1, Change::Deleted("n1".into())).expect("node gone");
    assert!(!labels_of(&gone).1.iter().any(|l| l.starts_with("__meta_kubernetes_node_")));
}

const SERVICES: &str = include_str!("../../../../tests/fixtures/kubernetes/services.json");

/// Every (resource, object) of the fixtures.
fn fixtures() -> Vec<(Resource, serde_json::Value)> {
    let mut out = Vec::new();
    for (r, list) in [(Resource::Pod, PODS), (Resource::Node, NODES)] {
        let v: serde_json::Value = serde_json::from_str(list).expect("fixture");
        out.extend(v["items"].as_array().expect("items").iter().map(|o| (r, o.clone())));
    }
    let v: serde_json::Value = serde_json::from_str(SERVICES).expect("services.json");
    for (plural, r) in [
        ("services", Resource::Service),
        ("endpoints", Resource::Endpoints),
        ("endpointslices", Resource::EndpointSlice),
        ("ingresses", Resource::Ingress),
    ] {
        out.extend(v[plural].as_array().expect("list").iter().map(|o| (r, o.clone())));
    }
    out
}

/// Every path to a value inside `v` (object keys and array indexes).
fn paths(v: &serde_json::Value, prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
    let children: Vec<(String, &serde_json::Value)> = match v {
        serde_json::Value::Object(m) => m.iter().map(|(k, v)| (k.clone(), v)).collect(),
        serde_json::Value::Array(a) => a.iter().enumerate().map(|(i, v)| (i.to_string(), v)).collect(),
        _ => return,
    };
    for (k, child) in children {
        let mut p = prefix.clone();
        p.push(k);
        out.push(p.clone());
        paths(child, p, out);
    }
}

fn at<'a>(v: &'a mut serde_json::Value, path: &[String]) -> &'a mut serde_json::Value {
    path.iter().fold(v, |v, k| match v {
        serde_json::Value::Array(a) => &mut a[k.parse::<usize>().expect("index")],
        v => &mut v[k.as_str()],
    })
}

/// A join per role over every fixture, all resources watched.
fn joins(objects: &[(Resource, serde_json::Value)]) -> Vec<Join> {
    use Resource::*;
    let mut out = Vec::new();
    for primary in [Pod, Node, Service, Endpoints, EndpointSlice, Ingress] {
        let mut join = Join::new(primary, &ALL);
        for (i, r) in ALL.iter().enumerate() {
            let decoded: Vec<Object> = objects
                .iter()
                .filter(|(or, _)| or == r)
                .map(|(_, o)| r.decode(o.to_string().as_bytes()).expect("fixture decodes"))
                .collect();
            join.apply(i, Change::Listed(decoded));
        }
        out.push(join);
    }
    out
}

const ALL: [Resource; 7] = [
    Resource::Pod,
    Resource::Node,
    Resource::Service,
    Resource::Endpoints,
    Resource::EndpointSlice,
    Resource::Ingress,
    Resource::Namespace,
];

#[test]
fn every_field_null_missing_or_of_the_wrong_type_never_panics() {
    let fixtures = fixtures();
    let mut joins = joins(&fixtures);
    // Each resource's richest fixture object (most paths): the others repeat its fields.
    let mut richest: BTreeMap<Resource, (usize, &serde_json::Value)> = BTreeMap::new();
    for (resource, object) in &fixtures {
        let mut all = Vec::new();
        paths(object, Vec::new(), &mut all);
        if richest.get(resource).is_none_or(|(n, _)| all.len() > *n) {
            richest.insert(*resource, (all.len(), object));
        }
    }
    let mut cases = 0;
    for (resource, (_, object)) in richest {
        let resource = &resource;
        let index = ALL.iter().position(|r| r == resource).expect("watched");
        let mut all = Vec::new();
        paths(object, Vec::new(), &mut all);
        for path in all {
            for replacement in [serde_json::Value::Null, json!(7)] {
                let mut changed = object.clone();
                let nulled = replacement.is_null();
                *at(&mut changed, &path) = replacement;
                let decoded = resource.decode(changed.to_string().as_bytes());
                assert!(!nulled || decoded.is_ok(), "{resource:?} {path:?} = null: {:?}", decoded.err());
                if let Ok(decoded) = decoded {
                    // Every role's groups rebuilt with it, then with the original again.
                    let key = decoded.key();
                    for join in &mut joins {
                        let _ = join.apply(
                            index,
                            Change::Upsert(resource.decode(changed.to_string().as_bytes()).expect("decodes")),
                        );
                        let _ = join.apply(index, Change::Deleted(key.clone()));
                        let _ = join.apply(
                            index,
                            Change::Upsert(resource.decode(object.to_string().as_bytes()).expect("fixture")),
                        );
                    }
                }
                cases += 1;
            }
            // Removed: as if the API server left the field out.
            let mut removed = object.clone();
            let (last, parent) = path.split_last().expect("non-empty path");
            if let serde_json::Value::Object(m) = at(&mut removed, parent) {
                m.remove(last);
                assert!(
                    resource.decode(removed.to_string().as_bytes()).is_ok(),
                    "{resource:?} without {path:?}"
                );
            }
        }
    }
    assert!(cases > 600, "{cases} cases");
}
