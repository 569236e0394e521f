//! The client against an in-process rustls server on 127.0.0.1, with
//! certificates made here by rcgen: server name, CA, client certificates in
//! each key form, mismatched key, expired certificate, each auth header.

use super::*;
use crate::config::{Pem, Secret, TlsConfig};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, ServerConnection, StreamOwned};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::mpsc;

const RSA_KEY: &str = include_str!("../../tests/fixtures/tls/client-rsa.key");
const RSA_PK8: &str = include_str!("../../tests/fixtures/tls/client-rsa.pk8");
const EC_SEC1_KEY: &str = include_str!("../../tests/fixtures/tls/client-ec-sec1.key");
const EC_SEC1_PK8: &str = include_str!("../../tests/fixtures/tls/client-ec-sec1.pk8");

struct Ca {
    cert: String,
    issuer: Issuer<'static, KeyPair>,
}

fn ca(name: &str) -> Ca {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
    params.distinguished_name.push(rcgen::DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let key = KeyPair::generate().expect("key");
    let cert = params.self_signed(&key).expect("ca").pem();
    Ca { cert, issuer: Issuer::new(params, key) }
}

/// A leaf for `names`, signed by `ca`; `expired` puts its validity in the past.
fn leaf(ca: &Ca, names: &[&str], key: &impl rcgen::PublicKeyData, expired: bool) -> String {
    let mut params =
        CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).expect("params");
    if expired {
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = rcgen::date_time_ymd(2021, 1, 1);
    }
    params.signed_by(key, &ca.issuer).expect("leaf").pem()
}

/// A temporary directory for PEM and credential files, removed on drop.
struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        let path = std::env::temp_dir().join(format!("outpost-client-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&path).expect("dir");
        Dir(path)
    }

    fn file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, text).expect("write");
        path
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What the server saw of one connection: the SNI name and the Authorization header, or the TLS error.
type Seen = Result<(Option<String>, Option<String>), String>;

/// The Authorization header the next connection carried.
fn authorization(seen: &mpsc::Receiver<Seen>) -> Result<Option<String>, String> {
    seen.recv().expect("served").map(|(_, authorization)| authorization)
}

/// Serves `connections` connections over TLS with `cert`/`key`, answering
/// each request with `status`; with `client_ca`, a client certificate
/// signed by it is required.
fn serve(
    cert: &str,
    key: &KeyPair,
    client_ca: Option<&str>,
    status: u16,
    connections: usize,
) -> (u16, mpsc::Receiver<Seen>) {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("versions");
    let builder = match client_ca {
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            roots.add(CertificateDer::from_pem_slice(ca.as_bytes()).expect("ca pem")).expect("root");
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .expect("verifier");
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let chain = vec![CertificateDer::from_pem_slice(cert.as_bytes()).expect("cert pem")];
    let key = PrivateKeyDer::from_pem_slice(key.serialize_pem().as_bytes()).expect("key pem");
    let config = Arc::new(builder.with_single_cert(chain, key).expect("server config"));
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for _ in 0..connections {
            let Ok((tcp, _)) = listener.accept() else { return };
            tcp.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
            let conn = ServerConnection::new(config.clone()).expect("connection");
            let mut tls = StreamOwned::new(conn, tcp);
            let _ = tx.send(answer(&mut tls, status));
        }
    });
    (port, rx)
}

fn answer(tls: &mut StreamOwned<ServerConnection, std::net::TcpStream>, status: u16) -> Seen {
    let mut request = Vec::new();
    let mut chunk = [0u8; 4096];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < 65536 {
        match tls.read(&mut chunk) {
            Ok(0) => return Err("closed".into()),
            Ok(n) => request.extend_from_slice(&chunk[..n]),
            Err(e) => return Err(e.to_string()),
        }
    }
    let text = String::from_utf8_lossy(&request);
    let authorization = text
        .lines()
        .find_map(|l| l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case("authorization")))
        .map(|(_, v)| v.trim().to_owned());
    let response = format!("HTTP/1.1 {status} X\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
    tls.write_all(response.as_bytes()).map_err(|e| e.to_string())?;
    tls.conn.send_close_notify();
    let _ = tls.flush();
    Ok((tls.conn.server_name().map(str::to_owned), authorization))
}

fn client(tls: TlsConfig, auth: Option<Auth>) -> Client {
    Client::new(&HttpClientConfig { auth, tls }, Duration::from_secs(5)).expect("client")
}

