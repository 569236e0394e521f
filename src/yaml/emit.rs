//! YAML text from a tree of values, in block style as go-yaml writes
//! Prometheus's own configuration: two spaces a level, a sequence under a key
//! at the key's indentation, a string plain unless a YAML 1.1 reader would
//! take it for something else (a number, a boolean, null) or its syntax needs
//! quotes, and then double-quoted. Pure.

use std::fmt::Write as _;

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(u64),
    Str(String),
    Seq(Vec<Value>),
    Map(Map),
}

/// A mapping in insertion order; putting a key again replaces its value.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Map(Vec<(String, Value)>);

impl Map {
    pub fn put(&mut self, key: &str, value: impl Into<Value>) {
        let value = value.into();
        match self.0.iter_mut().find(|(k, _)| k == key) {
            Some((_, v)) => *v = value,
            None => self.0.push((key.to_owned(), value)),
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::Str(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::Str(s)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Bool(b)
    }
}

impl From<u64> for Value {
    fn from(n: u64) -> Value {
        Value::Int(n)
    }
}

impl From<Vec<Value>> for Value {
    fn from(items: Vec<Value>) -> Value {
        Value::Seq(items)
    }
}

impl From<Map> for Value {
    fn from(m: Map) -> Value {
        Value::Map(m)
    }
}

/// The document's text, ending in a newline.
pub fn to_string(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Map(m) if !m.0.is_empty() => map(&mut out, m, 0),
        Value::Seq(items) if !items.is_empty() => seq(&mut out, items, 0),
        other => {
            scalar(&mut out, other);
            out.push('\n');
        }
    }
    out
}

fn pad(out: &mut String, indent: usize) {
    out.extend(std::iter::repeat_n(' ', indent));
}

fn map(out: &mut String, m: &Map, indent: usize) {
    for (key, value) in &m.0 {
        pad(out, indent);
        entry(out, key, value, indent);
    }
}

/// `key: value` from where the line's indentation ends.
fn entry(out: &mut String, key: &str, value: &Value, indent: usize) {
    string(out, key);
    out.push(':');
    match value {
        Value::Map(m) if !m.0.is_empty() => {
            out.push('\n');
            map(out, m, indent + 2);
        }
        Value::Seq(items) if !items.is_empty() => {
            out.push('\n');
            seq(out, items, indent);
        }
        other => {
            out.push(' ');
            scalar(out, other);
            out.push('\n');
        }
    }
}

fn seq(out: &mut String, items: &[Value], indent: usize) {
    for item in items {
        pad(out, indent);
        out.push_str("- ");
        match item {
            Value::Map(m) if !m.0.is_empty() => {
                for (i, (key, value)) in m.0.iter().enumerate() {
                    if i > 0 {
                        pad(out, indent + 2);
                    }
                    entry(out, key, value, indent + 2);
                }
            }
            Value::Seq(inner) if !inner.is_empty() => {
                out.push('\n');
                seq(out, inner, indent + 2);
            }
            other => {
                scalar(out, other);
                out.push('\n');
            }
        }
    }
}

/// A value on one line: empty collections in flow style.
fn scalar(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(n) => {
            let _ = write!(out, "{n}");
        }
        Value::Str(s) => string(out, s),
        Value::Seq(_) => out.push_str("[]"),
        Value::Map(_) => out.push_str("{}"),
    }
}

