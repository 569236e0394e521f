//! The series a target exposed: its label set is built and encoded once, the
//! first time the series is seen, then found by the exposition's own text of
//! `name{labels}`, so a series seen in the previous scrape costs one hash
//! lookup and no allocation. Owned by that target's scrape loop.

use std::collections::HashMap;
use std::rc::Rc;

use crate::discovery::Target;
use crate::model::Labels;
use crate::parse::{self, SampleEntry};
use crate::staging::encode::encode_labels;

#[derive(Default)]
pub struct SeriesCache {
    series: HashMap<Box<str>, Cached>,
    /// Incremented by every scrape.
    generation: u64,
}

struct Cached {
    labels: Rc<[u8]>,
    /// The last scrape that exposed this series.
    seen: u64,
}

impl SeriesCache {
    /// Starts a scrape.
    pub fn begin(&mut self) {
        self.generation += 1;
    }

    /// The encoded labels of `sample`'s series, or `None` when the series
    /// already had a sample in this scrape (Prometheus keeps the first).
    pub fn lookup(
        &mut self,
        sample: &SampleEntry<'_>,
        target: &Target,
        external: &[(String, String)],
    ) -> Result<Option<Rc<[u8]>>, String> {
        if let Some(cached) = self.series.get_mut(sample.series) {
            if cached.seen == self.generation {
                return Ok(None);
            }
            cached.seen = self.generation;
            return Ok(Some(cached.labels.clone()));
        }
        let labels = sample_labels(sample, target)?;
        let encoded: Rc<[u8]> =
            encode_labels(&labels, external.iter().map(|(n, v)| (n.as_str(), v.as_str()))).into();
        self.series.insert(sample.series.into(), Cached { labels: encoded.clone(), seen: self.generation });
        Ok(Some(encoded))
    }

    /// Ends a successful scrape: forgets series it did not expose.
    pub fn end(&mut self) {
        let generation = self.generation;
        self.series.retain(|_, c| c.seen == generation);
    }

    pub fn len(&self) -> usize {
        self.series.len()
    }

    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }
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
    use std::time::Duration;

    fn target(honor_labels: bool) -> Target {
        Target {
            labels: Labels::from_pairs([("instance", "h:1"), ("job", "node"), ("role", "modem")]),
            url: "http://h:1/metrics".into(),
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
            honor_labels,
            honor_timestamps: true,
            sample_limit: 0,
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

    #[test]
    fn cache_hits_share_bytes_and_drop_repeats_within_a_scrape() {
        let mut cache = SeriesCache::default();
        let t = target(false);
        let s = sample("m", "m", "");
        cache.begin();
        let first = cache.lookup(&s, &t, &[]).expect("ok").expect("new series");
        assert!(cache.lookup(&s, &t, &[]).expect("ok").is_none(), "repeat in one scrape");
        cache.end();
        cache.begin();
        let again = cache.lookup(&s, &t, &[]).expect("ok").expect("next scrape");
        assert!(Rc::ptr_eq(&first, &again));
        cache.end();
        cache.begin();
        cache.end();
        assert!(cache.is_empty(), "a series absent from a scrape is forgotten");
    }
}
