//! The objects of every collection one provider watches, and the groups
//! built from them [pure] (Prometheus's informer stores and the role's
//! handlers in one). A change to the role's own objects rebuilds theirs; a
//! change to a Service, Pod, Node or Namespace rebuilds the groups built
//! with it. Nothing is sent until every collection has been listed once
//! (Prometheus's WaitForCacheSync); then the whole set, then what changed.

use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hash, Hasher};

use super::objects::{Object, Resource};
use super::services::Service;
use super::{Group, Lookup, ObjectMeta, endpoints, endpointslices, ingresses, nodes, pods, services};

/// What one collection's watcher saw.
#[derive(Debug)]
pub enum Change {
    /// A (re)list: the collection's whole content.
    Listed(Vec<Object>),
    /// ADDED or MODIFIED.
    Upsert(Object),
    /// DELETED, by key.
    Deleted(String),
}

pub struct Join {
    /// The role's own resource; its objects give the groups.
    primary: Resource,
    /// Per collection: its resource and its objects by key.
    stores: Vec<(Resource, BTreeMap<String, Object>)>,
    listed: Vec<bool>,
    synced: bool,
    /// What was last sent for each primary object, by key: the agent holds
    /// the groups themselves, so only their digest is kept here.
    sent: BTreeMap<String, Sent>,
}

/// A sent group's source, a hash of its content, and its number of targets.
#[derive(Debug, PartialEq)]
struct Sent {
    source: String,
    digest: u64,
    targets: usize,
}

impl Sent {
    /// SipHash-1-3 of the targets and labels: two different groups sharing a
    /// digest (odds 2^-64 per change) would skip one update.
    fn of(group: &Group) -> Sent {
        let mut h = DefaultHasher::new();
        group.targets.hash(&mut h);
        group.labels.hash(&mut h);
        Sent { source: group.source.clone(), digest: h.finish(), targets: group.targets.len() }
    }
}

impl Join {
    /// `collections`: the resource of each collection, by index.
    pub fn new(primary: Resource, collections: &[Resource]) -> Join {
        Join {
            primary,
            stores: collections.iter().map(|r| (*r, BTreeMap::new())).collect(),
            listed: vec![false; collections.len()],
            synced: false,
            sent: BTreeMap::new(),
        }
    }

    /// Takes collection `index`'s change; returns the groups to send. `None`:
    /// nothing to send; `Some` of an empty list happens once, when every
    /// collection is first listed and there are no targets.
    pub fn apply(&mut self, index: usize, change: Change) -> Option<Vec<Group>> {
        let Some((resource, store)) = self.stores.get_mut(index) else {
            debug_assert!(false, "collection {index} out of range");
            return None;
        };
        let resource = *resource;
        let mut touched: Vec<String> = Vec::new();
        match change {
            Change::Listed(objects) => {
                let old = std::mem::take(store);
                touched.extend(old.into_keys());
                for object in objects {
                    let key = object.key();
                    touched.push(key.clone());
                    store.insert(key, object);
                }
                touched.sort();
                touched.dedup();
            }
            Change::Upsert(object) => {
                let key = object.key();
                store.insert(key.clone(), object);
                touched.push(key);
            }
            Change::Deleted(key) => {
                store.remove(&key);
                touched.push(key);
            }
        }
        if !self.synced {
            self.listed[index] = true;
            if !self.listed.iter().all(|l| *l) {
                return None;
            }
            self.synced = true;
            let all: Vec<String> = self.primary_keys().collect();
            let changed = self.rebuild(all);
            return Some(changed);
        }
        let affected = if resource == self.primary { touched } else { self.dependents(resource, &touched) };
        let changed = self.rebuild(affected);
        (!changed.is_empty()).then_some(changed)
    }

