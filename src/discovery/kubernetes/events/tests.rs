use super::*;

const PODS: &str = include_str!("../../../../tests/fixtures/kubernetes/pods.json");
const NODES: &str = include_str!("../../../../tests/fixtures/kubernetes/nodes.json");

fn pod_event(kind: &str, name: &str, ip: &str, rv: &str) -> String {
    format!(
        r#"{{"type":"{kind}","object":{{"kind":"Pod","apiVersion":"v1","metadata":{{"name":"{name}","namespace":"apps","resourceVersion":"{rv}"}},
        "spec":{{"containers":[{{"name":"c","ports":[{{"containerPort":8080}}]}}]}},"status":{{"podIP":"{ip}"}}}}}}"#
    )
}

#[test]
fn lists_decode_with_their_resource_version() {
    let (rv, items) = decode_list(Role::Pod, PODS.as_bytes()).expect("pod list");
    assert_eq!(rv, "48213");
    assert_eq!(items.len(), 9);
    assert_eq!(items[0].0, "pod/kube-system/traefik-f4564c4f4-7kx2m");
    let (_, items) = decode_list(Role::Node, NODES.as_bytes()).expect("node list");
    assert_eq!(
        items.iter().map(|(s, _)| s.as_str()).collect::<Vec<_>>(),
        ["node/edge-01", "node/edge-02", "node/edge-v6"]
    );
    let (rv, items) =
        decode_list(Role::Pod, br#"{"kind":"PodList","metadata":{"resourceVersion":"7"},"items":null}"#)
            .expect("null items");
    assert_eq!((rv.as_str(), items.len()), ("7", 0));
}

#[test]
fn malformed_bodies_are_errors_naming_the_position() {
    for body in [&b"{\"items\":[{\"metadata\":"[..], b"", b"<html>", b"{\"items\":{}}"] {
        let e = decode_list(Role::Pod, body).expect_err("malformed");
        assert!(e.starts_with("list: "), "{e}");
    }
    let e = decode_event(Role::Pod, b"{\"type\":\"ADDED\",\"object\":{\"metadata\":").expect_err("cut");
    assert!(e.contains("line 1 column"), "{e}");
    let e = decode_event(Role::Pod, br#"{"type":"ADDED","object":{"metadata":{"name":7}}}"#)
        .expect_err("bad type");
    assert!(e.starts_with("watch event ADDED: "), "{e}");
}

#[test]
fn every_event_type() {
    let added = decode_event(Role::Pod, pod_event("ADDED", "a", "10.0.0.1", "11").as_bytes()).expect("added");
    let Event::Upsert { source, group: Some(g), resource_version } = added else { panic!("{added:?}") };
    assert_eq!((source.as_str(), resource_version.as_str()), ("pod/apps/a", "11"));
    assert_eq!(g.targets[0].get("__address__"), Some("10.0.0.1:8080"));
    assert_eq!(
        decode_event(Role::Pod, br#"{"type":"DELETED","object":{"kind":"Pod","metadata":{"name":"a","namespace":"apps","resourceVersion":"12"}}}"#),
        Ok(Event::Deleted { source: "pod/apps/a".into(), resource_version: "12".into() })
    );
    assert_eq!(
        decode_event(Role::Node, br#"{"type":"BOOKMARK","object":{"kind":"Node","apiVersion":"v1","metadata":{"resourceVersion":"13"}}}"#),
        Ok(Event::Bookmark { resource_version: "13".into() })
    );
    let gone = br#"{"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"too old resource version: 5 (9)","reason":"Expired","code":410}}"#;
    assert_eq!(
        decode_event(Role::Pod, gone),
        Ok(Event::Expired { message: "too old resource version: 5 (9)".into() })
    );
    let other = br#"{"type":"ERROR","object":{"kind":"Status","code":500,"message":"etcd timeout"}}"#;
    assert_eq!(
        decode_event(Role::Pod, other),
        Ok(Event::Failed { code: 500, message: "etcd timeout".into() })
    );
    assert_eq!(
        decode_event(Role::Pod, br#"{"type":"FROBNICATED","object":{}}"#),
        Ok(Event::Unknown { kind: "FROBNICATED".into() })
    );
    let addressless =
        br#"{"type":"MODIFIED","object":{"metadata":{"name":"n","resourceVersion":"14"},"status":{}}}"#;
    assert_eq!(
        decode_event(Role::Node, addressless),
        Ok(Event::Upsert { source: "node/n".into(), group: None, resource_version: "14".into() })
    );
}

#[test]
fn cache_sends_only_changes_and_removes_what_is_gone() {
    let upsert =
        |name: &str, ip: &str| match decode_event(Role::Pod, pod_event("MODIFIED", name, ip, "1").as_bytes())
        {
            Ok(e) => e,
            Err(e) => panic!("{e}"),
        };
    let mut cache = Cache::default();
    let (_, listed) = decode_list(Role::Pod, PODS.as_bytes()).expect("list");
    assert_eq!(cache.replace(listed.clone()).len(), 9, "the first list is the whole set");
    assert_eq!(cache.replace(listed.clone()), Vec::<Group>::new(), "the same list again changes nothing");

    let a = cache.apply(upsert("a", "10.0.0.1")).expect("new pod");
    assert_eq!(a.source, "pod/apps/a");
    assert_eq!(cache.apply(upsert("a", "10.0.0.1")), None, "unchanged");
    let moved = cache.apply(upsert("a", "10.0.0.2")).expect("new IP");
    assert_eq!(moved.targets[0].get("__address__"), Some("10.0.0.2:8080"));
    let lost_ip = cache.apply(upsert("a", "")).expect("no IP");
    assert!(lost_ip.targets.is_empty() && lost_ip.labels.is_empty());
    let deleted = Event::Deleted { source: "pod/apps/a".into(), resource_version: "2".into() };
    assert_eq!(cache.apply(deleted), Some(Group { source: "pod/apps/a".into(), ..Group::default() }));
    let again = Event::Deleted { source: "pod/apps/a".into(), resource_version: "3".into() };
    assert_eq!(cache.apply(again), None, "deleting an unknown object sends nothing");

    // A relist without two of the pods: two empty groups, nothing else.
    let fewer: Vec<_> = listed.into_iter().skip(2).collect();
    let changed = cache.replace(fewer);
    assert_eq!(changed.len(), 2);
    assert!(changed.iter().all(|g| g.targets.is_empty()));
    assert_eq!(cache.len(), 7);
}

#[test]
fn a_node_without_address_keeps_its_group() {
    let mut cache = Cache::default();
    let (_, listed) = decode_list(Role::Node, NODES.as_bytes()).expect("list");
    cache.replace(listed.clone());
    let addressless =
        Event::Upsert { source: "node/edge-01".into(), group: None, resource_version: "9".into() };
    assert_eq!(cache.apply(addressless), None);
    let mut relisted = listed;
    relisted[0].1 = None;
    assert_eq!(cache.replace(relisted), Vec::<Group>::new(), "kept, not removed");
    assert_eq!(cache.len(), 3);
}
