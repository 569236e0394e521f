//! An in-test Kubernetes API server: HTTPS on 127.0.0.1 with rustls, certificates made
//! here with rcgen (a server CA and a client CA, ECDSA P-256, as K3s issues them). It serves
//! list (with resourceVersion) and watch (ADDED, MODIFIED, DELETED, BOOKMARK, ERROR 410) for
//! pods, nodes, services, endpoints, endpointslices, ingresses and namespaces (a kind can be
//! made unserved: 404, as a cluster without that API), label and field selectors of the `k=v`/`k!=v` kind, and one-shot faults:
//! malformed JSON, an unknown event type, a hanging watch, HTTP 410, 401. Each connection
//! has its thread; all of them stop when the server is dropped (they poll a flag).

use std::collections::{BTreeMap, VecDeque};
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, ServerConnection, StreamOwned};
use serde_json::{Value, json};

/// A watch event cut short.
const MALFORMED_EVENT: &str = "{\"type\":\"ADDED\",\"object\":{\"metadata\":";

/// How often blocked threads look at the stop flag.
const POLL: Duration = Duration::from_millis(100);

/// Certificates and keys, PEM.
pub struct Pki {
    /// The CA that signed the server's certificate (kubeconfig `certificate-authority-data`).
    pub server_ca: String,
    pub client_cert: String,
    pub client_key: String,
    /// Signed by the client CA, but valid only in 2020.
    pub expired_cert: String,
    pub expired_key: String,
    /// A certificate the server does not trust (another CA).
    pub foreign_cert: String,
    pub foreign_key: String,
}

/// How a request proves who it is.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Auth {
    /// A certificate from the client CA, checked in the TLS handshake.
    ClientCert,
    /// `Authorization: Bearer <token>` (the token is set with [`KubeApi::set_token`]); a client
    /// certificate, when sent, must still be valid.
    Token,
}

/// One-shot faults, each taken by the next request it applies to.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Fault {
    /// A list answers 200 with a truncated JSON body.
    MalformedList,
    /// A watch sends a line that is not JSON, then ends.
    MalformedEvent,
    /// A watch sends an event of type "FROBNICATED", then goes on as usual.
    UnknownEvent,
    /// A watch answers 200 and then sends nothing, ever.
    HangWatch,
    /// A watch answers HTTP 410 Gone.
    Gone,
    /// A watch answers 200 and ends at once, with no event.
    EndWatch,
    /// Any request answers 401 (also in token mode with the right token).
    Unauthorized,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Pod,
    Node,
    Service,
    Endpoints,
    EndpointSlice,
    Ingress,
    Namespace,
}

impl Kind {
    const ALL: [Kind; 7] = [
        Kind::Pod,
        Kind::Node,
        Kind::Service,
        Kind::Endpoints,
        Kind::EndpointSlice,
        Kind::Ingress,
        Kind::Namespace,
    ];

    fn name(self) -> &'static str {
        match self {
            Kind::Pod => "Pod",
            Kind::Node => "Node",
            Kind::Service => "Service",
            Kind::Endpoints => "Endpoints",
            Kind::EndpointSlice => "EndpointSlice",
            Kind::Ingress => "Ingress",
            Kind::Namespace => "Namespace",
        }
    }

    fn plural(self) -> &'static str {
        match self {
            Kind::Pod => "pods",
            Kind::Node => "nodes",
            Kind::Service => "services",
            Kind::Endpoints => "endpoints",
            Kind::EndpointSlice => "endpointslices",
            Kind::Ingress => "ingresses",
            Kind::Namespace => "namespaces",
        }
    }

    fn api_version(self) -> &'static str {
        match self {
            Kind::EndpointSlice => "discovery.k8s.io/v1",
            Kind::Ingress => "networking.k8s.io/v1",
            _ => "v1",
        }
    }

    fn prefix(self) -> &'static str {
        match self {
            Kind::EndpointSlice => "/apis/discovery.k8s.io/v1",
            Kind::Ingress => "/apis/networking.k8s.io/v1",
            _ => "/api/v1",
        }
    }

    fn namespaced(self) -> bool {
        !matches!(self, Kind::Node | Kind::Namespace)
    }
}

