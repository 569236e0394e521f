//! serde types from a YAML document's [`Node`] tree, read as go-yaml v2 reads
//! YAML into Go types (Prometheus's target files; client-go's kubeconfig goes
//! through the same parser): a scalar read as a string keeps its text whatever
//! it looks like (`port: 9100` is "9100"), `null` (or nothing) read as anything
//! is that type's zero value, and booleans are YAML 1.1's words. Every error
//! names the line and column of the node or key it is about.

use std::fmt;
use std::rc::Rc;

use serde::de::{
    self, DeserializeOwned, DeserializeSeed, Expected, IntoDeserializer, MapAccess, SeqAccess, Unexpected,
    Visitor,
};

use super::{Entry, Node, Pos, Value};

#[derive(Debug)]
pub struct Error {
    pos: Option<Pos>,
    message: String,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.pos {
            Some(p) => write!(f, "{} at line {} column {}", self.message, p.line, p.col),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for Error {}

impl de::Error for Error {
    fn custom<T: fmt::Display>(message: T) -> Self {
        Error { pos: None, message: message.to_string() }
    }
}

/// `T` from the YAML document `text` (its first and only document).
pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, Error> {
    let doc = super::parse(text).map_err(|e| Error { pos: Some(e.pos), message: e.reason })?;
    T::deserialize(Deser(&doc))
}

/// The innermost position wins: an error keeps the first one given to it.
fn at<T>(pos: Pos, result: Result<T, Error>) -> Result<T, Error> {
    result.map_err(|mut e| {
        e.pos.get_or_insert(pos);
        e
    })
}

/// go-yaml v2's booleans (YAML 1.1).
fn boolean(text: &str) -> Option<bool> {
    match text {
        "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" | "true" | "True" | "TRUE" => Some(true),
        "n" | "N" | "no" | "No" | "NO" | "off" | "Off" | "OFF" | "false" | "False" | "FALSE" => Some(false),
        _ => None,
    }
}

/// go-yaml v2's integers: underscores ignored, `0x`, `0o`, `0b` and a leading
/// `0` (octal) as Go's `ParseInt(s, 0, 64)` reads them.
fn integer(text: &str) -> Option<i128> {
    let digits: String = text.chars().filter(|c| *c != '_').collect();
    let (negative, rest) = match digits.as_bytes().first()? {
        b'-' => (true, &digits[1..]),
        b'+' => (false, &digits[1..]),
        _ => (false, &digits[..]),
    };
    let (radix, body) = match rest.get(..2) {
        Some("0x" | "0X") => (16, &rest[2..]),
        Some("0o" | "0O") => (8, &rest[2..]),
        Some("0b" | "0B") => (2, &rest[2..]),
        _ if rest.len() > 1 && rest.starts_with('0') => (8, &rest[1..]),
        _ => (10, rest),
    };
    if body.is_empty() || body.starts_with(['+', '-']) {
        return None;
    }
    let n = i128::from_str_radix(body, radix).ok()?;
    Some(if negative { -n } else { n })
}

/// go-yaml v2's floats: decimal with an optional exponent, `.inf`, `.nan`.
fn float(text: &str) -> Option<f64> {
    let unsigned = text.strip_prefix(['+', '-']).unwrap_or(text);
    match unsigned {
        ".inf" | ".Inf" | ".INF" => {
            Some(if text.starts_with('-') { f64::NEG_INFINITY } else { f64::INFINITY })
        }
        ".nan" | ".NaN" | ".NAN" if unsigned == text => Some(f64::NAN),
        _ if unsigned.starts_with(|c: char| c.is_ascii_digit() || c == '.')
            && unsigned
                .bytes()
                .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-')) =>
        {
            text.parse().ok()
        }
        _ => None,
    }
}

struct Deser<'a>(&'a Node);

impl Deser<'_> {
    fn unexpected(&self) -> Unexpected<'_> {
        match &self.0.value {
            Value::Null => Unexpected::Unit,
            Value::Scalar { text, .. } => Unexpected::Str(text),
            Value::Seq(_) => Unexpected::Seq,
            Value::Map(_) => Unexpected::Map,
        }
    }

    fn invalid(&self, expected: &dyn Expected) -> Error {
        let mut e: Error = de::Error::invalid_type(self.unexpected(), expected);
        e.pos = Some(self.0.pos);
        e
    }

    /// A plain scalar's text; `None` for null, an error for anything else.
    fn plain(&self, expected: &dyn Expected) -> Result<Option<&str>, Error> {
        match &self.0.value {
            Value::Null => Ok(None),
            Value::Scalar { text, plain: true } => Ok(Some(text)),
            _ => Err(self.invalid(expected)),
        }
    }

    fn int<'de, V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let pos = self.0.pos;
        let n = match self.plain(&visitor)? {
            None => 0,
            Some(text) => integer(text).ok_or_else(|| self.invalid(&visitor))?,
        };
        at(
            pos,
            match i64::try_from(n) {
                Ok(n) => visitor.visit_i64(n),
                Err(_) => match u64::try_from(n) {
                    Ok(n) => visitor.visit_u64(n),
                    Err(_) => visitor.visit_i128(n),
                },
            },
        )
    }
}

