//! Table tests in the shape of Prometheus's `TestRelabel`: a label set, rules
//! written as config keys, and the labels wanted (or `None`: dropped).

use super::rule::{Regex, is_name_template};
use super::*;

type Pairs = &'static [(&'static str, &'static str)];

/// A rule from `(key, value)` pairs as a config file writes them;
/// `source_labels` is comma-separated.
fn spec(fields: &[(&str, &str)]) -> RuleSpec {
    let mut spec = RuleSpec::default();
    for (key, value) in fields {
        let value = value.to_string();
        match *key {
            "source_labels" => {
                spec.source_labels =
                    Some(value.split(',').filter(|s| !s.is_empty()).map(String::from).collect())
            }
            "separator" => spec.separator = Some(value),
            "regex" => spec.regex = Some(value),
            "modulus" => spec.modulus = Some(value.parse().unwrap()),
            "target_label" => spec.target_label = Some(value),
            "replacement" => spec.replacement = Some(value),
            "action" => spec.action = Some(value),
            other => panic!("unknown key {other}"),
        }
    }
    spec
}

/// Also used by the config tests to build the rules they expect.
pub(crate) fn rule(fields: &[(&str, &str)]) -> Rule {
    Rule::new(spec(fields)).unwrap_or_else(|e| panic!("{fields:?}: {e}"))
}

struct Case {
    name: &'static str,
    input: Pairs,
    rules: &'static [Pairs],
    /// `None`: the label set is dropped.
    want: Option<Pairs>,
}

fn check(cases: &[Case]) {
    for case in cases {
        let rules: Vec<Rule> = case.rules.iter().map(|r| rule(r)).collect();
        let mut labels = Labels::from_pairs(case.input.iter().copied());
        let kept = process(&mut labels, &rules);
        match case.want {
            None => assert!(!kept, "{}: kept {labels}", case.name),
            Some(want) => {
                assert!(kept, "{}: dropped", case.name);
                assert_eq!(labels, Labels::from_pairs(want.iter().copied()), "{}", case.name);
            }
        }
    }
}

