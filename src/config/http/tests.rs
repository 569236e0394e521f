use super::*;
use crate::config::parse;

const RW: &str = "[[remote_write]]\nurl = \"https://r:9090/api/v1/write\"\n";

/// A directory with a configuration's files, removed on drop.
struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        let path = std::env::temp_dir().join(format!("outpost-httpconf-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&path).expect("dir");
        Dir(path)
    }

    fn file(&self, name: &str, text: &str) {
        std::fs::write(self.0.join(name), text).expect("write");
    }

    fn origin(&self) -> String {
        self.0.join("outpost.toml").display().to_string()
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn ca_pem() -> String {
    let key = rcgen::KeyPair::generate().expect("key");
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.self_signed(&key).expect("ca").pem()
}

#[test]
fn remote_write_and_scrape_configs_take_tls_and_auth_with_paths_from_the_config_dir() {
    let dir = Dir::new("ok");
    dir.file("ca.pem", &ca_pem());
    dir.file("pw", "secret\n");
    dir.file("token", "t\n");
    let text = format!(
        "{RW}basic_auth = {{ username = \"edge\", password_file = \"pw\" }}\n\
         tls_config = {{ ca_file = \"ca.pem\", server_name = \"receiver.example\" }}\n\
         [[scrape_configs]]\njob_name = \"a\"\nscheme = \"https\"\nbearer_token_file = \"token\"\n\
         tls_config = {{ insecure_skip_verify = true }}\n\
         [[scrape_configs]]\njob_name = \"b\"\nauthorization = {{ type = \" Token \", credentials = \"x\" }}\n\
         [[scrape_configs]]\njob_name = \"c\"\nauthorization = {{ credentials_file = \"/{}/token\" }}\n",
        dir.0.display()
    );
    let config = parse(&text, &dir.origin()).expect("valid");
    let file = |name: &str| dir.0.join(name);
    assert_eq!(
        config.remote_write[0].http_client,
        HttpClientConfig {
            auth: Some(Auth::Basic {
                username: Secret::Inline("edge".into()),
                password: Some(Secret::File(file("pw")))
            }),
            tls: TlsConfig {
                ca: Some(Pem::File(file("ca.pem"))),
                server_name: Some("receiver.example".into()),
                ..TlsConfig::default()
            },
        }
    );
    let jobs: Vec<&HttpClientConfig> = config.scrape_configs.iter().map(|j| &j.http_client).collect();
    assert_eq!(
        jobs[0],
        &HttpClientConfig {
            auth: Some(Auth::Credentials {
                scheme: "Bearer".into(),
                credentials: Some(Secret::File(file("token")))
            }),
            tls: TlsConfig { insecure_skip_verify: true, ..TlsConfig::default() },
        }
    );
    assert_eq!(
        jobs[1].auth,
        Some(Auth::Credentials { scheme: "Token".into(), credentials: Some(Secret::Inline("x".into())) })
    );
    // An absolute path stays; the type defaults to Bearer.
    assert_eq!(
        jobs[2].auth,
        Some(Auth::Credentials {
            scheme: "Bearer".into(),
            credentials: Some(Secret::File(PathBuf::from(format!("/{}/token", dir.0.display()))))
        })
    );
}

#[test]
fn invalid_combinations_and_unusable_files_are_refused_at_their_key() {
    let dir = Dir::new("bad");
    dir.file("ca.pem", &ca_pem());
    dir.file("notes.txt", "hello\n");
    let d = dir.0.display();
    let cases = [
        (
            "basic_auth = { username = \"u\" }\nbearer_token_file = \"/t\"",
            "4:21: at most one of basic_auth, bearer_token_file & authorization must be configured"
                .to_owned(),
        ),
        (
            "bearer_token_file = \"/t\"\nauthorization = { credentials = \"c\" }",
            "4:17: authorization is not compatible with bearer_token_file".to_owned(),
        ),
        (
            "basic_auth = { username = \"u\" }\nauthorization = { credentials = \"c\" }",
            "4:17: at most one of basic_auth, bearer_token_file & authorization must be configured"
                .to_owned(),
        ),
        (
            "authorization = { type = \"Basic\", credentials = \"c\" }",
            "3:26: authorization type cannot be set to \"basic\", use \"basic_auth\" instead".to_owned(),
        ),
        (
            "basic_auth = { password = \"p\", password_file = \"pw\" }",
            "3:48: at most one of password & password_file must be configured".to_owned(),
        ),
        (
            "basic_auth = { username = \"u\", password_file = \"missing-pw\" }",
            format!(
                "3:48: password_file {d}/missing-pw: cannot read: No such file or directory (os error 2)"
            ),
        ),
        ("bearer_token_file = \"\"", "3:21: bearer_token_file must not be empty".to_owned()),
        (
            "tls_config = { ca = \"x\", ca_file = \"ca.pem\" }",
            "3:36: at most one of ca & ca_file must be configured".to_owned(),
        ),
        (
            "tls_config = { ca_file = \"missing.pem\" }",
            format!(
                "3:26: tls_config: ca_file {d}/missing.pem: cannot read: No such file or directory (os error 2)"
            ),
        ),
        (
            "tls_config = { ca_file = \"notes.txt\" }",
            format!("3:26: tls_config: ca_file {d}/notes.txt: no PEM certificate found"),
        ),
        (
            "tls_config = { cert_file = \"ca.pem\" }",
            format!("3:28: tls_config: cert_file {d}/ca.pem is set without key_file"),
        ),
        (
            "tls_config = { server_name = \"not a name\" }",
            "3:30: tls_config: server_name \"not a name\": invalid dns name".to_owned(),
        ),
        ("tls_config = { min_version = \"TLS12\" }", "3:16: unknown key `min_version`".to_owned()),
    ];
    for (lines, want) in cases {
        let text = format!("{RW}{lines}\n");
        let err = parse(&text, &dir.origin()).expect_err(lines).to_string();
        // "origin:line:col: key path: reason": the key path (keypath.rs) stands between.
        let (place, reason) = want.split_once(": ").expect("line:col: reason");
        let place = format!("{}:{place}: ", dir.origin());
        assert!(
            err.starts_with(&place) && err.contains(reason),
            "{lines}\n got: {err}\nwant: {place}{reason}"
        );
    }
}
