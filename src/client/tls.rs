//! TLS for every outgoing connection: a [`TlsConfig`] becomes one
//! `Arc<rustls::ClientConfig>` (ring provider), and [`TlsConnector`] wraps
//! ureq's TCP transport in it, with the configured `server_name` as SNI and
//! as the name verified. PEM files are read once, when the client is built.
//! Handshake errors name the peer, and the CA they were checked against.

use std::fmt;
use std::io::{self, Read, Write};
use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{WebPkiSupportedAlgorithms, ring};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore, StreamOwned};
use ureq::unversioned::transport::{Buffers, ConnectionDetails, Connector, Either, LazyBuffers};
use ureq::unversioned::transport::{NextTimeout, TcpConnector, Transport, TransportAdapter};

use crate::config::{Pem, TlsConfig};

/// Which setting a [`TlsError`] is about, so the configuration can point at it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsField {
    Ca,
    Cert,
    Key,
    ServerName,
}

/// A TLS setting that cannot be used; the message names the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsError {
    pub field: TlsField,
    pub message: String,
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for TlsError {}

/// Builds the rustls client configuration: the CA (else the system roots),
/// the client certificate and key (checked to match), or no verification
/// with `insecure_skip_verify`. Reads the PEM files now.
pub fn rustls_config(tls: &TlsConfig) -> Result<Arc<ClientConfig>, TlsError> {
    let provider = Arc::new(ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError { field: TlsField::Ca, message: format!("tls versions: {e}") })?;
    let builder = if tls.insecure_skip_verify {
        let algorithms = provider.signature_verification_algorithms;
        builder.dangerous().with_custom_certificate_verifier(Arc::new(SkipVerify(algorithms)))
    } else {
        match &tls.ca {
            Some(ca) => builder.with_root_certificates(ca_roots(ca)?),
            None => builder.with_root_certificates(system_roots()),
        }
    };
    let config = match (&tls.cert, &tls.key) {
        (Some(cert), Some(key)) => {
            let chain = certificates(cert, TlsField::Cert)?;
            let key_der = private_key(key)?;
            builder.with_client_auth_cert(chain, key_der).map_err(|e| {
                let message = match e {
                    rustls::Error::InconsistentKeys(_) => {
                        format!("{} does not fit {}: {e}", describe(key, "key"), describe(cert, "cert"))
                    }
                    e => format!("{}: unusable key: {e}", describe(key, "key")),
                };
                TlsError { field: TlsField::Key, message }
            })?
        }
        (None, None) => builder.with_no_client_auth(),
        (Some(cert), None) => {
            let message = format!("{} is set without key_file", describe(cert, "cert"));
            return Err(TlsError { field: TlsField::Cert, message });
        }
        (None, Some(key)) => {
            let message = format!("{} is set without cert_file", describe(key, "key"));
            return Err(TlsError { field: TlsField::Key, message });
        }
    };
    Ok(Arc::new(config))
}

/// A ureq agent that speaks TLS as `tls` says for https URLs (plain TCP for
/// http), with the rest of its behaviour from `config`.
pub fn agent(tls: &TlsConfig, config: ureq::config::Config) -> Result<(ureq::Agent, TlsConnector), TlsError> {
    let connector = TlsConnector::new(tls)?;
    Ok((agent_with(config, connector.clone()), connector))
}

/// An agent with its own connection pool over an existing TLS configuration.
pub fn agent_with(config: ureq::config::Config, tls: TlsConnector) -> ureq::Agent {
    let connector = ().chain(TcpConnector::default()).chain(tls);
    ureq::Agent::with_parts(config, connector, super::resolve::CachingResolver::default())
}

/// Wraps the chained transport in TLS when the URL is https. Clones share the
/// rustls configuration (its roots and keys).
#[derive(Clone)]
pub struct TlsConnector {
    config: Arc<ClientConfig>,
    /// `server_name`, else the URL's host at each connection.
    server_name: Option<ServerName<'static>>,
    /// "ca_file /path" or "system roots", for handshake errors.
    trust: String,
}

