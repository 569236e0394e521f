use std::borrow::Cow;

use super::OpenMetricsParser;
use crate::parse::fuzz_check::check;
use crate::parse::text::TextParser;
use crate::parse::{Entry, Format, MetricType, ParseError, ParseErrorKind, SampleEntry, labels, parser};

const FIXTURE: &str = include_str!("../../../tests/fixtures/openmetrics.txt");

fn parse(body: &str) -> Result<Vec<Entry<'_>>, ParseError> {
    OpenMetricsParser::new(body).collect()
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

/// The single sample of `line`, which gets a `# EOF` line appended.
fn one_sample(line: &str) -> SampleEntry<'static> {
    let body: &'static str = Box::leak(format!("{line}\n# EOF\n").into_boxed_str());
    let got = samples(body);
    assert_eq!(got.len(), 1, "{line:?}");
    got[0].clone()
}

/// The error of `body` + "\n# EOF\n"; every entry before it must be fine.
fn error_of(body: &str) -> ParseError {
    let body = format!("{body}\n# EOF\n");
    let entries: Vec<_> = OpenMetricsParser::new(&body).collect();
    let (last, before) = entries.split_last().unwrap_or_else(|| panic!("{body:?}: no entries"));
    assert!(before.iter().all(Result::is_ok), "{body:?}: {before:?}");
    match last {
        Err(e) => e.clone(),
        Ok(entry) => panic!("{body:?}: parsed, last {entry:?}"),
    }
}

fn same_value(got: f64, want: f64) -> bool {
    (want.is_nan() && got.is_nan()) || (got == want && got.is_sign_negative() == want.is_sign_negative())
}

#[test]
fn every_line_type() {
    let body = "# HELP http_requests The total number of \\\"HTTP\\\" requests.\n\
                # TYPE http_requests counter\n\
                # UNIT http_requests \n\
                http_requests_total{method=\"post\",code=\"200\"} 1027 1395066363.5\n\
                # TYPE g gauge\n\
                # TYPE h histogram\n\
                # TYPE gh gaugehistogram\n\
                # TYPE s summary\n\
                # TYPE i info\n\
                # TYPE ss stateset\n\
                # TYPE u unknown\n\
                # UNIT size_bytes bytes\n\
                # HELP empty \n\
                metric_without_timestamp_and_labels 12.47\n\
                # EOF\n";
    let sample = |series, name, labels, value, timestamp_ms| {
        Entry::Sample(SampleEntry { series, name, labels, value, timestamp_ms })
    };
    let expected = vec![
        Entry::Help { name: "http_requests", text: "The total number of \\\"HTTP\\\" requests." },
        Entry::Type { name: "http_requests", kind: MetricType::Counter },
        Entry::Unit { name: "http_requests", unit: "" },
        sample(
            "http_requests_total{method=\"post\",code=\"200\"}",
            "http_requests_total",
            "method=\"post\",code=\"200\"",
            1027.0,
            Some(1_395_066_363_500),
        ),
        Entry::Type { name: "g", kind: MetricType::Gauge },
        Entry::Type { name: "h", kind: MetricType::Histogram },
        Entry::Type { name: "gh", kind: MetricType::GaugeHistogram },
        Entry::Type { name: "s", kind: MetricType::Summary },
        Entry::Type { name: "i", kind: MetricType::Info },
        Entry::Type { name: "ss", kind: MetricType::Stateset },
        Entry::Type { name: "u", kind: MetricType::Untyped },
        Entry::Unit { name: "size_bytes", unit: "bytes" },
        Entry::Help { name: "empty", text: "" },
        sample("metric_without_timestamp_and_labels", "metric_without_timestamp_and_labels", "", 12.47, None),
    ];
    assert_eq!(parse(body), Ok(expected));
    // `# EOF` may be the last bytes, without a '\n'.
    assert_eq!(parse("a 1\n# EOF").map(|e| e.len()), Ok(1));
    assert_eq!(parse("# EOF"), Ok(vec![]));
}

