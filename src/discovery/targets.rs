//! From target groups to a job's targets, and from the targets wanted to the
//! changes the running scrape loops need. Pure.

use std::collections::{HashMap, HashSet};

use super::{Group, Target, populate};
use crate::config::ScrapeConfig;
use crate::model::Labels;

/// A target's identity within its job: its labels and URL, what Prometheus
/// hashes. Two targets of one job with the same key are one target.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Key {
    pub labels: Labels,
    pub url: String,
}

impl Target {
    pub fn key(&self) -> Key {
        Key { labels: self.labels.clone(), url: self.url.clone() }
    }
}

/// The targets of `sc` from its groups, in order: each target's labels over
/// its group's labels, populated and relabeled ([`populate`]); a target with
/// the key of an earlier one is the same target and left out.
pub fn populate_groups<'a>(groups: impl IntoIterator<Item = &'a Group>, sc: &ScrapeConfig) -> Vec<Target> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for group in groups {
        for own in &group.targets {
            let mut labels = group.labels.clone();
            for l in own {
                labels.set(l.name.clone(), l.value.clone());
            }
            let address = labels.get("__address__").unwrap_or("").to_owned();
            match populate(labels, sc) {
                Ok(Some(target)) => {
                    if seen.insert(target.key()) {
                        out.push(target);
                    }
                }
                Ok(None) => log::debug!("job {}: target {address} dropped by relabel_configs", sc.job_name),
                Err(e) => log::warn!("job {}: target {address:?} from {}: {e}", sc.job_name, group.source),
            }
        }
    }
    out
}

/// What the running loops of one job must do to serve `wanted`.
#[derive(Debug, Default, PartialEq)]
pub struct Diff {
    /// New keys: start a loop.
    pub added: Vec<Target>,
    /// Same key, other scrape settings: stop the loop (staleness markers), start anew.
    pub changed: Vec<Target>,
    /// Keys no longer wanted: stop the loop with staleness markers.
    pub removed: Vec<Key>,
    /// Identical targets: their loops keep running on their schedule.
    pub unchanged: usize,
}

impl Diff {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.changed.is_empty() && self.removed.is_empty()
    }
}

/// Compares the targets running now with those `wanted` (already deduplicated).
pub fn diff(running: &HashMap<Key, Target>, wanted: Vec<Target>) -> Diff {
    let mut d = Diff::default();
    let mut keep = HashSet::with_capacity(wanted.len());
    for target in wanted {
        let key = target.key();
        match running.get(&key) {
            Some(old) if *old == target => d.unchanged += 1,
            Some(_) => d.changed.push(target),
            None => d.added.push(target),
        }
        keep.insert(key);
    }
    d.removed = running.keys().filter(|k| !keep.contains(*k)).cloned().collect();
    d.removed.sort_by(|a, b| a.url.cmp(&b.url));
    d
}

#[cfg(test)]
mod tests;