#[test]
fn replace() {
    check(&[
        Case {
            name: "group in the replacement",
            input: &[("a", "foo"), ("b", "bar")],
            rules: &[&[
                ("source_labels", "a"),
                ("regex", "f(.*)"),
                ("target_label", "d"),
                ("replacement", "ch${1}-ch$1"),
            ]],
            want: Some(&[("a", "foo"), ("b", "bar"), ("d", "choo-choo")]),
        },
        Case {
            name: "sources joined by the separator, then a rule reads the first rule's output",
            input: &[("a", "foo"), ("b", "bar"), ("c", "baz")],
            rules: &[
                &[
                    ("source_labels", "a,b"),
                    ("regex", "f(.*);(.*)r"),
                    ("target_label", "a"),
                    ("replacement", "b${1}${2}m"),
                ],
                &[
                    ("source_labels", "c,a"),
                    ("regex", "(b).*b(.*)ba(.*)"),
                    ("target_label", "d"),
                    ("replacement", "$1$2$2$3"),
                ],
            ],
            want: Some(&[("a", "boobam"), ("b", "bar"), ("c", "baz"), ("d", "boooom")]),
        },
        Case {
            name: "custom separator",
            input: &[("a", "x"), ("b", "y")],
            rules: &[&[("source_labels", "a,b"), ("separator", "::"), ("target_label", "t")]],
            want: Some(&[("a", "x"), ("b", "y"), ("t", "x::y")]),
        },
        Case {
            name: "no match: no change, not even a deletion",
            input: &[("a", "boo"), ("b", "keep")],
            rules: &[&[("source_labels", "a"), ("regex", "f"), ("target_label", "b"), ("replacement", "")]],
            want: Some(&[("a", "boo"), ("b", "keep")]),
        },
        Case {
            name: "the regex is anchored: a partial match is no match",
            input: &[("a", "xfoox")],
            rules: &[&[("source_labels", "a"), ("regex", "foo"), ("target_label", "b")]],
            want: Some(&[("a", "xfoox")]),
        },
        Case {
            name: "a missing source label reads as empty",
            input: &[("a", "foo")],
            rules: &[&[("source_labels", "missing,a"), ("regex", ";(.*)"), ("target_label", "b")]],
            want: Some(&[("a", "foo"), ("b", "foo")]),
        },
        Case {
            name: "the default rule: __address__ to instance",
            input: &[("__address__", "10.0.0.1:9100"), ("job", "node")],
            rules: &[&[("source_labels", "__address__"), ("target_label", "instance")]],
            want: Some(&[("__address__", "10.0.0.1:9100"), ("instance", "10.0.0.1:9100"), ("job", "node")]),
        },
        Case {
            name: "no source labels: a fixed replacement sets the target",
            input: &[("a", "1")],
            rules: &[&[("target_label", "env"), ("replacement", "prod")]],
            want: Some(&[("a", "1"), ("env", "prod")]),
        },
        Case {
            name: "an empty expansion deletes the target",
            input: &[("a", "1"), ("instance", "old")],
            rules: &[&[("source_labels", "missing"), ("target_label", "instance")]],
            want: Some(&[("a", "1")]),
        },
        Case {
            name: "a group that took no part expands to empty, deleting the target",
            input: &[("a", "b"), ("t", "old")],
            rules: &[&[("source_labels", "a"), ("regex", "(a)|(b)"), ("target_label", "t")]],
            want: Some(&[("a", "b")]),
        },
        Case {
            name: "target_label template",
            input: &[("a", "some-name-value")],
            rules: &[&[
                ("source_labels", "a"),
                ("regex", "some-([^-]+)-([^,]+)"),
                ("target_label", "${1}"),
                ("replacement", "${2}"),
            ]],
            want: Some(&[("a", "some-name-value"), ("name", "value")]),
        },
        Case {
            name: "target_label template with text around it",
            input: &[("a", "cpu=4")],
            rules: &[&[
                ("source_labels", "a"),
                ("regex", "(\\w+)=(\\d+)"),
                ("target_label", "x_${1}_$1"),
                ("replacement", "$2"),
            ]],
            want: Some(&[("a", "cpu=4"), ("x_cpu_cpu", "4")]),
        },
        Case {
            name: "a target that expands to an invalid name is no change",
            input: &[("a", "some-name-0")],
            rules: &[
                // "" (no group 3), "0" (starts with a digit), "" (group "1x").
                &[("source_labels", "a"), ("regex", "some-([^-]+)-([^,]+)"), ("target_label", "${3}")],
                &[("source_labels", "a"), ("regex", "some-([^-]+)-([^,]+)"), ("target_label", "${2}")],
                &[("source_labels", "a"), ("regex", "some-([^-]+)-([^,]+)"), ("target_label", "$1x")],
                &[("source_labels", "a"), ("regex", "some-(.+)"), ("target_label", "$1")],
            ],
            want: Some(&[("a", "some-name-0")]),
        },
        Case {
            name: "an expansion to a name no group has is empty: the target is deleted",
            input: &[("a", "some-name-value"), ("b", "old")],
            rules: &[&[
                ("source_labels", "a"),
                ("regex", "some-([^-]+)-([^,]+)"),
                ("target_label", "b"),
                ("replacement", "${3}"),
            ]],
            want: Some(&[("a", "some-name-value")]),
        },
        Case {
            name: "$1x is group \"1x\" (empty); ${1}x is group 1 then x; $10 is group 10",
            input: &[("a", "foo")],
            rules: &[&[
                ("source_labels", "a"),
                ("regex", "(f)(o)o"),
                ("target_label", "t"),
                ("replacement", "[$1x|${1}x|$10|${2}0]"),
            ]],
            want: Some(&[("a", "foo"), ("t", "[|fx||o0]")]),
        },
        Case {
            name: "$$ is a literal $; $0 is the whole match; $01 is a name, so empty",
            input: &[("a", "foo")],
            rules: &[&[
                ("source_labels", "a"),
                ("regex", "f(o)o"),
                ("target_label", "t"),
                ("replacement", "$$1=$1 $0 [$01] $$"),
            ]],
            want: Some(&[("a", "foo"), ("t", "$1=o foo [] $")]),
        },
        Case {
            name: "a malformed reference is kept as written",
            input: &[("a", "foo")],
            rules: &[&[
                ("source_labels", "a"),
                ("regex", "(foo)"),
                ("target_label", "t"),
                ("replacement", "a${1b$-c${}${1}$"),
            ]],
            want: Some(&[("a", "foo"), ("t", "a${1b$-c${}foo$")]),
        },
        Case {
            name: "named groups, both syntaxes, in target and replacement",
            input: &[("__address__", "10.0.0.1:9100")],
            rules: &[&[
                ("source_labels", "__address__"),
                ("regex", "(?P<host>[^:]+):(?<port>\\d+)"),
                ("target_label", "port_${port}"),
                ("replacement", "$host/${port}:$port_x"),
            ]],
            want: Some(&[("__address__", "10.0.0.1:9100"), ("port_9100", "10.0.0.1/9100:")]),
        },
        Case {
            name: "(?s): . matches a newline",
            input: &[("a", "foo\nbar")],
            rules: &[&[("source_labels", "a"), ("regex", "foo.(.*)"), ("target_label", "b")]],
            want: Some(&[("a", "foo\nbar"), ("b", "bar")]),
        },
        Case {
            name: "Prometheus's service-discovery tags example",
            input: &[("__meta_sd_tags", "path:/secret,job:some-job,label:foo=bar")],
            rules: &[
                &[
                    ("source_labels", "__meta_sd_tags"),
                    ("regex", "(?:.+,|^)path:(/[^,]+).*"),
                    ("target_label", "__metrics_path__"),
                ],
                &[
                    ("source_labels", "__meta_sd_tags"),
                    ("regex", "(?:.+,|^)job:([^,]+).*"),
                    ("target_label", "job"),
                ],
                &[
                    ("source_labels", "__meta_sd_tags"),
                    ("regex", "(?:.+,|^)label:([^=]+)=([^,]+).*"),
                    ("target_label", "${1}"),
                    ("replacement", "${2}"),
                ],
            ],
            want: Some(&[
                ("__meta_sd_tags", "path:/secret,job:some-job,label:foo=bar"),
                ("__metrics_path__", "/secret"),
                ("foo", "bar"),
                ("job", "some-job"),
            ]),
        },
    ]);
}

