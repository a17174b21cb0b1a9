//! The promises about secrets and files, through the real binary: no secret in any
//! output, file or URL; private files; planted symbolic links refused; a data directory
//! that cannot be written, or a full disk, found before the first request.

use crate::support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use bbship_fake::Endpoint;
use support::{
    API_KEY, CP_PASSWORD, CP_USERNAME, Harness, Run, answer, files_below, rule, shipping_orders,
    waiting_orders,
};

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap()
        .permissions()
        .mode()
        & 0o777
}

/// RFC 4648 base64, to recognise the Basic credential (itself a secret) anywhere.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let value = chunk.iter().enumerate().fold(0u32, |value, (index, byte)| {
            value | u32::from(*byte) << (16 - 8 * index)
        });
        for index in 0..4 {
            if index <= chunk.len() {
                out.push(ALPHABET[(value >> (18 - 6 * index) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn the_base64_helper_matches_rfc_4648() {
    assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    assert_eq!(base64(b"fooba"), "Zm9vYmE=");
    assert_eq!(base64(b"foob"), "Zm9vYg==");
}

#[test]
fn no_secret_appears_in_any_output_file_or_url_through_a_whole_cycle_at_trace() {
    let basic = base64(format!("{CP_USERNAME}:{CP_PASSWORD}").as_bytes());
    let secrets = [API_KEY, CP_PASSWORD, basic.as_str()];
    let echo = format!("you sent {API_KEY} and {CP_USERNAME}:{CP_PASSWORD} ({basic})");
    let orders = waiting_orders(3);
    let harness = Harness::new(orders.clone());
    // Every kind of error that quotes an answer, each echoing the secrets back.
    harness.fake.inject(rule(
        Endpoint::Accept,
        1,
        answer(500, "text/plain", echo.clone()),
    ));
    harness.fake.inject(rule(
        Endpoint::CreateShipment,
        1,
        answer(
            400,
            "application/vnd.cpc.messages+xml",
            format!(
                "<messages xmlns=\"http://www.canadapost.ca/ws/messages\"><message><code>8511</code>\
                 <description>{echo}</description></message></messages>"
            ),
        ),
    ));
    harness.fake.inject(rule(
        Endpoint::Tracking,
        1,
        answer(
            400,
            "application/json",
            format!("{{\"message\":\"{echo}\"}}"),
        ),
    ));

    let mut outputs = Vec::new();
    let mut run_at_trace = |args: &[&str]| {
        let run = Run::from(
            harness
                .command(args)
                .env("RUST_LOG", "trace")
                .output()
                .unwrap(),
        );
        outputs.push(run.stdout.clone());
        outputs.push(run.stderr.clone());
        run
    };
    let dry = run_at_trace(&["-vvv", "run-all", "--dry-run"]);
    assert!(dry.stdout.contains("Authorization: [REDACTED]"), "{dry:?}");
    let first = run_at_trace(&["-vvv", "run-all"]);
    assert!(
        first.stderr.contains("TRACE") || first.stderr.contains("trace"),
        "{first:?}"
    );
    assert!(
        first.stderr.contains("8511"),
        "the echoing refusal was reported: {first:?}"
    );
    // A rejected credential is reported too (exit 2), without the credential.
    harness.fake.inject(rule(
        Endpoint::TrackingSummary,
        1,
        answer(
            401,
            "application/vnd.cpc.messages+xml",
            format!(
                "<messages xmlns=\"http://www.canadapost.ca/ws/messages\"><message><code>E002</code>\
                 <description>{echo}</description></message></messages>"
            ),
        ),
    ));
    for _ in 0..4 {
        run_at_trace(&["-vvv", "run-all"]);
    }
    for order in &orders {
        assert_eq!(
            harness.fake.order_state(order.order_id()).as_deref(),
            Some("SHIPPED"),
            "the cycle went all the way"
        );
    }

    for file in files_below(harness.temp.path()) {
        outputs.push(String::from_utf8_lossy(&std::fs::read(&file).unwrap()).into_owned());
    }
    assert!(outputs.len() > 12, "the labels and logs were read too");
    // Half a secret is a leak too (a message cut short at the wrong place).
    for secret in secrets {
        let half = secret.len() / 2 + 1;
        for piece in secret.as_bytes().windows(half) {
            let piece = std::str::from_utf8(piece).unwrap();
            for text in &outputs {
                assert!(
                    !text.contains(piece),
                    "{piece} of {secret} leaked in:\n{text}"
                );
            }
        }
    }
    for request in harness.fake.requests() {
        for secret in secrets {
            assert!(
                !request.path.contains(secret) && !request.query.contains(secret),
                "{secret} in the URL {}?{}",
                request.path,
                request.query
            );
        }
    }
}

#[test]
fn every_file_and_directory_is_private_and_loose_ones_are_tightened_once() {
    let harness = Harness::new(shipping_orders(2));
    let run = harness.bbship(&["run-all"]);
    assert_eq!(run.code, 0, "{run:?}");
    let check_private = || {
        assert_eq!(mode(&harness.data_dir), 0o700);
        let mut directories = vec![harness.data_dir.clone()];
        while let Some(directory) = directories.pop() {
            for entry in std::fs::read_dir(&directory).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    assert_eq!(mode(&path), 0o700, "{}", path.display());
                    directories.push(path);
                } else {
                    assert_eq!(mode(&path), 0o600, "{}", path.display());
                }
            }
        }
    };
    check_private();
    assert_eq!(harness.label_files().len(), 2);

    // Permissions loosened by hand, or by an older tool.
    let loosen = |path: &Path, mode: u32| {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    };
    let accepted_log = harness.data_dir.join("logs/best_buy/ship_journal.jsonl");
    loosen(&harness.data_dir, 0o755);
    loosen(&harness.data_dir.join("labels"), 0o775);
    loosen(&accepted_log, 0o644);
    let run = harness.bbship(&["run-all"]);
    assert_eq!(run.code, 0, "{run:?}");
    for path in [
        &harness.data_dir,
        &harness.data_dir.join("labels"),
        &accepted_log,
    ] {
        assert!(
            run.stderr.contains(&format!("{} was 0", path.display())),
            "{}: {run:?}",
            path.display()
        );
    }
    check_private();
    let run = harness.bbship(&["run-all"]);
    assert!(run.stderr.is_empty(), "warned only once: {run:?}");
}

/// A harness whose data directory exists (as after earlier runs) with nothing in it.
fn prepared(orders: Vec<bbship_fake::FakeOrder>) -> Harness {
    let harness = Harness::new(orders);
    bbship::DataDir::new(&harness.data_dir).create().unwrap();
    harness
}

fn assert_refused_before_any_request(harness: &Harness, run: &Run, names: &str) {
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains(names), "{run:?}");
    assert!(run.stderr.lines().count() <= 2, "{run:?}");
    assert!(harness.fake.requests().is_empty(), "{run:?}");
}

#[test]
fn a_symlink_planted_for_any_log_or_the_lock_is_refused_before_any_request() {
    for planted in [
        "logs/bbship.lock",
        "logs/best_buy/accepted_orders_log.jsonl",
        "logs/best_buy/ship_journal.jsonl",
        "logs/best_buy/shipped_orders_log.jsonl",
        "logs/canada_post/label_journal.jsonl",
        "logs/canada_post/cp_shipping_history_log.jsonl",
    ] {
        let harness = prepared(waiting_orders(1));
        let victim = harness.temp.path().join("victim");
        std::fs::write(&victim, "keep me").unwrap();
        std::os::unix::fs::symlink(&victim, harness.data_dir.join(planted)).unwrap();
        let run = harness.bbship(&["run-all"]);
        assert_refused_before_any_request(&harness, &run, planted);
        assert!(run.stderr.contains("symbolic link"), "{planted}: {run:?}");
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me");
        assert_eq!(
            mode(&victim),
            0o644,
            "{planted}: the victim's mode was not touched"
        );
    }
}

#[test]
fn a_symlink_in_place_of_one_of_bbships_directories_is_refused() {
    for planted in ["logs", "logs/best_buy", "logs/canada_post", "labels"] {
        let harness = prepared(waiting_orders(1));
        let elsewhere = harness.temp.path().join("elsewhere");
        std::fs::create_dir(&elsewhere).unwrap();
        std::fs::remove_dir_all(harness.data_dir.join(planted)).unwrap();
        std::os::unix::fs::symlink(&elsewhere, harness.data_dir.join(planted)).unwrap();
        let run = harness.bbship(&["run-all"]);
        assert_refused_before_any_request(&harness, &run, "symbolic link");
        assert!(
            std::fs::read_dir(&elsewhere).unwrap().next().is_none(),
            "{planted}: something was written through the link"
        );
    }
}

#[test]
fn symlinks_planted_at_the_names_labels_will_get_are_not_written_through() {
    let orders = shipping_orders(1);
    let harness = prepared(orders.clone());
    let victim = harness.temp.path().join("victim.pdf");
    std::fs::write(&victim, "keep me").unwrap();
    // A link for every second the run might name its label by.
    let start = chrono::Utc::now();
    for second in -2..30 {
        let at = start + chrono::Duration::seconds(second);
        let name = format!(
            "{}_{}.pdf",
            orders[0].order_id(),
            at.format("%Y%m%dT%H%M%SZ")
        );
        std::os::unix::fs::symlink(&victim, harness.data_dir.join("labels").join(name)).unwrap();
    }
    let run = harness.bbship(&["run-all"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me");
    let saved: Vec<_> = harness
        .label_files()
        .into_iter()
        .filter(|path| {
            !std::fs::symlink_metadata(path)
                .unwrap()
                .file_type()
                .is_symlink()
        })
        .collect();
    assert_eq!(saved.len(), 1, "{saved:?}");
    assert!(saved[0].to_string_lossy().ends_with("-2.pdf"), "{saved:?}");
    assert!(std::fs::read(&saved[0]).unwrap().starts_with(b"%PDF"));
}

#[test]
fn a_full_disk_is_found_before_any_request() {
    let harness = Harness::new(waiting_orders(1));
    // A real ENOSPC needs a filesystem of our own (a mount this sandbox cannot make), so
    // the disk is made "too full" by asking for more room than any disk has; the reading
    // of free space is real.
    harness.write_config(|config| config["limits"]["min_free_disk_mb"] = 1_000_000_000.into());
    let run = harness.bbship(&["run-all"]);
    assert_refused_before_any_request(&harness, &run, "MB free on the disk holding");
    assert!(run.stderr.contains("limits.min_free_disk_mb"), "{run:?}");
}

#[test]
fn a_data_dir_below_a_file_is_found_before_any_request() {
    let mut harness = Harness::new(waiting_orders(1));
    let file = harness.temp.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    harness.data_dir = file.join("data");
    let run = harness.bbship(&["run-all"]);
    assert_refused_before_any_request(&harness, &run, "cannot create");
}

#[test]
fn a_labels_directory_that_cannot_be_written_is_found_before_any_request() {
    let harness = prepared(waiting_orders(1));
    let labels = harness.data_dir.join("labels");
    std::fs::set_permissions(&labels, std::fs::Permissions::from_mode(0o500)).unwrap();
    let mut command = harness.command(&["run-all"]);
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        // Root writes through any mode bits, so the run goes as `nobody`, who owns the
        // data directory as an ordinary user would, from a copy of the binary it can reach.
        use std::os::unix::process::CommandExt;
        const NOBODY: u32 = 65534;
        let root = harness.temp.path();
        std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o755)).unwrap();
        for path in files_below(&harness.data_dir)
            .into_iter()
            .chain(directories_below(&harness.data_dir))
        {
            std::os::unix::fs::lchown(&path, Some(NOBODY), Some(NOBODY)).unwrap();
        }
        std::os::unix::fs::chown(&harness.config_path, Some(NOBODY), Some(NOBODY)).unwrap();
        let binary = root.join("bbship");
        std::fs::copy(env!("CARGO_BIN_EXE_bbship"), &binary).unwrap();
        std::fs::set_permissions(&binary, std::fs::Permissions::from_mode(0o755)).unwrap();
        let mut as_nobody = std::process::Command::new(&binary);
        as_nobody
            .env_clear()
            .envs(
                command
                    .get_envs()
                    .filter_map(|(key, value)| Some((key, value?))),
            )
            .args(command.get_args())
            .uid(NOBODY)
            .gid(NOBODY);
        command = as_nobody;
    }
    // A binary just copied can be briefly "busy": another test thread forking at that
    // moment holds the copy's write descriptor until its own exec. It passes; wait it out.
    let mut attempts = 0;
    let output = loop {
        match command.output() {
            Err(error) if error.raw_os_error() == Some(libc::ETXTBSY) && attempts < 100 => {
                attempts += 1;
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            result => break result.unwrap(),
        }
    };
    let run = Run::from(output);
    assert_refused_before_any_request(
        &harness,
        &run,
        &format!("cannot write in {}", labels.display()),
    );
}

fn directories_below(root: &Path) -> Vec<std::path::PathBuf> {
    let mut found = vec![root.to_owned()];
    let mut index = 0;
    while index < found.len() {
        if let Ok(entries) = std::fs::read_dir(&found[index]) {
            for entry in entries.flatten() {
                if entry.path().is_dir() {
                    found.push(entry.path());
                }
            }
        }
        index += 1;
    }
    found
}

/// A 1 MB tmpfs mounted for one test and unmounted when dropped.
struct SmallDisk {
    path: std::path::PathBuf,
}

impl SmallDisk {
    /// `None` where mounting is not permitted (most machines without root).
    fn mount(path: std::path::PathBuf) -> Option<SmallDisk> {
        std::fs::create_dir(&path).unwrap();
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs"])
            .arg(&path)
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        mounted.then_some(SmallDisk { path })
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(&self.path)
            .status();
    }
}

/// A real ENOSPC where this machine lets the test mount a small filesystem (as root in
/// these sandboxes and CI); elsewhere it says it could not and checks nothing, and
/// `a_full_disk_is_found_before_any_request` still covers the free-space reading.
#[test]
fn a_really_full_disk_is_found_before_any_request_where_a_tmpfs_can_be_mounted() {
    let mut harness = Harness::new(shipping_orders(1));
    let Some(disk) = SmallDisk::mount(harness.temp.path().join("disk")) else {
        eprintln!("not run: mounting a tmpfs is not permitted here");
        return;
    };
    harness.data_dir = disk.path.join("data");
    // With the default margin (64 MB) a 1 MB disk is refused by its free-space reading.
    let run = harness.bbship(&["run-all"]);
    assert_refused_before_any_request(&harness, &run, "MB free on the disk holding");

    // With no margin, a disk filled to the last byte fails the probe write itself.
    harness.write_config(|config| config["limits"]["min_free_disk_mb"] = 0.into());
    let mut filler = std::fs::File::create(disk.path.join("filler")).unwrap();
    let block = vec![0u8; 4096];
    while std::io::Write::write_all(&mut filler, &block).is_ok() {}
    drop(filler);
    let run = harness.bbship(&["run-all"]);
    assert_refused_before_any_request(&harness, &run, "No space left on device");
    assert!(run.stderr.contains("cannot write in"), "{run:?}");
}
