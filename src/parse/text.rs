//! The Prometheus text exposition format 0.0.4, as a pure iterator.
//!
//! One entry per non-blank line, tokens separated by spaces or tabs, no
//! allocation per sample, no panic on any input, `None` after the first error.
//! Follows Prometheus' `model/textparse/promparse.go`, except: label pairs need
//! commas, escapes other than `\\ \" \n` and quoted (UTF-8) names are errors
//! (as in `expfmt`), and timestamps may be negative.
use super::{
    BLANK, CLASS, Entry, METRIC, MetricType, ParseError, ParseErrorKind, SampleEntry, Scanned, TOKEN_END,
    scan_pair, skip, until,
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
    /// The name on the last `# HELP` or `# TYPE` line, checked: the next such
    /// line usually names it again, and bytes equal to it need no second check.
    family: &'a str,
}

impl<'a> TextParser<'a> {
    pub fn new(body: &'a str) -> Self {
        Self { rest: body, line: 0, family: "" }
    }

    /// The next entry, like [`Iterator::next`], but a sample line whose
    /// series text `known` recognises is not parsed past its value and
    /// timestamp: it yields [`Scanned::Known`] with what `known` returned.
    ///
    /// `known` must recognise only series texts a parser yielded before
    /// (`SampleEntry::series`, from any body; an OpenMetrics series is also a
    /// valid text-format series, which only adds blanks). Then the result is exactly
    /// what [`Iterator::next`] gives for the line, label checks included: the
    /// line is the series text, blanks, the value, optionally blanks and a
    /// timestamp, and trailing blanks, and a full parse of it would find the
    /// same series (its bytes were checked before, and a valid series ends
    /// where the parser stops), the same value and the same timestamp (the
    /// same functions parse them). Any other line, a changed one included,
    /// gets the full parse and its error. `known` is called only after the
    /// value and timestamp parsed; `fuzz_check` compares both paths.
    pub fn next_known<K>(
        &mut self,
        mut known: impl FnMut(&'a str) -> Option<K>,
    ) -> Option<Result<Scanned<'a, K>, ParseError>> {
        let body = self.rest;
        let b = body.as_bytes();
        let start = skip(b, 0, BLANK);
        if b.get(start).is_some_and(|&c| CLASS[usize::from(c)] & METRIC != 0) {
            let end = memchr::memchr(b'\n', &b[start..]).map_or(b.len(), |i| start + i);
            if let Some((key, value, timestamp_ms)) = known_sample(&body[start..end], &mut known) {
                self.line += 1;
                self.rest = body.get(end + 1..).unwrap_or_default();
                return Some(Ok(Scanned::Known { key, value, timestamp_ms }));
            }
        }
        self.next().map(|r| r.map(Scanned::Entry))
    }
}

/// The cache-first reading of one sample line (no '\n', no leading blank):
/// split the value and the timestamp off from the right, then ask `known`
/// about the rest. `None` sends the line to the full parser.
fn known_sample<'a, K>(
    line: &'a str,
    known: &mut impl FnMut(&'a str) -> Option<K>,
) -> Option<(K, f64, Option<i64>)> {
    let (head, last) = split_last_token(line)?;
    // `series value`: the common case.
    if let Some(value) = value(last)
        && let Some(key) = known(head)
    {
        return Some((key, value, None));
    }
    // `series value timestamp`.
    let (series, token) = split_last_token(head)?;
    let timestamp_ms = last.parse::<i64>().ok()?;
    let value = value(token)?;
    Some((known(series)?, value, Some(timestamp_ms)))
}

