//! The `listen` endpoint is safe to expose (issue 10, item 5), against the real binary:
//! slow and surplus connections do not stall `/metrics`, requests are bounded in time,
//! `[web]` TLS (and mutual TLS), basic auth (bcrypt, `/-/healthy` open) and `/-/reload`,
//! whose answers are compared with a real Prometheus 2.42's.

mod support;

use std::fs;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use base64::Engine;
use outpost::client::Client;
use outpost::config::{HttpClientConfig, Pem, TlsConfig};
use support::tls::{PASSWORD, PASSWORD_BCRYPT, Pki, USER, https_get};
use support::{Child, free_port, http_get, http_request, poll_until, start_outpost, start_prometheus};

const WITHIN: Duration = Duration::from_secs(20);
/// A `/metrics` answer from an idle agent on loopback takes milliseconds; a stall behind a
/// slow client would take the whole `read_timeout` (30 s here).
const PROMPT: Duration = Duration::from_secs(1);

/// outpost with `listen` on a free port and `extra` appended (the `[web]` section); the
/// receiver is unreachable, which does not matter here. Ready once /-/healthy answers.
fn outpost(extra: &str) -> Child {
    let port = free_port();
    let config = format!(
        "listen = \"127.0.0.1:{port}\"\n[[remote_write]]\nurl = \"http://127.0.0.1:1/api/v1/write\"\n{extra}"
    );
    let mut child = start_outpost(&config);
    child.port = port;
    child.wait_ready("/-/healthy");
    child
}

fn connect(port: u16) -> TcpStream {
    let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(5))).expect("read timeout");
    stream
}

/// True when the server has closed `stream` (EOF or reset); false while it is open and silent.
fn closed_by_server(stream: &mut TcpStream) -> bool {
    stream.set_nonblocking(true).expect("nonblocking");
    let mut byte = [0u8; 1];
    let closed = match stream.read(&mut byte) {
        Ok(_) => true,
        Err(e) => e.kind() != ErrorKind::WouldBlock,
    };
    stream.set_nonblocking(false).expect("blocking");
    closed
}

fn timed_metrics(port: u16) -> Duration {
    let started = Instant::now();
    let (status, body) = http_get(port, "/metrics").expect("GET /metrics");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("process_start_time_seconds"), "{body}");
    started.elapsed()
}