/// GETs https://127.0.0.1:port/ and gives the status or the error text.
fn get(client: &Client, port: u16) -> Result<u16, String> {
    match client.get(&format!("https://127.0.0.1:{port}/")).call() {
        Ok(response) => Ok(response.status().as_u16()),
        Err(e) => Err(describe(&e)),
    }
}

fn with_ca(dir: &Dir, ca: &Ca) -> TlsConfig {
    TlsConfig { ca: Some(Pem::File(dir.file("ca.pem", &ca.cert))), ..TlsConfig::default() }
}

#[test]
fn server_name_is_sent_and_verified_instead_of_the_host() {
    let (dir, ca) = (Dir::new("sni"), ca("test ca"));
    let key = KeyPair::generate().expect("key");
    let cert = leaf(&ca, &["edge.example"], &key, false);
    let (port, seen) = serve(&cert, &key, None, 200, 2);

    let named = TlsConfig { server_name: Some("edge.example".into()), ..with_ca(&dir, &ca) };
    assert_eq!(get(&client(named, None), port), Ok(200));
    assert_eq!(seen.recv().expect("served"), Ok((Some("edge.example".into()), None)), "SNI");

    let err = get(&client(with_ca(&dir, &ca), None), port).expect_err("127.0.0.1 is not in the certificate");
    assert!(
        err.starts_with(&format!("tls handshake with 127.0.0.1:{port}: invalid peer certificate")),
        "{err}"
    );
    assert!(err.contains("not valid for name \"127.0.0.1\""), "{err}");
}

#[test]
fn a_server_not_signed_by_the_ca_is_refused_and_the_ca_file_named() {
    let (dir, ca, other) = (Dir::new("wrongca"), ca("test ca"), ca("other ca"));
    let key = KeyPair::generate().expect("key");
    let (port, _seen) = serve(&leaf(&ca, &["127.0.0.1"], &key, false), &key, None, 200, 2);

    let tls = with_ca(&dir, &other);
    let ca_path = match &tls.ca {
        Some(Pem::File(path)) => path.display().to_string(),
        _ => unreachable!(),
    };
    let err = get(&client(tls.clone(), None), port).expect_err("wrong CA");
    assert!(err.contains("UnknownIssuer"), "{err}");
    assert!(err.ends_with(&format!("(verified against ca_file {ca_path})")), "{err}");

    // insecure_skip_verify accepts it.
    let skip = TlsConfig { insecure_skip_verify: true, ..tls };
    assert_eq!(get(&client(skip, None), port), Ok(200));
}

#[test]
fn an_expired_server_certificate_is_refused() {
    let (dir, ca) = (Dir::new("expired"), ca("test ca"));
    let key = KeyPair::generate().expect("key");
    let (port, _seen) = serve(&leaf(&ca, &["127.0.0.1"], &key, true), &key, None, 200, 1);
    let err = get(&client(with_ca(&dir, &ca), None), port).expect_err("expired");
    assert!(err.starts_with(&format!("tls handshake with 127.0.0.1:{port}:")), "{err}");
    assert!(err.contains("expired"), "{err}");
}

#[test]
fn client_certificates_in_each_key_form_are_accepted_and_required() {
    let (dir, ca, client_ca) = (Dir::new("mtls"), ca("test ca"), ca("client ca"));
    let key = KeyPair::generate().expect("key");
    let (port, seen) = serve(&leaf(&ca, &["127.0.0.1"], &key, false), &key, Some(&client_ca.cert), 200, 4);

    // ECDSA P-256 in PKCS#8 (rcgen's own), SEC1 and RSA PKCS#1 keys.
    let pkcs8 = KeyPair::generate().expect("key");
    let forms = [
        ("pkcs8", leaf(&client_ca, &["client"], &pkcs8, false), pkcs8.serialize_pem()),
        (
            "sec1",
            leaf(&client_ca, &["client"], &KeyPair::from_pem(EC_SEC1_PK8).expect("ec pkcs8"), false),
            EC_SEC1_KEY.to_owned(),
        ),
        (
            "rsa",
            leaf(
                &client_ca,
                &["client"],
                &KeyPair::from_pem_and_sign_algo(RSA_PK8, &rcgen::PKCS_RSA_SHA256).expect("rsa pkcs8"),
                false,
            ),
            RSA_KEY.to_owned(),
        ),
    ];
    for (form, cert, key) in forms {
        let tls = TlsConfig {
            cert: Some(Pem::File(dir.file(&format!("{form}.crt"), &cert))),
            key: Some(Pem::File(dir.file(&format!("{form}.key"), &key))),
            ..with_ca(&dir, &ca)
        };
        assert_eq!(get(&client(tls, None), port), Ok(200), "{form}");
        assert_eq!(authorization(&seen), Ok(None), "{form}");
    }

    // Without one, the server refuses the connection.
    let err = get(&client(with_ca(&dir, &ca), None), port).expect_err("no client certificate");
    assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");
    assert!(err.contains("CertificateRequired") || err.contains("HandshakeFailure"), "{err}");
    assert!(seen.recv().expect("served").is_err());
}

