//! Role `node` [pure]: a Node object becomes one target at the kubelet, as
//! Prometheus's discovery/kubernetes/node.go builds it: the address is the
//! node's first address of the most preferred type, with the kubelet's port;
//! `instance` is the node's name.

use serde::Deserialize;

use super::{Group, ObjectMeta, meta_labels};
use crate::model::Labels;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Node {
    pub metadata: ObjectMeta,
    pub spec: NodeSpec,
    pub status: NodeStatus,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct NodeSpec {
    #[serde(rename = "providerID")]
    pub provider_id: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct NodeStatus {
    #[serde(deserialize_with = "super::null_default")]
    pub addresses: Vec<NodeAddress>,
    pub daemon_endpoints: DaemonEndpoints,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct NodeAddress {
    #[serde(rename = "type")]
    pub kind: String,
    pub address: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct DaemonEndpoints {
    pub kubelet_endpoint: KubeletEndpoint,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct KubeletEndpoint {
    #[serde(rename = "Port")]
    pub port: i32,
}

/// Address types in the order the target's address is chosen from
/// (k8s.io/kubernetes pkg/util/node, as Prometheus's nodeAddress).
const PREFERENCE: [&str; 6] =
    ["InternalIP", "InternalDNS", "ExternalIP", "ExternalDNS", "LegacyHostIP", "Hostname"];

/// The group's source, as Prometheus names it: `node/<name>`.
pub fn source(name: &str) -> String {
    format!("node/{name}")
}

/// The node's target group, or `None` when the node has no address of a
/// known type: Prometheus then logs it and sends no update for the node.
pub fn group(node: &Node) -> Option<Group> {
    let meta = &node.metadata;
    let addresses = &node.status.addresses;
    let first = |kind: &str| addresses.iter().find(|a| a.kind == kind).map(|a| a.address.as_str());
    let host = PREFERENCE.iter().find_map(|kind| first(kind))?;
    let port = node.status.daemon_endpoints.kubelet_endpoint.port.to_string();
    let mut target = Labels::from_pairs([
        ("__address__", super::join_host_port(host, &port)),
        ("instance", meta.name.clone()),
    ]);
    for address in addresses {
        let name = super::sanitize(&format!("__meta_kubernetes_node_address_{}", address.kind));
        if target.get(&name).is_none() {
            target.set(name, address.address.clone());
        }
    }
    let mut labels = Labels::from_pairs([
        ("__meta_kubernetes_node_name", meta.name.clone()),
        ("__meta_kubernetes_node_provider_id", node.spec.provider_id.clone()),
    ]);
    meta_labels(&mut labels, "__meta_kubernetes_node_", &meta.labels, &meta.annotations);
    Some(Group { source: source(&meta.name), targets: vec![target], labels })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(json: &str) -> Node {
        serde_json::from_str(json).expect("valid node JSON")
    }

    #[test]
    fn address_preference_first_of_type_and_port() {
        let n = node(
            r#"{"metadata":{"name":"n1"},"status":{"addresses":[
                {"type":"Hostname","address":"n1"},{"type":"ExternalIP","address":"203.0.113.7"},
                {"type":"InternalIP","address":"fd00::51"},{"type":"InternalIP","address":"192.168.1.51"}],
                "daemonEndpoints":{"kubeletEndpoint":{"Port":10250}}}}"#,
        );
        let g = group(&n).expect("has addresses");
        assert_eq!(g.source, "node/n1");
        let t = &g.targets[0];
        assert_eq!(t.get("__address__"), Some("[fd00::51]:10250"), "first InternalIP, bracketed");
        assert_eq!(t.get("instance"), Some("n1"));
        assert_eq!(t.get("__meta_kubernetes_node_address_InternalIP"), Some("fd00::51"));
        assert_eq!(t.get("__meta_kubernetes_node_address_ExternalIP"), Some("203.0.113.7"));
        assert_eq!(t.get("__meta_kubernetes_node_address_Hostname"), Some("n1"));
    }

    #[test]
    fn hostname_is_the_last_resort_and_no_address_is_no_update() {
        let n = node(
            r#"{"metadata":{"name":"n"},"status":{"addresses":[{"type":"Hostname","address":"n.lan"}]}}"#,
        );
        assert_eq!(group(&n).expect("hostname").targets[0].get("__address__"), Some("n.lan:0"));
        let n = node(r#"{"metadata":{"name":"n"},"status":{"addresses":[{"type":"Other","address":"x"}]}}"#);
        assert_eq!(group(&n), None);
        assert_eq!(group(&node(r#"{"metadata":{"name":"n"}}"#)), None);
    }

    #[test]
    fn labels_annotations_and_present_labels_are_sanitized() {
        let n = node(
            r#"{"metadata":{"name":"n","labels":{"kubernetes.io/arch":"arm64","node-role.kubernetes.io/master":""},
                "annotations":{"k3s.io/node-args":"[\"agent\"]"}},"spec":{"providerID":"k3s://n"},
                "status":{"addresses":[{"type":"InternalIP","address":"10.0.0.1"}]}}"#,
        );
        let l = group(&n).expect("address").labels;
        assert_eq!(l.get("__meta_kubernetes_node_name"), Some("n"));
        assert_eq!(l.get("__meta_kubernetes_node_provider_id"), Some("k3s://n"));
        assert_eq!(l.get("__meta_kubernetes_node_label_kubernetes_io_arch"), Some("arm64"));
        assert_eq!(l.get("__meta_kubernetes_node_labelpresent_kubernetes_io_arch"), Some("true"));
        assert_eq!(l.get("__meta_kubernetes_node_label_node_role_kubernetes_io_master"), Some(""));
        assert_eq!(l.get("__meta_kubernetes_node_labelpresent_node_role_kubernetes_io_master"), Some("true"));
        assert_eq!(l.get("__meta_kubernetes_node_annotation_k3s_io_node_args"), Some("[\"agent\"]"));
        assert_eq!(l.get("__meta_kubernetes_node_annotationpresent_k3s_io_node_args"), Some("true"));
    }
}
