//! The `listen` endpoint: `/metrics`, `/-/healthy`, `/-/ready`. Connections
//! are answered one at a time, one request each, the whole exchange bounded
//! by `TIMEOUT`: the clients are a Prometheus or outpost's own scrape.
//!
//! `/-/ready` answers 503 while [`Telemetry::ready`] is false: during start
//! (the configuration is loaded, the buffers are being recovered) and once
//! stopping; `/-/healthy` answers 200 whenever the process answers at all.

use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, SystemTime};

use smol::Timer;
use smol::io::{AsyncReadExt, AsyncWriteExt};
use smol::net::{TcpListener, TcpStream};

use super::Telemetry;

/// Largest request head read; anything longer is answered 431.
const MAX_HEAD: usize = 8 * 1024;
/// A client whose exchange takes longer is dropped.
const TIMEOUT: Duration = Duration::from_secs(5);

pub async fn serve(listener: &TcpListener, telemetry: Rc<Telemetry>) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let exchange = async {
                    answer(stream, peer, &telemetry).await;
                    true
                };
                let timeout = async {
                    Timer::after(TIMEOUT).await;
                    false
                };
                if !smol::future::or(exchange, timeout).await {
                    log::debug!("listen: {peer} timed out");
                }
            }
            Err(e) => {
                log::warn!("listen: accept: {e}");
                Timer::after(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn answer(mut stream: TcpStream, peer: SocketAddr, telemetry: &Telemetry) {
    let (status, content_type, body) = match read_head(&mut stream).await {
        Err(status) => (status, "text/plain", String::new()),
        Ok((method, path)) => route(&method, &path, telemetry),
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    if let Err(e) = async {
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(body.as_bytes()).await?;
        stream.flush().await
    }
    .await
    {
        log::debug!("listen: answer {peer}: {e}");
    }
}

fn route(method: &str, path: &str, telemetry: &Telemetry) -> (&'static str, &'static str, String) {
    if let Some(answer) = crate::status::api::answer(method, path, &telemetry.status, SystemTime::now()) {
        return answer;
    }
    if method != "GET" {
        return ("405 Method Not Allowed", "text/plain", "method not allowed\n".into());
    }
    match path.split('?').next().unwrap_or("") {
        "/metrics" => ("200 OK", "text/plain; version=0.0.4; charset=utf-8", telemetry.render()),
        "/-/healthy" => ("200 OK", "text/plain", "outpost is healthy.\n".into()),
        "/-/ready" if telemetry.ready.get() => ("200 OK", "text/plain", "outpost is ready.\n".into()),
        "/-/ready" => ("503 Service Unavailable", "text/plain", "outpost is not ready.\n".into()),
        _ => ("404 Not Found", "text/plain", "not found\n".into()),
    }
}

/// Reads the request head; returns its method and path, or the status to answer.
async fn read_head(stream: &mut TcpStream) -> Result<(String, String), &'static str> {
    let mut buf = vec![0u8; MAX_HEAD];
    let mut filled = 0;
    loop {
        if filled == buf.len() {
            return Err("431 Request Header Fields Too Large");
        }
        let n = stream.read(&mut buf[filled..]).await.map_err(|_| "400 Bad Request")?;
        if n == 0 {
            return Err("400 Bad Request");
        }
        filled += n;
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut request = httparse::Request::new(&mut headers);
        match request.parse(&buf[..filled]) {
            Ok(httparse::Status::Partial) => continue,
            Ok(httparse::Status::Complete(_)) => {
                return match (request.method, request.path) {
                    (Some(method), Some(path)) => Ok((method.to_owned(), path.to_owned())),
                    _ => Err("400 Bad Request"),
                };
            }
            Err(_) => return Err("400 Bad Request"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[test]
    fn ready_answers_503_until_the_pipeline_runs() {
        let telemetry = Telemetry {
            queues: Vec::new(),
            scrapes: Rc::default(),
            start_time_seconds: 0.0,
            ready: Cell::new(false),
            status: Rc::default(),
        };
        assert_eq!(route("GET", "/-/ready", &telemetry).0, "503 Service Unavailable");
        assert_eq!(route("GET", "/-/healthy", &telemetry).0, "200 OK", "healthy while starting");
        let (status, _, metrics) = route("GET", "/metrics", &telemetry);
        assert_eq!(status, "200 OK");
        assert!(metrics.contains("process_start_time_seconds"), "process metrics while starting: {metrics}");
        telemetry.ready.set(true);
        assert_eq!(route("GET", "/-/ready", &telemetry).0, "200 OK");
        assert_eq!(route("GET", "/-/ready?x=1", &telemetry).0, "200 OK");
        assert_eq!(route("GET", "/-/readyz", &telemetry).0, "404 Not Found");
    }
}
