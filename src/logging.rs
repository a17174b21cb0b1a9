//! Logging through `log` + `env_logger`, with every registered secret redacted.
//!
//! By default only warnings and errors are shown, so a clean cron run prints nothing.
//! `-v` adds per-order progress and phase summaries, `-vv` each request, `-vvv` bodies;
//! `RUST_LOG` overrides. ureq's own logs are held at `warn`: at trace it prints raw wire
//! data, headers included, unredacted.

use log::{LevelFilter, Log, Metadata, Record};

use crate::secret::redact;

struct RedactingLogger {
    inner: env_logger::Logger,
}

impl Log for RedactingLogger {
    fn enabled(&self, metadata: &Metadata) -> bool {
        !is_http_library(metadata.target(), metadata.level()) && self.inner.enabled(metadata)
    }

    fn log(&self, record: &Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let message = redact(&record.args().to_string());
        self.inner.log(
            &Record::builder()
                .args(format_args!("{message}"))
                .metadata(record.metadata().clone())
                .module_path(record.module_path())
                .file(record.file())
                .line(record.line())
                .build(),
        );
    }

    fn flush(&self) {
        self.inner.flush();
    }
}

fn is_http_library(target: &str, level: log::Level) -> bool {
    (target.starts_with("ureq") || target.starts_with("rustls")) && level > log::Level::Warn
}

/// The level for `-v` count and `-q`.
pub fn level_for(verbose: u8, quiet: bool) -> LevelFilter {
    if quiet {
        return LevelFilter::Error;
    }
    match verbose {
        0 => LevelFilter::Warn,
        1 => LevelFilter::Info,
        2 => LevelFilter::Debug,
        _ => LevelFilter::Trace,
    }
}

/// Installs the logger once; later calls (tests, the sandbox) are ignored.
pub fn init(level: LevelFilter) {
    let mut builder = env_logger::Builder::new();
    // One plain line per event: under cron these lines are the e-mail a seller reads.
    builder.filter_level(level).format(|buffer, record| {
        use std::io::Write;
        let level = match record.level() {
            log::Level::Error => "error",
            log::Level::Warn => "warning",
            log::Level::Info => "info",
            log::Level::Debug => "debug",
            log::Level::Trace => "trace",
        };
        writeln!(buffer, "bbship: {level}: {}", record.args())
    });
    if let Ok(directives) = std::env::var("RUST_LOG") {
        builder.parse_filters(&directives);
    }
    let inner = builder.build();
    let max_level = inner.filter();
    if log::set_boxed_logger(Box::new(RedactingLogger { inner })).is_ok() {
        log::set_max_level(max_level);
    }
}
