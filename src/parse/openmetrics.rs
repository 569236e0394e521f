//! OpenMetrics 1.0 text, as a pure iterator yielding the same [`Entry`] values as [`super::text`].
//!
//! One entry per line, no allocation per sample, no panic on any input, `None`
//! after `# EOF` or the first error. Stricter than 0.0.4 as the spec is: exactly
//! one space between tokens, no blank lines, no comments but `# HELP/TYPE/UNIT`,
//! a final `# EOF`. Timestamps are seconds, converted to milliseconds as Prometheus does.
//!
//! Follows Prometheus' `model/textparse/openmetricsparse.go`, with its defaults:
//! exemplars are validated and skipped; `_created` samples are ordinary series
//! (Prometheus skips them only under `created-timestamp-zero-ingestion`). Unlike it:
//! quoted (UTF-8) names are errors and label values allow only `\\ \" \n` escapes
//! (as in [`super::text`]); a timestamp outside the `i64` millisecond range is an
//! error (Go's conversion is implementation-defined there); `# EOF` must be exact.
use super::text::{metric_name_end, parse_value, value};
use super::{
    CLASS, Entry, METRIC, MetricType, ParseError, ParseErrorKind, SampleEntry, Scanned, TOKEN_END, scan_pair,
    until,
};

/// 2^63: the first float of milliseconds that does not fit an `i64`.
const I64_LIMIT: f64 = 9_223_372_036_854_775_808.0;

/// Parses a body line by line. It owns nothing but its position.
#[derive(Clone, Debug)]
pub struct OpenMetricsParser<'a> {
    /// The lines not yet read.
    rest: &'a str,
    /// How many lines have been read, i.e. the 1-based number of the last one.
    line: usize,
    /// `# EOF` was read or an error yielded: nothing more comes (fuses the iterator).
    done: bool,
}

impl<'a> OpenMetricsParser<'a> {
    pub fn new(body: &'a str) -> Self {
        Self { rest: body, line: 0, done: false }
    }

    /// As `TextParser::next_known`: a sample line that is a series text
    /// `known` recognises, one space, the value, and optionally one space and
    /// a timestamp, ending in '\n', is not parsed past its value and
    /// timestamp. `known` must recognise only series texts the OpenMetrics
    /// parser yielded (a text-format series may hold blanks OpenMetrics
    /// refuses). Then a full parse would find the same series (a valid one
    /// ends where the parser stops, followed by the space), the same value and
    /// timestamp (the same functions parse them), and no exemplar (the line
    /// ends first). Any other line gets the full parse and its error.
    pub fn next_known<K>(
        &mut self,
        mut known: impl FnMut(&'a str) -> Option<K>,
    ) -> Option<Result<Scanned<'a, K>, ParseError>> {
        let body = self.rest;
        let b = body.as_bytes();
        if !self.done && b.first().is_some_and(|&c| CLASS[usize::from(c)] & METRIC != 0) {
            // A last line without '\n' is an error (no `# EOF`): the full parser reports it.
            if let Some(end) = memchr::memchr(b'\n', b)
                && let Some((key, value, timestamp_ms)) = known_sample(&body[..end], &mut known)
            {
                self.line += 1;
                self.rest = &body[end + 1..];
                return Some(Ok(Scanned::Known { key, value, timestamp_ms }));
            }
        }
        self.next().map(|r| r.map(Scanned::Entry))
    }
}

/// `series value` or `series value timestamp`, single spaces, nothing else:
/// split from the right, then `known` is asked about the series.
fn known_sample<'a, K>(
    line: &'a str,
    known: &mut impl FnMut(&'a str) -> Option<K>,
) -> Option<(K, f64, Option<i64>)> {
    let (head, last) = line.rsplit_once(' ')?;
    if let Some(value) = value(last)
        && let Some(key) = known(head)
    {
        return Some((key, value, None));
    }
    let (series, token) = head.rsplit_once(' ')?;
    let timestamp_ms = seconds_to_ms(last).ok()?;
    let value = value(token)?;
    Some((known(series)?, value, Some(timestamp_ms)))
}