#[test]
fn sample_lines() {
    // (line, series, labels, value, timestamp)
    let cases: &[(&str, &str, &str, f64, Option<i64>)] = &[
        ("a 1", "a", "", 1.0, None),
        ("a{} 1", "a{}", "", 1.0, None),
        ("a{b=\"c\",} 1", "a{b=\"c\",}", "b=\"c\",", 1.0, None),
        ("a{b=\"c\",d=\"\"} 1", "a{b=\"c\",d=\"\"}", "b=\"c\",d=\"\"", 1.0, None),
        ("a{b=\"} {x} # =,\"} 1", "a{b=\"} {x} # =,\"}", "b=\"} {x} # =,\"", 1.0, None),
        ("a{b=\"\\\"\\\\\\n\"} 1", "a{b=\"\\\"\\\\\\n\"}", "b=\"\\\"\\\\\\n\"", 1.0, None),
        ("a{b=\"ü 日本\"} 1", "a{b=\"ü 日本\"}", "b=\"ü 日本\"", 1.0, None),
        ("_:a_b:9 -1.5e3", "_:a_b:9", "", -1500.0, None),
        ("a 1 0", "a", "", 1.0, Some(0)),
        ("a 1 1520879607.789", "a", "", 1.0, Some(1_520_879_607_789)),
        ("a 1 -1.5", "a", "", 1.0, Some(-1500)),
        ("a +Inf", "a", "", f64::INFINITY, None),
        ("a -Inf 1", "a", "", f64::NEG_INFINITY, Some(1000)),
        ("a NaN", "a", "", f64::NAN, None),
        ("a .5", "a", "", 0.5, None),
        ("a -0", "a", "", -0.0, None),
        ("a_bucket{le=\"+Inf\"} 3 # {} 1", "a_bucket{le=\"+Inf\"}", "le=\"+Inf\"", 3.0, None),
        ("a_total 3 # {id=\"x\"} 1.5 1520879607.1", "a_total", "", 3.0, None),
        ("a_total 3 7 # {id=\"x\",} NaN", "a_total", "", 3.0, Some(7000)),
        ("a_total 3 7 # {id=\"x\",s=\"# {\"} -1 8", "a_total", "", 3.0, Some(7000)),
        ("a_created 1520430000.123", "a_created", "", 1_520_430_000.123, None),
    ];
    for &(line, series, labels, value, timestamp_ms) in cases {
        let s = one_sample(line);
        let name = series.split(['{', ' ']).next().unwrap_or_default();
        assert_eq!(
            (s.series, s.name, s.labels, s.timestamp_ms),
            (series, name, labels, timestamp_ms),
            "{line:?}"
        );
        assert!(same_value(s.value, value), "{line:?}: {} != {value}", s.value);
    }
}

#[test]
fn nan_is_prometheus_normal_nan() {
    for token in ["NaN", "nan", "NAN"] {
        assert_eq!(one_sample(&format!("a {token}")).value.to_bits(), 0x7ff8_0000_0000_0001, "{token}");
    }
}

#[test]
fn timestamps_are_seconds_truncated_to_ms_like_prometheus() {
    // Prometheus: `int64(ts * 1000)`, a float product truncated toward zero.
    let cases: &[(&str, i64)] = &[
        ("1520879607.789", 1_520_879_607_789),
        ("1520879607.9", 1_520_879_607_900),
        ("1520879607", 1_520_879_607_000),
        ("1.001", 1000), // 1000.9999999999999
        ("1.005", 1004), // 1004.9999999999999
        ("0.0015", 1),
        ("-0.0015", -1),
        ("0.0001", 0),
        ("-1.5", -1500),
        ("1e3", 1_000_000),
        ("+2", 2000),
        ("9223372036854774.0", 9_223_372_036_854_773_760), // the product rounds
        ("-9223372036854775.808", i64::MIN),
    ];
    for &(token, ms) in cases {
        assert_eq!(one_sample(&format!("a 1 {token}")).timestamp_ms, Some(ms), "{token}");
    }
    for token in ["NaN", "+Inf", "-Inf", "9223372036854775.807", "1e17", "-1e400", "0x10", "1_0", "1,5", "x"]
    {
        let err = error_of(&format!("a 1 {token}"));
        assert_eq!(err, ParseError { line: 1, kind: ParseErrorKind::InvalidTimestamp }, "{token}");
    }
}

