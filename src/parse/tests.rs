use std::borrow::Cow;

use super::text::TextParser;
use super::{Entry, MetricType, ParseError, ParseErrorKind, SampleEntry, labels};

fn parse(body: &str) -> Result<Vec<Entry<'_>>, ParseError> {
    TextParser::new(body).collect()
}

fn samples(body: &str) -> Vec<SampleEntry<'_>> {
    match parse(body) {
        Ok(entries) => entries
            .into_iter()
            .filter_map(|e| match e {
                Entry::Sample(s) => Some(s),
                _ => None,
            })
            .collect(),
        Err(e) => panic!("{body:?}: {e}"),
    }
}

fn sample<'a>(
    series: &'a str,
    name: &'a str,
    labels: &'a str,
    value: f64,
    timestamp_ms: Option<i64>,
) -> Entry<'a> {
    Entry::Sample(SampleEntry { series, name, labels, value, timestamp_ms })
}

/// Each label pair as (name, value, borrowed?), or the first error.
fn pairs(raw: &str) -> Result<Vec<(&str, String, bool)>, ParseErrorKind> {
    labels(raw).map(|r| r.map(|(n, v)| (n, v.to_string(), matches!(v, Cow::Borrowed(_))))).collect()
}

#[test]
fn every_line_type() {
    let body = "# HELP http_requests_total The total number of HTTP requests.\n\
                # TYPE http_requests_total counter\n\
                http_requests_total{method=\"post\",code=\"200\"} 1027 1395066363000\n\
                \n\
                # TYPE g gauge\n\
                # TYPE h histogram\n\
                # TYPE s summary\n\
                # TYPE u untyped\n\
                #   HELP\tspaced  text with \\n escape \\\\ kept  \n\
                # HELP empty\n\
                # just a comment\n\
                #HELP not_metadata x\n\
                # HELPER x\n\
                # HELP\n\
                #\n\
                \t  \n\
                metric_without_timestamp_and_labels 12.47\n";
    let expected = vec![
        Entry::Help { name: "http_requests_total", text: "The total number of HTTP requests." },
        Entry::Type { name: "http_requests_total", kind: MetricType::Counter },
        sample(
            "http_requests_total{method=\"post\",code=\"200\"}",
            "http_requests_total",
            "method=\"post\",code=\"200\"",
            1027.0,
            Some(1395066363000),
        ),
        Entry::Type { name: "g", kind: MetricType::Gauge },
        Entry::Type { name: "h", kind: MetricType::Histogram },
        Entry::Type { name: "s", kind: MetricType::Summary },
        Entry::Type { name: "u", kind: MetricType::Untyped },
        Entry::Help { name: "spaced", text: "text with \\n escape \\\\ kept  " },
        Entry::Help { name: "empty", text: "" },
        Entry::Comment,
        Entry::Comment,
        Entry::Comment,
        Entry::Comment,
        Entry::Comment,
        sample("metric_without_timestamp_and_labels", "metric_without_timestamp_and_labels", "", 12.47, None),
    ];
    assert_eq!(parse(body), Ok(expected));
}

