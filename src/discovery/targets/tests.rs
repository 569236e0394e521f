use super::*;
use crate::config::{Scheme, ScrapeConfig};
use std::collections::BTreeMap;
use std::time::Duration;

fn job(name: &str) -> ScrapeConfig {
    ScrapeConfig {
        job_name: name.into(),
        scrape_interval: Duration::from_secs(15),
        scrape_timeout: Duration::from_secs(10),
        metrics_path: "/metrics".into(),
        scheme: Scheme::Http,
        honor_labels: false,
        honor_timestamps: true,
        sample_limit: 0,
        keep_dropped_targets: 0,
        label_limit: 0,
        label_name_length_limit: 0,
        label_value_length_limit: 0,
        body_size_limit: 0,
        budget: Default::default(),
        params: BTreeMap::new(),
        static_configs: vec![],
        file_sd_configs: vec![],
        kubernetes_sd_configs: vec![],
        http_sd_configs: vec![],
        http_client: Default::default(),
        relabel_configs: vec![],
        metric_relabel_configs: vec![],
    }
}

fn group(source: &str, addresses: &[&str], labels: &[(&str, &str)]) -> Group {
    Group {
        source: source.into(),
        targets: addresses.iter().map(|a| Labels::from_pairs([("__address__", *a)])).collect(),
        labels: Labels::from_pairs(labels.iter().copied()),
    }
}

fn running(targets: &[Target]) -> HashMap<Key, Target> {
    targets.iter().map(|t| (t.key(), t.clone())).collect()
}

#[test]
fn target_labels_win_over_group_labels_and_meta_labels_go() {
    let mut g = group("s", &["a:1"], &[("role", "group"), ("__meta_filepath", "/f.json")]);
    g.targets[0].set("role".into(), "own".into());
    let t = populate_groups(&[g], &job("j"));
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].labels, Labels::from_pairs([("instance", "a:1"), ("job", "j"), ("role", "own")]));
    assert_eq!(t[0].url, "http://a:1/metrics");
}

#[test]
fn same_labels_and_url_in_one_job_are_one_target() {
    let groups = [
        group("f:0", &["a:1", "a:1"], &[]),
        group("f:1", &["a:1"], &[("__meta_x", "differs only in meta")]),
        group("f:2", &["a:1"], &[("zone", "z")]),
    ];
    let t = populate_groups(&groups, &job("j"));
    assert_eq!(t.len(), 2, "{t:?}");
    assert_eq!(t[0].labels.get("zone"), None);
    assert_eq!(t[1].labels.get("zone"), Some("z"));
}

#[test]
fn a_target_without_address_is_left_out() {
    let g = Group { source: "s".into(), targets: vec![Labels::new()], labels: Labels::new() };
    assert!(populate_groups(&[g], &job("j")).is_empty());
}

#[test]
fn diff_unchanged_added_removed_changed() {
    let sc = job("j");
    let old = populate_groups(&[group("s", &["a:1", "b:1", "c:1"], &[])], &sc);
    let mut slower = sc.clone();
    slower.scrape_interval = Duration::from_secs(30);
    let mut wanted = populate_groups(&[group("s", &["a:1", "d:1"], &[])], &sc);
    // b:1 with other scrape settings: same key, changed.
    wanted.extend(populate_groups(&[group("s", &["b:1"], &[])], &slower));
    let d = diff(&running(&old), wanted);
    assert_eq!(d.unchanged, 1);
    assert_eq!(d.added.iter().map(|t| t.url.as_str()).collect::<Vec<_>>(), ["http://d:1/metrics"]);
    assert_eq!(d.changed.iter().map(|t| t.url.as_str()).collect::<Vec<_>>(), ["http://b:1/metrics"]);
    assert_eq!(d.changed[0].interval, Duration::from_secs(30));
    assert_eq!(d.removed.iter().map(|k| k.url.as_str()).collect::<Vec<_>>(), ["http://c:1/metrics"]);
    assert!(!d.is_empty());

    let same = diff(&running(&old), old.clone());
    assert_eq!((same.unchanged, same.is_empty()), (3, true));
    let none = diff(&running(&old), Vec::new());
    assert_eq!(none.removed.len(), 3);
}

#[test]
fn a_label_change_is_a_new_target_and_the_old_one_is_removed() {
    let sc = job("j");
    let old = populate_groups(&[group("s", &["a:1"], &[("v", "1")])], &sc);
    let new = populate_groups(&[group("s", &["a:1"], &[("v", "2")])], &sc);
    let d = diff(&running(&old), new);
    assert_eq!((d.added.len(), d.removed.len(), d.changed.len(), d.unchanged), (1, 1, 0, 0));
}

#[test]
fn target_set_first_update_replaces_later_ones_merge_by_source() {
    let mut set = TargetSet::default();
    let (p1, p2) = (ProviderId(1), ProviderId(2));
    set.start(p1, "j", None);
    assert_eq!(set.update(p1, vec![group("f:0", &["a:1"], &[]), group("f:1", &["b:1"], &[])]), Some("j"));
    assert_eq!(set.groups("j").count(), 2);
    // A later update replaces by source; an empty group removes its source.
    set.update(p1, vec![group("f:0", &["c:1"], &[]), group("f:1", &[], &[])]);
    let sources: Vec<_> = set.groups("j").map(|g| (g.source.as_str(), g.targets.len())).collect();
    assert_eq!(sources, [("f:0", 1)]);
    assert_eq!(set.groups("j").next().map(|g| g.targets[0].get("__address__")), Some(Some("c:1")));

    // A replacement holds the old groups until its first update, which replaces them all.
    set.start(p2, "j", Some(p1));
    assert_eq!(set.groups("j").count(), 1, "inherited");
    assert_eq!(set.update(p1, vec![group("x", &["x:1"], &[])]), None, "the old provider is gone");
    set.update(p2, vec![group("g:0", &["d:1"], &[])]);
    let sources: Vec<_> = set.groups("j").map(|g| g.source.clone()).collect();
    assert_eq!(sources, ["g:0"]);
    assert_eq!(set.groups("other").count(), 0);

    set.replace(p2, vec![]);
    assert_eq!(set.groups("j").count(), 0, "replace drops what is not sent");
    assert_eq!(set.stop(p2).as_deref(), Some("j"));
}
