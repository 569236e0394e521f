//! Exposition formats, parsed by pure iterators over borrowed entries.
//!
//! A parser takes the whole scrape body as `&str` and yields [`Entry`] values
//! that borrow from it; nothing is allocated per sample. Every line is fully
//! validated before it is yielded, so a malformed body fails the scrape
//! (SPEC, "Bad input gets a clear error") even if no caller looks at its labels.
//! Both formats yield the same [`Entry`] type; [`parser`] picks one at runtime.
#[cfg(any(test, fuzzing))]
pub mod fuzz_check;
pub mod openmetrics;
pub mod text;

use std::borrow::Cow;
use std::fmt;

use openmetrics::OpenMetricsParser;
use text::TextParser;

/// The `Accept` header of a scrape, built as Prometheus builds it from its
/// scrape protocols (weights falling from 0.5): OpenMetrics 1.0 preferred,
/// with underscore escaping asked for (names stay legacy names), text 0.0.4
/// as the fallback.
pub const ACCEPT: &str = "application/openmetrics-text;version=1.0.0;escaping=underscores;q=0.5,\
application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";

/// The exposition format of a scrape body.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Format {
    /// Prometheus text 0.0.4, [`text`].
    #[default]
    Text,
    /// OpenMetrics 1.0 text, [`openmetrics`].
    OpenMetrics,
}

impl Format {
    /// `application/openmetrics-text` (any version or parameters, any case) is
    /// OpenMetrics; anything else, a missing header included, is text 0.0.4,
    /// as in Prometheus 2 (Prometheus 3 errs unless `fallback_scrape_protocol` is set).
    pub fn from_content_type(content_type: &str) -> Self {
        let media_type = content_type.split(';').next().unwrap_or_default().trim();
        if media_type.eq_ignore_ascii_case("application/openmetrics-text") {
            Self::OpenMetrics
        } else {
            Self::Text
        }
    }
}

/// A parser for `body` in `format`.
pub fn parser(format: Format, body: &str) -> Parser<'_> {
    match format {
        Format::Text => Parser::Text(TextParser::new(body)),
        Format::OpenMetrics => Parser::OpenMetrics(OpenMetricsParser::new(body)),
    }
}

/// Either parser, chosen at runtime: one `match` per entry, no boxing.
#[derive(Clone, Debug)]
pub enum Parser<'a> {
    Text(TextParser<'a>),
    OpenMetrics(OpenMetricsParser<'a>),
}

impl<'a> Iterator for Parser<'a> {
    type Item = Result<Entry<'a>, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Self::Text(p) => p.next(),
            Self::OpenMetrics(p) => p.next(),
        }
    }
}

impl std::iter::FusedIterator for Parser<'_> {}

impl<'a> Parser<'a> {
    /// [`TextParser::next_known`], [`OpenMetricsParser::next_known`]: a
    /// sample line whose series text `known` recognises is not parsed past
    /// its value and timestamp. `known` must recognise only series texts a
    /// parser yielded before, and for an OpenMetrics body only those the
    /// OpenMetrics parser yielded.
    pub fn next_known<K>(
        &mut self,
        known: impl FnMut(&'a str) -> Option<K>,
    ) -> Option<Result<Scanned<'a, K>, ParseError>> {
        match self {
            Self::Text(p) => p.next_known(known),
            Self::OpenMetrics(p) => p.next_known(known),
        }
    }
}

/// What [`Parser::next_known`] read.
#[derive(Clone, Debug, PartialEq)]
pub enum Scanned<'a, K> {
    /// A sample of a series the caller knew: `key` is what it returned for the series text.
    Known { key: K, value: f64, timestamp_ms: Option<i64> },
    /// Any other line, parsed in full.
    Entry(Entry<'a>),
}

/// The kind declared by a `# TYPE` line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MetricType {
    Counter,
    Gauge,
    Histogram,
    Summary,
    /// `untyped` in text 0.0.4, `unknown` in OpenMetrics: both are Prometheus' `MetricTypeUnknown`.
    Untyped,
    /// OpenMetrics only, like the two below.
    GaugeHistogram,
    Info,
    Stateset,
}

