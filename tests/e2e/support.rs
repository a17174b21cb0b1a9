//! Shared helpers for the integration tests: a fake of both APIs on 127.0.0.1, a private
//! data directory and configuration pointing at it, and the real `bbship` binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use bbship_fake::config::ConfigBuilder;
use bbship_fake::{Endpoint, FakeOptions, FakeOrder, FakeServer, Fault, FaultRule};

pub const API_KEY: &str = "test-bestbuy-key-7f3a9c2e41";
pub const CP_USERNAME: &str = "test-cp-user-0a1b2c";
pub const CP_PASSWORD: &str = "test-cp-password-9d8e7f";

/// Both kinds of Canada Post account, as `canada_post.account` names them: the tests of
/// the never-ship-twice protocol run for each.
pub const ACCOUNTS: [&str; 2] = ["contract", "non_contract"];

pub struct Harness {
    /// `canada_post.account` of every configuration this harness writes.
    pub account: std::cell::Cell<&'static str>,
    pub fake: FakeServer,
    pub temp: tempfile::TempDir,
    pub config_path: PathBuf,
    pub data_dir: PathBuf,
}

impl Harness {
    /// A fake with `orders`, and a configuration tuned for tests: no pause before the
    /// one re-check of the accepts, short backoffs, no pacing.
    pub fn new(orders: Vec<FakeOrder>) -> Harness {
        Harness::with_options(FakeOptions::default(), orders)
    }

    pub fn with_options(mut options: FakeOptions, orders: Vec<FakeOrder>) -> Harness {
        options.api_key = API_KEY.to_owned();
        options.canada_post_username = CP_USERNAME.to_owned();
        options.canada_post_password = CP_PASSWORD.to_owned();
        let fake = FakeServer::start(options).expect("the fake starts");
        fake.add_orders(orders);
        let temp = tempfile::tempdir().expect("a temporary directory");
        let data_dir = temp.path().join("data");
        let config_path = temp.path().join("bbship.json");
        let harness = Harness {
            account: std::cell::Cell::new("contract"),
            fake,
            temp,
            config_path,
            data_dir,
        };
        harness.write_config(|_| {});
        harness
    }

    /// From now on the configuration ships with `account` (`contract` or
    /// `non_contract`); the configuration is written again.
    pub fn with_account(self, account: &'static str) -> Harness {
        self.account.set(account);
        self.write_config(|_| {});
        self
    }

    /// Writes the test configuration after `edit` has changed it.
    pub fn write_config(&self, edit: impl FnOnce(&mut serde_json::Value)) {
        let mut config = ConfigBuilder::new(&self.fake)
            .non_contract(self.account.get() == "non_contract")
            .without_sender_name()
            .build();
        config["bestbuy"]["accept_recheck_delay_secs"] = 0.into();
        config["bestbuy"]["accept_recheck_max_secs"] = 0.into();
        config["limits"] = serde_json::json!({
            "bestbuy_requests_per_minute": 60000,
            "canada_post_requests_per_minute": 60000,
            "canada_post_tracking_per_minute": 60000,
            "canada_post_create_spacing_ms": 0,
            "canada_post_throttle_pause_secs": 1,
            "label_retry_initial_ms": 10,
            "label_wait_secs": 3,
            "retry_backoff_initial_ms": 10,
            "max_retry_after_secs": 2,
            "request_timeout_secs": 10
        });
        edit(&mut config);
        bbship_fake::config::write(&config, &self.config_path).expect("the config is written");
    }

    /// The binary with a clean environment: only the test's config, data dir and secrets.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_bbship"));
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("BBSHIP_CONFIG", &self.config_path)
            .env("BBSHIP_DATA_DIR", &self.data_dir)
            .env("BESTBUY_API_KEY", API_KEY)
            .env("CANADAPOST_USERNAME", CP_USERNAME)
            .env("CANADAPOST_PASSWORD", CP_PASSWORD)
            .args(args);
        command
    }

    /// Runs the binary. Every cycle run is also held to the severity rule: a run that
    /// exits 1 says why on an `error:` line, so a `warning:` line is never the only
    /// reason for it.
    pub fn bbship(&self, args: &[&str]) -> Run {
        let run = Run::from(self.command(args).output().expect("bbship runs"));
        if args.iter().any(|arg| CYCLE_COMMANDS.contains(arg)) {
            assert_severity_matches_exit_code(&run);
        }
        run
    }

    /// How many OR11 calls asked for orders by id (not by state).
    pub fn reads_by_ids(&self) -> usize {
        self.fake
            .requests()
            .iter()
            .filter(|request| {
                request.endpoint == bbship_fake::Endpoint::ListOrders
                    && request.query.contains("order_ids=")
            })
            .count()
    }

    pub fn accepted_log(&self) -> Vec<serde_json::Value> {
        read_jsonl(
            &self
                .data_dir
                .join("logs/best_buy/accepted_orders_log.jsonl"),
        )
    }
}

