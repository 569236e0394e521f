use super::*;

/// /etc/rancher/k3s/k3s.yaml as K3s writes it (data shortened).
const K3S_YAML: &str = "\
apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==
    server: https://127.0.0.1:6443
  name: default
contexts:
- context:
    cluster: default
    user: default
  name: default
current-context: default
kind: Config
preferences: {}
users:
- name: default
  user:
    client-certificate-data: Q0VSVA==
    client-key-data: S0VZ
";

#[test]
fn k3s_yaml_inline_ca_cert_and_key() {
    let e = parse(K3S_YAML, Path::new("/etc/rancher/k3s")).expect("k3s.yaml");
    assert_eq!(e.server, "https://127.0.0.1:6443");
    assert_eq!(e.http.tls.ca, Some(Pem::Inline(b"-----BEGIN CERTIFICATE-----\n".to_vec())));
    assert_eq!(e.http.tls.cert, Some(Pem::Inline(b"CERT".to_vec())));
    assert_eq!(e.http.tls.key, Some(Pem::Inline(b"KEY".to_vec())));
    assert_eq!(e.http.auth, None);
    assert!(!e.http.tls.insecure_skip_verify);
}

#[test]
fn current_context_picks_cluster_and_user_files_relative_to_the_kubeconfig() {
    let text = "\
current-context: edge
clusters:
- name: other
  cluster: {server: https://10.0.0.1:6443}
- name: k3s
  cluster:
    server: https://k3s.lan:6443/
    certificate-authority: ca.crt
    tls-server-name: kubernetes
    insecure-skip-tls-verify: true
users:
- name: viewer
  user: {tokenFile: /run/credentials/outpost.service/token}
- name: admin
  user: {client-certificate: /abs/client.crt, client-key: client.key}
contexts:
- name: edge
  context: {cluster: k3s, user: viewer, namespace: monitoring}
- name: admin
  context: {cluster: k3s, user: admin}
";
    let e = parse(text, Path::new("/etc/outpost")).expect("valid");
    assert_eq!(e.server, "https://k3s.lan:6443");
    assert_eq!(e.http.tls.ca, Some(Pem::File("/etc/outpost/ca.crt".into())));
    assert_eq!(e.http.tls.server_name.as_deref(), Some("kubernetes"));
    assert!(e.http.tls.insecure_skip_verify);
    assert_eq!(
        e.http.auth,
        Some(Auth::Credentials {
            scheme: "Bearer".into(),
            credentials: Some(Secret::File("/run/credentials/outpost.service/token".into()))
        })
    );
    let admin =
        parse(&text.replace("current-context: edge", "current-context: admin"), Path::new("/etc/outpost"))
            .expect("admin context");
    assert_eq!(admin.http.tls.cert, Some(Pem::File("/abs/client.crt".into())));
    assert_eq!(admin.http.tls.key, Some(Pem::File("/etc/outpost/client.key".into())));
}

#[test]
fn token_beats_token_file_and_basic_auth() {
    let text = "current-context: c\nclusters: [{name: k, cluster: {server: 'https://h'}}]\ncontexts: [{name: c, context: {cluster: k, user: u}}]\nusers: [{name: u, user: {token: abc, tokenFile: f, username: a, password: b}}]\n";
    let e = parse(text, Path::new("/")).expect("valid");
    assert_eq!(
        e.http.auth,
        Some(Auth::Credentials { scheme: "Bearer".into(), credentials: Some(Secret::Inline("abc".into())) })
    );
    let basic = parse(&text.replace("token: abc, tokenFile: f, ", ""), Path::new("/")).expect("valid");
    assert!(matches!(basic.http.auth, Some(Auth::Basic { .. })));
}

#[test]
fn errors_name_the_cause() {
    let cases = [
        ("clusters: []", "no current-context"),
        ("current-context: x", "context \"x\" is not defined"),
        (
            "current-context: x\ncontexts: [{name: x, context: {cluster: k}}]",
            "names cluster \"k\", which is not defined",
        ),
        (
            "current-context: x\ncontexts: [{name: x, context: {cluster: k, user: u}}]\nclusters: [{name: k, cluster: {server: 'https://h'}}]",
            "names user \"u\", which is not defined",
        ),
        (
            "current-context: x\ncontexts: [{name: x, context: {cluster: k, user: u}}]\nclusters: [{name: k, cluster: {server: 'https://h'}}]\nusers: [{name: u, user: {exec: {command: aws}}}]",
            "credential plugins are not supported",
        ),
        (
            "current-context: x\ncontexts: [{name: x, context: {cluster: k}}]\nclusters: [{name: k, cluster: {server: 'https://h', certificate-authority-data: '%%%'}}]",
            "certificate-authority-data is not base64",
        ),
        (
            "current-context: x\ncontexts: [{name: x, context: {cluster: k, user: u}}]\nclusters: [{name: k, cluster: {server: 'https://h'}}]\nusers: [{name: u, user: {client-certificate-data: Q0VSVA==}}]",
            "needs its key",
        ),
        (
            "current-context: x\ncontexts: [{name: x, context: {cluster: k}}]\nclusters: [{name: k, cluster: {}}]",
            "has no server",
        ),
        ("clusters: {a: 1}\n", "line 1 column"),
        ("\tnot: yaml: at all", "line 1"),
    ];
    for (text, want) in cases {
        let err = parse(text, Path::new("/")).expect_err(text);
        assert!(err.contains(want), "{text:?}: {err:?} should contain {want:?}");
    }
}

#[test]
fn in_cluster_reads_the_environment_and_the_service_account_dir() {
    let dir = std::env::temp_dir().join(format!("outpost-sa-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("mkdir");
    let env = |vars: &'static [(&'static str, &'static str)]| {
        move |name: &str| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned())
    };
    let none = in_cluster(env(&[]), &dir).expect_err("no env");
    assert!(none.to_string().contains("KUBERNETES_SERVICE_HOST"), "{none}");
    let vars = &[("KUBERNETES_SERVICE_HOST", "fd00::1"), ("KUBERNETES_SERVICE_PORT", "443")];
    let missing = in_cluster(env(vars), &dir).expect_err("no token file");
    assert!(missing.to_string().contains("token"), "{missing}");
    std::fs::write(dir.join("token"), "t0k3n\n").expect("token");
    std::fs::write(dir.join("namespace"), "monitoring").expect("namespace");
    let e = in_cluster(env(vars), &dir).expect("in cluster");
    assert_eq!(e.server, "https://[fd00::1]:443");
    assert_eq!(e.http.tls.ca, Some(Pem::File(dir.join("ca.crt"))));
    assert_eq!(own_namespace(&dir).expect("namespace"), "monitoring");
    std::fs::write(dir.join("namespace"), " \n").expect("namespace");
    assert!(own_namespace(&dir).is_err());
    let _ = std::fs::remove_dir_all(&dir);
}
