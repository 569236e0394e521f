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
use std::collections::HashMap;
use std::rc::Rc;

use super::metadata::Families;
use crate::discovery::{Limits, Target};
use crate::model::Labels;
use crate::parse::{self, Entry, Format, SampleEntry};
use crate::relabel;
use crate::sender::Outgoing;

/// A series' encoded labels for each queue, in the queues' order: `None`
/// where that queue's write relabeling drops it. At least one is `Some`.
pub type Encoded = Rc<[Option<Box<[u8]>>]>;

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
    /// In the order first seen. `index` maps each text's key to its position.
    series: Vec<(Key, Cached)>,
    index: HashMap<Key, u32, foldhash::fast::FixedState>,
    keys: Keys,
    /// The position after the last series found: the likely next one.
    next: usize,
    /// The format of the current scrape's body.
    format: Format,
    /// Incremented by every scrape.
    generation: u64,
    /// Series first seen in the current scrape (`scrape_series_added`).
    added: usize,
    /// The target's metric families, when metadata is sent.
    families: Option<Rc<RefCell<Families>>>,
}

struct Cached {
    /// Encoded labels, shared with the samples staged for this scrape;
    /// `None` when metric relabeling, or every queue's write relabeling,
    /// dropped the series.
    labels: Option<Encoded>,
    /// Metric relabeling dropped it: not counted as appended.
    dropped: bool,
    /// The last scrape that had a sample of this series.
    seen: u64,
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
    Append(Encoded),
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
        match (&self.labels, self.dropped) {
            (Some(labels), _) => Lookup::Append(labels.clone()),
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
        self.format = format;
        self.generation += 1;
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
        if self.format == Format::OpenMetrics && !self.series[at].1.openmetrics {
            return None;
        }
        Some(self.mark(at))
    }

    /// The position of `series`, trying the one after the last found first.
    fn find(&mut self, series: &str) -> Option<usize> {
        let key = self.keys.of(series);
        let at = match self.series.get(self.next) {
            Some((k, _)) if *k == key => self.next,
            _ => *self.index.get(&key)? as usize,
        };
        self.next = at + 1;
        Some(at)
    }

