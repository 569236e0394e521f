//! Roles service, ingress, endpoints and endpointslice, and attach_metadata, against
//! Prometheus's own expectations: fixtures/kubernetes/roles.golden.json holds the cases of
//! discovery/kubernetes/*_test.go (transcribed by prometheus_tests.py), each case's objects
//! fed to the join as the watchers would after their first list, the groups compared with
//! the Go test's by source (labels exactly, targets as a set). Then the same roles through
//! list and watch against the in-test API server: joins that follow their Service and Pods,
//! the API groups of each resource, a resource the server does not serve, attach_metadata
//! (`watches.rs`); the K3s fixtures to the real vmagent (`vmagent.rs`); memory per watched
//! object (`figures.rs`). This file holds what they share.

#[path = "../support/mod.rs"]
mod support;

mod figures;
mod goldens;
mod vmagent;
mod watches;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::time::Duration;

use base64::Engine;
use outpost::config::{KubernetesRole, KubernetesSdConfig, KubernetesSelector as Selector};
use outpost::discovery::Group;
use outpost::discovery::kubernetes::join::{Change, Join};
use outpost::discovery::kubernetes::objects::Resource;
use outpost::discovery::kubernetes::watch::{self, Settings};
use outpost::discovery::{ProviderId, Updates};
use serde::Deserialize;
use serde_json::{Value, json};
use support::kube::{Auth, Kind, KubeApi};
use support::{TempDir, poll_until};

type LabelSet = BTreeMap<String, String>;

#[derive(Deserialize)]
struct Case {
    test: String,
    role: String,
    attach: BTreeMap<String, bool>,
    objects: BTreeMap<String, Vec<Value>>,
    groups: BTreeMap<String, Expected>,
}

#[derive(Deserialize, Debug, PartialEq)]
struct Expected {
    labels: LabelSet,
    targets: Vec<LabelSet>,
}

fn resource(plural: &str) -> Resource {
    use Resource::*;
    [Pod, Node, Service, Endpoints, EndpointSlice, Ingress, Namespace]
        .into_iter()
        .find(|r| r.plural() == plural)
        .unwrap_or_else(|| panic!("unknown resource {plural}"))
}

/// The collections the provider watches for the case's role and attach_metadata (as watch.rs).
fn collections(case: &Case) -> Vec<Resource> {
    let primary = match case.role.as_str() {
        "endpoints" => Resource::Endpoints,
        "endpointslice" => Resource::EndpointSlice,
        "service" => Resource::Service,
        "ingress" => Resource::Ingress,
        "pod" => Resource::Pod,
        other => panic!("role {other}"),
    };
    let mut out = vec![primary];
    if matches!(primary, Resource::Endpoints | Resource::EndpointSlice) {
        out.extend([Resource::Service, Resource::Pod]);
    }
    if case.attach.get("node") == Some(&true) {
        out.push(Resource::Node);
    }
    if case.attach.get("namespace") == Some(&true) {
        out.push(Resource::Namespace);
    }
    out
}

/// A K3s-style kubeconfig for `api` (inline CA, client certificate and key) in `dir`.
fn kubeconfig(api: &KubeApi, dir: &TempDir) -> std::path::PathBuf {
    let b64 = |pem: &str| base64::engine::general_purpose::STANDARD.encode(pem);
    let text = format!(
        "apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: {}\n    server: {}\n  name: default\ncontexts:\n- context:\n    cluster: default\n    user: default\n  name: default\ncurrent-context: default\nkind: Config\nusers:\n- name: default\n  user:\n    client-certificate-data: {}\n    client-key-data: {}\n",
        b64(&api.pki.server_ca),
        api.url(),
        b64(&api.pki.client_cert),
        b64(&api.pki.client_key)
    );
    let path = dir.path().join("k3s.yaml");
    std::fs::write(&path, text).expect("k3s.yaml");
    path
}
