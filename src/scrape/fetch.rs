//! The scrape's HTTP GET through ureq: blocking, run through `Offload`.
//! Content negotiation: OpenMetrics 1.0 preferred, text 0.0.4 accepted; the
//! answer's `Content-Type` picks the parser.
//! The body lands in a buffer the loop hands over and gets back, so a steady
//! target costs no allocation per scrape. Limits are checked on the inflated
//! stream as it is read: a gzip bomb stops at `body_size_limit`, a line without
//! an end at `line_length_limit`, and the buffer never grows past the limit.

use std::io::{self, Read};

use crate::discovery::Limits;

use crate::client::{self, Client};
use crate::parse::{self, Format};
use std::time::Duration;

#[derive(Clone, Debug, PartialEq)]
pub enum FetchError {
    Status(u16),
    Transport(String),
    Body(String),
    BodySizeLimit(u64),
    LineLengthLimit(usize),
}

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FetchError::Status(s) => write!(f, "server returned HTTP status {s}"),
            FetchError::Transport(e) => write!(f, "{e}"),
            FetchError::Body(e) => write!(f, "read body: {e}"),
            FetchError::BodySizeLimit(limit) => write!(f, "body size limit exceeded ({limit} bytes)"),
            FetchError::LineLengthLimit(limit) => {
                write!(f, "line_length_limit exceeded: a line longer than {limit} bytes")
            }
        }
    }
}

/// GETs `url` into `body` (cleared first) within `timeout`, with the job's
/// TLS and authorization. A gzip body is decompressed on the way;
/// `body_size_limit` (0 = none) bounds the decompressed size, as in Prometheus,
/// and `line_length_limit` each line of it.
pub fn fetch(
    client: &Client,
    url: &str,
    timeout: Duration,
    limits: &Limits,
    body: &mut Vec<u8>,
) -> Result<Format, FetchError> {
    body.clear();
    let mut response = client
        .get(url)
        .header("Accept", parse::ACCEPT)
        .header("X-Prometheus-Scrape-Timeout-Seconds", format!("{}", timeout.as_secs_f64()))
        .config()
        .timeout_global(Some(timeout))
        .build()
        .call()
        .map_err(|e| FetchError::Transport(client::describe(&e)))?;
    let status = response.status().as_u16();
    if status != 200 {
        // After a 401/403 the credential files are read again for the next scrape.
        client.answered(status, &format!("scrape {url}"));
        return Err(FetchError::Status(status));
    }
    let content_type = response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
    let format = Format::from_content_type(content_type);
    // ureq's reader yields the body already inflated (Content-Encoding: gzip).
    let mut lines =
        Lines { inner: response.body_mut().as_reader(), limit: limits.budget.line_length, run: 0 };
    let max = match limits.body_size {
        0 => usize::MAX,
        limit => usize::try_from(limit).unwrap_or(usize::MAX),
    };
    let read = read_at_most(&mut lines, max, body);
    if lines.run > lines.limit && lines.limit > 0 {
        return Err(FetchError::LineLengthLimit(lines.limit));
    }
    match read {
        Ok(true) => Ok(format),
        Ok(false) => Err(FetchError::BodySizeLimit(limits.body_size)),
        Err(e) => Err(FetchError::Body(e.to_string())),
    }
}

/// Reads `reader` to its end into `body`, holding at most `max` bytes; false if there was more.
/// The buffer doubles as `read_to_end`'s does, but never past `max`: a body at a 16 MiB limit
/// takes a 16 MiB buffer, not 32.
fn read_at_most(reader: &mut impl Read, max: usize, body: &mut Vec<u8>) -> io::Result<bool> {
    loop {
        let len = body.len();
        if len >= max {
            let mut probe = [0u8; 1];
            return loop {
                match reader.read(&mut probe) {
                    Ok(n) => break Ok(n == 0),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => break Err(e),
                }
            };
        }
        let room = body.capacity().max(8 << 10).min(max - len);
        body.reserve_exact(room);
        // `take` ends at `room`, within the reserved capacity: read_to_end does not grow it.
        let n = (&mut *reader).take(room as u64).read_to_end(body)?;
        if n < room {
            return Ok(true);
        }
    }
}

/// Fails the read once a line runs past `limit` bytes (0 = none), so one endless line is
/// refused at that length, whatever the body limit.
struct Lines<R> {
    inner: R,
    limit: usize,
    /// Bytes since the last newline; above `limit` once the limit is hit.
    run: usize,
}

impl<R: Read> Read for Lines<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if self.limit == 0 {
            return Ok(n);
        }
        let read = buf.get(..n).unwrap_or_default();
        let mut start = 0;
        for end in memchr::memchr_iter(b'\n', read) {
            self.run += end - start;
            if self.run > self.limit {
                break;
            }
            self.run = 0;
            start = end + 1;
        }
        if self.run <= self.limit {
            self.run += n - start;
        }
        if self.run > self.limit {
            return Err(io::Error::other(format!("a line longer than {} bytes", self.limit)));
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader of `len` bytes of `byte`, given in reads of at most `chunk`.
    struct Endless {
        left: usize,
        byte: u8,
        chunk: usize,
    }

    impl Read for Endless {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = buf.len().min(self.left).min(self.chunk);
            buf[..n].fill(self.byte);
            self.left -= n;
            Ok(n)
        }
    }

    #[test]
    fn body_is_read_to_the_limit_and_the_buffer_never_grows_past_it() {
        for (len, max, whole) in [(0, 10, true), (10, 10, true), (11, 10, false), (1 << 20, 100_000, false)] {
            let mut body = Vec::new();
            let mut reader = Endless { left: len, byte: b'a', chunk: 7000 };
            assert_eq!(read_at_most(&mut reader, max, &mut body).expect("read"), whole, "{len} {max}");
            assert_eq!(body.len(), len.min(max));
            assert!(body.capacity() <= max.max(8 << 10), "{len} {max}: capacity {}", body.capacity());
        }
        // A body of a steady size reuses the buffer: no growth on the next read.
        let mut body = Vec::new();
        read_at_most(&mut Endless { left: 50_000, byte: b'a', chunk: 4096 }, usize::MAX, &mut body).unwrap();
        let capacity = body.capacity();
        body.clear();
        read_at_most(&mut Endless { left: 50_000, byte: b'a', chunk: 4096 }, usize::MAX, &mut body).unwrap();
        assert_eq!(body.capacity(), capacity);
    }

    #[test]
    fn a_line_past_the_limit_fails_the_read_wherever_the_reads_split_it() {
        let page = b"a 1\nbb 2\nccc 3\n";
        for chunk in 1..=page.len() {
            for (limit, ok) in [(0, true), (5, true), (4, false), (3, false)] {
                let inner = Chunked { data: page, chunk };
                let mut lines = Lines { inner, limit, run: 0 };
                let mut out = Vec::new();
                assert_eq!(lines.read_to_end(&mut out).is_ok(), ok, "chunk {chunk} limit {limit}");
            }
        }
        let mut lines =
            Lines { inner: Endless { left: 1 << 30, byte: b'x', chunk: 1 << 16 }, limit: 1000, run: 0 };
        let mut body = Vec::new();
        assert!(read_at_most(&mut lines, usize::MAX, &mut body).is_err());
        assert!(lines.run > 1000 && body.len() < 1 << 17, "stopped at the first read past the limit");
    }

    struct Chunked<'a> {
        data: &'a [u8],
        chunk: usize,
    }

    impl Read for Chunked<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = buf.len().min(self.chunk).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }
}