    /// What to do with a sample of the series at `at`, seen in this scrape.
    fn mark(&mut self, at: usize) -> Lookup {
        let cached = &mut self.series[at].1;
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
            let cached = &mut self.series[at].1;
            cached.openmetrics |= self.format == Format::OpenMetrics;
            return Ok(self.mark(at));
        }
        let mut labels = sample_labels(sample, target)?;
        let kept = relabel::process(&mut labels, &target.metric_relabel) && labels.get("__name__").is_some();
        if kept {
            check_limits(&labels, &target.limits)?;
        }
        let encoded = if kept { encode(&labels, outgoing) } else { None };
        let cached = Cached {
            labels: encoded,
            dropped: !kept,
            seen: self.generation,
            exposed: false,
            openmetrics: self.format == Format::OpenMetrics,
        };
        let lookup = cached.lookup();
        let key = self.keys.of(sample.series);
        let at =
            u32::try_from(self.series.len()).map_err(|_| "more than 2^32 series in one target".to_owned())?;
        self.index.insert(key, at);
        self.series.push((key, cached));
        self.added += 1;
        Ok(lookup)
    }

    /// Ends a successful scrape; returns the number of series it added.
    /// Series the previous successful scrape exposed and this one did not
    /// go to `stale` (SPEC: staleness) and are forgotten.
    pub fn end(&mut self, stale: &mut Vec<Encoded>) -> usize {
        if let Some(families) = &self.families {
            families.borrow_mut().end(true);
        }
        let added = self.added;
        let generation = self.generation;
        let before = self.series.len();
        self.series.retain_mut(|(_, c)| {
            if c.seen == generation {
                c.exposed = true;
                return true;
            }
            if let (true, Some(labels)) = (c.exposed, &c.labels) {
                stale.push(labels.clone());
            }
            false
        });
        if self.series.len() != before {
            // Positions moved: re-index in place (the table keeps its capacity, unless this
            // target now has far fewer series than at its peak).
            self.index.clear();
            self.shrink();
            self.index.extend(self.series.iter().enumerate().map(|(i, (key, _))| (*key, i as u32)));
        }
        added
    }

    /// Ends a failed scrape, or the target's last one: every series the last
    /// successful scrape exposed goes to `stale`, and all are forgotten.
    pub fn end_all(&mut self, stale: &mut Vec<Encoded>) {
        if let Some(families) = &self.families {
            families.borrow_mut().end(false);
        }
        self.index.clear();
        stale.extend(self.series.drain(..).filter(|(_, c)| c.exposed).filter_map(|(_, c)| c.labels));
        self.shrink();
    }

    /// Gives back the capacity of a peak far above the series now held (see `scrape::trim`).
    fn shrink(&mut self) {
        let len = self.series.len();
        super::trim(&mut self.series, len);
        if self.index.capacity() > len.saturating_mul(2).max(1024) {
            self.index.shrink_to(len);
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
    let encoded: Encoded = outgoing.iter().map(|o| o.encode(labels).map(Vec::into_boxed_slice)).collect();
    encoded.iter().any(Option::is_some).then_some(encoded)
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
mod tests {
    use super::*;
    use prost::Message;
    use std::time::Duration;

    fn target(honor_labels: bool) -> Target {
        Target {
            labels: Labels::from_pairs([("instance", "h:1"), ("job", "node"), ("role", "modem")]),
            url: "http://h:1/metrics".into(),
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
            honor_labels,
            honor_timestamps: true,
            limits: Limits::default(),
            metric_relabel: Vec::new(),
        }
    }

    fn sample<'a>(series: &'a str, name: &'a str, labels: &'a str) -> SampleEntry<'a> {
        SampleEntry { series, name, labels, value: 1.0, timestamp_ms: None }
    }

    #[test]
    fn honor_labels_false_moves_conflicts_to_exported() {
        let s = sample(
            r#"m{job="x",exported_job="y",instance="",a="1"}"#,
            "m",
            r#"job="x",exported_job="y",instance="",a="1""#,
        );
        let got = sample_labels(&s, &target(false)).expect("valid");
        let want = Labels::from_pairs([
            ("__name__", "m"),
            ("a", "1"),
            ("exported_exported_job", "x"),
            ("exported_job", "y"),
            ("instance", "h:1"),
            ("job", "node"),
            ("role", "modem"),
        ]);
        assert_eq!(got, want);
    }

    #[test]
    fn honor_labels_true_keeps_scraped_values() {
        let s = sample(r#"m{job="x",role=""}"#, "m", r#"job="x",role="""#);
        let got = sample_labels(&s, &target(true)).expect("valid");
        let want =
            Labels::from_pairs([("__name__", "m"), ("instance", "h:1"), ("job", "x"), ("role", "modem")]);
        assert_eq!(got, want);
    }

    #[test]
    fn duplicate_label_names_fail() {
        let s = sample(r#"m{a="1",a="2"}"#, "m", r#"a="1",a="2""#);
        let err = sample_labels(&s, &target(false)).expect_err("duplicate");
        assert!(err.contains("duplicate label name \"a\""), "{err}");
    }

    /// One queue, without external labels or write relabeling.
    fn one() -> Vec<Rc<Outgoing>> {
        vec![Rc::default()]
    }

    fn labels_of(l: Lookup) -> Encoded {
        match l {
            Lookup::Append(labels) => labels,
            other => panic!("not appended: {other:?}"),
        }
    }

    #[test]
    fn cache_hits_share_bytes_and_drop_repeats_within_a_scrape() {
        let mut cache = SeriesCache::default();
        let t = target(false);
        let s = sample("m", "m", "");
        let mut stale = Vec::new();
        cache.begin();
        let first = labels_of(cache.lookup(&s, &t, &one()).expect("ok"));
        assert_eq!(cache.lookup(&s, &t, &one()).expect("ok"), Lookup::Repeat, "repeat in one scrape");
        assert_eq!(cache.end(&mut stale), 1, "one series added");
        cache.begin();
        let again = labels_of(cache.lookup(&s, &t, &one()).expect("ok"));
        assert!(Rc::ptr_eq(&first, &again));
        assert_eq!(cache.end(&mut stale), 0, "nothing new");
        assert!(stale.is_empty());
        cache.begin();
        cache.end(&mut stale);
        assert!(cache.is_empty(), "a series absent from a scrape is forgotten");
        assert_eq!(stale.len(), 1, "and gets a staleness marker");
        assert!(Rc::ptr_eq(&stale[0], &first));
        stale.clear();
        cache.begin();
        cache.end(&mut stale);
        assert!(stale.is_empty(), "one marker only");
    }

    #[test]
    fn label_limits_fail_with_prometheus_messages() {
        let s = sample(r#"m{a="12345",bb="1"}"#, "m", r#"a="12345",bb="1""#);
        let labels = sample_labels(&s, &target(false)).expect("valid");
        let limits = |label, name, value| Limits {
            label,
            label_name_length: name,
            label_value_length: value,
            ..Limits::default()
        };
        assert_eq!(check_limits(&labels, &limits(6, 8, 6)), Ok(()));
        assert_eq!(
            check_limits(&labels, &limits(5, 0, 0)),
            Err("label_limit exceeded (metric: m, number of labels: 6, limit: 5)".into())
        );
        assert_eq!(
            check_limits(&labels, &limits(0, 7, 0)),
            Err("label_name_length_limit exceeded (metric: m, label name: __name__, length: 8, limit: 7)"
                .into())
        );
        assert_eq!(
            check_limits(&labels, &limits(0, 0, 4)),
            Err("label_value_length_limit exceeded (metric: m, label name: a, value: \"12345\", length: 5, limit: 4)"
                .into())
        );
        // outpost's own: the bytes of every name and value together.
        let bytes: usize = labels.iter().map(|l| l.name.len() + l.value.len()).sum();
        let mut budget = Limits::default();
        budget.budget.label_bytes = bytes;
        assert_eq!(check_limits(&labels, &budget), Ok(()));
        budget.budget.label_bytes = bytes - 1;
        assert_eq!(
            check_limits(&labels, &budget),
            Err(format!(
                "label_bytes_limit exceeded (metric: m, label bytes: {bytes}, limit: {})",
                bytes - 1
            ))
        );
    }

    #[test]
    fn metric_relabeling_and_write_relabeling_are_cached_per_series() {
        let rule = |regex: &str| {
            let spec = crate::relabel::RuleSpec {
                source_labels: Some(vec!["__name__".into()]),
                regex: Some(regex.into()),
                action: Some("drop".into()),
                ..Default::default()
            };
            crate::relabel::Rule::new(spec).expect("rule")
        };
        let mut t = target(false);
        t.metric_relabel = vec![rule("dropped_.*")];
        let outgoing = [Rc::new(Outgoing {
            external_labels: vec![("cluster".into(), "c".into())],
            write_relabel: vec![rule("unsent_.*")],
        })];
        let mut cache = SeriesCache::default();
        let mut stale = Vec::new();
        for _ in 0..2 {
            cache.begin();
            assert_eq!(
                cache.lookup(&sample("dropped_x", "dropped_x", ""), &t, &outgoing),
                Ok(Lookup::Dropped)
            );
            assert_eq!(cache.lookup(&sample("unsent_x", "unsent_x", ""), &t, &outgoing), Ok(Lookup::Unsent));
            let kept = labels_of(cache.lookup(&sample("kept", "kept", ""), &t, &outgoing).expect("ok"));
            let kept = kept[0].as_deref().expect("sent");
            let decoded = crate::staging::encode::TimeSeries::decode(kept).expect("labels");
            assert!(
                decoded.labels.iter().any(|l| l.name == "cluster" && l.value == "c"),
                "external label added"
            );
            cache.end(&mut stale);
        }
        cache.begin();
        cache.end(&mut stale);
        assert_eq!(stale.len(), 1, "only the series that was sent gets a staleness marker");
    }

    #[test]
    fn each_queue_gets_its_own_encoding_and_write_relabeling() {
        let drop_name = |regex: &str| {
            let spec = crate::relabel::RuleSpec {
                source_labels: Some(vec!["__name__".into()]),
                regex: Some(regex.into()),
                action: Some("drop".into()),
                ..Default::default()
            };
            crate::relabel::Rule::new(spec).expect("rule")
        };
        let outgoing = [
            Rc::new(Outgoing {
                external_labels: vec![("to".into(), "a".into())],
                write_relabel: vec![drop_name("only_b.*")],
            }),
            Rc::new(Outgoing {
                external_labels: vec![("to".into(), "b".into())],
                write_relabel: vec![drop_name("only_a|.*_x")],
            }),
        ];
        let t = target(false);
        let decode = |bytes: &Option<Box<[u8]>>| -> Option<String> {
            let series = crate::staging::encode::TimeSeries::decode(bytes.as_deref()?).expect("labels");
            let value = |n: &str| series.labels.iter().find(|l| l.name == n).map(|l| l.value.clone());
            Some(format!("{}@{}", value("__name__")?, value("to")?))
        };
        let mut cache = SeriesCache::default();
        let mut stale = Vec::new();
        let mut first = None;
        for _ in 0..2 {
            cache.begin();
            let both = labels_of(cache.lookup(&sample("m", "m", ""), &t, &outgoing).expect("ok"));
            assert_eq!(both.iter().map(decode).collect::<Vec<_>>(), [Some("m@a".into()), Some("m@b".into())]);
            let a = labels_of(cache.lookup(&sample("only_a", "only_a", ""), &t, &outgoing).expect("ok"));
            assert_eq!(a.iter().map(decode).collect::<Vec<_>>(), [Some("only_a@a".into()), None]);
            let b = labels_of(cache.lookup(&sample("only_b", "only_b", ""), &t, &outgoing).expect("ok"));
            assert_eq!(b.iter().map(decode).collect::<Vec<_>>(), [None, Some("only_b@b".into())]);
            assert_eq!(
                cache.lookup(&sample("only_b_x", "only_b_x", ""), &t, &outgoing),
                Ok(Lookup::Unsent),
                "dropped by both: counted, not sent"
            );
            // The second scrape finds the same shared encodings.
            let first = first.get_or_insert_with(|| both.clone());
            assert!(Rc::ptr_eq(first, &both));
            cache.end(&mut stale);
        }
        cache.begin();
        cache.end(&mut stale);
        assert_eq!(stale.len(), 3, "every series some queue was sent gets a marker, for those queues");
    }

    #[test]
    fn a_failed_scrape_makes_every_exposed_series_stale() {
        let mut cache = SeriesCache::default();
        let t = target(false);
        let (a, b) = (sample("a", "a", ""), sample("b", "b", ""));
        let mut stale = Vec::new();
        cache.begin();
        cache.lookup(&a, &t, &one()).expect("ok");
        cache.end(&mut stale);
        // The failing scrape had looked up `a` and a new `b` before its error.
        cache.begin();
        cache.lookup(&a, &t, &one()).expect("ok");
        cache.lookup(&b, &t, &one()).expect("ok");
        cache.end_all(&mut stale);
        assert_eq!(stale.len(), 1, "only a, which the last good scrape exposed");
        assert!(cache.is_empty());
    }
}

#[cfg(test)]
mod known_line_tests {
    //! `ingest` finds a known series by its text before parsing its labels;
    //! these check that such a hit never lets through a line a full parse
    //! rejects, nor changes what a good line gives.
    use std::time::Duration;

    use super::*;
    use crate::parse::Format;
    use crate::scrape::ingest;

    const GOOD: &str = "# TYPE a gauge\na{b=\"1\",c=\"x y\"} 1\nt 2 1000\nn 3\n";

    fn target() -> Target {
        Target {
            labels: Labels::from_pairs([("instance", "h:1"), ("job", "node")]),
            url: "http://h:1/metrics".into(),
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
            honor_labels: false,
            honor_timestamps: true,
            limits: Limits::default(),
            metric_relabel: Vec::new(),
        }
    }

    /// What one scrape staged: encoded labels, value bits, timestamp.
    type Staged = Vec<(Vec<u8>, u64, i64)>;

    /// One scrape of `body` with `cache`: the outcome and what was staged.
    fn scrape(cache: &mut SeriesCache, body: &str) -> (Result<usize, String>, Staged) {
        scrape_as(Format::Text, cache, body)
    }

    fn scrape_as(format: Format, cache: &mut SeriesCache, body: &str) -> (Result<usize, String>, Staged) {
        let mut out = Vec::new();
        let result = ingest(body.as_bytes(), format, &target(), cache, &[Rc::default()], 5, &mut out);
        let mut stale = Vec::new();
        match &result {
            Ok(_) => {
                cache.end(&mut stale);
            }
            Err(_) => cache.end_all(&mut stale),
        }
        let staged = out
            .into_iter()
            .map(|(l, v, t)| (l[0].as_deref().expect("one queue").to_vec(), v.to_bits(), t))
            .collect();
        (result.map(|s| s.samples), staged)
    }

    /// A cache that has seen `GOOD` once.
    fn warm() -> SeriesCache {
        let mut cache = SeriesCache::default();
        assert_eq!(scrape(&mut cache, GOOD).0, Ok(3));
        cache
    }

    #[test]
    fn a_known_series_on_a_changed_line_fails_as_a_new_one_would() {
        let changed = [
            // the same series text with a malformed or out-of-range value
            "a{b=\"1\",c=\"x y\"} x\n",
            "a{b=\"1\",c=\"x y\"} 1e999\n",
            "a{b=\"1\",c=\"x y\"} -NaN\n",
            "a{b=\"1\",c=\"x y\"} 0x1p3\n",
            "a{b=\"1\",c=\"x y\"} 1,5\n",
            "a{b=\"1\",c=\"x y\"}\n",
            // a bad timestamp, or something after it
            "t 2 1.5\n",
            "t 2 99999999999999999999\n",
            "t 2 1000 1\n",
            "n 3 4 5\n",
            "n 3\r\n",
            // a known text followed by more label syntax, or a changed label block
            "a{b=\"1\",c=\"x y\"}} 1\n",
            "a{b=\"1\",c=\"x y\"},b=\"2\"} 1\n",
            "a{b=\"1\",c=\"x y\",b=\"1\"} 1\n",
            "a{b=\"1\",b=\"1\"} 1\n",
            "n{} {} 1\n",
            "n {b=\"1\" 1\n",
        ];
        for line in changed {
            let body = format!("{GOOD}{line}");
            let fresh = scrape(&mut SeriesCache::default(), &body).0;
            assert!(fresh.is_err(), "{line:?} parses: the case tests nothing");
            let mut cache = warm();
            assert_eq!(scrape(&mut cache, &body).0, fresh, "{line:?}");
            // The same with the changed line replacing the good one.
            let (series, _) = line.split_once([' ', '}']).unwrap_or((line, ""));
            let replaced: String = GOOD
                .lines()
                .map(|l| if l.starts_with(series) { line.trim_end() } else { l })
                .collect::<Vec<_>>()
                .join("\n");
            let fresh = scrape(&mut SeriesCache::default(), &replaced).0;
            assert_eq!(scrape(&mut warm(), &replaced).0, fresh, "{replaced:?}");
        }
    }

    #[test]
    fn openmetrics_lines_match_only_texts_its_parser_accepted() {
        // Valid text, invalid OpenMetrics (a blank after the comma).
        let spaced = "a{b=\"1\", c=\"2\"} 1\n";
        let om = format!("{spaced}# EOF\n");
        let fresh = scrape_as(Format::OpenMetrics, &mut SeriesCache::default(), &om);
        assert!(fresh.0.as_ref().is_err_and(|e| e.contains("space")), "{fresh:?}");
        let mut cache = SeriesCache::default();
        assert!(scrape_as(Format::Text, &mut cache, spaced).0.is_ok());
        assert_eq!(
            scrape_as(Format::OpenMetrics, &mut cache, &om),
            fresh,
            "a text-format key let it through"
        );

        // Texts the OpenMetrics parser accepted are found again in both formats.
        let om = "# TYPE a gauge\na{b=\"1\",c=\"2\"} 1 1.5\nn 2\nn 3\n# EOF\n";
        let mut cache = SeriesCache::default();
        for _ in 0..2 {
            let got = scrape_as(Format::OpenMetrics, &mut cache, om);
            assert!(got.0.is_ok(), "{got:?}");
            assert_eq!(got, scrape_as(Format::OpenMetrics, &mut SeriesCache::default(), om));
        }
        let text = "a{b=\"1\",c=\"2\"} 4\nn 5\n";
        assert_eq!(scrape(&mut cache, text), scrape(&mut SeriesCache::default(), text));
        for changed in ["a{b=\"1\",c=\"2\"}  1\n# EOF\n", "n 2 #\n# EOF\n", "n 2\t\n# EOF\n", "n 2"] {
            let mut cache = SeriesCache::default();
            assert!(scrape_as(Format::OpenMetrics, &mut cache, om).0.is_ok());
            let fresh = scrape_as(Format::OpenMetrics, &mut SeriesCache::default(), changed);
            assert!(fresh.0.is_err(), "{changed:?} parses: the case tests nothing");
            assert_eq!(scrape_as(Format::OpenMetrics, &mut cache, changed), fresh, "{changed:?}");
        }
    }

    #[test]
    fn series_found_in_any_order_after_any_churn() {
        let pages =
            ["a 1\nb 2\nc 3\n", "c 1\nb 2\nd 4\na 5\n", "a 1\nd 2\n", "b 1\na 1\nd 7\nb 3\n", "d 1\n"];
        let mut cache = SeriesCache::default();
        let mut stale = Vec::new();
        for page in pages {
            let warm = scrape(&mut cache, page);
            assert_eq!(warm, scrape(&mut SeriesCache::default(), page), "{page:?}");
        }
        cache.begin();
        cache.end(&mut stale);
        assert_eq!(stale.len(), 1, "d, the only series of the last page");
        assert!(cache.is_empty());
    }

    #[test]
    fn known_series_give_what_a_full_parse_gives() {
        let bodies = [
            GOOD,
            // other values and timestamps, blanks and tabs around them, a repeat
            "a{b=\"1\",c=\"x y\"}\t-1.5e3  \nt 7 -5\t\nn NaN\nn 4\n",
            "  a{b=\"1\",c=\"x y\"} +Inf 12\nt 0.1\nn 1e-7 3\n",
        ];
        for body in bodies {
            let mut cache = warm();
            let known = scrape(&mut cache, body);
            let fresh = scrape(&mut SeriesCache::default(), body);
            assert!(known.0.is_ok(), "{body:?}: {known:?}");
            assert_eq!(known, fresh, "{body:?}");
        }
    }
}
