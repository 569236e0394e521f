//! The `listen` endpoint's server: several connections at once, each a task
//! bounded in time (`read_timeout`) and size (request head, headers, body),
//! at most `max_connections` of them; when full, the one that has waited
//! longest for its request head is closed to make room, so a slow or hostile
//! client stalls neither `/metrics` nor the executor. `[web]` adds TLS,
//! basic auth (every path but `/-/healthy`) and `POST /-/reload`.

pub mod auth;
pub mod conn;
pub mod request;
pub mod tls;

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use smol::LocalExecutor;
use smol::channel::{Receiver, Sender};
use smol::net::{TcpListener, TcpStream};

use crate::client::tls::TlsError;
use crate::config::WebConfig;
use crate::offload::Offload;
use crate::timer::Timer;
use auth::BasicAuth;
use conn::{Io, ReadError};
pub use request::{Request, Response};

/// A `/-/reload` for the main loop: it answers on the sender with the
/// reload's outcome (an error is the reason the configuration was refused).
pub type ReloadRequest = Sender<Result<(), String>>;

/// The settings of one configuration; replaced whole on reload, while
/// connections already open finish with the ones they started with.
struct Settings {
    tls: Option<Arc<rustls::ServerConfig>>,
    auth: BasicAuth,
    enable_lifecycle: bool,
    max_connections: usize,
    read_timeout: Duration,
}

impl Settings {
    fn new(web: &WebConfig) -> Result<Settings, TlsError> {
        Ok(Settings {
            tls: web.tls.as_ref().map(tls::server_config).transpose()?,
            auth: BasicAuth::new(web.basic_auth_users.clone()),
            enable_lifecycle: web.enable_lifecycle,
            max_connections: web.max_connections.max(1),
            read_timeout: web.read_timeout,
        })
    }
}

/// Owned by the agent on the executor thread.
pub struct Web {
    settings: RefCell<Rc<Settings>>,
    reloads: Sender<ReloadRequest>,
}

impl Web {
    /// Reads the TLS files; the receiver yields each `POST /-/reload`.
    pub fn new(web: &WebConfig) -> Result<(Web, Receiver<ReloadRequest>), TlsError> {
        let (reloads, requested) = smol::channel::bounded(4);
        Ok((Web { settings: RefCell::new(Rc::new(Settings::new(web)?)), reloads }, requested))
    }

    /// On reload: new connections use `web` (the TLS files are read again).
    pub fn set(&self, web: &WebConfig) -> Result<(), TlsError> {
        *self.settings.borrow_mut() = Rc::new(Settings::new(web)?);
        Ok(())
    }
}

/// After a refusal, at most this much of the rest of the request is read, within the time left.
const DRAIN: usize = 64 * 1024;

/// One open connection, as the accept loop sees it.
struct Open {
    since: Instant,
    /// Set once the request head has arrived; until then it may be evicted.
    head_complete: Rc<Cell<bool>>,
    /// Dropping it ends the connection's task.
    _evict: Sender<()>,
}