struct Event {
    rv: u64,
    kind: Kind,
    /// ADDED, MODIFIED, DELETED or BOOKMARK.
    kind_of_event: &'static str,
    object: Value,
}

#[derive(Default)]
struct State {
    rv: u64,
    objects: BTreeMap<(Kind, String, String), Value>,
    history: Vec<Event>,
    /// A watch from a resourceVersion below this gets ERROR 410 ("too old").
    oldest: u64,
    /// Bumped by `expire_watches`: open watches send ERROR 410 and end.
    generation: u64,
    faults: VecDeque<Fault>,
    /// Bearer tokens accepted in token mode.
    tokens: Vec<String>,
    /// Paths answered with what 127.0.0.1:port answers for another path (`proxy`).
    proxies: BTreeMap<String, (u16, String)>,
    requests: Vec<String>,
    /// Kinds answered with 404, as an API server without that API.
    unserved: Vec<Kind>,
    /// The Authorization header of each request ("" when none).
    authorizations: Vec<String>,
    watching: usize,
}

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
    stop: AtomicBool,
    auth: Auth,
}

pub struct KubeApi {
    pub port: u16,
    pub pki: Pki,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl KubeApi {
    pub fn start(auth: Auth) -> KubeApi {
        let (pki, config) = make_pki(auth);
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind kube api");
        listener.set_nonblocking(true).expect("nonblocking listener");
        let port = listener.local_addr().expect("addr").port();
        let shared = Arc::new(Shared {
            state: Mutex::new(State { rv: 100, oldest: 0, ..State::default() }),
            changed: Condvar::new(),
            stop: AtomicBool::new(false),
            auth,
        });
        let thread = {
            let shared = shared.clone();
            std::thread::spawn(move || accept(listener, Arc::new(config), shared))
        };
        KubeApi { port, pki, shared, thread: Some(thread) }
    }

    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.shared.state.lock().expect("kube api state")
    }

    /// Creates or replaces an object (ADDED or MODIFIED); returns its resourceVersion.
    pub fn apply(&self, kind: Kind, mut object: Value) -> u64 {
        let mut s = self.state();
        s.rv += 1;
        let rv = s.rv;
        object["metadata"]["resourceVersion"] = json!(rv.to_string());
        let key = key(kind, &object);
        let event = if s.objects.insert(key, object.clone()).is_some() { "MODIFIED" } else { "ADDED" };
        s.history.push(Event { rv, kind, kind_of_event: event, object });
        drop(s);
        self.shared.changed.notify_all();
        rv
    }

    /// Answers `kind`'s list and watch with 404 (`false`), or serves it again.
    pub fn set_served(&self, kind: Kind, served: bool) {
        let mut s = self.state();
        s.unserved.retain(|k| *k != kind);
        if !served {
            s.unserved.push(kind);
        }
    }

    /// Every item of a `PodList`/`NodeList` fixture, applied in order.
    pub fn apply_list(&self, kind: Kind, list: &str) {
        let list: Value = serde_json::from_str(list).expect("fixture list is JSON");
        for item in list["items"].as_array().expect("fixture has items") {
            self.apply(kind, item.clone());
        }
    }

    pub fn delete(&self, kind: Kind, namespace: &str, name: &str) {
        let mut s = self.state();
        let Some(mut object) = s.objects.remove(&(kind, namespace.to_owned(), name.to_owned())) else {
            panic!("delete {namespace}/{name}: no such object")
        };
        s.rv += 1;
        let rv = s.rv;
        object["metadata"]["resourceVersion"] = json!(rv.to_string());
        s.history.push(Event { rv, kind, kind_of_event: "DELETED", object });
        drop(s);
        self.shared.changed.notify_all();
    }

    /// Sends a BOOKMARK with the current resourceVersion to every open watch of `kind`.
    pub fn bookmark(&self, kind: Kind) -> u64 {
        let mut s = self.state();
        s.rv += 1;
        let rv = s.rv;
        let object = json!({"kind": kind.name(), "apiVersion": kind.api_version(), "metadata": {"resourceVersion": rv.to_string()}});
        s.history.push(Event { rv, kind, kind_of_event: "BOOKMARK", object });
        drop(s);
        self.shared.changed.notify_all();
        rv
    }

