//! Prometheus's `<http_client_config>` as outpost has it: one authorization
//! scheme at most, and the TLS settings. Shared by `scrape_configs` and
//! `remote_write` (and the Kubernetes API client, which builds `TlsConfig`
//! from a kubeconfig's inline PEM). Relative paths are already resolved
//! against the configuration file's directory, as Prometheus does.

use std::fmt;
use std::path::PathBuf;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HttpClientConfig {
    /// At most one scheme (validated as Prometheus validates it).
    pub auth: Option<Auth>,
    pub tls: TlsConfig,
}

/// The `Authorization` header a client sends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Auth {
    /// `basic_auth`: `Basic base64(username:password)`.
    Basic { username: Secret, password: Option<Secret> },
    /// `authorization` (and `bearer_token_file`, which is `Bearer` from a
    /// file): `<scheme> <credentials>`; `scheme` is never "basic".
    Credentials { scheme: String, credentials: Option<Secret> },
}

/// A credential: in the configuration, or read from a file (trimmed of
/// surrounding whitespace, as Prometheus reads it).
#[derive(Clone, PartialEq, Eq)]
pub enum Secret {
    Inline(String),
    File(PathBuf),
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Secret::Inline(_) => f.write_str("Inline(<secret>)"),
            Secret::File(path) => f.debug_tuple("File").field(path).finish(),
        }
    }
}

/// Prometheus's `<tls_config>`. With no `ca`, the system's roots verify the server.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsConfig {
    /// CA certificates (PEM) that replace the system roots.
    pub ca: Option<Pem>,
    /// Client certificate chain (PEM) for mutual TLS; set together with `key`.
    pub cert: Option<Pem>,
    /// The client certificate's private key: PKCS#8, PKCS#1 (RSA) or SEC1 (EC) PEM.
    pub key: Option<Pem>,
    /// Sent as SNI and verified against the server's certificate instead of the URL's host.
    pub server_name: Option<String>,
    /// Accept any server certificate (handshake signatures are still checked).
    pub insecure_skip_verify: bool,
}

/// PEM text: a file read when the client is built, or bytes already in hand.
#[derive(Clone, PartialEq, Eq)]
pub enum Pem {
    File(PathBuf),
    Inline(Vec<u8>),
}

impl fmt::Debug for Pem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pem::File(path) => f.debug_tuple("File").field(path).finish(),
            Pem::Inline(bytes) => write!(f, "Inline({} bytes)", bytes.len()),
        }
    }
}