#[test]
fn malformed_lines_report_kind_and_line() {
    use ParseErrorKind::*;
    let v = |s: &str| InvalidValue(s.to_string());
    // Each body gets "\n# EOF\n" appended; its bad line is the last one.
    let cases: &[(&str, usize, ParseErrorKind)] = &[
        // Whitespace: one space between tokens, none elsewhere.
        ("a  1", 1, InvalidWhitespace),
        ("a\t1", 1, InvalidWhitespace),
        ("a 1\t2", 1, InvalidWhitespace),
        (" a 1", 1, InvalidWhitespace),
        ("\ta 1", 1, InvalidWhitespace),
        ("a 1 ", 1, InvalidWhitespace),
        ("a 1  2", 1, InvalidWhitespace),
        ("a 1 2 ", 1, InvalidWhitespace),
        ("a{} 1\t", 1, InvalidWhitespace),
        ("a{}1", 1, InvalidWhitespace),
        ("a{ b=\"c\"} 1", 1, InvalidWhitespace),
        ("a{b=\"c\" } 1", 1, InvalidWhitespace),
        ("a{b=\"c\", d=\"e\"} 1", 1, InvalidWhitespace),
        ("a{b =\"c\"} 1", 1, InvalidWhitespace),
        ("a{b= \"c\"} 1", 1, InvalidWhitespace),
        ("a{\tb=\"c\"} 1", 1, InvalidWhitespace),
        ("a 1 # {b=\"c\"}1", 1, InvalidWhitespace),
        ("a 1 # {b=\"c\"}  1", 1, InvalidWhitespace),
        ("a 1 # {b=\"c\"} 1 ", 1, InvalidWhitespace),
        ("# HELP  a x", 1, InvalidWhitespace),
        ("# HELP a", 1, InvalidWhitespace),
        ("# HELP a\tx", 1, InvalidWhitespace),
        ("# UNIT a", 1, InvalidWhitespace),
        ("a 1\n # HELP a x", 2, InvalidWhitespace),
        // Lines.
        ("a 1\n\nb 2", 2, EmptyLine),
        ("", 1, EmptyLine),
        ("# just a comment", 1, InvalidComment),
        ("#", 1, InvalidComment),
        ("#HELP a x", 1, InvalidComment),
        ("# HELPER a x", 1, InvalidComment),
        ("# help a x", 1, InvalidComment),
        ("#  HELP a x", 1, InvalidComment),
        ("# HELP", 1, InvalidComment),
        ("# EO", 1, InvalidComment),
        // Names and labels.
        ("1a 1", 1, InvalidMetricName),
        ("a-b 1", 1, InvalidMetricName),
        ("é 1", 1, InvalidMetricName),
        ("{b=\"c\"} 1", 1, InvalidMetricName),
        ("{\"a.b\"} 1", 1, InvalidMetricName),
        ("\"a\" 1", 1, InvalidMetricName),
        ("# TYPE 1a counter", 1, InvalidMetricName),
        ("# HELP a.b text", 1, InvalidMetricName),
        ("# UNIT \"a_s\" s", 1, InvalidMetricName),
        ("a{\"b.c\"=\"d\"} 1", 1, InvalidLabelName),
        ("a{1b=\"c\"} 1", 1, InvalidLabelName),
        ("a{b-c=\"d\"} 1", 1, InvalidLabelName),
        ("a{,} 1", 1, InvalidLabelName),
        ("a{b=\"c\",,} 1", 1, InvalidLabelName),
        ("a{b} 1", 1, ExpectedEquals),
        ("a{b=c} 1", 1, ExpectedLabelValue),
        ("a{b=\"c} 1", 1, UnterminatedLabelValue),
        ("a{b=\"c\nd\"} 1", 1, UnterminatedLabelValue),
        ("a{b=\"\\t\"} 1", 1, InvalidEscape),
        ("a{b=\"c\"d=\"e\"} 1", 1, ExpectedCommaOrBrace),
        ("a{b=\"c\"", 1, MissingClosingBrace),
        ("a{", 1, MissingClosingBrace),
        // Values and timestamps.
        ("a", 1, ExpectedValue),
        ("a{b=\"c\"}", 1, ExpectedValue),
        ("a ", 1, ExpectedValue),
        ("a abc", 1, v("abc")),
        ("a 1,5", 1, v("1,5")),
        ("a 0x1p3", 1, v("0x1p3")),
        ("a +NaN", 1, v("+NaN")),
        ("a 1e400", 1, v("1e400")),
        ("a 1\r", 1, v("1\r")),
        ("a #", 1, v("#")),
        ("a 1 2 3", 1, TrailingGarbage),
        ("a 1 2 #x", 1, TrailingGarbage),
        ("a 1 # {} 1 2 3", 1, TrailingGarbage),
        ("a 1 2 # {} 1 2 #", 1, TrailingGarbage),
        ("a 1 1e400", 1, InvalidTimestamp),
        ("a 1 #{b=\"c\"} 1", 1, InvalidTimestamp),
        // Exemplars.
        ("a 1 #", 1, InvalidExemplar),
        ("a 1 # ", 1, InvalidExemplar),
        ("a 1 # b", 1, InvalidExemplar),
        ("a 1 2 #  {} 1", 1, InvalidExemplar),
        ("a 1 # {}", 1, ExpectedValue),
        ("a 1 # {} ", 1, ExpectedValue),
        ("a 1 # {b=\"c\"} x", 1, v("x")),
        ("a 1 # {b=\"c\"} 1 NaN", 1, InvalidTimestamp),
        ("a 1 # {b=\"c\"} 1 +Inf", 1, InvalidTimestamp),
        ("a 1 # {b=\"c\"} 1 y", 1, InvalidTimestamp),
        ("a 1 # {b=c} 1", 1, ExpectedLabelValue),
        ("a 1 # {\"b\"} 1", 1, InvalidLabelName),
        ("a 1 # {b=\"c\" 1", 1, InvalidWhitespace),
        ("a 1 # {b=\"c\"", 1, MissingClosingBrace),
        // Descriptors.
        ("# TYPE a untyped", 1, InvalidOpenMetricsType),
        ("# TYPE a Counter", 1, InvalidOpenMetricsType),
        ("# TYPE a counter ", 1, InvalidOpenMetricsType),
        ("# TYPE a ", 1, InvalidOpenMetricsType),
        ("# TYPE a", 1, InvalidOpenMetricsType),
        ("a 1\n# TYPE a gauge\n# TYPE b bogus", 3, InvalidOpenMetricsType),
        ("# UNIT a_seconds bytes", 1, UnitMismatch),
    ];
    for (body, line, kind) in cases {
        assert_eq!(error_of(body), ParseError { line: *line, kind: kind.clone() }, "{body:?}");
    }
}

