use super::*;
use crate::config::{Auth, Secret, parse};

const RW: &str = "[[remote_write]]\nurl = \"http://127.0.0.1:9090/api/v1/write\"\n";

fn sd(lines: &str) -> Result<KubernetesSdConfig, String> {
    let text = format!(
        "{RW}[[scrape_configs]]\njob_name = \"k\"\n[[scrape_configs.kubernetes_sd_configs]]\n{lines}\n"
    );
    parse(&text, "/etc/outpost/outpost.toml")
        .map(|c| c.scrape_configs[0].kubernetes_sd_configs[0].clone())
        .map_err(|e| e.to_string())
}

#[test]
fn every_key_is_read() {
    let c = sd("role = \"pod\"\nkubeconfig_file = \"k3s.yaml\"\nnamespaces = { names = [\"kube-system\", \"apps\"] }\n\
                [[scrape_configs.kubernetes_sd_configs.selectors]]\nrole = \"pod\"\nlabel = \"app in (web, api),tier!=db\"\nfield = \"spec.nodeName=edge-01\"")
    .expect("valid");
    assert_eq!(c.role, Role::Pod);
    assert_eq!(
        c.kubeconfig_file,
        Some(PathBuf::from("/etc/outpost/k3s.yaml")),
        "relative to the config file"
    );
    assert_eq!(c.namespaces, ["kube-system", "apps"]);
    assert_eq!(c.label_selector, "app in (web, api),tier!=db");
    assert_eq!(c.field_selector, "spec.nodeName=edge-01");

    let c = sd("role = \"node\"\napi_server = \"https://10.0.0.1:6443/\"\nauthorization = { credentials = \"t0k3n\" }\ntls_config = { insecure_skip_verify = true }")
        .expect("valid");
    assert_eq!(c.role, Role::Node);
    assert_eq!(c.api_server.as_deref(), Some("https://10.0.0.1:6443"));
    assert_eq!(
        c.http_client.auth,
        Some(Auth::Credentials {
            scheme: "Bearer".into(),
            credentials: Some(Secret::Inline("t0k3n".into()))
        })
    );
    assert!(c.http_client.tls.insecure_skip_verify);
    assert!(sd("role = \"pod\"\nnamespaces = { own_namespace = true }").expect("valid").own_namespace);
}

#[test]
fn every_role_with_its_selectors_and_attach_metadata() {
    for role in ["pod", "node", "service", "endpoints", "endpointslice", "ingress"] {
        assert_eq!(sd(&format!("role = \"{role}\"")).expect(role).role.as_str(), role);
    }
    let c = sd("role = \"endpointslice\"\nattach_metadata = { node = true, namespace = true }\n\
                [[scrape_configs.kubernetes_sd_configs.selectors]]\nrole = \"endpointslice\"\nlabel = \"a=b\"\n\
                [[scrape_configs.kubernetes_sd_configs.selectors]]\nrole = \"service\"\nlabel = \"monitor=true\"\n\
                [[scrape_configs.kubernetes_sd_configs.selectors]]\nrole = \"pod\"\nfield = \"spec.nodeName=edge-01\"")
    .expect("valid");
    assert_eq!((c.role, c.attach_node, c.attach_namespace), (Role::EndpointSlice, true, true));
    assert_eq!(c.label_selector, "a=b");
    assert_eq!(
        c.other_selectors,
        [
            Selector { role: Role::Service, label: "monitor=true".into(), field: String::new() },
            Selector { role: Role::Pod, label: String::new(), field: "spec.nodeName=edge-01".into() },
        ]
    );
    let c = sd("role = \"pod\"\nselectors = [{ role = \"node\", label = \"kubernetes.io/os=linux\" }]")
        .expect("valid");
    assert_eq!(c.other_selectors[0].role, Role::Node);
    assert!(c.label_selector.is_empty());
    let c = sd("role = \"service\"\nattach_metadata = { namespace = true }").expect("valid");
    assert_eq!((c.attach_node, c.attach_namespace), (false, true));
}

#[test]
fn prometheus_rules_are_enforced_at_the_key() {
    let cases = [
        ("role = \"pods\"", "6:8: invalid role \"pods\", expecting one of"),
        ("api_server = \"https://a:1\"", "missing field `role`"),
        (
            "role = \"pod\"\napi_server = \"https://a:1\"\nkubeconfig_file = \"k\"",
            "7:14: cannot use 'kubeconfig_file' and 'api_server' simultaneously",
        ),
        (
            "role = \"pod\"\nkubeconfig_file = \"k\"\nauthorization = { credentials = \"t\" }",
            "7:19: cannot use a custom HTTP client configuration together with 'kubeconfig_file'",
        ),
        (
            "role = \"pod\"\ntls_config = { insecure_skip_verify = true }",
            "6:8: to use custom HTTP client configuration please provide the 'api_server' URL explicitly",
        ),
        (
            "role = \"pod\"\napi_server = \"https://a:1\"\nnamespaces = { own_namespace = true }",
            "7:14: cannot use 'api_server' and 'namespaces.own_namespace' simultaneously",
        ),
        (
            "role = \"pod\"\nkubeconfig_file = \"k\"\nnamespaces = { own_namespace = true }",
            "cannot use 'kubeconfig_file' and 'namespaces.own_namespace' simultaneously",
        ),
        ("role = \"pod\"\napi_server = \"ftp://a\"", "api_server \"ftp://a\""),
        (
            "role = \"service\"\nselectors = [{ role = \"pod\", label = \"a=b\" }]",
            "service role supports only service selectors",
        ),
        (
            "role = \"endpoints\"\nselectors = [{ role = \"node\", label = \"a=b\" }]",
            "endpoints role supports only pod, service, endpoints selectors",
        ),
        ("role = \"pod\"\nattach_metadata = { node = true, deployment = true }", "unknown key `deployment`"),
        (
            "role = \"pod\"\nselectors = [{ role = \"pod\" }, { role = \"pod\" }]",
            "duplicated selector role: pod",
        ),
        (
            "role = \"pod\"\nselectors = [{ role = \"pod\", field = \"spec.nodeName\" }]",
            "is not key=value or key!=value",
        ),
        ("role = \"pod\"\nselectors = [{ role = \"pod\", label = \"app in web\" }]", "needs a (set)"),
        ("role = \"pod\"\nselectors = [{ role = \"pod\", label = \"a b=c\" }]", "invalid key \"a b\""),
        ("role = \"pod\"\nselectors = [{ role = \"pod\", label = \"a=(b\" }]", "unbalanced parentheses"),
        ("role = \"pod\"\nnamespace = [\"a\"]", "unknown key `namespace`; did you mean `namespaces`?"),
    ];
    for (lines, want) in cases {
        let err = sd(lines).expect_err(lines);
        // "line:col: key path: reason": the key path (keypath.rs) stands between.
        let (place, reason) = want
            .split_once(": ")
            .filter(|(place, _)| place.bytes().all(|b| b.is_ascii_digit() || b == b':'))
            .unwrap_or(("", want));
        assert!(err.contains(place) && err.contains(reason), "{lines:?}: {err:?} should contain {want:?}");
    }
}
