//! The remote-write POST: the four headers remote write 1.0 requires, the
//! configured extra headers, `remote_timeout`, and the TLS and authorization
//! of the shared HTTP client (`crate::client`). Blocking; the send task runs
//! it through `Offload`.

use std::io::Read;

use bytes::Bytes;

use super::outcome::Answer;
use crate::client::{self, ClientError};
use crate::config::RemoteWrite;

/// How much of an error body is kept for the log (SPEC: "the first 1 KiB").
const MESSAGE_LIMIT: u64 = 1024;

#[derive(Clone)]
pub struct Client {
    client: client::Client,
    url: String,
    headers: Vec<(String, String)>,
    /// "remote_write <name>", for the client's credential log lines.
    context: String,
}

impl Client {
    /// Reads the TLS and credential files `rw` names.
    pub fn new(rw: &RemoteWrite) -> Result<Self, ClientError> {
        Ok(Client {
            client: client::Client::with_idle(
                &rw.http_client,
                rw.remote_timeout,
                rw.queue_config.max_shards,
            )?,
            url: rw.url.clone(),
            headers: rw.headers.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            context: format!("remote_write {}", rw.name),
        })
    }

    pub fn post(&self, payload: Bytes) -> Answer {
        let mut request = self
            .client
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
                // After a 401/403 the credential files are read again for the retry.
                self.client.answered(status, &self.context);
                let retry_after =
                    response.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_owned);
                let mut body = Vec::new();
                if !(200..300).contains(&status) {
                    // A body we cannot read leaves the message empty; the status decides.
                    let _ = response.body_mut().as_reader().take(MESSAGE_LIMIT).read_to_end(&mut body);
                }
                Answer::Status { status, retry_after, message: String::from_utf8_lossy(&body).into_owned() }
            }
            Err(e) => Answer::Transport(client::describe(&e)),
        }
    }
}
