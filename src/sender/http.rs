//! The remote-write POST through ureq: the four headers remote write 1.0
//! requires, the configured extra headers, `remote_timeout`. Blocking; the
//! send task runs it through `Offload`.

use std::io::Read;
use std::time::Duration;

use bytes::Bytes;

use super::outcome::Answer;
use crate::config::RemoteWrite;

pub const USER_AGENT: &str = concat!("outpost/", env!("CARGO_PKG_VERSION"));

/// How much of an error body is kept for the log (SPEC: "the first 1 KiB").
const MESSAGE_LIMIT: u64 = 1024;

#[derive(Clone)]
pub struct Client {
    agent: ureq::Agent,
    url: String,
    headers: Vec<(String, String)>,
}

impl Client {
    pub fn new(rw: &RemoteWrite) -> Self {
        Client {
            agent: agent(rw.remote_timeout),
            url: rw.url.clone(),
            headers: rw.headers.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        }
    }

    pub fn post(&self, payload: Bytes) -> Answer {
        let mut request = self
            .agent
            .post(&self.url)
            .header("Content-Encoding", "snappy")
            .header("Content-Type", "application/x-protobuf")
            .header("X-Prometheus-Remote-Write-Version", "0.1.0");
        for (name, value) in &self.headers {
            request = request.header(name, value);
        }
        match request.send(&payload[..]) {
            Ok(mut response) => {
                let status = response.status().as_u16();
                let retry_after =
                    response.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_owned);
                let mut body = Vec::new();
                if !(200..300).contains(&status) {
                    // A body we cannot read leaves the message empty; the status decides.
                    let _ = response.body_mut().as_reader().take(MESSAGE_LIMIT).read_to_end(&mut body);
                }
                Answer::Status { status, retry_after, message: String::from_utf8_lossy(&body).into_owned() }
            }
            Err(e) => Answer::Transport(e.to_string()),
        }
    }
}

/// A ureq agent as outpost uses it: status codes are answers, not errors (the
/// sender needs the message and `Retry-After`); no proxy from the environment
/// (Prometheus too ignores it unless told); one budget for the whole exchange.
pub fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .proxy(None)
        .user_agent(USER_AGENT)
        .timeout_global(Some(timeout))
        .max_idle_connections_per_host(2)
        .build()
        .into()
}
