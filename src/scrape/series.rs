//! The series a target exposed: its label set is built and encoded once, the
//! first time the series is seen, then found by the exposition's own text of
//! `name{labels}`, so a series seen in the previous scrape costs one hash of
//! its text and no allocation: the series are kept in the order they were
//! first seen, which is the exposition's, so the series after the last one
//! found is tried first, and the index is asked only when that is not it.
//! Owned by that target's scrape loop.
//!
//! The text itself is not kept: a series is known by a 128-bit key, two 64-bit
//! foldhash (quality) hashes of its text under two seeds drawn at random for
//! each cache. Keeping the text (about 160 bytes for a cAdvisor series, in an
//! allocation of its own) was the largest part of a series' memory after its
//! encoded labels. Two different texts share a key with a probability of at
//! most about 2^-64 per pair (the seeds vary one function, they do not make two
//! independent ones): for a target holding 100,000 series at once, about one
//! chance in 3.7 thousand million. A target cannot aim at it: it never sees
//! the seeds or the hashes.

use std::cell::RefCell;
use std::rc::Rc;

use hashbrown::HashTable;

use super::metadata::Families;
use crate::discovery::{Limits, Target};
use crate::model::Labels;
use crate::parse::{self, Entry, Format, SampleEntry};
use crate::relabel;
use crate::sender::Outgoing;

mod encoded;
mod store;

pub use encoded::Encoded;
pub use store::{At, LabelStore};

/// A series text's identity (see the module's comment).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct Key(u64, u64);

/// The two seeds of a cache's keys.
#[derive(Default)]
struct Keys(foldhash::quality::RandomState, foldhash::quality::RandomState);

impl Keys {
    fn of(&self, text: &str) -> Key {
        use std::hash::BuildHasher;
        Key(self.0.hash_one(text.as_bytes()), self.1.hash_one(text.as_bytes()))
    }
}

#[derive(Default)]
pub struct SeriesCache {
    /// In the order first seen. `index` holds their positions, hashed by key.
    series: Vec<Cached>,
    index: HashTable<u32>,
    /// Their encoded labels.
    store: LabelStore,
    keys: Keys,
    /// The position after the last series found: the likely next one.
    next: usize,
    /// The format of the current scrape's body.
    format: Format,
    /// Incremented by every scrape (wrapping: a series is held at most one scrape unseen).
    generation: u32,
    /// Series first seen in the current scrape (`scrape_series_added`).
    added: usize,
    /// The target's metric families, when metadata is sent.
    families: Option<Rc<RefCell<Families>>>,
}

/// 28 bytes a series, with its place in `index` (5 bytes a slot) and its labels in the store.
struct Cached {
    key: Key,
    /// Where its encoded labels are in the store; `None` when metric
    /// relabeling, or every queue's write relabeling, dropped the series.
    labels: Option<At>,
    /// The last scrape that had a sample of this series.
    seen: u32,
    /// Metric relabeling dropped it: not counted as appended.
    dropped: bool,
    /// The last successful scrape exposed it: it gets a staleness marker
    /// when it disappears.
    exposed: bool,
    /// The OpenMetrics parser accepted its text (the text format's parser
    /// accepts every such text, and more).
    openmetrics: bool,
}

/// What to do with one scraped sample.
#[derive(Debug, PartialEq)]
pub enum Lookup {
    /// The series' labels, in the cache's [`store`](SeriesCache::store).
    Append(At),
    /// Kept by metric relabeling, dropped by every queue's write relabeling: it counts as
    /// appended (`scrape_samples_post_metric_relabeling`) but is not sent.
    Unsent,
    /// Dropped by metric relabeling.
    Dropped,
    /// The series already had a sample in this scrape: Prometheus keeps the
    /// first (the second is a duplicate for the same timestamp).
    Repeat,
}

impl Cached {
    fn lookup(&self) -> Lookup {
        match (self.labels, self.dropped) {
            (Some(labels), _) => Lookup::Append(labels),
            (None, true) => Lookup::Dropped,
            (None, false) => Lookup::Unsent,
        }
    }
}

impl SeriesCache {
    /// A cache that also records the target's metric families in `families`.
    pub fn with_metadata(families: Option<Rc<RefCell<Families>>>) -> Self {
        Self { families, ..Self::default() }
    }

    /// Records a HELP, TYPE or UNIT line, if metadata is kept.
    pub fn record(&mut self, entry: &Entry<'_>, format: Format) {
        if let Some(families) = &self.families {
            families.borrow_mut().record(entry, format);
        }
    }

    /// Starts a scrape of a text-format body.
    pub fn begin(&mut self) {
        self.begin_format(Format::Text);
    }