#[test]
fn slow_clients_do_not_stall_metrics() {
    let agent = outpost("[web]\nmax_connections = 3\nread_timeout = \"30s\"\n");
    // Five clients that start a request head and never finish it (slowloris), more than
    // max_connections: the server closes the one that has waited longest to make room.
    let mut slow: Vec<TcpStream> = (0..5)
        .map(|_| {
            let mut stream = connect(agent.port);
            stream.write_all(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ").expect("write");
            stream
        })
        .collect();
    for round in 0..10 {
        let took = timed_metrics(agent.port);
        assert!(took < PROMPT, "round {round}: /metrics took {took:?} with slow clients connected");
    }
    // Each /metrics took a slot, once, from the oldest slow head; the two newest still wait.
    let closed: Vec<bool> = slow.iter_mut().map(closed_by_server).collect();
    assert_eq!(closed, [true, true, true, false, false], "which slow clients were closed");
    // A head larger than the limit (8 KiB) is answered 431, not read without end.
    let long = "a".repeat(9 * 1024);
    let (status, _) = http_request(agent.port, "GET", "/metrics", &[("X-Long", &long)], &[]).expect("GET");
    assert_eq!(status, 431);
    // A declared body larger than 16 KiB is refused before it is read.
    let (status, _) =
        http_request(agent.port, "POST", "/-/reload", &[], &vec![b'x'; 17 * 1024]).expect("POST");
    assert_eq!(status, 413, "a 17 KiB body");
}

#[test]
fn connections_beyond_max_connections_are_refused_while_requests_are_in_progress() {
    let agent = outpost("[web]\nmax_connections = 2\nread_timeout = \"30s\"\n");
    // Two requests in progress: a complete head, half of the body still to come.
    let held = |port| {
        let mut stream = connect(port);
        stream
            .write_all(b"POST /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 4\r\n\r\nab")
            .expect("write");
        stream
    };
    let mut in_progress = [held(agent.port), held(agent.port)];
    poll_until(WITHIN, "a third connection is closed unanswered", || {
        // A held connection closed here had not had its head read yet, so it was the one
        // evicted for the last attempt: open it again (bounded by the poll), and probe at the
        // next attempt, once the server has had time to read its head.
        let mut reopened = false;
        for stream in in_progress.iter_mut() {
            if closed_by_server(stream) {
                *stream = held(agent.port);
                reopened = true;
            }
        }
        if reopened {
            return Err("a held connection was evicted before its head was read; opened again".into());
        }
        match http_get(agent.port, "/metrics") {
            Ok((status, _)) => Err(format!("answered {status}")),
            Err(_) => Ok(()),
        }
    });
    // The requests in progress are answered once their bodies arrive (POST: 405).
    for mut stream in in_progress {
        stream.write_all(b"cd").expect("rest of the body");
        let mut answer = String::new();
        stream.read_to_string(&mut answer).expect("answer");
        assert!(answer.starts_with("HTTP/1.1 405 "), "{answer}");
    }
    assert!(timed_metrics(agent.port) < PROMPT, "served again once the slots are free");
}

#[test]
fn a_request_that_takes_longer_than_read_timeout_is_closed() {
    let agent = outpost("[web]\nread_timeout = \"1s\"\n");
    let mut idle = connect(agent.port);
    idle.write_all(b"GET /metri").expect("write");
    let started = Instant::now();
    poll_until(WITHIN, "the idle connection is closed", || {
        if closed_by_server(&mut idle) { Ok(()) } else { Err("still open".into()) }
    });
    let took = started.elapsed();
    // 1 s, plus at most one poll interval (250 ms) and scheduling.
    assert!(took >= Duration::from_millis(900) && took < Duration::from_secs(3), "closed after {took:?}");
}

fn tls_client(pki: &Pki, with_cert: bool) -> Client {
    let mut tls = TlsConfig { ca: Some(Pem::File(pki.ca.clone())), ..TlsConfig::default() };
    if with_cert {
        // The server certificate has no extended key usage, so it serves as a client's too.
        tls.cert = Some(Pem::File(pki.cert.clone()));
        tls.key = Some(Pem::File(pki.key.clone()));
    }
    Client::new(&HttpClientConfig { auth: None, tls }, Duration::from_secs(5)).expect("client")
}

fn tls_section(pki: &Pki, client_ca: bool) -> String {
    let mut section = format!(
        "[web.tls_config]\ncert_file = {:?}\nkey_file = {:?}\n",
        pki.cert.display(),
        pki.key.display()
    );
    if client_ca {
        section.push_str(&format!("client_ca_file = {:?}\n", pki.ca.display()));
    }
    section
}

/// Waits for https on an agent started with TLS (its /-/healthy is not plain http).
fn https_ready(agent: &mut Child, client: &Client) {
    let port = agent.port;
    poll_until(WITHIN, "https /-/healthy answers 200", || {
        agent.assert_running();
        match https_get(client, port, "/-/healthy")? {
            (200, _) => Ok(()),
            (status, body) => Err(format!("{status}: {body}")),
        }
    });
}

fn outpost_tls(extra: &str) -> Child {
    let port = free_port();
    let config = format!(
        "listen = \"127.0.0.1:{port}\"\n[[remote_write]]\nurl = \"http://127.0.0.1:1/api/v1/write\"\n{extra}"
    );
    let mut child = start_outpost(&config);
    child.port = port;
    child
}

#[test]
fn tls_serves_https_with_the_configured_certificate() {
    let pki = Pki::new();
    let mut agent = outpost_tls(&tls_section(&pki, false));
    let client = tls_client(&pki, false);
    https_ready(&mut agent, &client);
    let (status, body) = https_get(&client, agent.port, "/metrics").expect("https /metrics");
    assert_eq!(status, 200);
    assert!(body.contains("process_start_time_seconds"), "{body}");
    // Plain http to the TLS port gets no HTTP answer.
    assert!(http_get(agent.port, "/metrics").is_err(), "plain http is not answered");
    // A client that trusts another CA refuses the server's certificate.
    let other = TlsConfig { ca: Some(Pem::File(pki.other_ca.clone())), ..TlsConfig::default() };
    let wrong =
        Client::new(&HttpClientConfig { auth: None, tls: other }, Duration::from_secs(5)).expect("client");
    let e = https_get(&wrong, agent.port, "/metrics").expect_err("unknown issuer");
    assert!(e.contains("UnknownIssuer"), "{e}");
}

#[test]
fn mutual_tls_refuses_a_client_without_a_certificate() {
    let pki = Pki::new();
    let mut agent = outpost_tls(&tls_section(&pki, true));
    let with_cert = tls_client(&pki, true);
    https_ready(&mut agent, &with_cert);
    let (status, _) = https_get(&with_cert, agent.port, "/metrics").expect("with a client certificate");
    assert_eq!(status, 200);
    let e = https_get(&tls_client(&pki, false), agent.port, "/metrics").expect_err("without one");
    // TLS 1.3: the server's alert arrives after the client's handshake completes.
    assert!(e.to_lowercase().contains("certificate"), "the error names the missing certificate: {e}");
}

fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")))
}

