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

/// TOML -> [`HttpClientConfig`]: Prometheus's checks (one auth scheme, one
/// of each inline/file pair, no "basic" authorization type), then every file
/// named is read and used as the client will, so `outpost check` reports an
/// unreadable or invalid one at its key.
pub(super) mod load {
    use std::path::PathBuf;

    use toml::Spanned;

    use super::{Auth, HttpClientConfig, Pem, Secret, TlsConfig};
    use crate::client::{auth, tls};
    use crate::config::load::{ConfigError, Source};
    use crate::config::schema::{RawAuthorization, RawBasicAuth, RawTlsConfig};

    /// The http-client keys of one `scrape_configs` or `remote_write` entry.
    pub struct RawHttpClient<'a> {
        pub basic_auth: &'a Option<Spanned<RawBasicAuth>>,
        pub bearer_token_file: &'a Option<Spanned<String>>,
        pub authorization: &'a Option<Spanned<RawAuthorization>>,
        pub tls_config: &'a Option<Spanned<RawTlsConfig>>,
    }

    pub fn http_client(src: &Source, raw: RawHttpClient) -> Result<HttpClientConfig, ConfigError> {
        let auth = match (raw.basic_auth, raw.bearer_token_file, raw.authorization) {
            (None, None, None) => None,
            (Some(basic), None, None) => Some(basic_auth(src, basic)?),
            (None, Some(file), None) => {
                let credentials = Some(secret(src, None, Some(file), "bearer_token")?.1);
                Some(Auth::Credentials { scheme: "Bearer".into(), credentials })
            }
            (None, None, Some(authorization)) => Some(credentials(src, authorization)?),
            (basic, file, authorization) => {
                // Point at the second one written.
                let mut spans: Vec<_> = [basic.as_ref().map(Spanned::span), file.as_ref().map(Spanned::span)]
                    .into_iter()
                    .chain([authorization.as_ref().map(Spanned::span)])
                    .flatten()
                    .collect();
                spans.sort_by_key(|s| s.start);
                let reason = match (basic, authorization) {
                    (None, Some(_)) => "authorization is not compatible with bearer_token_file",
                    _ => "at most one of basic_auth, bearer_token_file & authorization must be configured",
                };
                return Err(src.error(spans.get(1).cloned(), reason));
            }
        };
        let tls = match raw.tls_config {
            Some(raw) => tls_config(src, raw.get_ref())?,
            None => TlsConfig::default(),
        };
        Ok(HttpClientConfig { auth, tls })
    }

    fn basic_auth(src: &Source, raw: &Spanned<RawBasicAuth>) -> Result<Auth, ConfigError> {
        let b = raw.get_ref();
        let username = match secret(src, b.username.as_ref(), b.username_file.as_ref(), "username")? {
            (true, username) => username,
            (false, _) => Secret::Inline(String::new()),
        };
        let password = match secret(src, b.password.as_ref(), b.password_file.as_ref(), "password")? {
            (true, password) => Some(password),
            (false, _) => None,
        };
        Ok(Auth::Basic { username, password })
    }

    fn credentials(src: &Source, raw: &Spanned<RawAuthorization>) -> Result<Auth, ConfigError> {
        let a = raw.get_ref();
        let scheme = a.r#type.as_ref().map_or("", |t| t.get_ref().trim());
        let scheme = if scheme.is_empty() { "Bearer" } else { scheme };
        if scheme.eq_ignore_ascii_case("basic") {
            let place = a.r#type.as_ref().map_or_else(|| raw.span(), Spanned::span);
            return Err(src.error(
                Some(place),
                "authorization type cannot be set to \"basic\", use \"basic_auth\" instead",
            ));
        }
        if scheme.chars().any(|c| c.is_whitespace() || c.is_control()) {
            let place = a.r#type.as_ref().map_or_else(|| raw.span(), Spanned::span);
            return Err(src.error(Some(place), format!("authorization type {scheme:?}: must be one word")));
        }
        let credentials =
            match secret(src, a.credentials.as_ref(), a.credentials_file.as_ref(), "credentials")? {
                (true, credentials) => Some(credentials),
                (false, _) => None,
            };
        Ok(Auth::Credentials { scheme: scheme.to_owned(), credentials })
    }

    /// `what` or `what_file`, at most one: (whether one was given, the secret).
    /// A file is read now; the error points at its key.
    fn secret(
        src: &Source,
        inline: Option<&Spanned<String>>,
        file: Option<&Spanned<String>>,
        what: &str,
    ) -> Result<(bool, Secret), ConfigError> {
        match (inline, file) {
            (Some(_), Some(file)) => {
                Err(src.at(file, format!("at most one of {what} & {what}_file must be configured")))
            }
            (Some(inline), None) => Ok((true, Secret::Inline(inline.get_ref().clone()))),
            (None, Some(file)) => {
                let secret = Secret::File(path(src, file, &format!("{what}_file"))?);
                auth::read(&secret, what).map_err(|e| src.at(file, e.to_string()))?;
                Ok((true, secret))
            }
            (None, None) => Ok((false, Secret::Inline(String::new()))),
        }
    }

    fn tls_config(src: &Source, raw: &RawTlsConfig) -> Result<TlsConfig, ConfigError> {
        let pem = |inline: &Option<Spanned<String>>, file: &Option<Spanned<String>>, what: &str| match (
            inline, file,
        ) {
            (Some(_), Some(file)) => {
                Err(src.at(file, format!("at most one of {what} & {what}_file must be configured")))
            }
            (Some(inline), None) => Ok(Some(Pem::Inline(inline.get_ref().clone().into_bytes()))),
            (None, Some(file)) => Ok(Some(Pem::File(path(src, file, &format!("{what}_file"))?))),
            (None, None) => Ok(None),
        };
        let tls = TlsConfig {
            ca: pem(&raw.ca, &raw.ca_file, "ca")?,
            cert: pem(&raw.cert, &raw.cert_file, "cert")?,
            key: pem(&raw.key, &raw.key_file, "key")?,
            server_name: raw.server_name.as_ref().map(|n| n.get_ref().clone()),
            insecure_skip_verify: raw.insecure_skip_verify.unwrap_or(false),
        };
        if let Err(e) = tls::TlsConnector::new(&tls) {
            let place = match e.field {
                tls::TlsField::Ca => raw.ca_file.as_ref().or(raw.ca.as_ref()),
                tls::TlsField::Cert => raw.cert_file.as_ref().or(raw.cert.as_ref()),
                tls::TlsField::Key => raw.key_file.as_ref().or(raw.key.as_ref()),
                tls::TlsField::ServerName => raw.server_name.as_ref(),
            };
            return Err(src.error(place.map(Spanned::span), format!("tls_config: {e}")));
        }
        Ok(tls)
    }

    /// A file key's path, relative to the configuration file's directory.
    fn path(src: &Source, value: &Spanned<String>, key: &str) -> Result<PathBuf, ConfigError> {
        if value.get_ref().is_empty() {
            return Err(src.at(value, format!("{key} must not be empty")));
        }
        Ok(src.path(value.get_ref()))
    }
}

#[cfg(test)]
mod tests;
