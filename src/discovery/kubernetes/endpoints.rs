//! Role `endpoints` [pure]: an Endpoints object joined with its Service
//! (same namespace and name) and the Pods its addresses point at, as
//! Prometheus's discovery/kubernetes/endpoints.go: one target per address
//! and port (not-ready addresses with `endpoint_ready="false"`), the pod's
//! labels and matching container port on those whose target is a known Pod,
//! and one target for each port of such a pod that no endpoint lists.

use serde::Deserialize;

use super::pods::{Container, ContainerPort, Pod};
use super::{Group, Lookup, ObjectMeta, ObjectReference, meta_labels, null_default};
use crate::model::Labels;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Endpoints {
    pub metadata: ObjectMeta,
    #[serde(deserialize_with = "null_default")]
    pub subsets: Vec<Subset>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Subset {
    #[serde(deserialize_with = "null_default")]
    pub addresses: Vec<Address>,
    #[serde(deserialize_with = "null_default")]
    pub not_ready_addresses: Vec<Address>,
    #[serde(deserialize_with = "null_default")]
    pub ports: Vec<Port>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Address {
    pub ip: String,
    pub hostname: String,
    pub node_name: Option<String>,
    pub target_ref: Option<ObjectReference>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Port {
    pub name: String,
    pub port: i32,
    pub protocol: String,
}

/// `endpoints/<namespace>/<name>`.
pub fn source(namespace: &str, name: &str) -> String {
    format!("endpoints/{namespace}/{name}")
}

/// The keys (`namespace/name`) of the objects this one's group depends on:
/// its Service, its address's Pods, Nodes by name.
pub fn depends(eps: &Endpoints) -> Depends {
    let meta = &eps.metadata;
    let mut d =
        Depends { service: Some(super::objects::key(&meta.namespace, &meta.name)), ..Depends::default() };
    for subset in &eps.subsets {
        for addr in subset.addresses.iter().chain(&subset.not_ready_addresses) {
            d.add(addr.target_ref.as_ref(), addr.node_name.as_deref());
        }
    }
    d
}

/// What a group was built from, besides its own object.
#[derive(Debug, Default)]
pub struct Depends {
    pub service: Option<String>,
    pub pods: Vec<String>,
    pub nodes: Vec<String>,
}

impl Depends {
    pub(super) fn add(&mut self, target: Option<&ObjectReference>, node: Option<&str>) {
        if let Some(r) = target {
            match r.kind.as_str() {
                "Pod" => self.pods.push(super::objects::key(&r.namespace, &r.name)),
                "Node" => self.nodes.push(r.name.clone()),
                _ => {}
            }
        }
        self.nodes.extend(node.map(str::to_owned));
    }
}

pub fn group(eps: &Endpoints, lookup: &dyn Lookup) -> Group {
    let meta = &eps.metadata;
    let mut labels = Labels::from_pairs([("__meta_kubernetes_namespace", meta.namespace.as_str())]);
    if let Some(svc) = lookup.service(&meta.namespace, &meta.name) {
        super::merge(&mut labels, super::services::labels(svc));
    }
    labels.set("__meta_kubernetes_endpoints_name".into(), meta.name.clone());
    meta_labels(&mut labels, "__meta_kubernetes_endpoints_", &meta.labels, &meta.annotations);
    super::namespace_labels(&mut labels, lookup.namespace(&meta.namespace));
    let mut pods = SeenPods::default();
    let mut targets = Vec::new();
    for subset in &eps.subsets {
        for port in &subset.ports {
            let ready = subset.addresses.iter().map(|a| (a, "true"));
            let not_ready = subset.not_ready_addresses.iter().map(|a| (a, "false"));
            for (addr, ready) in ready.chain(not_ready) {
                let number = port.port.to_string();
                let mut target = Labels::from_pairs([
                    ("__address__", super::join_host_port(&addr.ip, &number)),
                    ("__meta_kubernetes_endpoint_port_name", port.name.clone()),
                    ("__meta_kubernetes_endpoint_port_protocol", port.protocol.clone()),
                    ("__meta_kubernetes_endpoint_ready", ready.to_owned()),
                ]);
                if let Some(r) = &addr.target_ref {
                    target.set("__meta_kubernetes_endpoint_address_target_kind".into(), r.kind.clone());
                    target.set("__meta_kubernetes_endpoint_address_target_name".into(), r.name.clone());
                }
                if let Some(node) = &addr.node_name {
                    target.set("__meta_kubernetes_endpoint_node_name".into(), node.clone());
                }
                if !addr.hostname.is_empty() {
                    target.set("__meta_kubernetes_endpoint_hostname".into(), addr.hostname.clone());
                }
                let node = match (&addr.node_name, &addr.target_ref) {
                    (Some(name), _) => Some(name.as_str()),
                    (None, Some(r)) if r.kind == "Node" => Some(r.name.as_str()),
                    _ => None,
                };
                super::node_labels(&mut target, node.and_then(|n| lookup.node(n)));
                let pod = addr.target_ref.as_ref().filter(|r| r.kind == "Pod");
                if let Some(pod) = pod.and_then(|r| lookup.pod(&r.namespace, &r.name)) {
                    super::merge(&mut target, super::pods::pod_labels(pod));
                    if let Some((c, cport, init)) = container_port(pod, port.port) {
                        container_labels(&mut target, c, cport, &number, &port.protocol, init);
                    }
                    pods.saw(pod, port.port);
                }
                targets.push(target);
            }
        }
    }
    targets.extend(pods.unlisted_ports());
    Group { source: source(&meta.namespace, &meta.name), targets, labels }
}

/// The first container (init containers after the others) declaring `port`.
pub(super) fn container_port(pod: &Pod, port: i32) -> Option<(&Container, &ContainerPort, bool)> {
    containers(pod)
        .find_map(|(c, init)| c.ports.iter().find(|p| p.container_port == port).map(|p| (c, p, init)))
}

fn containers(pod: &Pod) -> impl Iterator<Item = (&Container, bool)> {
    let spec = &pod.spec;
    spec.containers.iter().map(|c| (c, false)).chain(spec.init_containers.iter().map(|c| (c, true)))
}

/// The `__meta_kubernetes_pod_container_*` labels of a matched port.
pub(super) fn container_labels(
    target: &mut Labels,
    c: &Container,
    cport: &ContainerPort,
    number: &str,
    protocol: &str,
    init: bool,
) {
    target.set("__meta_kubernetes_pod_container_name".into(), c.name.clone());
    target.set("__meta_kubernetes_pod_container_image".into(), c.image.clone());
    target.set("__meta_kubernetes_pod_container_port_name".into(), cport.name.clone());
    target.set("__meta_kubernetes_pod_container_port_number".into(), number.to_owned());
    target.set("__meta_kubernetes_pod_container_port_protocol".into(), protocol.to_owned());
    target.set("__meta_kubernetes_pod_container_init".into(), init.to_string());
}

/// The pods an object's addresses resolved to, in the order first seen, and
/// the ports listed for each.
#[derive(Default)]
pub(super) struct SeenPods<'a> {
    pods: Vec<(&'a Pod, Vec<i32>)>,
}

impl<'a> SeenPods<'a> {
    pub(super) fn saw(&mut self, pod: &'a Pod, port: i32) {
        let same =
            |p: &&Pod| p.metadata.namespace == pod.metadata.namespace && p.metadata.name == pod.metadata.name;
        match self.pods.iter_mut().find(|(p, _)| same(p)) {
            Some((_, ports)) => ports.push(port),
            None => self.pods.push((pod, vec![port])),
        }
    }

    /// A target for each container port of a seen pod (with an IP) that no
    /// endpoint listed, with the pod's labels.
    pub(super) fn unlisted_ports(&self) -> Vec<Labels> {
        let mut out = Vec::new();
        for (pod, listed) in &self.pods {
            let ip = &pod.status.pod_ip;
            if ip.is_empty() {
                continue;
            }
            for (c, init) in containers(pod) {
                for cport in c.ports.iter().filter(|p| !listed.contains(&p.container_port)) {
                    let number = cport.container_port.to_string();
                    let mut target =
                        Labels::from_pairs([("__address__", super::join_host_port(ip, &number))]);
                    container_labels(&mut target, c, cport, &number, &cport.protocol, init);
                    super::merge(&mut target, super::pods::pod_labels(pod));
                    out.push(target);
                }
            }
        }
        out
    }
}