#[test]
fn unit_must_be_an_underscore_suffix_of_the_name() {
    let cases: &[(&str, &str, bool)] = &[
        ("a_seconds", "seconds", true),
        ("request_duration_seconds", "seconds", true),
        ("_seconds", "seconds", true),
        ("a_bytes", "", true),
        ("a", "", true),
        ("aseconds", "seconds", false),
        ("seconds", "seconds", false),
        ("a_seconds_total", "seconds", false),
        ("a_seconds", "Seconds", false),
        ("a_seconds", "_seconds", false),
        ("a_seconds", "a_seconds", false),
        ("a_seconds", "seconds ", false),
        ("a_b_c", "b_c", true),
    ];
    for &(name, unit, ok) in cases {
        let body = format!("# UNIT {name} {unit}\n# EOF\n");
        let want = if ok {
            Ok(vec![Entry::Unit { name, unit }])
        } else {
            Err(ParseError { line: 1, kind: ParseErrorKind::UnitMismatch })
        };
        assert_eq!(parse(&body), want, "{body:?}");
    }
}

#[test]
fn eof_is_required_last_and_alone() {
    use ParseErrorKind::{DataAfterEof, EmptyLine, InvalidComment, MissingEof};
    let err = |line, kind| Err(ParseError { line, kind });
    let cases: &[(&str, Result<usize, ParseError>)] = &[
        ("# EOF\n", Ok(0)),
        ("# EOF", Ok(0)),
        ("a 1\n# EOF\n", Ok(1)),
        ("", err(1, MissingEof)),
        ("a 1\n", err(2, MissingEof)),
        ("a 1", err(1, MissingEof)),
        ("a 1\nb 2 3", err(2, MissingEof)),
        ("a 1 # {} 1", err(1, MissingEof)),
        ("a 1 # {} 1 2", err(1, MissingEof)),
        ("# HELP a x", err(1, MissingEof)),
        ("# TYPE a gauge\n# UNIT a ", err(2, MissingEof)),
        ("\n", err(1, EmptyLine)),
        ("# EOF\n\n", err(2, DataAfterEof)),
        ("# EOF\na 1\n", err(2, DataAfterEof)),
        ("a 1\n# EOF\n# EOF\n", err(3, DataAfterEof)),
        ("# EOF \n", err(1, DataAfterEof)),
        ("# EOF\r\n", err(1, DataAfterEof)),
        ("# EOFX", err(1, DataAfterEof)),
        ("#EOF\n", err(1, InvalidComment)),
        ("# eof\n", err(1, InvalidComment)),
    ];
    for (body, want) in cases {
        let got: Result<Vec<_>, _> = OpenMetricsParser::new(body).collect();
        assert_eq!(&got.map(|e| e.len()), want, "{body:?}");
    }
}