/// What one line holds.
enum Line<'a> {
    /// An entry, and the index of the '\n' that ends its line (`len` if none).
    Entry(Entry<'a>, usize),
    /// `# EOF`, and what follows its line.
    Eof(&'a str),
}

impl<'a> Iterator for OpenMetricsParser<'a> {
    type Item = Result<Entry<'a>, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        self.line += 1;
        let body = self.rest;
        let parsed = match body.as_bytes().first() {
            None => Err(ParseErrorKind::MissingEof),
            Some(b'\n') => Err(ParseErrorKind::EmptyLine),
            Some(b' ' | b'\t') => Err(ParseErrorKind::InvalidWhitespace),
            Some(b'#') => descriptor(body),
            Some(_) => sample(body).map(|(sample, end)| Line::Entry(Entry::Sample(sample), end)),
        };
        let kind = match parsed {
            Ok(Line::Entry(entry, end)) => match body.get(end + 1..) {
                Some(rest) => {
                    self.rest = rest;
                    return Some(Ok(entry));
                }
                // The last line has no '\n': the body was cut short, or `# EOF` is missing.
                None => ParseErrorKind::MissingEof,
            },
            Ok(Line::Eof("")) => {
                self.done = true;
                return None;
            }
            Ok(Line::Eof(_)) => {
                self.line += 1;
                ParseErrorKind::DataAfterEof
            }
            Err(kind) => kind,
        };
        self.done = true;
        self.rest = "";
        Some(Err(ParseError { line: self.line, kind }))
    }
}

impl std::iter::FusedIterator for OpenMetricsParser<'_> {}

/// A line starting with `#`: `# HELP`, `# TYPE`, `# UNIT` or `# EOF`.
fn descriptor(body: &str) -> Result<Line<'_>, ParseErrorKind> {
    let end = body.find('\n').unwrap_or(body.len());
    let line = &body[..end];
    if line == "# EOF" {
        return Ok(Line::Eof(body.get(end + 1..).unwrap_or_default()));
    }
    if line.starts_with("# EOF") {
        return Err(ParseErrorKind::DataAfterEof);
    }
    let keyword = match line.get(..7) {
        Some(keyword @ ("# HELP " | "# TYPE " | "# UNIT ")) => keyword,
        _ => return Err(ParseErrorKind::InvalidComment),
    };
    let b = line.as_bytes();
    let name_end = metric_name_end(b, 7);
    if name_end == 7 {
        let blank = matches!(b.get(7), Some(b' ' | b'\t'));
        return Err(if blank {
            ParseErrorKind::InvalidWhitespace
        } else {
            ParseErrorKind::InvalidMetricName
        });
    }
    let text = match b.get(name_end) {
        Some(b' ') => &line[name_end + 1..],
        None if keyword == "# TYPE " => return Err(ParseErrorKind::InvalidOpenMetricsType),
        None | Some(b'\t') => return Err(ParseErrorKind::InvalidWhitespace),
        Some(_) => return Err(ParseErrorKind::InvalidMetricName),
    };
    let name = &line[7..name_end];
    let entry = match keyword {
        "# HELP " => Entry::Help { name, text },
        "# TYPE " => Entry::Type { name, kind: metric_type(text)? },
        _ => {
            let suffix = text.is_empty() || name.strip_suffix(text).is_some_and(|head| head.ends_with('_'));
            if !suffix {
                return Err(ParseErrorKind::UnitMismatch);
            }
            Entry::Unit { name, unit: text }
        }
    };
    Ok(Line::Entry(entry, end))
}

fn metric_type(text: &str) -> Result<MetricType, ParseErrorKind> {
    Ok(match text {
        "counter" => MetricType::Counter,
        "gauge" => MetricType::Gauge,
        "histogram" => MetricType::Histogram,
        "gaugehistogram" => MetricType::GaugeHistogram,
        "summary" => MetricType::Summary,
        "info" => MetricType::Info,
        "stateset" => MetricType::Stateset,
        "unknown" => MetricType::Untyped,
        _ => return Err(ParseErrorKind::InvalidOpenMetricsType),
    })
}

/// `name[{labels}] value [timestamp] [# {labels} value [timestamp]]` at the start of `body`.
/// Returns the sample and the index of the '\n' that ends it (or `body.len()`).
fn sample(body: &str) -> Result<(SampleEntry<'_>, usize), ParseErrorKind> {
    let b = body.as_bytes();
    let name_end = metric_name_end(b, 0);
    if name_end == 0 {
        return Err(ParseErrorKind::InvalidMetricName);
    }
    let (series_end, labels) = match b.get(name_end) {
        Some(b'{') => {
            let close = label_block_end(b, name_end + 1)?;
            (close + 1, &body[name_end + 1..close])
        }
        Some(b' ') => (name_end, ""),
        None | Some(b'\n') => return Err(ParseErrorKind::ExpectedValue),
        Some(b'\t') => return Err(ParseErrorKind::InvalidWhitespace),
        // The name token goes on with a character a name may not contain.
        Some(_) => return Err(ParseErrorKind::InvalidMetricName),
    };

    let (value_start, mut pos) = token(b, series_end, ParseErrorKind::ExpectedValue)?;
    let value = parse_value(&body[value_start..pos])?;
    let mut timestamp_ms = None;
    if b.get(pos) == Some(&b' ') {
        let (start, end) = token(b, pos, ParseErrorKind::InvalidWhitespace)?;
        if &body[start..end] != "#" {
            timestamp_ms = Some(seconds_to_ms(&body[start..end])?);
            pos = end;
        }
    }
    if b.get(pos) == Some(&b' ') {
        let (start, end) = token(b, pos, ParseErrorKind::InvalidWhitespace)?;
        if &body[start..end] != "#" {
            return Err(ParseErrorKind::TrailingGarbage);
        }
        pos = exemplar(body, end)?;
    }
    match b.get(pos) {
        None | Some(b'\n') => {}
        Some(b'\t') => return Err(ParseErrorKind::InvalidWhitespace),
        Some(_) => return Err(ParseErrorKind::TrailingGarbage),
    }

    let sample =
        SampleEntry { series: &body[..series_end], name: &body[..name_end], labels, value, timestamp_ms };
    Ok((sample, pos))
}