#[test]
fn basic_auth_protects_every_path_but_healthy() {
    let agent = outpost(&format!("[web.basic_auth_users]\n{USER} = {PASSWORD_BCRYPT:?}\n"));
    let get = |path: &str, auth: Option<String>| {
        let headers: Vec<(&str, &str)> = auth.as_deref().map(|a| ("Authorization", a)).into_iter().collect();
        http_request(agent.port, "GET", path, &headers, &[]).expect("GET")
    };
    assert_eq!(get("/metrics", None), (401, "Unauthorized\n".to_owned()), "without credentials");
    assert_eq!(get("/metrics", Some(basic(USER, "wrong"))).0, 401, "wrong password");
    assert_eq!(get("/metrics", Some(basic("nobody", PASSWORD))).0, 401, "unknown user");
    assert_eq!(get("/-/ready", None).0, 401);
    assert_eq!(get("/-/healthy", None).0, 200, "/-/healthy stays open");
    let (status, body) = get("/metrics", Some(basic(USER, PASSWORD)));
    assert_eq!(status, 200);
    assert!(body.contains("process_start_time_seconds"));
    // The challenge a browser needs to ask for credentials.
    let mut stream = connect(agent.port);
    stream.write_all(b"GET /metrics HTTP/1.0\r\n\r\n").expect("write");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("read");
    assert!(answer.contains("\r\nWWW-Authenticate: Basic\r\n"), "{answer}");
    assert!(!agent.log_tail().contains(PASSWORD), "the password is never logged");
}

#[test]
fn reload_answers_as_prometheus_without_lifecycle_and_reloads_with_it() {
    // Prometheus 2.42 without --web.enable-lifecycle: the reference answers.
    let prometheus = start_prometheus();
    let reference_post = http_request(prometheus.port, "POST", "/-/reload", &[], &[]).expect("POST");
    let reference_get = http_request(prometheus.port, "GET", "/-/reload", &[], &[]).expect("GET");
    assert_eq!(reference_post, (403, "Lifecycle API is not enabled.".to_owned()));
    assert_eq!(reference_get, (405, "Only POST or PUT requests allowed".to_owned()));
    let agent = outpost("");
    assert_eq!(http_request(agent.port, "POST", "/-/reload", &[], &[]).expect("POST"), reference_post);
    assert_eq!(http_request(agent.port, "PUT", "/-/reload", &[], &[]).expect("PUT"), reference_post);
    assert_eq!(http_request(agent.port, "GET", "/-/reload", &[], &[]).expect("GET"), reference_get);
    drop(agent);

    let agent = outpost("[web]\nenable_lifecycle = true\n");
    assert_eq!(http_request(agent.port, "POST", "/-/reload", &[], &[]).expect("POST"), (200, String::new()));
    poll_until(WITHIN, "the reload is logged", || {
        let log = agent.log_tail();
        if log.contains("/-/reload: configuration reloaded") { Ok(()) } else { Err(log) }
    });
    // An invalid file is refused: 500 with the reason, as Prometheus's "failed to reload config".
    let file = agent.dir().join("outpost.toml");
    let text = fs::read_to_string(&file).expect("read config");
    fs::write(&file, format!("{text}[global]\nscrape_interval = \"soon\"\n")).expect("write config");
    let (status, body) = http_request(agent.port, "POST", "/-/reload", &[], &[]).expect("POST");
    assert_eq!(status, 500, "{body}");
    assert!(body.starts_with("failed to reload config: invalid config"), "{body}");
    assert!(body.contains("invalid duration \"soon\""), "{body}");
    assert_eq!(http_get(agent.port, "/-/healthy").expect("healthy").0, 200, "still running the previous one");
}
