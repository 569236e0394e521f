//! The promises both parsers keep on any input, checked by the cargo-fuzz
//! targets in `fuzz/` (built with `--cfg fuzzing`) and, on stable, by a seeded
//! mutation loop over the fixtures ([`mutate`], the test below, `fuzz/run`).
//! It panics on a broken promise: that is its job, so it is never in a release build.
use std::collections::HashSet;

use super::{Entry, Format, Scanned, labels, parser};

/// Parses `body` to the end and panics if a promise breaks: no panic; `None`
/// for good after an error (and after the end); every sample's `series` (and
/// its `name` and `labels`) borrowed from the body within one line, the name
/// alone or followed by `{...}`; its labels parse; an error names a line of the body; an OpenMetrics body that parses
/// without error ends with `# EOF`.
pub fn check(format: Format, body: &str) {
    let lines = body.split('\n').count();
    let mut entries = parser(format, body);
    let mut count = 0;
    while let Some(item) = entries.next() {
        count += 1;
        assert!(count <= lines, "{count} entries from {lines} lines");
        match item {
            Ok(Entry::Sample(s)) => {
                let series = offset(body, s.series).expect("series is a slice of the body");
                assert_eq!(offset(body, s.name), Some(series), "name starts the series");
                if !s.labels.is_empty() {
                    let at = offset(s.series, s.labels).expect("labels are a slice of the series");
                    assert!(at > s.name.len(), "labels after the name: {s:?}");
                }
                assert!(!s.name.is_empty() && !s.series.contains('\n'), "{s:?}");
                let braces = s.series[s.name.len()..].trim_start_matches([' ', '\t']);
                let braced = braces.starts_with('{') && braces.ends_with('}');
                assert!(s.series == s.name || braced, "series is the name and a label block: {s:?}");
                for pair in labels(s.labels) {
                    assert!(pair.is_ok(), "validated labels fail to parse: {s:?}: {pair:?}");
                }
            }
            Ok(_) => {}
            Err(e) => {
                assert!((1..=lines).contains(&e.line), "{e} with {lines} lines");
                assert!(entries.next().is_none() && entries.next().is_none(), "not fused after {e}");
                return;
            }
        }
    }
    assert!(entries.next().is_none(), "not fused after the end");
    if format == Format::OpenMetrics {
        assert!(body.ends_with("# EOF") || body.ends_with("# EOF\n"), "parsed without # EOF");
    }
    check_known(format, body, body);
}

/// Parses `body` with `next_known`, knowing every series text a parse of
/// `known_from` and of `body` yields, and panics unless it gives exactly what
/// the full parse gives: the same entries, values (by bits), timestamps,
/// errors and line numbers. A known series on a changed line (a bad value, a
/// changed label, something after it) must not slip through.
pub fn check_known(format: Format, known_from: &str, body: &str) {
    let mut known = HashSet::new();
    for text in [known_from, body] {
        known.extend(parser(format, text).map_while(Result::ok).filter_map(|e| match e {
            Entry::Sample(s) => Some(s.series),
            _ => None,
        }));
    }
    let mut full = parser(format, body);
    let mut fast = parser(format, body);
    let lines = body.split('\n').count();
    for _ in 0..=lines {
        let want = full.next();
        let got = fast.next_known(|series| known.get(series).copied());
        match (got, want) {
            (None, None) => return,
            (Some(Ok(Scanned::Known { key, value, timestamp_ms })), Some(Ok(Entry::Sample(s)))) => {
                assert_eq!(key, s.series, "{body:?}");
                assert_eq!(value.to_bits(), s.value.to_bits(), "{body:?}: {s:?}");
                assert_eq!(timestamp_ms, s.timestamp_ms, "{body:?}: {s:?}");
            }
            (got, want) => {
                let want = want.map(|r| r.map(Scanned::<&str>::Entry));
                // Debug, not ==: a NaN value is not equal to itself.
                assert_eq!(format!("{got:?}"), format!("{want:?}"), "{body:?}");
            }
        }
    }
    panic!("more entries than lines: {body:?}");
}

/// Where `part` starts inside `whole`, if it is a slice of it (by address, not by content).
fn offset(whole: &str, part: &str) -> Option<usize> {
    let start = (part.as_ptr() as usize).checked_sub(whole.as_ptr() as usize)?;
    let end = start.checked_add(part.len())?;
    (end <= whole.len()).then_some(start)
}