/// Validates ` {labels} value [timestamp]` from `pos` (just past the `#`) and
/// returns the index just past it. The exemplar itself is dropped; as in
/// Prometheus, its 128-character label limit is not a parse error.
fn exemplar(body: &str, pos: usize) -> Result<usize, ParseErrorKind> {
    let b = body.as_bytes();
    if b.get(pos) != Some(&b' ') || b.get(pos + 1) != Some(&b'{') {
        return Err(ParseErrorKind::InvalidExemplar);
    }
    let close = label_block_end(b, pos + 2)?;
    let (start, end) = token(b, close + 1, ParseErrorKind::ExpectedValue)?;
    parse_value(&body[start..end])?;
    if b.get(end) != Some(&b' ') {
        return Ok(end);
    }
    let (start, end) = token(b, end, ParseErrorKind::InvalidWhitespace)?;
    // Prometheus rejects only a non-finite exemplar timestamp.
    match parse_value(&body[start..end]) {
        Ok(seconds) if seconds.is_finite() => Ok(end),
        _ => Err(ParseErrorKind::InvalidTimestamp),
    }
}

/// The token after the single space at `pos`, as a byte range. `missing` is
/// the error when the line ends instead.
fn token(b: &[u8], pos: usize, missing: ParseErrorKind) -> Result<(usize, usize), ParseErrorKind> {
    match b.get(pos) {
        Some(b' ') => {}
        None | Some(b'\n') => return Err(missing),
        Some(_) => return Err(ParseErrorKind::InvalidWhitespace),
    }
    let end = until(b, pos + 1, TOKEN_END);
    match b.get(end) {
        _ if end > pos + 1 => Ok((pos + 1, end)),
        None | Some(b'\n') if matches!(missing, ParseErrorKind::ExpectedValue) => Err(missing),
        _ => Err(ParseErrorKind::InvalidWhitespace), // two spaces, a tab, or a trailing space
    }
}

/// Seconds (a float) to milliseconds, truncated toward zero: Prometheus' `int64(ts * 1000)`.
fn seconds_to_ms(token: &str) -> Result<i64, ParseErrorKind> {
    let seconds = parse_value(token).map_err(|_| ParseErrorKind::InvalidTimestamp)?;
    let ms = seconds * 1000.0;
    // Also false for NaN and the infinities.
    if !(-I64_LIMIT..I64_LIMIT).contains(&ms) {
        return Err(ParseErrorKind::InvalidTimestamp);
    }
    Ok(ms as i64)
}

/// Validates the label pairs from `pos` (just past `{`) and returns the index
/// of `}`. No whitespace anywhere, an optional trailing comma (as upstream).
fn label_block_end(b: &[u8], mut pos: usize) -> Result<usize, ParseErrorKind> {
    loop {
        match b.get(pos) {
            Some(b'}') => return Ok(pos), // `{}` or a trailing comma
            Some(b' ' | b'\t') => return Err(ParseErrorKind::InvalidWhitespace),
            None | Some(b'\n') => return Err(ParseErrorKind::MissingClosingBrace),
            Some(_) => {}
        }
        let pair = scan_pair(b, pos)?;
        // `scan_pair` allows blanks around '=', as 0.0.4 does.
        if pair.value.0 != pair.name.1 + 2 {
            return Err(ParseErrorKind::InvalidWhitespace);
        }
        match b.get(pair.end) {
            Some(b',') => pos = pair.end + 1,
            Some(b'}') => return Ok(pair.end),
            Some(b' ' | b'\t') => return Err(ParseErrorKind::InvalidWhitespace),
            None | Some(b'\n') => return Err(ParseErrorKind::MissingClosingBrace),
            Some(_) => return Err(ParseErrorKind::ExpectedCommaOrBrace),
        }
    }
}

#[cfg(test)]
mod tests;