impl<'de> de::Deserializer<'de> for Deser<'_> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let pos = self.0.pos;
        match &self.0.value {
            Value::Null => at(pos, visitor.visit_unit()),
            Value::Scalar { text, plain: true } => {
                if let Some(b) = boolean(text) {
                    at(pos, visitor.visit_bool(b))
                } else if integer(text).is_some() {
                    self.int(visitor)
                } else if let Some(f) = float(text) {
                    at(pos, visitor.visit_f64(f))
                } else {
                    at(pos, visitor.visit_str(text))
                }
            }
            Value::Scalar { text, .. } => at(pos, visitor.visit_str(text)),
            Value::Seq(items) => at(pos, visitor.visit_seq(Items(items.iter()))),
            Value::Map(entries) => {
                at(pos, visitor.visit_map(Entries { entries: entries.iter(), value: None }))
            }
        }
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let b = match self.plain(&visitor)? {
            None => false,
            Some(text) => boolean(text).ok_or_else(|| self.invalid(&visitor))?,
        };
        at(self.0.pos, visitor.visit_bool(b))
    }

    fn deserialize_i8<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.int(visitor)
    }
    fn deserialize_i16<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.int(visitor)
    }
    fn deserialize_i32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.int(visitor)
    }
    fn deserialize_i64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.int(visitor)
    }
    fn deserialize_u8<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.int(visitor)
    }
    fn deserialize_u16<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.int(visitor)
    }
    fn deserialize_u32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.int(visitor)
    }
    fn deserialize_u64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.int(visitor)
    }

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_f64(visitor)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let f = match self.plain(&visitor)? {
            None => 0.0,
            Some(text) => match float(text) {
                Some(f) => f,
                None => integer(text).ok_or_else(|| self.invalid(&visitor))? as f64,
            },
        };
        at(self.0.pos, visitor.visit_f64(f))
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match &self.0.value {
            Value::Null => at(self.0.pos, visitor.visit_str("")),
            Value::Scalar { text, .. } => at(self.0.pos, visitor.visit_str(text)),
            _ => Err(self.invalid(&visitor)),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        Err(self.invalid(&visitor))
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        Err(self.invalid(&visitor))
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0.value {
            Value::Null => at(self.0.pos, visitor.visit_none()),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0.value {
            Value::Null => at(self.0.pos, visitor.visit_unit()),
            _ => Err(self.invalid(&visitor)),
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match &self.0.value {
            Value::Null => at(self.0.pos, visitor.visit_seq(Items([].iter()))),
            Value::Seq(items) => at(self.0.pos, visitor.visit_seq(Items(items.iter()))),
            _ => Err(self.invalid(&visitor)),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match &self.0.value {
            Value::Null => at(self.0.pos, visitor.visit_map(Entries { entries: [].iter(), value: None })),
            Value::Map(entries) => {
                at(self.0.pos, visitor.visit_map(Entries { entries: entries.iter(), value: None }))
            }
            _ => Err(self.invalid(&visitor)),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_map(visitor)
    }

    /// Unit variants only, by name.
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match &self.0.value {
            Value::Scalar { text, .. } => at(
                self.0.pos,
                visitor.visit_enum(IntoDeserializer::<Error>::into_deserializer(text.as_str())),
            ),
            _ => Err(self.invalid(&visitor)),
        }
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }
}

struct Items<'a>(std::slice::Iter<'a, Rc<Node>>);

impl<'de> SeqAccess<'de> for Items<'_> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, Error> {
        match self.0.next() {
            None => Ok(None),
            Some(node) => at(node.pos, seed.deserialize(Deser(node))).map(Some),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.0.len())
    }
}

struct Entries<'a> {
    entries: std::slice::Iter<'a, Entry>,
    value: Option<&'a Node>,
}

