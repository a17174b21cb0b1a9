//! Label files under `labels/`: named from the order id and the time, written atomically
//! and privately, with a SHA-256 so a file can later be matched to its journal line.
//!
//! Order ids come from Best Buy, so the name is sanitised even though `OrderId` already
//! refuses path characters: the file name is where a hostile id would do harm.

use std::path::Path;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::data_dir::{self, DataDir};
use crate::ids::OrderId;
use crate::journal::SavedLabel;

/// Writes each page of one order's label and returns what was saved. The bytes must
/// already have been checked (a PDF); nothing here interprets them.
pub fn save(
    data_dir: &DataDir,
    order_id: &OrderId,
    pages: &[Vec<u8>],
    inspected_pages: &[usize],
    at: DateTime<Utc>,
) -> Result<Vec<SavedLabel>> {
    let stem = format!(
        "{}_{}",
        file_stem(order_id.as_str()),
        at.format("%Y%m%dT%H%M%SZ")
    );
    let mut saved = Vec::with_capacity(pages.len());
    for (index, bytes) in pages.iter().enumerate() {
        let base = if index == 0 {
            stem.clone()
        } else {
            format!("{stem}_page{}", index + 1)
        };
        let file_name = write_under_free_name(&data_dir.labels(), &base, bytes)?;
        saved.push(SavedLabel {
            path: format!("labels/{file_name}"),
            sha256: sha256_hex(bytes),
            pages: inspected_pages.get(index).copied().unwrap_or(1),
        });
    }
    Ok(saved)
}

/// Writes `bytes` as `base.pdf`, or `base-2.pdf`, … when that name is taken (a reprint
/// within the same second, or anything planted there, a symbolic link included): an
/// existing file is never replaced nor written through.
pub fn write_under_free_name(directory: &Path, base: &str, bytes: &[u8]) -> Result<String> {
    for counter in 1..=MAX_NAME_TRIES {
        let candidate = if counter == 1 {
            format!("{base}.pdf")
        } else {
            format!("{base}-{counter}.pdf")
        };
        let path = directory.join(&candidate);
        match data_dir::write_new(&path, bytes) {
            Ok(()) => return Ok(candidate),
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(error) => {
                return Err(error).with_context(|| format!("cannot write {}", path.display()));
            }
        }
    }
    anyhow::bail!(
        "cannot find a free name for {base}.pdf in {} after {MAX_NAME_TRIES} tries",
        directory.display()
    )
}

/// How many names a label tries before giving up (each taken one is a file already there).
const MAX_NAME_TRIES: u32 = 1000;

/// Letters, digits, `-`, `_` and inner dots; everything else becomes `_`, and a name
/// cannot start with a dot.
pub fn file_stem(order_id: &str) -> String {
    let cleaned: String = order_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let trimmed = cleaned.trim_start_matches('.');
    if trimmed.is_empty() {
        "order".to_owned()
    } else {
        trimmed.chars().take(64).collect()
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn names_cannot_escape_the_labels_directory() {
        assert_eq!(file_stem("261300002-A"), "261300002-A");
        assert_eq!(file_stem("../../etc/passwd"), "_.._etc_passwd");
        assert_eq!(file_stem("..."), "order");
        assert_eq!(file_stem("a/b\0c"), "a_b_c");
        assert!(!file_stem("..hidden").starts_with('.'));
        let labels = Path::new("/data/labels");
        for hostile in [
            "../../etc/passwd",
            "/abs",
            "a/../../b",
            "a\0b",
            "..",
            ".",
            "",
            "ü/💥/\u{202e}",
            "\\server\\share",
            &"../".repeat(100),
            &"x".repeat(10_000),
        ] {
            let stem = file_stem(hostile);
            let path = labels.join(format!("{stem}_20260115T104233Z.pdf"));
            assert_eq!(path.parent(), Some(labels), "{hostile:?} -> {stem:?}");
            assert!(!stem.starts_with('.') && stem.len() <= 64, "{stem:?}");
        }
    }

    #[test]
    fn sha256_matches_a_known_vector() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn labels_are_saved_privately_and_never_replaced() {
        let temp = tempfile::tempdir().unwrap();
        let data_dir = DataDir::new(temp.path());
        data_dir.create().unwrap();
        let order: OrderId = "261300002-A".parse().unwrap();
        let at: DateTime<Utc> = "2026-01-15T10:42:33Z".parse().unwrap();
        let first = save(&data_dir, &order, &[b"%PDF-1".to_vec()], &[1], at).unwrap();
        assert_eq!(first[0].path, "labels/261300002-A_20260115T104233Z.pdf");
        let again = save(&data_dir, &order, &[b"%PDF-2".to_vec()], &[1], at).unwrap();
        assert_eq!(again[0].path, "labels/261300002-A_20260115T104233Z-2.pdf");
        let path = temp.path().join(&first[0].path);
        assert_eq!(std::fs::read(&path).unwrap(), b"%PDF-1");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn a_symlink_planted_at_a_label_name_is_neither_followed_nor_replaced() {
        let temp = tempfile::tempdir().unwrap();
        let data_dir = DataDir::new(temp.path().join("data"));
        data_dir.create().unwrap();
        let victim = temp.path().join("victim");
        std::fs::write(&victim, "keep me").unwrap();
        let order: OrderId = "261300002-A".parse().unwrap();
        let at: DateTime<Utc> = "2026-01-15T10:42:33Z".parse().unwrap();
        let planted = data_dir.labels().join("261300002-A_20260115T104233Z.pdf");
        std::os::unix::fs::symlink(&victim, &planted).unwrap();
        let dangling = data_dir.labels().join("261300002-A_20260115T104233Z-2.pdf");
        std::os::unix::fs::symlink(temp.path().join("nothing"), &dangling).unwrap();

        let saved = save(&data_dir, &order, &[b"%PDF-1".to_vec()], &[1], at).unwrap();
        assert_eq!(saved[0].path, "labels/261300002-A_20260115T104233Z-3.pdf");
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me");
        assert!(!temp.path().join("nothing").exists());
        assert!(
            std::fs::symlink_metadata(&planted)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        // No temporary file is left behind.
        let names: Vec<String> = std::fs::read_dir(data_dir.labels())
            .unwrap()
            .map(|entry| entry.unwrap())
            .filter(|entry| !entry.file_type().unwrap().is_dir())
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 3, "{names:?}");
    }
}
