//! The errors a caller must branch on to choose an exit code.
//!
//! Everything else travels as `anyhow::Error` with context; these few types are attached
//! at the point where the cause is known, and `exit_code_for` finds them anywhere in an
//! error's chain so that added context never changes the exit code.

use std::path::PathBuf;

/// Exit code for a cycle that ran (nothing to do counts).
pub const EXIT_OK: u8 = 0;
/// Exit code when at least one order failed or a validation did not hold.
pub const EXIT_FAILURES: u8 = 1;
/// Exit code for a usage or configuration error.
pub const EXIT_USAGE: u8 = 2;
/// Exit code when another run holds the data directory's lock (`EX_TEMPFAIL`).
pub const EXIT_LOCKED: u8 = 75;

/// The invocation cannot work as configured: bad config, a missing secret, a rejected
/// credential. Nothing about any order was attempted because of it.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Another bbship run holds the lock of this data directory.
#[derive(Debug, thiserror::Error)]
#[error("another bbship run holds {}; this run did nothing", lock_path.display())]
pub struct LockHeld {
    pub lock_path: PathBuf,
}

/// The exit code an error that ended the run maps to.
pub fn exit_code_for(error: &anyhow::Error) -> u8 {
    for cause in error.chain() {
        if cause.is::<LockHeld>() {
            return EXIT_LOCKED;
        }
        if cause.is::<UsageError>() {
            return EXIT_USAGE;
        }
    }
    EXIT_FAILURES
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn context_does_not_hide_the_exit_code() {
        let error = Err::<(), _>(UsageError("missing BESTBUY_API_KEY".into()))
            .context("loading secrets")
            .context("starting accept")
            .unwrap_err();
        assert_eq!(exit_code_for(&error), EXIT_USAGE);

        let error = anyhow::Error::new(LockHeld {
            lock_path: "logs/bbship.lock".into(),
        })
        .context("run-all");
        assert_eq!(exit_code_for(&error), EXIT_LOCKED);

        assert_eq!(exit_code_for(&anyhow::anyhow!("boom")), EXIT_FAILURES);
    }
}
