//! Role `service` [pure]: a Service becomes one target per port at its DNS
//! name `<name>.<namespace>.svc:<port>`, as Prometheus's
//! discovery/kubernetes/service.go builds it (the blackbox-exporter use);
//! [`labels`] are also what endpoints and endpointslice targets carry of
//! their Service.

use serde::Deserialize;

use super::{Group, ObjectMeta, meta_labels, null_default};
use crate::model::Labels;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Service {
    pub metadata: ObjectMeta,
    pub spec: ServiceSpec,
    pub status: ServiceStatus,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ServiceSpec {
    #[serde(deserialize_with = "null_default")]
    pub ports: Vec<ServicePort>,
    #[serde(rename = "clusterIP")]
    pub cluster_ip: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub external_name: String,
    #[serde(rename = "loadBalancerIP")]
    pub load_balancer_ip: String,
    pub ip_family_policy: Option<String>,
    #[serde(deserialize_with = "null_default")]
    pub ip_families: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ServicePort {
    pub name: String,
    pub port: i32,
    pub protocol: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ServiceStatus {
    pub load_balancer: LoadBalancerStatus,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct LoadBalancerStatus {
    #[serde(deserialize_with = "null_default")]
    pub ingress: Vec<LoadBalancerIngress>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct LoadBalancerIngress {
    pub ip: String,
}

/// `svc/<namespace>/<name>`.
pub fn source(namespace: &str, name: &str) -> String {
    format!("svc/{namespace}/{name}")
}

/// The Service's name, namespace, labels and annotations.
pub fn labels(svc: &Service) -> Labels {
    let meta = &svc.metadata;
    let mut labels = Labels::from_pairs([
        ("__meta_kubernetes_service_name", meta.name.clone()),
        ("__meta_kubernetes_namespace", meta.namespace.clone()),
    ]);
    meta_labels(&mut labels, "__meta_kubernetes_service_", &meta.labels, &meta.annotations);
    labels
}

/// The Service's group; `namespace` is its Namespace when attach_metadata asks.
pub fn group(svc: &Service, namespace: Option<&ObjectMeta>) -> Group {
    let (meta, spec) = (&svc.metadata, &svc.spec);
    let mut labels = labels(svc);
    super::namespace_labels(&mut labels, namespace);
    let mut targets = Vec::with_capacity(spec.ports.len());
    for port in &spec.ports {
        let number = port.port.to_string();
        let host = format!("{}.{}.svc", meta.name, meta.namespace);
        let mut target = Labels::from_pairs([
            ("__address__", super::join_host_port(&host, &number)),
            ("__meta_kubernetes_service_port_name", port.name.clone()),
            ("__meta_kubernetes_service_port_number", number),
            ("__meta_kubernetes_service_port_protocol", port.protocol.clone()),
            ("__meta_kubernetes_service_type", spec.kind.clone()),
        ]);
        if spec.kind == "ExternalName" {
            target.set("__meta_kubernetes_service_external_name".into(), spec.external_name.clone());
        } else {
            target.set("__meta_kubernetes_service_cluster_ip".into(), spec.cluster_ip.clone());
        }
        if spec.kind == "LoadBalancer" {
            target.set("__meta_kubernetes_service_loadbalancer_ip".into(), load_balancer_ips(svc));
        }
        targets.push(target);
    }
    Group { source: source(&meta.namespace, &meta.name), targets, labels }
}

/// The status's ingress IPs joined with commas, else the deprecated
/// `spec.loadBalancerIP` (Prometheus after 2.42; K3s's ServiceLB fills the status).
fn load_balancer_ips(svc: &Service) -> String {
    let ips: Vec<&str> =
        svc.status.load_balancer.ingress.iter().map(|i| i.ip.as_str()).filter(|ip| !ip.is_empty()).collect();
    if ips.is_empty() { svc.spec.load_balancer_ip.clone() } else { ips.join(",") }
}