impl TlsConnector {
    pub fn new(tls: &TlsConfig) -> Result<Self, TlsError> {
        let server_name = match &tls.server_name {
            Some(name) => Some(ServerName::try_from(name.clone()).map_err(|e| TlsError {
                field: TlsField::ServerName,
                message: format!("server_name {name:?}: {e}"),
            })?),
            None => None,
        };
        let trust = match (&tls.ca, tls.insecure_skip_verify) {
            (_, true) => "no verification (insecure_skip_verify)".to_owned(),
            (Some(ca), false) => describe(ca, "ca"),
            (None, false) => "the system roots".to_owned(),
        };
        Ok(TlsConnector { config: rustls_config(tls)?, server_name, trust })
    }
}

impl fmt::Debug for TlsConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConnector").field("server_name", &self.server_name).finish()
    }
}

impl<In: Transport> Connector<In> for TlsConnector {
    type Out = Either<In, TlsTransport>;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        let Some(transport) = chained else { return Ok(None) };
        if !details.needs_tls() || transport.is_tls() {
            return Ok(Some(Either::A(transport)));
        }
        let peer = details.uri.authority().map_or_else(String::new, |a| a.to_string());
        let name = match &self.server_name {
            Some(name) => name.clone(),
            None => {
                let host = details.uri.host().unwrap_or("").trim_start_matches('[').trim_end_matches(']');
                ServerName::try_from(host.to_owned()).map_err(|e| {
                    ureq::Error::Io(io::Error::other(format!("tls to {peer}: invalid server name: {e}")))
                })?
            }
        };
        let mut conn = ClientConnection::new(self.config.clone(), name.clone())
            .map_err(|e| ureq::Error::Io(io::Error::other(format!("tls to {peer}: {e}"))))?;
        let mut sock = TransportAdapter::new(transport.boxed(), details.current_time.clone());
        sock.set_timeout(details.timeout);
        if let Err(e) = conn.complete_io(&mut sock) {
            return Err(self.handshake_error(&peer, &name, e));
        }
        let buffers =
            LazyBuffers::new(details.config.input_buffer_size(), details.config.output_buffer_size());
        Ok(Some(Either::B(TlsTransport { buffers, stream: StreamOwned { conn, sock }, peer })))
    }
}

impl TlsConnector {
    /// "tls handshake with 127.0.0.1:9443 (server name "x"): invalid peer
    /// certificate: UnknownIssuer (verified against ca_file /etc/ca.pem)".
    /// A ureq error inside (a timeout) passes through as itself.
    fn handshake_error(&self, peer: &str, name: &ServerName, e: io::Error) -> ureq::Error {
        if e.get_ref().is_some_and(|inner| inner.is::<ureq::Error>()) {
            return ureq::Error::from(e);
        }
        let name = match (&self.server_name, name) {
            (Some(_), ServerName::DnsName(dns)) => format!(" (server name {:?})", dns.as_ref()),
            _ => String::new(),
        };
        let trust = match e.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()) {
            Some(rustls::Error::InvalidCertificate(_)) => format!(" (verified against {})", self.trust),
            _ => String::new(),
        };
        ureq::Error::Io(io::Error::new(e.kind(), format!("tls handshake with {peer}{name}: {e}{trust}")))
    }
}

/// An established TLS stream over the chained transport.
pub struct TlsTransport {
    buffers: LazyBuffers,
    stream: StreamOwned<ClientConnection, TransportAdapter>,
    /// host:port, for errors after the handshake (a TLS 1.3 server refuses
    /// a missing client certificate only then).
    peer: String,
}

impl TlsTransport {
    fn error(&self, e: io::Error) -> ureq::Error {
        match e.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()) {
            Some(tls) => ureq::Error::Io(io::Error::new(e.kind(), format!("tls with {}: {tls}", self.peer))),
            None => ureq::Error::from(e),
        }
    }
}

