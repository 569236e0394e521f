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
    let (rv, items) = decode_list(Resource::Pod, PODS.as_bytes()).expect("pod list");
    assert_eq!(rv, "48213");
    assert_eq!(items.len(), 9);
    assert_eq!(items[0].key(), "kube-system/traefik-f4564c4f4-7kx2m");
    let (_, items) = decode_list(Resource::Node, NODES.as_bytes()).expect("node list");
    assert_eq!(items.iter().map(Object::key).collect::<Vec<_>>(), ["edge-01", "edge-02", "edge-v6"]);
    let (rv, items) =
        decode_list(Resource::Pod, br#"{"kind":"PodList","metadata":{"resourceVersion":"7"},"items":null}"#)
            .expect("null items");
    assert_eq!((rv.as_str(), items.len()), ("7", 0));
}

#[test]
fn malformed_bodies_are_errors_naming_the_position() {
    for body in [&b"{\"items\":[{\"metadata\":"[..], b"", b"<html>", b"{\"items\":{}}"] {
        let e = decode_list(Resource::Pod, body).expect_err("malformed");
        assert!(e.starts_with("list: "), "{e}");
    }
    let e = decode_list(Resource::Service, br#"{"items":[{},{"spec":{"ports":7}}]}"#).expect_err("bad item");
    assert!(e.starts_with("list: item 1: invalid type: integer"), "{e}");
    let e = decode_event(Resource::Pod, b"{\"type\":\"ADDED\",\"object\":{\"metadata\":").expect_err("cut");
    assert!(e.contains("line 1 column"), "{e}");
    let e = decode_event(Resource::Pod, br#"{"type":"ADDED","object":{"metadata":{"name":7}}}"#)
        .expect_err("bad type");
    assert!(e.starts_with("watch event ADDED: "), "{e}");
}

#[test]
fn every_event_type() {
    let added =
        decode_event(Resource::Pod, pod_event("ADDED", "a", "10.0.0.1", "11").as_bytes()).expect("added");
    let Event::Upsert { object: Object::Pod(pod), resource_version } = added else { panic!("{added:?}") };
    assert_eq!((pod.metadata.name.as_str(), resource_version.as_str()), ("a", "11"));
    let deleted = br#"{"type":"DELETED","object":{"kind":"Pod","metadata":{"name":"a","namespace":"apps","resourceVersion":"12"}}}"#;
    assert!(matches!(
        decode_event(Resource::Pod, deleted),
        Ok(Event::Deleted { key, resource_version }) if key == "apps/a" && resource_version == "12"
    ));
    let node =
        br#"{"type":"DELETED","object":{"kind":"Node","metadata":{"name":"n1","resourceVersion":"12"}}}"#;
    assert!(matches!(decode_event(Resource::Node, node), Ok(Event::Deleted { key, .. }) if key == "n1"));
    let bookmark = br#"{"type":"BOOKMARK","object":{"kind":"Node","apiVersion":"v1","metadata":{"resourceVersion":"13"}}}"#;
    assert!(matches!(
        decode_event(Resource::Node, bookmark),
        Ok(Event::Bookmark { resource_version }) if resource_version == "13"
    ));
    let gone = br#"{"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"too old resource version: 5 (9)","reason":"Expired","code":410}}"#;
    assert!(matches!(
        decode_event(Resource::Pod, gone),
        Ok(Event::Expired { message }) if message == "too old resource version: 5 (9)"
    ));
    let other = br#"{"type":"ERROR","object":{"kind":"Status","code":500,"message":"etcd timeout"}}"#;
    assert!(matches!(
        decode_event(Resource::Pod, other),
        Ok(Event::Failed { code: 500, message }) if message == "etcd timeout"
    ));
    assert!(matches!(
        decode_event(Resource::Pod, br#"{"type":"FROBNICATED","object":{}}"#),
        Ok(Event::Unknown { kind }) if kind == "FROBNICATED"
    ));
}

#[test]
fn every_resource_decodes_an_empty_object_and_nulls() {
    use Resource::*;
    for r in [Pod, Node, Service, Endpoints, EndpointSlice, Ingress, Namespace] {
        let object = r.decode(b"{}").expect("empty object");
        assert_eq!(object.resource(), r);
        let nulls = br#"{"metadata":{"name":"x","namespace":"y","labels":null,"annotations":null},"spec":{"ports":null,"rules":null,"tls":null,"containers":null},"subsets":null,"endpoints":null,"ports":null,"status":{"addresses":null}}"#;
        let object = r.decode(nulls).unwrap_or_else(|e| panic!("{r:?}: {e}"));
        assert_eq!(object.key(), if r.namespaced() { "y/x" } else { "x" });
    }
}