#[test]
fn sample_lines() {
    // (line, series, labels, value, timestamp)
    let cases: &[(&str, &str, &str, f64, Option<i64>)] = &[
        ("a 1", "a", "", 1.0, None),
        ("a{} 1", "a{}", "", 1.0, None),
        ("a{ } 1", "a{ }", " ", 1.0, None),
        ("a{b=\"c\",} 1", "a{b=\"c\",}", "b=\"c\",", 1.0, None),
        ("a{b=\"c\", } 1", "a{b=\"c\", }", "b=\"c\", ", 1.0, None),
        ("a{ b = \"c\" , d=\"e\" } 1", "a{ b = \"c\" , d=\"e\" }", " b = \"c\" , d=\"e\" ", 1.0, None),
        ("a{b=\"}\"} 1", "a{b=\"}\"}", "b=\"}\"", 1.0, None),
        ("a{b=\"\\\"}\"} 1", "a{b=\"\\\"}\"}", "b=\"\\\"}\"", 1.0, None),
        ("a{b=\"\\\\\"} 1", "a{b=\"\\\\\"}", "b=\"\\\\\"", 1.0, None),
        ("a{b=\"ü 日本 {x} #\"} 1", "a{b=\"ü 日本 {x} #\"}", "b=\"ü 日本 {x} #\"", 1.0, None),
        ("\t a\t{b=\"c\"}\t2\t3\t", "a\t{b=\"c\"}", "b=\"c\"", 2.0, Some(3)),
        ("a{b=\"c\"}7", "a{b=\"c\"}", "b=\"c\"", 7.0, None),
        ("a  -1.5e3   -1700000000000", "a", "", -1500.0, Some(-1_700_000_000_000)),
        ("a 1 +5", "a", "", 1.0, Some(5)),
        ("a 1 0", "a", "", 1.0, Some(0)),
        ("a 1 9223372036854775807", "a", "", 1.0, Some(i64::MAX)),
        ("a 1 -9223372036854775808", "a", "", 1.0, Some(i64::MIN)),
        ("a +Inf", "a", "", f64::INFINITY, None),
        ("a -Inf", "a", "", f64::NEG_INFINITY, None),
        ("a Inf", "a", "", f64::INFINITY, None),
        ("a inf", "a", "", f64::INFINITY, None),
        ("a +infinity", "a", "", f64::INFINITY, None),
        ("a -INF 12", "a", "", f64::NEG_INFINITY, Some(12)),
        ("a .5", "a", "", 0.5, None),
        ("a 5.", "a", "", 5.0, None),
        ("a 1E-3", "a", "", 0.001, None),
        ("a -0", "a", "", -0.0, None),
        ("a 1e-400", "a", "", 0.0, None),
        ("a 1.7976931348623157e308", "a", "", f64::MAX, None),
        ("_:a_b:9 1", "_:a_b:9", "", 1.0, None),
        ("a_bucket{le=\"+Inf\"} 3", "a_bucket{le=\"+Inf\"}", "le=\"+Inf\"", 3.0, None),
        ("a{quantile=\"0.99\"} NaN", "a{quantile=\"0.99\"}", "quantile=\"0.99\"", f64::NAN, None),
    ];
    for &(line, series, labels, value, timestamp_ms) in cases {
        let got = samples(line);
        assert_eq!(got.len(), 1, "{line:?}");
        let s = &got[0];
        let name = series.split(['{', ' ', '\t']).next().unwrap_or_default();
        assert_eq!(
            (s.series, s.name, s.labels, s.timestamp_ms),
            (series, name, labels, timestamp_ms),
            "{line:?}"
        );
        let same = (value.is_nan() && s.value.is_nan())
            || (s.value == value && s.value.is_sign_negative() == value.is_sign_negative());
        assert!(same, "{line:?}: {} != {value}", s.value);
    }
}

#[test]
fn nan_is_prometheus_normal_nan() {
    for token in ["NaN", "nan", "NAN", "nAn"] {
        let got = samples(&format!("a {token}"))[0].value;
        assert_eq!(got.to_bits(), 0x7ff8_0000_0000_0001, "{token}");
    }
}

#[test]
fn label_pairs_resolve_escapes() {
    /// (name, value, borrowed without copying)
    type Pair = (&'static str, &'static str, bool);
    let cases: &[(&str, &[Pair])] = &[
        ("", &[]),
        ("  ", &[]),
        ("b=\"c\"", &[("b", "c", true)]),
        ("b=\"\"", &[("b", "", true)]),
        ("b=\"c\",", &[("b", "c", true)]),
        (" b = \"c\" , d=\"e\" , ", &[("b", "c", true), ("d", "e", true)]),
        ("b=\"\\\\\"", &[("b", "\\", false)]),
        ("b=\"say \\\"hi\\\"\"", &[("b", "say \"hi\"", false)]),
        ("b=\"x\\ny\"", &[("b", "x\ny", false)]),
        ("b=\"\\\\n\"", &[("b", "\\n", false)]),
        ("b=\"ü\\n日本\"", &[("b", "ü\n日本", false)]),
        ("b=\"a,b=c}\",_x9=\"{\"", &[("b", "a,b=c}", true), ("_x9", "{", true)]),
        ("\tb\t=\t\"c\"\t", &[("b", "c", true)]),
    ];
    for &(raw, expected) in cases {
        let expected: Vec<(&str, String, bool)> =
            expected.iter().map(|&(n, v, b)| (n, v.to_string(), b)).collect();
        assert_eq!(pairs(raw), Ok(expected), "{raw:?}");
    }
}

