//! YAML text -> a tree of [`Node`]s with their positions, as Prometheus's
//! parser (go-yaml) reads it: scalars keep their own text (`regex: true` is
//! "true"), aliases and merge keys (`<<`) are followed, and a document whose
//! aliases expand past [`MAX_NODES`] (a YAML bomb), a duplicate key or a
//! non-scalar key is an error with its position. Events come from saphyr-parser.
//!
//! The tree serves `outpost import` (which walks it), [`de::from_str`] (serde
//! types from it: YAML target files, kubeconfig files) and, the other way,
//! [`emit`] (the YAML of `/api/v1/status/config`).

pub mod de;
pub mod emit;

use saphyr_parser::{Event, Parser, ScalarStyle, Span};
use std::collections::HashMap;
use std::rc::Rc;

/// Nodes a document may hold with its aliases expanded; real configurations
/// have a few thousand.
pub const MAX_NODES: usize = 200_000;
/// Nesting deeper than this is refused (the walks over the tree recurse).
const MAX_DEPTH: usize = 64;

/// 1-based line and column (in characters).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
}

#[derive(Debug)]
pub struct Node {
    pub pos: Pos,
    pub value: Value,
    /// Nodes in this subtree, aliases expanded.
    size: usize,
}

#[derive(Debug)]
pub enum Value {
    /// `~`, `null`, or nothing at all.
    Null,
    /// The scalar's text; `plain` when unquoted (and untagged), so YAML may
    /// read it as a number or boolean.
    Scalar {
        text: String,
        plain: bool,
    },
    Seq(Vec<Rc<Node>>),
    Map(Vec<Entry>),
}

#[derive(Debug)]
pub struct Entry {
    pub key: String,
    pub key_pos: Pos,
    pub value: Rc<Node>,
}

#[derive(Debug, PartialEq, Eq)]
pub struct Error {
    pub pos: Pos,
    pub reason: String,
}

impl Node {
    /// A node built from others (Helm values turned into a Prometheus file).
    pub fn new(pos: Pos, value: Value) -> Rc<Node> {
        let size = 1 + match &value {
            Value::Seq(items) => items.iter().map(|n| n.size).sum(),
            Value::Map(entries) => entries.iter().map(|e| e.value.size).sum(),
            _ => 0,
        };
        Rc::new(Node { pos, value, size })
    }

    /// The entry `key` of a mapping.
    pub fn get(&self, key: &str) -> Option<&Entry> {
        match &self.value {
            Value::Map(entries) => entries.iter().find(|e| e.key == key),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self.value, Value::Null)
    }

    /// The scalar's text.
    pub fn text(&self) -> Option<&str> {
        match &self.value {
            Value::Scalar { text, .. } => Some(text),
            _ => None,
        }
    }

    /// What the node is, for messages.
    pub fn kind(&self) -> &'static str {
        match &self.value {
            Value::Null => "null",
            Value::Scalar { .. } => "a scalar",
            Value::Seq(_) => "a sequence",
            Value::Map(_) => "a mapping",
        }
    }
}

fn pos(span: &Span) -> Pos {
    Pos { line: span.start.line(), col: span.start.col() + 1 }
}

fn error(pos: Pos, reason: impl Into<String>) -> Error {
    Error { pos, reason: reason.into() }
}

enum Frame {
    Seq {
        pos: Pos,
        anchor: usize,
        items: Vec<Rc<Node>>,
        size: usize,
    },
    Map {
        pos: Pos,
        anchor: usize,
        entries: Vec<Entry>,
        /// The pending key, its position, and whether it is a merge key (`<<`, plain).
        key: Option<(String, Pos, bool)>,
        merges: Vec<Rc<Node>>,
        size: usize,
    },
}

