//! One instance per directory: an exclusive `flock` on `DIR/lock`, as Prometheus's `lock` file
//! (tsdb/fileutil/flock.go). The kernel releases it when the process ends, however it ends, so a
//! lock left by a killed process never stops a start. The holder writes its PID into the file so
//! that the next one can name it.

use std::fmt;
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// The lock file's name inside a locked directory.
pub const LOCK_FILE: &str = "lock";

/// A held lock: released when dropped (the file is closed) or when the process ends.
#[derive(Debug)]
pub struct DirLock {
    _file: File,
    dir: PathBuf,
}

#[derive(Debug)]
pub enum LockError {
    /// Another process holds the lock; `pid` as it wrote it, if readable.
    Held { dir: PathBuf, pid: Option<u32> },
    /// The directory or lock file could not be created or opened.
    Io { op: &'static str, path: PathBuf, source: io::Error },
}

impl DirLock {
    /// Creates `dir` if missing and locks it without waiting.
    pub fn acquire(dir: &Path) -> Result<DirLock, LockError> {
        fn io_error<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> LockError + 'a {
            move |source| LockError::Io { op, path: path.into(), source }
        }
        if !dir.is_dir() {
            fs::create_dir_all(dir).map_err(io_error("create", dir))?;
            // The new entry must survive a power cut before segments go in it (STYLE).
            let parent = dir.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
            File::open(parent).and_then(|p| p.sync_all()).map_err(io_error("sync", parent))?;
        }
        let path = dir.join(LOCK_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io_error("open", &path))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut text = String::new();
                let pid = file.read_to_string(&mut text).ok().and_then(|_| text.trim().parse().ok());
                return Err(LockError::Held { dir: dir.into(), pid });
            }
            Err(TryLockError::Error(source)) => return Err(LockError::Io { op: "lock", path, source }),
        }
        // Only the holder writes, so a reader sees this PID or a file being rewritten (no PID).
        let written = file.set_len(0).and_then(|()| writeln!(file, "{}", std::process::id()));
        written.map_err(io_error("write", &path))?;
        Ok(DirLock { _file: file, dir: dir.into() })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl fmt::Display for LockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LockError::Held { dir, pid: Some(pid) } => write!(
                f,
                "lock {}: held by another outpost (pid {pid}); one instance per data_dir",
                dir.display()
            ),
            LockError::Held { dir, pid: None } => {
                write!(f, "lock {}: held by another outpost; one instance per data_dir", dir.display())
            }
            LockError::Io { op, path, source } => write!(f, "{op} {}: {source}", path.display()),
        }
    }
}

impl std::error::Error for LockError {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::buffer::disk::tests::TempDir;

    #[test]
    fn second_lock_names_the_holder_and_a_released_lock_is_taken_again() {
        let dir = TempDir::new("lock");
        let held = DirLock::acquire(&dir.0).expect("first lock");
        assert_eq!(held.dir(), dir.0.as_path());
        // flock conflicts between open file descriptions, in one process too.
        match DirLock::acquire(&dir.0) {
            Err(LockError::Held { dir: d, pid }) => {
                assert_eq!(d, dir.0);
                assert_eq!(pid, Some(std::process::id()));
            }
            other => panic!("expected Held, got {other:?}"),
        }
        let message = DirLock::acquire(&dir.0).unwrap_err().to_string();
        assert!(message.contains(&dir.0.display().to_string()), "{message}");
        assert!(message.contains(&format!("pid {}", std::process::id())), "{message}");
        drop(held);
        DirLock::acquire(&dir.0).expect("lock after release");
    }

    #[test]
    fn missing_directory_is_created() {
        let dir = TempDir::new("lock-create");
        let sub = dir.0.join("a/b");
        let _lock = DirLock::acquire(&sub).expect("lock");
        assert!(sub.join(LOCK_FILE).is_file());
    }
}