#[test]
fn keep_and_drop() {
    check(&[
        Case {
            name: "drop on a match",
            input: &[("a", "foo"), ("b", "bar")],
            rules: &[&[("source_labels", "a"), ("regex", ".*o.*"), ("action", "drop")]],
            want: None,
        },
        Case {
            name: "drop: the regex must match all of the value",
            input: &[("a", "foo")],
            rules: &[&[("source_labels", "a"), ("regex", "f|o"), ("action", "drop")]],
            want: Some(&[("a", "foo")]),
        },
        Case {
            name: "drop with the default regex drops everything",
            input: &[("a", "foo")],
            rules: &[&[("action", "drop")]],
            want: None,
        },
        Case {
            name: "a dropped set is not relabeled further",
            input: &[("a", "foo")],
            rules: &[
                &[("source_labels", "a"), ("regex", ".*o.*"), ("action", "drop")],
                &[("source_labels", "a"), ("regex", "f(.*)"), ("target_label", "d")],
            ],
            want: None,
        },
        Case {
            name: "keep without a match drops",
            input: &[("a", "foo")],
            rules: &[&[("source_labels", "a"), ("regex", "no-match"), ("action", "keep")]],
            want: None,
        },
        Case {
            name: "keep with a match keeps, unchanged",
            input: &[("a", "foo")],
            rules: &[&[("source_labels", "a"), ("regex", "f.*"), ("action", "keep")]],
            want: Some(&[("a", "foo")]),
        },
        Case {
            name: "keep: a missing label is \"\", which an empty regex matches",
            input: &[("a", "foo")],
            rules: &[&[("source_labels", "missing"), ("regex", ""), ("action", "keep")]],
            want: Some(&[("a", "foo")]),
        },
        Case {
            name: "keep on joined values; anchors in the pattern are harmless",
            input: &[("job", "node"), ("role", "modem")],
            rules: &[&[
                ("source_labels", "job,role"),
                ("separator", "/"),
                ("regex", "^node/(modem|router)$"),
                ("action", "keep"),
            ]],
            want: Some(&[("job", "node"), ("role", "modem")]),
        },
        Case {
            name: "the action is case-insensitive",
            input: &[("a", "foo")],
            rules: &[&[("source_labels", "a"), ("regex", "foo"), ("action", "DROP")]],
            want: None,
        },
    ]);
}

#[test]
fn keepequal_and_dropequal() {
    const PORTS: Pairs = &[("__port1", "1234"), ("__port2", "5678"), ("__tmp_port", "1234")];
    check(&[
        Case {
            name: "keepequal, equal",
            input: PORTS,
            rules: &[&[
                ("source_labels", "__tmp_port"),
                ("target_label", "__port1"),
                ("action", "keepequal"),
            ]],
            want: Some(PORTS),
        },
        Case {
            name: "keepequal, different",
            input: PORTS,
            rules: &[&[
                ("source_labels", "__tmp_port"),
                ("target_label", "__port2"),
                ("action", "keepequal"),
            ]],
            want: None,
        },
        Case {
            name: "dropequal, equal",
            input: PORTS,
            rules: &[&[
                ("source_labels", "__tmp_port"),
                ("target_label", "__port1"),
                ("action", "dropequal"),
            ]],
            want: None,
        },
        Case {
            name: "dropequal, different",
            input: PORTS,
            rules: &[&[
                ("source_labels", "__tmp_port"),
                ("target_label", "__port2"),
                ("action", "dropequal"),
            ]],
            want: Some(PORTS),
        },
        Case {
            name: "keepequal: a missing target equals empty sources",
            input: PORTS,
            rules: &[&[("source_labels", "missing"), ("target_label", "absent"), ("action", "keepequal")]],
            want: Some(PORTS),
        },
        Case {
            name: "dropequal: a missing target equals empty sources",
            input: PORTS,
            rules: &[&[("target_label", "absent"), ("action", "dropequal")]],
            want: None,
        },
    ]);
}

