//! The HTTP client of scrapes and remote write (Prometheus's
//! `http_client_config`): one ureq agent with our TLS, and the
//! `Authorization` header. `Client::new` reads every file the config names;
//! after a 401 or 403 the credential files are read again, so fixing one
//! recovers without a restart. Clones share the agent (its connection pool)
//! and the header: one client per scrape pool, one per remote_write; each
//! scrape loop takes [`Client::own_pool`] of its job's, since ureq finds a kept
//! connection by walking its pool (at 150 targets in one pool, comparing pool
//! keys was 41 % of the process's CPU).

pub mod auth;
pub mod resolve;
pub mod tls;

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use ureq::RequestBuilder;
use ureq::typestate::{WithBody, WithoutBody};

use crate::config::{Auth, HttpClientConfig};
pub use auth::CredentialError;
pub use tls::TlsError;

pub const USER_AGENT: &str = concat!("outpost/", env!("CARGO_PKG_VERSION"));

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientError {
    Tls(TlsError),
    Credentials(CredentialError),
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Tls(e) => write!(f, "tls_config: {e}"),
            ClientError::Credentials(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for ClientError {}

#[derive(Clone)]
pub struct Client {
    agent: ureq::Agent,
    auth: Option<Arc<Authorization>>,
    /// What [`Client::own_pool`] builds another agent from.
    parts: Arc<Parts>,
}

struct Parts {
    config: ureq::config::Config,
    tls: tls::TlsConnector,
}

/// The configured scheme and the header it gave when last read.
struct Authorization {
    source: Auth,
    /// The header value sent; replaced only by a successful re-read.
    current: Mutex<Header>,
}

struct Header {
    value: String,
    /// The last re-read's error, so a repeated failure is logged once.
    error: Option<CredentialError>,
}

/// Bytes each kept connection buffers for reading (the response header must fit).
const INPUT_BUFFER: usize = 20 << 10;
/// Bytes each kept connection buffers for writing.
const OUTPUT_BUFFER: usize = 16 << 10;
/// The longest response header (status line and fields) accepted.
const MAX_RESPONSE_HEADER: usize = 16 << 10;
/// Idle connections one client keeps in all (one per target of a job).
const MAX_IDLE: usize = 4096;

impl Client {
    /// Reads the CA, certificate, key and credential files now; `timeout`
    /// bounds each whole exchange unless a request sets its own.
    pub fn new(config: &HttpClientConfig, timeout: Duration) -> Result<Client, ClientError> {
        Client::with_idle(config, timeout, 2)
    }

    /// As `new`, keeping up to `per_host` idle connections to one host (remote write keeps
    /// one for each shard that may send at once).
    pub fn with_idle(
        config: &HttpClientConfig,
        timeout: Duration,
        per_host: usize,
    ) -> Result<Client, ClientError> {
        let agent_config = ureq::Agent::config_builder()
            // Status codes are answers, not errors: the sender needs the message and Retry-After.
            .http_status_as_error(false)
            // Prometheus too ignores proxy variables unless told.
            .proxy(None)
            .user_agent(USER_AGENT)
            .timeout_global(Some(timeout))
            // ureq's defaults are 128 KiB in and 128 KiB out, zero-filled, for every kept
            // connection: 256 KiB of RSS per scraped target. Bodies stream through the input
            // buffer and requests through the output one in pieces, so small ones cost a few
            // more reads and writes, no size limit; the response header must fit the input
            // buffer, and is bounded below it so its error names the limit (README,
            // troubleshooting).
            .input_buffer_size(INPUT_BUFFER)
            .output_buffer_size(OUTPUT_BUFFER)
            .max_response_header_size(MAX_RESPONSE_HEADER)
            // One client serves every target of a job: ureq's default (10 kept in all) would
            // reconnect all but ten of them at every scrape.
            .max_idle_connections(MAX_IDLE)
            .max_idle_connections_per_host(per_host.max(1))
            .build();
        let (agent, tls) = tls::agent(&config.tls, agent_config.clone()).map_err(ClientError::Tls)?;
        let auth = match &config.auth {
            Some(source) => {
                let value = auth::header_value(source).map_err(ClientError::Credentials)?;
                let current = Mutex::new(Header { value, error: None });
                Some(Arc::new(Authorization { source: source.clone(), current }))
            }
            None => None,
        };
        Ok(Client { agent, auth, parts: Arc::new(Parts { config: agent_config, tls }) })
    }

    /// The same client (configuration, TLS, credentials) with a connection
    /// pool of its own.
    pub fn own_pool(&self) -> Client {
        let agent = tls::agent_with(self.parts.config.clone(), self.parts.tls.clone());
        Client { agent, auth: self.auth.clone(), parts: self.parts.clone() }
    }

    /// Whether `other` is a clone of this client (or one of its [`own_pool`](Client::own_pool)s).
    pub fn same(&self, other: &Client) -> bool {
        Arc::ptr_eq(&self.parts, &other.parts)
    }

    pub fn get(&self, url: &str) -> RequestBuilder<WithoutBody> {
        match self.authorization() {
            Some(value) => self.agent.get(url).header("Authorization", value),
            None => self.agent.get(url),
        }
    }

    pub fn post(&self, url: &str) -> RequestBuilder<WithBody> {
        match self.authorization() {
            Some(value) => self.agent.post(url).header("Authorization", value),
            None => self.agent.post(url),
        }
    }

    /// The `Authorization` header value sent now, if any.
    pub fn authorization(&self) -> Option<String> {
        let auth = self.auth.as_ref()?;
        Some(auth.current.lock().unwrap_or_else(PoisonError::into_inner).value.clone())
    }

    /// Tells the client how a request was answered: after a 401 or 403 the
    /// credential files are read again (blocking file I/O: call it where the
    /// request ran). A file that cannot be read keeps the old credentials;
    /// the error is logged once until it changes, with `context` ("scrape
    /// http://…", "remote_write name") first.
    pub fn answered(&self, status: u16, context: &str) {
        let Some(auth) = self.auth.as_ref().filter(|_| matches!(status, 401 | 403)) else { return };
        if auth::files(&auth.source).is_empty() {
            return;
        }
        let fresh = auth::header_value(&auth.source);
        let mut current = auth.current.lock().unwrap_or_else(PoisonError::into_inner);
        match fresh {
            Ok(value) => {
                if value != current.value {
                    log::info!(
                        "{context}: HTTP {status}; new credentials read from {}",
                        auth::files(&auth.source).join(", ")
                    );
                    current.value = value;
                }
                current.error = None;
            }
            Err(e) => {
                if current.error.as_ref() != Some(&e) {
                    log::error!("{context}: HTTP {status}, and the credentials cannot be re-read: {e}");
                    current.error = Some(e);
                }
            }
        }
    }
}

/// A ureq error as a log reason: I/O errors (TLS ones among them) without
/// ureq's "io: " prefix, since their text already says what failed.
pub fn describe(e: &ureq::Error) -> String {
    match e {
        ureq::Error::Io(io) => io.to_string(),
        e => e.to_string(),
    }
}

#[cfg(test)]
mod tests;
