//! What a receiver's answer means for the block (SPEC, Pipeline, the status
//! table). Pure: the answer in, an `Outcome` out.

use std::time::Duration;

/// What came back from one POST, as `http.rs` reports it.
#[derive(Clone, Debug, PartialEq)]
pub enum Answer {
    Status {
        status: u16,
        /// The raw `Retry-After` header, if any.
        retry_after: Option<String>,
        /// The first KiB of the body, lossily decoded.
        message: String,
    },
    /// No HTTP answer: connection refused, reset, timeout, TLS failure.
    Transport(String),
}

#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    Delivered,
    /// Send the same block again, after `after` if the answer said so,
    /// else after the next backoff step.
    Retry {
        after: Option<Duration>,
        reason: String,
    },
    /// Never retry: drop the block and count it.
    Rejected {
        status: u16,
        message: String,
    },
}

/// Classifies an answer. `max_backoff` is the wait after 401/403, which need
/// an operator to fix credentials and must not hammer the receiver.
pub fn classify(answer: &Answer, retry_on_http_429: bool, max_backoff: Duration) -> Outcome {
    let (status, retry_after, message) = match answer {
        Answer::Transport(e) => return Outcome::Retry { after: None, reason: e.clone() },
        Answer::Status { status, retry_after, message } => (*status, retry_after, message),
    };
    let reason = || format!("HTTP {status}: {}", message.trim());
    match status {
        200..=299 => Outcome::Delivered,
        500..=599 | 408 => Outcome::Retry { after: None, reason: reason() },
        429 if retry_on_http_429 => {
            Outcome::Retry { after: retry_after.as_deref().and_then(retry_after_delay), reason: reason() }
        }
        401 | 403 => Outcome::Retry { after: Some(max_backoff), reason: reason() },
        _ => Outcome::Rejected { status, message: message.clone() },
    }
}

/// `Retry-After` as delta-seconds. (The HTTP-date form is rare from
/// remote-write receivers; it falls back to the backoff.)
fn retry_after_delay(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(status: u16, retry_after: Option<&str>) -> Answer {
        Answer::Status { status, retry_after: retry_after.map(str::to_owned), message: "msg\n".into() }
    }

    #[test]
    fn status_table() {
        let max = Duration::from_secs(5);
        let retry = |after: Option<u64>, r: &str| Outcome::Retry {
            after: after.map(Duration::from_secs),
            reason: r.to_owned(),
        };
        let cases = [
            (status(200, None), true, Outcome::Delivered),
            (status(204, None), true, Outcome::Delivered),
            (status(500, None), true, retry(None, "HTTP 500: msg")),
            (status(503, Some("7")), true, retry(None, "HTTP 503: msg")),
            (status(408, None), true, retry(None, "HTTP 408: msg")),
            (status(429, Some("2")), true, retry(Some(2), "HTTP 429: msg")),
            (status(429, Some("Wed, 21 Oct 2015 07:28:00 GMT")), true, retry(None, "HTTP 429: msg")),
            (status(429, None), false, Outcome::Rejected { status: 429, message: "msg\n".into() }),
            (status(401, None), true, retry(Some(5), "HTTP 401: msg")),
            (status(403, None), true, retry(Some(5), "HTTP 403: msg")),
            (status(400, None), true, Outcome::Rejected { status: 400, message: "msg\n".into() }),
            (status(409, None), true, Outcome::Rejected { status: 409, message: "msg\n".into() }),
            (status(413, None), true, Outcome::Rejected { status: 413, message: "msg\n".into() }),
            (Answer::Transport("connection refused".into()), true, retry(None, "connection refused")),
        ];
        for (answer, on_429, want) in cases {
            assert_eq!(classify(&answer, on_429, max), want, "{answer:?}");
        }
    }
}
