//! The compact outage log on the live path (SPEC, "The outage log is compact"). While the
//! buffer spills (`persist = "outage"`), the queue hands it samples instead of staging them:
//! they gather in a `compact::Writer` and become one sample record per `buffer.sync_interval`
//! (or sooner, when `RECORD_SAMPLES` are waiting), written and synced by `sync`. Sealed blocks
//! spilled before the first sample record stay version 1 records, older than every sample
//! record, so disk stays older than RAM.
//!
//! Replay: `take` turns a window of consecutive sample records (up to `WINDOW_REQUESTS`
//! requests' worth) into requests of up to `max_samples_per_send` samples, several per series
//! (`compact::drain`). Every request of a window goes out under the seq of the window's first
//! record, one at a time, in order; the window's records are delivered (the cursor moves past
//! them) once its last request is settled. A window is cut the same way when read again, so
//! the `draining` file (written while stopping) tells a restart how many of its requests were
//! delivered: a clean stop re-sends none. `max_age` drops samples by their own timestamps as a
//! request is handed out.
//!
//! When the backlog is delivered, samples still waiting for their record are sealed into
//! blocks in the ring (they are older than anything staged after them), and the buffer is back
//! to memory only.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::compact::drain::{Slice, Window};
use super::compact::{Reader, Record};
use super::disk::Kind;
use super::segment::{self, Frame, HEADER_LEN, Progress, RECORD_OVERHEAD};
use super::{Buffer, FIRST_LANE};
use crate::config::Persist;
use crate::model::{DropReason, SealedBlock};
use crate::staging::batch::Batch;

/// Requests' worth of samples a window gathers (at `max_samples_per_send` each): enough for
/// several samples per series in each, few enough to bound the memory a window holds.
pub const WINDOW_REQUESTS: usize = 16;

/// The window of sample records being sent.
pub(super) struct Drain {
    pub(super) first: u64,
    pub(super) last: u64,
    /// Backlog entries the window covers (from the front).
    records: usize,
    window: Window,
    plan: Vec<Slice>,
    max_samples: usize,
    /// Requests settled (delivered or dropped), from the first.
    done: usize,
    /// Samples of the request handed out last.
    out: u32,
    encoder: snap::raw::Encoder,
}

impl Drain {
    fn progress(&self) -> Progress {
        Progress {
            first_seq: self.first,
            last_seq: self.last,
            samples: self.window.samples() as u64,
            max_samples: u32::try_from(self.max_samples).unwrap_or(u32::MAX),
            requests: u32::try_from(self.done).unwrap_or(u32::MAX),
        }
    }
}

/// Where decoding of a version 2 segment stands: its dictionary and chains so far.
pub(super) struct LogReader {
    segment: u64,
    reader: Reader,
    /// File offset of the next record to decode.
    next: u64,
}

impl Buffer {
    /// Something was written that a sync would make durable: records since the last sync,
    /// or samples waiting for their record.
    pub fn needs_sync(&self) -> bool {
        self.unsynced || self.writer.samples() > 0
    }

    /// Whether samples go to the compact log rather than to staging: an outage or its backlog
    /// is under way (not merely a full ring), with `persist = "outage"` and a data directory.
    pub fn logs_samples(&self) -> bool {
        self.disk.is_some() && self.spilling && self.outage_log && self.persist == Persist::Outage
    }

    /// Takes one sample for the compact log (`logs_samples`); `labels` are encoded as the
    /// healthy path sends them.
    pub fn push_sample(&mut self, labels: &[u8], timestamp_ms: i64, value: f64) {
        self.writer.push(labels, timestamp_ms, value);
        if self.writer.samples() >= self.record_samples {
            self.flush_samples();
        }
    }

    /// Samples waiting for their record (in RAM).
    pub fn log_pending(&self) -> u64 {
        self.writer.samples() as u64
    }

    /// Writes the samples waiting in the writer as one record (not synced).
    pub(super) fn flush_samples(&mut self) {
        let waiting = self.writer.samples() as u64;
        let Some(disk) = &mut self.disk else { return };
        if waiting == 0 {
            return;
        }
        let seq = self.next_seq;
        match disk.append_samples(seq, &mut self.writer) {
            Ok(None) => {}
            Ok(Some((meta, appended))) => {
                self.next_seq = seq + 1;
                self.unsynced = true;
                self.spilled += 1;
                self.backlog_samples += u64::from(meta.samples);
                self.backlog.push_back((meta, appended.at));
                if appended.no_space > 0
                    && let Some(held) = self.append_errors.pass(std::time::Instant::now())
                {
                    log::error!(
                        "buffer {}: no space left on device: oldest segment deleted to write sample record {seq}{}",
                        disk.dir().display(),
                        crate::log::held_back(held)
                    );
                }
                self.forget_deleted(&appended.dropped, appended.no_space);
            }
            Err(e) => {
                if let Some(held) = self.append_errors.pass(std::time::Instant::now()) {
                    log::error!(
                        "buffer {}: {}; {waiting} samples dropped{}",
                        disk.dir().display(),
                        e.error,
                        crate::log::held_back(held)
                    );
                }
                let reason = if e.error.is_no_space() { DropReason::NoSpace } else { DropReason::DiskFull };
                self.forget_deleted(&e.dropped, e.no_space);
                self.lose(reason, 1, waiting);
            }
        }
    }

