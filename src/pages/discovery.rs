//! `/service-discovery`: per scrape pool, each discovered label set against
//! the labels it became, and every dropped one with the rule that dropped it.

use std::fmt::Write;

use super::{escape, labels};
use crate::status::Status;

pub fn html(status: &Status) -> String {
    let config = status.config();
    status.with_pools(|pools| {
        let mut out = String::new();
        for (job, pool) in pools {
            let rules = config
                .as_ref()
                .and_then(|c| c.scrape_configs.iter().find(|sc| sc.job_name == *job))
                .map(|sc| sc.relabel_configs.as_slice())
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "<h2>{}</h2><p>{} active, {} dropped{}</p>",
                escape(job),
                pool.active.len(),
                pool.dropped_total,
                if pool.dropped.len() < pool.dropped_total {
                    format!(" (the first {} are kept: keep_dropped_targets)", pool.dropped.len())
                } else {
                    String::new()
                }
            );
            if pool.active.is_empty() && pool.dropped.is_empty() {
                continue;
            }
            out.push_str("<table>\n<tr><th>Discovered labels</th><th>Target labels</th></tr>\n");
            for target in &pool.active {
                let _ = writeln!(
                    out,
                    "<tr><td>{}</td><td>{}</td></tr>",
                    labels(&target.discovered),
                    labels(&target.labels)
                );
            }
            for dropped in &pool.dropped {
                let why = match &dropped.cause {
                    Ok(index) => match rules.get(*index) {
                        Some(rule) => {
                            let shown = crate::status::config::rule_json(rule);
                            format!(
                                "Dropped by relabel_configs[{index}]: <span class=\"rule\">{}</span>",
                                escape(&rule_text(&shown))
                            )
                        }
                        None => format!("Dropped by relabel_configs[{index}]"),
                    },
                    Err(reason) => format!("Dropped: {}", escape(reason)),
                };
                let _ = writeln!(
                    out,
                    "<tr><td>{}</td><td class=\"down\">{why}</td></tr>",
                    labels(&dropped.discovered)
                );
            }
            out.push_str("</table>\n");
        }
        out
    })
}

/// A string as TOML writes it: literal ('...') when it has a backslash, as
/// regexes do, so `127\.0` reads as written; arrays of strings the same way.
fn toml_value(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) if s.contains('\\') && !s.contains('\'') => format!("'{s}'"),
        serde_json::Value::Array(items) => {
            format!("[{}]", items.iter().map(toml_value).collect::<Vec<_>>().join(", "))
        }
        v => v.to_string(),
    }
}

/// A rule as its configuration reads: `action = "drop", source_labels = ["__address__"], regex = "..."`.
pub(super) fn rule_text(rule: &serde_json::Value) -> String {
    let Some(fields) = rule.as_object() else { return rule.to_string() };
    let order = ["action", "source_labels", "separator", "regex", "modulus", "target_label", "replacement"];
    let mut parts = Vec::new();
    for key in order {
        let Some(value) = fields.get(key) else { continue };
        // Defaults a person did not write are left out.
        let default = matches!(
            (key, value.as_str()),
            ("separator", Some(";")) | ("replacement", Some("$1")) | ("regex", Some("(.*)"))
        );
        if !default {
            parts.push(format!("{key} = {}", toml_value(value)));
        }
    }
    parts.join(", ")
}
