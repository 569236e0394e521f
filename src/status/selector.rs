//! PromQL series selectors (`{job="node", instance=~"a.*"}`, optionally after a
//! metric name) as `match_target` takes them: parsed once per request, matched
//! against target labels. Pure; an invalid selector is an error, never a panic.

use crate::model::Labels;

pub struct Matcher {
    name: String,
    op: Op,
    value: String,
    regex: Option<regex_lite::Regex>,
}

#[derive(Clone, Copy, PartialEq)]
enum Op {
    Equal,
    NotEqual,
    Match,
    NotMatch,
}

pub fn matches(matchers: &[Matcher], labels: &Labels) -> bool {
    matchers.iter().all(|m| {
        let value = labels.get(&m.name).unwrap_or("");
        match m.op {
            Op::Equal => value == m.value,
            Op::NotEqual => value != m.value,
            Op::Match => m.regex.as_ref().is_some_and(|r| r.is_match(value)),
            Op::NotMatch => !m.regex.as_ref().is_some_and(|r| r.is_match(value)),
        }
    })
}

pub fn parse(text: &str) -> Result<Vec<Matcher>, String> {
    let mut rest = text.trim();
    let mut out = Vec::new();
    let name_end =
        rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':')).unwrap_or(rest.len());
    if name_end > 0 {
        out.push(matcher("__name__", Op::Equal, &rest[..name_end])?);
        rest = rest[name_end..].trim_start();
    }
    if rest.is_empty() {
        return if out.is_empty() { Err("unexpected end of input".into()) } else { Ok(out) };
    }
    rest = rest.strip_prefix('{').ok_or_else(|| format!("unexpected character {:?}", first(rest)))?;
    loop {
        rest = rest.trim_start();
        if let Some(after) = rest.strip_prefix('}') {
            if !after.trim().is_empty() {
                return Err(format!("unexpected {:?} after the selector", after.trim()));
            }
            break;
        }
        let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(rest.len());
        if end == 0 {
            return Err(format!("unexpected character inside braces: {:?}", first(rest)));
        }
        let name = &rest[..end];
        rest = rest[end..].trim_start();
        let op = [("=~", Op::Match), ("!~", Op::NotMatch), ("!=", Op::NotEqual), ("=", Op::Equal)]
            .into_iter()
            .find(|(s, _)| rest.starts_with(s));
        let Some((symbol, op)) = op else {
            return Err(format!("expected a matcher operator after {name:?}"));
        };
        rest = rest[symbol.len()..].trim_start();
        let (value, after) = string(rest)?;
        out.push(matcher(name, op, &value)?);
        rest = after.trim_start();
        if let Some(after) = rest.strip_prefix(',') {
            rest = after;
        } else if !rest.starts_with('}') {
            return Err("expected \",\" or \"}\" after a matcher".into());
        }
    }
    if out.iter().all(|m| m.matches_empty()) {
        return Err("vector selector must contain at least one non-empty matcher".into());
    }
    Ok(out)
}

fn first(s: &str) -> char {
    s.chars().next().unwrap_or(' ')
}

fn matcher(name: &str, op: Op, value: &str) -> Result<Matcher, String> {
    let regex = match op {
        Op::Match | Op::NotMatch => Some(
            regex_lite::Regex::new(&format!("^(?s:{value})$"))
                .map_err(|e| format!("invalid regular expression {value:?}: {e}"))?,
        ),
        _ => None,
    };
    Ok(Matcher { name: name.to_owned(), op, value: value.to_owned(), regex })
}

impl Matcher {
    fn matches_empty(&self) -> bool {
        matches(std::slice::from_ref(self), &Labels::new())
    }
}

/// A quoted string ("...", '...' or `...`) with Go's escapes; the rest after it.
fn string(text: &str) -> Result<(String, &str), String> {
    let quote = first(text);
    if !['"', '\'', '`'].contains(&quote) {
        return Err("expected a quoted string".into());
    }
    let mut out = String::new();
    let mut chars = text[1..].char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            c if c == quote => return Ok((out, &text[1 + i + 1..])),
            '\\' if quote != '`' => match chars.next().map(|(_, c)| c) {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some('\\') => out.push('\\'),
                Some(c @ ('"' | '\'')) => out.push(c),
                _ => return Err("invalid escape in a string".into()),
            },
            c => out.push(c),
        }
    }
    Err("unterminated quoted string".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matchers_as_promql_reads_them() {
        let labels = Labels::from_pairs([("job", "node"), ("instance", "h1:9100")]);
        for (selector, want) in [
            (r#"{job="node"}"#, true),
            (r#"{job='node', instance=~"h1:.*"}"#, true),
            (r#"{job!="node",instance=~".+"}"#, false),
            (r#"{instance!~"h2.*",job=~`no.e`}"#, true),
            (r#"{job="node",missing=""}"#, true),
            (r#"{instance=~"h1"}"#, false),
            (r#"{job="no\"de"}"#, false),
            ("up", false),
        ] {
            let matchers = parse(selector).unwrap_or_else(|e| panic!("{selector}: {e}"));
            assert_eq!(matches(&matchers, &labels), want, "{selector}");
        }
        for bad in [
            "",
            "{",
            "{job}",
            r#"{job="a""#,
            r#"{job=~"("}"#,
            r#"{job=""}"#,
            r#"{job!="node"}"#,
            r#"{job="a"} x"#,
            "{=\"a\"}",
            r#"{job="\q"}"#,
        ] {
            assert!(parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
