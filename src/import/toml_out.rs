//! The TOML the import writes: tables of `key = value` lines (keys before
//! sub-tables, as TOML needs), comments kept in place. Values are quoted here;
//! keys are Prometheus's own names, which are bare TOML keys. Pure.

/// One `[header]` or `[[header]]` table; the root table has no header.
#[derive(Default)]
pub struct Table {
    header: Option<(String, bool)>,
    lines: Vec<String>,
    subs: Vec<Table>,
}

impl Table {
    /// `[name]`, or `[[name]]` with `array`.
    pub fn new(name: &str, array: bool) -> Table {
        Table { header: Some((name.to_string(), array)), ..Table::default() }
    }

    pub fn set(&mut self, key: &str, value: String) {
        self.lines.push(format!("{key} = {value}"));
    }

    /// `key = value  # comment`.
    pub fn set_noted(&mut self, key: &str, value: String, comment: &str) {
        self.lines.push(format!("{key} = {value}  # {comment}"));
    }

    pub fn comment(&mut self, text: &str) {
        for line in text.lines() {
            self.lines.push(format!("# {line}"));
        }
    }

    pub fn sub(&mut self, table: Table) {
        self.subs.push(table);
    }

    pub fn render(&self, out: &mut String) {
        if let Some((name, array)) = &self.header {
            if !out.is_empty() && !out.ends_with("\n\n") {
                out.push('\n');
            }
            let (open, close) = if *array { ("[[", "]]") } else { ("[", "]") };
            out.push_str(&format!("{open}{name}{close}\n"));
        }
        for line in &self.lines {
            out.push_str(line);
            out.push('\n');
        }
        for sub in &self.subs {
            sub.render(out);
        }
    }
}

/// A TOML basic string.
pub fn string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `["a", "b"]`.
pub fn strings(items: &[String]) -> String {
    format!("[{}]", items.iter().map(|s| string(s)).collect::<Vec<_>>().join(", "))
}

/// `{ "k" = v, ... }` of already formatted values; `{}` when empty.
pub fn inline(pairs: &[(String, String)]) -> String {
    if pairs.is_empty() {
        return "{}".into();
    }
    let body = pairs.iter().map(|(k, v)| format!("{} = {v}", string(k))).collect::<Vec<_>>().join(", ");
    format!("{{ {body} }}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_escaped_and_tables_keep_keys_before_sub_tables() {
        assert_eq!(string("a\"b\\c\n\u{1}"), r#""a\"b\\c\n\u0001""#);
        let mut root = Table::default();
        let mut job = Table::new("scrape_configs", true);
        job.set("job_name", string("x"));
        let mut sc = Table::new("scrape_configs.static_configs", true);
        sc.set("targets", strings(&["a:1".into()]));
        job.sub(sc);
        job.set_noted("honor_labels", "true".into(), "why");
        root.sub(job);
        let mut out = String::new();
        root.render(&mut out);
        assert_eq!(
            out,
            "[[scrape_configs]]\njob_name = \"x\"\nhonor_labels = true  # why\n\n[[scrape_configs.static_configs]]\ntargets = [\"a:1\"]\n"
        );
        assert_eq!(inline(&[("a".into(), string("b"))]), "{ \"a\" = \"b\" }");
    }
}
