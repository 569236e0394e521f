//! Where an error is, in the configuration's own terms: the key path of the
//! value at a byte offset (`scrape_configs[1] ("node").scrape_interval`,
//! array indices from 0, an entry named by its `job_name`, `name` or `url`),
//! and the nearest known key for an unknown one. Pure.

use std::ops::Range;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// The key path of the innermost key or value of `text` whose span holds
/// `offset`; `None` when `text` is no TOML document or nothing holds it.
pub fn at(text: &str, offset: usize) -> Option<String> {
    let root = DeTable::parse(text).ok()?;
    table(root.get_ref(), offset, "")
}

fn table(t: &DeTable<'_>, offset: usize, prefix: &str) -> Option<String> {
    for (key, value) in t {
        let path =
            if prefix.is_empty() { key.get_ref().to_string() } else { format!("{prefix}.{}", key.get_ref()) };
        if let Some(inner) = value_path(value, offset, &path) {
            return Some(inner);
        }
        if holds(&key.span(), offset) || holds(&value.span(), offset) {
            return Some(path);
        }
    }
    None
}

/// The path below `value` (which is at `path`) that holds `offset`.
fn value_path(value: &Spanned<DeValue<'_>>, offset: usize, path: &str) -> Option<String> {
    match value.get_ref() {
        DeValue::Table(t) => table(t, offset, path),
        DeValue::Array(items) => items.iter().enumerate().find_map(|(i, item)| {
            let here = format!("{path}[{i}]{}", name_of(item.get_ref()));
            value_path(item, offset, &here).or_else(|| holds(&item.span(), offset).then_some(here))
        }),
        _ => None,
    }
}

/// ` ("node")` for an array entry with a `job_name`, `name` or `url`.
fn name_of(value: &DeValue<'_>) -> String {
    let DeValue::Table(t) = value else { return String::new() };
    ["job_name", "name", "url"]
        .iter()
        .find_map(|want| t.iter().find(|(k, _)| k.get_ref() == want).and_then(|(_, v)| v.get_ref().as_str()))
        .map_or_else(String::new, |name| format!(" ({name:?})"))
}

fn holds(span: &Range<usize>, offset: usize) -> bool {
    span.start <= offset && offset < span.end.max(span.start + 1)
}

/// serde's "unknown field `x`, expected one of `a`, `b`" as
/// "unknown key `x`; did you mean `a`?" when a known key is near, else with
/// the known keys listed; any other message unchanged.
pub fn unknown_key(message: &str) -> String {
    let Some(rest) = message.strip_prefix("unknown field `") else { return message.to_string() };
    let Some((unknown, expected)) = rest.split_once('`') else { return message.to_string() };
    let known: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
    match nearest(unknown, &known) {
        Some(near) => format!("unknown key `{unknown}`; did you mean `{near}`?"),
        None if known.is_empty() => format!("unknown key `{unknown}`: this table takes no keys"),
        None => {
            let list = known.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ");
            format!("unknown key `{unknown}`; known keys: {list}")
        }
    }
}

/// The known key nearest to `key` in edit distance, when near enough to be a
/// typo (at most a third of its length, at least 2), or one holding it.
pub fn nearest<'a>(key: &str, known: &[&'a str]) -> Option<&'a str> {
    let limit = (key.chars().count() / 3).max(2);
    let best = known.iter().map(|k| (distance(key, k), *k)).min_by_key(|(d, _)| *d);
    match best {
        Some((d, k)) if d <= limit => Some(k),
        _ => known.iter().copied().find(|k| key.len() >= 4 && (k.contains(key) || key.contains(k))),
    }
}

/// Levenshtein distance in characters.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1).min(row[j] + 1).min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"[global]
scrape_interval = "15s"
[[scrape_configs]]
job_name = "self"
[[scrape_configs]]
job_name = "node"
scrape_interval = "15x"
relabel_configs = [{ action = "keep" }, { regex = "(" }]
[[scrape_configs.static_configs]]
targets = ["a:1"]
[[remote_write]]
url = "http://r/w"
"#;

    fn path_of(needle: &str) -> Option<String> {
        at(TEXT, TEXT.find(needle).expect("needle in text"))
    }

    #[test]
    fn paths_name_the_key_the_index_and_the_entry() {
        assert_eq!(path_of("\"15s\"").as_deref(), Some("global.scrape_interval"));
        assert_eq!(path_of("\"15x\"").as_deref(), Some("scrape_configs[1] (\"node\").scrape_interval"));
        assert_eq!(
            path_of("scrape_interval = \"15x").as_deref(),
            Some("scrape_configs[1] (\"node\").scrape_interval")
        );
        assert_eq!(
            path_of("\"(\"").as_deref(),
            Some("scrape_configs[1] (\"node\").relabel_configs[1].regex")
        );
        assert_eq!(path_of("{ action").as_deref(), Some("scrape_configs[1] (\"node\").relabel_configs[0]"));
        assert_eq!(
            path_of("\"a:1\"").as_deref(),
            Some("scrape_configs[1] (\"node\").static_configs[0].targets[0]")
        );
        assert_eq!(path_of("\"http://r/w\"").as_deref(), Some("remote_write[0] (\"http://r/w\").url"));
        assert_eq!(at("not toml = ", 0), None);
    }

    #[test]
    fn unknown_keys_suggest_the_nearest_known_key() {
        let m = "unknown field `scrape_intervall`, expected one of `scrape_interval`, `scrape_timeout`";
        assert_eq!(unknown_key(m), "unknown key `scrape_intervall`; did you mean `scrape_interval`?");
        let m = "unknown field `target`, expected `targets` or `labels`";
        assert_eq!(unknown_key(m), "unknown key `target`; did you mean `targets`?");
        let m = "unknown field `zzz`, expected `targets` or `labels`";
        assert_eq!(unknown_key(m), "unknown key `zzz`; known keys: `targets`, `labels`");
        assert_eq!(unknown_key("missing field `url`"), "missing field `url`");
        assert_eq!(nearest("timeout", &["remote_timeout", "url"]), Some("remote_timeout"));
        assert_eq!(distance("kitten", "sitting"), 3);
    }
}
