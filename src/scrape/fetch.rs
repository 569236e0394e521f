//! The scrape's HTTP GET through ureq: blocking, run through `Offload`.
//! The body lands in a buffer the loop hands over and gets back, so a steady
//! target costs no allocation per scrape.

use std::io::Read;
use std::time::Duration;

/// Text format 0.0.4, as Prometheus asks for it when OpenMetrics is off.
const ACCEPT: &str = "text/plain;version=0.0.4;q=1,*/*;q=0.1";

#[derive(Clone, Debug, PartialEq)]
pub enum FetchError {
    Status(u16),
    Transport(String),
    Body(String),
}

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FetchError::Status(s) => write!(f, "server returned HTTP status {s}"),
            FetchError::Transport(e) => write!(f, "{e}"),
            FetchError::Body(e) => write!(f, "read body: {e}"),
        }
    }
}

/// GETs `url` into `body` (cleared first) within `timeout`.
pub fn fetch(
    agent: &ureq::Agent,
    url: &str,
    timeout: Duration,
    body: &mut Vec<u8>,
) -> Result<(), FetchError> {
    body.clear();
    let mut response = agent
        .get(url)
        .header("Accept", ACCEPT)
        .header("X-Prometheus-Scrape-Timeout-Seconds", format!("{}", timeout.as_secs_f64()))
        .config()
        .timeout_global(Some(timeout))
        .build()
        .call()
        .map_err(|e| FetchError::Transport(e.to_string()))?;
    let status = response.status().as_u16();
    if status != 200 {
        return Err(FetchError::Status(status));
    }
    response.body_mut().as_reader().read_to_end(body).map_err(|e| FetchError::Body(e.to_string()))?;
    Ok(())
}
