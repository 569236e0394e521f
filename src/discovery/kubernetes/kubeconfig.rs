//! Where the API server is and how to prove who we are: a kubeconfig file
//! (K3s writes /etc/rancher/k3s/k3s.yaml with the CA, an ECDSA P-256 client
//! certificate and its key inline, base64), the in-cluster service account,
//! or `api_server` with the job's own settings. [`parse`] is pure; [`load`]
//! and [`in_cluster`] read the files. They are called again after a 401/403
//! and on reload, so rotated certificates and tokens are picked up.

use std::fmt;
use std::path::{Path, PathBuf};

use base64::Engine;
use serde::Deserialize;
use serde::de::IgnoredAny;

use crate::config::{Auth, HttpClientConfig, Pem, Secret, TlsConfig};

/// The service account's files in a pod (client-go's rest.InClusterConfig).
pub const SERVICE_ACCOUNT_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// An API server and the client settings to reach it.
#[derive(Clone, Debug, PartialEq)]
pub struct Endpoint {
    /// `https://host:port`, without a trailing slash.
    pub server: String,
    pub http: HttpClientConfig,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KubeconfigError {
    /// The kubeconfig file, or "in-cluster".
    pub source: String,
    pub message: String,
}

impl fmt::Display for KubeconfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.source, self.message)
    }
}

impl std::error::Error for KubeconfigError {}

/// Reads and resolves the kubeconfig at `path`; relative file names in it
/// are relative to its directory, as kubectl reads them.
pub fn load(path: &Path) -> Result<Endpoint, KubeconfigError> {
    let error = |message: String| KubeconfigError { source: path.display().to_string(), message };
    let text = std::fs::read_to_string(path).map_err(|e| error(format!("read: {e}")))?;
    parse(&text, path.parent().unwrap_or(Path::new("."))).map_err(error)
}

