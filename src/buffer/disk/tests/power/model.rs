//! What a power cut leaves of a directory, from the calls recorded at the seam (`files::trace`):
//! a file's data and size are on flash as of its last fsync, plus some prefix of the changes
//! made since (the last one possibly in part); a create, remove or rename is on flash once the
//! directory was fsynced after it, and before that it may or may not have happened.

use std::collections::BTreeMap;
use std::path::Path;

use super::super::files::trace::Op;

/// A change to a file's data not yet synced.
#[derive(Clone, Debug)]
enum Change {
    Write { offset: Option<u64>, bytes: Vec<u8> },
    SetLen(u64),
}

/// A file's contents on flash and the changes made since its last fsync.
#[derive(Clone, Debug, Default)]
struct Inode {
    durable: Vec<u8>,
    pending: Vec<Change>,
}

/// A directory change not yet synced.
#[derive(Clone, Debug)]
enum DirOp {
    Link(String, usize),
    Unlink(String),
    Rename(String, String),
}

/// How much of what was not synced survives the cut.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Cut {
    /// Nothing unsynced: the state the fsyncs promise.
    Synced,
    /// Everything issued (as after SIGKILL: the page cache survives).
    Issued,
    /// Seeded: a prefix of each file's changes (the last in part), any subset of directory ops.
    Random(u64),
}

/// The calls replayed up to some point.
#[derive(Clone, Debug, Default)]
pub(super) struct Replay {
    inodes: Vec<Inode>,
    /// Names as the running process sees them.
    names: BTreeMap<String, usize>,
    /// Names as of the last directory fsync.
    durable_names: BTreeMap<String, usize>,
    pending_dir: Vec<DirOp>,
}

fn name_of(path: &std::path::Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

impl Replay {
    /// Applies one recorded call, as the process saw it.
    pub(super) fn apply(&mut self, path: &Path, op: &Op) {
        let name = name_of(path);
        let inode = self.names.get(&name).copied();
        match (op, inode) {
            (Op::Open, _) => {}
            (Op::Create, Some(i)) => self.inodes[i].pending.push(Change::SetLen(0)),
            (Op::Create, None) => {
                self.inodes.push(Inode::default());
                let i = self.inodes.len() - 1;
                self.names.insert(name.clone(), i);
                self.pending_dir.push(DirOp::Link(name, i));
            }
            (Op::Write { offset, bytes }, Some(i)) => {
                self.inodes[i].pending.push(Change::Write { offset: *offset, bytes: bytes.clone() });
            }
            (Op::SetLen(len), Some(i)) => self.inodes[i].pending.push(Change::SetLen(*len)),
            (Op::Sync, Some(i)) => {
                let inode = &mut self.inodes[i];
                for change in std::mem::take(&mut inode.pending) {
                    apply(&mut inode.durable, &change, usize::MAX);
                }
            }
            (Op::SyncDir, _) => {
                self.durable_names = self.names.clone();
                self.pending_dir.clear();
            }
            (Op::Remove, Some(_)) => {
                self.names.remove(&name);
                self.pending_dir.push(DirOp::Unlink(name));
            }
            (Op::Rename(to), Some(i)) => {
                let to = name_of(to);
                self.names.remove(&name);
                self.names.insert(to.clone(), i);
                self.pending_dir.push(DirOp::Rename(name, to));
            }
            (op, None) => panic!("{op:?} on {name}, which does not exist"),
        }
    }

    /// Whether anything is not yet on flash.
    pub(super) fn has_unsynced(&self) -> bool {
        !self.pending_dir.is_empty() || self.names.values().any(|i| !self.inodes[*i].pending.is_empty())
    }

    /// The files a power cut now could leave, by name.
    pub(super) fn crash(&self, cut: Cut) -> BTreeMap<String, Vec<u8>> {
        let mut rng = fastrand::Rng::with_seed(match cut {
            Cut::Random(seed) => seed,
            _ => 0,
        });
        let mut names = self.durable_names.clone();
        for op in &self.pending_dir {
            let happened = match cut {
                Cut::Synced => false,
                Cut::Issued => true,
                Cut::Random(_) => rng.bool(),
            };
            if !happened {
                continue;
            }
            match op {
                DirOp::Link(name, i) => {
                    names.insert(name.clone(), *i);
                }
                DirOp::Unlink(name) => {
                    names.remove(name);
                }
                DirOp::Rename(from, to) => {
                    if let Some(i) = names.remove(from) {
                        names.insert(to.clone(), i);
                    }
                }
            }
        }
        let mut files = BTreeMap::new();
        for (name, i) in names {
            let inode = &self.inodes[i];
            let mut data = inode.durable.clone();
            let (kept, part) = match cut {
                Cut::Synced => (0, 0),
                Cut::Issued => (inode.pending.len(), 0),
                Cut::Random(_) => (rng.usize(..=inode.pending.len()), rng.usize(..=usize::from(u16::MAX))),
            };
            for change in &inode.pending[..kept] {
                apply(&mut data, change, usize::MAX);
            }
            // The next change, in part: a write cut short (a set_len happens or not).
            if let Some(change @ Change::Write { bytes, .. }) = inode.pending.get(kept) {
                apply(&mut data, change, part % (bytes.len() + 1));
            }
            files.insert(name, data);
        }
        files
    }
}

/// Applies `change` to `data`, of a write only its first `limit` bytes.
fn apply(data: &mut Vec<u8>, change: &Change, limit: usize) {
    match change {
        Change::Write { offset, bytes } => {
            let bytes = &bytes[..bytes.len().min(limit)];
            let at = offset.map_or(data.len(), |o| o as usize);
            if data.len() < at + bytes.len() {
                data.resize(at + bytes.len(), 0);
            }
            data[at..at + bytes.len()].copy_from_slice(bytes);
        }
        Change::SetLen(len) => data.resize(*len as usize, 0),
    }
}