#[test]
fn label_pairs_errors() {
    use ParseErrorKind::*;
    let cases: &[(&str, ParseErrorKind)] = &[
        ("b=\"c", UnterminatedLabelValue),
        ("b=\"c\\", UnterminatedLabelValue),
        ("b=\"\\t\"", InvalidEscape),
        ("b=\"\\u00e9\"", InvalidEscape),
        ("b=c", ExpectedLabelValue),
        ("b=", ExpectedLabelValue),
        ("b", ExpectedEquals),
        ("b \"c\"", ExpectedEquals),
        ("1b=\"c\"", InvalidLabelName),
        ("b-c=\"d\"", InvalidLabelName),
        ("b:c=\"d\"", InvalidLabelName),
        (",", InvalidLabelName),
        ("b=\"c\",,", InvalidLabelName),
        ("b=\"c\" d=\"e\"", ExpectedCommaOrBrace),
    ];
    for (raw, kind) in cases {
        let mut it = labels(raw);
        let first_err = it.by_ref().find_map(Result::err);
        assert_eq!(first_err.as_ref(), Some(kind), "{raw:?}");
        assert!(it.next().is_none(), "{raw:?}: not fused");
    }
}

#[test]
fn malformed_lines_report_kind_and_line() {
    use ParseErrorKind::*;
    let v = |s: &str| InvalidValue(s.to_string());
    // Each body's bad line is the last one; the lines before it are valid.
    let cases: &[(&str, usize, ParseErrorKind)] = &[
        ("a{b=\"c} 1", 1, UnterminatedLabelValue),
        ("ok 1\na{b=\"c", 2, UnterminatedLabelValue),
        ("ok 1\n\na{b=\"c\\\"} 1", 3, UnterminatedLabelValue),
        // A line never continues onto the next one.
        ("a{b=\"c\nd\"} 1", 1, UnterminatedLabelValue),
        ("a{b=\"c\\\nn\"} 1", 1, UnterminatedLabelValue),
        ("a{b=\"c\",\n} 1", 1, MissingClosingBrace),
        ("a{b=\n\"c\"} 1", 1, ExpectedLabelValue),
        ("a{b\n=\"c\"} 1", 1, ExpectedEquals),
        ("a\n1", 1, ExpectedValue),
        ("a{b=\"c\" 1", 1, ExpectedCommaOrBrace),
        ("a{b=\"c\" d=\"e\"} 1", 1, ExpectedCommaOrBrace),
        ("a{b=\"c\"", 1, MissingClosingBrace),
        ("a{b=\"c\",", 1, MissingClosingBrace),
        ("a{", 1, MissingClosingBrace),
        ("a{b=\"\\t\"} 1", 1, InvalidEscape),
        ("a{b=\"x\\a\"} 1", 1, InvalidEscape),
        ("a{b=c} 1", 1, ExpectedLabelValue),
        ("a{b='c'} 1", 1, ExpectedLabelValue),
        ("a{b} 1", 1, ExpectedEquals),
        ("a{b:c=\"d\"} 1", 1, InvalidLabelName),
        ("a{1b=\"c\"} 1", 1, InvalidLabelName),
        ("a{é=\"c\"} 1", 1, InvalidLabelName),
        ("a{,} 1", 1, InvalidLabelName),
        ("a{b=\"c\",,} 1", 1, InvalidLabelName),
        ("a{\"b\"=\"c\"} 1", 1, InvalidLabelName),
        ("1a 1", 1, InvalidMetricName),
        ("a-b 1", 1, InvalidMetricName),
        ("a.b 1", 1, InvalidMetricName),
        ("é 1", 1, InvalidMetricName),
        ("{b=\"c\"} 1", 1, InvalidMetricName),
        ("\"a\" 1", 1, InvalidMetricName),
        ("a", 1, ExpectedValue),
        ("a  \t", 1, ExpectedValue),
        ("a{b=\"c\"}", 1, ExpectedValue),
        ("a{b=\"c\"}  ", 1, ExpectedValue),
        ("a abc", 1, v("abc")),
        ("a 1,5", 1, v("1,5")),
        ("a 0x1p3", 1, v("0x1p3")),
        ("a 0x10", 1, v("0x10")),
        ("a 1_000", 1, v("1_000")),
        ("a +NaN", 1, v("+NaN")),
        ("a -nan", 1, v("-nan")),
        ("a 1e400", 1, v("1e400")),
        ("a -1e400", 1, v("-1e400")),
        ("a infin", 1, v("infin")),
        ("a .", 1, v(".")),
        ("a e5", 1, v("e5")),
        ("a 1{", 1, v("1{")),
        ("a 1\r", 1, v("1\r")),
        ("a 1 2.5", 1, InvalidTimestamp),
        ("a 1 x", 1, InvalidTimestamp),
        ("a 1 1e3", 1, InvalidTimestamp),
        ("a 1 9223372036854775808", 1, InvalidTimestamp),
        ("a 1 --5", 1, InvalidTimestamp),
        ("a 1 2 3", 1, TrailingGarbage),
        ("a 1 2 #", 1, TrailingGarbage),
        ("# TYPE a gauge\n# TYPE a bogus", 2, InvalidType),
        ("# TYPE a Counter", 1, InvalidType),
        ("# TYPE a", 1, InvalidType),
        ("# TYPE a counter extra", 1, InvalidType),
        ("# TYPE 1a counter", 1, InvalidMetricName),
        ("# TYPE a-b counter", 1, InvalidMetricName),
        ("# TYPE a{} counter", 1, InvalidMetricName),
        ("# HELP a.b text", 1, InvalidMetricName),
        ("# HELP  ", 1, InvalidMetricName),
    ];
    for (body, line, kind) in cases {
        let entries: Vec<_> = TextParser::new(body).collect();
        let (last, before) = entries.split_last().expect("at least one entry");
        assert!(before.iter().all(Result::is_ok), "{body:?}: {before:?}");
        let expected = ParseError { line: *line, kind: kind.clone() };
        assert_eq!(last, &Err(expected), "{body:?}");
    }
}

