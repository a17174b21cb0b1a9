//! The single-run lock: one writing run per data directory at a time.
//!
//! The lock is an advisory `flock` on `logs/bbship.lock`, taken without waiting. The
//! kernel releases it when the process ends, however it ends (SIGKILL included), so a
//! crashed run never blocks the next; the file itself is left in place and reused.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;

use anyhow::{Context, Result};

use crate::data_dir::DataDir;
use crate::error::LockHeld;

/// Held for as long as this value lives.
#[derive(Debug)]
pub struct RunLock {
    _file: File,
}

impl RunLock {
    /// Takes the lock of `data_dir`, creating `logs/` if needed. Fails with `LockHeld`
    /// when another process has it.
    pub fn acquire(data_dir: &DataDir) -> Result<RunLock> {
        let path = data_dir.lock_file();
        crate::data_dir::create_private_dir(data_dir.root())?;
        crate::data_dir::refuse_symlink(&data_dir.logs())?;
        crate::data_dir::create_private_dir(&data_dir.logs())?;
        crate::data_dir::refuse_symlink(&path)?;
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)
            .with_context(|| format!("cannot open the lock file {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Err(LockHeld { lock_path: path }.into()),
            Err(TryLockError::Error(error)) => {
                return Err(error).with_context(|| format!("cannot lock {}", path.display()));
            }
        }
        // The holder's pid helps an operator who finds the lock taken; it is information
        // only, never read back.
        let _ = file.set_len(0);
        let _ = writeln!(file, "{}", std::process::id());
        Ok(RunLock { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_acquire_in_the_same_data_dir_fails_until_the_first_is_dropped() {
        let temp = tempfile::tempdir().unwrap();
        let data_dir = DataDir::new(temp.path());
        let first = RunLock::acquire(&data_dir).unwrap();
        let error = RunLock::acquire(&data_dir).unwrap_err();
        assert!(error.is::<LockHeld>(), "{error:#}");
        drop(first);
        RunLock::acquire(&data_dir).unwrap();
    }
}
