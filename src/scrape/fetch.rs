//! The scrape's HTTP GET through ureq: blocking, run through `Offload`.
//! Content negotiation: OpenMetrics 1.0 preferred, text 0.0.4 accepted; the
//! answer's `Content-Type` picks the parser.
//! The body lands in a buffer the loop hands over and gets back, so a steady
//! target costs no allocation per scrape.

use std::io::Read;

use crate::client::{self, Client};
use crate::parse::{self, Format};
use std::time::Duration;

#[derive(Clone, Debug, PartialEq)]
pub enum FetchError {
    Status(u16),
    Transport(String),
    Body(String),
    BodySizeLimit(u64),
}

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FetchError::Status(s) => write!(f, "server returned HTTP status {s}"),
            FetchError::Transport(e) => write!(f, "{e}"),
            FetchError::Body(e) => write!(f, "read body: {e}"),
            FetchError::BodySizeLimit(limit) => write!(f, "body size limit exceeded ({limit} bytes)"),
        }
    }
}

/// GETs `url` into `body` (cleared first) within `timeout`, with the job's
/// TLS and authorization. A gzip body is decompressed on the way;
/// `body_size_limit` (0 = none) bounds the decompressed size, as in Prometheus.
pub fn fetch(
    client: &Client,
    url: &str,
    timeout: Duration,
    body_size_limit: u64,
    body: &mut Vec<u8>,
) -> Result<Format, FetchError> {
    body.clear();
    let mut response = client
        .get(url)
        .header("Accept", parse::ACCEPT)
        .header("X-Prometheus-Scrape-Timeout-Seconds", format!("{}", timeout.as_secs_f64()))
        .config()
        .timeout_global(Some(timeout))
        .build()
        .call()
        .map_err(|e| FetchError::Transport(client::describe(&e)))?;
    let status = response.status().as_u16();
    if status != 200 {
        // After a 401/403 the credential files are read again for the next scrape.
        client.answered(status, &format!("scrape {url}"));
        return Err(FetchError::Status(status));
    }
    let content_type = response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
    let format = Format::from_content_type(content_type);
    let limit = if body_size_limit == 0 { u64::MAX } else { body_size_limit };
    let mut reader = response.body_mut().as_reader().take(limit.saturating_add(1));
    reader.read_to_end(body).map_err(|e| FetchError::Body(e.to_string()))?;
    if body.len() as u64 > limit {
        return Err(FetchError::BodySizeLimit(limit));
    }
    Ok(format)
}