/// One non-blank line of an exposition body.
#[derive(Clone, Debug, PartialEq)]
pub enum Entry<'a> {
    /// `# HELP name text`; the text as written (escapes not resolved).
    Help {
        name: &'a str,
        text: &'a str,
    },
    /// `# TYPE name kind`.
    Type {
        name: &'a str,
        kind: MetricType,
    },
    /// `# UNIT name unit` (OpenMetrics); `unit` may be empty, else `name` ends in `_unit`.
    Unit {
        name: &'a str,
        unit: &'a str,
    },
    /// Any other line starting with `#` (text 0.0.4 only: OpenMetrics has no comments).
    Comment,
    Sample(SampleEntry<'a>),
}

/// A sample line, its parts borrowed from the body.
#[derive(Clone, Debug, PartialEq)]
pub struct SampleEntry<'a> {
    /// Metric name and label block exactly as written, e.g. `a{b="c"}` or `a`; trimmed.
    /// It is the key of a per-series cache, so it must not include value/timestamp.
    pub series: &'a str,
    pub name: &'a str,
    /// The text between the braces, exclusive, raw; "" when there are none.
    /// Already validated: [`labels`] on it yields no error.
    pub labels: &'a str,
    /// NaN is always Prometheus' "normal" NaN (bits `0x7ff8000000000001`), never a stale marker.
    pub value: f64,
    pub timestamp_ms: Option<i64>,
}

/// Why a body could not be parsed, and where.
#[derive(Clone, Debug, PartialEq)]
pub struct ParseError {
    /// 1-based line number in the body.
    pub line: usize,
    pub kind: ParseErrorKind,
}

/// The precise cause of a [`ParseError`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParseErrorKind {
    /// A metric name (sample, `# HELP` or `# TYPE`) is empty or not `[a-zA-Z_:][a-zA-Z0-9_:]*`.
    InvalidMetricName,
    /// A label name is empty or not `[a-zA-Z_][a-zA-Z0-9_]*`.
    InvalidLabelName,
    /// A label name is not followed by `=`.
    ExpectedEquals,
    /// A `=` is not followed by a quoted label value.
    ExpectedLabelValue,
    /// The line ends inside a quoted label value.
    UnterminatedLabelValue,
    /// A backslash in a label value is followed by something other than `\`, `"` or `n`.
    InvalidEscape,
    /// A label value is followed by something other than `,` or `}`.
    ExpectedCommaOrBrace,
    /// The line ends inside the label block.
    MissingClosingBrace,
    /// The series is not followed by a value.
    ExpectedValue,
    /// The value is not a float; carries the token, truncated.
    InvalidValue(String),
    /// The token after the value is not an int64.
    InvalidTimestamp,
    /// Something follows the timestamp.
    TrailingGarbage,
    /// A `# TYPE` line names no known type.
    InvalidType,
    /// OpenMetrics: a `# TYPE` line names no OpenMetrics type.
    InvalidOpenMetricsType,
    /// OpenMetrics: a `# UNIT` is neither empty nor a `_`-separated suffix of the metric name.
    UnitMismatch,
    /// OpenMetrics: a `#` line that is not `# HELP`, `# TYPE`, `# UNIT` or `# EOF`.
    InvalidComment,
    /// OpenMetrics: an empty line.
    EmptyLine,
    /// OpenMetrics: tokens are not separated by exactly one space, or whitespace
    /// starts or ends a line or appears inside braces.
    InvalidWhitespace,
    /// OpenMetrics: a `#` after a sample's value is not followed by ` {`.
    InvalidExemplar,
    /// OpenMetrics: the body does not end with a `# EOF` line (it may be truncated).
    MissingEof,
    /// OpenMetrics: something follows `# EOF`.
    DataAfterEof,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.kind)
    }
}

impl std::error::Error for ParseError {}