#[test]
fn fused_after_error_and_after_eof() {
    for (bad, line) in [("b", 2), ("# TYPE b bogus", 2), ("# HELP 1b x", 2), ("", 2), ("# EOF\nx", 3)] {
        let body = format!("a 1\n{bad}\nc 2\n# TYPE c gauge\n# EOF\n");
        let mut parser = OpenMetricsParser::new(&body);
        assert!(matches!(parser.next(), Some(Ok(Entry::Sample(_)))));
        let err = parser.next();
        assert_eq!(err.map(|r| r.map_err(|e| e.line)), Some(Err(line)), "{bad:?}");
        assert_eq!(parser.next(), None, "{bad:?}");
        assert_eq!(parser.next(), None, "{bad:?}");
    }
    let mut parser = OpenMetricsParser::new("a 1\n# EOF\n");
    assert!(matches!(parser.next(), Some(Ok(_))));
    assert_eq!((parser.next(), parser.next()), (None, None));
}

#[test]
fn display_puts_context_first() {
    let cases = [
        ("a 1\n", "line 2: data does not end with # EOF"),
        ("# EOF\na 1\n", "line 2: unexpected data after # EOF"),
        ("a  1\n# EOF\n", "line 1: expected exactly one space between tokens, none elsewhere"),
        ("a 1\n# UNIT a_s ms\n# EOF\n", "line 2: unit is not a suffix of the metric name"),
        (
            "# TYPE a untyped\n# EOF\n",
            "line 1: invalid metric type (counter, gauge, histogram, gaugehistogram, summary, info, stateset, unknown)",
        ),
        ("# x\n", "line 1: a '#' line must be # HELP, # TYPE, # UNIT or # EOF"),
        ("a 1 #x\n", "line 1: invalid timestamp"),
        ("a 1 # x\n", "line 1: expected ' {' after '#' to start an exemplar"),
        ("a 1\n\n", "line 2: empty line"),
    ];
    for (body, message) in cases {
        let err = parse(body).expect_err(body);
        assert_eq!(err.to_string(), message);
    }
}

#[test]
fn content_type_picks_the_parser() {
    let cases = [
        ("application/openmetrics-text; version=1.0.0; charset=utf-8", Format::OpenMetrics),
        ("application/openmetrics-text;version=0.0.1", Format::OpenMetrics),
        ("Application/OpenMetrics-Text", Format::OpenMetrics),
        (" application/openmetrics-text ", Format::OpenMetrics),
        ("text/plain; version=0.0.4; charset=utf-8", Format::Text),
        ("application/vnd.google.protobuf", Format::Text),
        ("", Format::Text),
        ("application/openmetrics-textual", Format::Text),
    ];
    for (content_type, format) in cases {
        assert_eq!(Format::from_content_type(content_type), format, "{content_type:?}");
    }
    // The runtime choice yields exactly what each parser yields.
    let text = include_str!("../../../tests/fixtures/node_exporter.prom");
    let via = |f, body| format!("{:?}", parser(f, body).collect::<Vec<_>>());
    assert_eq!(via(Format::Text, text), format!("{:?}", TextParser::new(text).collect::<Vec<_>>()));
    for body in [FIXTURE, "a 1\n"] {
        let direct = format!("{:?}", OpenMetricsParser::new(body).collect::<Vec<_>>());
        assert_eq!(via(Format::OpenMetrics, body), direct);
    }
}

