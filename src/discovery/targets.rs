//! From target groups to a job's targets, and from the targets wanted to the
//! changes the running scrape loops need. Pure.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::{Group, Populated, ProviderId, Target, populate_traced};
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
/// its group's labels, populated and relabeled ([`super::populate`]); a target with
/// the key of an earlier one is the same target and left out.
pub fn populate_groups<'a>(groups: impl IntoIterator<Item = &'a Group>, sc: &ScrapeConfig) -> Vec<Target> {
    populate_job(groups, sc).active.into_iter().map(|(_, target)| target).collect()
}

/// A job's targets with what the status API shows of them.
#[derive(Debug, Default)]
pub struct JobTargets {
    /// Each target with its discovered labels, deduplicated, in discovery order.
    pub active: Vec<(Labels, Target)>,
    /// Label sets that are not targets, in discovery order.
    pub dropped: Vec<Dropped>,
}

/// A discovered label set that relabeling (or an error) dropped.
#[derive(Clone, Debug, PartialEq)]
pub struct Dropped {
    /// With the job's defaults, before relabeling.
    pub discovered: Labels,
    /// The `relabel_configs` index that dropped it, or why it is no target.
    pub cause: Result<usize, String>,
}

/// [`populate_groups`], keeping the discovered labels and the dropped sets.
pub fn populate_job<'a>(groups: impl IntoIterator<Item = &'a Group>, sc: &ScrapeConfig) -> JobTargets {
    let mut out = JobTargets::default();
    let mut seen = HashSet::new();
    for group in groups {
        for own in &group.targets {
            let mut labels = group.labels.clone();
            for l in own {
                labels.set(l.name.clone(), l.value.clone());
            }
            let address = labels.get("__address__").unwrap_or("").to_owned();
            let (discovered, populated) = populate_traced(labels, sc);
            match populated {
                Populated::Target(target) => {
                    if seen.insert(target.key()) {
                        out.active.push((discovered, target));
                    }
                }
                Populated::Dropped(rule) => {
                    log::debug!("job {}: target {address} dropped by relabel_configs", sc.job_name);
                    out.dropped.push(Dropped { discovered, cause: Ok(rule) });
                }
                Populated::Failed(e) => {
                    log::warn!("job {}: target {address:?} from {}: {e}", sc.job_name, group.source);
                    out.dropped.push(Dropped { discovered, cause: Err(e) });
                }
            }
        }
    }
    out
}

/// The groups each provider sent last, and the job it serves. Owned by the
/// agent; providers change it only through [`TargetSet::update`].
#[derive(Debug, Default)]
pub struct TargetSet {
    providers: BTreeMap<ProviderId, Held>,
}

#[derive(Debug)]
struct Held {
    job: String,
    /// By source; never an empty group (an empty group removes its source).
    groups: BTreeMap<String, Group>,
    /// No update yet: the next one replaces every group.
    fresh: bool,
}

impl TargetSet {
    /// A provider starts for `job`. When it `replaces` one (its config changed
    /// on reload), it holds that one's groups until its first update, so the
    /// targets they give are not removed and re-added meanwhile.
    pub fn start(&mut self, id: ProviderId, job: &str, replaces: Option<ProviderId>) {
        let groups =
            replaces.and_then(|old| self.providers.remove(&old)).map(|h| h.groups).unwrap_or_default();
        self.providers.insert(id, Held { job: job.to_owned(), groups, fresh: true });
    }

    /// A provider stopped: its groups go. Returns its job.
    pub fn stop(&mut self, id: ProviderId) -> Option<String> {
        self.providers.remove(&id).map(|h| h.job)
    }

    /// Takes a provider's update; returns the job it serves, or `None` when
    /// the provider is no longer known (stopped; its update is ignored).
    pub fn update(&mut self, id: ProviderId, groups: Vec<Group>) -> Option<&str> {
        let held = self.providers.get_mut(&id)?;
        if std::mem::take(&mut held.fresh) {
            held.groups.clear();
        }
        for group in groups {
            if group.targets.is_empty() {
                held.groups.remove(&group.source);
            } else {
                held.groups.insert(group.source.clone(), group);
            }
        }
        Some(&held.job)
    }

    /// Replaces every group of a provider (static_configs, on each load).
    pub fn replace(&mut self, id: ProviderId, groups: Vec<Group>) {
        if let Some(held) = self.providers.get_mut(&id) {
            held.fresh = true;
        }
        self.update(id, groups);
    }

    /// The groups of `job`: by provider in start order, then by source.
    pub fn groups<'s>(&'s self, job: &'s str) -> impl Iterator<Item = &'s Group> + 's {
        self.providers.values().filter(move |h| h.job == job).flat_map(|h| h.groups.values())
    }
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