/// Parses the first document of `text`; an empty document is `Null`.
pub fn parse(text: &str) -> Result<Rc<Node>, Error> {
    let mut anchors: HashMap<usize, Rc<Node>> = HashMap::new();
    let mut stack: Vec<Frame> = Vec::new();
    let mut root: Option<Rc<Node>> = None;
    let mut total = 0usize;
    let mut documents = 0;
    for event in Parser::new_from_str(text) {
        let (event, span) = event.map_err(|e| {
            let m = e.marker();
            error(Pos { line: m.line(), col: m.col() + 1 }, e.info().to_string())
        })?;
        let at = pos(&span);
        let node = match event {
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > 1 {
                    return Err(error(at, "a second YAML document: Prometheus reads one"));
                }
                continue;
            }
            Event::SequenceStart(anchor, _) => {
                stack.push(Frame::Seq { pos: at, anchor, items: Vec::new(), size: 1 });
                check_depth(&stack, at)?;
                continue;
            }
            Event::MappingStart(anchor, _) => {
                stack.push(Frame::Map {
                    pos: at,
                    anchor,
                    entries: Vec::new(),
                    key: None,
                    merges: Vec::new(),
                    size: 1,
                });
                check_depth(&stack, at)?;
                continue;
            }
            Event::SequenceEnd => match stack.pop() {
                Some(Frame::Seq { pos, anchor, items, size }) => {
                    remember(&mut anchors, anchor, Node { pos, value: Value::Seq(items), size })
                }
                _ => return Err(error(at, "unbalanced sequence")),
            },
            Event::MappingEnd => match stack.pop() {
                Some(Frame::Map { pos, anchor, mut entries, merges, size, .. }) => {
                    let size = merge(&mut entries, &merges, size, at)?;
                    remember(&mut anchors, anchor, Node { pos, value: Value::Map(entries), size })
                }
                _ => return Err(error(at, "unbalanced mapping")),
            },
            Event::Scalar(text, style, anchor, tag) => {
                let tagged_str = tag.as_ref().is_some_and(|t| t.is_yaml_core_schema() && t.suffix == "str");
                let plain = style == ScalarStyle::Plain && !tagged_str;
                let value = if plain && matches!(text.as_ref(), "" | "~" | "null" | "Null" | "NULL") {
                    Value::Null
                } else {
                    Value::Scalar { text: text.into_owned(), plain }
                };
                remember(&mut anchors, anchor, Node { pos: at, value, size: 1 })
            }
            Event::Alias(id) => match anchors.get(&id) {
                Some(node) => node.clone(),
                None => return Err(error(at, "alias to an unknown anchor")),
            },
            _ => continue,
        };
        total = total.saturating_add(node.size);
        if total > MAX_NODES {
            return Err(error(
                at,
                format!("the document expands to more than {MAX_NODES} nodes (aliases): refused"),
            ));
        }
        match stack.last_mut() {
            None => root = Some(node),
            Some(Frame::Seq { items, size, .. }) => {
                *size += node.size;
                items.push(node);
            }
            Some(Frame::Map { entries, key, merges, size, .. }) => {
                *size += node.size;
                match key.take() {
                    None => {
                        let (name, merge) = match &node.value {
                            Value::Scalar { text, plain } => (text.clone(), *plain && text == "<<"),
                            Value::Null => (String::new(), false),
                            _ => {
                                return Err(error(
                                    node.pos,
                                    format!("a mapping key must be a scalar, not {}", node.kind()),
                                ));
                            }
                        };
                        *key = Some((name, node.pos, merge));
                    }
                    // go-yaml merges at a plain `<<` only; a quoted one is a key like any other.
                    Some((_, _, true)) => merges.push(node),
                    Some((name, key_pos, false)) => {
                        if let Some(first) = entries.iter().find(|e| e.key == name) {
                            return Err(error(
                                key_pos,
                                format!(
                                    "duplicate key `{name}` (first at {}:{})",
                                    first.key_pos.line, first.key_pos.col
                                ),
                            ));
                        }
                        entries.push(Entry { key: name, key_pos, value: node });
                    }
                }
            }
        }
    }
    Ok(root.unwrap_or_else(|| Rc::new(Node { pos: Pos { line: 1, col: 1 }, value: Value::Null, size: 1 })))
}

fn check_depth(stack: &[Frame], at: Pos) -> Result<(), Error> {
    if stack.len() > MAX_DEPTH {
        return Err(error(at, format!("nested deeper than {MAX_DEPTH} levels: refused")));
    }
    Ok(())
}

fn remember(anchors: &mut HashMap<usize, Rc<Node>>, anchor: usize, node: Node) -> Rc<Node> {
    let node = Rc::new(node);
    if anchor != 0 {
        anchors.insert(anchor, node.clone());
    }
    node
}