impl Harness {
    /// `logs/canada_post/cp_shipping_history_log.jsonl`, one value per line.
    pub fn history_log(&self) -> Vec<serde_json::Value> {
        read_jsonl(
            &self
                .data_dir
                .join("logs/canada_post/cp_shipping_history_log.jsonl"),
        )
    }

    /// `logs/canada_post/label_journal.jsonl`, one value per line.
    pub fn label_journal(&self) -> Vec<serde_json::Value> {
        read_jsonl(&self.data_dir.join("logs/canada_post/label_journal.jsonl"))
    }

    /// The label files saved so far (not the packing slips or batches beside them).
    pub fn label_files(&self) -> Vec<PathBuf> {
        let labels = self.data_dir.join("labels");
        let mut files: Vec<PathBuf> = files_below(&labels)
            .into_iter()
            .filter(|path| path.parent() == Some(labels.as_path()))
            .collect();
        files.sort();
        files
    }

    /// The packing slips saved so far.
    pub fn slip_files(&self) -> Vec<PathBuf> {
        let mut files = files_below(&self.data_dir.join("labels/slips"));
        files.sort();
        files
    }

    /// `bbship status`, and its line for `id`.
    pub fn status_line(&self, id: &str) -> (Run, String) {
        let status = self.bbship(&["status"]);
        let line = status
            .stdout
            .lines()
            .find(|line| line.contains(id))
            .unwrap_or_else(|| panic!("no line for {id}: {status:?}"))
            .to_owned();
        (status, line)
    }

    /// Starts the binary without waiting for it.
    pub fn spawn(&self, args: &[&str]) -> std::process::Child {
        self.command(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("bbship starts")
    }
}

/// The commands that run phases, whose failures are per order.
pub const CYCLE_COMMANDS: [&str; 4] = ["accept", "label", "ship", "run-all"];

/// Exit 1 comes with at least one `error:` line: a run whose stderr holds only warnings
/// (or nothing) never exits 1.
pub fn assert_severity_matches_exit_code(run: &Run) {
    let errors = run
        .stderr
        .lines()
        .filter(|line| line.starts_with("bbship: error:"))
        .count();
    assert!(
        run.code != 1 || errors > 0,
        "exit 1 without an error line: {run:?}"
    );
}

/// A finished run of the binary.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(output: Output) -> Run {
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

pub fn read_jsonl(path: &Path) -> Vec<serde_json::Value> {
    match std::fs::read_to_string(path) {
        Ok(text) => text
            .lines()
            .map(|line| serde_json::from_str(line).expect("a JSON line"))
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// `count` generated orders waiting for acceptance.
pub fn waiting_orders(count: usize) -> Vec<FakeOrder> {
    (0..count).map(FakeOrder::generated).collect()
}

/// A fault for the next `times` requests to `endpoint`.
pub fn rule(endpoint: Endpoint, times: usize, fault: Fault) -> FaultRule {
    FaultRule {
        endpoint,
        order_id: None,
        skip: 0,
        times,
        fault,
    }
}

/// An answer the fake gives instead of acting.
pub fn answer(status: u16, content_type: &str, body: impl Into<String>) -> Fault {
    Fault::Status {
        status,
        retry_after: None,
        body: body.into(),
        content_type: content_type.to_owned(),
    }
}

/// `count` generated orders ready to ship (accepted and paid).
pub fn shipping_orders(count: usize) -> Vec<FakeOrder> {
    (0..count)
        .map(|index| FakeOrder::generated(index).with_state("SHIPPING"))
        .collect()
}

/// Waits until `done` holds, failing the test after 20 seconds.
pub fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let started = std::time::Instant::now();
    while !done() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "timed out waiting until {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// Runs one of Debian's PDF tools (qpdf, poppler-utils), failing the test with one clear
/// line when it is not installed.
pub fn pdf_tool(program: &str, args: &[&str]) -> String {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|error| {
            bbship_fake::fail_test(&format!(
                "{program} is needed for this test (Debian: qpdf, poppler-utils): {error}"
            ))
        });
    assert!(
        output.status.success(),
        "{program} {args:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Checks `path` with `qpdf --check` and returns its page count (`pdfinfo`).
pub fn checked_pdf_pages(path: &Path) -> usize {
    let path = path.to_str().expect("a UTF-8 path");
    pdf_tool("qpdf", &["--check", path]);
    let info = pdf_tool("pdfinfo", &[path]);
    info.lines()
        .find_map(|line| line.strip_prefix("Pages:"))
        .and_then(|pages| pages.trim().parse().ok())
        .expect("pdfinfo gives a page count")
}

pub use bbship_fake::files_below;

/// The path of `tool` on PATH; fails the test with one line saying how to install it
/// when it is missing (`.ci/run` installs every tool the tests need).
pub fn require_tool(tool: &str, debian_package: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|directory| directory.join(tool))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            bbship_fake::fail_test(&format!(
                "this test needs `{tool}` on PATH: apt-get install {debian_package} (.ci/run installs it)"
            ))
        })
}