    /// Starts a scrape of a body in `format`.
    pub fn begin_format(&mut self, format: Format) {
        // The markers of the last scrape are written: the garbage can go.
        if self.store.wants_compaction() {
            self.store.compact(self.series.iter_mut().filter_map(|c| c.labels.as_mut()));
        }
        self.format = format;
        self.generation = self.generation.wrapping_add(1);
        self.next = 0;
        self.added = 0;
    }

    /// What to do with a sample of `series` (its exposition text) if the
    /// series is known: one hash lookup, no allocation. `None` for a new
    /// series, which [`lookup`](Self::lookup) adds. Every key is the series
    /// text of a sample a parser yielded in full, the condition of
    /// `parse::Parser::next_known`.
    pub fn hit(&mut self, series: &str) -> Option<Lookup> {
        let at = self.find(series)?;
        // An OpenMetrics body is matched only against texts its parser accepted.
        if self.format == Format::OpenMetrics && !self.series[at].openmetrics {
            return None;
        }
        Some(self.mark(at))
    }

    /// The position of `series`, trying the one after the last found first.
    fn find(&mut self, series: &str) -> Option<usize> {
        let key = self.keys.of(series);
        let at = match self.series.get(self.next) {
            Some(c) if c.key == key => self.next,
            _ => {
                let series = &self.series;
                *self.index.find(key.0, |&i| series[i as usize].key == key)? as usize
            }
        };
        self.next = at + 1;
        Some(at)
    }

    /// What to do with a sample of the series at `at`, seen in this scrape.
    fn mark(&mut self, at: usize) -> Lookup {
        let cached = &mut self.series[at];
        if cached.seen == self.generation {
            return Lookup::Repeat;
        }
        cached.seen = self.generation;
        cached.lookup()
    }

    /// What to do with `sample`: its series' labels are built, relabeled,
    /// checked against the limits and encoded on the first sight only.
    pub fn lookup(
        &mut self,
        sample: &SampleEntry<'_>,
        target: &Target,
        outgoing: &[Rc<Outgoing>],
    ) -> Result<Lookup, String> {
        if let Some(at) = self.find(sample.series) {
            // Parsed in full just now: by the OpenMetrics parser, if that is the format.
            let cached = &mut self.series[at];
            cached.openmetrics |= self.format == Format::OpenMetrics;
            return Ok(self.mark(at));
        }
        let mut labels = sample_labels(sample, target)?;
        let kept = relabel::process(&mut labels, &target.metric_relabel) && labels.get("__name__").is_some();
        if kept {
            check_limits(&labels, &target.limits)?;
        }
        let encoded = if kept { self.store_labels(&labels, outgoing)? } else { None };
        let key = self.keys.of(sample.series);
        let cached = Cached {
            key,
            labels: encoded,
            dropped: !kept,
            seen: self.generation,
            exposed: false,
            openmetrics: self.format == Format::OpenMetrics,
        };
        let lookup = cached.lookup();
        let at =
            u32::try_from(self.series.len()).map_err(|_| "more than 2^32 series in one target".to_owned())?;
        let series = &self.series;
        self.index.insert_unique(key.0, at, |&i| series[i as usize].key.0);
        self.series.push(cached);
        self.added += 1;
        Ok(lookup)
    }

    /// Ends a successful scrape; returns the number of series it added.
    /// Series the previous successful scrape exposed and this one did not
    /// go to `stale` (SPEC: staleness) and are forgotten; their labels stay
    /// in the store until the next scrape begins.
    pub fn end(&mut self, stale: &mut Vec<At>) -> usize {
        if let Some(families) = &self.families {
            families.borrow_mut().end(true);
        }
        let added = self.added;
        let generation = self.generation;
        let before = self.series.len();
        let store = &mut self.store;
        self.series.retain_mut(|c| {
            if c.seen == generation {
                c.exposed = true;
                return true;
            }
            if let Some(labels) = c.labels {
                if c.exposed {
                    stale.push(labels);
                }
                store.release(labels);
            }
            false
        });
        if self.series.len() != before {
            // Positions moved: re-index in place (the table keeps its capacity, unless this
            // target now has far fewer series than at its peak).
            self.index.clear();
            self.shrink();
            let series = &self.series;
            for (i, c) in series.iter().enumerate() {
                self.index.insert_unique(c.key.0, i as u32, |&i| series[i as usize].key.0);
            }
        }
        added
    }

    /// Ends a failed scrape, or the target's last one: every series the last
    /// successful scrape exposed goes to `stale`, and all are forgotten.
    pub fn end_all(&mut self, stale: &mut Vec<At>) {
        if let Some(families) = &self.families {
            families.borrow_mut().end(false);
        }
        self.index.clear();
        for c in self.series.drain(..) {
            if let Some(labels) = c.labels {
                if c.exposed {
                    stale.push(labels);
                }
                self.store.release(labels);
            }
        }
        self.shrink();
    }

    /// The series' encoded labels, for [`Lookup::Append`] and the markers of `end`.
    pub fn store(&self) -> &LabelStore {
        &self.store
    }