    /// The keys of the role's objects, in every namespace's collection.
    fn primary_keys(&self) -> impl Iterator<Item = String> + '_ {
        self.stores.iter().filter(|(r, _)| *r == self.primary).flat_map(|(_, s)| s.keys().cloned())
    }

    fn primary(&self, key: &str) -> Option<&Object> {
        self.stores.iter().filter(|(r, _)| *r == self.primary).find_map(|(_, s)| s.get(key))
    }

    fn find(&self, resource: Resource, key: &str) -> Option<&Object> {
        self.stores.iter().filter(|(r, _)| *r == resource).find_map(|(_, s)| s.get(key))
    }

    /// The role's objects whose groups were built with one of `keys`.
    fn dependents(&self, resource: Resource, keys: &[String]) -> Vec<String> {
        let hit = |k: &str| keys.iter().any(|t| t == k);
        let mut out = Vec::new();
        for (_, store) in self.stores.iter().filter(|(r, _)| *r == self.primary) {
            for (key, object) in store {
                let meta = object.meta();
                let uses = match resource {
                    Resource::Namespace => hit(&meta.namespace),
                    Resource::Node => match object {
                        Object::Pod(p) => hit(&p.spec.node_name),
                        Object::Endpoints(e) => endpoints::depends(e).nodes.iter().any(|n| hit(n)),
                        Object::EndpointSlice(e) => endpointslices::depends(e).nodes.iter().any(|n| hit(n)),
                        _ => false,
                    },
                    Resource::Service | Resource::Pod => {
                        let d = match object {
                            Object::Endpoints(e) => endpoints::depends(e),
                            Object::EndpointSlice(e) => endpointslices::depends(e),
                            _ => continue,
                        };
                        if resource == Resource::Service {
                            d.service.as_deref().is_some_and(hit)
                        } else {
                            d.pods.iter().any(|p| hit(p))
                        }
                    }
                    _ => false,
                };
                if uses {
                    out.push(key.clone());
                }
            }
        }
        out
    }

    /// Builds the groups of `keys` again; returns those that differ from
    /// what was sent (an empty group for an object that is gone).
    fn rebuild(&mut self, keys: Vec<String>) -> Vec<Group> {
        let mut changed = Vec::new();
        for key in keys {
            let built = match self.primary(&key) {
                // `None` from a builder: no update (a node without address keeps its group).
                Some(object) => match self.build(object) {
                    Some(group) => Some(group),
                    None => continue,
                },
                None => None,
            };
            match built {
                Some(group) => {
                    let sent = Sent::of(&group);
                    if self.sent.get(&key) != Some(&sent) {
                        self.sent.insert(key, sent);
                        changed.push(group);
                    }
                }
                None => {
                    if let Some(old) = self.sent.remove(&key) {
                        changed.push(Group { source: old.source, ..Group::default() });
                    }
                }
            }
        }
        changed
    }

    fn build(&self, object: &Object) -> Option<Group> {
        let namespace = self.namespace(&object.meta().namespace);
        match object {
            Object::Pod(p) => {
                let node = self.node(&p.spec.node_name);
                Some(pods::group_with(p, node, namespace))
            }
            Object::Node(n) => nodes::group(n),
            Object::Service(s) => Some(services::group(s, namespace)),
            Object::Ingress(i) => Some(ingresses::group(i, namespace)),
            Object::Endpoints(e) => Some(endpoints::group(e, self)),
            Object::EndpointSlice(e) => Some(endpointslices::group(e, self)),
            Object::Namespace(_) => None,
        }
    }

    /// Objects held, over every collection.
    pub fn len(&self) -> usize {
        self.stores.iter().map(|(_, s)| s.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Target label sets of every group sent, for sizing.
    pub fn targets(&self) -> usize {
        self.sent.values().map(|s| s.targets).sum()
    }
}

impl Lookup for Join {
    fn service(&self, namespace: &str, name: &str) -> Option<&Service> {
        match self.find(Resource::Service, &super::objects::key(namespace, name))? {
            Object::Service(s) => Some(s),
            _ => None,
        }
    }

    fn pod(&self, namespace: &str, name: &str) -> Option<&pods::Pod> {
        match self.find(Resource::Pod, &super::objects::key(namespace, name))? {
            Object::Pod(p) => Some(p),
            _ => None,
        }
    }

    fn node(&self, name: &str) -> Option<&ObjectMeta> {
        // The role's own nodes are no attached metadata.
        if self.primary == Resource::Node {
            return None;
        }
        self.find(Resource::Node, name).map(Object::meta)
    }

    fn namespace(&self, name: &str) -> Option<&ObjectMeta> {
        self.find(Resource::Namespace, name).map(Object::meta)
    }
}

#[cfg(test)]
mod tests;
