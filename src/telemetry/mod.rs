//! Self-metrics, owned on the executor thread (blocking closures return
//! values and never count), and the small HTTP responder that serves them.

pub mod metrics;
pub mod process;
pub mod serve;

pub use metrics::{QueueMetrics, ScrapeMetrics, Telemetry};
