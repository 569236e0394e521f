//! Pages for a person, rendered on the server from [`Status`] [pure: the
//! status and `now` in, a page out]: `/` (version, uptime, configuration
//! file, each queue at a glance), `/targets`, `/service-discovery` and
//! `/remote-write`. One small inline stylesheet, no script and no external
//! asset. `/targets` is plain text unless the client asks for HTML (as vmagent).

mod discovery;
mod queues;
mod targets;

use std::fmt::Write;
use std::time::{Duration, SystemTime};

use crate::config::duration;
use crate::status::Status;
use crate::web::{Request, Response};

/// The page for `request`, or `None` when it is no page's path.
pub fn answer(request: &Request, status: &Status, now: SystemTime) -> Option<Response> {
    let path = request.path.as_str();
    if !matches!(path, "/" | "/targets" | "/service-discovery" | "/remote-write") {
        return None;
    }
    if !matches!(request.method.as_str(), "GET" | "HEAD") {
        return Some(Response::text(405, "method not allowed\n"));
    }
    Some(match path {
        "/targets" if !request.accepts_html() => Response::text(200, targets::text(status, now)),
        "/targets" => html(page("Targets", path, &targets::html(status, now))),
        "/service-discovery" => html(page("Service discovery", path, &discovery::html(status))),
        "/remote-write" => html(page("Remote write", path, &queues::html(status, now))),
        _ => html(page("outpost", path, &home(status, now))),
    })
}

fn html(body: String) -> Response {
    Response::new(200, "text/html; charset=utf-8", body)
}

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:0 1.5em 2em;color:#222}
nav{padding:.6em 0;border-bottom:1px solid #ccc;margin-bottom:1em}nav a{margin-right:1.2em}
nav a.here{font-weight:bold;text-decoration:none;color:#222}
table{border-collapse:collapse;margin:.4em 0 1.2em}th,td{border:1px solid #ddd;padding:.25em .5em;text-align:left;vertical-align:top}
th{background:#f3f3f3}.up{color:#176f2c;font-weight:bold}.down,.outage{color:#b00020;font-weight:bold}
.unknown,.draining{color:#8a6100;font-weight:bold}.healthy{color:#176f2c;font-weight:bold}
.labels span{display:inline-block;background:#eef;border-radius:3px;padding:0 .3em;margin:.1em;font-family:monospace;font-size:12px}
.error{color:#b00020;font-family:monospace}.rule{font-family:monospace}h2{margin-top:1.2em}";

/// The frame of every page: title, navigation (the current page marked), `body`.
fn page(title: &str, current: &str, body: &str) -> String {
    let mut out = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{} - outpost</title><style>{STYLE}</style></head><body>\n<nav>",
        escape(title)
    );
    for (href, name) in [
        ("/", "outpost"),
        ("/targets", "Targets"),
        ("/service-discovery", "Service discovery"),
        ("/remote-write", "Remote write"),
    ] {
        let class = if href == current { " class=\"here\"" } else { "" };
        let _ = write!(out, "<a href=\"{href}\"{class}>{name}</a>");
    }
    let _ = write!(out, "</nav>\n<h1>{}</h1>\n{body}</body></html>\n", escape(title));
    out
}

/// `/`: what runs, since when, from which file, and each queue's health.
fn home(status: &Status, now: SystemTime) -> String {
    let mut out = String::from("<table>\n");
    let started = status.started.get();
    let uptime = started.and_then(|s| now.duration_since(s).ok()).map_or("-".to_owned(), whole);
    let config = status.config().map_or("-".to_owned(), |c| c.origin.clone());
    let reload = match status.last_config() {
        Some((at, true)) => format!("successful, {}", when(Some(at), now)),
        Some((at, false)) => format!(
            "<span class=\"down\">failed</span> {} (the previous configuration runs)",
            when(Some(at), now)
        ),
        None => "-".to_owned(),
    };
    let rows = [
        ("Version", escape(env!("CARGO_PKG_VERSION"))),
        ("Started", format!("{} (up {uptime})", started.map_or("-".to_owned(), stamp))),
        ("Configuration file", escape(&config)),
        ("Last configuration load", reload),
    ];
    for (name, value) in rows {
        let _ = writeln!(out, "<tr><th>{name}</th><td>{value}</td></tr>");
    }
    out.push_str("</table>\n");
    let (up, down, unknown) = status.with_pools(|pools| {
        let mut counts = (0, 0, 0);
        for target in pools.values().flat_map(|p| &p.active) {
            match target.health.last.borrow().health {
                crate::status::Health::Up => counts.0 += 1,
                crate::status::Health::Down => counts.1 += 1,
                crate::status::Health::Unknown => counts.2 += 1,
            }
        }
        counts
    });
    let _ = writeln!(
        out,
        "<h2>Targets</h2><p><a href=\"/targets\"><span class=\"up\">{up} up</span>, <span class=\"down\">{down} down</span>, <span class=\"unknown\">{unknown} unknown</span></a></p>"
    );
    out.push_str("<h2>Remote write</h2>\n");
    out.push_str(&queues::summary(status, now));
    out
}

/// A time to the second, UTC: "2026-12-02T18:38:14Z".
fn stamp(t: SystemTime) -> String {
    let secs = t.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    crate::status::rfc3339(Some(std::time::UNIX_EPOCH + Duration::from_secs(secs)))
}

/// "12s ago" (or "in 3s" for a time ahead, "never" for none).
fn when(t: Option<SystemTime>, now: SystemTime) -> String {
    match t {
        None => "never".into(),
        Some(t) => match now.duration_since(t) {
            Ok(ago) => format!("{} ago", whole(ago)),
            Err(ahead) => format!("in {}", whole(ahead.duration())),
        },
    }
}

/// A duration in whole seconds, Prometheus-style ("1h2m3s"); under a second in ms.
fn whole(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        return duration::format(Duration::from_millis(d.as_millis() as u64));
    }
    duration::format(Duration::from_secs(d.as_secs()))
}

/// Text for HTML content and attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A label set as small boxes `name="value"`.
fn labels(labels: &crate::model::Labels) -> String {
    let mut out = String::from("<div class=\"labels\">");
    for label in labels.iter() {
        let _ = write!(out, "<span>{}=\"{}\"</span>", escape(&label.name), escape(&label.value));
    }
    out.push_str("</div>");
    out
}

#[cfg(test)]
mod tests;
