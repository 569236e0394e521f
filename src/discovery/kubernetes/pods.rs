//! Role `pod` [pure]: a Pod object as the API server sends it (JSON) becomes
//! one target group with the labels Prometheus's kubernetes_sd_configs sets
//! (discovery/kubernetes/pod.go): one target per declared container port,
//! init containers included, one per container without ports, and no target
//! while the pod has no IP.

use serde::Deserialize;

use super::{Group, ObjectMeta, meta_labels};
use crate::model::Labels;

const PREFIX: &str = "__meta_kubernetes_pod_";

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Pod {
    pub metadata: ObjectMeta,
    pub spec: PodSpec,
    pub status: PodStatus,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct PodSpec {
    pub node_name: String,
    #[serde(deserialize_with = "super::null_default")]
    pub containers: Vec<Container>,
    #[serde(deserialize_with = "super::null_default")]
    pub init_containers: Vec<Container>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Container {
    pub name: String,
    pub image: String,
    #[serde(deserialize_with = "super::null_default")]
    pub ports: Vec<ContainerPort>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ContainerPort {
    pub name: String,
    pub container_port: i32,
    pub protocol: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct PodStatus {
    pub phase: String,
    #[serde(rename = "podIP")]
    pub pod_ip: String,
    #[serde(rename = "hostIP")]
    pub host_ip: String,
    #[serde(deserialize_with = "super::null_default")]
    pub conditions: Vec<Condition>,
    #[serde(deserialize_with = "super::null_default")]
    pub container_statuses: Vec<ContainerStatus>,
    #[serde(deserialize_with = "super::null_default")]
    pub init_container_statuses: Vec<ContainerStatus>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Condition {
    #[serde(rename = "type")]
    pub kind: String,
    pub status: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ContainerStatus {
    pub name: String,
    #[serde(rename = "containerID")]
    pub container_id: String,
}

/// The group's source, as Prometheus names it: `pod/<namespace>/<name>`.
pub fn source(namespace: &str, name: &str) -> String {
    format!("pod/{namespace}/{name}")
}

/// The pod's target group. Labels with empty values are kept, as in
/// Prometheus's group; they count as absent once targets are built.
pub fn group(pod: &Pod) -> Group {
    group_with(pod, None, None)
}

/// The same, with the pod's Node and Namespace when attach_metadata asks
/// (and they are known).
pub fn group_with(pod: &Pod, node: Option<&ObjectMeta>, namespace: Option<&ObjectMeta>) -> Group {
    let meta = &pod.metadata;
    let mut group = Group { source: source(&meta.namespace, &meta.name), ..Group::default() };
    // PodIP is empty while a pod is starting or after it was evicted.
    let ip = &pod.status.pod_ip;
    if ip.is_empty() {
        return group;
    }
    group.labels = pod_labels(pod);
    group.labels.set("__meta_kubernetes_namespace".into(), meta.namespace.clone());
    super::node_labels(&mut group.labels, node);
    super::namespace_labels(&mut group.labels, namespace);
    let all = pod.spec.containers.iter().map(|c| (c, false));
    let init = pod.spec.init_containers.iter().map(|c| (c, true));
    for (container, is_init) in all.chain(init) {
        let statuses =
            if is_init { &pod.status.init_container_statuses } else { &pod.status.container_statuses };
        let id = statuses.iter().find(|s| s.name == container.name).map_or("", |s| s.container_id.as_str());
        let common = [
            ("__meta_kubernetes_pod_container_name", container.name.as_str()),
            ("__meta_kubernetes_pod_container_id", id),
            ("__meta_kubernetes_pod_container_image", container.image.as_str()),
            ("__meta_kubernetes_pod_container_init", if is_init { "true" } else { "false" }),
        ];
        if container.ports.is_empty() {
            // No port: the address is the bare pod IP; relabeling adds one.
            let mut target = Labels::from_pairs(common);
            target.set("__address__".into(), ip.clone());
            group.targets.push(target);
            continue;
        }
        for port in &container.ports {
            let number = port.container_port.to_string();
            let mut target = Labels::from_pairs(common);
            target.set("__address__".into(), super::join_host_port(ip, &number));
            target.set("__meta_kubernetes_pod_container_port_number".into(), number);
            target.set("__meta_kubernetes_pod_container_port_name".into(), port.name.clone());
            target.set("__meta_kubernetes_pod_container_port_protocol".into(), port.protocol.clone());
            group.targets.push(target);
        }
    }
    group
}

/// Prometheus's podLabels: what a pod's targets carry of it, in role pod
/// and in endpoints and endpointslice targets whose address is the pod.
pub(super) fn pod_labels(pod: &Pod) -> Labels {
    let (meta, status) = (&pod.metadata, &pod.status);
    let ready = status
        .conditions
        .iter()
        .find(|c| c.kind == "Ready")
        .map_or("unknown".to_owned(), |c| c.status.to_lowercase());
    let mut labels = Labels::from_pairs([
        ("__meta_kubernetes_pod_name", meta.name.clone()),
        ("__meta_kubernetes_pod_ip", status.pod_ip.clone()),
        ("__meta_kubernetes_pod_ready", ready),
        ("__meta_kubernetes_pod_phase", status.phase.clone()),
        ("__meta_kubernetes_pod_node_name", pod.spec.node_name.clone()),
        ("__meta_kubernetes_pod_host_ip", status.host_ip.clone()),
        ("__meta_kubernetes_pod_uid", meta.uid.clone()),
    ]);
    // The first owner reference marked as controller, as GetControllerOf.
    if let Some(owner) = meta.owner_references.iter().find(|o| o.controller == Some(true)) {
        for (name, value) in [("controller_kind", &owner.kind), ("controller_name", &owner.name)] {
            if !value.is_empty() {
                labels.set(format!("{PREFIX}{name}"), value.clone());
            }
        }
    }
    meta_labels(&mut labels, PREFIX, &meta.labels, &meta.annotations);
    labels
}

#[cfg(test)]
mod tests;
