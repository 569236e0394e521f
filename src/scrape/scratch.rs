//! Buffers the scrape loops share instead of each keeping its own: a target's body buffer,
//! its staged samples and its staleness list are only in use from the moment its scrape
//! returns until its samples are appended, so one set per scrape in flight is enough. Kept
//! per target they held every target's largest body at once (2,000 series of cAdvisor-like
//! lines: about 500 KB of body and 64 KB of staged samples per target, some 280 bytes per
//! series, while at most a few scrapes read at a time).
//!
//! Bodies are taken when a scrape starts and given back when it has been parsed: as many
//! are out as scrapes are in flight (bounded by the blocking threads), and at most
//! `MAX_FREE` wait here, each trimmed to what it last held. The staged and stale vectors are
//! borrowed only between a scrape's return and the end of its appends, which never awaits:
//! one of each serves every loop.

use std::cell::{Cell, RefCell};

use super::Staged;
use super::series::At;
use super::trim;

/// Free bodies kept: more than the scrapes that read at once, fewer than the targets.
const MAX_FREE: usize = 8;

#[derive(Default)]
pub struct Scratch {
    bodies: RefCell<Vec<Vec<u8>>>,
    pub staged: RefCell<Vec<Staged>>,
    pub stale: RefCell<Vec<At>>,
    /// The largest body and staged length of recent scrapes, decaying by 1/64 a scrape:
    /// buffers are trimmed to it, so targets of different sizes taking turns do not make
    /// them shrink and grow again, and one unusually large scrape is forgotten in about
    /// 45 scrapes.
    body_peak: Cell<usize>,
    staged_peak: Cell<usize>,
}

fn decayed(peak: &Cell<usize>, used: usize) -> usize {
    let now = used.max(peak.get() - peak.get() / 64);
    peak.set(now);
    now
}

impl Scratch {
    /// An empty body buffer, with the capacity a recent scrape left it.
    pub fn take_body(&self) -> Vec<u8> {
        self.bodies.borrow_mut().pop().unwrap_or_default()
    }

    /// Gives a body back once parsed; `used` is what the scrape needed (0 after a failed
    /// one, which may hold up to the limit), and the buffer keeps at most twice the recent
    /// peak (`scrape::trim`).
    pub fn give_body(&self, mut body: Vec<u8>, used: usize) {
        body.clear();
        trim(&mut body, decayed(&self.body_peak, used));
        let mut bodies = self.bodies.borrow_mut();
        if bodies.len() < MAX_FREE {
            bodies.push(body);
        }
    }

    /// Gives back the capacity of an unusually large scrape's staged samples and markers.
    pub fn settle(&self, staged_len: usize) {
        trim(&mut self.staged.borrow_mut(), decayed(&self.staged_peak, staged_len));
        trim(&mut self.stale.borrow_mut(), 0);
    }

    /// Bytes of capacity held here.
    #[cfg(test)]
    fn capacity_bytes(&self) -> usize {
        let bodies: usize = self.bodies.borrow().iter().map(Vec::capacity).sum();
        bodies
            + self.staged.borrow().capacity() * size_of::<Staged>()
            + self.stale.borrow().capacity() * size_of::<At>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_reused_and_bounded() {
        let scratch = Scratch::default();
        let mut body = scratch.take_body();
        body.resize(100_000, b'x');
        let cap = body.capacity();
        scratch.give_body(body, 100_000);
        let again = scratch.take_body();
        assert!(again.is_empty());
        assert_eq!(again.capacity(), cap, "the same buffer, its capacity kept");
        // Many in flight at once: only MAX_FREE come to rest here.
        let out: Vec<Vec<u8>> = (0..20).map(|_| vec![0u8; 1000]).collect();
        for body in out {
            scratch.give_body(body, 1000);
        }
        assert_eq!(scratch.bodies.borrow().len(), MAX_FREE);
    }

    #[test]
    fn one_large_scrape_is_forgotten() {
        let scratch = Scratch::default();
        let mut body = scratch.take_body();
        body.resize(4 << 20, b'x');
        scratch.give_body(body, 4 << 20);
        // Small scrapes after it: the big buffer is kept a while, then shrunk.
        let mut shrunk_after = None;
        for n in 1..=200 {
            let mut body = scratch.take_body();
            body.resize(1000, b'y');
            scratch.give_body(body, 1000);
            if scratch.capacity_bytes() < 1 << 20 {
                shrunk_after = Some(n);
                break;
            }
        }
        let n = shrunk_after.expect("shrunk within 200 scrapes");
        assert!((10..=150).contains(&n), "shrunk after {n} scrapes");
    }

    #[test]
    fn a_large_body_does_not_stay_large() {
        let scratch = Scratch::default();
        scratch.give_body(Vec::with_capacity(16 << 20), 0);
        assert!(scratch.capacity_bytes() <= 64 << 10, "{}", scratch.capacity_bytes());
    }
}
