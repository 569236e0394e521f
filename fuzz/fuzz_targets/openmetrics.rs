//! Any input: the openmetrics parser keeps every promise of `parse::fuzz_check::check`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use outpost::parse::{Format, fuzz_check};

fuzz_target!(|data: &[u8]| {
    // Scrapes reject a body that is not UTF-8 before parsing it.
    if let Ok(body) = std::str::from_utf8(data) {
        fuzz_check::check(Format::OpenMetrics, body);
    }
});
