//! The series Prometheus adds to every scrape (`up`, `scrape_*`). Pure.

/// What one scrape came to.
#[derive(Clone, Debug, PartialEq)]
pub struct ScrapeReport {
    pub up: bool,
    pub duration_seconds: f64,
    /// Samples in the exposition; 0 when the scrape failed.
    pub samples_scraped: usize,
    /// Why the scrape failed, if it did.
    pub reason: Option<String>,
}

/// Names of the report series, in the order `values` returns them.
pub const NAMES: [&str; 3] = ["up", "scrape_duration_seconds", "scrape_samples_scraped"];

impl ScrapeReport {
    pub fn values(&self) -> [f64; 3] {
        [if self.up { 1.0 } else { 0.0 }, self.duration_seconds, self.samples_scraped as f64]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_scrape_reports_up_zero() {
        let r =
            ScrapeReport { up: false, duration_seconds: 0.25, samples_scraped: 0, reason: Some("x".into()) };
        assert_eq!(r.values(), [0.0, 0.25, 0.0]);
    }
}