    /// Forgets the history: a watch from an older resourceVersion gets ERROR 410.
    pub fn compact(&self) {
        let mut s = self.state();
        s.oldest = s.rv;
    }

    /// Compacts and ends every open watch with an in-stream ERROR 410.
    pub fn expire_watches(&self) {
        let mut s = self.state();
        s.oldest = s.rv;
        s.generation += 1;
        drop(s);
        self.shared.changed.notify_all();
    }

    pub fn fault(&self, fault: Fault) {
        self.state().faults.push_back(fault);
    }

    /// Answers GET `path` (authorized as any request) with the status and body that
    /// `GET upstream` on 127.0.0.1:`port` answers, as text/plain: the API server's own
    /// /metrics, or a kubelet's pages behind `/api/v1/nodes/<node>/proxy/`.
    pub fn proxy(&self, path: &str, port: u16, upstream: &str) {
        self.state().proxies.insert(path.to_owned(), (port, upstream.to_owned()));
    }

    /// Accepts only `token` from now on.
    pub fn set_token(&self, token: &str) {
        self.state().tokens = vec![token.to_owned()];
    }

    /// Accepts `token` as well.
    pub fn add_token(&self, token: &str) {
        self.state().tokens.push(token.to_owned());
    }

    /// The Authorization header of every request so far ("" when none).
    pub fn authorizations(&self) -> Vec<String> {
        self.state().authorizations.clone()
    }

    /// Every request so far, as "GET /path?query".
    pub fn requests(&self) -> Vec<String> {
        self.state().requests.clone()
    }

    /// Watches open now.
    pub fn watching(&self) -> usize {
        self.state().watching
    }
}

impl Drop for KubeApi {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.changed.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn key(kind: Kind, object: &Value) -> (Kind, String, String) {
    let meta = &object["metadata"];
    let text = |v: &Value| v.as_str().unwrap_or("").to_owned();
    (kind, text(&meta["namespace"]), text(&meta["name"]))
}

fn make_pki(auth: Auth) -> (Pki, ServerConfig) {
    let ca = |name: &str| {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("ca key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let cert = params.self_signed(&key).expect("self-signed ca");
        (cert, Issuer::new(params, key))
    };
    let (server_ca, server_issuer) = ca("k3s-server-ca@1700000000");
    let (client_ca, client_issuer) = ca("k3s-client-ca@1700000000");
    let (foreign_ca, foreign_issuer) = ca("someone-else");
    drop(foreign_ca);
    let leaf = |names: Vec<String>, issuer: &Issuer<'_, KeyPair>, client: bool, expired: bool| {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("leaf key");
        let mut params = CertificateParams::new(names).expect("leaf params");
        if client {
            params.distinguished_name.push(DnType::CommonName, "system:admin");
            params.distinguished_name.push(DnType::OrganizationName, "system:masters");
            params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        } else {
            params.distinguished_name.push(DnType::CommonName, "k3s");
            params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        }
        if expired {
            params.not_before = rcgen::date_time_ymd(2020, 1, 1);
            params.not_after = rcgen::date_time_ymd(2021, 1, 1);
        }
        let cert = params.signed_by(&key, issuer).expect("sign leaf");
        (cert, key)
    };
    let (server_cert, server_key) =
        leaf(vec!["127.0.0.1".into(), "localhost".into(), "kubernetes".into()], &server_issuer, false, false);
    let (client_cert, client_key) = leaf(vec![], &client_issuer, true, false);
    let (expired_cert, expired_key) = leaf(vec![], &client_issuer, true, true);
    let (foreign_cert, foreign_key) = leaf(vec![], &foreign_issuer, true, false);

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    roots.add(client_ca.der().clone()).expect("client ca into roots");
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone());
    let verifier = match auth {
        Auth::ClientCert => verifier.build(),
        Auth::Token => verifier.allow_unauthenticated().build(),
    }
    .expect("client verifier");
    let chain = vec![server_cert.der().clone(), CertificateDer::from(server_ca.der().to_vec())];
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der()));
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .expect("server cert");
    let pki = Pki {
        server_ca: server_ca.pem(),
        client_cert: client_cert.pem(),
        client_key: client_key.serialize_pem(),
        expired_cert: expired_cert.pem(),
        expired_key: expired_key.serialize_pem(),
        foreign_cert: foreign_cert.pem(),
        foreign_key: foreign_key.serialize_pem(),
    };
    (pki, config)
}