#[test]
fn inline_pem_works_as_files_do() {
    let ca = ca("test ca");
    let key = KeyPair::generate().expect("key");
    let (port, _seen) = serve(&leaf(&ca, &["127.0.0.1"], &key, false), &key, None, 200, 1);
    let tls = TlsConfig { ca: Some(Pem::Inline(ca.cert.clone().into_bytes())), ..TlsConfig::default() };
    assert_eq!(get(&client(tls, None), port), Ok(200));
}

#[test]
fn unusable_tls_files_are_named() {
    let (dir, ca) = (Dir::new("badfiles"), ca("test ca"));
    let key = KeyPair::generate().expect("key");
    let other_key = KeyPair::generate().expect("key");
    let cert = dir.file("client.crt", &leaf(&ca, &["client"], &key, false));
    let wrong_key = dir.file("wrong.key", &other_key.serialize_pem());
    let not_pem = dir.file("notes.txt", "hello\n");
    let missing = Path::new("/nonexistent/outpost/ca.pem").to_path_buf();
    let cases = [
        (
            TlsConfig { ca: Some(Pem::File(missing)), ..TlsConfig::default() },
            tls::TlsField::Ca,
            "ca_file /nonexistent/outpost/ca.pem: cannot read: ",
        ),
        (
            TlsConfig { ca: Some(Pem::File(not_pem.clone())), ..TlsConfig::default() },
            tls::TlsField::Ca,
            "no PEM certificate found",
        ),
        (
            TlsConfig {
                cert: Some(Pem::File(cert.clone())),
                key: Some(Pem::File(not_pem)),
                ..TlsConfig::default()
            },
            tls::TlsField::Key,
            "no PEM private key found",
        ),
        (
            TlsConfig {
                cert: Some(Pem::File(cert.clone())),
                key: Some(Pem::File(wrong_key.clone())),
                ..TlsConfig::default()
            },
            tls::TlsField::Key,
            "does not fit cert_file",
        ),
        (
            TlsConfig { cert: Some(Pem::File(cert)), ..TlsConfig::default() },
            tls::TlsField::Cert,
            "without key_file",
        ),
        (
            TlsConfig { server_name: Some("bad name!".into()), ..TlsConfig::default() },
            tls::TlsField::ServerName,
            "server_name \"bad name!\"",
        ),
    ];
    for (config, field, want) in cases {
        let err = tls::TlsConnector::new(&config).expect_err(want);
        assert_eq!(err.field, field, "{err}");
        assert!(err.message.contains(want), "{err} lacks {want:?}");
    }
    let err = tls::rustls_config(&TlsConfig {
        cert: Some(Pem::File(dir.0.join("client.crt"))),
        key: Some(Pem::File(wrong_key.clone())),
        ..TlsConfig::default()
    })
    .expect_err("mismatch");
    assert!(
        err.message.starts_with(&format!("key_file {} does not fit cert_file", wrong_key.display())),
        "{err}"
    );
}