#[test]
fn hashmod_matches_prometheus() {
    // Prometheus's TestRelabel values ("baz", "foo\nbar" mod 1000), and others
    // computed with its algorithm: md5, last 8 bytes big-endian, modulo.
    check(&[
        Case {
            name: "baz mod 1000",
            input: &[("a", "foo"), ("c", "baz")],
            rules: &[&[
                ("source_labels", "c"),
                ("target_label", "d"),
                ("modulus", "1000"),
                ("action", "hashmod"),
            ]],
            want: Some(&[("a", "foo"), ("c", "baz"), ("d", "976")]),
        },
        Case {
            name: "a value with a newline",
            input: &[("a", "foo\nbar")],
            rules: &[&[
                ("source_labels", "a"),
                ("target_label", "b"),
                ("modulus", "1000"),
                ("action", "hashmod"),
            ]],
            want: Some(&[("a", "foo\nbar"), ("b", "734")]),
        },
        Case {
            name: "joined sources; the target is overwritten",
            input: &[("a", "a"), ("b", "b"), ("shard", "x")],
            rules: &[&[
                ("source_labels", "a,b"),
                ("target_label", "shard"),
                ("modulus", "7"),
                ("action", "hashmod"),
            ]],
            want: Some(&[("a", "a"), ("b", "b"), ("shard", "2")]),
        },
        Case {
            name: "empty value",
            input: &[],
            rules: &[&[
                ("source_labels", "missing"),
                ("target_label", "s"),
                ("modulus", "10"),
                ("action", "hashmod"),
            ]],
            want: Some(&[("s", "8")]),
        },
        Case {
            name: "the largest modulus keeps the whole 64-bit tail",
            input: &[("n", "node-1")],
            rules: &[&[
                ("source_labels", "n"),
                ("target_label", "s"),
                ("modulus", "18446744073709551615"),
                ("action", "hashmod"),
            ]],
            want: Some(&[("n", "node-1"), ("s", "16435858039672400462")]),
        },
        Case {
            name: "sharding targets three ways, then keeping shard 2",
            input: &[("__address__", "10.0.0.1:9100")],
            rules: &[
                &[
                    ("source_labels", "__address__"),
                    ("target_label", "__tmp_hash"),
                    ("modulus", "3"),
                    ("action", "hashmod"),
                ],
                &[("source_labels", "__tmp_hash"), ("regex", "2"), ("action", "keep")],
            ],
            want: Some(&[("__address__", "10.0.0.1:9100"), ("__tmp_hash", "2")]),
        },
        Case {
            name: "another target lands in shard 0",
            input: &[("__address__", "10.0.0.2:9100")],
            rules: &[
                &[
                    ("source_labels", "__address__"),
                    ("target_label", "__tmp_hash"),
                    ("modulus", "3"),
                    ("action", "hashmod"),
                ],
                &[("source_labels", "__tmp_hash"), ("regex", "2"), ("action", "keep")],
            ],
            want: None,
        },
    ]);
}

