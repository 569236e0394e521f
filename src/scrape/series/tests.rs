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
fn encoded_labels_keep_each_queue_apart() {
    let e = Encoded::new([Some(&b"ab"[..]), None, Some(&b""[..]), Some(&b"xyz"[..])]).expect("some");
    assert_eq!(e.iter().collect::<Vec<_>>(), [Some(&b"ab"[..]), None, Some(&b""[..]), Some(&b"xyz"[..])]);
    assert_eq!(e.queue(3), Some(&b"xyz"[..]));
    assert_eq!(e.queue(1), None);
    assert_eq!(e.queue(9), None);
    assert_eq!(Encoded::new([None, None]), None, "no queue sends it");
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
    let want = Labels::from_pairs([("__name__", "m"), ("instance", "h:1"), ("job", "x"), ("role", "modem")]);
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

fn labels_of(l: Lookup) -> At {
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
    assert_eq!(first, again, "the same stored labels");
    assert_eq!(cache.end(&mut stale), 0, "nothing new");
    assert!(stale.is_empty());
    cache.begin();
    cache.end(&mut stale);
    assert!(cache.is_empty(), "a series absent from a scrape is forgotten");
    assert_eq!(stale.len(), 1, "and gets a staleness marker");
    assert_eq!(stale[0], first);
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
        Err("label_name_length_limit exceeded (metric: m, label name: __name__, length: 8, limit: 7)".into())
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
        Err(format!("label_bytes_limit exceeded (metric: m, label bytes: {bytes}, limit: {})", bytes - 1))
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
        assert_eq!(cache.lookup(&sample("dropped_x", "dropped_x", ""), &t, &outgoing), Ok(Lookup::Dropped));
        assert_eq!(cache.lookup(&sample("unsent_x", "unsent_x", ""), &t, &outgoing), Ok(Lookup::Unsent));
        let kept = labels_of(cache.lookup(&sample("kept", "kept", ""), &t, &outgoing).expect("ok"));
        let kept = cache.store().get(kept)[0].clone().expect("sent");
        let decoded = crate::staging::encode::TimeSeries::decode(&kept[..]).expect("labels");
        assert!(decoded.labels.iter().any(|l| l.name == "cluster" && l.value == "c"), "external label added");
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
    let decode = |bytes: Option<&[u8]>| -> Option<String> {
        let series = crate::staging::encode::TimeSeries::decode(bytes?).expect("labels");
        let value = |n: &str| series.labels.iter().find(|l| l.name == n).map(|l| l.value.clone());
        Some(format!("{}@{}", value("__name__")?, value("to")?))
    };
    let mut cache = SeriesCache::default();
    let mut stale = Vec::new();
    let mut first = None;
    for _ in 0..2 {
        cache.begin();
        let decode_all = |cache: &SeriesCache, at| -> Vec<Option<String>> {
            cache.store().get(at).iter().map(|e| decode(e.as_deref())).collect()
        };
        let both = labels_of(cache.lookup(&sample("m", "m", ""), &t, &outgoing).expect("ok"));
        assert_eq!(decode_all(&cache, both), [Some("m@a".into()), Some("m@b".into())]);
        let a = labels_of(cache.lookup(&sample("only_a", "only_a", ""), &t, &outgoing).expect("ok"));
        assert_eq!(decode_all(&cache, a), [Some("only_a@a".into()), None]);
        let b = labels_of(cache.lookup(&sample("only_b", "only_b", ""), &t, &outgoing).expect("ok"));
        assert_eq!(decode_all(&cache, b), [None, Some("only_b@b".into())]);
        assert_eq!(
            cache.lookup(&sample("only_b_x", "only_b_x", ""), &t, &outgoing),
            Ok(Lookup::Unsent),
            "dropped by both: counted, not sent"
        );
        // The second scrape finds the same shared encodings.
        assert_eq!(*first.get_or_insert(both), both);
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

#[test]
fn churning_series_keep_the_store_bounded_and_their_markers_exact() {
    let mut cache = SeriesCache::default();
    let t = target(false);
    let mut stale = Vec::new();
    let name_of = |cache: &SeriesCache, at| -> String {
        let bytes = cache.store().get(at)[0].clone().expect("sent");
        let series = crate::staging::encode::TimeSeries::decode(&bytes[..]).expect("labels");
        series.labels.iter().find(|l| l.name == "__name__").map(|l| l.value.clone()).expect("named")
    };
    let mut one_round = 0;
    for round in 0..60 {
        cache.begin();
        for i in 0..300 {
            let name = format!("churn_{round}_{i}_with_a_long_enough_name");
            labels_of(cache.lookup(&sample(&name, &name, ""), &t, &one()).expect("ok"));
        }
        stale.clear();
        assert_eq!(cache.end(&mut stale), 300);
        if round == 0 {
            one_round = cache.store().capacity_bytes();
        } else {
            // Every series of the round before gets a marker, its labels still readable.
            assert_eq!(stale.len(), 300);
            let want = |i| format!("churn_{}_{i}_with_a_long_enough_name", round - 1);
            assert_eq!(name_of(&cache, stale[0]), want(0));
            assert_eq!(name_of(&cache, stale[299]), want(299));
        }
    }
    let held = cache.store().capacity_bytes();
    assert!(held <= 4 * one_round, "the store holds {held} bytes after 60 rounds of {one_round}");
}