#[test]
fn long_invalid_value_is_truncated_at_a_char_boundary() {
    let token = "é".repeat(30); // 60 bytes
    let err = parse(&format!("a {token}")).expect_err("invalid");
    let ParseErrorKind::InvalidValue(shown) = err.kind else { panic!("{err:?}") };
    assert_eq!(shown, format!("{}…", "é".repeat(20)));
}

#[test]
fn display_puts_context_first() {
    let cases = [
        ("a 1\nb abc", "line 2: invalid value \"abc\""),
        ("a{b=\"\\t\"} 1", "line 1: invalid escape in label value (only \\\\, \\\" and \\n)"),
        ("# TYPE a foo", "line 1: invalid metric type (counter, gauge, histogram, summary, untyped)"),
        ("a 1 2 3", "line 1: unexpected text after timestamp"),
    ];
    for (body, message) in cases {
        let err = parse(body).expect_err(body);
        assert_eq!(err.to_string(), message);
    }
}

#[test]
fn fused_after_error() {
    for bad in ["b", "# TYPE b bogus", "# HELP 1b x"] {
        let body = format!("a 1\n{bad}\nc 2\n# TYPE c gauge\n");
        let mut parser = TextParser::new(&body);
        assert!(matches!(parser.next(), Some(Ok(Entry::Sample(_)))));
        let err = parser.next();
        assert!(matches!(err, Some(Err(ParseError { line: 2, .. }))), "{bad}");
        assert_eq!(parser.next(), None, "{bad}");
        assert_eq!(parser.next(), None, "{bad}");
    }
}

