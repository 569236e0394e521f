//! The import's values: each YAML scalar, list or mapping checked as
//! Prometheus reads it (durations, sizes, integers, go-yaml v2's booleans,
//! labels as written) and written as its TOML value, or an error at its position.

use super::Ctx;
use super::prometheus::{entries, text_of};
use super::toml_out::{Table, inline, string, strings};
use crate::config::{duration, size};
use crate::yaml::{Entry, Node, Value};

impl Ctx<'_> {
    pub(super) fn string(&mut self, t: &mut Table, e: &Entry, path: &str) {
        match &e.value.value {
            Value::Scalar { text, .. } => t.set(&e.key, string(text)),
            Value::Null => {}
            _ => self.error(e.value.pos, path, format!("expected a string, found {}", e.value.kind())),
        }
    }

    /// A file path: a relative one is rebased when the output lives elsewhere.
    pub(super) fn path(&mut self, t: &mut Table, e: &Entry, path: &str) {
        match e.value.text() {
            Some(p) => t.set(&e.key, string(&self.rebase(p))),
            None => self.error(e.value.pos, path, format!("expected a path, found {}", e.value.kind())),
        }
    }

    pub(super) fn duration(&mut self, t: &mut Table, e: &Entry, path: &str) {
        let Some(text) = e.value.text() else {
            return self.error(e.value.pos, path, format!("expected a duration, found {}", e.value.kind()));
        };
        match duration::parse(text) {
            Ok(_) => t.set(&e.key, string(text)),
            Err(err) => self.error(e.value.pos, path, format!("invalid duration {text:?}: {err}")),
        }
    }

    pub(super) fn size(&mut self, t: &mut Table, e: &Entry, path: &str) {
        let Some(text) = e.value.text() else {
            return self.error(e.value.pos, path, format!("expected a size, found {}", e.value.kind()));
        };
        match size::parse(text) {
            Ok(_) => t.set(&e.key, string(text)),
            Err(err) => self.error(e.value.pos, path, format!("invalid size {text:?}: {err}")),
        }
    }

    pub(super) fn integer(&mut self, t: &mut Table, e: &Entry, path: &str) {
        match &e.value.value {
            Value::Scalar { text, plain: true } if text.parse::<i64>().is_ok() => t.set(&e.key, text.clone()),
            _ => self.error(e.value.pos, path, format!("expected an integer, found {:?}", text_of(&e.value))),
        }
    }

    pub(super) fn boolean(&mut self, t: &mut Table, e: &Entry, path: &str) {
        let v = self.bool_value(e, path);
        if !v.is_empty() {
            t.set(&e.key, v);
        }
    }

    /// go-yaml v2's booleans (YAML 1.1): true/false, yes/no, on/off, y/n.
    pub(super) fn bool_value(&mut self, e: &Entry, path: &str) -> String {
        if let Value::Scalar { text, plain: true } = &e.value.value {
            match text.as_str() {
                "true" | "True" | "TRUE" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" | "y" | "Y" => {
                    return "true".into();
                }
                "false" | "False" | "FALSE" | "no" | "No" | "NO" | "off" | "Off" | "OFF" | "n" | "N" => {
                    return "false".into();
                }
                _ => {}
            }
        }
        self.error(e.value.pos, path, format!("expected a boolean, found {:?}", text_of(&e.value)));
        String::new()
    }

    pub(super) fn string_list(&mut self, t: &mut Table, e: &Entry, path: &str, paths: bool) {
        let v = self.list(e, path, paths);
        t.set(&e.key, v);
    }

    /// A sequence of scalars as a TOML array (null is empty).
    pub(super) fn list(&mut self, e: &Entry, path: &str, paths: bool) -> String {
        let mut out = Vec::new();
        match &e.value.value {
            Value::Null => {}
            Value::Seq(items) => {
                for (i, n) in items.iter().enumerate() {
                    match n.text() {
                        Some(s) if paths => out.push(self.rebase(s)),
                        Some(s) => out.push(s.to_string()),
                        None => self.error(
                            n.pos,
                            &format!("{path}[{i}]"),
                            format!("expected a string, found {}", n.kind()),
                        ),
                    }
                }
            }
            _ => self.error(e.value.pos, path, format!("expected a sequence, found {}", e.value.kind())),
        }
        strings(&out)
    }

    /// A mapping of names to scalar values (labels, headers): each value is
    /// its text as written, as go-yaml reads a scalar into a string; null is "".
    pub(super) fn labels(&mut self, t: &mut Table, e: &Entry, path: &str) {
        let mut pairs = Vec::new();
        for f in entries(&e.value) {
            match &f.value.value {
                Value::Scalar { text, .. } => pairs.push((f.key.clone(), string(text))),
                Value::Null => pairs.push((f.key.clone(), string(""))),
                _ => self.error(
                    f.value.pos,
                    &format!("{path}.{}", f.key),
                    format!("a label value must be a string, found {}", f.value.kind()),
                ),
            }
        }
        if !matches!(e.value.value, Value::Map(_) | Value::Null) {
            self.error(e.value.pos, path, format!("expected a mapping, found {}", e.value.kind()));
        }
        t.set(&e.key, inline(&pairs));
    }

    pub(super) fn params(&mut self, t: &mut Table, e: &Entry, path: &str) {
        let mut pairs = Vec::new();
        for f in entries(&e.value) {
            pairs.push((f.key.clone(), self.list(f, &format!("{path}.{}", f.key), false)));
        }
        t.set("params", inline(&pairs));
    }

    /// A mapping with string keys `strs`, path keys `paths` and boolean keys
    /// `bools`, as an inline table; other keys are left out.
    pub(super) fn inline_map(
        &mut self,
        node: &Node,
        path: &str,
        strs: &[&str],
        paths: &[&str],
        bools: &[&str],
    ) -> String {
        let mut pairs = Vec::new();
        for f in entries(node) {
            let p = format!("{path}.{}", f.key);
            let key = f.key.as_str();
            if strs.contains(&key) || paths.contains(&key) {
                match f.value.text() {
                    Some(s) if paths.contains(&key) => pairs.push((f.key.clone(), string(&self.rebase(s)))),
                    Some(s) => pairs.push((f.key.clone(), string(s))),
                    None if f.value.is_null() => {}
                    None => {
                        self.error(f.value.pos, &p, format!("expected a string, found {}", f.value.kind()))
                    }
                }
            } else if bools.contains(&key) {
                let v = self.bool_value(f, &p);
                if !v.is_empty() {
                    pairs.push((f.key.clone(), v));
                }
            } else {
                self.note_left_out(f.key_pos, &p, format!("outpost has no `{key}` here"));
            }
        }
        if !matches!(node.value, Value::Map(_)) {
            self.error(node.pos, path, format!("expected a mapping, found {}", node.kind()));
        }
        inline(&pairs)
    }
}
