//! The data directory: where `logs/` and `labels/` live, and how bbship writes there.
//!
//! Directories bbship creates are private (0700) and files are private (0600): the logs
//! hold customers' names and addresses; looser ones found in place are tightened, with a
//! warning. Writes that replace a file go through a temporary file, fsync and rename, so a
//! crash leaves either the old file or the new one; files that must never replace another
//! (labels) are linked into place, which fails rather than overwrite.
//!
//! Nothing here follows a symbolic link inside the data directory: a link planted in
//! `logs/` or `labels/` (or in place of one of bbship's own directories) is refused, so it
//! cannot redirect a write to a file elsewhere. The data directory itself may be a link.
//!
//! A writing run checks, before its first API call, that every directory it writes can
//! take a file and that the disk has room (`check_writable`): a label bought but not
//! journaled would be postage lost.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::error::UsageError;

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

    /// Packing slips, one beside each new label.
    pub fn slips(&self) -> PathBuf {
        self.labels().join("slips")
    }

    /// What `bbship print` merged into one file.
    pub fn batches(&self) -> PathBuf {
        self.labels().join("batches")
    }

    /// What the packing desk made and printed (`journal::print`).
    pub fn print_journal(&self) -> PathBuf {
        self.logs().join("print_journal.jsonl")
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

    /// One line per writing run: what it did and what went wrong (`runs`).
    pub fn runs_log(&self) -> PathBuf {
        self.logs().join("runs.jsonl")
    }

    /// When each order that needs a person was last reported (`reminders`).
    pub fn reminders(&self) -> PathBuf {
        self.logs().join("reminders.json")
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

    /// bbship's own directories below the root, parents first.
    fn own_directories(&self) -> [PathBuf; 6] {
        [
            self.logs(),
            self.logs().join("best_buy"),
            self.logs().join("canada_post"),
            self.labels(),
            self.slips(),
            self.batches(),
        ]
    }

    /// The history logs a writing run appends to.
    pub fn journal_files(&self) -> [PathBuf; 7] {
        [
            self.print_journal(),
            self.runs_log(),
            self.accepted_orders_log(),
            self.shipping_history_log(),
            self.label_journal(),
            self.ship_journal(),
            self.shipped_orders_log(),
        ]
    }

    /// Creates the directory tree a writing run needs, private. An existing directory of
    /// bbship's that others could read is tightened; one that is a symbolic link is
    /// refused.
    pub fn create(&self) -> Result<()> {
        create_private_dir(&self.root)?;
        for directory in self.own_directories() {
            refuse_symlink(&directory)?;
            create_private_dir(&directory)?;
        }
        Ok(())
    }

    /// Proves, before any API call, that this run can record what it does: each directory
    /// it writes takes a new file (written and fsynced), each history log opens for
    /// appending, and the disk holding the data directory has at least `min_free_bytes`
    /// available. A failure is a `UsageError` naming the path: the operator must fix the
    /// machine, and no order was touched.
    pub fn check_writable(&self, min_free_bytes: u64) -> Result<()> {
        let unusable = |what: String| -> anyhow::Error {
            UsageError(format!(
                "{what}; bbship checks this before it calls any API, and sent nothing"
            ))
            .into()
        };
        for directory in [
            self.logs().join("best_buy"),
            self.logs().join("canada_post"),
            self.labels(),
            self.slips(),
            self.batches(),
        ] {
            probe_directory(&directory).map_err(|error| {
                unusable(format!("cannot write in {} ({error})", directory.display()))
            })?;
        }
        for file in self.journal_files() {
            refuse_symlink(&file)?;
            open_private_append(&file).map_err(|error| {
                unusable(format!("cannot append to {} ({error})", file.display()))
            })?;
        }
        let available = available_bytes(&self.root).map_err(|error| {
            unusable(format!(
                "cannot tell the free space of {} ({error})",
                self.root.display()
            ))
        })?;
        if available < min_free_bytes {
            return Err(unusable(format!(
                "only {} MB free on the disk holding {}; limits.min_free_disk_mb asks for {} MB",
                available / MEGABYTE,
                self.root.display(),
                min_free_bytes / MEGABYTE
            )));
        }
        Ok(())
    }
}

const MEGABYTE: u64 = 1024 * 1024;

/// Creates, writes, fsyncs and removes a small private file in `directory`.
fn probe_directory(directory: &Path) -> io::Result<()> {
    let probe = directory.join(format!(".bbship-probe-{}", std::process::id()));
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&probe)?;
        file.write_all(&[0; 4096])?;
        file.sync_all()
    })();
    let _ = fs::remove_file(&probe);
    result
}