#[test]
fn labelmap_labeldrop_labelkeep() {
    check(&[
        Case {
            name: "labelmap with a group",
            input: &[("a", "foo"), ("b1", "bar"), ("b2", "baz")],
            rules: &[&[("regex", "(b.*)"), ("replacement", "bar_${1}"), ("action", "labelmap")]],
            want: Some(&[("a", "foo"), ("b1", "bar"), ("b2", "baz"), ("bar_b1", "bar"), ("bar_b2", "baz")]),
        },
        Case {
            name: "labelmap of meta labels, the usual way",
            input: &[
                ("__meta_my_bar", "aaa"),
                ("__meta_my_baz", "bbb"),
                ("__meta_other", "ccc"),
                ("a", "foo"),
            ],
            rules: &[&[("regex", "__meta_(my.*)"), ("action", "labelmap")]],
            want: Some(&[
                ("__meta_my_bar", "aaa"),
                ("__meta_my_baz", "bbb"),
                ("__meta_other", "ccc"),
                ("a", "foo"),
                ("my_bar", "aaa"),
                ("my_baz", "bbb"),
            ]),
        },
        Case {
            name: "labelmap reads a snapshot: a copy is not mapped again in the same rule",
            input: &[("a", "1"), ("x_a", "2")],
            rules: &[&[("regex", "(.*)"), ("replacement", "x_$1"), ("action", "labelmap")]],
            want: Some(&[("a", "1"), ("x_a", "1"), ("x_x_a", "2")]),
        },
        Case {
            name: "labelmap overwrites an existing label; named groups",
            input: &[("__meta_kubernetes_pod_label_app", "web"), ("app", "old")],
            rules: &[&[
                ("regex", "__meta_kubernetes_pod_label_(?P<name>.+)"),
                ("replacement", "$name"),
                ("action", "labelmap"),
            ]],
            want: Some(&[("__meta_kubernetes_pod_label_app", "web"), ("app", "web")]),
        },
        Case {
            name: "labelmap skips names that expand to invalid label names",
            input: &[("__meta_1abc", "x"), ("__meta_ok", "y")],
            rules: &[&[("regex", "__meta_(.*)"), ("action", "labelmap")]],
            want: Some(&[("__meta_1abc", "x"), ("__meta_ok", "y"), ("ok", "y")]),
        },
        Case {
            name: "labeldrop of __meta_.*",
            input: &[("__address__", "h:1"), ("__meta_a", "1"), ("__meta_b", "2"), ("job", "j")],
            rules: &[&[("regex", "__meta_.*"), ("action", "labeldrop")]],
            want: Some(&[("__address__", "h:1"), ("job", "j")]),
        },
        Case {
            name: "labeldrop is anchored and on names, not values",
            input: &[("a", "b1"), ("b1", "bar"), ("xb1", "baz")],
            rules: &[&[("regex", "b.*"), ("action", "labeldrop")]],
            want: Some(&[("a", "b1"), ("xb1", "baz")]),
        },
        Case {
            name: "labelkeep",
            input: &[("a", "foo"), ("b1", "bar"), ("b2", "baz")],
            rules: &[&[("regex", "(b.*)"), ("action", "labelkeep")]],
            want: Some(&[("b1", "bar"), ("b2", "baz")]),
        },
        Case {
            name: "labelkeep may leave nothing",
            input: &[("a", "foo")],
            rules: &[&[("regex", "z"), ("action", "labelkeep")]],
            want: Some(&[]),
        },
    ]);
}

#[test]
fn lowercase_and_uppercase_as_go() {
    check(&[
        Case {
            name: "ASCII",
            input: &[("foo", "bAr123Foo")],
            rules: &[
                &[("source_labels", "foo"), ("target_label", "foo_uppercase"), ("action", "uppercase")],
                &[("source_labels", "foo"), ("target_label", "foo_lowercase"), ("action", "lowercase")],
            ],
            want: Some(&[
                ("foo", "bAr123Foo"),
                ("foo_lowercase", "bar123foo"),
                ("foo_uppercase", "BAR123FOO"),
            ]),
        },
        Case {
            // Go maps one character to one: ß stays, İ becomes i, a final Σ is σ.
            name: "Unicode, with Go's simple case mapping",
            input: &[("a", "Straße İ ΟΔΟΣ ᾳ")],
            rules: &[
                &[("source_labels", "a"), ("target_label", "up"), ("action", "uppercase")],
                &[("source_labels", "a"), ("target_label", "low"), ("action", "lowercase")],
            ],
            want: Some(&[("a", "Straße İ ΟΔΟΣ ᾳ"), ("low", "straße i οδοσ ᾳ"), ("up", "STRAßE İ ΟΔΟΣ ᾼ")]),
        },
        Case {
            name: "an empty value deletes the target",
            input: &[("t", "old")],
            rules: &[&[("source_labels", "missing"), ("target_label", "t"), ("action", "lowercase")]],
            want: Some(&[]),
        },
    ]);
}

