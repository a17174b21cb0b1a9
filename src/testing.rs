//! Helpers shared by the unit tests of several modules (compiled only for tests).

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
