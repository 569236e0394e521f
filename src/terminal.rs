//! `outpost status`: the running agent's `/api/v1/targets` and
//! `/api/v1/status/remote_write` as two tables, for an SSH session without a
//! browser. [`render`] is pure (the answers and `now` in, text out); [`run`]
//! fetches them over plain http with a bounded time.

use std::fmt::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;

/// Where an agent listens when neither `--listen` nor a config says.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9464";
/// A local agent answers in milliseconds; one that does not is not answering.
const TIMEOUT: Duration = Duration::from_secs(5);
/// Longest error text in the table; `--json` has it whole.
const ERROR_WIDTH: usize = 80;

/// Why `outpost status` could not show the agent's status.
#[derive(Debug)]
pub struct StatusError(pub String);

impl std::fmt::Display for StatusError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Fetches both answers from `listen` (host:port); `json` prints them as one
/// JSON object `{"targets": ..., "remoteWrite": ...}` instead of tables.
pub fn run(listen: &str, json: bool) -> Result<String, StatusError> {
    let agent = ureq::Agent::new_with_config(
        ureq::Agent::config_builder().timeout_global(Some(TIMEOUT)).http_status_as_error(false).build(),
    );
    let fetch = |path: &str| -> Result<Value, StatusError> {
        let url = format!("http://{listen}{path}");
        let mut response = agent.get(&url).call().map_err(|e| match e {
            ureq::Error::Io(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => StatusError(format!(
                "nothing listens on {listen} (connection refused): is outpost running, with listen = \"{listen}\"?"
            )),
            e => StatusError(format!("GET {url}: {e}")),
        })?;
        let status = response.status().as_u16();
        let body = response
            .body_mut()
            .with_config()
            .limit(16 << 20)
            .read_to_string()
            .map_err(|e| StatusError(format!("GET {url}: {e}")))?;
        if status == 401 {
            return Err(StatusError(format!("GET {url}: 401: [web.basic_auth_users] protects this agent")));
        }
        if status != 200 {
            return Err(StatusError(format!("GET {url}: {status}: {}", body.trim())));
        }
        let value: Value = serde_json::from_str(&body)
            .map_err(|e| StatusError(format!("GET {url}: not the API's JSON ({e}); is this outpost?")))?;
        Ok(value["data"].clone())
    };
    let (targets, remote_write) = (fetch("/api/v1/targets")?, fetch("/api/v1/status/remote_write")?);
    if json {
        let both = serde_json::json!({ "targets": targets, "remoteWrite": remote_write });
        return Ok(format!("{both:#}\n"));
    }
    Ok(render(&targets, &remote_write, SystemTime::now()))
}

/// The two tables: targets by pool, then queues.
pub fn render(targets: &Value, remote_write: &Value, now: SystemTime) -> String {
    let mut rows = vec![["POOL", "INSTANCE", "HEALTH", "LAST SCRAPE", "ERROR"].map(str::to_owned)];
    let active = targets["activeTargets"].as_array().map(Vec::as_slice).unwrap_or_default();
    for t in active {
        let text = |v: &Value| v.as_str().unwrap_or("").to_owned();
        rows.push([
            text(&t["scrapePool"]),
            text(&t["labels"]["instance"]),
            text(&t["health"]),
            age(t["lastScrape"].as_str(), now),
            clip(t["lastError"].as_str().unwrap_or(""), ERROR_WIDTH),
        ]);
    }
    let mut out = String::new();
    table(&mut out, &rows);
    let dropped = targets["droppedTargetCounts"].as_object();
    let dropped_total: u64 = dropped.map_or(0, |m| m.values().filter_map(Value::as_u64).sum());
    if active.is_empty() {
        out.push_str("(no active targets)\n");
    }
    if dropped_total > 0 {
        let _ = writeln!(out, "{dropped_total} targets dropped by relabeling (see /service-discovery)");
    }
    out.push('\n');
    let mut rows =
        vec![["QUEUE", "STATE", "BACKLOG", "OLDEST UNSENT", "DROPPED", "LAST ERROR"].map(str::to_owned)];
    let queues = remote_write["queues"].as_array().map(Vec::as_slice).unwrap_or_default();
    for q in queues {
        let state = match (q["state"].as_str().unwrap_or(""), q["outageSince"].as_str()) {
            ("outage", Some(since)) => {
                format!("outage since {} ({})", whole_seconds(since), age(Some(since), now))
            }
            (state, _) => state.to_owned(),
        };
        let samples = |place: &str| q[place]["samples"].as_u64().unwrap_or(0);
        let backlog = format!("{} in RAM, {} on disk", samples("memory"), samples("disk"));
        let dropped: u64 =
            q["droppedSamples"].as_object().map_or(0, |m| m.values().filter_map(Value::as_u64).sum());
        let dropped = match q["droppedSamples"].as_object() {
            Some(by) if dropped > 0 => {
                let reasons: Vec<String> = by
                    .iter()
                    .filter(|(_, n)| n.as_u64().unwrap_or(0) > 0)
                    .map(|(reason, n)| format!("{reason} {n}"))
                    .collect();
                reasons.join(", ")
            }
            _ => "0".to_owned(),
        };
        rows.push([
            q["name"].as_str().unwrap_or("").to_owned(),
            state,
            backlog,
            q["oldestUnsentTimestamp"].as_str().map_or("-".to_owned(), |t| age(Some(t), now)),
            dropped,
            clip(q["lastError"].as_str().unwrap_or(""), ERROR_WIDTH),
        ]);
    }
    table(&mut out, &rows);
    if queues.is_empty() {
        out.push_str("(no remote_write queues)\n");
    }
    out
}

/// Columns padded to their widest cell (in characters); the last is not padded.
fn table<const N: usize>(out: &mut String, rows: &[[String; N]]) {
    let mut widths = [0usize; N];
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for row in rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == N {
                line.push_str(cell);
            } else {
                let _ = write!(line, "{cell:<width$}  ", width = widths[i]);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
}

/// "12s ago", "3m4s ago", "never" (Prometheus's zero time), or the text itself if it is no time.
fn age(time: Option<&str>, now: SystemTime) -> String {
    let Some(text) = time else { return "never".into() };
    if text.starts_with("0001-01-01") {
        return "never".into();
    }
    let Some(at) = parse_rfc3339(text) else { return text.to_owned() };
    match now.duration_since(at) {
        Ok(ago) => format!("{} ago", crate::config::duration::format(Duration::from_secs(ago.as_secs()))),
        Err(_) => "just now".into(),
    }
}

/// The time without its fraction of a second: "2026-12-02T18:31:36Z".
fn whole_seconds(text: &str) -> String {
    match parse_rfc3339(text).and_then(|t| t.duration_since(UNIX_EPOCH).ok()) {
        Some(since) => crate::status::rfc3339(Some(UNIX_EPOCH + Duration::from_secs(since.as_secs()))),
        None => text.to_owned(),
    }
}

fn clip(text: &str, width: usize) -> String {
    let line = text.lines().next().unwrap_or("");
    if line.chars().count() <= width && !text.contains('\n') {
        return line.to_owned();
    }
    let mut clipped: String = line.chars().take(width.saturating_sub(1)).collect();
    clipped.push('…');
    clipped
}

/// `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`, as the API writes times.
fn parse_rfc3339(text: &str) -> Option<SystemTime> {
    let b = text.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let num = |range: std::ops::Range<usize>| text.get(range)?.parse::<i64>().ok();
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, m, s) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let mut rest = &text[19..];
    let mut nanos = 0u32;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        let padded = format!("{:0<9}", &frac[..digits.min(9)]);
        nanos = padded.parse().ok()?;
        rest = &frac[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ if rest.len() == 6 => {
            let sign = if rest.starts_with('-') { -1 } else { 1 };
            sign * (rest.get(1..3)?.parse::<i64>().ok()? * 3600 + rest.get(4..6)?.parse::<i64>().ok()? * 60)
        }
        _ => return None,
    };
    // Howard Hinnant's days_from_civil (the inverse of status::rfc3339's).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + h * 3600 + m * 60 + s - offset;
    UNIX_EPOCH.checked_add(Duration::new(u64::try_from(secs).ok()?, nanos))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn times_round_trip_with_the_api_format() {
        for secs in [0u64, 951_782_400, 1_700_000_000, 4_102_444_800] {
            for nanos in [0u32, 5_000_000, 123_456_789] {
                let t = UNIX_EPOCH + Duration::new(secs, nanos);
                let text = crate::status::rfc3339(Some(t));
                assert_eq!(parse_rfc3339(&text), Some(t), "{text}");
            }
        }
        let t = parse_rfc3339("2026-12-02T19:00:00+01:00").unwrap();
        assert_eq!(t, parse_rfc3339("2026-12-02T18:00:00Z").unwrap());
        for bad in ["", "yesterday", "2026-12-02", "2026-12-02T18:00:00", "2026-12-02T18:00:00+1"] {
            assert_eq!(parse_rfc3339(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn tables_show_targets_and_queues_as_a_person_reads_them() {
        let now = parse_rfc3339("2026-12-02T18:00:00Z").unwrap();
        let targets = json!({
            "activeTargets": [
                {"scrapePool": "node", "labels": {"instance": "127.0.0.1:9100"}, "health": "up",
                 "lastScrape": "2026-12-02T17:59:48.5Z", "lastError": ""},
                {"scrapePool": "node", "labels": {"instance": "10.0.0.9:9100"}, "health": "down",
                 "lastScrape": "2026-12-02T17:58:56Z", "lastError": "connection refused\nmore"},
                {"scrapePool": "pods", "labels": {"instance": "p:80"}, "health": "unknown",
                 "lastScrape": "0001-01-01T00:00:00Z", "lastError": ""}
            ],
            "droppedTargets": [],
            "droppedTargetCounts": {"node": 0, "pods": 2}
        });
        let remote_write = json!({"queues": [{
            "name": "global", "state": "outage", "outageSince": "2026-12-02T17:55:00Z",
            "memory": {"samples": 10, "bytes": 100}, "disk": {"samples": 2000, "bytes": 9000},
            "oldestUnsentTimestamp": "2026-12-02T17:54:30Z",
            "droppedSamples": {"too_old": 5, "disk_full": 0}, "lastError": "503 Service Unavailable"
        }]});
        let text = render(&targets, &remote_write, now);
        let want = "\
POOL  INSTANCE        HEALTH   LAST SCRAPE  ERROR
node  127.0.0.1:9100  up       11s ago
node  10.0.0.9:9100   down     1m4s ago     connection refused…
pods  p:80            unknown  never
2 targets dropped by relabeling (see /service-discovery)

QUEUE   STATE                                       BACKLOG                  OLDEST UNSENT  DROPPED    LAST ERROR
global  outage since 2026-12-02T17:55:00Z (5m ago)  10 in RAM, 2000 on disk  5m30s ago      too_old 5  503 Service Unavailable
";
        assert_eq!(text, want, "got:\n{text}");
    }

    #[test]
    fn empty_answers_say_so() {
        let text = render(&json!({"activeTargets": []}), &json!({"queues": []}), SystemTime::now());
        assert!(text.contains("(no active targets)") && text.contains("(no remote_write queues)"), "{text}");
    }
}