impl Transport for TlsTransport {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        self.stream.get_mut().set_timeout(timeout);
        let output = &self.buffers.output()[..amount];
        let written = self.stream.write_all(output);
        written.map_err(|e| self.error(e))
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        self.stream.get_mut().set_timeout(timeout);
        let input = self.buffers.input_append_buf();
        let amount = match self.stream.read(input) {
            Ok(amount) => amount,
            Err(e) => return Err(self.error(e)),
        };
        self.buffers.input_appended(amount);
        Ok(amount > 0)
    }

    fn is_open(&mut self) -> bool {
        self.stream.get_mut().get_mut().is_open()
    }

    fn is_tls(&self) -> bool {
        true
    }
}

impl fmt::Debug for TlsTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsTransport").field("chained", &self.stream.sock.inner()).finish()
    }
}

/// "ca_file /etc/ca.pem", or "inline ca" for PEM that came as bytes.
pub(crate) fn describe(pem: &Pem, what: &str) -> String {
    match pem {
        Pem::File(path) => format!("{what}_file {}", path.display()),
        Pem::Inline(_) => format!("inline {what}"),
    }
}

fn read(pem: &Pem, field: TlsField, what: &str) -> Result<Vec<u8>, TlsError> {
    match pem {
        Pem::Inline(bytes) => Ok(bytes.clone()),
        Pem::File(path) => std::fs::read(path)
            .map_err(|e| TlsError { field, message: format!("{}: cannot read: {e}", describe(pem, what)) }),
    }
}

/// Every certificate in the PEM text; at least one.
pub(crate) fn certificates(pem: &Pem, field: TlsField) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let what = if field == TlsField::Ca { "ca" } else { "cert" };
    let bytes = read(pem, field, what)?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError { field, message: format!("{}: invalid PEM: {e}", describe(pem, what)) })?;
    if certs.is_empty() {
        let message = format!("{}: no PEM certificate found", describe(pem, what));
        return Err(TlsError { field, message });
    }
    Ok(certs)
}

pub(crate) fn private_key(pem: &Pem) -> Result<PrivateKeyDer<'static>, TlsError> {
    let bytes = read(pem, TlsField::Key, "key")?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| {
        let reason = match e {
            rustls::pki_types::pem::Error::NoItemsFound => {
                "no PEM private key found (PKCS#8, RSA or EC PRIVATE KEY)".to_owned()
            }
            e => format!("invalid PEM: {e}"),
        };
        TlsError { field: TlsField::Key, message: format!("{}: {reason}", describe(pem, "key")) }
    })
}

pub(crate) fn ca_roots(ca: &Pem) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for (i, cert) in certificates(ca, TlsField::Ca)?.into_iter().enumerate() {
        roots.add(cert).map_err(|e| TlsError {
            field: TlsField::Ca,
            message: format!("{}: certificate {}: {e}", describe(ca, "ca"), i + 1),
        })?;
    }
    Ok(roots)
}

/// The system's CA certificates, loaded once per process (as Go does):
/// `SSL_CERT_FILE`, `SSL_CERT_DIR`, else the distribution's bundle. With
/// none found, https to a server without a `ca_file` fails verification,
/// and the handshake error says which roots were used.
/// Every client shares the one store.
fn system_roots() -> Arc<RootCertStore> {
    static ROOTS: OnceLock<Arc<RootCertStore>> = OnceLock::new();
    ROOTS
        .get_or_init(|| {
            let found = rustls_native_certs::load_native_certs();
            for e in &found.errors {
                log::warn!("system CA certificates: {e}");
            }
            let mut roots = RootCertStore::empty();
            let (added, ignored) = roots.add_parsable_certificates(found.certs);
            if ignored > 0 {
                log::debug!("system CA certificates: {added} loaded, {ignored} unusable ones ignored");
            }
            if added == 0 {
                log::warn!(
                    "no system CA certificates found (install ca-certificates, or set tls_config.ca_file)"
                );
            }
            Arc::new(roots)
        })
        .clone()
}

/// `insecure_skip_verify`: any certificate is accepted, but the handshake's
/// signatures are still verified (the peer must hold the certificate's key).
#[derive(Debug)]
struct SkipVerify(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for SkipVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.supported_schemes()
    }
}
