//! The server side of `[web.tls_config]`: one `Arc<rustls::ServerConfig>`
//! (ring provider) from the certificate chain and key files, requiring a
//! client certificate signed by `client_ca_file` when it is set. The PEM
//! loading is the client's (`client::tls`), so errors read the same.

use std::sync::Arc;

use rustls::ServerConfig;
use rustls::crypto::ring;
use rustls::server::WebPkiClientVerifier;

use crate::client::tls::{TlsError, TlsField, ca_roots, certificates, describe, private_key};
use crate::config::{Pem, WebTls};

/// Reads the files now; errors name the file and the field.
pub fn server_config(tls: &WebTls) -> Result<Arc<ServerConfig>, TlsError> {
    let provider = Arc::new(ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError { field: TlsField::Cert, message: format!("tls versions: {e}") })?;
    let builder = match &tls.client_ca_file {
        Some(path) => {
            let ca = Pem::File(path.clone());
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(ca_roots(&ca)?), provider)
                .build()
                .map_err(|e| TlsError {
                    field: TlsField::Ca,
                    message: format!("{}: {e}", describe(&ca, "client_ca")),
                })?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let (cert, key) = (Pem::File(tls.cert_file.clone()), Pem::File(tls.key_file.clone()));
    let config =
        builder.with_single_cert(certificates(&cert, TlsField::Cert)?, private_key(&key)?).map_err(|e| {
            let message = match e {
                rustls::Error::InconsistentKeys(_) => {
                    format!("{} does not fit {}: {e}", describe(&key, "key"), describe(&cert, "cert"))
                }
                e => format!("{}: unusable key: {e}", describe(&key, "key")),
            };
            TlsError { field: TlsField::Key, message }
        })?;
    Ok(Arc::new(config))
}
