//! `bbship reprint`: not built yet (issue 8).

use anyhow::{Result, bail};

pub fn run() -> Result<u8> {
    bail!("bbship reprint is not built yet")
}
