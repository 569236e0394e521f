//! The API resources discovery watches and their objects, decoded [pure]:
//! where each is listed (`/api/v1/...`, `/apis/<group>/v1/...`), whether it
//! lives in a namespace, and each object's key (`namespace/name`, or `name`
//! for nodes and namespaces), as client-go's MetaNamespaceKeyFunc.

use serde::Deserialize;

use super::ObjectMeta;
use super::endpoints::Endpoints;
use super::endpointslices::EndpointSlice;
use super::ingresses::Ingress;
use super::nodes::Node;
use super::pods::Pod;
use super::services::Service;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Resource {
    Pod,
    Node,
    Service,
    Endpoints,
    EndpointSlice,
    Ingress,
    Namespace,
}

impl Resource {
    /// The collection's name in URLs and logs.
    pub fn plural(self) -> &'static str {
        match self {
            Resource::Pod => "pods",
            Resource::Node => "nodes",
            Resource::Service => "services",
            Resource::Endpoints => "endpoints",
            Resource::EndpointSlice => "endpointslices",
            Resource::Ingress => "ingresses",
            Resource::Namespace => "namespaces",
        }
    }

    fn api(self) -> &'static str {
        match self {
            Resource::EndpointSlice => "/apis/discovery.k8s.io/v1",
            Resource::Ingress => "/apis/networking.k8s.io/v1",
            _ => "/api/v1",
        }
    }

    pub fn namespaced(self) -> bool {
        !matches!(self, Resource::Node | Resource::Namespace)
    }

    /// The collection's path, in one namespace or in all.
    pub fn path(self, namespace: Option<&str>, encode: impl Fn(&str) -> String) -> String {
        match namespace.filter(|_| self.namespaced()) {
            Some(ns) => format!("{}/namespaces/{}/{}", self.api(), encode(ns), self.plural()),
            None => format!("{}/{}", self.api(), self.plural()),
        }
    }

    /// Decodes one object of this resource. A `null` anywhere reads as the
    /// field's empty value, as Go's encoding/json leaves the field alone: if
    /// the fast path fails, the nulls are taken out and it is tried again.
    pub fn decode(self, json: &[u8]) -> Result<Object, serde_json::Error> {
        let first = match self.decode_from(&mut serde_json::Deserializer::from_slice(json)) {
            Ok(object) => return Ok(object),
            Err(e) => e,
        };
        let Ok(mut value) = serde_json::from_slice::<serde_json::Value>(json) else { return Err(first) };
        if !strip_nulls(&mut value) {
            return Err(first);
        }
        self.decode_from(value).map_err(|_| first)
    }

    fn decode_from<'de, D: serde::Deserializer<'de, Error = serde_json::Error>>(
        self,
        d: D,
    ) -> Result<Object, serde_json::Error> {
        Ok(match self {
            Resource::Pod => Object::Pod(Box::new(Deserialize::deserialize(d)?)),
            Resource::Node => Object::Node(Box::new(Deserialize::deserialize(d)?)),
            Resource::Service => Object::Service(Box::new(Deserialize::deserialize(d)?)),
            Resource::Endpoints => Object::Endpoints(Box::new(Deserialize::deserialize(d)?)),
            Resource::EndpointSlice => Object::EndpointSlice(Box::new(Deserialize::deserialize(d)?)),
            Resource::Ingress => Object::Ingress(Box::new(Deserialize::deserialize(d)?)),
            Resource::Namespace => Object::Namespace(Box::new(Deserialize::deserialize(d)?)),
        })
    }

    /// The key of an object of this resource with this metadata.
    pub fn key(self, meta: &ObjectMeta) -> String {
        if self.namespaced() { key(&meta.namespace, &meta.name) } else { meta.name.clone() }
    }
}

/// Removes every `null` member of every object and every `null` element of
/// every array (Go would decode one as a zero-valued element, e.g. a
/// container without name; dropping it is the closest that builds no odd
/// target); returns whether it removed one.
fn strip_nulls(value: &mut serde_json::Value) -> bool {
    match value {
        serde_json::Value::Object(map) => {
            let before = map.len();
            map.retain(|_, v| !v.is_null());
            let mut removed = map.len() != before;
            for v in map.values_mut() {
                removed |= strip_nulls(v);
            }
            removed
        }
        serde_json::Value::Array(items) => {
            let before = items.len();
            items.retain(|v| !v.is_null());
            let removed = items.len() != before;
            items.iter_mut().fold(removed, |acc, v| strip_nulls(v) | acc)
        }
        _ => false,
    }
}

/// `namespace/name`.
pub fn key(namespace: &str, name: &str) -> String {
    format!("{namespace}/{name}")
}

/// A Namespace: only its metadata is used (attach_metadata namespace).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Namespace {
    pub metadata: ObjectMeta,
}

/// One decoded object.
#[derive(Debug)]
pub enum Object {
    Pod(Box<Pod>),
    Node(Box<Node>),
    Service(Box<Service>),
    Endpoints(Box<Endpoints>),
    EndpointSlice(Box<EndpointSlice>),
    Ingress(Box<Ingress>),
    Namespace(Box<Namespace>),
}

impl Object {
    pub fn meta(&self) -> &ObjectMeta {
        match self {
            Object::Pod(o) => &o.metadata,
            Object::Node(o) => &o.metadata,
            Object::Service(o) => &o.metadata,
            Object::Endpoints(o) => &o.metadata,
            Object::EndpointSlice(o) => &o.metadata,
            Object::Ingress(o) => &o.metadata,
            Object::Namespace(o) => &o.metadata,
        }
    }

    pub fn resource(&self) -> Resource {
        match self {
            Object::Pod(_) => Resource::Pod,
            Object::Node(_) => Resource::Node,
            Object::Service(_) => Resource::Service,
            Object::Endpoints(_) => Resource::Endpoints,
            Object::EndpointSlice(_) => Resource::EndpointSlice,
            Object::Ingress(_) => Resource::Ingress,
            Object::Namespace(_) => Resource::Namespace,
        }
    }

    pub fn key(&self) -> String {
        self.resource().key(self.meta())
    }
}
