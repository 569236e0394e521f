//! One accepted connection as a byte stream, plain or TLS: rustls's
//! `ServerConnection` driven over smol's non-blocking socket (rustls does
//! the protocol; this only moves its records in and out). [`read_request`]
//! reads one request within the limits of [`request`](super::request).

use std::io::{self, Read, Write};
use std::sync::Arc;

use rustls::{ServerConfig, ServerConnection};
use smol::io::{AsyncReadExt, AsyncWriteExt};
use smol::net::TcpStream;

use super::request::{self, Parsed, Request, Response};

pub enum Io {
    Plain(TcpStream),
    Tls(TcpStream, Box<ServerConnection>),
}

impl Io {
    pub fn new(tcp: TcpStream, tls: Option<&Arc<ServerConfig>>) -> io::Result<Io> {
        Ok(match tls {
            None => Io::Plain(tcp),
            Some(config) => {
                Io::Tls(tcp, Box::new(ServerConnection::new(config.clone()).map_err(io::Error::other)?))
            }
        })
    }

    /// Reads plaintext; 0 at the end of the stream.
    async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Io::Plain(tcp) => tcp.read(buf).await,
            Io::Tls(tcp, conn) => loop {
                match conn.reader().read(buf) {
                    Ok(n) => return Ok(n),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(e),
                }
                flush_tls(tcp, conn).await?;
                let mut raw = [0u8; 4096];
                let n = tcp.read(&mut raw).await?;
                if n == 0 {
                    return Ok(0);
                }
                let mut rest = &raw[..n];
                while !rest.is_empty() {
                    if conn.read_tls(&mut rest)? == 0 {
                        break;
                    }
                    if let Err(e) = conn.process_new_packets() {
                        // Tell the client why (the alert), then give up.
                        let _ = flush_tls(tcp, conn).await;
                        return Err(io::Error::new(io::ErrorKind::InvalidData, e));
                    }
                }
            },
        }
    }

    pub async fn write_all(&mut self, mut data: &[u8]) -> io::Result<()> {
        match self {
            Io::Plain(tcp) => tcp.write_all(data).await,
            Io::Tls(tcp, conn) => {
                while !data.is_empty() {
                    let n = conn.writer().write(data)?;
                    data = &data[n..];
                    flush_tls(tcp, conn).await?;
                }
                Ok(())
            }
        }
    }

    /// Sends TLS's close_notify; flushes the socket.
    pub async fn close(&mut self) -> io::Result<()> {
        match self {
            Io::Plain(tcp) => tcp.flush().await,
            Io::Tls(tcp, conn) => {
                conn.send_close_notify();
                flush_tls(tcp, conn).await?;
                tcp.flush().await
            }
        }
    }
}

impl Io {
    /// Shuts down the sending side and reads (and drops) up to `limit` bytes until the client closes.
    pub async fn drain(&mut self, limit: usize) {
        let tcp = match self {
            Io::Plain(tcp) | Io::Tls(tcp, _) => tcp,
        };
        let _ = tcp.shutdown(std::net::Shutdown::Write);
        let mut chunk = [0u8; 4096];
        let mut read = 0;
        while read < limit {
            match tcp.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => read += n,
            }
        }
    }
}

async fn flush_tls(tcp: &mut TcpStream, conn: &mut ServerConnection) -> io::Result<()> {
    while conn.wants_write() {
        let mut out = Vec::new();
        conn.write_tls(&mut out)?;
        tcp.write_all(&out).await?;
    }
    Ok(())
}

/// Why no request was read.
pub enum ReadError {
    /// Answer this (a limit, a malformed head) and close.
    Refused(Response),
    /// The stream failed or ended: nothing to answer.
    Io(io::Error),
}

/// Reads one request: the head within `MAX_HEAD`, then its body.
/// `head_complete` is called once the head has arrived.
pub async fn read_request(io: &mut Io, head_complete: impl FnOnce()) -> Result<Request, ReadError> {
    let mut received = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    let (mut request, head_len, body_len) = loop {
        let n = io.read(&mut chunk).await.map_err(ReadError::Io)?;
        if n == 0 {
            return Err(ReadError::Io(io::ErrorKind::UnexpectedEof.into()));
        }
        received.extend_from_slice(&chunk[..n]);
        match request::parse(&received) {
            Parsed::Partial => continue,
            Parsed::Refused(response) => return Err(ReadError::Refused(response)),
            Parsed::Head { request, head_len, body_len } => break (request, head_len, body_len),
        }
    };
    head_complete();
    // Bounded by MAX_HEAD + MAX_BODY + one chunk.
    while received.len() < head_len + body_len {
        let n = io.read(&mut chunk).await.map_err(ReadError::Io)?;
        if n == 0 {
            return Err(ReadError::Io(io::ErrorKind::UnexpectedEof.into()));
        }
        received.extend_from_slice(&chunk[..n]);
    }
    request.body = received[head_len..head_len + body_len].to_vec();
    Ok(request)
}