/// Accepts until dropped; each connection is answered by `route`, except
/// `/-/reload`, which the server answers itself.
pub async fn serve(
    listener: &TcpListener,
    web: &Web,
    offload: &Offload,
    route: &dyn Fn(&Request) -> Response,
) {
    let open: RefCell<BTreeMap<u64, Open>> = RefCell::default();
    let ex = LocalExecutor::new();
    let accepting = async {
        for id in 0u64.. {
            let (stream, peer) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    // EMFILE and the like: wait for connections to close.
                    log::warn!("listen: accept: {e}");
                    Timer::after(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let settings = web.settings.borrow().clone();
            let full = open.borrow().len() >= settings.max_connections;
            if full && !evict_slowest(&mut open.borrow_mut()) {
                log::debug!("listen: {peer}: {} connections open, refused", settings.max_connections);
                continue; // dropping `stream` closes it
            }
            let (evict, evicted) = smol::channel::bounded::<()>(1);
            let head_complete = Rc::new(Cell::new(false));
            open.borrow_mut().insert(
                id,
                Open { since: Instant::now(), head_complete: head_complete.clone(), _evict: evict },
            );
            let open = &open;
            ex.spawn(async move {
                let timeout = settings.read_timeout;
                let exchange = exchange(stream, peer, &settings, web, offload, route, &head_complete);
                let bounded = async {
                    Timer::after(timeout).await;
                    log::debug!("listen: {peer}: no answer within read_timeout, closed");
                };
                let ended = async {
                    let _ = evicted.recv().await;
                    log::debug!("listen: {peer}: closed to make room (no request head yet)");
                };
                smol::future::or(exchange, smol::future::or(bounded, ended)).await;
                open.borrow_mut().remove(&id);
            })
            .detach();
        }
    };
    ex.run(accepting).await;
}

/// Closes the connection that has waited longest for its head; false if every one has its head.
fn evict_slowest(open: &mut BTreeMap<u64, Open>) -> bool {
    let slowest =
        open.iter().filter(|(_, o)| !o.head_complete.get()).min_by_key(|(_, o)| o.since).map(|(id, _)| *id);
    slowest.is_some_and(|id| open.remove(&id).is_some())
}

async fn exchange(
    stream: TcpStream,
    peer: SocketAddr,
    settings: &Settings,
    web: &Web,
    offload: &Offload,
    route: &dyn Fn(&Request) -> Response,
    head_complete: &Cell<bool>,
) {
    let mut io = match Io::new(stream, settings.tls.as_ref()) {
        Ok(io) => io,
        Err(e) => return log::warn!("listen: {peer}: tls: {e}"),
    };
    let (response, head_only, refused) = match conn::read_request(&mut io, || head_complete.set(true)).await {
        Ok(request) => {
            (answer(&request, settings, web, offload, route).await, request.method == "HEAD", false)
        }
        Err(ReadError::Refused(response)) => (response, false, true),
        Err(ReadError::Io(e)) => return log::debug!("listen: {peer}: {e}"),
    };
    let written = async {
        io.write_all(response.head().as_bytes()).await?;
        if !head_only {
            io.write_all(&response.body).await?;
        }
        io.close().await?;
        if refused {
            // What the client still sends is read and dropped, so that closing
            // does not reset the connection before the refusal is read.
            io.drain(DRAIN).await;
        }
        Ok::<(), std::io::Error>(())
    };
    if let Err(e) = written.await {
        log::debug!("listen: answer {peer}: {e}");
    }
}

async fn answer(
    request: &Request,
    settings: &Settings,
    web: &Web,
    offload: &Offload,
    route: &dyn Fn(&Request) -> Response,
) -> Response {
    if settings.auth.enabled()
        && request.path != "/-/healthy"
        && !settings.auth.allows(request.header("authorization"), offload).await
    {
        let mut response = Response::text(401, "Unauthorized\n");
        response.headers.push(("WWW-Authenticate", "Basic".to_owned()));
        return response;
    }
    // Prometheus's answers (web/web.go), words included.
    match (request.path.as_str(), request.method.as_str()) {
        ("/-/reload", "POST" | "PUT") if !settings.enable_lifecycle => {
            Response::text(403, "Lifecycle API is not enabled.")
        }
        ("/-/reload", "POST" | "PUT") => {
            let (reply, outcome) = smol::channel::bounded(1);
            if web.reloads.try_send(reply).is_err() {
                return Response::text(503, "a reload is already waiting\n");
            }
            match outcome.recv().await {
                Ok(Ok(())) => Response::text(200, ""),
                Ok(Err(reason)) => Response::text(500, format!("failed to reload config: {reason}\n")),
                Err(_) => Response::text(503, "stopping\n"),
            }
        }
        ("/-/reload", _) => Response::text(405, "Only POST or PUT requests allowed"),
        _ => route(request),
    }
}