/// Bytes available to an unprivileged writer on the filesystem holding `path`.
fn available_bytes(path: &Path) -> io::Result<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a NUL in the path"))?;
    // SAFETY: `c_path` is a valid NUL-terminated string and `stats` a writable struct
    // that statvfs fills in; both outlive the call.
    let mut stats: libc::statvfs = unsafe { std::mem::zeroed() };
    let result = unsafe { libc::statvfs(c_path.as_ptr(), &mut stats) };
    if result != 0 {
        return Err(io::Error::last_os_error());
    }
    // The field types differ between platforms (u32 on some 32-bit ones).
    #[allow(clippy::useless_conversion)]
    let available = u64::from(stats.f_bavail).saturating_mul(u64::from(stats.f_frsize));
    Ok(available)
}

/// Refuses `path` when it is a symbolic link (it may not exist at all).
pub(crate) fn refuse_symlink(path: &Path) -> Result<()> {
    if fs::symlink_metadata(path).is_ok_and(|metadata| metadata.file_type().is_symlink()) {
        bail!(UsageError(format!(
            "{} is a symbolic link; bbship never follows links inside its data directory, \
             so that a planted link cannot redirect its writes. Remove it",
            path.display()
        )));
    }
    Ok(())
}

/// Creates one directory with mode 0700, or tightens an existing one of ours that others
/// can reach.
pub fn create_private_dir(path: &Path) -> Result<()> {
    match fs::DirBuilder::new().mode(0o700).create(path) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == io::ErrorKind::AlreadyExists && path.is_dir() => {
            tighten(path, 0o700);
            Ok(())
        }
        Err(error) => Err(UsageError(format!(
            "cannot create {} ({error}); bbship checks this before it calls any API",
            path.display()
        ))
        .into()),
    }
}

/// Sets `private_mode` on `path` when it is ours and group or others have any access,
/// with one warning (the next run finds it private and says nothing).
fn tighten(path: &Path, private_mode: u32) {
    let Ok(metadata) = fs::metadata(path) else {
        return;
    };
    let mode = metadata.permissions().mode() & 0o777;
    // SAFETY: geteuid has no preconditions and cannot fail.
    let ours = metadata.uid() == unsafe { libc::geteuid() };
    if mode & 0o077 == 0 || !ours {
        return;
    }
    match fs::set_permissions(path, fs::Permissions::from_mode(private_mode)) {
        Ok(()) => log::warn!(
            "{} was {mode:04o}, readable by others; made it {private_mode:04o} (it holds customers' data)",
            path.display()
        ),
        Err(error) => log::warn!(
            "{} is {mode:04o}, readable by others, and could not be made private: {error}",
            path.display()
        ),
    }
}

/// Opens a file for appending, creating it 0600 (tightening an older, looser one). A
/// symlink in its place is refused, so a link planted in the data directory cannot
/// redirect a write to a file elsewhere.
pub fn open_private_append(path: &Path) -> io::Result<File> {
    let file = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)?;
    tighten(path, 0o600);
    Ok(file)
}

/// Writes `contents` as a new file at `path`, never replacing anything there: a private
/// temporary file, fsync, then a hard link to `path`, which fails with `AlreadyExists`
/// if any file or link (even a dangling one) has that name.
pub fn write_new(path: &Path, contents: &[u8]) -> io::Result<()> {
    let directory = path.parent().unwrap_or(Path::new("."));
    let temporary = temporary_name(directory, path);
    let result = (|| -> io::Result<()> {
        write_private(&temporary, contents)?;
        fs::hard_link(&temporary, path)?;
        File::open(directory)?.sync_all()
    })();
    let _ = fs::remove_file(&temporary);
    result
}

fn temporary_name(directory: &Path, path: &Path) -> PathBuf {
    let file_name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    directory.join(format!(".{file_name}.tmp-{}", std::process::id()))
}

/// Creates `path` (which must not exist), writes `contents` and fsyncs it.
fn write_private(path: &Path, contents: &[u8]) -> io::Result<()> {
    write_fresh(path, contents, 0o600)
}

/// Creates `path` (which must not exist) with `mode`, writes `contents` and fsyncs it.
fn write_fresh(path: &Path, contents: &[u8], mode: u32) -> io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

/// Writes `contents` to `path` atomically: a private temporary file in the same
/// directory, fsync, rename over the target, fsync of the directory.
pub fn write_atomic(path: &Path, contents: &[u8]) -> Result<()> {
    write_atomic_with_mode(path, contents, 0o600)
}

/// `write_atomic` for a file others must read (mode `mode`, less the umask), such as the
/// metrics another user's collector scrapes: it must hold nothing private.
pub fn write_atomic_with_mode(path: &Path, contents: &[u8], mode: u32) -> Result<()> {
    let directory = path
        .parent()
        .with_context(|| format!("{} has no parent directory", path.display()))?;
    let temporary = temporary_name(directory, path);
    let result = (|| -> io::Result<()> {
        write_fresh(&temporary, contents, mode)?;
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