/// Tokens worth inserting: the syntax of both formats (the same list as `fuzz/exposition.dict`).
const TOKENS: &[&str] = &[
    " ",
    "  ",
    "\t",
    "\n",
    "{",
    "}",
    "\"",
    "\\",
    "\\\\",
    "\\\"",
    "\\n",
    "=",
    ",",
    "#",
    "# ",
    "# EOF",
    "# EOF\n",
    "# HELP ",
    "# TYPE ",
    "# UNIT ",
    " # {",
    "counter",
    "gaugehistogram",
    "stateset",
    "unknown",
    "untyped",
    "_total",
    "_created",
    "_bucket",
    "le=\"+Inf\"",
    "NaN",
    "+Inf",
    "-Inf",
    "1e400",
    "0x1p3",
    "1.5",
    "-0",
    "9223372036854775807",
    "9223372036854775.808",
    "é",
    "日本",
    "\u{0}",
    "\r",
];

/// One to four random edits of `seed`: byte changes, inserted tokens, deleted
/// or duplicated ranges, truncation. Invalid UTF-8 is repaired lossily, as
/// the parsers only ever see `&str`.
pub fn mutate(rng: &mut fastrand::Rng, seed: &str) -> String {
    let mut b = seed.as_bytes().to_vec();
    for _ in 0..rng.usize(1..=4) {
        let at = rng.usize(..=b.len());
        match rng.u8(..6) {
            0 if at < b.len() => b[at] = rng.u8(..),
            1 => b.insert(at, rng.u8(..128)),
            2 => {
                let end = (at + rng.usize(1..=16)).min(b.len());
                b.drain(at..end);
            }
            3 => {
                let token = TOKENS[rng.usize(..TOKENS.len())].as_bytes();
                b.splice(at..at, token.iter().copied());
            }
            4 => {
                let end = (at + rng.usize(1..=64)).min(b.len());
                let copy = b[at..end].to_vec();
                let to = rng.usize(..=b.len());
                b.splice(to..to, copy);
            }
            _ => b.truncate(at),
        }
    }
    String::from_utf8_lossy(&b).into_owned()
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    const OPENMETRICS: &str = include_str!("../../tests/fixtures/openmetrics.txt");
    const TEXT: &str = include_str!("../../tests/fixtures/node_exporter.prom");

    /// The stable stand-in for libFuzzer (see `fuzz/run`): seeded mutations of
    /// the fixtures and of any corpus a fuzz run left in `fuzz/corpus/<target>/`.
    /// Bounded by count, or by `OUTPOST_FUZZ_SECONDS` of wall time per format.
    #[test]
    fn seeded_mutations_keep_every_promise() {
        let seconds = std::env::var("OUTPOST_FUZZ_SECONDS").ok().and_then(|s| s.parse::<u64>().ok());
        let seed = std::env::var("OUTPOST_FUZZ_SEED").ok().and_then(|s| s.parse::<u64>().ok()).unwrap_or(1);
        let cases = [(Format::OpenMetrics, "openmetrics", OPENMETRICS), (Format::Text, "text", TEXT)];
        for (format, target, fixture) in cases {
            let mut seeds = vec![fixture.to_owned()];
            // Whole-fixture mutants are slow to parse: add small pieces of it too.
            seeds.extend(fixture.split_inclusive('\n').collect::<Vec<_>>().chunks(6).map(|c| c.concat()));
            seeds.extend(corpus(target));
            let mut rng = fastrand::Rng::with_seed(seed);
            let deadline = seconds.map(|s| Instant::now() + Duration::from_secs(s));
            let mut runs = 0u64;
            while deadline.map_or(runs < 20_000, |d| Instant::now() < d) {
                let seed = &seeds[rng.usize(..seeds.len())];
                let body = mutate(&mut rng, seed);
                check(format, &body);
                // The seed's series are known: a mutated line of one is a changed line.
                check_known(format, seed, &body);
                runs += 1;
            }
            if seconds.is_some() {
                eprintln!("{target}: {runs} mutations from {} seeds, seed {seed}", seeds.len());
            }
        }
    }

    /// The inputs a libFuzzer run saved for `target`, if any (at most 2,000).
    fn corpus(target: &str) -> Vec<String> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus").join(target);
        let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
        entries
            .filter_map(|e| std::fs::read(e.ok()?.path()).ok())
            .filter_map(|b| String::from_utf8(b).ok())
            .take(2_000)
            .collect()
    }

    #[test]
    fn offset_is_by_address_not_by_content() {
        let body = "a 1\n";
        assert_eq!(offset(body, body), Some(0));
        assert_eq!(offset(body, &body[2..3]), Some(2));
        assert_eq!(offset(body, "a 1\n".to_owned().as_str()), None);
        assert_eq!(offset(&body[..2], &body[1..4]), None);
    }
}
