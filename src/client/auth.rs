//! The `Authorization` header from `basic_auth`, `authorization` or
//! `bearer_token_file`: credential files are read and trimmed as Prometheus
//! reads them; errors name the file.

use std::fmt;

use base64::Engine;

use crate::config::{Auth, Secret};

/// A credential that cannot be used: the file and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CredentialError(pub String);

impl fmt::Display for CredentialError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CredentialError {}

/// The header value `auth` gives now, reading its files.
pub fn header_value(auth: &Auth) -> Result<String, CredentialError> {
    match auth {
        Auth::Basic { username, password } => {
            let username = read(username, "username")?;
            let password = match password {
                Some(password) => read(password, "password")?,
                None => String::new(),
            };
            let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
            Ok(format!("Basic {encoded}"))
        }
        Auth::Credentials { scheme, credentials } => {
            let credentials = match credentials {
                Some(credentials) => read(credentials, "credentials")?,
                None => String::new(),
            };
            Ok(format!("{scheme} {credentials}"))
        }
    }
}

/// The files `auth` reads, for messages: "password_file /etc/outpost/pw".
pub fn files(auth: &Auth) -> Vec<String> {
    let (first, second) = match auth {
        Auth::Basic { username, password } => {
            ((username, "username"), password.as_ref().map(|p| (p, "password")))
        }
        Auth::Credentials { credentials, .. } => match credentials {
            Some(c) => ((c, "credentials"), None),
            None => return Vec::new(),
        },
    };
    [Some(first), second]
        .into_iter()
        .flatten()
        .filter_map(|(secret, what)| match secret {
            Secret::File(path) => Some(format!("{what}_file {}", path.display())),
            Secret::Inline(_) => None,
        })
        .collect()
}

/// A secret's text: inline as written, from a file trimmed of surrounding
/// whitespace. Control characters cannot go into a header and are refused.
pub fn read(secret: &Secret, what: &str) -> Result<String, CredentialError> {
    let (text, place) = match secret {
        Secret::Inline(text) => (text.clone(), what.to_owned()),
        Secret::File(path) => {
            let place = format!("{what}_file {}", path.display());
            let text = std::fs::read_to_string(path)
                .map_err(|e| CredentialError(format!("{place}: cannot read: {e}")))?;
            (text.trim().to_owned(), place)
        }
    };
    if text.chars().any(|c| c.is_control() && c != '\t') {
        return Err(CredentialError(format!("{place}: contains control characters")));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn file(dir: &std::path::Path, name: &str, text: &str) -> Secret {
        let path = dir.join(name);
        std::fs::write(&path, text).expect("write");
        Secret::File(path)
    }

    #[test]
    fn each_scheme_gives_its_header() {
        let dir = std::env::temp_dir().join(format!("outpost-auth-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let cases = [
            (
                Auth::Basic {
                    username: Secret::Inline("user".into()),
                    password: Some(file(&dir, "pw", "secret\n")),
                },
                "Basic dXNlcjpzZWNyZXQ=",
            ),
            (Auth::Basic { username: Secret::Inline("user".into()), password: None }, "Basic dXNlcjo="),
            (
                Auth::Basic {
                    username: file(&dir, "user", " admin "),
                    password: Some(Secret::Inline("pass word".into())),
                },
                "Basic YWRtaW46cGFzcyB3b3Jk",
            ),
            (
                Auth::Credentials {
                    scheme: "Bearer".into(),
                    credentials: Some(file(&dir, "token", "abc.def\n")),
                },
                "Bearer abc.def",
            ),
            (
                Auth::Credentials { scheme: "Token".into(), credentials: Some(Secret::Inline("xyz".into())) },
                "Token xyz",
            ),
        ];
        for (auth, want) in cases {
            assert_eq!(header_value(&auth).as_deref(), Ok(want), "{auth:?}");
        }
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }

    #[test]
    fn unreadable_or_unusable_file_is_named() {
        let missing = PathBuf::from("/nonexistent/outpost/token");
        let auth = Auth::Credentials { scheme: "Bearer".into(), credentials: Some(Secret::File(missing)) };
        let err = header_value(&auth).expect_err("missing file");
        assert!(err.0.starts_with("credentials_file /nonexistent/outpost/token: cannot read:"), "{err}");
        assert_eq!(files(&auth), ["credentials_file /nonexistent/outpost/token"]);

        let auth = Auth::Basic {
            username: Secret::Inline("u".into()),
            password: Some(Secret::Inline("a\nb".into())),
        };
        assert_eq!(header_value(&auth), Err(CredentialError("password: contains control characters".into())));
    }
}
