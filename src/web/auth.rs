//! `basic_auth_users`: an `Authorization: Basic` header checked against the
//! user's bcrypt hash, as Prometheus's exporter-toolkit does. bcrypt is slow
//! on purpose (tens of ms at cost 10, more on ARM), so it runs on the
//! blocking pool, one check at a time (a flood of wrong passwords takes one
//! blocking thread, never the executor or every scrape's), and a few recent
//! successes are remembered so a scraper does not pay it on every request.

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};

use base64::Engine;
use smol::lock::Semaphore;

use crate::config::BcryptHash;
use crate::offload::Offload;

/// Successful (user, password) pairs remembered.
const REMEMBERED: usize = 8;
/// Checked (and its answer ignored) when the user is unknown, so that an
/// unknown user costs the same time as a wrong password: any cost-10 hash.
const UNKNOWN_USER_HASH: &str = "$2b$10$VYs0pbLqJvob7cWTsB6Eo.mqtA9JTfzQA9GiSgpyHoFbUKsS4fe8u";

/// Owned by the web server on the executor thread.
pub struct BasicAuth {
    users: BTreeMap<String, BcryptHash>,
    /// Recently accepted pairs, newest last; cleared when `users` changes.
    accepted: RefCell<VecDeque<(String, String)>>,
    one_at_a_time: Semaphore,
}

impl BasicAuth {
    pub fn new(users: BTreeMap<String, BcryptHash>) -> BasicAuth {
        BasicAuth { users, accepted: RefCell::default(), one_at_a_time: Semaphore::new(1) }
    }

    pub fn enabled(&self) -> bool {
        !self.users.is_empty()
    }

    /// True when `authorization` (the header's value) names a user whose hash the password fits.
    pub async fn allows(&self, authorization: Option<&str>, offload: &Offload) -> bool {
        let Some((user, password)) = authorization.and_then(credentials) else { return false };
        if self.accepted.borrow().iter().any(|(u, p)| *u == user && *p == password) {
            return true;
        }
        let hash = match self.users.get(&user) {
            Some(hash) => hash.0.clone(),
            None => UNKNOWN_USER_HASH.to_owned(),
        };
        let known = self.users.contains_key(&user);
        let _permit = self.one_at_a_time.acquire().await;
        let pass = password.clone();
        let fits = offload.run(move || bcrypt::verify(pass, &hash).unwrap_or(false)).await;
        if fits && known {
            let mut accepted = self.accepted.borrow_mut();
            if accepted.len() == REMEMBERED {
                accepted.pop_front();
            }
            accepted.push_back((user, password));
        }
        fits && known
    }
}

/// `Basic base64(user:password)` -> (user, password); `None` for anything else.
fn credentials(header: &str) -> Option<(String, String)> {
    let (scheme, encoded) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(user_password: &str) -> String {
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(user_password))
    }

    #[test]
    fn credentials_are_read_from_basic_headers_only() {
        assert_eq!(credentials(&basic("a:b:c")), Some(("a".into(), "b:c".into())));
        assert_eq!(credentials(&basic("a:")), Some(("a".into(), String::new())));
        assert_eq!(credentials(&basic("no-colon")), None);
        assert_eq!(credentials("Bearer abc"), None);
        assert_eq!(credentials("Basic !!!"), None);
        assert_eq!(credentials(""), None);
    }

    #[test]
    fn only_the_right_password_of_a_known_user_is_allowed() {
        let hash = bcrypt::hash("edge-secret", 4).unwrap();
        let auth = BasicAuth::new(BTreeMap::from([("outpost".to_owned(), BcryptHash(hash))]));
        let offload = Offload::new(1);
        smol::block_on(async {
            assert!(auth.allows(Some(&basic("outpost:edge-secret")), &offload).await);
            assert_eq!(auth.accepted.borrow().len(), 1, "a success is remembered");
            assert!(auth.allows(Some(&basic("outpost:edge-secret")), &offload).await, "from memory");
            assert!(!auth.allows(Some(&basic("outpost:wrong")), &offload).await);
            assert!(!auth.allows(Some(&basic("nobody:edge-secret")), &offload).await);
            assert!(!auth.allows(None, &offload).await);
            assert_eq!(auth.accepted.borrow().len(), 1, "failures are not remembered");
        });
    }
}
