//! The buffer's side of the segment log: opening it (what a previous run left becomes the
//! backlog, damage is counted), spilling the ring at an outage, a full ring or shutdown, and
//! writing sealed blocks.

use std::path::Path;
use std::time::Instant;

use super::segment::BlockMeta;
use super::{Buffer, Disk};
use crate::config::BufferConfig;
use crate::log::held_back;
use crate::model::{DropReason, SealedBlock};

impl Buffer {
    /// Opens the segment log under `dir`, recovering what a previous run left:
    /// torn or corrupt tails are truncated and counted, undelivered blocks
    /// become the backlog, sent before any new block.
    pub fn open(config: &BufferConfig, dir: &Path) -> Self {
        let mut buffer = Buffer::in_memory(usize::try_from(config.memory).unwrap_or(usize::MAX));
        buffer.persist = config.persist;
        buffer.set_drain_limits(2000, usize::try_from(config.memory).unwrap_or(usize::MAX), config.max_age);
        match Disk::open(dir, config.segment, config.disk) {
            Ok((disk, recovery)) => {
                buffer.resume = recovery.draining;
                let undelivered = |m: &&BlockMeta| recovery.cursor.is_none_or(|c| m.seq > c);
                for damage in &recovery.damaged {
                    let lost: Vec<&BlockMeta> = damage.lost.iter().filter(undelivered).collect();
                    let samples = lost.iter().map(|m| u64::from(m.samples)).sum();
                    log::warn!(
                        "buffer {}: segment {:08} damaged at offset {} ({}): {} bytes truncated, {} blocks lost",
                        dir.display(),
                        damage.segment,
                        damage.offset,
                        damage.damage.as_ref().map_or("torn by a crash".to_string(), ToString::to_string),
                        damage.bytes,
                        lost.len() as u64 + damage.unreadable
                    );
                    buffer.lose(DropReason::Corrupt, lost.len() as u64 + damage.unreadable, samples);
                }
                for (segment, damage) in &recovery.unread {
                    log::warn!(
                        "buffer {}: segment {segment:08} kept and not sent: {damage} (a later outpost may read it)",
                        dir.display()
                    );
                }
                buffer.next_seq = recovery.next_seq;
                for (meta, at) in recovery.pending {
                    buffer.backlog_samples += u64::from(meta.samples);
                    buffer.next_seq = buffer.next_seq.max(meta.seq + 1);
                    buffer.backlog.push_back((meta, at));
                }
                if !buffer.backlog.is_empty() {
                    log::info!(
                        "buffer {}: {} blocks ({} samples) from a previous run will be sent first",
                        dir.display(),
                        buffer.backlog.len(),
                        buffer.backlog_samples
                    );
                    buffer.spilling = true;
                    buffer.outage_log = true;
                }
                buffer.disk = Some(disk);
            }
            Err(e) => log::error!("buffer: {e}; buffering in memory only"),
        }
        buffer
    }
    /// A send failed: an outage begins, the ring goes to disk.
    pub fn outage(&mut self) {
        if self.disk.is_none() {
            return;
        }
        self.outage_log = true;
        if !self.spilling {
            if !self.ring.is_empty() {
                log::info!("buffer: receiver unreachable, spilling {} blocks to disk", self.ring.len());
            }
            self.spill_all();
        }
    }

    /// Writes every block in RAM to disk and syncs (outage, full ring, shutdown).
    pub fn spill_all(&mut self) {
        if self.disk.is_none() {
            return;
        }
        self.spilling = true;
        for block in self.ring.take_all() {
            self.write(block);
        }
        self.sync();
        if let Some(Err(e)) = self.disk.as_mut().map(Disk::save_ahead) {
            log::error!("buffer: {e}; blocks delivered out of order may be sent again after a restart");
        }
    }

    /// Shutdown: spills everything; requests still in flight that are delivered
    /// before the process exits are recorded on disk as they settle.
    pub fn close(&mut self) {
        self.closing = true;
        self.spill_all();
        self.save_progress();
    }

    /// Syncs what was written since the last sync.
    pub fn sync(&mut self) {
        self.flush_samples();
        let Some(disk) = &mut self.disk else { return };
        if !std::mem::take(&mut self.unsynced) {
            return;
        }
        if let Err(e) = disk.sync() {
            // The disk layer poisoned the segment: never appended to again,
            // later blocks go to a new one. Its records stay readable (they
            // are in the page cache) but would not survive a power loss.
            log::error!("buffer: {e}");
        }
    }

    pub(super) fn write(&mut self, block: SealedBlock) {
        let Some(disk) = &mut self.disk else { return };
        let meta = BlockMeta::of(&block);
        debug_assert!(
            self.ring.is_empty() || self.ring.newest_seq() < Some(block.seq),
            "BUG: disk block newer than RAM"
        );
        match disk.append(&meta, &block.payload) {
            Ok(appended) => {
                self.unsynced = true;
                self.spilled += 1;
                self.backlog_samples += u64::from(meta.samples);
                self.backlog.push_back((meta, appended.at));
                if appended.no_space > 0
                    && let Some(held) = self.append_errors.pass(Instant::now())
                {
                    let deleted = appended.dropped.iter().rev().take(appended.no_space);
                    log::error!(
                        "buffer {}: no space left on device: oldest segment deleted ({} samples not yet sent) \
                         to write block {}{}",
                        disk.dir().display(),
                        deleted.map(|m| u64::from(m.samples)).sum::<u64>(),
                        block.seq,
                        held_back(held)
                    );
                }
                self.forget_deleted(&appended.dropped, appended.no_space);
            }
            Err(e) => {
                if let Some(held) = self.append_errors.pass(Instant::now()) {
                    log::error!(
                        "buffer {}: {}; block {} ({} samples) dropped{}",
                        disk.dir().display(),
                        e.error,
                        block.seq,
                        block.samples,
                        held_back(held)
                    );
                }
                let reason = if e.error.is_no_space() { DropReason::NoSpace } else { DropReason::DiskFull };
                self.forget_deleted(&e.dropped, e.no_space);
                self.forget(block.seq);
                self.lose(reason, 1, u64::from(block.samples));
            }
        }
    }

    /// Forgets blocks whose segment the disk deleted to stay within `buffer.disk` (or, the
    /// last `no_space` of them, because the file system was full), and counts them.
    pub(super) fn forget_deleted(&mut self, deleted: &[BlockMeta], no_space: usize) {
        if !deleted.is_empty() {
            self.log_reader = None;
        }
        let budget = deleted.len().saturating_sub(no_space);
        for (part, reason) in
            [(&deleted[..budget], DropReason::DiskFull), (&deleted[budget..], DropReason::NoSpace)]
        {
            let (mut blocks, mut samples) = (0, 0);
            for meta in part {
                if self.drain.as_ref().is_some_and(|d| d.first <= meta.seq && meta.seq <= d.last) {
                    // The window being sent holds this record's samples in RAM: it is sent to
                    // its end, and its records leave the backlog when it is settled. Counting
                    // them here would count what is delivered; reading it again, sending twice.
                    continue;
                }
                let Some(i) = self.backlog.iter().position(|(m, _)| m.seq == meta.seq) else { continue };
                self.backlog.remove(i);
                self.forget(meta.seq);
                if i == 0 {
                    self.head = None;
                }
                self.backlog_samples -= u64::from(meta.samples);
                blocks += 1;
                samples += u64::from(meta.samples);
            }
            self.lose(reason, blocks, samples);
        }
    }
}
