//! `kubernetes_sd_configs`, every role Prometheus has (SPEC, "Kubernetes pod
//! discovery"). [`pods`], [`nodes`], [`services`], [`ingresses`],
//! [`endpoints`] and [`endpointslices`] turn API objects into target groups
//! [pure]; [`join`] holds every watched collection's objects and rebuilds
//! the groups a change touches [pure]; [`watch`] lists and watches the API
//! server; [`kubeconfig`] reads credentials (kubeconfig file or in-cluster
//! service account).

pub mod endpoints;
pub mod endpointslices;
pub mod events;
pub mod ingresses;
pub mod join;
pub mod kubeconfig;
pub mod nodes;
pub mod objects;
pub mod pods;
pub mod services;
pub mod watch;

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};

pub use crate::discovery::Group;
use crate::model::Labels;

/// The part of an object's metadata discovery reads.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ObjectMeta {
    pub name: String,
    pub namespace: String,
    pub uid: String,
    pub resource_version: String,
    #[serde(deserialize_with = "null_default")]
    pub labels: BTreeMap<String, String>,
    #[serde(deserialize_with = "null_default")]
    pub annotations: BTreeMap<String, String>,
    #[serde(deserialize_with = "null_default")]
    pub owner_references: Vec<OwnerReference>,
}

/// An endpoint address's `targetRef`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ObjectReference {
    pub kind: String,
    pub namespace: String,
    pub name: String,
}

/// What a group builder may look up among the other watched collections;
/// `None` when the object is unknown (not yet listed, deleted, or its
/// collection is not watched).
pub trait Lookup {
    fn service(&self, namespace: &str, name: &str) -> Option<&services::Service>;
    fn pod(&self, namespace: &str, name: &str) -> Option<&pods::Pod>;
    fn node(&self, name: &str) -> Option<&ObjectMeta>;
    fn namespace(&self, name: &str) -> Option<&ObjectMeta>;
}

/// Every label of `other` into `out`, replacing (Go's LabelSet.Merge).
fn merge(out: &mut Labels, other: Labels) {
    for l in other.iter() {
        out.set(l.name.clone(), l.value.clone());
    }
}

/// attach_metadata node: `__meta_kubernetes_node_name`, its labels and annotations.
fn node_labels(out: &mut Labels, node: Option<&ObjectMeta>) {
    if let Some(node) = node {
        out.set("__meta_kubernetes_node_name".into(), node.name.clone());
        meta_labels(out, "__meta_kubernetes_node_", &node.labels, &node.annotations);
    }
}

/// attach_metadata namespace: the namespace's labels and annotations (its
/// name is `__meta_kubernetes_namespace` already).
fn namespace_labels(out: &mut Labels, namespace: Option<&ObjectMeta>) {
    if let Some(ns) = namespace {
        meta_labels(out, "__meta_kubernetes_namespace_", &ns.labels, &ns.annotations);
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct OwnerReference {
    pub kind: String,
    pub name: String,
    pub controller: Option<bool>,
}

/// `null` where Kubernetes JSON may send it reads as the empty value.
fn null_default<'de, D: Deserializer<'de>, T: Default + Deserialize<'de>>(d: D) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// `<prefix>label_<name>`, `<prefix>labelpresent_<name>` and the same for
/// annotations, names sanitized as Prometheus's strutil.SanitizeLabelName.
fn meta_labels(
    out: &mut Labels,
    prefix: &str,
    labels: &BTreeMap<String, String>,
    annotations: &BTreeMap<String, String>,
) {
    for (kind, map) in [("label", labels), ("annotation", annotations)] {
        for (key, value) in map {
            let name = sanitize(key);
            out.set(format!("{prefix}{kind}_{name}"), value.clone());
            out.set(format!("{prefix}{kind}present_{name}"), "true".into());
        }
    }
}

/// Every character outside `[a-zA-Z0-9_]` becomes `_` (one per character,
/// as Go's regexp replaces runes, not bytes).
pub fn sanitize(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect()
}

/// `host:port`, with an IPv6 host in brackets (Go's net.JoinHostPort).
fn join_host_port(host: &str, port: &str) -> String {
    if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") }
}