/// `line` as the text before its last blank-separated token, and that token,
/// both without blanks around them; `None` unless a blank precedes the token.
/// Byte-wise: blanks are ASCII, so every cut is at a character boundary.
fn split_last_token(line: &str) -> Option<(&str, &str)> {
    let b = line.as_bytes();
    let blank = |i: usize| CLASS[usize::from(b[i])] & BLANK != 0;
    let mut end = b.len();
    while end > 0 && blank(end - 1) {
        end -= 1;
    }
    let mut start = end;
    while start > 0 && !blank(start - 1) {
        start -= 1;
    }
    let mut head = start.checked_sub(1)?;
    while head > 0 && blank(head - 1) {
        head -= 1;
    }
    Some((line.get(..head)?, line.get(start..end)?))
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
                    let end = memchr::memchr(b'\n', &b[start..]).map_or(b.len(), |i| start + i);
                    (comment(&body[start..end], &mut self.family), end)
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
fn comment<'a>(line: &'a str, family: &mut &'a str) -> Result<Entry<'a>, ParseErrorKind> {
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
    // The name token is a whole metric name: it ends at a blank or the end.
    let ends_token = |end: usize| b.get(end).is_none_or(|&c| CLASS[usize::from(c)] & BLANK != 0);
    let known_end = name_start + family.len();
    let name_end = if !family.is_empty() && line[name_start..].starts_with(*family) && ends_token(known_end) {
        known_end
    } else {
        let end = metric_name_end(b, name_start);
        if end == name_start || !ends_token(end) {
            return Err(ParseErrorKind::InvalidMetricName);
        }
        end
    };
    let name = &line[name_start..name_end];
    *family = name;
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
    value(token).ok_or_else(|| ParseErrorKind::InvalidValue(excerpt(token)))
}

/// [`parse_value`] without the error.
pub(super) fn value(token: &str) -> Option<f64> {
    // One digit: most samples of most exporters.
    if let &[c @ b'0'..=b'9'] = token.as_bytes() {
        return Some(f64::from(c - b'0'));
    }
    if let Some(value) = exact_short_decimal(token.as_bytes()) {
        return Some(value);
    }
    let value = token.parse::<f64>().ok()?;
    let unsigned = token.strip_prefix(['+', '-']);
    if value.is_nan() {
        return match unsigned {
            Some(_) => None,
            None => Some(f64::from_bits(NORMAL_NAN)),
        };
    }
    if value.is_infinite() && !unsigned.unwrap_or(token).starts_with(['i', 'I']) {
        return None;
    }
    Some(value)
}

/// 10^0 ..= 10^22: every one is exact in an `f64`.
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18,
    1e19, 1e20, 1e21, 1e22,
];

/// The forms exporters write most (`0`, `42`, `-1.5`, `3.0517578125e-05`,
/// `1.2e+06`) without the general parser: `[+-]digits[.digits][(e|E)[+-]digits]`
/// whose digits make an integer `m` of at most 2^53 and whose scale `e` is
/// within ±22. Then `m` and `10^|e|` are exact `f64`s and one IEEE
/// multiplication or division rounds correctly, so the result is the
/// correctly rounded value `str::parse` also returns (Clinger's fast path, the
/// first step of the standard library's own parser). `None` for anything
/// else, which goes to the general parser; `tests::short_decimals_match_str_parse`
/// compares the two.
pub(super) fn exact_short_decimal(t: &[u8]) -> Option<f64> {
    const LIMIT: u64 = 1 << 53;
    let (negative, mut i) = match t.first()? {
        b'-' => (true, 1),
        b'+' => (false, 1),
        _ => (false, 0),
    };
    let mut m: u64 = 0;
    let mut digits = 0;
    let mut scale: i32 = 0;
    let mut fraction = false;
    while let Some(&c) = t.get(i) {
        match c {
            b'0'..=b'9' => {
                m = m * 10 + u64::from(c - b'0');
                if m > LIMIT {
                    return None;
                }
                digits += 1;
                scale -= i32::from(fraction);
            }
            // A '.' needs digits on both sides here; other forms go to `str::parse`.
            b'.' if !fraction && digits > 0 && t.get(i + 1).is_some_and(u8::is_ascii_digit) => {
                fraction = true
            }
            b'e' | b'E' if digits > 0 => break,
            _ => return None,
        }
        i += 1;
    }
    if digits == 0 {
        return None;
    }
    if i < t.len() {
        // The exponent: 'e', a sign, one to three digits.
        let exponent = &t[i + 1..];
        let (sign, exponent) = match exponent.first()? {
            b'-' => (-1, &exponent[1..]),
            b'+' => (1, &exponent[1..]),
            _ => (1, exponent),
        };
        if exponent.is_empty() || exponent.len() > 3 || !exponent.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let e = exponent.iter().fold(0i32, |e, &c| e * 10 + i32::from(c - b'0'));
        scale += sign * e;
    }
    let power = *POW10.get(usize::try_from(scale.unsigned_abs()).ok()?)?;
    // `m` is at most 2^53, so the conversion is exact.
    let m = m as f64;
    let value = if scale >= 0 { m * power } else { m / power };
    Some(if negative { -value } else { value })
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
