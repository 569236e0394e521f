//! Name resolution for ureq without a thread per request.
//!
//! ureq resolves the URL's host before every request, pooled connection or not, and its
//! default resolver honours the timeout by starting a thread for each lookup: one thread per
//! scrape and per send. Here an IP literal (every Kubernetes and file_sd target, most
//! static ones) is its own address, with no lookup at all; a host name is looked up by
//! ureq's resolver, and a successful answer is kept for `TTL`, so a receiver's name costs
//! one lookup (and one thread) per `TTL`, not one per send. A failed lookup is not kept:
//! the next request asks again. A kept address only matters when a new connection is made
//! (an open keep-alive connection is reused whatever the lookup says), so a name that moves
//! is followed within `TTL` of the next reconnect.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use ureq::config::Config;
use ureq::http::Uri;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::NextTimeout;

/// How long a host name's addresses are kept.
pub const TTL: Duration = Duration::from_secs(30);

/// Host names kept at most: beyond it the cache is emptied (a job over thousands of names
/// looks them up as ureq would).
const MAX_NAMES: usize = 256;

#[derive(Debug, Default)]
pub struct CachingResolver {
    lookup: DefaultResolver,
    names: Mutex<HashMap<String, (Instant, Vec<SocketAddr>)>>,
}

impl Resolver for CachingResolver {
    fn resolve(
        &self,
        uri: &Uri,
        config: &Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let Some(authority) = uri.authority() else { return self.lookup.resolve(uri, config, timeout) };
        let port = authority.port_u16().or_else(|| match uri.scheme_str() {
            Some("https") => Some(443),
            Some("http") => Some(80),
            _ => None,
        });
        let host = authority.host();
        let literal = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
        if let (Ok(ip), Some(port)) = (literal.parse::<IpAddr>(), port) {
            let mut addrs = self.empty();
            addrs.push(SocketAddr::new(ip, port));
            return Ok(addrs);
        }
        let key = authority.as_str().to_ascii_lowercase();
        let now = Instant::now();
        if let Some((at, kept)) = self.lock().get(&key)
            && now.duration_since(*at) < TTL
        {
            let mut addrs = self.empty();
            for addr in kept {
                addrs.push(*addr);
            }
            return Ok(addrs);
        }
        let addrs = self.lookup.resolve(uri, config, timeout)?;
        let mut names = self.lock();
        if names.len() >= MAX_NAMES {
            names.clear();
        }
        names.insert(key, (now, addrs.to_vec()));
        Ok(addrs)
    }
}

impl CachingResolver {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Instant, Vec<SocketAddr>)>> {
        // Only inserts and reads under the lock: a panic cannot leave it half-changed.
        self.names.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(resolver: &CachingResolver, url: &str) -> Result<Vec<SocketAddr>, ureq::Error> {
        let uri: Uri = url.parse().expect("uri");
        let config = Config::default();
        // Without a deadline ureq's resolver looks up on this thread.
        let timeout = NextTimeout::default();
        resolver.resolve(&uri, &config, timeout).map(|a| a.to_vec())
    }

    #[test]
    fn ip_literals_are_their_own_address() {
        let resolver = CachingResolver::default();
        assert_eq!(
            resolve(&resolver, "http://127.0.0.1:9100/metrics").unwrap(),
            ["127.0.0.1:9100".parse().unwrap()]
        );
        assert_eq!(resolve(&resolver, "https://[::1]/x").unwrap(), ["[::1]:443".parse().unwrap()]);
        assert_eq!(resolve(&resolver, "http://10.42.0.7/").unwrap(), ["10.42.0.7:80".parse().unwrap()]);
        assert!(resolver.lock().is_empty(), "literals are never cached");
    }

    #[test]
    fn names_are_kept_after_a_successful_lookup() {
        let resolver = CachingResolver::default();
        let first = resolve(&resolver, "http://localhost:9090/api/v1/write").unwrap();
        assert!(
            !first.is_empty() && first.iter().all(|a| a.port() == 9090 && a.ip().is_loopback()),
            "{first:?}"
        );
        assert!(resolver.lock().contains_key("localhost:9090"));
        assert_eq!(resolve(&resolver, "http://LOCALHOST:9090/other").unwrap(), first);
    }

    #[test]
    fn failed_lookups_are_not_kept() {
        let resolver = CachingResolver::default();
        assert!(resolve(&resolver, "http://no-such-host.invalid:9090/").is_err());
        assert!(resolver.lock().is_empty());
    }
}