#[test]
fn pipelines() {
    check(&[
        Case { name: "no rules: unchanged", input: &[("a", "1")], rules: &[], want: Some(&[("a", "1")]) },
        Case {
            // prometheus/prometheus#12283.
            name: "labeldrop, then replace recreates the label, then keep on it",
            input: &[
                ("__meta_kubernetes_pod_annotation_XXX_metrics_port", "9091"),
                ("__meta_kubernetes_pod_container_port_name", "foo"),
            ],
            rules: &[
                &[("regex", "^__meta_kubernetes_pod_container_port_name$"), ("action", "labeldrop")],
                &[
                    ("source_labels", "__meta_kubernetes_pod_annotation_XXX_metrics_port"),
                    ("regex", "(.+)"),
                    ("target_label", "__meta_kubernetes_pod_container_port_name"),
                    ("replacement", "metrics"),
                ],
                &[
                    ("source_labels", "__meta_kubernetes_pod_container_port_name"),
                    ("regex", "^metrics$"),
                    ("action", "keep"),
                ],
            ],
            want: Some(&[
                ("__meta_kubernetes_pod_annotation_XXX_metrics_port", "9091"),
                ("__meta_kubernetes_pod_container_port_name", "metrics"),
            ]),
        },
        Case {
            name: "pods by annotation: keep, port from annotation, labelmap, labeldrop",
            input: &[
                ("__address__", "10.1.2.3:8080"),
                ("__meta_kubernetes_namespace", "apps"),
                ("__meta_kubernetes_pod_annotation_prometheus_io_port", "9102"),
                ("__meta_kubernetes_pod_annotation_prometheus_io_scrape", "true"),
                ("__meta_kubernetes_pod_label_app", "web"),
            ],
            rules: &[
                &[
                    ("source_labels", "__meta_kubernetes_pod_annotation_prometheus_io_scrape"),
                    ("regex", "true"),
                    ("action", "keep"),
                ],
                &[
                    ("source_labels", "__address__,__meta_kubernetes_pod_annotation_prometheus_io_port"),
                    ("regex", "([^:]+)(?::\\d+)?;(\\d+)"),
                    ("replacement", "$1:$2"),
                    ("target_label", "__address__"),
                ],
                &[("regex", "__meta_kubernetes_pod_label_(.+)"), ("action", "labelmap")],
                &[("source_labels", "__meta_kubernetes_namespace"), ("target_label", "namespace")],
                &[("regex", "__meta_.*"), ("action", "labeldrop")],
            ],
            want: Some(&[("__address__", "10.1.2.3:9102"), ("app", "web"), ("namespace", "apps")]),
        },
        Case {
            name: "metric relabel: drop go_.* by name",
            input: &[("__name__", "go_goroutines"), ("job", "node")],
            rules: &[&[("source_labels", "__name__"), ("regex", "go_.*"), ("action", "drop")]],
            want: None,
        },
    ]);
}

