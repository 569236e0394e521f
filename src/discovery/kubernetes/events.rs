//! List responses and watch events [pure]: bytes from the API server become
//! decoded objects (the join turns them into target groups).

use serde::Deserialize;
use serde_json::value::RawValue;

use super::ObjectMeta;
use super::objects::{Object, Resource};

/// One watch event, decoded.
#[derive(Debug)]
pub enum Event {
    /// ADDED or MODIFIED.
    Upsert {
        object: Object,
        resource_version: String,
    },
    Deleted {
        key: String,
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
struct List<'a> {
    #[serde(default)]
    metadata: ListMeta,
    #[serde(borrow)]
    items: Option<Vec<&'a RawValue>>,
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

/// Objects one list or watch may make outpost hold (README, "Memory budget"): the groups of
/// 5,000 pods take tens of MiB; an edge device discovers its own node's pods
/// (`spec.nodeName=`), a kubelet runs at most 110 by default.
pub const MAX_OBJECTS: usize = 5_000;

/// A list response: its resourceVersion and its objects. The items are counted before any
/// is decoded, and decoded one at a time.
pub fn decode_list(resource: Resource, body: &[u8]) -> Result<(String, Vec<Object>), String> {
    let list: List = serde_json::from_slice(body).map_err(|e| format!("list: {e}"))?;
    let items = list.items.unwrap_or_default();
    if items.len() > MAX_OBJECTS {
        return Err(format!(
            "list: {} objects, more than the {MAX_OBJECTS} outpost keeps; select fewer (namespaces, \
             selectors such as spec.nodeName=)",
            items.len()
        ));
    }
    let mut objects = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let object = resource.decode(item.get().as_bytes()).map_err(|e| format!("list: item {i}: {e}"))?;
        objects.push(object);
    }
    Ok((list.metadata.resource_version, objects))
}

/// One line of a watch stream.
pub fn decode_event(resource: Resource, line: &[u8]) -> Result<Event, String> {
    let raw: RawEvent = serde_json::from_slice(line).map_err(|e| format!("watch event: {e}"))?;
    let object = raw.object.get();
    let parse = |what: &str| format!("watch event {what}: ");
    Ok(match raw.kind {
        "ADDED" | "MODIFIED" => {
            let object = resource.decode(object.as_bytes()).map_err(|e| parse(raw.kind) + &e.to_string())?;
            let resource_version = object.meta().resource_version.clone();
            Event::Upsert { object, resource_version }
        }
        "DELETED" => {
            let m: Metadata =
                serde_json::from_slice(object.as_bytes()).map_err(|e| parse("DELETED") + &e.to_string())?;
            Event::Deleted { key: resource.key(&m.metadata), resource_version: m.metadata.resource_version }
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

#[cfg(test)]
mod tests;
