//! Real TLS and basic auth for end-to-end tests: a CA and a 127.0.0.1 server certificate
//! made by rcgen and written as PEM files; Prometheus and node_exporter started with an
//! exporter-toolkit `--web.config.file` (tls_server_config, basic_auth_users); and an https
//! client with the same CA and credentials for their APIs.

use std::fs;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use outpost::client::Client;
use outpost::config::{Auth, HttpClientConfig, Pem, Secret, TlsConfig};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};

use super::{Child, READY_WITHIN, TempDir, clip, free_port, poll_until, program, url_encode};

/// The one user the web configs accept.
pub const USER: &str = "outpost";
pub const PASSWORD: &str = "edge-secret";
/// bcrypt (cost 10) of [`PASSWORD`], made once with Python's bcrypt package:
/// `python3 -c "import bcrypt; print(bcrypt.hashpw(b'edge-secret', bcrypt.gensalt(rounds=10)).decode())"`
/// (`htpasswd -nbBC 10 outpost edge-secret` gives an equivalent `$2y$` hash).
pub const PASSWORD_BCRYPT: &str = "$2b$10$VYs0pbLqJvob7cWTsB6Eo.mqtA9JTfzQA9GiSgpyHoFbUKsS4fe8u";

/// A CA and a server certificate for 127.0.0.1 and localhost signed by it, as PEM files.
pub struct Pki {
    dir: TempDir,
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
    /// A second CA that signed nothing here: the wrong CA for these servers.
    pub other_ca: PathBuf,
}

impl Pki {
    pub fn new() -> Pki {
        let dir = TempDir::new("pki");
        let ca_key = KeyPair::generate().expect("ca key");
        let params_ca = ca_params("outpost test CA");
        let ca_cert = params_ca.self_signed(&ca_key).expect("ca cert");
        let issuer = Issuer::new(params_ca, ca_key);
        let key = KeyPair::generate().expect("server key");
        let params =
            CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).expect("params");
        let cert = params.signed_by(&key, &issuer).expect("server cert");
        let other_key = KeyPair::generate().expect("other ca key");
        let other = ca_params("another CA").self_signed(&other_key).expect("other ca");
        let write = |name: &str, pem: String| {
            let path = dir.path().join(name);
            fs::write(&path, pem).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
            path
        };
        Pki {
            ca: write("ca.pem", ca_cert.pem()),
            cert: write("server.pem", cert.pem()),
            key: write("server.key", key.serialize_pem()),
            other_ca: write("other-ca.pem", other.pem()),
            dir,
        }
    }

    /// exporter-toolkit's web config: TLS with this server certificate, basic auth for [`USER`].
    pub fn web_config(&self) -> String {
        format!(
            "tls_server_config:\n  cert_file: {}\n  key_file: {}\nbasic_auth_users:\n  {USER}: {PASSWORD_BCRYPT}\n",
            self.cert.display(),
            self.key.display()
        )
    }

    /// An https client that trusts this CA and sends [`USER`]'s credentials.
    pub fn client(&self) -> Client {
        let config = HttpClientConfig {
            auth: Some(Auth::Basic {
                username: Secret::Inline(USER.to_owned()),
                password: Some(Secret::Inline(PASSWORD.to_owned())),
            }),
            tls: TlsConfig { ca: Some(Pem::File(self.ca.clone())), ..TlsConfig::default() },
        };
        Client::new(&config, Duration::from_secs(10)).expect("https client")
    }

    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }
}

fn ca_params(name: &str) -> CertificateParams {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
    params.distinguished_name.push(rcgen::DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
}

/// Prometheus as a remote-write receiver behind TLS and basic auth (`--web.config.file`);
/// ready once /-/ready answers 200 over https with the credentials.
pub fn start_prometheus_web(pki: &Pki) -> Child {
    let (dir, port) = (TempDir::new("prometheus-web"), free_port());
    let config = dir.path().join("prometheus.yml");
    fs::write(&config, "global:\n  evaluation_interval: 1m\n").expect("write prometheus.yml");
    let web = dir.path().join("web.yml");
    fs::write(&web, pki.web_config()).expect("write web.yml");
    let mut command = Command::new(program(&["prometheus"]));
    command
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg(format!("--web.config.file={}", web.display()))
        .arg("--web.enable-remote-write-receiver");
    let mut child = Child::spawn("prometheus", command, dir, port);
    wait_ready_https(&mut child, pki, "/-/ready");
    child
}

/// node_exporter serving /metrics over TLS with basic auth (`--web.config.file`).
pub fn start_node_exporter_web(pki: &Pki) -> Child {
    let (dir, port) = (TempDir::new("node-exporter-web"), free_port());
    let web = dir.path().join("web.yml");
    fs::write(&web, pki.web_config()).expect("write web.yml");
    let mut command = Command::new(program(&["prometheus-node-exporter", "node_exporter"]));
    command
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg(format!("--web.config.file={}", web.display()))
        .arg("--no-collector.systemd");
    let mut child = Child::spawn("node_exporter", command, dir, port);
    wait_ready_https(&mut child, pki, "/metrics");
    child
}

fn wait_ready_https(child: &mut Child, pki: &Pki, path: &str) {
    let client = pki.client();
    let port = child.port;
    let what = format!("https://127.0.0.1:{port}{path} answers 200");
    poll_until(READY_WITHIN, &what, || {
        child.assert_running();
        match https_get(&client, port, path)? {
            (200, _) => Ok(()),
            (status, body) => Err(format!("status {status}: {}", clip(&body))),
        }
    });
}

/// `GET https://127.0.0.1:port/path` with `client`: (status, body).
pub fn https_get(client: &Client, port: u16, path: &str) -> Result<(u16, String), String> {
    let url = format!("https://127.0.0.1:{port}{path}");
    let mut response = client.get(&url).call().map_err(|e| format!("GET {url}: {e}"))?;
    let status = response.status().as_u16();
    let body = response.body_mut().read_to_string().map_err(|e| format!("GET {url}: body: {e}"))?;
    Ok((status, body))
}

/// [`super::query`] over https: `data.result` of `promql`, or an `Err` naming the failure.
pub fn https_query(client: &Client, port: u16, promql: &str) -> Result<Vec<serde_json::Value>, String> {
    let (status, body) = https_get(client, port, &format!("/api/v1/query?query={}", url_encode(promql)))?;
    if status != 200 {
        return Err(format!("query {promql}: status {status}: {}", clip(&body)));
    }
    let json: serde_json::Value =
        serde_json::from_str(&body).map_err(|e| format!("query {promql}: {e}: {}", clip(&body)))?;
    match json["data"]["result"].as_array() {
        Some(result) if json["status"] == "success" => Ok(result.clone()),
        _ => Err(format!("query {promql}: unexpected answer {}", clip(&body))),
    }
}