fn accept(listener: TcpListener, config: Arc<ServerConfig>, shared: Arc<Shared>) {
    let mut connections = Vec::new();
    while !shared.stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _)) => {
                let (config, shared) = (config.clone(), shared.clone());
                connections.push(std::thread::spawn(move || connection(stream, config, &shared)));
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => std::thread::sleep(Duration::from_millis(10)),
            Err(_) => break,
        }
    }
    for c in connections {
        let _ = c.join();
    }
}

type Tls = StreamOwned<ServerConnection, TcpStream>;

/// Serves requests on one connection until the peer closes it, the handshake fails, or stop.
fn connection(stream: TcpStream, config: Arc<ServerConfig>, shared: &Shared) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(POLL));
    let Ok(conn) = ServerConnection::new(config) else { return };
    let mut tls = StreamOwned::new(conn, stream);
    let mut buf = Vec::new();
    loop {
        let Some((path, auth_header)) = read_request(&mut tls, &mut buf, shared) else { return };
        let cert = tls.conn.peer_certificates().is_some_and(|c| !c.is_empty());
        if !serve(&mut tls, &path, auth_header, cert, shared) {
            return;
        }
    }
}

/// Reads one request head; `None` when the connection is done.
fn read_request(tls: &mut Tls, buf: &mut Vec<u8>, shared: &Shared) -> Option<(String, Option<String>)> {
    let mut chunk = [0u8; 4096];
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut request = httparse::Request::new(&mut headers);
        if let Ok(httparse::Status::Complete(len)) = request.parse(buf) {
            let path = request.path.unwrap_or("/").to_owned();
            let auth = request
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("authorization"))
                .map(|h| String::from_utf8_lossy(h.value).into_owned());
            buf.drain(..len);
            return Some((path, auth));
        }
        match tls.read(&mut chunk) {
            Ok(0) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                if shared.stop.load(Ordering::SeqCst) {
                    return None;
                }
            }
            Err(_) => return None,
        }
    }
}

struct Query {
    resource_version: Option<u64>,
    watch: bool,
    timeout: Option<Duration>,
    label_selector: String,
    field_selector: String,
}

fn parse_query(query: &str) -> Query {
    let mut q = Query {
        resource_version: None,
        watch: false,
        timeout: None,
        label_selector: String::new(),
        field_selector: String::new(),
    };
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let v = percent_decode(v);
        match k {
            "resourceVersion" => q.resource_version = v.parse().ok(),
            "watch" => q.watch = v == "true" || v == "1",
            "timeoutSeconds" => q.timeout = v.parse().ok().map(Duration::from_secs),
            "labelSelector" => q.label_selector = v,
            "fieldSelector" => q.field_selector = v,
            _ => {}
        }
    }
    q
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
                continue;
            }
            (b'+', _) => out.push(b' '),
            (b, _) => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The route: (kind, namespace filter).
fn route(path: &str) -> Option<(Kind, Option<String>)> {
    Kind::ALL.into_iter().find_map(|kind| {
        let all = format!("{}/{}", kind.prefix(), kind.plural());
        if path == all {
            return Some((kind, None));
        }
        let rest = path.strip_prefix(&format!("{}/namespaces/", kind.prefix()))?;
        let (ns, plural) = rest.split_once('/')?;
        (kind.namespaced() && plural == kind.plural() && !ns.is_empty()).then(|| (kind, Some(ns.to_owned())))
    })
}