    /// `labels` encoded for each queue, in the store; `None` when every queue drops them.
    fn store_labels(&mut self, labels: &Labels, outgoing: &[Rc<Outgoing>]) -> Result<Option<At>, String> {
        let per_queue: Vec<Option<Vec<u8>>> = outgoing.iter().map(|o| o.encode(labels)).collect();
        if per_queue.iter().all(Option::is_none) {
            return Ok(None);
        }
        self.store.add(per_queue.iter().map(Option::as_deref)).map(Some)
    }

    /// Gives back the capacity of a peak far above the series now held (see `scrape::trim`).
    fn shrink(&mut self) {
        let len = self.series.len();
        super::trim(&mut self.series, len);
        if self.index.capacity() > len.saturating_mul(2).max(1024) {
            let series = &self.series;
            self.index.shrink_to(len, |&i| series[i as usize].key.0);
        }
    }

    /// Series first seen in the current scrape so far.
    pub fn added(&self) -> usize {
        self.added
    }

    pub fn len(&self) -> usize {
        self.series.len()
    }

    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }
}

/// `labels` encoded for each queue; `None` when every queue drops them.
pub fn encode(labels: &Labels, outgoing: &[Rc<Outgoing>]) -> Option<Encoded> {
    let per_queue: Vec<Option<Vec<u8>>> = outgoing.iter().map(|o| o.encode(labels)).collect();
    Encoded::new(per_queue.iter().map(Option::as_deref))
}

/// Prometheus's label limits, checked on a series' final labels; the
/// messages are Prometheus's.
pub fn check_limits(labels: &Labels, limits: &Limits) -> Result<(), String> {
    let metric: String = labels.get("__name__").unwrap_or("").chars().take(50).collect();
    let bytes: usize = labels.iter().map(|l| l.name.len() + l.value.len()).sum();
    if limits.budget.label_bytes > 0 && bytes > limits.budget.label_bytes {
        return Err(format!(
            "label_bytes_limit exceeded (metric: {metric}, label bytes: {bytes}, limit: {})",
            limits.budget.label_bytes
        ));
    }
    if limits.label > 0 && labels.len() > limits.label {
        return Err(format!(
            "label_limit exceeded (metric: {metric}, number of labels: {}, limit: {})",
            labels.len(),
            limits.label
        ));
    }
    for l in labels {
        let name: String = l.name.chars().take(50).collect();
        if limits.label_name_length > 0 && l.name.len() > limits.label_name_length {
            return Err(format!(
                "label_name_length_limit exceeded (metric: {metric}, label name: {name}, length: {}, limit: {})",
                l.name.len(),
                limits.label_name_length
            ));
        }
        if limits.label_value_length > 0 && l.value.len() > limits.label_value_length {
            let value: String = l.value.chars().take(50).collect();
            return Err(format!(
                "label_value_length_limit exceeded (metric: {metric}, label name: {name}, value: {value:?}, length: {}, limit: {})",
                l.value.len(),
                limits.label_value_length
            ));
        }
    }
    Ok(())
}

/// The labels of a scraped sample after the target's labels are applied, as
/// Prometheus's mutateSampleLabels does it: with `honor_labels` the scraped
/// value wins; without, the target's value wins and the scraped one moves to
/// `exported_<name>` (prefix repeated until free, shorter names first).
/// Labels with empty values are removed.
pub fn sample_labels(sample: &SampleEntry<'_>, target: &Target) -> Result<Labels, String> {
    let mut labels = Labels::new();
    labels.set("__name__".into(), sample.name.to_owned());
    for pair in parse::labels(sample.labels) {
        let (name, value) = pair.map_err(|e| format!("series {}: {e}", sample.series))?;
        if labels.get(name).is_some() {
            return Err(format!("series {}: duplicate label name {name:?}", sample.series));
        }
        labels.set(name.to_owned(), value.into_owned());
    }
    if target.honor_labels {
        for l in &target.labels {
            if labels.get(&l.name).is_none_or(str::is_empty) {
                labels.set(l.name.clone(), l.value.clone());
            }
        }
    } else {
        let mut conflicts = Vec::new();
        for l in &target.labels {
            if let Some(existing) = labels.get(&l.name).filter(|v| !v.is_empty()) {
                conflicts.push((l.name.clone(), existing.to_owned()));
            }
            labels.set(l.name.clone(), l.value.clone());
        }
        conflicts.sort_by_key(|(name, _)| name.len());
        for (name, value) in conflicts {
            let mut exported = name;
            loop {
                exported.insert_str(0, "exported_");
                if labels.get(&exported).is_none_or(str::is_empty) {
                    labels.set(exported, value);
                    break;
                }
            }
        }
    }
    labels.retain(|l| !l.value.is_empty());
    Ok(labels)
}

#[cfg(test)]
mod known_lines;
#[cfg(test)]
mod tests;