/// The in-cluster service account: the server from `KUBERNETES_SERVICE_HOST`
/// and `_PORT` (given by `env`), the token and CA files under `dir`.
pub fn in_cluster(env: impl Fn(&str) -> Option<String>, dir: &Path) -> Result<Endpoint, KubeconfigError> {
    let error = |message: String| KubeconfigError { source: "in-cluster service account".into(), message };
    let (Some(host), Some(port)) = (env("KUBERNETES_SERVICE_HOST"), env("KUBERNETES_SERVICE_PORT")) else {
        return Err(error(
            "KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set (not in a pod?): set kubeconfig_file or api_server".into(),
        ));
    };
    let token = dir.join("token");
    if let Err(e) = std::fs::metadata(&token) {
        return Err(error(format!("{}: {e}", token.display())));
    }
    let host = if host.contains(':') { format!("[{host}]") } else { host };
    Ok(Endpoint {
        server: format!("https://{host}:{port}"),
        http: HttpClientConfig {
            auth: Some(Auth::Credentials { scheme: "Bearer".into(), credentials: Some(Secret::File(token)) }),
            tls: TlsConfig { ca: Some(Pem::File(dir.join("ca.crt"))), ..TlsConfig::default() },
        },
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct Kubeconfig {
    #[serde(default)]
    current_context: String,
    #[serde(default)]
    clusters: Vec<NamedCluster>,
    #[serde(default)]
    users: Vec<NamedUser>,
    #[serde(default)]
    contexts: Vec<NamedContext>,
}

#[derive(Deserialize)]
struct NamedCluster {
    name: String,
    cluster: Cluster,
}

#[derive(Deserialize)]
struct NamedUser {
    name: String,
    user: User,
}

#[derive(Deserialize)]
struct NamedContext {
    name: String,
    context: Context,
}

#[derive(Default, Deserialize)]
#[serde(default, rename_all = "kebab-case")]
struct Cluster {
    server: String,
    certificate_authority: String,
    certificate_authority_data: String,
    insecure_skip_tls_verify: bool,
    tls_server_name: String,
}

#[derive(Default, Deserialize)]
#[serde(default, rename_all = "kebab-case")]
struct User {
    client_certificate: String,
    client_certificate_data: String,
    client_key: String,
    client_key_data: String,
    token: String,
    #[serde(rename = "tokenFile")]
    token_file: String,
    username: String,
    password: String,
    /// Credential plugins run programs: not supported, refused by name.
    exec: Option<IgnoredAny>,
    #[serde(rename = "auth-provider")]
    auth_provider: Option<IgnoredAny>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct Context {
    cluster: String,
    user: String,
}

/// Resolves the current context of a kubeconfig's text; `dir` anchors
/// relative file names.
pub fn parse(text: &str, dir: &Path) -> Result<Endpoint, String> {
    let config: Kubeconfig = crate::yaml::de::from_str(text).map_err(|e| e.to_string())?;
    let name = &config.current_context;
    if name.is_empty() {
        return Err("no current-context".into());
    }
    let context = &config
        .contexts
        .iter()
        .find(|c| &c.name == name)
        .ok_or(format!("context {name:?} is not defined"))?
        .context;
    let cluster = &config
        .clusters
        .iter()
        .find(|c| c.name == context.cluster)
        .ok_or(format!("context {name:?} names cluster {:?}, which is not defined", context.cluster))?
        .cluster;
    // A context without a user is anonymous; one naming an undefined user is an error.
    let default = User::default();
    let user = match context.user.as_str() {
        "" => &default,
        wanted => {
            &config
                .users
                .iter()
                .find(|u| u.name == wanted)
                .ok_or(format!("context {name:?} names user {wanted:?}, which is not defined"))?
                .user
        }
    };
    if user.exec.is_some() || user.auth_provider.is_some() {
        return Err(format!(
            "user {:?}: exec and auth-provider credential plugins are not supported",
            context.user
        ));
    }
    let server = cluster.server.trim_end_matches('/').to_owned();
    if server.is_empty() {
        return Err(format!("cluster {:?} has no server", context.cluster));
    }
    let path = |file: &str| if file.is_empty() { None } else { Some(dir.join(file)) };
    let pem = |data: &str, file: &str, what: &str| -> Result<Option<Pem>, String> {
        if !data.is_empty() {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(data.trim())
                .map_err(|e| format!("{what}-data is not base64: {e}"))?;
            return Ok(Some(Pem::Inline(bytes)));
        }
        Ok(path(file).map(Pem::File))
    };
    let tls = TlsConfig {
        ca: pem(
            &cluster.certificate_authority_data,
            &cluster.certificate_authority,
            "certificate-authority",
        )?,
        cert: pem(&user.client_certificate_data, &user.client_certificate, "client-certificate")?,
        key: pem(&user.client_key_data, &user.client_key, "client-key")?,
        server_name: Some(cluster.tls_server_name.clone()).filter(|s| !s.is_empty()),
        insecure_skip_verify: cluster.insecure_skip_tls_verify,
    };
    if tls.cert.is_some() != tls.key.is_some() {
        return Err(format!(
            "user {:?}: a client certificate needs its key, and a key its certificate",
            context.user
        ));
    }
    // client-go: a token beats tokenFile, and either beats basic auth.
    let bearer = |secret| Auth::Credentials { scheme: "Bearer".into(), credentials: Some(secret) };
    let auth = if !user.token.is_empty() {
        Some(bearer(Secret::Inline(user.token.clone())))
    } else if let Some(file) = path(&user.token_file) {
        Some(bearer(Secret::File(file)))
    } else if !user.username.is_empty() {
        let password = Some(Secret::Inline(user.password.clone()));
        Some(Auth::Basic { username: Secret::Inline(user.username.clone()), password })
    } else {
        None
    };
    Ok(Endpoint { server, http: HttpClientConfig { auth, tls } })
}

/// The environment as [`in_cluster`] reads it.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// The pod's own namespace, for `namespaces.own_namespace`.
pub fn own_namespace(dir: &Path) -> Result<String, KubeconfigError> {
    let file: PathBuf = dir.join("namespace");
    let error = |message: String| KubeconfigError { source: file.display().to_string(), message };
    let text = std::fs::read_to_string(&file).map_err(|e| error(format!("read: {e}")))?;
    let namespace = text.trim();
    if namespace.is_empty() {
        return Err(error("empty".into()));
    }
    Ok(namespace.to_owned())
}

#[cfg(test)]
mod tests;