fn string(out: &mut String, s: &str) {
    if plain(s) {
        out.push_str(s);
        return;
    }
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Whether `s` reads back as this string when written without quotes, by
/// YAML 1.1 readers (go-yaml v2) as by YAML 1.2 ones.
fn plain(s: &str) -> bool {
    const WORDS: &[&str] = &[
        "~", "null", "Null", "NULL", "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "true",
        "True", "TRUE", "false", "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF", "<<",
    ];
    let Some(first) = s.chars().next() else { return false };
    if WORDS.contains(&s) || s.contains(": ") || s.contains(" #") || s.ends_with([':', ' ']) {
        return false;
    }
    if first == ' ' || "-?:,[]{}#&*!|>'\"%@`".contains(first) {
        return false;
    }
    if s.chars().any(|c| c.is_control()) {
        return false;
    }
    // Number-like: a digit (or `.` and a digit, `+`/`-` first) and only what
    // numbers are made of (`0x1F`, `1_000`, `1.5e3`, `.inf`, `.NaN`).
    let unsigned = s.strip_prefix(['+', '-']).unwrap_or(s);
    let lower = unsigned.to_ascii_lowercase();
    if matches!(lower.as_str(), ".inf" | ".nan") {
        return false;
    }
    let numeric_start = unsigned.starts_with(|c: char| c.is_ascii_digit())
        || (unsigned.starts_with('.') && unsigned[1..].starts_with(|c: char| c.is_ascii_digit()));
    !(numeric_start && unsigned.chars().all(|c| c.is_ascii_hexdigit() || "._+-xXoO".contains(c)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> serde_yaml_ng::Value {
        serde_yaml_ng::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
    }

    #[test]
    fn layout_is_go_yamls() {
        let mut inner = Map::default();
        inner.put("a", "x");
        inner.put("b", vec![Value::from("1"), Value::from(true)]);
        let mut item = Map::default();
        item.put("job_name", "node");
        item.put("targets", vec![Value::from("h:9100")]);
        item.put("empty", Map::default());
        let mut top = Map::default();
        top.put("inner", inner);
        top.put("jobs", vec![Value::from(item), Value::from(Vec::new())]);
        top.put("count", 42u64);
        top.put("none", Value::Null);
        top.put("count", 43u64);
        let text = to_string(&Value::Map(top));
        assert_eq!(
            text,
            "inner:\n  a: x\n  b:\n  - \"1\"\n  - true\njobs:\n- job_name: node\n  targets:\n  - h:9100\n  empty: {}\n- []\ncount: 43\nnone: null\n"
        );
        let back = parsed(&text);
        assert_eq!(back["inner"]["b"][0], serde_yaml_ng::Value::from("1"));
        assert_eq!(back["jobs"][0]["targets"][0], serde_yaml_ng::Value::from("h:9100"));
        assert_eq!(back["count"], serde_yaml_ng::Value::from(43));
    }

    #[test]
    fn strings_read_back_as_themselves() {
        let strings = [
            "",
            " ",
            "plain",
            "15s",
            "1.5",
            "0x1F",
            "1_000",
            "-1",
            "+.5",
            ".inf",
            "-.Inf",
            ".NaN",
            ".*",
            "(.*)",
            "$1",
            ";",
            "yes",
            "off",
            "N",
            "~",
            "null",
            "true",
            "a: b",
            "a #b",
            "a:",
            "#x",
            "-x",
            "- x",
            "?x",
            "*x",
            "&x",
            "!x",
            "|",
            ">",
            "'q'",
            "\"q\"",
            "%x",
            "@x",
            "`x",
            "[a]",
            "{a}",
            "a,b",
            "x ",
            "<secret>",
            "https://user:<secret>@r:9090/api/v1/write",
            "tab\there",
            "line\nbreak",
            "bell\u{7}",
            "back\\slash",
            "ünïcode",
            "1e3",
            "2h30m",
            "0",
            "007",
            "1.2.3",
            "<<",
        ];
        for s in strings {
            let mut m = Map::default();
            m.put(s, s);
            let text = to_string(&Value::Map(m));
            let back = parsed(&text);
            let serde_yaml_ng::Value::Mapping(m) = back else { panic!("not a mapping: {text}") };
            let (k, v) = m.iter().next().expect("one entry");
            assert_eq!(k.as_str(), Some(s), "key {s:?} as {text:?}");
            assert_eq!(v.as_str(), Some(s), "value {s:?} as {text:?}");
            let ours = crate::yaml::parse(&text).expect("our parser");
            let entry = ours.get(s).unwrap_or_else(|| panic!("{s:?} in {text:?}"));
            if s.is_empty() {
                assert!(entry.value.text() == Some(""), "{text:?}");
            } else {
                assert_eq!(entry.value.text(), Some(s), "{text:?}");
            }
        }
    }
}
