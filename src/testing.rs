//! Helpers shared by the unit tests of several modules (compiled only for tests): the
//! schema check with `xmllint`, and a seeded generator for fuzz tests.

use std::path::{Path, PathBuf};

/// `shipment.xsd` from the shared reference beside the checkout (`BBSHIP_XSD_DIR`
/// overrides). Missing schemas fail the test: an unchecked XML is not a pass.
pub fn shipment_xsd() -> PathBuf {
    let dir = std::env::var_os("BBSHIP_XSD_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/canadapost-data/xsd")
        });
    let xsd = dir.join("shipment.xsd");
    assert!(
        xsd.exists(),
        "{} is missing (set BBSHIP_XSD_DIR)",
        xsd.display()
    );
    xsd
}

/// Validates every document with one xmllint run; returns xmllint's complaints.
pub fn xmllint(documents: &[String]) -> Result<(), String> {
    let temp = tempfile::tempdir().unwrap();
    let files: Vec<PathBuf> = documents
        .iter()
        .enumerate()
        .map(|(index, xml)| {
            let path = temp.path().join(format!("{index}.xml"));
            std::fs::write(&path, xml).unwrap();
            path
        })
        .collect();
    let output = std::process::Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(shipment_xsd())
        .args(&files)
        .output()
        .expect("xmllint runs (Debian: apt-get install libxml2-utils)");
    if output.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

/// A small seeded pseudo-random generator (xorshift64) for the fuzz and property tests:
/// the same seed gives the same cases on every machine, so a failure can be replayed.
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed`; zero (xorshift's one fixed point) is replaced.
    pub fn new(seed: u64) -> Rng {
        Rng(if seed == 0 {
            0x9E37_79B9_7F4A_7C15
        } else {
            seed
        })
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number in `0..bound` (`bound` > 0).
    pub fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound as u64) as usize
    }

    /// One of `items` (not empty).
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}