impl fmt::Display for ParseErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidMetricName => f.write_str("invalid metric name"),
            Self::InvalidLabelName => f.write_str("invalid label name"),
            Self::ExpectedEquals => f.write_str("expected '=' after label name"),
            Self::ExpectedLabelValue => f.write_str("expected quoted label value after '='"),
            Self::UnterminatedLabelValue => f.write_str("unterminated label value"),
            Self::InvalidEscape => f.write_str(r#"invalid escape in label value (only \\, \" and \n)"#),
            Self::ExpectedCommaOrBrace => f.write_str("expected ',' or '}' after label value"),
            Self::MissingClosingBrace => f.write_str("missing '}' after labels"),
            Self::ExpectedValue => f.write_str("expected value after series"),
            Self::InvalidValue(token) => write!(f, "invalid value {token:?}"),
            Self::InvalidTimestamp => f.write_str("invalid timestamp"),
            Self::TrailingGarbage => f.write_str("unexpected text after timestamp"),
            Self::InvalidType => {
                f.write_str("invalid metric type (counter, gauge, histogram, summary, untyped)")
            }
            Self::InvalidOpenMetricsType => f.write_str(
                "invalid metric type (counter, gauge, histogram, gaugehistogram, summary, info, stateset, unknown)",
            ),
            Self::UnitMismatch => f.write_str("unit is not a suffix of the metric name"),
            Self::InvalidComment => f.write_str("a '#' line must be # HELP, # TYPE, # UNIT or # EOF"),
            Self::EmptyLine => f.write_str("empty line"),
            Self::InvalidWhitespace => f.write_str("expected exactly one space between tokens, none elsewhere"),
            Self::InvalidExemplar => f.write_str("expected ' {' after '#' to start an exemplar"),
            Self::MissingEof => f.write_str("data does not end with # EOF"),
            Self::DataAfterEof => f.write_str("unexpected data after # EOF"),
        }
    }
}

impl std::error::Error for ParseErrorKind {}

/// Iterates the label pairs of a raw label block (`SampleEntry::labels`), resolving escapes \\ \" \n.
/// Borrowed when the value has no escapes. After an error it yields `None`.
pub fn labels(raw: &str) -> LabelPairs<'_> {
    LabelPairs { raw, pos: 0 }
}

/// The iterator returned by [`labels`].
#[derive(Clone, Debug)]
pub struct LabelPairs<'a> {
    raw: &'a str,
    /// Byte offset of the next pair; `raw.len()` once done or failed.
    pos: usize,
}

impl<'a> Iterator for LabelPairs<'a> {
    type Item = Result<(&'a str, Cow<'a, str>), ParseErrorKind>;

    fn next(&mut self) -> Option<Self::Item> {
        let b = self.raw.as_bytes();
        let start = skip(b, self.pos, BLANK);
        if start >= b.len() {
            self.pos = b.len();
            return None;
        }
        let pair = match scan_pair(b, start) {
            Ok(pair) => pair,
            Err(kind) => {
                self.pos = b.len();
                return Some(Err(kind));
            }
        };
        let after = skip(b, pair.end, BLANK);
        self.pos = match b.get(after) {
            None => after,
            Some(b',') => after + 1,
            Some(_) => {
                self.pos = b.len();
                return Some(Err(ParseErrorKind::ExpectedCommaOrBrace));
            }
        };
        let name = &self.raw[pair.name.0..pair.name.1];
        let value = &self.raw[pair.value.0..pair.value.1];
        let value = if pair.escaped { Cow::Owned(unescape(value)) } else { Cow::Borrowed(value) };
        Some(Ok((name, value)))
    }
}

impl std::iter::FusedIterator for LabelPairs<'_> {}

/// Resolves `\\`, `\"` and `\n`; `value` was checked by [`scan_pair`].
fn unescape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

/// Byte ranges of one `name="value"` pair inside a line or label block.
struct RawPair {
    name: (usize, usize),
    /// Between the quotes, exclusive.
    value: (usize, usize),
    /// The value holds at least one (valid) escape.
    escaped: bool,
    /// Just past the closing quote.
    end: usize,
}