/// Answers one request; false when the connection must close.
fn serve(tls: &mut Tls, target: &str, auth: Option<String>, cert: bool, shared: &Shared) -> bool {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let q = parse_query(query);
    let mut s = shared.state.lock().expect("state");
    s.requests.push(format!("GET {target}"));
    s.authorizations.push(auth.clone().unwrap_or_default());
    let authorized = match shared.auth {
        Auth::ClientCert => cert,
        Auth::Token => auth.is_some_and(|a| s.tokens.iter().any(|t| a == format!("Bearer {t}"))),
    };
    if take(&mut s, |f| f == Fault::Unauthorized) || !authorized {
        drop(s);
        return respond(tls, 401, &status(401, "Unauthorized", "Unauthorized"));
    }
    if let Some((port, upstream)) = s.proxies.get(path).cloned() {
        drop(s);
        let (code, body) = super::http_get(port, &upstream).unwrap_or_else(|e| (502, e.to_string()));
        return respond_as(tls, code, "text/plain; version=0.0.4", &body);
    }
    let Some((kind, namespace)) = route(path).filter(|(k, _)| !s.unserved.contains(k)) else {
        drop(s);
        return respond(
            tls,
            404,
            &status(404, "NotFound", "the server could not find the requested resource"),
        );
    };
    let matches = |object: &Value| {
        object_kind_matches(object, namespace.as_deref())
            && selected(object, &q.label_selector, &q.field_selector)
    };
    if !q.watch {
        if take(&mut s, |f| f == Fault::MalformedList) {
            drop(s);
            return respond(
                tls,
                200,
                "{\"kind\":\"PodList\",\"apiVersion\":\"v1\",\"items\":[{\"metadata\":",
            );
        }
        let items: Vec<Value> = s
            .objects
            .iter()
            .filter(|((k, _, _), o)| *k == kind && matches(o))
            .map(|(_, o)| o.clone())
            .collect();
        let list = json!({
            "kind": format!("{}List", kind.name()), "apiVersion": kind.api_version(),
            "metadata": {"resourceVersion": s.rv.to_string()}, "items": items,
        });
        drop(s);
        return respond(tls, 200, &list.to_string());
    }
    if take(&mut s, |f| f == Fault::Gone) {
        drop(s);
        return respond(tls, 410, &status(410, "Gone", "too old resource version"));
    }
    if take(&mut s, |f| f == Fault::EndWatch) {
        drop(s);
        let empty = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
        return tls.write_all(empty.as_bytes()).and_then(|()| tls.flush()).is_ok();
    }
    let hang = take(&mut s, |f| f == Fault::HangWatch);
    let from = q.resource_version.unwrap_or(0);
    let generation = s.generation;
    s.watching += 1;
    drop(s);
    let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
    let ok = tls.write_all(head.as_bytes()).and_then(|()| tls.flush()).is_ok()
        && (hang || stream_events(tls, shared, kind, from, generation, q.timeout, &matches));
    shared.state.lock().expect("state").watching -= 1;
    if hang {
        while !shared.stop.load(Ordering::SeqCst) {
            std::thread::sleep(POLL);
        }
        return false;
    }
    ok && tls.write_all(b"0\r\n\r\n").and_then(|()| tls.flush()).is_ok()
}

/// Streams events after `from` until the timeout, ERROR 410, a write error or stop; true
/// when the stream ended cleanly (the connection may serve another request).
fn stream_events(
    tls: &mut Tls,
    shared: &Shared,
    kind: Kind,
    from: u64,
    generation: u64,
    timeout: Option<Duration>,
    matches: &dyn Fn(&Value) -> bool,
) -> bool {
    let deadline = Instant::now() + timeout.unwrap_or(Duration::from_secs(1800));
    let mut s = shared.state.lock().expect("state");
    let mut lines: Vec<String> = Vec::new();
    let mut cursor;
    if from == 0 {
        // resourceVersion 0 or none: the current objects first, as ADDED.
        for ((k, _, _), o) in &s.objects {
            if *k == kind && matches(o) {
                lines.push(event("ADDED", kind, o.clone()));
            }
        }
        cursor = s.history.len();
    } else if from < s.oldest {
        drop(s);
        let line = json!({"type": "ERROR", "object": serde_json::from_str::<Value>(&status(410, "Expired", "too old resource version")).unwrap_or_default()});
        return chunk(tls, &format!("{line}\n"));
    } else {
        cursor = s.history.iter().position(|e| e.rv > from).unwrap_or(s.history.len());
    }
    loop {
        while cursor < s.history.len() {
            let e = &s.history[cursor];
            if e.kind == kind && (e.kind_of_event == "BOOKMARK" || matches(&e.object)) {
                lines.push(event(e.kind_of_event, kind, e.object.clone()));
            }
            cursor += 1;
        }
        let expired = s.generation != generation;
        if let Some(f) = take_any(&mut s, &[Fault::MalformedEvent, Fault::UnknownEvent]) {
            match f {
                Fault::MalformedEvent => lines.push(MALFORMED_EVENT.into()),
                _ => lines.push(json!({"type": "FROBNICATED", "object": {"kind": kind.name()}}).to_string()),
            }
        }
        drop(s);
        for line in lines.drain(..) {
            // A stream cut in the middle of an event ends there.
            if !chunk(tls, &format!("{line}\n")) || line == MALFORMED_EVENT {
                return false;
            }
        }
        if expired {
            let line = json!({"type": "ERROR", "object": serde_json::from_str::<Value>(&status(410, "Expired", "too old resource version")).unwrap_or_default()});
            return chunk(tls, &format!("{line}\n"));
        }
        if shared.stop.load(Ordering::SeqCst) || Instant::now() >= deadline {
            return !shared.stop.load(Ordering::SeqCst);
        }
        s = shared.state.lock().expect("state");
        if cursor == s.history.len() && s.generation == generation && s.faults.is_empty() {
            s = shared.changed.wait_timeout(s, POLL).expect("state").0;
        }
    }
}

