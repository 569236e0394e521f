//! Role `ingress` [pure]: an Ingress (networking.k8s.io/v1) becomes one
//! target per rule and path, at the rule's host, as Prometheus's
//! discovery/kubernetes/ingress.go: scheme https when a TLS entry covers the
//! host (`*.example.com` covers one label), a rule without `http` is path
//! `/`, and an ingress without rules has no targets.

use serde::Deserialize;

use super::{Group, ObjectMeta, meta_labels, null_default};
use crate::model::Labels;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Ingress {
    pub metadata: ObjectMeta,
    pub spec: IngressSpec,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct IngressSpec {
    pub ingress_class_name: Option<String>,
    #[serde(deserialize_with = "null_default")]
    pub rules: Vec<IngressRule>,
    #[serde(deserialize_with = "null_default")]
    pub tls: Vec<IngressTls>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct IngressRule {
    pub host: String,
    /// `None`: no `http` value, which Prometheus reads as the path `/`.
    pub http: Option<HttpRule>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct HttpRule {
    #[serde(deserialize_with = "null_default")]
    pub paths: Vec<HttpPath>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct HttpPath {
    pub path: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct IngressTls {
    #[serde(deserialize_with = "null_default")]
    pub hosts: Vec<String>,
}

/// `ingress/<namespace>/<name>`.
pub fn source(namespace: &str, name: &str) -> String {
    format!("ingress/{namespace}/{name}")
}

pub fn group(ingress: &Ingress, namespace: Option<&ObjectMeta>) -> Group {
    let meta = &ingress.metadata;
    let mut labels = Labels::from_pairs([
        ("__meta_kubernetes_namespace", meta.namespace.clone()),
        ("__meta_kubernetes_ingress_name", meta.name.clone()),
    ]);
    if let Some(class) = &ingress.spec.ingress_class_name {
        labels.set("__meta_kubernetes_ingress_class_name".into(), class.clone());
    }
    meta_labels(&mut labels, "__meta_kubernetes_ingress_", &meta.labels, &meta.annotations);
    super::namespace_labels(&mut labels, namespace);
    let tls_hosts: Vec<&str> =
        ingress.spec.tls.iter().flat_map(|t| t.hosts.iter().map(String::as_str)).collect();
    let mut targets = Vec::new();
    for rule in &ingress.spec.rules {
        let scheme = if tls_hosts.iter().any(|p| matches_host(p, &rule.host)) { "https" } else { "http" };
        let paths: Vec<&str> = match &rule.http {
            None => vec!["/"],
            Some(http) => {
                http.paths.iter().map(|p| if p.path.is_empty() { "/" } else { p.path.as_str() }).collect()
            }
        };
        for path in paths {
            targets.push(Labels::from_pairs([
                ("__address__", rule.host.as_str()),
                ("__meta_kubernetes_ingress_scheme", scheme),
                ("__meta_kubernetes_ingress_host", rule.host.as_str()),
                ("__meta_kubernetes_ingress_path", path),
            ]));
        }
    }
    Group { source: source(&meta.namespace, &meta.name), targets, labels }
}

/// `pattern` is `host`, or `*.` and then the host's labels after its first.
fn matches_host(pattern: &str, host: &str) -> bool {
    if pattern == host {
        return true;
    }
    let (p, h): (Vec<&str>, Vec<&str>) = (pattern.split('.').collect(), host.split('.').collect());
    p.first() == Some(&"*") && p.len() == h.len() && p[1..] == h[1..]
}
