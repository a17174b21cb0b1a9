//! The data directory: where `logs/` and `labels/` live, and how bbship writes there.
//!
//! Directories bbship creates are private (0700) and files are private (0600): the logs
//! hold customers' names and addresses. Writes that replace a file go through a temporary
//! file, fsync and rename, so a crash leaves either the old file or the new one.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

#[derive(Clone, Debug)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    pub fn new(root: impl Into<PathBuf>) -> DataDir {
        DataDir { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn logs(&self) -> PathBuf {
        self.root.join("logs")
    }

    pub fn labels(&self) -> PathBuf {
        self.root.join("labels")
    }

    pub fn lock_file(&self) -> PathBuf {
        self.logs().join("bbship.lock")
    }

    pub fn accepted_orders_log(&self) -> PathBuf {
        self.logs()
            .join("best_buy")
            .join("accepted_orders_log.jsonl")
    }

    pub fn shipping_history_log(&self) -> PathBuf {
        self.logs()
            .join("canada_post")
            .join("cp_shipping_history_log.jsonl")
    }

    /// Every step of buying each label (intent, shipment, PIN verdict, saved file).
    pub fn label_journal(&self) -> PathBuf {
        self.logs().join("canada_post").join("label_journal.jsonl")
    }

    pub fn legacy_shipping_history(&self) -> PathBuf {
        self.logs()
            .join("canada_post")
            .join("cp_shipping_history_log.json")
    }

    /// The Best Buy writes of phase 3 already done for each order.
    pub fn ship_journal(&self) -> PathBuf {
        self.logs().join("best_buy").join("ship_journal.jsonl")
    }

    /// What the history logs said up to a known point (`journal::checkpoint`).
    pub fn journal_checkpoint(&self) -> PathBuf {
        self.logs().join("journal_checkpoint.json")
    }

    pub fn shipped_orders_log(&self) -> PathBuf {
        self.logs()
            .join("best_buy")
            .join("shipped_orders_log.jsonl")
    }

    /// Creates the directory tree a writing run needs. Directories that already exist are
    /// left as they are (the operator may have chosen their permissions).
    pub fn create(&self) -> Result<()> {
        for directory in [
            self.root.clone(),
            self.logs(),
            self.logs().join("best_buy"),
            self.logs().join("canada_post"),
            self.labels(),
        ] {
            create_private_dir(&directory)?;
        }
        Ok(())
    }
}

/// Creates one directory with mode 0700 unless it exists already.
pub fn create_private_dir(path: &Path) -> Result<()> {
    match fs::DirBuilder::new().mode(0o700).create(path) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == io::ErrorKind::AlreadyExists && path.is_dir() => Ok(()),
        Err(error) => Err(error).with_context(|| format!("cannot create {}", path.display())),
    }
}

/// Opens a file for appending, creating it 0600. A symlink in its place is refused, so a
/// link planted in the data directory cannot redirect a write to a file elsewhere.
pub fn open_private_append(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
}

/// Writes `contents` to `path` atomically: a private temporary file in the same
/// directory, fsync, rename over the target, fsync of the directory.
pub fn write_atomic(path: &Path, contents: &[u8]) -> Result<()> {
    let directory = path
        .parent()
        .with_context(|| format!("{} has no parent directory", path.display()))?;
    let file_name = path
        .file_name()
        .with_context(|| format!("{} has no file name", path.display()))?;
    let temporary = directory.join(format!(
        ".{}.tmp-{}",
        file_name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| -> io::Result<()> {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&temporary)?;
        file.write_all(contents)?;
        file.sync_all()?;
        fs::rename(&temporary, path)?;
        File::open(directory)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temporary);
    }
    result.with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn created_directories_and_files_are_private() {
        let temp = tempfile::tempdir().unwrap();
        let data = DataDir::new(temp.path().join("data"));
        data.create().unwrap();
        assert_eq!(mode(data.root()), 0o700);
        assert_eq!(mode(&data.logs()), 0o700);
        assert_eq!(mode(&data.labels()), 0o700);
        let log = data.accepted_orders_log();
        open_private_append(&log).unwrap();
        assert_eq!(mode(&log), 0o600);
        let label = data.labels().join("a.pdf");
        write_atomic(&label, b"%PDF").unwrap();
        assert_eq!(mode(&label), 0o600);
        assert_eq!(fs::read(&label).unwrap(), b"%PDF");
    }

    #[test]
    fn a_planted_symlink_is_not_followed() {
        let temp = tempfile::tempdir().unwrap();
        let victim = temp.path().join("victim");
        fs::write(&victim, "keep me").unwrap();
        let link = temp.path().join("log.jsonl");
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        assert!(open_private_append(&link).is_err());
        assert_eq!(fs::read_to_string(&victim).unwrap(), "keep me");
    }
}