/// Scans one label pair starting at `pos` (a non-blank byte), validating
/// names and escapes without allocating. Shared by the sample-line check in
/// [`text`] and by [`labels`], so both accept exactly the same syntax. A
/// `'\n'` ends the input like its end does: [`text`] scans the body in place.
fn scan_pair(b: &[u8], pos: usize) -> Result<RawPair, ParseErrorKind> {
    let name_end = skip(b, pos, LABEL);
    if name_end == pos || b.get(pos).is_some_and(u8::is_ascii_digit) {
        return Err(ParseErrorKind::InvalidLabelName);
    }
    match b.get(name_end) {
        None | Some(b' ' | b'\t' | b'\n' | b'=' | b'"' | b',' | b'}') => {}
        // e.g. `a-b="c"`: the name goes on with a character it may not contain.
        Some(_) => return Err(ParseErrorKind::InvalidLabelName),
    }
    let eq = skip(b, name_end, BLANK);
    if b.get(eq) != Some(&b'=') {
        return Err(ParseErrorKind::ExpectedEquals);
    }
    let quote = skip(b, eq + 1, BLANK);
    if b.get(quote) != Some(&b'"') {
        return Err(ParseErrorKind::ExpectedLabelValue);
    }
    let mut i = quote + 1;
    let mut escaped = false;
    loop {
        // Multi-byte UTF-8 never contains ASCII bytes, so stepping bytewise is exact.
        i = until(b, i, QUOTED_STOP);
        match b.get(i) {
            Some(b'"') => break,
            Some(b'\\') => match b.get(i + 1) {
                Some(b'\\' | b'"' | b'n') => {
                    escaped = true;
                    i += 2;
                }
                Some(b'\n') | None => return Err(ParseErrorKind::UnterminatedLabelValue),
                Some(_) => return Err(ParseErrorKind::InvalidEscape),
            },
            _ => return Err(ParseErrorKind::UnterminatedLabelValue), // '\n' or the end
        }
    }
    Ok(RawPair { name: (pos, name_end), value: (quote + 1, i), escaped, end: i + 1 })
}

/// Byte classes, one bit each, looked up in [`CLASS`]: one load per byte on the hot path.
const BLANK: u8 = 1; // ' ' '\t': separates tokens
const TOKEN_END: u8 = 2; // ' ' '\t' '\n': ends a value or timestamp
const METRIC: u8 = 4; // [a-zA-Z0-9_:]
const LABEL: u8 = 8; // [a-zA-Z0-9_]
const QUOTED_STOP: u8 = 16; // '"' '\\' '\n': ends a plain run inside a label value

static CLASS: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        let mut class = 0;
        if b == b' ' || b == b'\t' {
            class |= BLANK | TOKEN_END;
        }
        if b == b'\n' {
            class |= TOKEN_END | QUOTED_STOP;
        }
        if b.is_ascii_alphanumeric() || b == b'_' {
            class |= METRIC | LABEL;
        }
        if b == b':' {
            class |= METRIC;
        }
        if b == b'"' || b == b'\\' {
            class |= QUOTED_STOP;
        }
        table[c] = class;
        c += 1;
    }
    table
};

/// The index of the first byte at or after `pos` that is not in `class` (or `b.len()`).
fn skip(b: &[u8], mut pos: usize, class: u8) -> usize {
    // An index loop: fewer instructions per byte than `take_while().count()`.
    while let Some(&c) = b.get(pos) {
        if CLASS[usize::from(c)] & class == 0 {
            break;
        }
        pos += 1;
    }
    pos
}

/// The index of the first byte at or after `pos` that is in `class` (or `b.len()`).
fn until(b: &[u8], mut pos: usize, class: u8) -> usize {
    while let Some(&c) = b.get(pos) {
        if CLASS[usize::from(c)] & class != 0 {
            break;
        }
        pos += 1;
    }
    pos
}

#[cfg(test)]
mod tests;
