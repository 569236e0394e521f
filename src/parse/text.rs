//! The Prometheus text exposition format 0.0.4, as a pure iterator.
//!
//! One entry per non-blank line, tokens separated by spaces or tabs, no
//! allocation per sample, no panic on any input, `None` after the first error.
//! Follows Prometheus' `model/textparse/promparse.go`, except: label pairs need
//! commas, escapes other than `\\ \" \n` and quoted (UTF-8) names are errors
//! (as in `expfmt`), and timestamps may be negative.
use super::{
    BLANK, Entry, METRIC, MetricType, ParseError, ParseErrorKind, SampleEntry, TOKEN_END, scan_pair, skip,
    until,
};

/// Prometheus' `value.NormalNaN`: what Go's `ParseFloat("NaN")` returns and
/// what Prometheus stores, distinct from the stale marker `0x7ff0000000000002`.
const NORMAL_NAN: u64 = 0x7ff8_0000_0000_0001;

/// Longest token, in bytes, that an error message quotes.
const EXCERPT_BYTES: usize = 40;

/// Parses a body line by line. It owns nothing but its position.
#[derive(Clone, Debug)]
pub struct TextParser<'a> {
    /// The lines not yet read; "" once done or failed (which fuses the iterator).
    rest: &'a str,
    /// How many lines have been read, i.e. the 1-based number of the last one.
    line: usize,
}

impl<'a> TextParser<'a> {
    pub fn new(body: &'a str) -> Self {
        Self { rest: body, line: 0 }
    }
}

impl<'a> Iterator for TextParser<'a> {
    type Item = Result<Entry<'a>, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.rest.is_empty() {
            self.line += 1;
            let body = self.rest;
            let b = body.as_bytes();
            let start = skip(b, 0, BLANK);
            // `end` is the index of the line's '\n', or `b.len()` for the last line.
            let (parsed, end) = match b.get(start) {
                None | Some(b'\n') => {
                    self.rest = body.get(start + 1..).unwrap_or_default();
                    continue;
                }
                Some(b'#') => {
                    let end = start + body[start..].find('\n').unwrap_or(b.len() - start);
                    (comment(&body[start..end]), end)
                }
                // Samples are scanned in place, without a separate search for '\n'.
                Some(_) => match sample(body, start) {
                    Ok((sample, end)) => (Ok(Entry::Sample(sample)), end),
                    Err(kind) => (Err(kind), b.len()),
                },
            };
            self.rest = body.get(end + 1..).unwrap_or_default();
            return Some(parsed.map_err(|kind| {
                self.rest = "";
                ParseError { line: self.line, kind }
            }));
        }
        None
    }
}

impl std::iter::FusedIterator for TextParser<'_> {}

/// A line starting with `#`: `# HELP`, `# TYPE` or a plain comment. As in
/// promparse, HELP/TYPE count only when separated by blanks on both sides.
fn comment(line: &str) -> Result<Entry<'_>, ParseErrorKind> {
    let b = line.as_bytes();
    let word_start = skip(b, 1, BLANK);
    if word_start == 1 {
        return Ok(Entry::Comment); // `#HELP` or `#` alone
    }
    let word_end = until(b, word_start, BLANK);
    let is_type = match &line[word_start..word_end] {
        "HELP" => false,
        "TYPE" => true,
        _ => return Ok(Entry::Comment),
    };
    let name_start = skip(b, word_end, BLANK);
    if name_start == word_end {
        return Ok(Entry::Comment); // `# HELP` at the end of the line
    }
    let name_end = until(b, name_start, BLANK);
    if name_end == name_start || metric_name_end(b, name_start) != name_end {
        return Err(ParseErrorKind::InvalidMetricName);
    }
    let name = &line[name_start..name_end];
    let text = &line[skip(b, name_end, BLANK)..];
    if !is_type {
        return Ok(Entry::Help { name, text });
    }
    let kind = match text.trim_end_matches([' ', '\t']) {
        "counter" => MetricType::Counter,
        "gauge" => MetricType::Gauge,
        "histogram" => MetricType::Histogram,
        "summary" => MetricType::Summary,
        "untyped" => MetricType::Untyped,
        _ => return Err(ParseErrorKind::InvalidType),
    };
    Ok(Entry::Type { name, kind })
}

