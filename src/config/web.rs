//! The optional `[web]` section: how `listen` is protected, after
//! Prometheus's web configuration file (`tls_server_config`,
//! `basic_auth_users`) and its `--web.enable-lifecycle`,
//! `--web.max-connections` and `--web.read-timeout` flags. Loading reads the
//! certificate files and parses every bcrypt hash, so `outpost check`
//! reports a bad one at its key.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// Defaults for a small device: Prometheus's are 512 connections and 5m.
pub const MAX_CONNECTIONS: usize = 16;
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebConfig {
    /// Serve https with this certificate; `None` serves plain http.
    pub tls: Option<WebTls>,
    /// User name -> bcrypt hash; empty means no authentication.
    pub basic_auth_users: BTreeMap<String, BcryptHash>,
    /// `POST /-/reload` reloads the configuration; without it, 403.
    pub enable_lifecycle: bool,
    /// Connections served at once (at least 1).
    pub max_connections: usize,
    /// A connection's whole exchange, request and answer, must fit in this.
    pub read_timeout: Duration,
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            tls: None,
            basic_auth_users: BTreeMap::new(),
            enable_lifecycle: false,
            max_connections: MAX_CONNECTIONS,
            read_timeout: READ_TIMEOUT,
        }
    }
}

/// `tls_config`: the server's certificate chain and key (PEM files, read
/// again on every reload), and with `client_ca_file` a client certificate
/// signed by one of its CAs is required (Prometheus's
/// `client_auth_type: RequireAndVerifyClientCert`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebTls {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    pub client_ca_file: Option<PathBuf>,
}

/// A bcrypt hash (`$2a$`, `$2b$`, `$2y$`), already checked to parse; never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct BcryptHash(pub String);

impl fmt::Debug for BcryptHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<secret>")
    }
}

pub(super) mod load {
    use std::collections::BTreeMap;
    use std::str::FromStr;

    use toml::Spanned;

    use super::{BcryptHash, WebConfig, WebTls};
    use crate::config::load::{ConfigError, Source};
    use crate::config::schema::RawWeb;

    pub(in crate::config) fn web(src: &Source, raw: &Option<RawWeb>) -> Result<WebConfig, ConfigError> {
        let Some(raw) = raw else { return Ok(WebConfig::default()) };
        let mut web = WebConfig::default();
        if let Some(tls) = &raw.tls_config {
            let tls = tls.get_ref();
            let (Some(cert), Some(key)) = (&tls.cert_file, &tls.key_file) else {
                let at = tls.cert_file.as_ref().or(tls.key_file.as_ref()).or(tls.client_ca_file.as_ref());
                let reason = "web.tls_config needs both cert_file and key_file";
                return Err(src.error(at.map(Spanned::span), reason));
            };
            let path = |value: &Spanned<String>, key: &str| {
                if value.get_ref().is_empty() {
                    return Err(src.at(value, format!("web.tls_config.{key} must not be empty")));
                }
                Ok(src.path(value.get_ref()))
            };
            let built = WebTls {
                cert_file: path(cert, "cert_file")?,
                key_file: path(key, "key_file")?,
                client_ca_file: tls.client_ca_file.as_ref().map(|v| path(v, "client_ca_file")).transpose()?,
            };
            if let Err(e) = crate::web::tls::server_config(&built) {
                let at = match e.field {
                    crate::client::tls::TlsField::Ca => tls.client_ca_file.as_ref().unwrap_or(cert),
                    crate::client::tls::TlsField::Key => key,
                    _ => cert,
                };
                return Err(src.at(at, format!("web.tls_config: {e}")));
            }
            web.tls = Some(built);
        }
        let mut users = BTreeMap::new();
        for (user, hash) in &raw.basic_auth_users {
            if user.get_ref().is_empty() || user.get_ref().contains(':') {
                return Err(src.at(user, "web.basic_auth_users: a user name is not empty and has no ':'"));
            }
            if bcrypt::HashParts::from_str(hash.get_ref()).is_err() {
                let reason = format!(
                    "web.basic_auth_users.{}: not a bcrypt hash (e.g. from `htpasswd -nBC 10 {}`)",
                    user.get_ref(),
                    user.get_ref()
                );
                return Err(src.at(hash, reason));
            }
            users.insert(user.get_ref().clone(), BcryptHash(hash.get_ref().clone()));
        }
        web.basic_auth_users = users;
        web.enable_lifecycle = raw.enable_lifecycle.unwrap_or(false);
        if let Some(max) = &raw.max_connections {
            if *max.get_ref() < 1 {
                return Err(src.at(max, "web.max_connections must be at least 1"));
            }
            web.max_connections = usize::try_from(*max.get_ref()).unwrap_or(usize::MAX);
        }
        if let Some(timeout) = src.duration("web.read_timeout", &raw.read_timeout)? {
            web.read_timeout = timeout;
        }
        Ok(web)
    }
}

#[cfg(test)]
mod tests {
    use crate::config::parse;

    const RW: &str = "[[remote_write]]\nurl = \"http://r:9090/api/v1/write\"\n";
    const HASH: &str = "$2b$10$VYs0pbLqJvob7cWTsB6Eo.mqtA9JTfzQA9GiSgpyHoFbUKsS4fe8u";

    #[test]
    fn web_keys_are_parsed_and_default_without_the_section() {
        let plain = parse(RW, "t.toml").unwrap();
        assert_eq!(plain.web, super::WebConfig::default());
        let text = format!(
            "{RW}[web]\nenable_lifecycle = true\nmax_connections = 4\nread_timeout = \"3s\"\n[web.basic_auth_users]\nops = \"{HASH}\"\n"
        );
        let web = parse(&text, "t.toml").unwrap().web;
        assert!(web.enable_lifecycle);
        assert_eq!((web.max_connections, web.read_timeout), (4, std::time::Duration::from_secs(3)));
        assert_eq!(web.basic_auth_users["ops"].0, HASH);
        assert_eq!(format!("{:?}", web.basic_auth_users["ops"]), "<secret>", "a hash is never printed");
    }

    #[test]
    fn bad_web_keys_are_refused_at_their_position() {
        for (text, want) in [
            (
                "[web.basic_auth_users]\nops = \"secret\"\n",
                "t.toml:4:7: web.basic_auth_users.ops: not a bcrypt hash",
            ),
            ("[web]\nmax_connections = 0\n", "t.toml:4:19: web.max_connections must be at least 1"),
            ("[web]\nread_timeout = \"0s\"\n", "t.toml:4:16: web.read_timeout must be greater than 0"),
            (
                "[web.tls_config]\ncert_file = \"c.pem\"\n",
                "t.toml:4:13: web.tls_config needs both cert_file and key_file",
            ),
            (
                "[web.tls_config]\ncert_file = \"/nonexistent/c.pem\"\nkey_file = \"/nonexistent/k.pem\"\n",
                "t.toml:4:13: web.tls_config: cert_file /nonexistent/c.pem: cannot read",
            ),
            ("[web]\nlisten = \"x\"\n", "t.toml:4:1: unknown key `listen`"),
        ] {
            let e = parse(&format!("{RW}{text}"), "t.toml").unwrap_err().to_string();
            // "file:line:col: key path: reason": the key path (keypath.rs) stands between.
            let (place, reason) = want.split_at(want.find(": ").map_or(0, |i| i + 2));
            assert!(e.starts_with(place) && e.contains(reason), "{text:?}: got {e:?}, want {want:?}");
        }
    }
}
