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

    /// Decodes one object of this resource.
    pub fn decode(self, json: &[u8]) -> Result<Object, serde_json::Error> {
        Ok(match self {
            Resource::Pod => Object::Pod(Box::new(serde_json::from_slice(json)?)),
            Resource::Node => Object::Node(Box::new(serde_json::from_slice(json)?)),
            Resource::Service => Object::Service(Box::new(serde_json::from_slice(json)?)),
            Resource::Endpoints => Object::Endpoints(Box::new(serde_json::from_slice(json)?)),
            Resource::EndpointSlice => Object::EndpointSlice(Box::new(serde_json::from_slice(json)?)),
            Resource::Ingress => Object::Ingress(Box::new(serde_json::from_slice(json)?)),
            Resource::Namespace => Object::Namespace(Box::new(serde_json::from_slice(json)?)),
        })
    }

    /// The key of an object of this resource with this metadata.
    pub fn key(self, meta: &ObjectMeta) -> String {
        if self.namespaced() { key(&meta.namespace, &meta.name) } else { meta.name.clone() }
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
