//! Prometheus's own test cases (roles.golden.json) through the join.

use super::*;

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
        serde_json::from_str(include_str!("../fixtures/kubernetes/roles.golden.json")).expect("golden JSON");
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
