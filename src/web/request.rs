//! HTTP/1.1 requests and answers as values [pure]: [`parse`] takes the bytes
//! received so far and says whether the head is complete, and how long the
//! body is, within the limits (head size, header count, body size); an
//! over-limit or malformed request becomes the answer to send.
//! [`Response::head`] renders the status line and headers.

/// Largest request head; a longer one is answered 431.
pub const MAX_HEAD: usize = 8 * 1024;
/// Most headers in a request; more are answered 431.
pub const MAX_HEADERS: usize = 32;
/// Largest request body (no endpoint needs a large one); a longer one is answered 413.
pub const MAX_BODY: usize = 16 * 1024;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    /// The path without the query.
    pub path: String,
    /// What follows `?`, undecoded; empty if none.
    pub query: String,
    /// Names lowercased; values lossily UTF-8.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn new(method: &str, target: &str) -> Request {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        Request {
            method: method.to_owned(),
            path: path.to_owned(),
            query: query.to_owned(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// The first header named `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// True when `Accept` names text/html (a browser), as vmagent decides
    /// between its HTML and plain-text pages.
    pub fn accepts_html(&self) -> bool {
        self.header("accept").is_some_and(|accept| accept.contains("text/html"))
    }
}

/// What the bytes received so far are.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    /// The head is not complete yet.
    Partial,
    /// The head is complete: `head_len` bytes, then a body of `body_len` bytes.
    Head { request: Request, head_len: usize, body_len: usize },
    /// Answer this and close.
    Refused(Response),
}

pub fn parse(received: &[u8]) -> Parsed {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut headers);
    let head_len = match parsed.parse(received) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if received.len() >= MAX_HEAD => {
            return Parsed::Refused(Response::text(431, "request head too large\n"));
        }
        Ok(httparse::Status::Partial) => return Parsed::Partial,
        Err(httparse::Error::TooManyHeaders) => {
            return Parsed::Refused(Response::text(431, "too many request headers\n"));
        }
        Err(e) => return Parsed::Refused(Response::text(400, format!("bad request: {e}\n"))),
    };
    if head_len > MAX_HEAD {
        return Parsed::Refused(Response::text(431, "request head too large\n"));
    }
    // Complete: httparse has set method and path.
    let mut request = Request::new(parsed.method.unwrap_or(""), parsed.path.unwrap_or(""));
    request.headers = parsed
        .headers
        .iter()
        .map(|h| (h.name.to_ascii_lowercase(), String::from_utf8_lossy(h.value).into_owned()))
        .collect();
    if request.header("transfer-encoding").is_some() {
        return Parsed::Refused(Response::text(411, "a request body needs Content-Length\n"));
    }
    let body_len = match request.header("content-length").map(|v| v.trim().parse::<usize>()) {
        None => 0,
        Some(Ok(n)) if n <= MAX_BODY => n,
        Some(Ok(_)) => return Parsed::Refused(Response::text(413, "request body too large\n")),
        Some(Err(_)) => return Parsed::Refused(Response::text(400, "bad request: invalid Content-Length\n")),
    };
    Parsed::Head { request, head_len, body_len }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    /// Headers besides Content-Type, Content-Length and Connection.
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn new(status: u16, content_type: &'static str, body: impl Into<Vec<u8>>) -> Response {
        Response { status, content_type, headers: Vec::new(), body: body.into() }
    }

    pub fn text(status: u16, body: impl Into<Vec<u8>>) -> Response {
        Response::new(status, "text/plain; charset=utf-8", body)
    }

    /// Status line and headers; every answer closes the connection.
    pub fn head(&self) -> String {
        let mut head = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n",
            self.status,
            reason(self.status),
            self.content_type,
            self.body.len()
        );
        for (name, value) in &self.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        head
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        204 => "No Content",
        302 => "Found",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Content Too Large",
        422 => "Unprocessable Entity",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(bytes: &[u8]) -> u16 {
        match parse(bytes) {
            Parsed::Refused(response) => response.status,
            other => panic!("{:?}: expected a refusal, got {other:?}", String::from_utf8_lossy(bytes)),
        }
    }

    #[test]
    fn a_complete_head_gives_path_query_headers_and_body_length() {
        let bytes =
            b"POST /-/reload?x=1 HTTP/1.1\r\nHost: a\r\nAccept: text/html\r\nContent-Length: 3\r\n\r\nabc";
        let Parsed::Head { request, head_len, body_len } = parse(bytes) else { panic!("head") };
        assert_eq!(
            (request.method.as_str(), request.path.as_str(), request.query.as_str()),
            ("POST", "/-/reload", "x=1")
        );
        assert_eq!((head_len, body_len), (bytes.len() - 3, 3));
        assert!(request.accepts_html());
        assert_eq!(request.header("host"), Some("a"));
    }

    #[test]
    fn every_prefix_of_a_head_is_partial() {
        let bytes = b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
        for end in 0..bytes.len() {
            assert_eq!(parse(&bytes[..end]), Parsed::Partial, "prefix of {end} bytes");
        }
        assert!(matches!(parse(bytes), Parsed::Head { body_len: 0, .. }));
    }

    #[test]
    fn limits_and_malformed_requests_are_refused_with_their_status() {
        let long = format!("GET /metrics HTTP/1.1\r\nX: {}\r\n", "a".repeat(MAX_HEAD));
        assert_eq!(refused(long.as_bytes()), 431, "a head that never ends within MAX_HEAD");
        let many: String = (0..=MAX_HEADERS).map(|i| format!("X-{i}: v\r\n")).collect();
        assert_eq!(refused(format!("GET / HTTP/1.1\r\n{many}\r\n").as_bytes()), 431);
        let big = format!("POST / HTTP/1.1\r\nContent-Length: {}\r\n\r\n", MAX_BODY + 1);
        assert_eq!(refused(big.as_bytes()), 413);
        assert_eq!(refused(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"), 411);
        assert_eq!(refused(b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n"), 400);
        assert_eq!(refused(b"GET / HTTP/1.1\r\nBad Header\r\n\r\n"), 400);
        assert_eq!(refused(b"\x00\x01\x02\r\n\r\n"), 400);
    }

    #[test]
    fn response_head_names_status_length_and_extra_headers() {
        let mut response = Response::text(401, "Unauthorized\n");
        response.headers.push(("WWW-Authenticate", "Basic".into()));
        let head = response.head();
        assert!(head.starts_with("HTTP/1.1 401 Unauthorized\r\n"), "{head}");
        assert!(
            head.contains("Content-Length: 13\r\n") && head.contains("WWW-Authenticate: Basic\r\n"),
            "{head}"
        );
        assert!(head.ends_with("\r\n\r\n"));
    }
}
