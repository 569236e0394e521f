//! In-test stand-ins for fault injection: a remote-write receiver that
//! answers from a script (503, 429, 400, ...) and records every request, and
//! a scrape target that serves a fixed body. Loopback only; both stop when
//! dropped (the accept loop polls a flag, bounded by its short timeout). Each
//! connection is served on its own thread, so requests can overlap.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use outpost::staging::encode::WriteRequest;
use prost::Message;

/// One request as the fake receiver saw it.
#[derive(Clone, Debug)]
pub struct Received {
    pub at: Instant,
    pub headers: Vec<(String, String)>,
    /// The raw (snappy) body, to compare retries byte for byte.
    pub body: Vec<u8>,
    pub request: WriteRequest,
    /// The status the script answered with.
    pub status: u16,
}

/// What to answer to request number `n` (0-based) carrying `request`: status and extra headers.
pub type Script = Box<dyn Fn(usize, &WriteRequest) -> (u16, Vec<(&'static str, String)>) + Send + Sync>;

/// A connection's request handler: script, record, headers, body, stream.
type Handler = dyn Fn(&Script, &Mutex<Vec<Received>>, Vec<(String, String)>, Vec<u8>, &mut TcpStream) -> std::io::Result<()>
    + Send
    + Sync;

pub struct FakeReceiver {
    pub port: u16,
    pub received: Arc<Mutex<Vec<Received>>>,
    switches: Switches,
    thread: Option<JoinHandle<()>>,
}

impl FakeReceiver {
    pub fn start(script: Script) -> FakeReceiver {
        FakeReceiver::slow(Duration::ZERO, script)
    }

    /// Answers each request `delay` after it arrived (recorded on arrival).
    pub fn slow(delay: Duration, script: Script) -> FakeReceiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind fake receiver");
        let port = listener.local_addr().expect("addr").port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let switches = Switches::default();
        let thread = {
            let (received, switches) = (received.clone(), switches.clone());
            let handle = move |script: &Script,
                               received: &Mutex<Vec<Received>>,
                               headers,
                               body,
                               stream: &mut TcpStream| {
                handle_write(script, received, headers, body, stream, delay)
            };
            std::thread::spawn(move || serve(listener, script, received, switches, Arc::new(handle)))
        };
        FakeReceiver { port, received, switches, thread: Some(thread) }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/api/v1/write", self.port)
    }

    pub fn snapshot(&self) -> Vec<Received> {
        self.received.lock().expect("lock").clone()
    }

    /// (timestamp, value bits) of every delivered sample of the series whose
    /// labels (as `name=value,...`, sorted) start with `__name__=<name>,` and
    /// contain `with`; sorted by timestamp.
    #[allow(dead_code)] // not every test file uses it
    pub fn samples(&self, name: &str, with: &str) -> Vec<(i64, u64)> {
        let prefix = format!("__name__={name},");
        let mut out: Vec<(i64, u64)> = delivered(&self.snapshot())
            .into_iter()
            .filter(|(k, _, _)| k.starts_with(&prefix) && k.contains(with))
            .map(|(_, t, v)| (t, v.to_bits()))
            .collect();
        out.sort();
        out
    }

    /// Refuses connections (and closes open ones) until `up`.
    pub fn down(&self) {
        self.switches.down.store(true, Ordering::SeqCst);
    }

    pub fn up(&self) {
        self.switches.down.store(false, Ordering::SeqCst);
    }
}

impl Drop for FakeReceiver {
    fn drop(&mut self) {
        self.switches.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// What a fake target serves to its n-th scrape (0-based).
pub type Page = Box<dyn Fn(u64) -> String + Send + Sync>;

/// The same, with the answer's headers and raw body bytes.
pub type RawPage = Box<dyn Fn(u64) -> (Vec<(&'static str, String)>, Vec<u8>) + Send + Sync>;

/// A scrape target that answers every GET with `page(n)`.
pub struct FakeTarget {
    pub port: u16,
    /// Scrapes served so far.
    pub served: Arc<std::sync::atomic::AtomicU64>,
    /// The `Accept` header of the last scrape.
    pub accept: Arc<Mutex<Option<String>>>,
    switches: Switches,
    thread: Option<JoinHandle<()>>,
}

impl FakeTarget {
    pub fn start(body: &'static str) -> FakeTarget {
        FakeTarget::dynamic(Box::new(move |_| body.to_owned()))
    }

    pub fn dynamic(page: Page) -> FakeTarget {
        FakeTarget::raw(Box::new(move |n| {
            (vec![("Content-Type", "text/plain; version=0.0.4".to_owned())], page(n).into_bytes())
        }))
    }

    pub fn raw(page: RawPage) -> FakeTarget {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind fake target");
        let port = listener.local_addr().expect("addr").port();
        let served = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let accept = Arc::new(Mutex::new(None));
        let switches = Switches::default();
        let thread = {
            let (switches, served, last_accept) = (switches.clone(), served.clone(), accept.clone());
            let script: Script = Box::new(|_, _| (200, Vec::new()));
            std::thread::spawn(move || {
                let handle = move |_: &Script,
                                   _: &Mutex<Vec<Received>>,
                                   headers: Vec<(String, String)>,
                                   _,
                                   stream: &mut TcpStream| {
                    let value = headers.into_iter().find(|(k, _)| k == "accept").map(|(_, v)| v);
                    *last_accept.lock().expect("lock") = value;
                    let (headers, body) = page(served.load(Ordering::SeqCst));
                    respond_bytes(stream, 200, &headers, &body)?;
                    served.fetch_add(1, Ordering::SeqCst);
                    Ok(())
                };
                serve(listener, script, Arc::new(Mutex::new(Vec::new())), switches, Arc::new(handle))
            })
        };
        FakeTarget { port, served, accept, switches, thread: Some(thread) }
    }

    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for FakeTarget {
    fn drop(&mut self) {
        self.switches.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(
    listener: TcpListener,
    script: Script,
    received: Arc<Mutex<Vec<Received>>>,
    switches: Switches,
    handle: Arc<Handler>,
) {
    let script = Arc::new(script);
    let port = listener.local_addr().expect("addr").port();
    let mut listener = Some(listener);
    let Switches { stop, down } = switches;
    while !stop.load(Ordering::SeqCst) {
        if down.load(Ordering::SeqCst) {
            // Down: no listener, so connections are refused.
            listener = None;
            std::thread::sleep(Duration::from_millis(5));
            continue;
        }
        let Some(l) = listener.as_ref() else {
            // Back up on the same port (std sets SO_REUSEADDR).
            listener = TcpListener::bind(("127.0.0.1", port)).ok();
            if let Some(l) = &listener {
                l.set_nonblocking(true).expect("nonblocking");
            }
            std::thread::sleep(Duration::from_millis(5));
            continue;
        };
        l.set_nonblocking(true).expect("nonblocking");
        match l.accept() {
            Ok((stream, _)) => {
                let (script, received, handle) = (script.clone(), received.clone(), handle.clone());
                let (stop, down) = (stop.clone(), down.clone());
                // Ends when the connection closes, or on stop or down (bounded by the read timeout).
                std::thread::spawn(move || {
                    serve_connection(stream, &script, &received, &*handle, &stop, &down)
                });
            }
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}

/// Keep-alive: serves requests on one connection until it closes, or stop, or down.
fn serve_connection(
    mut stream: TcpStream,
    script: &Script,
    received: &Mutex<Vec<Received>>,
    handle: &Handler,
    stop: &AtomicBool,
    down: &AtomicBool,
) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
    while !stop.load(Ordering::SeqCst) && !down.load(Ordering::SeqCst) {
        match read_request(&mut stream) {
            Ok(Some((headers, body))) => {
                if down.load(Ordering::SeqCst)
                    || handle(script, received, headers, body, &mut stream).is_err()
                {
                    break;
                }
            }
            Ok(None) => break,
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                continue;
            }
            Err(_) => break,
        }
    }
}

/// Flags a server thread polls: `stop` ends it, `down` refuses connections.
#[derive(Clone, Default)]
struct Switches {
    stop: Arc<AtomicBool>,
    down: Arc<AtomicBool>,
}

#[allow(clippy::type_complexity)]
fn read_request(stream: &mut TcpStream) -> std::io::Result<Option<(Vec<(String, String)>, Vec<u8>)>> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 {
            return Ok(None);
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
        }
    }
    let len =
        headers.iter().find(|(k, _)| k == "content-length").and_then(|(_, v)| v.parse().ok()).unwrap_or(0);
    let mut body = vec![0u8; len];
    reader.read_exact(&mut body)?;
    Ok(Some((headers, body)))
}

fn handle_write(
    script: &Script,
    received: &Mutex<Vec<Received>>,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    stream: &mut TcpStream,
    delay: Duration,
) -> std::io::Result<()> {
    let raw = snap::raw::Decoder::new().decompress_vec(&body).expect("snappy block format");
    let request = WriteRequest::decode(&raw[..]).expect("a WriteRequest");
    let at = Instant::now();
    let (n, status, extra) = {
        // One lock for number, answer and record: concurrent requests get distinct numbers.
        let mut received = received.lock().expect("lock");
        let n = received.len();
        let (status, extra) = script(n, &request);
        received.push(Received { at, headers, body, request, status });
        (n, status, extra)
    };
    std::thread::sleep(delay.saturating_sub(at.elapsed()));
    let message = if status >= 400 { format!("scripted {status} for request {n}\n") } else { String::new() };
    respond(stream, status, &extra, &message)
}

fn respond(
    stream: &mut TcpStream,
    status: u16,
    headers: &[(&str, String)],
    body: &str,
) -> std::io::Result<()> {
    respond_bytes(stream, status, headers, body.as_bytes())
}

fn respond_bytes(
    stream: &mut TcpStream,
    status: u16,
    headers: &[(&str, String)],
    body: &[u8],
) -> std::io::Result<()> {
    let mut head = format!("HTTP/1.1 {status} X\r\nContent-Length: {}\r\n", body.len());
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    stream.flush()
}

/// Every sample received with a 2xx answer: (series labels as `name=value,...`, timestamp, value).
pub fn delivered(received: &[Received]) -> Vec<(String, i64, f64)> {
    let mut out = Vec::new();
    for r in received.iter().filter(|r| (200..300).contains(&r.status)) {
        for ts in &r.request.timeseries {
            let key =
                ts.labels.iter().map(|l| format!("{}={}", l.name, l.value)).collect::<Vec<_>>().join(",");
            for s in &ts.samples {
                out.push((key.clone(), s.timestamp, s.value));
            }
        }
    }
    out
}
