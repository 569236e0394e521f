//! The HTTP client of scrapes and remote write (Prometheus's
//! `http_client_config`): one ureq agent with our TLS, and the
//! `Authorization` header, re-read from its files after a 401 or 403.

pub mod tls;
