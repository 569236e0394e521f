//! Staleness markers (SPEC, "Staleness"): a series that disappears from a
//! scrape, or whose target fails or is removed, gets one sample whose value is
//! this NaN, bit for bit Prometheus's `value.StaleNaN`, so that queries stop
//! returning it at once instead of after the 5-minute lookback.

/// `0x7ff0000000000002`: a NaN no exporter produces (the text parsers map every
/// NaN they read to Prometheus's ordinary NaN, `0x7ff8000000000001`).
pub const STALE_NAN: f64 = f64::from_bits(0x7ff0_0000_0000_0002);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::Entry;
    use crate::parse::text::TextParser;

    fn is_stale(value: f64) -> bool {
        value.to_bits() == STALE_NAN.to_bits()
    }

    #[test]
    fn scraped_nan_is_never_a_staleness_marker() {
        assert!(is_stale(STALE_NAN));
        assert!(STALE_NAN.is_nan());
        for body in ["a NaN\n", "a nan\n", "a -NaN\n"] {
            if let Some(Ok(Entry::Sample(s))) = TextParser::new(body).next() {
                assert!(!is_stale(s.value), "{body:?} parsed to a staleness marker");
            }
        }
    }
}
