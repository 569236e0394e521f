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
        .map(|(l, v, t)| (cache.store().get(l)[0].clone().expect("one queue"), v.to_bits(), t))
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
    assert_eq!(scrape_as(Format::OpenMetrics, &mut cache, &om), fresh, "a text-format key let it through");

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
    let pages = ["a 1\nb 2\nc 3\n", "c 1\nb 2\nd 4\na 5\n", "a 1\nd 2\n", "b 1\na 1\nd 7\nb 3\n", "d 1\n"];
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