    /// The next request of the window starting at backlog entry `i` (a sample record), opening
    /// the window if it is not the one being sent. `None` when the window had nothing left to
    /// send (all too old, or unreadable): the caller looks again.
    pub(super) fn take_request(&mut self, i: usize) -> Option<SealedBlock> {
        let seq = self.backlog[i].0.seq;
        if self.drain.as_ref().is_none_or(|d| d.first != seq) {
            self.drain = None;
            self.drain = Some(self.open_window(i)?);
        }
        let oldest = oldest_ms(self.max_age, SystemTime::now());
        let drain = self.drain.as_mut()?;
        while drain.done < drain.plan.len() {
            let (request, old) = drain.window.encode(&drain.plan[drain.done], oldest, &mut drain.encoder);
            if old > 0 {
                self.losses.push(super::Loss { reason: DropReason::TooOld, blocks: 0, samples: old });
            }
            if let Some(r) = request {
                drain.out = r.samples;
                return Some(SealedBlock {
                    seq,
                    payload: r.payload,
                    samples: r.samples,
                    min_timestamp_ms: r.min_timestamp_ms,
                    max_timestamp_ms: r.max_timestamp_ms,
                });
            }
            drain.done += 1;
        }
        self.finish_window();
        None
    }

    /// Reads the window of sample records from backlog entry `i`: the one the `draining` file
    /// names if it starts there, else consecutive records up to `WINDOW_REQUESTS` requests'
    /// worth. An unreadable first record is dropped, counted as corrupt (`None`).
    fn open_window(&mut self, i: usize) -> Option<Drain> {
        let first = self.backlog[i].0.seq;
        let resume = self.resume.take().filter(|p| p.first_seq == first);
        let (last_allowed, max_samples) =
            resume.map_or((u64::MAX, self.max_samples), |p| (p.last_seq, p.max_samples as usize));
        let target = self.max_samples.saturating_mul(WINDOW_REQUESTS);
        let mut window = Window::default();
        let (mut records, mut last) = (0, first);
        while let Some(&(meta, at)) = self.backlog.get(i + records) {
            let fits = resume.is_some() || records == 0 || window.samples() + meta.samples as usize <= target;
            if at.kind != Kind::Samples || meta.seq > last_allowed || !fits {
                break;
            }
            if let Err(e) = self.decode_into(&at, meta.seq, &mut window) {
                if records > 0 {
                    // The window ends before it; the next one starts there and drops it.
                    break;
                }
                log::error!("buffer: {e}; sample record {} dropped", meta.seq);
                self.log_reader = None;
                self.drop_block(meta.seq, DropReason::Corrupt);
                return None;
            }
            records += 1;
            last = meta.seq;
        }
        let plan = window.plan(max_samples);
        let mut drain = Drain {
            first,
            last,
            records,
            window,
            plan,
            max_samples,
            done: 0,
            out: 0,
            encoder: snap::raw::Encoder::new(),
        };
        if let Some(p) = resume {
            let same = p.last_seq == last && p.samples == drain.window.samples() as u64;
            if same {
                drain.done = (p.requests as usize).min(drain.plan.len());
                log::info!(
                    "buffer: {} of {} requests of sample records {first}..={last} were delivered before the restart",
                    drain.done,
                    drain.plan.len()
                );
            } else {
                log::warn!(
                    "buffer: sample records {first}..={last} changed since the draining file was written; sent whole"
                );
            }
        }
        Some(drain)
    }

    /// Decodes the records of `at`'s segment up to the one at `at` (whose seq is `seq`), and
    /// adds that one's samples to `window`.
    fn decode_into(
        &mut self,
        at: &super::disk::Location,
        seq: u64,
        window: &mut Window,
    ) -> Result<(), super::disk::DiskError> {
        let start = at.offset.saturating_sub(RECORD_OVERHEAD as u64);
        let mut log = match self.log_reader.take() {
            Some(log) if log.segment == at.segment && log.next <= start => log,
            _ => LogReader { segment: at.segment, reader: Reader::default(), next: HEADER_LEN as u64 },
        };
        let corrupt =
            |offset, damage| super::disk::DiskError::Corrupt { segment: at.segment, offset, damage };
        let Some(disk) = &self.disk else { return Ok(()) };
        let bytes = disk.read_bytes(at.segment, log.next..at.offset + u64::from(at.len))?;
        let mut pos = 0;
        loop {
            let rest = bytes.get(pos..).unwrap_or_default();
            let (meta, payload, len) = match segment::decode(rest) {
                Frame::Record { meta, payload, len } => (meta, payload, len),
                Frame::Torn => return Err(corrupt(log.next, segment::Damage::Length(0))),
                Frame::Corrupt(damage) => return Err(corrupt(log.next, damage)),
            };
            let record =
                log.reader.decode(payload).map_err(|e| corrupt(log.next, segment::Damage::Record(e)))?;
            pos += len;
            log.next += len as u64;
            if meta.seq == seq {
                if let Record::Samples(series) = record {
                    window.add(&log.reader, series);
                }
                self.log_reader = Some(log);
                return Ok(());
            }
            if meta.seq > seq {
                return Err(corrupt(log.next, segment::Damage::Length(0)));
            }
        }
    }

