//! Role `endpointslice` [pure]: an EndpointSlice (discovery.k8s.io/v1)
//! joined with its Service (label `kubernetes.io/service-name`) and the
//! Pods its endpoints point at, as Prometheus's endpointslice.go: one target
//! per endpoint address and port, with the endpoint's conditions, zone,
//! node and hostname; pod ports no endpoint lists as targets of their own;
//! the slice of a dual-stack Service's secondary IP family gives none.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::endpoints::{Depends, SeenPods, container_labels, container_port};
use super::{Group, Lookup, ObjectMeta, ObjectReference, meta_labels, null_default, sanitize};
use crate::model::Labels;

/// The label naming a slice's Service.
const SERVICE_NAME: &str = "kubernetes.io/service-name";

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct EndpointSlice {
    pub metadata: ObjectMeta,
    pub address_type: String,
    #[serde(deserialize_with = "null_default")]
    pub endpoints: Vec<Endpoint>,
    #[serde(deserialize_with = "null_default")]
    pub ports: Vec<Port>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Endpoint {
    #[serde(deserialize_with = "null_default")]
    pub addresses: Vec<String>,
    pub conditions: Conditions,
    pub hostname: Option<String>,
    pub target_ref: Option<ObjectReference>,
    pub node_name: Option<String>,
    pub zone: Option<String>,
    #[serde(deserialize_with = "null_default")]
    pub deprecated_topology: BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Conditions {
    pub ready: Option<bool>,
    pub serving: Option<bool>,
    pub terminating: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Port {
    pub name: Option<String>,
    pub port: Option<i32>,
    pub protocol: Option<String>,
    pub app_protocol: Option<String>,
}

/// `endpointslice/<namespace>/<name>`.
pub fn source(namespace: &str, name: &str) -> String {
    format!("endpointslice/{namespace}/{name}")
}

pub fn depends(eps: &EndpointSlice) -> Depends {
    let meta = &eps.metadata;
    let service = meta.labels.get(SERVICE_NAME).map(|name| super::objects::key(&meta.namespace, name));
    let mut d = Depends { service, ..Depends::default() };
    for ep in &eps.endpoints {
        d.add(ep.target_ref.as_ref(), ep.node_name.as_deref());
    }
    d
}

pub fn group(eps: &EndpointSlice, lookup: &dyn Lookup) -> Group {
    let meta = &eps.metadata;
    let mut labels = Labels::from_pairs([
        ("__meta_kubernetes_namespace", meta.namespace.as_str()),
        ("__meta_kubernetes_endpointslice_address_type", eps.address_type.as_str()),
        ("__meta_kubernetes_endpointslice_name", meta.name.as_str()),
    ]);
    meta_labels(&mut labels, "__meta_kubernetes_endpointslice_", &meta.labels, &meta.annotations);
    let service = meta.labels.get(SERVICE_NAME).and_then(|name| lookup.service(&meta.namespace, name));
    if let Some(svc) = service {
        super::merge(&mut labels, super::services::labels(svc));
    }
    super::namespace_labels(&mut labels, lookup.namespace(&meta.namespace));
    let mut group = Group { source: source(&meta.namespace, &meta.name), targets: Vec::new(), labels };
    // A dual-stack Service has a slice per family: only the primary one's are targets.
    if let Some(svc) = service {
        let dual =
            matches!(svc.spec.ip_family_policy.as_deref(), Some("PreferDualStack" | "RequireDualStack"));
        if dual && svc.spec.ip_families.first().is_some_and(|primary| *primary != eps.address_type) {
            return group;
        }
    }
    let mut pods = SeenPods::default();
    for ep in &eps.endpoints {
        for port in &eps.ports {
            for addr in &ep.addresses {
                group.targets.push(target(addr, ep, port, lookup, &mut pods));
            }
        }
    }
    group.targets.extend(pods.unlisted_ports());
    group
}

fn target<'a>(
    addr: &str,
    ep: &Endpoint,
    port: &Port,
    lookup: &'a dyn Lookup,
    pods: &mut SeenPods<'a>,
) -> Labels {
    let number = port.port.map(|p| p.to_string());
    let address = match &number {
        Some(n) => super::join_host_port(addr, n),
        None => addr.to_owned(),
    };
    let mut t = Labels::from_pairs([("__address__", address)]);
    let mut set = |name: &str, value: Option<String>| {
        if let Some(v) = value {
            t.set(format!("__meta_kubernetes_endpointslice_{name}"), v);
        }
    };
    set("port_name", port.name.clone());
    set("port_protocol", port.protocol.clone());
    set("port", number.clone());
    set("port_app_protocol", port.app_protocol.clone());
    set("endpoint_conditions_ready", ep.conditions.ready.map(|b| b.to_string()));
    set("endpoint_conditions_serving", ep.conditions.serving.map(|b| b.to_string()));
    set("endpoint_conditions_terminating", ep.conditions.terminating.map(|b| b.to_string()));
    set("endpoint_hostname", ep.hostname.clone());
    set("address_target_kind", ep.target_ref.as_ref().map(|r| r.kind.clone()));
    set("address_target_name", ep.target_ref.as_ref().map(|r| r.name.clone()));
    set("endpoint_node_name", ep.node_name.clone());
    set("endpoint_zone", ep.zone.clone());
    for (k, v) in &ep.deprecated_topology {
        let name = sanitize(k);
        set(&format!("endpoint_topology_{name}"), Some(v.clone()));
        set(&format!("endpoint_topology_present_{name}"), Some("true".into()));
    }
    let node = match &ep.target_ref {
        Some(r) if r.kind == "Node" => Some(r.name.as_str()),
        _ => ep.node_name.as_deref(),
    };
    super::node_labels(&mut t, node.and_then(|n| lookup.node(n)));
    let pod = ep.target_ref.as_ref().filter(|r| r.kind == "Pod");
    if let Some(pod) = pod.and_then(|r| lookup.pod(&r.namespace, &r.name)) {
        super::merge(&mut t, super::pods::pod_labels(pod));
        if let (Some(p), Some(n)) = (port.port, &number)
            && let Some((c, cport, init)) = container_port(pod, p)
        {
            container_labels(&mut t, c, cport, n, &cport.protocol, init);
        }
        // A port without a number lists nothing (Prometheus skips it when comparing).
        pods.saw(pod, port.port.unwrap_or(i32::MIN));
    }
    t
}