/// `name[{labels}] value [timestamp]`, the name at `start` in `body`.
/// Returns the sample and the index of the '\n' that ends it (or `body.len()`).
fn sample(body: &str, start: usize) -> Result<(SampleEntry<'_>, usize), ParseErrorKind> {
    let b = body.as_bytes();
    let name_end = metric_name_end(b, start);
    if name_end == start {
        return Err(ParseErrorKind::InvalidMetricName);
    }
    let mut pos = skip(b, name_end, BLANK);
    let (series_end, labels) = match b.get(pos) {
        Some(b'{') => {
            let close = label_block_end(b, pos + 1)?;
            let labels = &body[pos + 1..close];
            pos = close + 1;
            (pos, labels)
        }
        None | Some(b'\n') => return Err(ParseErrorKind::ExpectedValue),
        // The name token goes on with a character a name may not contain.
        Some(_) if pos == name_end => return Err(ParseErrorKind::InvalidMetricName),
        Some(_) => (name_end, ""),
    };

    let value_start = skip(b, pos, BLANK);
    let value_end = until(b, value_start, TOKEN_END);
    if value_start == value_end {
        return Err(ParseErrorKind::ExpectedValue);
    }
    let value = parse_value(&body[value_start..value_end])?;

    let ts_start = skip(b, value_end, BLANK);
    let ts_end = until(b, ts_start, TOKEN_END);
    let (timestamp_ms, end) = if ts_start == ts_end {
        (None, ts_start)
    } else {
        let ts = body[ts_start..ts_end].parse::<i64>().map_err(|_| ParseErrorKind::InvalidTimestamp)?;
        (Some(ts), skip(b, ts_end, BLANK))
    };
    if !matches!(b.get(end), None | Some(b'\n')) {
        return Err(ParseErrorKind::TrailingGarbage);
    }

    let sample = SampleEntry {
        series: &body[start..series_end],
        name: &body[start..name_end],
        labels,
        value,
        timestamp_ms,
    };
    Ok((sample, end))
}

/// Validates the label pairs from `pos` (just past `{`) and returns the index of `}`.
fn label_block_end(b: &[u8], pos: usize) -> Result<usize, ParseErrorKind> {
    let mut pos = skip(b, pos, BLANK);
    loop {
        match b.get(pos) {
            None | Some(b'\n') => return Err(ParseErrorKind::MissingClosingBrace),
            Some(b'}') => return Ok(pos), // `{}` or a trailing comma
            Some(_) => {}
        }
        let pair = scan_pair(b, pos)?;
        let after = skip(b, pair.end, BLANK);
        match b.get(after) {
            Some(b',') => pos = skip(b, after + 1, BLANK),
            Some(b'}') => return Ok(after),
            None | Some(b'\n') => return Err(ParseErrorKind::MissingClosingBrace),
            Some(_) => return Err(ParseErrorKind::ExpectedCommaOrBrace),
        }
    }
}

/// Parses a value as Go's `strconv.ParseFloat` does for Prometheus: decimal,
/// exponent, `NaN`, `[+-]Inf`/`Infinity` in any case. Rust's parser also
/// accepts a signed NaN and turns an overflowing literal into infinity where
/// Go returns `ErrRange`; both are rejected here.
pub(super) fn parse_value(token: &str) -> Result<f64, ParseErrorKind> {
    let invalid = || ParseErrorKind::InvalidValue(excerpt(token));
    let value = token.parse::<f64>().map_err(|_| invalid())?;
    let unsigned = token.strip_prefix(['+', '-']);
    if value.is_nan() {
        return match unsigned {
            Some(_) => Err(invalid()),
            None => Ok(f64::from_bits(NORMAL_NAN)),
        };
    }
    if value.is_infinite() && !unsigned.unwrap_or(token).starts_with(['i', 'I']) {
        return Err(invalid());
    }
    Ok(value)
}

/// At most [`EXCERPT_BYTES`] of `token`, cut at a character boundary.
fn excerpt(token: &str) -> String {
    let mut end = token.len().min(EXCERPT_BYTES);
    while !token.is_char_boundary(end) {
        end -= 1;
    }
    let mut out = token[..end].to_owned();
    if end < token.len() {
        out.push('…');
    }
    out
}

/// The end of the `[a-zA-Z_:][a-zA-Z0-9_:]*` run starting at `pos` (`pos` if none).
pub(super) fn metric_name_end(b: &[u8], pos: usize) -> usize {
    match b.get(pos) {
        Some(c) if c.is_ascii_digit() => pos,
        _ => skip(b, pos, METRIC),
    }
}