#[test]
fn rule_errors_follow_prometheus_validate() {
    use Action::*;
    let cases: &[(Pairs, RuleError)] = &[
        (&[("action", "rename")], RuleError::UnknownAction("rename".into())),
        (&[("action", "")], RuleError::UnknownAction("".into())),
        (
            &[("source_labels", "a,1x"), ("target_label", "t")],
            RuleError::InvalidSourceLabel { index: 1, name: "1x".into() },
        ),
        (&[("source_labels", "a"), ("target_label", "t"), ("regex", "(")], {
            let message = regex_lite::Regex::new("^(?s:()$").unwrap_err().to_string();
            RuleError::InvalidRegex { pattern: "(".into(), message }
        }),
        (&[("regex", "\\pL"), ("action", "labeldrop")], {
            let message = regex_lite::Regex::new("^(?s:\\pL)$").unwrap_err().to_string();
            RuleError::InvalidRegex { pattern: "\\pL".into(), message }
        }),
        (&[("action", "hashmod"), ("target_label", "t")], RuleError::ModulusRequired),
        (&[("action", "hashmod"), ("modulus", "0")], RuleError::ModulusRequired),
        (&[], RuleError::TargetLabelRequired(Replace)),
        (&[("target_label", "")], RuleError::TargetLabelRequired(Replace)),
        (&[("action", "hashmod"), ("modulus", "2")], RuleError::TargetLabelRequired(HashMod)),
        (&[("action", "lowercase")], RuleError::TargetLabelRequired(Lowercase)),
        (&[("action", "uppercase")], RuleError::TargetLabelRequired(Uppercase)),
        (&[("action", "keepequal")], RuleError::TargetLabelRequired(KeepEqual)),
        (&[("action", "dropequal")], RuleError::TargetLabelRequired(DropEqual)),
        (&[("target_label", "a-b")], RuleError::InvalidTargetLabel { action: Replace, target: "a-b".into() }),
        (
            &[("target_label", "-${3}")],
            RuleError::InvalidTemplate {
                action: Replace,
                field: Field::TargetLabel,
                template: "-${3}".into(),
            },
        ),
        (
            &[("target_label", "0${3}")],
            RuleError::InvalidTemplate {
                action: Replace,
                field: Field::TargetLabel,
                template: "0${3}".into(),
            },
        ),
        (
            &[("target_label", "${3}"), ("action", "lowercase")],
            RuleError::InvalidTargetLabel { action: Lowercase, target: "${3}".into() },
        ),
        (
            &[("target_label", "a.b"), ("action", "keepequal")],
            RuleError::InvalidTargetLabel { action: KeepEqual, target: "a.b".into() },
        ),
        (
            &[("target_label", "$1"), ("modulus", "2"), ("action", "hashmod")],
            RuleError::InvalidTargetLabel { action: HashMod, target: "$1".into() },
        ),
        (
            &[("target_label", "t"), ("replacement", "x"), ("action", "uppercase")],
            RuleError::ReplacementNotAllowed(Uppercase),
        ),
        (
            &[("target_label", "t"), ("replacement", ""), ("action", "dropequal")],
            RuleError::ReplacementNotAllowed(DropEqual),
        ),
        (
            &[("replacement", "1$1"), ("action", "labelmap")],
            RuleError::InvalidTemplate {
                action: LabelMap,
                field: Field::Replacement,
                template: "1$1".into(),
            },
        ),
        (
            &[("replacement", ""), ("action", "labelmap")],
            RuleError::InvalidTemplate { action: LabelMap, field: Field::Replacement, template: "".into() },
        ),
        // Written at all, even as the default: Prometheus compares the compiled regex by identity.
        (
            &[("target_label", "t"), ("regex", "(.*)"), ("action", "keepequal")],
            RuleError::ExtraField { action: KeepEqual, field: Field::Regex },
        ),
        (
            &[("target_label", "t"), ("modulus", "3"), ("action", "dropequal")],
            RuleError::ExtraField { action: DropEqual, field: Field::Modulus },
        ),
        (
            &[("target_label", "t"), ("separator", ","), ("action", "keepequal")],
            RuleError::ExtraField { action: KeepEqual, field: Field::Separator },
        ),
        (
            &[("source_labels", ""), ("action", "labeldrop")],
            RuleError::ExtraField { action: LabelDrop, field: Field::SourceLabels },
        ),
        (
            &[("target_label", "t"), ("action", "labelkeep")],
            RuleError::ExtraField { action: LabelKeep, field: Field::TargetLabel },
        ),
        (
            &[("modulus", "1"), ("action", "labelkeep")],
            RuleError::ExtraField { action: LabelKeep, field: Field::Modulus },
        ),
        (
            &[("separator", ""), ("action", "labeldrop")],
            RuleError::ExtraField { action: LabelDrop, field: Field::Separator },
        ),
        (
            &[("replacement", "x"), ("action", "labeldrop")],
            RuleError::ExtraField { action: LabelDrop, field: Field::Replacement },
        ),
    ];
    for (fields, want) in cases {
        assert_eq!(Rule::new(spec(fields)).as_ref(), Err(want), "{fields:?}");
    }
}

#[test]
fn rules_that_prometheus_accepts() {
    let ok: &[Pairs] = &[
        &[
            ("source_labels", "a"),
            ("regex", "some-([^-]+)-([^,]+)"),
            ("target_label", "${3}"),
            ("replacement", "${1}"),
        ],
        // Defaults written out are not "other fields" for keepequal, labeldrop.
        &[
            ("target_label", "t"),
            ("separator", ";"),
            ("replacement", "$1"),
            ("modulus", "0"),
            ("action", "keepequal"),
        ],
        &[
            ("target_label", ""),
            ("separator", ";"),
            ("replacement", "$1"),
            ("regex", "x"),
            ("action", "labeldrop"),
        ],
        // Keys other actions ignore are accepted (modulus on replace, separator on labelmap).
        &[("target_label", "t"), ("modulus", "5")],
        &[("separator", ","), ("action", "labelmap")],
        &[("replacement", "fixed_name"), ("action", "labelmap")],
        &[("target_label", "t"), ("action", "Uppercase")],
        &[("regex", ""), ("action", "drop")],
    ];
    for fields in ok {
        assert!(Rule::new(spec(fields)).is_ok(), "{fields:?}: {:?}", Rule::new(spec(fields)));
    }
}

