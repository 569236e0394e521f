//! The pass criteria of issue 16, item 3, for `--check`: outpost's defaults on
//! the Mimir-like and VictoriaMetrics-like receivers, half and full headroom.

use crate::Figures;

/// Each criterion that `f` misses, worded for the output; `t_star` is the
/// ideal drain time in seconds.
pub fn failures(f: &Figures, t_star: f64) -> Vec<String> {
    let mut out = Vec::new();
    let mut need = |ok: bool, what: String| {
        if !ok {
            out.push(what);
        }
    };
    need(f.peak_1s <= 2.0, format!("peak offered in 1 s {:.2} x capacity > 2", f.peak_1s));
    need(f.peak_10s <= 1.2, format!("peak offered in 10 s {:.2} x capacity > 1.2", f.peak_10s));
    need(
        f.accepted_share >= 0.85,
        format!("accepted {:.2} x capacity < 0.85 through the drain", f.accepted_share),
    );
    let limit = 1.25 * t_star + 120.0;
    need(f.last_drain <= limit, format!("last drain {:.0} s > 1.25 T* + 2 min = {limit:.0} s", f.last_drain));
    need(f.p99_p50 <= 1.2, format!("p99/p50 of drain times {:.4} > 1.2", f.p99_p50));
    need(f.waste_requests <= 0.10, format!("wasted requests {:.3} of accepted > 0.10", f.waste_requests));
    need(f.waste_bytes <= 0.10, format!("wasted bytes {:.3} of accepted > 0.10", f.waste_bytes));
    need(f.lost == 0, format!("{} samples lost", f.lost));
    // Duplicates of writes whose answer the injected 1 % loss dropped are at-least-once
    // delivery's own; any other duplicate is the sender's (a timeout on a written request).
    need(f.duplicated == 0, format!("{} samples duplicated beyond lost answers", f.duplicated));
    need(
        f.steady_after.is_some_and(|s| s <= 120.0),
        format!(
            "back to steady load {} after the drain, > 2 min",
            f.steady_after.map_or("never".into(), |s| format!("{s:.0} s"))
        ),
    );
    out
}
