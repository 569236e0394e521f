//! Roles service, ingress, endpoints and endpointslice, and attach_metadata, against
//! Prometheus's own expectations: fixtures/kubernetes/roles.golden.json holds the cases of
//! discovery/kubernetes/*_test.go (transcribed by prometheus_tests.py), each case's objects
//! fed to the join as the watchers would after their first list, the groups compared with
//! the Go test's by source (labels exactly, targets as a set).

use std::collections::{BTreeMap, BTreeSet};

use outpost::discovery::Group;
use outpost::discovery::kubernetes::join::{Change, Join};
use outpost::discovery::kubernetes::objects::Resource;
use serde::Deserialize;
use serde_json::Value;

type LabelSet = BTreeMap<String, String>;

#[derive(Deserialize)]
struct Case {
    test: String,
    role: String,
    attach: BTreeMap<String, bool>,
    objects: BTreeMap<String, Vec<Value>>,
    groups: BTreeMap<String, Expected>,
}

#[derive(Deserialize, Debug, PartialEq)]
struct Expected {
    labels: LabelSet,
    targets: Vec<LabelSet>,
}

fn resource(plural: &str) -> Resource {
    use Resource::*;
    [Pod, Node, Service, Endpoints, EndpointSlice, Ingress, Namespace]
        .into_iter()
        .find(|r| r.plural() == plural)
        .unwrap_or_else(|| panic!("unknown resource {plural}"))
}

/// The collections the provider watches for the case's role and attach_metadata (as watch.rs).
fn collections(case: &Case) -> Vec<Resource> {
    let primary = match case.role.as_str() {
        "endpoints" => Resource::Endpoints,
        "endpointslice" => Resource::EndpointSlice,
        "service" => Resource::Service,
        "ingress" => Resource::Ingress,
        "pod" => Resource::Pod,
        other => panic!("role {other}"),
    };
    let mut out = vec![primary];
    if matches!(primary, Resource::Endpoints | Resource::EndpointSlice) {
        out.extend([Resource::Service, Resource::Pod]);
    }
    if case.attach.get("node") == Some(&true) {
        out.push(Resource::Node);
    }
    if case.attach.get("namespace") == Some(&true) {
        out.push(Resource::Namespace);
    }
    out
}

fn ours(case: &Case) -> BTreeMap<String, (LabelSet, BTreeSet<LabelSet>)> {
    let resources = collections(case);
    for kind in case.objects.keys() {
        assert!(resources.contains(&resource(kind)), "{}: {kind} would not be watched", case.test);
    }
    let mut join = Join::new(resources[0], &resources);
    let mut sent: Option<Vec<Group>> = None;
    for (i, r) in resources.iter().enumerate() {
        let objects = case.objects.get(r.plural()).cloned().unwrap_or_default();
        let decoded =
            objects.iter().map(|o| r.decode(o.to_string().as_bytes()).expect("object decodes")).collect();
        sent = join.apply(i, Change::Listed(decoded));
    }
    let groups = sent.expect("the last list sends the whole set");
    let set = |ls: &outpost::model::Labels| -> LabelSet {
        ls.iter().map(|l| (l.name.clone(), l.value.clone())).collect()
    };
    groups.iter().map(|g| (g.source.clone(), (set(&g.labels), g.targets.iter().map(set).collect()))).collect()
}

#[test]
fn every_role_gives_the_groups_prometheus_tests_expect() {
    let cases: Vec<Case> =
        serde_json::from_str(include_str!("fixtures/kubernetes/roles.golden.json")).expect("golden JSON");
    assert_eq!(cases.len(), 23);
    let mut failures = Vec::new();
    for case in &cases {
        let got = ours(case);
        let want: BTreeMap<String, (LabelSet, BTreeSet<LabelSet>)> = case
            .groups
            .iter()
            .map(|(s, e)| (s.clone(), (e.labels.clone(), e.targets.iter().cloned().collect())))
            .collect();
        if got != want {
            failures.push(format!("{}:\n  ours   {got:?}\n  theirs {want:?}", case.test));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
