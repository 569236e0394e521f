//! Prometheus's `<kubernetes_sd_config>`, roles `pod` and `node`, checked as
//! Prometheus checks it (discovery/kubernetes SDConfig.UnmarshalYAML): one
//! way to reach the API server, selectors only for the role's own objects,
//! `own_namespace` only in a pod.

use std::path::PathBuf;

use super::HttpClientConfig;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Pod,
    Node,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Pod => "pod",
            Role::Node => "node",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct KubernetesSdConfig {
    pub role: Role,
    /// Where the API server is, when neither a kubeconfig nor the in-cluster
    /// service account says it; `http_client` then applies.
    pub api_server: Option<String>,
    /// Resolved against the configuration file's directory.
    pub kubeconfig_file: Option<PathBuf>,
    /// Only with `api_server` (validated).
    pub http_client: HttpClientConfig,
    /// Empty: every namespace (one watch for all).
    pub namespaces: Vec<String>,
    /// Add the namespace of the service account outpost runs under.
    pub own_namespace: bool,
    /// `labelSelector` of the role's list and watch ("" for none).
    pub label_selector: String,
    /// `fieldSelector`, e.g. `spec.nodeName=edge-01`.
    pub field_selector: String,
}

/// TOML -> [`KubernetesSdConfig`].
pub(super) mod load {
    use toml::Spanned;

    use super::{KubernetesSdConfig, Role};
    use crate::config::HttpClientConfig;
    use crate::config::http::load::{RawHttpClient, http_client};
    use crate::config::load::{ConfigError, Source};
    use crate::config::schema::RawKubernetesSdConfig;

    pub fn kubernetes_sd_config(
        src: &Source,
        raw: &Spanned<RawKubernetesSdConfig>,
    ) -> Result<KubernetesSdConfig, ConfigError> {
        let sd = raw.get_ref();
        let role = match sd.role.get_ref().as_str() {
            "pod" => Role::Pod,
            "node" => Role::Node,
            "service" | "endpoints" | "endpointslice" | "ingress" => {
                return Err(
                    src.at(&sd.role, format!("role {:?} is not supported (pod, node)", sd.role.get_ref()))
                );
            }
            other => {
                return Err(src.at(
                    &sd.role,
                    format!("invalid role {other:?}, expecting one of: pod, service, endpoints, endpointslice, node or ingress"),
                ));
            }
        };
        let http = http_client(
            src,
            RawHttpClient {
                basic_auth: &sd.basic_auth,
                bearer_token_file: &sd.bearer_token_file,
                authorization: &sd.authorization,
                tls_config: &sd.tls_config,
            },
        )?;
        let custom_http = http != HttpClientConfig::default();
        let own_namespace = sd.namespaces.as_ref().is_some_and(|n| n.get_ref().own_namespace);
        let api_server = match &sd.api_server {
            Some(url) => {
                crate::config::check::url(url.get_ref())
                    .map_err(|reason| src.at(url, format!("api_server {:?}: {reason}", url.get_ref())))?;
                Some(url.get_ref().trim_end_matches('/').to_owned())
            }
            None => None,
        };
        let conflict = |span: &Spanned<String>, reason: &str| Err(src.at(span, reason.to_owned()));
        if let (Some(url), Some(_)) = (&sd.api_server, &sd.kubeconfig_file) {
            return conflict(url, "cannot use 'kubeconfig_file' and 'api_server' simultaneously");
        }
        if let Some(file) = &sd.kubeconfig_file {
            if custom_http {
                return conflict(
                    file,
                    "cannot use a custom HTTP client configuration together with 'kubeconfig_file'",
                );
            }
            if own_namespace {
                return conflict(
                    file,
                    "cannot use 'kubeconfig_file' and 'namespaces.own_namespace' simultaneously",
                );
            }
        }
        if sd.api_server.is_none() && custom_http {
            return conflict(
                &sd.role,
                "to use custom HTTP client configuration please provide the 'api_server' URL explicitly",
            );
        }
        if let (Some(url), true) = (&sd.api_server, own_namespace) {
            return conflict(url, "cannot use 'api_server' and 'namespaces.own_namespace' simultaneously");
        }
        let (mut label_selector, mut field_selector) = (String::new(), String::new());
        let mut seen = Vec::new();
        for selector in &sd.selectors {
            let s = selector.get_ref();
            if seen.contains(s.role.get_ref()) {
                return Err(src.at(&s.role, format!("duplicated selector role: {}", s.role.get_ref())));
            }
            seen.push(s.role.get_ref().clone());
            if s.role.get_ref() != role.as_str() {
                let reason = format!("{} role supports only {} selectors", role.as_str(), role.as_str());
                return Err(src.at(&s.role, reason));
            }
            if let Some(label) = &s.label {
                check_selector(label.get_ref(), true).map_err(|reason| src.at(label, reason))?;
                label_selector = label.get_ref().clone();
            }
            if let Some(field) = &s.field {
                check_selector(field.get_ref(), false).map_err(|reason| src.at(field, reason))?;
                field_selector = field.get_ref().clone();
            }
        }
        Ok(KubernetesSdConfig {
            role,
            api_server,
            kubeconfig_file: sd.kubeconfig_file.as_ref().map(|f| src.path(f.get_ref())),
            http_client: http,
            namespaces: sd.namespaces.as_ref().map_or(Vec::new(), |n| {
                n.get_ref().names.iter().map(|name| name.get_ref().clone()).collect()
            }),
            own_namespace,
            label_selector,
            field_selector,
        })
    }

    /// The selector grammar the API server accepts, checked enough to catch
    /// typos at load: comma-separated `key=value`, `key==value`, `key!=value`;
    /// label selectors also `key`, `!key`, `key in (a,b)`, `key notin (a,b)`.
    fn check_selector(text: &str, label: bool) -> Result<(), String> {
        let what = if label { "label" } else { "field" };
        let mut depth = 0;
        let mut terms = vec![String::new()];
        for c in text.chars() {
            match c {
                '(' => depth += 1,
                ')' => depth -= 1,
                ',' if depth == 0 => {
                    terms.push(String::new());
                    continue;
                }
                _ => {}
            }
            if let Some(last) = terms.last_mut() {
                last.push(c);
            }
        }
        if depth != 0 {
            return Err(format!("{what} selector {text:?}: unbalanced parentheses"));
        }
        for term in terms.iter().map(|t| t.trim()) {
            if term.is_empty() && text.trim().is_empty() {
                continue;
            }
            let key = if let Some((k, v)) =
                term.split_once("!=").or_else(|| term.split_once("==")).or_else(|| term.split_once('='))
            {
                if v.contains('=') {
                    return Err(format!("{what} selector {text:?}: invalid term {term:?}"));
                }
                k.trim()
            } else if !label {
                return Err(format!("{what} selector {text:?}: {term:?} is not key=value or key!=value"));
            } else if let Some((k, set)) = term.split_once(" notin ").or_else(|| term.split_once(" in ")) {
                if !(set.trim().starts_with('(') && set.trim().ends_with(')')) {
                    return Err(format!("{what} selector {text:?}: {term:?} needs a (set)"));
                }
                k.trim()
            } else {
                term.strip_prefix('!').unwrap_or(term).trim()
            };
            let valid = |c: char| c.is_ascii_alphanumeric() || "-_./".contains(c);
            if key.is_empty() || !key.chars().all(valid) {
                return Err(format!("{what} selector {text:?}: invalid key {key:?}"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