fn event(kind_of_event: &str, kind: Kind, mut object: Value) -> String {
    object["kind"] = json!(kind.name());
    object["apiVersion"] = json!(kind.api_version());
    json!({"type": kind_of_event, "object": object}).to_string()
}

fn chunk(tls: &mut Tls, data: &str) -> bool {
    let framed = format!("{:x}\r\n{data}\r\n", data.len());
    tls.write_all(framed.as_bytes()).and_then(|()| tls.flush()).is_ok()
}

fn take(s: &mut State, which: impl Fn(Fault) -> bool) -> bool {
    match s.faults.iter().position(|f| which(*f)) {
        Some(i) => s.faults.remove(i).is_some(),
        None => false,
    }
}

fn take_any(s: &mut State, kinds: &[Fault]) -> Option<Fault> {
    let i = s.faults.iter().position(|f| kinds.contains(f))?;
    s.faults.remove(i)
}

fn status(code: u16, reason: &str, message: &str) -> String {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
           "message": message, "reason": reason, "code": code})
    .to_string()
}

fn respond(tls: &mut Tls, code: u16, body: &str) -> bool {
    respond_as(tls, code, "application/json", body)
}

fn respond_as(tls: &mut Tls, code: u16, content_type: &str, body: &str) -> bool {
    let reason = match code {
        200 => "OK",
        401 => "Unauthorized",
        404 => "Not Found",
        410 => "Gone",
        _ => "Error",
    };
    let head = format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    tls.write_all(head.as_bytes())
        .and_then(|()| tls.write_all(body.as_bytes()))
        .and_then(|()| tls.flush())
        .is_ok()
}

fn object_kind_matches(object: &Value, namespace: Option<&str>) -> bool {
    namespace.is_none_or(|ns| object["metadata"]["namespace"].as_str() == Some(ns))
}

/// `k=v`, `k==v`, `k!=v` and bare `k` (labels only), comma-separated, all must hold.
fn selected(object: &Value, labels: &str, fields: &str) -> bool {
    let label = |k: &str| object["metadata"]["labels"][k].as_str().map(str::to_owned);
    let field = |k: &str| {
        let mut v = object;
        for part in k.split('.') {
            v = &v[part];
        }
        Some(v.as_str().unwrap_or("").to_owned())
    };
    let check = |selector: &str, get: &dyn Fn(&str) -> Option<String>| {
        selector.split(',').filter(|t| !t.is_empty()).all(|term| {
            if let Some((k, v)) = term.split_once("!=") {
                get(k.trim()).as_deref() != Some(v.trim())
            } else if let Some((k, v)) = term.split_once('=') {
                get(k.trim().trim_end_matches('=')).as_deref() == Some(v.trim().trim_start_matches('='))
            } else {
                get(term.trim()).is_some()
            }
        })
    };
    check(labels, &label) && check(fields, &field)
}
