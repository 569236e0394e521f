//! Prometheus's `<kubernetes_sd_config>`, every role, checked as Prometheus
//! checks it (discovery/kubernetes SDConfig.UnmarshalYAML): one way to reach
//! the API server, selectors for the resources the role watches,
//! `own_namespace` only in a pod.

use std::path::PathBuf;

use super::HttpClientConfig;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Pod,
    Node,
    Service,
    Endpoints,
    EndpointSlice,
    Ingress,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Pod => "pod",
            Role::Node => "node",
            Role::Service => "service",
            Role::Endpoints => "endpoints",
            Role::EndpointSlice => "endpointslice",
            Role::Ingress => "ingress",
        }
    }

    fn parse(text: &str) -> Option<Role> {
        [Role::Pod, Role::Node, Role::Service, Role::Endpoints, Role::EndpointSlice, Role::Ingress]
            .into_iter()
            .find(|r| r.as_str() == text)
    }

    /// The roles whose selectors this role takes (Prometheus's allowedSelectors).
    fn selectors(self) -> &'static [Role] {
        match self {
            Role::Pod => &[Role::Pod, Role::Node],
            Role::Endpoints => &[Role::Pod, Role::Service, Role::Endpoints],
            Role::EndpointSlice => &[Role::Pod, Role::Service, Role::EndpointSlice],
            Role::Service => &[Role::Service],
            Role::Node => &[Role::Node],
            Role::Ingress => &[Role::Ingress],
        }
    }
}

/// A selector for the objects of another role's resource that this role
/// watches too (the Services and Pods of endpoints, the Nodes of pods).
#[derive(Clone, Debug, PartialEq)]
pub struct Selector {
    pub role: Role,
    pub label: String,
    pub field: String,
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
    /// Selectors of the other resources the role watches.
    pub other_selectors: Vec<Selector>,
    /// attach_metadata node: the Node's labels on pod, endpoints and endpointslice targets.
    pub attach_node: bool,
    /// attach_metadata namespace: the Namespace's labels (every role but node).
    pub attach_namespace: bool,
}

/// TOML -> [`KubernetesSdConfig`].
pub(super) mod load {
    use toml::Spanned;

    use super::{KubernetesSdConfig, Role, Selector};
    use crate::config::HttpClientConfig;
    use crate::config::http::load::{RawHttpClient, http_client};
    use crate::config::load::{ConfigError, Source};
    use crate::config::schema::RawKubernetesSdConfig;

    pub fn kubernetes_sd_config(
        src: &Source,
        raw: &Spanned<RawKubernetesSdConfig>,
    ) -> Result<KubernetesSdConfig, ConfigError> {
        let sd = raw.get_ref();
        let Some(role) = Role::parse(sd.role.get_ref()) else {
            return Err(src.at(
                &sd.role,
                format!(
                    "invalid role {:?}, expecting one of: pod, service, endpoints, endpointslice, node or ingress",
                    sd.role.get_ref()
                ),
            ));
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
        let mut other_selectors = Vec::new();
        let mut seen = Vec::new();
        for selector in &sd.selectors {
            let s = selector.get_ref();
            if seen.contains(s.role.get_ref()) {
                return Err(src.at(&s.role, format!("duplicated selector role: {}", s.role.get_ref())));
            }
            seen.push(s.role.get_ref().clone());
            let allowed = role.selectors();
            let Some(of) = Role::parse(s.role.get_ref()).filter(|r| allowed.contains(r)) else {
                let names: Vec<&str> = allowed.iter().map(|r| r.as_str()).collect();
                let reason = format!("{} role supports only {} selectors", role.as_str(), names.join(", "));
                return Err(src.at(&s.role, reason));
            };
            let (mut label_text, mut field_text) = (String::new(), String::new());
            if let Some(label) = &s.label {
                check_selector(label.get_ref(), true).map_err(|reason| src.at(label, reason))?;
                label_text = label.get_ref().clone();
            }
            if let Some(field) = &s.field {
                check_selector(field.get_ref(), false).map_err(|reason| src.at(field, reason))?;
                field_text = field.get_ref().clone();
            }
            if of == role {
                (label_selector, field_selector) = (label_text, field_text);
            } else {
                other_selectors.push(Selector { role: of, label: label_text, field: field_text });
            }
        }
        let attach = sd.attach_metadata.as_ref().map(|a| a.get_ref());
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
            other_selectors,
            attach_node: attach.is_some_and(|a| a.node),
            attach_namespace: attach.is_some_and(|a| a.namespace),
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