/// go-yaml's merge: the keys of each `<<` mapping (or of each mapping in a
/// `<<` sequence, the earlier first) that the mapping lacks are added.
fn merge(entries: &mut Vec<Entry>, merges: &[Rc<Node>], mut size: usize, at: Pos) -> Result<usize, Error> {
    for source in merges {
        let maps: Vec<&Rc<Node>> = match &source.value {
            Value::Map(_) => vec![source],
            Value::Seq(items) => items.iter().collect(),
            _ => return Err(error(source.pos, "a merge key (<<) needs a mapping or a sequence of mappings")),
        };
        for map in maps {
            let Value::Map(from) = &map.value else {
                return Err(error(map.pos, "a merge key (<<) needs a mapping or a sequence of mappings"));
            };
            for e in from {
                if !entries.iter().any(|have| have.key == e.key) {
                    size = size.saturating_add(e.value.size);
                    entries.push(Entry { key: e.key.clone(), key_pos: e.key_pos, value: e.value.clone() });
                }
            }
        }
    }
    if size > MAX_NODES {
        return Err(error(
            at,
            format!("the document expands to more than {MAX_NODES} nodes (aliases): refused"),
        ));
    }
    Ok(size)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scalar(n: &Node) -> (&str, bool) {
        match &n.value {
            Value::Scalar { text, plain } => (text, *plain),
            other => panic!("not a scalar: {other:?}"),
        }
    }

    #[test]
    fn scalars_keep_their_text_and_positions() {
        let doc = parse("a: true\nb: '1.10'\nc: 0x10\nd:\ne: ~\n").expect("valid");
        assert_eq!(scalar(&doc.get("a").unwrap().value), ("true", true));
        assert_eq!(scalar(&doc.get("b").unwrap().value), ("1.10", false));
        assert_eq!(scalar(&doc.get("c").unwrap().value), ("0x10", true));
        assert!(doc.get("d").unwrap().value.is_null());
        assert!(doc.get("e").unwrap().value.is_null());
        assert_eq!(doc.get("c").unwrap().key_pos, Pos { line: 3, col: 1 });
        assert_eq!(doc.get("c").unwrap().value.pos, Pos { line: 3, col: 4 });
    }

    #[test]
    fn anchors_aliases_and_merge_keys_are_followed() {
        let doc = parse("base: &b {x: 1, y: 2}\nother: &o {z: 3}\nm:\n  <<: [*b, *o]\n  y: 9\nn: *b\n")
            .expect("valid");
        let m = &doc.get("m").unwrap().value;
        assert_eq!(scalar(&m.get("y").unwrap().value).0, "9", "the mapping's own key wins");
        assert_eq!(scalar(&m.get("x").unwrap().value).0, "1");
        assert_eq!(scalar(&m.get("z").unwrap().value).0, "3");
        assert_eq!(scalar(&doc.get("n").unwrap().value.get("y").unwrap().value).0, "2");
        let quoted = parse("\"<<\": 1\n'<<': 2\n").expect_err("a quoted << is a key, here twice");
        assert!(quoted.reason.starts_with("duplicate key `<<`"), "{quoted:?}");
        let quoted = parse("\"<<\": plain text\n").expect("a quoted << is a key");
        assert_eq!(scalar(&quoted.get("<<").unwrap().value).0, "plain text");
    }

    #[test]
    fn bad_documents_are_errors_with_their_position() {
        let bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n";
        let e = parse(bomb).expect_err("bomb");
        assert!(e.reason.contains("more than 200000 nodes"), "{e:?}");
        assert_eq!(e.pos.line, 5, "refused where the count passes the limit");
        let e = parse("a: 1\nb: 2\na: 3\n").expect_err("duplicate");
        assert_eq!(
            e,
            Error { pos: Pos { line: 3, col: 1 }, reason: "duplicate key `a` (first at 1:1)".into() }
        );
        let e = parse("a:\n\tb: 1\n").expect_err("tab");
        assert_eq!(e.pos.line, 2, "{e:?}");
        let e = parse("? [a]\n: 1\n").expect_err("sequence key");
        assert!(e.reason.contains("must be a scalar"), "{e:?}");
        assert!(parse("a: *nope\n").is_err());
        assert!(parse("a: 1\n---\nb: 2\n").expect_err("two").reason.contains("second YAML document"));
        assert!(parse(&"[".repeat(100)).expect_err("deep").reason.contains("nested deeper"));
    }
}