impl<'de> MapAccess<'de> for Entries<'_> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, Error> {
        let Some(entry) = self.entries.next() else { return Ok(None) };
        self.value = Some(&entry.value);
        let key: de::value::StrDeserializer<'_, Error> = entry.key.as_str().into_deserializer();
        at(entry.key_pos, seed.deserialize(key)).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let node = self.value.take().ok_or_else(|| de::Error::custom("a value without its key"))?;
        at(node.pos, seed.deserialize(Deser(node)))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::Deserialize;
    use serde::de::IgnoredAny;

    use super::from_str;

    #[derive(Debug, Default, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Group {
        #[serde(default)]
        targets: Vec<String>,
        #[serde(default)]
        labels: BTreeMap<String, String>,
    }

    #[derive(Debug, Default, Deserialize, PartialEq)]
    #[serde(default, rename_all = "kebab-case")]
    struct Cluster {
        server: String,
        insecure_skip_tls_verify: bool,
        port: u16,
        weight: f64,
        exec: Option<IgnoredAny>,
    }

    #[test]
    fn scalars_read_as_strings_keep_their_text() {
        let groups: Vec<Option<Group>> = from_str(
            "- targets: [a:9100, 10.0.0.1:80, 9100]\n  labels: {port: 9100, on: yes, x: '1.10', n: ~}\n- ~\n",
        )
        .expect("valid");
        let g = groups[0].as_ref().expect("a group");
        assert_eq!(g.targets, ["a:9100", "10.0.0.1:80", "9100"]);
        let labels: Vec<(&str, &str)> = g.labels.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(labels, [("n", ""), ("on", "yes"), ("port", "9100"), ("x", "1.10")]);
        assert_eq!(groups[1], None, "a null element is None");
        let none: Option<Vec<Group>> = from_str("").expect("empty document");
        assert_eq!(none, None);
        let empty: Vec<Group> = from_str("- targets:\n  labels:\n").expect("nulls are zero values");
        assert_eq!(empty, [Group::default()]);
    }

    #[test]
    fn booleans_numbers_and_anything_are_go_yamls() {
        let c: Cluster =
            from_str("server: https://k:6443\ninsecure-skip-tls-verify: yes\nport: 0x1F\nweight: 1.5e1\nexec: {a: [1]}\n")
                .expect("valid");
        assert_eq!(
            (c.server.as_str(), c.insecure_skip_tls_verify, c.port, c.weight, c.exec.is_some()),
            ("https://k:6443", true, 31, 15.0, true)
        );
        let c: Cluster = from_str("insecure-skip-tls-verify: False\nport: 010\nexec: ~\n").expect("valid");
        assert_eq!((c.insecure_skip_tls_verify, c.port, c.exec.is_some()), (false, 8, false));
        let any: BTreeMap<String, serde_json::Value> =
            from_str("a: 1\nb: true\nc: x\nd: -2.5\ne: '1'\nf: ~\n").expect("valid");
        let json = serde_json::to_string(&any).expect("json");
        assert_eq!(json, r#"{"a":1,"b":true,"c":"x","d":-2.5,"e":"1","f":null}"#);
    }

    #[test]
    fn errors_name_the_line_and_column_of_what_is_wrong() {
        let e = from_str::<Vec<Group>>("- targets: [a]\n  lables: {}\n").expect_err("unknown key");
        assert_eq!(
            e.to_string(),
            "unknown field `lables`, expected `targets` or `labels` at line 2 column 3"
        );
        let e = from_str::<Vec<Group>>("- targets:\n    x: 1\n").expect_err("map for a list");
        assert_eq!(e.to_string(), "invalid type: map, expected a sequence at line 2 column 5");
        let e = from_str::<Vec<Group>>("- targets: [[a]]\n").expect_err("list for a string");
        assert_eq!(e.to_string(), "invalid type: sequence, expected a string at line 1 column 13");
        let e = from_str::<Cluster>("insecure-skip-tls-verify: maybe\n").expect_err("not a boolean");
        assert_eq!(e.to_string(), "invalid type: string \"maybe\", expected a boolean at line 1 column 27");
        let e = from_str::<Cluster>("insecure-skip-tls-verify: 'true'\n").expect_err("quoted");
        assert!(e.to_string().contains("expected a boolean at line 1"), "{e}");
        let e = from_str::<Cluster>("port: 70000\n").expect_err("too big");
        assert!(e.to_string().contains("at line 1 column 7"), "{e}");
        let e = from_str::<Vec<Group>>("- targets: [a\n").expect_err("syntax");
        assert!(e.to_string().contains("at line"), "{e}");
        let e = from_str::<Vec<Group>>("a: 1\na: 2\n").expect_err("duplicate key");
        assert!(e.to_string().starts_with("duplicate key `a`"), "{e}");
    }
}
