//! List responses and watch events [pure]: bytes from the API server become
//! target groups, and [`Cache`] keeps the group last sent per object, so a
//! relist sends only what changed and removes what is gone (Prometheus's
//! informer store, reduced to the groups).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;

use super::{Group, ObjectMeta, nodes, pods};
use crate::config::KubernetesRole as Role;

/// One watch event, decoded.
#[derive(Debug, PartialEq)]
pub enum Event {
    /// ADDED or MODIFIED. `group` is `None` when the object gives no update
    /// (a node without a usable address: Prometheus keeps its old group).
    Upsert {
        source: String,
        group: Option<Group>,
        resource_version: String,
    },
    Deleted {
        source: String,
        resource_version: String,
    },
    Bookmark {
        resource_version: String,
    },
    /// ERROR with code 410: the resourceVersion is too old; list again.
    Expired {
        message: String,
    },
    /// ERROR with another code.
    Failed {
        code: u16,
        message: String,
    },
    /// A type this client does not know; logged and skipped, as client-go does.
    Unknown {
        kind: String,
    },
}

#[derive(Deserialize)]
struct List<T> {
    #[serde(default)]
    metadata: ListMeta,
    items: Option<Vec<T>>,
}

#[derive(Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct ListMeta {
    resource_version: String,
}

#[derive(Deserialize)]
struct RawEvent<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    #[serde(borrow)]
    object: &'a RawValue,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct Status {
    code: u16,
    message: String,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct Metadata {
    metadata: ObjectMeta,
}

/// Each listed object's source and group (`None`: no update, as for a node
/// without an address).
pub type Listed = Vec<(String, Option<Group>)>;

/// Objects one list or watch may make outpost hold (README, "Memory budget"): the groups of
/// 5,000 pods take tens of MiB; an edge device discovers its own node's pods
/// (`spec.nodeName=`), a kubelet runs at most 110 by default.
pub const MAX_OBJECTS: usize = 5_000;

/// A list response: its resourceVersion and each object's (source, group). The items are
/// counted before any is decoded, and decoded one at a time.
pub fn decode_list(role: Role, body: &[u8]) -> Result<(String, Listed), String> {
    let list: List<&RawValue> = serde_json::from_slice(body).map_err(|e| format!("list: {e}"))?;
    let items = list.items.unwrap_or_default();
    if items.len() > MAX_OBJECTS {
        return Err(format!(
            "list: {} objects, more than the {MAX_OBJECTS} outpost keeps; select fewer (namespaces, \
             selectors such as spec.nodeName=)",
            items.len()
        ));
    }
    fn decode<T: DeserializeOwned>(item: &RawValue) -> Result<T, String> {
        serde_json::from_str(item.get()).map_err(|e| format!("list: {e}"))
    }
    let mut listed = Vec::with_capacity(items.len());
    for item in items {
        listed.push(match role {
            Role::Pod => {
                let pod: pods::Pod = decode(item)?;
                (pod_source(&pod.metadata), Some(pods::group(&pod)))
            }
            Role::Node => {
                let node: nodes::Node = decode(item)?;
                (nodes::source(&node.metadata.name), nodes::group(&node))
            }
        });
    }
    Ok((list.metadata.resource_version, listed))
}

/// One line of a watch stream.
pub fn decode_event(role: Role, line: &[u8]) -> Result<Event, String> {
    let raw: RawEvent = serde_json::from_slice(line).map_err(|e| format!("watch event: {e}"))?;
    let object = raw.object.get();
    let parse = |what: &str| format!("watch event {what}: ");
    Ok(match raw.kind {
        "ADDED" | "MODIFIED" => match role {
            Role::Pod => {
                let pod: pods::Pod = serde_json::from_slice(object.as_bytes())
                    .map_err(|e| parse(raw.kind) + &e.to_string())?;
                let resource_version = pod.metadata.resource_version.clone();
                Event::Upsert {
                    source: pod_source(&pod.metadata),
                    group: Some(pods::group(&pod)),
                    resource_version,
                }
            }
            Role::Node => {
                let node: nodes::Node = serde_json::from_slice(object.as_bytes())
                    .map_err(|e| parse(raw.kind) + &e.to_string())?;
                let resource_version = node.metadata.resource_version.clone();
                let source = nodes::source(&node.metadata.name);
                Event::Upsert { source, group: nodes::group(&node), resource_version }
            }
        },
        "DELETED" => {
            let m: Metadata =
                serde_json::from_slice(object.as_bytes()).map_err(|e| parse("DELETED") + &e.to_string())?;
            let source = match role {
                Role::Pod => pod_source(&m.metadata),
                Role::Node => nodes::source(&m.metadata.name),
            };
            Event::Deleted { source, resource_version: m.metadata.resource_version }
        }
        "BOOKMARK" => {
            let m: Metadata =
                serde_json::from_slice(object.as_bytes()).map_err(|e| parse("BOOKMARK") + &e.to_string())?;
            Event::Bookmark { resource_version: m.metadata.resource_version }
        }
        "ERROR" => {
            let status: Status =
                serde_json::from_slice(object.as_bytes()).map_err(|e| parse("ERROR") + &e.to_string())?;
            match status.code {
                410 => Event::Expired { message: status.message },
                code => Event::Failed { code, message: status.message },
            }
        }
        other => Event::Unknown { kind: other.chars().take(64).collect() },
    })
}

/// The `message` of a Status object, as the API server sends with an error.
pub fn status_message(body: &[u8]) -> Option<String> {
    let status: Status = serde_json::from_slice(body).ok()?;
    Some(status.message).filter(|m| !m.is_empty())
}

fn pod_source(meta: &ObjectMeta) -> String {
    pods::source(&meta.namespace, &meta.name)
}

/// The group last sent for each object of one watch, by source.
#[derive(Debug, Default)]
pub struct Cache {
    groups: BTreeMap<String, Group>,
}

impl Cache {
    /// After a list: the groups that differ from what was sent, and an empty
    /// group for every object that is no longer there. On the first list
    /// every object's group (the whole set).
    pub fn replace(&mut self, listed: Listed) -> Vec<Group> {
        let mut changed = Vec::new();
        let mut next = BTreeMap::new();
        for (source, group) in listed {
            let old = self.groups.remove(&source);
            let group = match (group, old) {
                (Some(group), old) => {
                    if old.as_ref() != Some(&group) {
                        changed.push(group.clone());
                    }
                    group
                }
                // No update (a node without address): the old group stays.
                (None, Some(old)) => old,
                (None, None) => continue,
            };
            next.insert(source, group);
        }
        for source in std::mem::take(&mut self.groups).into_keys() {
            changed.push(Group { source, ..Group::default() });
        }
        self.groups = next;
        changed
    }

    /// A watch event's change, if it changes what was sent.
    pub fn apply(&mut self, event: Event) -> Option<Group> {
        match event {
            Event::Upsert { source, group: Some(group), .. } => {
                if self.groups.get(&source) == Some(&group) {
                    return None;
                }
                self.groups.insert(source, group.clone());
                Some(group)
            }
            Event::Deleted { source, .. } => {
                self.groups.remove(&source)?;
                Some(Group { source, ..Group::default() })
            }
            _ => None,
        }
    }

    pub fn len(&self) -> usize {
        self.groups.len()
    }

    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }
}

#[cfg(test)]
mod tests;