#[test]
fn rule_error_messages() {
    let message = |fields: Pairs| Rule::new(spec(fields)).unwrap_err().to_string();
    let cases: &[(Pairs, &str)] = &[
        (
            &[("action", "rename")],
            "unknown action \"rename\": expected one of replace, keep, drop, keepequal, dropequal, hashmod, labelmap, labeldrop, labelkeep, lowercase, uppercase",
        ),
        (
            &[("source_labels", "a-b")],
            "invalid label name \"a-b\" in source_labels: must match [a-zA-Z_][a-zA-Z0-9_]*",
        ),
        (
            &[("action", "hashmod"), ("target_label", "t")],
            "action \"hashmod\" requires a modulus greater than 0",
        ),
        (&[("action", "hashmod"), ("modulus", "8")], "action \"hashmod\" requires a target_label"),
        (
            &[("target_label", "a-b")],
            "action \"replace\": target_label \"a-b\" is not a valid label name (must match [a-zA-Z_][a-zA-Z0-9_]*)",
        ),
        (
            &[("target_label", "x-$1")],
            "action \"replace\": target_label \"x-$1\" is not a label name template (letters, digits, \"_\" and $1, ${1}, $name or ${name} references; not starting with a digit)",
        ),
        (
            &[("target_label", "t"), ("replacement", "x"), ("action", "lowercase")],
            "action \"lowercase\" does not take a replacement",
        ),
        (
            &[("target_label", "t"), ("regex", "(.*)"), ("action", "dropequal")],
            "action \"dropequal\" takes only source_labels and target_label, not regex",
        ),
        (
            &[("source_labels", "a"), ("action", "labelkeep")],
            "action \"labelkeep\" takes only regex, not source_labels",
        ),
    ];
    for (fields, want) in cases {
        assert_eq!(message(fields), *want, "{fields:?}");
    }
}

#[test]
fn name_templates_as_prometheus_relabel_target() {
    // Prometheus's TestTargetLabelValidity.
    let cases = [
        ("-label", false),
        ("label", true),
        ("label${1}", true),
        ("${1}label", true),
        ("${1}", true),
        ("${", false),
        ("$", false),
        ("${}", false),
        ("foo${", false),
        ("$1", true),
        ("asd$2asd", true),
        ("-foo${1}bar-", false),
        ("_${1}_", true),
        ("foo${bar}foo", true),
        ("", false),
        ("1a", false),
        ("$$", false),
        ("${1}2", true),
        ("${a b}", false),
    ];
    for (template, valid) in cases {
        assert_eq!(is_name_template(template), valid, "{template:?}");
    }
}

#[test]
fn name_templates_agree_with_prometheus_regex_on_every_short_string() {
    // Prometheus's relabelTargetLegacy, here compiled with regex-lite
    // (\w is ASCII in both), against the hand-written check.
    let oracle = regex_lite::Regex::new(r"^(?:(?:[a-zA-Z_]|\$(?:\{\w+\}|\w+))+\w*)+$").unwrap();
    let alphabet = ['$', '{', '}', '1', 'a', '_', '-'];
    let mut strings = vec![String::new()];
    for _ in 0..5 {
        let longer: Vec<String> =
            strings.iter().flat_map(|s| alphabet.iter().map(move |c| format!("{s}{c}"))).collect();
        for s in &longer {
            assert_eq!(is_name_template(s), oracle.is_match(s), "{s:?}");
        }
        strings = longer;
    }
}

#[test]
fn expansion_never_panics() {
    // Every template of up to 4 characters from an alphabet of reference
    // syntax, over non-ASCII text; the result is only checked to exist.
    let regex = Regex::new("(?P<a>é)?(x)?(.*)").unwrap();
    let alphabet = ['$', '{', '}', '0', '1', 'a', 'é', '_'];
    let mut templates = vec![String::new()];
    for _ in 0..4 {
        templates = templates.iter().flat_map(|s| alphabet.iter().map(move |c| format!("{s}{c}"))).collect();
        for value in ["éxz", "", "zz"] {
            let mut groups = regex.locations();
            assert!(regex.captures(value, &mut groups));
            for template in &templates {
                let mut out = String::new();
                regex.expand(&mut out, template, value, &groups);
            }
        }
    }
}

#[test]
fn rules_compare_by_what_is_written() {
    let a = rule(&[("source_labels", "__name__"), ("regex", "go_.*"), ("action", "drop")]);
    assert_eq!(a, a.clone());
    assert_ne!(a, rule(&[("source_labels", "__name__"), ("regex", "go_.+"), ("action", "drop")]));
    assert_eq!(a.action(), Action::Drop);
    assert_eq!(format!("{:?}", Regex::new("go_.*").unwrap()), "Regex(\"go_.*\")");
    // The default rule is the written-out default.
    let written = rule(&[
        ("target_label", "t"),
        ("regex", "(.*)"),
        ("separator", ";"),
        ("replacement", "$1"),
        ("action", "replace"),
    ]);
    assert_eq!(rule(&[("target_label", "t")]), written);
}
