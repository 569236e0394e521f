//! The series Prometheus adds to every scrape (`up`, `scrape_*`). Pure.

/// What one scrape came to.
#[derive(Clone, Debug, PartialEq)]
pub struct ScrapeReport {
    pub up: bool,
    pub duration_seconds: f64,
    /// All zero when the scrape failed.
    pub scraped: Scraped,
    /// Why the scrape failed, if it did.
    pub reason: Option<String>,
}

/// Counts of one successful scrape.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Scraped {
    /// Samples in the exposition.
    pub samples: usize,
    /// Samples kept after metric relabeling (and repeats) and appended.
    pub post_relabeling: usize,
    /// Series not in the previous scrape.
    pub series_added: usize,
}

/// Names of the report series, in the order `values` returns them.
pub const NAMES: [&str; 5] = [
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
];

impl ScrapeReport {
    pub fn values(&self) -> [f64; 5] {
        [
            if self.up { 1.0 } else { 0.0 },
            self.duration_seconds,
            self.scraped.samples as f64,
            self.scraped.post_relabeling as f64,
            self.scraped.series_added as f64,
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_scrape_reports_up_zero() {
        let r = ScrapeReport {
            up: false,
            duration_seconds: 0.25,
            scraped: Scraped::default(),
            reason: Some("x".into()),
        };
        assert_eq!(r.values(), [0.0, 0.25, 0.0, 0.0, 0.0]);
    }
}
