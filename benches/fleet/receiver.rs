//! Receiver models under overload (issue 16): how a central receiver of
//! capacity `C` requests/s answers one remote-write request arriving at `t`.
//! Times are seconds of virtual time.

use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Kind {
    /// Mimir's distributor: a token bucket per tenant; over it, 429 with a
    /// jittered `Retry-After` of 6 s × 2^(n-1), ±50 %, within 6..96 s.
    Mimir,
    /// VictoriaMetrics: 2 × CPU insert slots; a request waits up to 60 s for
    /// one (`-insert.maxQueueDuration`), then 503 without `Retry-After`.
    Victoria,
    /// Prometheus: up to 512 connections served, more wait in the accept
    /// backlog (4096); it never refuses, it only gets slower.
    Prometheus,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Mimir => "Mimir-like",
            Kind::Victoria => "VictoriaMetrics-like",
            Kind::Prometheus => "Prometheus-like",
        })
    }
}

/// What the receiver does with a request.
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    /// Written; the answer leaves at `at`.
    Accepted { at: f64 },
    /// Refused with `status` (and `Retry-After` seconds) at `at`; not written.
    Refused { at: f64, status: u16, retry_after: Option<u64> },
    /// Never served (the client gives up at its timeout); not written.
    Ignored,
}

pub struct Receiver {
    pub kind: Kind,
    /// Requests per second it can write.
    capacity: f64,
    /// Token bucket (Mimir): tokens and when they were last refilled.
    tokens: f64,
    refilled: f64,
    /// Single FIFO server (VictoriaMetrics, Prometheus): when it is next free.
    free_at: f64,
}

/// One second of capacity as Mimir's burst.
const BURST_SECONDS: f64 = 1.0;
const VM_MAX_QUEUE: f64 = 60.0;
const PROMETHEUS_CONNECTIONS: f64 = 512.0;
const ACCEPT_BACKLOG: f64 = 4096.0;

impl Receiver {
    pub fn new(kind: Kind, capacity: f64) -> Self {
        Receiver { kind, capacity, tokens: capacity * BURST_SECONDS, refilled: 0.0, free_at: 0.0 }
    }

    /// A request arriving at `t` whose client gives up at `deadline`;
    /// `refusals` is how many times in a row this client was refused (Mimir's
    /// `Retry-After` grows with it); `jitter` is a uniform draw in [0, 1).
    pub fn arrive(&mut self, t: f64, deadline: f64, refusals: u32, jitter: f64) -> Verdict {
        match self.kind {
            Kind::Mimir => {
                self.tokens =
                    (self.tokens + (t - self.refilled) * self.capacity).min(self.capacity * BURST_SECONDS);
                self.refilled = t;
                if self.tokens >= 1.0 {
                    self.tokens -= 1.0;
                    return Verdict::Accepted { at: t };
                }
                let base = 6.0 * 2f64.powi(refusals.min(8) as i32);
                let secs = (base * (0.5 + jitter)).clamp(6.0, 96.0);
                Verdict::Refused { at: t, status: 429, retry_after: Some(secs as u64) }
            }
            Kind::Victoria | Kind::Prometheus => {
                let start = self.free_at.max(t);
                let queued = (start - t) * self.capacity;
                if self.kind == Kind::Victoria && start - t > VM_MAX_QUEUE {
                    return Verdict::Refused { at: t + VM_MAX_QUEUE, status: 503, retry_after: None };
                }
                if self.kind == Kind::Prometheus && queued > PROMETHEUS_CONNECTIONS + ACCEPT_BACKLOG {
                    // SYNs dropped: the client's connect times out.
                    return Verdict::Ignored;
                }
                if self.kind == Kind::Prometheus && start > deadline {
                    // Still in the accept backlog when the client hangs up: never read.
                    return Verdict::Ignored;
                }
                // VictoriaMetrics has read the request: it writes it even if
                // the client has given up meanwhile.
                self.free_at = start + 1.0 / self.capacity;
                Verdict::Accepted { at: self.free_at }
            }
        }
    }
}