#[test]
fn same_samples_as_text_where_the_formats_agree() {
    // Without timestamps, exemplars and OpenMetrics-only metadata, a valid
    // OpenMetrics body is valid 0.0.4 and must give the same samples.
    let body = "# HELP a_total x\n# TYPE a_total counter\na_total{b=\"c\\\"\\n\",d=\"\"} 1.5\n\
                h_bucket{le=\"+Inf\"} +Inf\nh_sum NaN\nu{x=\"y\",} -0\n# EOF\n";
    let om = format!("{:?}", samples(body));
    let text: Vec<_> = TextParser::new(body)
        .filter_map(|e| match e {
            Ok(Entry::Sample(s)) => Some(s),
            _ => None,
        })
        .collect();
    assert_eq!(om, format!("{text:?}"));
}

/// The samples of a fixture, as (series, value, timestamp_ms).
type Expected = (&'static str, f64, Option<i64>);

#[test]
fn fixture_parses_to_the_expected_series() {
    let entries = parse(FIXTURE).unwrap_or_else(|e| panic!("fixture: {e}"));
    let got: Vec<_> = entries
        .iter()
        .filter_map(|e| match e {
            Entry::Sample(s) => Some((s.series, s.value, s.timestamp_ms)),
            _ => None,
        })
        .collect();
    let expected: &[Expected] = &[
        ("http_requests_total{method=\"get\",code=\"200\"}", 1027.0, Some(1_520_879_607_789)),
        ("http_requests_created{method=\"get\",code=\"200\"}", 1_520_430_000.123, Some(1_520_879_607_789)),
        ("http_requests_total{method=\"post\",code=\"400\"}", 3.0, Some(1_520_879_607_789)),
        ("http_requests_created{method=\"post\",code=\"400\"}", 1_520_430_000.123, Some(1_520_879_607_789)),
        ("request_duration_seconds_bucket{le=\"0.1\"}", 8.0, None),
        ("request_duration_seconds_bucket{le=\"0.5\"}", 9.0, None),
        ("request_duration_seconds_bucket{le=\"+Inf\"}", 10.0, None),
        ("request_duration_seconds_count", 10.0, None),
        ("request_duration_seconds_sum", 2.5, None),
        ("request_duration_seconds_created", 1_520_430_000.5, None),
        ("queue_wait_seconds_bucket{queue=\"sms\",le=\"1.0\"}", 3.0, None),
        ("queue_wait_seconds_bucket{queue=\"sms\",le=\"+Inf\"}", 5.0, None),
        ("queue_wait_seconds_gcount{queue=\"sms\"}", 5.0, None),
        ("queue_wait_seconds_gsum{queue=\"sms\"}", 4.2, None),
        ("rpc_latency_seconds{quantile=\"0.5\"}", 0.012, None),
        ("rpc_latency_seconds{quantile=\"0.99\"}", f64::NAN, None),
        ("rpc_latency_seconds_sum", 1.25, None),
        ("rpc_latency_seconds_count", 17.0, None),
        ("rpc_latency_seconds_created", 1_520_430_000.0, None),
        ("modem_info{model=\"RM520N-GL\",firmware=\"R01A05\"}", 1.0, None),
        ("link_state{link_state=\"up\"}", 1.0, None),
        ("link_state{link_state=\"down\"}", 0.0, None),
        ("link_state{link_state=\"degraded\"}", 0.0, None),
        ("board_temperature_celsius{sensor=\"cpu\\nzone \\\"0\\\" \\\\ ü\"}", 47.5, None),
        ("board_temperature_celsius{sensor=\"modem\",}", f64::NEG_INFINITY, Some(1_520_879_608_000)),
        ("signal_strength{band=\"n78\"}", -93.5, None),
    ];
    assert_eq!(got.len(), expected.len(), "{got:#?}");
    for (got, want) in got.iter().zip(expected) {
        assert_eq!((got.0, got.2), (want.0, want.2));
        assert!(same_value(got.1, want.1), "{}: {} != {}", want.0, got.1, want.1);
    }

    let types: Vec<_> = entries
        .iter()
        .filter_map(|e| match e {
            Entry::Type { name, kind } => Some((*name, *kind)),
            _ => None,
        })
        .collect();
    use MetricType::*;
    let want_types = [
        ("http_requests", Counter),
        ("request_duration_seconds", Histogram),
        ("queue_wait_seconds", GaugeHistogram),
        ("rpc_latency_seconds", Summary),
        ("modem", Info),
        ("link_state", Stateset),
        ("board_temperature_celsius", Gauge),
        ("signal_strength", Untyped),
    ];
    assert_eq!(types, want_types);
    let units: Vec<_> = entries
        .iter()
        .filter_map(|e| match e {
            Entry::Unit { name, unit } => Some((*name, *unit)),
            _ => None,
        })
        .collect();
    let want_units = [
        ("request_duration_seconds", "seconds"),
        ("queue_wait_seconds", "seconds"),
        ("rpc_latency_seconds", "seconds"),
        ("board_temperature_celsius", "celsius"),
        ("signal_strength", ""),
    ];
    assert_eq!(units, want_units);
    let helps = entries.iter().filter(|e| matches!(e, Entry::Help { .. })).count();
    assert_eq!(helps, 5);
    assert!(!entries.iter().any(|e| matches!(e, Entry::Comment)));

    // Labels come out resolved, through the same `labels()` the text format uses.
    let all = samples(FIXTURE);
    let cpu = all.iter().find(|s| s.labels.starts_with("sensor=\"cpu")).expect("cpu sensor");
    let pairs: Vec<_> = labels(cpu.labels).collect();
    assert_eq!(pairs, [Ok(("sensor", Cow::Owned("cpu\nzone \"0\" \\ ü".to_owned())))]);
    let info = all.iter().find(|s| s.name == "modem_info").expect("modem_info");
    let pairs: Vec<_> = labels(info.labels).filter_map(Result::ok).collect();
    assert_eq!(pairs, [("model", Cow::Borrowed("RM520N-GL")), ("firmware", Cow::Borrowed("R01A05"))]);
}

#[test]
fn every_prefix_is_the_lines_so_far_then_an_error() {
    let full: Vec<_> = OpenMetricsParser::new(FIXTURE).collect();
    assert!(full.iter().all(Result::is_ok));
    let mut checked_missing_eof = 0;
    for end in (0..FIXTURE.len()).filter(|&i| FIXTURE.is_char_boundary(i)) {
        let prefix = &FIXTURE[..end];
        check(Format::OpenMetrics, prefix);
        let got: Vec<_> = OpenMetricsParser::new(prefix).collect();
        if prefix.ends_with("\n# EOF") {
            assert_eq!(format!("{got:?}"), format!("{full:?}"), "a final '\\n' is optional");
            continue;
        }
        let (last, before) = got.split_last().expect("at least the error");
        // The complete lines parse as in the whole body, then the cut line fails.
        assert_eq!(before.len(), prefix.matches('\n').count(), "{end}");
        assert_eq!(format!("{before:?}"), format!("{:?}", &full[..before.len()]), "{end}");
        let Err(err) = last else { panic!("prefix of {end} bytes parsed: {last:?}") };
        assert_eq!(err.line, prefix.split('\n').count(), "{end}: {err}");
        if prefix.is_empty() || prefix.ends_with('\n') {
            assert_eq!(err.kind, ParseErrorKind::MissingEof, "{end}");
            checked_missing_eof += 1;
        }
    }
    assert_eq!(checked_missing_eof, FIXTURE.matches('\n').count());
}

#[test]
fn every_single_byte_mutation_never_panics() {
    let original = "# HELP a_total Some \\\\ help.\n\
                    # TYPE a_total counter\n\
                    # UNIT a_total \n\
                    a_total{b=\"x\\\"y\\\\z\\n\",c=\"日本\",} 1.5e3 -12.5 # {t=\"1\"} 2 3\n\
                    h_bucket{le=\"+Inf\"} +Inf # {} 1\n\
                    h_sum NaN 5\n\
                    # EOF\n";
    assert_eq!(samples(original).len(), 3);
    let original = original.as_bytes();
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
                    check(Format::OpenMetrics, &body);
                    mutated += 1;
                }
            }
        }
    }
    assert!(mutated > 50_000, "{mutated}");
}