#[test]
fn line_numbers_count_blank_lines_and_comments() {
    let body = "\n\n# c\n  \t\na 1\n\n# HELP x y\n\nb 2\n\t\nbad\n";
    let err = parse(body).expect_err("bad line");
    assert_eq!(err.line, 11);
    assert_eq!(parse(""), Ok(vec![]));
    assert_eq!(parse("\n\n \t \n"), Ok(vec![]));
    // No final newline.
    assert_eq!(samples("a 1\nb 2").len(), 2);
    assert_eq!(parse("a 1\nb").map_err(|e| e.line), Err(2));
}

/// Parses fully and checks what callers rely on: every sample's label block
/// was validated, so `labels()` on it never errs; no entry reaches past its
/// line (the body is scanned in place); and parsing the body whole gives the
/// same entries, errors and line numbers as parsing each line on its own.
fn parse_checked(body: &str) {
    let whole: Vec<_> = TextParser::new(body).collect();
    for entry in &whole {
        if let Ok(Entry::Sample(s)) = entry {
            assert!(s.series.starts_with(s.name) && !s.series.contains('\n'));
            assert!(labels(s.labels).all(|r| r.is_ok()), "{body:?}: {s:?}");
        }
    }
    let mut by_line = Vec::new();
    for (i, line) in body.split('\n').enumerate() {
        by_line
            .extend(TextParser::new(line).map(|r| r.map_err(|e| ParseError { line: i + 1, kind: e.kind })));
        if by_line.last().is_some_and(Result::is_err) {
            break;
        }
    }
    // Debug, not ==: a NaN value is not equal to itself.
    assert_eq!(format!("{whole:?}"), format!("{by_line:?}"), "{body:?}");
}

const SMALL_BODY: &str = "# HELP a_total Some \\\\ help.\n\
    # TYPE a_total counter\n\
    a_total{b=\"x\\\"y\\\\z\\n\",c=\"日本\",} 1.5e3 -12\n\
    \n\
    h_bucket{le=\"+Inf\"}\t+Inf\n\
    h_sum NaN 5\n\
    # comment\n";

#[test]
fn every_prefix_never_panics() {
    assert_eq!(samples(SMALL_BODY).len(), 3);
    let fixture = include_str!("../../tests/fixtures/node_exporter.prom");
    for body in [SMALL_BODY, &fixture[..fixture.len().min(4096)]] {
        for end in (0..=body.len()).filter(|&i| body.is_char_boundary(i)) {
            parse_checked(&body[..end]);
        }
    }
}

#[test]
fn every_single_byte_mutation_never_panics() {
    let original = SMALL_BODY.as_bytes();
    let mut mutated = 0;
    for at in 0..original.len() {
        for byte in (0..=127u8).chain([0xc3, 0xa9, 0xff]) {
            let mut replaced = original.to_vec();
            replaced[at] = byte;
            let mut inserted = original.to_vec();
            inserted.insert(at, byte);
            let mut removed = original.to_vec();
            removed.remove(at);
            for bytes in [replaced, inserted, removed] {
                if let Ok(body) = String::from_utf8(bytes) {
                    parse_checked(&body);
                    mutated += 1;
                }
            }
        }
    }
    assert!(mutated > 50_000, "{mutated}");
}