#[test]
fn each_auth_scheme_sends_its_header_and_a_401_rereads_the_file() {
    let (dir, ca) = (Dir::new("auth"), ca("test ca"));
    let key = KeyPair::generate().expect("key");
    let (port, seen) = serve(&leaf(&ca, &["127.0.0.1"], &key, false), &key, None, 401, 4);

    let basic = Auth::Basic {
        username: Secret::Inline("edge".into()),
        password: Some(Secret::File(dir.file("password", "old\n"))),
    };
    let c = client(with_ca(&dir, &ca), Some(basic));
    assert_eq!(get(&c, port), Ok(401));
    assert_eq!(authorization(&seen), Ok(Some("Basic ZWRnZTpvbGQ=".into())));
    // A 401 with the file unchanged, then fixed: the next request carries the new password.
    c.answered(401, "test");
    dir.file("password", "new\n");
    c.answered(401, "test");
    assert_eq!(get(&c, port), Ok(401));
    assert_eq!(authorization(&seen), Ok(Some("Basic ZWRnZTpuZXc=".into())));
    // An unreadable file keeps the credentials last read.
    std::fs::remove_file(dir.0.join("password")).expect("rm");
    c.answered(403, "test");
    assert_eq!(c.authorization().as_deref(), Some("Basic ZWRnZTpuZXc="));

    let bearer = Auth::Credentials {
        scheme: "Bearer".into(),
        credentials: Some(Secret::File(dir.file("token", "t0k\n"))),
    };
    assert_eq!(get(&client(with_ca(&dir, &ca), Some(bearer)), port), Ok(401));
    assert_eq!(authorization(&seen), Ok(Some("Bearer t0k".into())));

    let custom =
        Auth::Credentials { scheme: "Token".into(), credentials: Some(Secret::Inline("abc".into())) };
    assert_eq!(get(&client(with_ca(&dir, &ca), Some(custom)), port), Ok(401));
    assert_eq!(authorization(&seen), Ok(Some("Token abc".into())));
}

#[test]
fn an_unreadable_credential_file_fails_the_client() {
    let auth = Auth::Credentials {
        scheme: "Bearer".into(),
        credentials: Some(Secret::File("/nonexistent/outpost/token".into())),
    };
    let err = Client::new(
        &HttpClientConfig { auth: Some(auth), tls: TlsConfig::default() },
        Duration::from_secs(1),
    )
    .err()
    .expect("unreadable");
    assert!(
        err.to_string().starts_with("credentials_file /nonexistent/outpost/token: cannot read:"),
        "{err}"
    );
}

#[test]
fn without_a_ca_the_system_roots_verify_the_server() {
    let ca = ca("test ca");
    let key = KeyPair::generate().expect("key");
    let (port, _seen) = serve(&leaf(&ca, &["127.0.0.1"], &key, false), &key, None, 200, 1);
    let err = get(&client(TlsConfig::default(), None), port).expect_err("a test CA is no system root");
    assert!(err.ends_with("UnknownIssuer (verified against the system roots)"), "{err}");
}

/// A plain HTTP/1.1 server answering 200 with keep-alive on every request
/// until its connection closes; sends each accepted connection's number and
/// each request's `Authorization` header.
fn keep_alive_server(connections: usize) -> (u16, mpsc::Receiver<(usize, Option<String>)>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for n in 0..connections {
            let Ok((mut stream, _)) = listener.accept() else { return };
            stream.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
            let tx = tx.clone();
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                for _ in 0..100 {
                    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                        match stream.read(&mut chunk) {
                            Ok(0) | Err(_) => return,
                            Ok(k) => buf.extend_from_slice(&chunk[..k]),
                        }
                        continue;
                    };
                    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
                    buf.drain(..end + 4);
                    let auth = head
                        .lines()
                        .find_map(|l| l.strip_prefix("authorization: ").or(l.strip_prefix("Authorization: ")))
                        .map(str::to_owned);
                    let _ = tx.send((n, auth));
                    if stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok").is_err() {
                        return;
                    }
                }
            });
        }
    });
    (port, rx)
}

#[test]
fn own_pool_keeps_its_own_connections_and_the_jobs_credentials() {
    let (port, seen) = keep_alive_server(4);
    let auth = Auth::Credentials { scheme: "Bearer".into(), credentials: Some(Secret::Inline("t0k".into())) };
    let job = client(TlsConfig::default(), Some(auth));
    let url = format!("http://127.0.0.1:{port}/metrics");
    let next = || seen.recv_timeout(Duration::from_secs(5)).expect("a request");
    for _ in 0..2 {
        job.get(&url).call().expect("job client").into_body().read_to_string().expect("body");
    }
    assert_eq!(next(), (0, Some("Bearer t0k".into())));
    assert_eq!(next().0, 0, "the job's client keeps its connection");
    let mine = job.own_pool();
    assert!(mine.same(&job) && job.same(&mine.clone()));
    assert!(!mine.same(&client(TlsConfig::default(), None)), "another client is not the same");
    for _ in 0..2 {
        mine.get(&url).call().expect("own pool").into_body().read_to_string().expect("body");
    }
    assert_eq!(next(), (1, Some("Bearer t0k".into())), "a connection of its own, the job's credentials");
    assert_eq!(next().0, 1, "kept in its own pool");
}
