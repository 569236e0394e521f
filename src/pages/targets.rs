//! `/targets`: per scrape pool, each target's health, last scrape, its
//! duration, last error and labels; as HTML, or as vmagent's plain text.

use std::fmt::Write;
use std::time::SystemTime;

use super::{escape, labels, when, whole};
use crate::status::{Health, Status};

pub fn html(status: &Status, now: SystemTime) -> String {
    status.with_pools(|pools| {
        let mut out = String::new();
        if pools.is_empty() {
            out.push_str("<p>No scrape pools are configured.</p>\n");
        }
        for (job, pool) in pools {
            let up = pool.active.iter().filter(|t| t.health.last.borrow().health == Health::Up).count();
            let _ = writeln!(out, "<h2 id=\"pool-{0}\">{0} ({up}/{1} up)</h2>", escape(job), pool.active.len());
            if pool.active.is_empty() {
                out.push_str("<p>No active targets.</p>\n");
                continue;
            }
            out.push_str("<table>\n<tr><th>Endpoint</th><th>State</th><th>Labels</th><th>Last scrape</th><th>Duration</th><th>Error</th></tr>\n");
            for target in &pool.active {
                let last = target.health.last.borrow();
                let state = last.health.as_str();
                let duration = if last.at.is_some() { whole(last.duration) } else { "-".into() };
                let _ = writeln!(
                    out,
                    "<tr><td>{}</td><td class=\"{state}\">{state}</td><td>{}</td><td>{}</td><td>{duration}</td><td class=\"error\">{}</td></tr>",
                    escape(&target.url),
                    labels(&target.labels),
                    when(last.at, now),
                    escape(&last.error),
                );
            }
            out.push_str("</table>\n");
        }
        out
    })
}

/// vmagent's plain-text `/targets`: one block per pool, one line per target.
pub fn text(status: &Status, now: SystemTime) -> String {
    status.with_pools(|pools| {
        let mut out = String::new();
        for (job, pool) in pools {
            let up = pool.active.iter().filter(|t| t.health.last.borrow().health == Health::Up).count();
            let _ = writeln!(out, "job={job:?} ({up}/{} up)", pool.active.len());
            for target in &pool.active {
                let last = target.health.last.borrow();
                let set: Vec<String> =
                    target.labels.iter().map(|l| format!("{}={:?}", l.name, l.value)).collect();
                let _ = writeln!(
                    out,
                    "\tstate={}, endpoint={}, labels={{{}}}, last_scrape={}, scrape_duration={}, error={}",
                    last.health.as_str(),
                    target.url,
                    set.join(","),
                    when(last.at, now),
                    whole(last.duration),
                    last.error.replace('\n', " "),
                );
            }
            out.push('\n');
        }
        out
    })
}
