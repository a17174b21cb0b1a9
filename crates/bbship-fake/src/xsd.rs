//! The schema check of Canada Post XML for the tests: `xmllint` against the XSDs
//! vendored in the repository's `schemas/canadapost/`. `xmllint` is the test suite's one
//! system prerequisite; without it a test that needs it fails with one line saying so.

use std::path::{Path, PathBuf};

use crate::fail_test as fail;

/// The vendored `shipment.xsd` (`BBSHIP_XSD_DIR` names another directory of the same
/// files). A missing schema fails the test: an unchecked XML is not a pass.
pub fn shipment_xsd() -> PathBuf {
    vendored("shipment.xsd")
}

/// One of the vendored schemas, by file name (`BBSHIP_XSD_DIR` as for `shipment_xsd`).
pub fn vendored(name: &str) -> PathBuf {
    let dir = std::env::var_os("BBSHIP_XSD_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schemas/canadapost"),
        PathBuf::from,
    );
    let xsd = dir.join(name);
    if !xsd.is_file() {
        fail(&format!(
            "{} is missing (the repository vendors it; BBSHIP_XSD_DIR names another directory)",
            xsd.display()
        ));
    }
    xsd
}

/// Validates every document against `shipment.xsd` with one `xmllint` run; returns
/// xmllint's complaints.
pub fn validate<T: AsRef<[u8]>>(documents: &[T]) -> Result<(), String> {
    validate_against(&shipment_xsd(), documents)
}

/// The same against another schema, such as `vendored("ncshipment.xsd")`.
pub fn validate_against<T: AsRef<[u8]>>(xsd: &Path, documents: &[T]) -> Result<(), String> {
    let temp = tempfile::tempdir().map_err(|error| format!("a temporary directory: {error}"))?;
    let mut files = Vec::new();
    for (index, document) in documents.iter().enumerate() {
        let path = temp.path().join(format!("{index}.xml"));
        std::fs::write(&path, document).map_err(|error| format!("{}: {error}", path.display()))?;
        files.push(path);
    }
    let output = match std::process::Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(xsd)
        .args(&files)
        .output()
    {
        Ok(output) => output,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => fail(
            "xmllint is not installed: the Canada Post XML checks need it (Debian: apt-get install libxml2-utils)",
        ),
        Err(error) => fail(&format!("xmllint could not run: {error}")),
    };
    if output.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}