    /// A request of the window (`seq` its first record) was settled; `reason` if dropped.
    /// Returns false if `seq` is not the window being sent.
    pub(super) fn settle_request(&mut self, seq: u64, reason: Option<DropReason>) -> bool {
        let Some(drain) = self.drain.as_mut().filter(|d| d.first == seq) else { return false };
        if !self.in_flight.remove(&seq) {
            return true;
        }
        if let Some(reason) = reason {
            let samples = u64::from(drain.out);
            self.lose(reason, 1, samples);
        }
        let drain = self.drain.as_mut().expect("checked above");
        drain.done += 1;
        if drain.done >= drain.plan.len() {
            self.finish_window();
        } else {
            // As the cursor is for blocks: a restart, clean or not, re-sends no delivered request.
            let progress = drain.progress();
            if let Some(Err(e)) = self.disk.as_mut().map(|d| d.save_progress(Some(&progress))) {
                log::error!("buffer: {e}; a restart sends the window again");
            }
        }
        true
    }

    /// Every request of the window was settled: its records are delivered.
    fn finish_window(&mut self) {
        let Some(drain) = self.drain.take() else { return };
        self.in_flight.remove(&drain.first);
        let at_front =
            self.backlog.iter().take(drain.records).all(|(m, _)| m.seq >= drain.first && m.seq <= drain.last);
        if at_front {
            let mut samples = 0;
            for _ in 0..drain.records {
                if let Some((meta, _)) = self.backlog.pop_front() {
                    samples += u64::from(meta.samples);
                }
            }
            self.head = None;
            self.backlog_samples -= samples;
            self.delivered_front(drain.last);
        } else {
            // Not reached (a window starts at the oldest undelivered record), but safe.
            let seqs: Vec<u64> = self
                .backlog
                .iter()
                .map(|(m, _)| m.seq)
                .filter(|s| (drain.first..=drain.last).contains(s))
                .collect();
            for seq in seqs {
                self.remove(seq, None);
            }
        }
        // After the cursor: a crash in between finds a draining file naming records no longer
        // pending, which counts for nothing.
        if let Some(Err(e)) = self.disk.as_mut().map(|d| d.save_progress(None)) {
            log::error!("buffer: {e}");
        }
    }

    /// Shutdown in the middle of a window: how far it got is written down.
    pub(super) fn save_progress(&mut self) {
        let Some(progress) = self.drain.as_ref().filter(|d| d.done > 0).map(Drain::progress) else { return };
        if let Some(Err(e)) = self.disk.as_mut().map(|d| d.save_progress(Some(&progress))) {
            log::error!("buffer: {e}; a restart sends the window again");
        }
    }

    /// The backlog was delivered: samples waiting for their record become sealed blocks in the
    /// ring, older than anything staged after them, and new samples are staged again.
    pub(super) fn back_to_memory(&mut self) {
        log::info!("buffer: backlog delivered, back to memory only");
        self.spilling = false;
        self.outage_log = false;
        let pending = self.writer.take_pending();
        if pending.is_empty() {
            return;
        }
        let mut batch = Batch::default();
        let per_block = self.max_samples.max(1);
        let mut blocks = Vec::new();
        for chunk in pending.chunks(per_block) {
            for (labels, ts, value) in chunk {
                batch.push(labels, *value, *ts);
            }
            if let Some(block) = batch.seal(self.next_seq) {
                self.next_seq += 1;
                blocks.push(block);
            }
        }
        for block in blocks {
            self.push_in(block, FIRST_LANE);
        }
    }

    pub(super) fn set_drain_limits(&mut self, max_samples: usize, memory: usize, max_age: Duration) {
        self.max_samples = max_samples.max(1);
        // The writer's rows take 24 bytes a sample: half the ring's budget, which is empty then.
        self.record_samples = (memory / 48).clamp(1024, 1 << 20);
        self.max_age = max_age;
    }
}

/// The oldest timestamp `max_age` still sends at `now`, ms.
fn oldest_ms(max_age: Duration, now: SystemTime) -> i64 {
    let cutoff = now.checked_sub(max_age).and_then(|t| t.duration_since(UNIX_EPOCH).ok());
    cutoff.map_or(i64::MIN, |c| i64::try_from(c.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests;