#[test]
fn node_exporter_fixture() {
    let body = include_str!("../../tests/fixtures/node_exporter.prom");
    let entries = parse(body).unwrap_or_else(|e| panic!("fixture: {e}"));
    let expected = body.lines().filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#')).count();
    let samples: Vec<_> = entries
        .iter()
        .filter_map(|e| match e {
            Entry::Sample(s) => Some(s),
            _ => None,
        })
        .collect();
    assert_eq!(samples.len(), expected);
    assert!(expected > 100, "{expected}");
    let types = entries.iter().filter(|e| matches!(e, Entry::Type { .. })).count();
    let helps = entries.iter().filter(|e| matches!(e, Entry::Help { .. })).count();
    assert!(types > 50 && helps == types, "{types} TYPE, {helps} HELP");

    let cpu_idle = samples
        .iter()
        .find(|s| s.name == "node_cpu_seconds_total" && s.labels.contains("mode=\"idle\""))
        .expect("node_cpu_seconds_total idle");
    let pairs = pairs(cpu_idle.labels).expect("labels");
    let names: Vec<_> = pairs.iter().map(|p| p.0).collect();
    assert_eq!(names, ["cpu", "mode"]);
    assert_eq!(pairs[1].1, "idle");
    assert!(cpu_idle.value >= 0.0 && cpu_idle.timestamp_ms.is_none());

    let uname = samples.iter().find(|s| s.name == "node_uname_info").expect("node_uname_info");
    let sysname = labels(uname.labels).filter_map(Result::ok).find(|(n, _)| *n == "sysname").map(|(_, v)| v);
    assert_eq!(sysname.as_deref(), Some("Linux"));
    assert_eq!(uname.value, 1.0);

    let go_info = samples.iter().find(|s| s.name == "go_goroutines").expect("go_goroutines");
    assert_eq!((go_info.series, go_info.labels), ("go_goroutines", ""));

    for s in &samples {
        assert!(s.series.starts_with(s.name), "{s:?}");
        assert!(labels(s.labels).all(|r| r.is_ok()), "{s:?}");
    }
}

#[test]
fn short_decimals_match_str_parse() {
    // The fast path for common values must give the bits `str::parse` gives,
    // and leave every form it does not take to it.
    let mut tokens: Vec<String> = [
        "0",
        "-0",
        "+0",
        "1",
        "-1",
        "42",
        "0.5",
        "1.5",
        "-1.5",
        "12.47",
        "1e5",
        "1E-3",
        "1.2e+06",
        "3.0517578125e-05",
        "9007199254740992",
        "9007199254740993",
        "18446744073709551616",
        "0.1",
        "0.2",
        "0.3",
        "1e22",
        "1e23",
        "1e-22",
        "1e-23",
        "123456789012345678",
        "1.",
        ".5",
        "1.e5",
        "1e",
        "1e+",
        "1e-",
        "e5",
        "-",
        "+",
        "",
        "1..2",
        "1.2.3",
        "1e5.5",
        "1e1000",
        "00001",
        "0.000001",
        "8.98846567431158e307",
        "4.9e-324",
        "0x10",
        "1_0",
        "1e-0",
        "1e+000",
        "1e0001",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    let mut rng = fastrand::Rng::with_seed(7);
    let alphabet = b"0123456789.eE+-";
    for _ in 0..200_000 {
        let len = rng.usize(1..=22);
        let digits = len.min(if rng.bool() { 16 } else { 22 });
        let mut t: String = (0..digits).map(|_| char::from(alphabet[rng.usize(..10)])).collect();
        match rng.u8(..4) {
            0 => t.insert(rng.usize(..=t.len()), '.'),
            1 => t.push_str(&format!("e{}{}", ["", "+", "-"][rng.usize(..3)], rng.u32(..40))),
            2 => {
                t.insert(rng.usize(..=t.len()), char::from(alphabet[rng.usize(..alphabet.len())]));
            }
            _ => {}
        }
        if rng.bool() {
            t.insert(0, '-');
        }
        tokens.push(t);
    }
    let mut fast = 0;
    for t in &tokens {
        let got = super::text::parse_value(t).map(f64::to_bits).ok();
        let want = t.parse::<f64>().ok().filter(|v| v.is_finite()).map(f64::to_bits);
        // The general path also accepts infinities and NaN, which these tokens never spell.
        if got.is_some() || want.is_some() {
            assert_eq!(got, want, "{t:?}");
        }
        fast += usize::from(super::text::exact_short_decimal(t.as_bytes()).is_some());
    }
    assert!(fast > 50_000, "the fast path took only {fast} tokens");
}
