//! The outside of the binary: usage and configuration errors, the lock, dry runs and the
//! journal on disk. Secrets and file permissions are in `security.rs`.

use crate::support;

use std::time::{Duration, Instant};

use bbship_fake::{Endpoint, Fault, FaultRule};
use support::{API_KEY, Harness, Run, files_below, waiting_orders};

#[test]
fn the_example_configuration_is_complete_and_loads() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/bbship.example.json");
    let config = bbship::Config::load(&path).unwrap();
    assert_eq!(config.canada_post.service_code.as_str(), "DOM.EP");
    assert!(!config.parcel.by_sku.is_empty());
    assert!(!config.canada_post.services.is_empty());
    // Every top-level section is spelled out in the example, so a user sees each key.
    let text = std::fs::read_to_string(&path).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    for section in [
        "bestbuy",
        "canada_post",
        "sender",
        "parcel",
        "limits",
        "alerts",
    ] {
        assert!(json.get(section).is_some(), "{section}");
    }
}

/// The `bbship.json` a Kubernetes ConfigMap holds as a literal block (`bbship.json: |`).
fn config_map_json(manifest: &str) -> String {
    let mut lines = manifest
        .lines()
        .skip_while(|line| line.trim() != "bbship.json: |");
    lines.next().expect("a bbship.json block");
    lines
        .take_while(|line| line.starts_with("    ") || line.is_empty())
        .map(|line| format!("{}\n", line.get(4..).unwrap_or_default()))
        .collect()
}

#[test]
fn the_kubernetes_config_maps_hold_a_bbship_json_that_loads() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/kubernetes");
    let temp = tempfile::tempdir().unwrap();
    for manifest in [
        "base/configmap.yaml",
        "overlays/second-seller/configmap.yaml",
    ] {
        let text = std::fs::read_to_string(root.join(manifest)).unwrap();
        let path = temp.path().join("bbship.json");
        std::fs::write(&path, config_map_json(&text)).unwrap();
        let config =
            bbship::Config::load(&path).unwrap_or_else(|error| panic!("{manifest}: {error:#}"));
        assert_eq!(
            config.canada_post.service_code.as_str(),
            "DOM.EP",
            "{manifest}"
        );
    }
}

#[test]
fn an_unknown_config_key_exits_2_naming_the_key_and_file() {
    let harness = Harness::new(Vec::new());
    harness.write_config(|config| {
        config["limits"]["concurency"] = serde_json::json!(2);
    });
    let run = harness.bbship(&["accept"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("limits.concurency"), "{run:?}");
    assert!(run.stderr.contains("bbship.json"), "{run:?}");
    assert_eq!(run.stderr.lines().count(), 1, "{run:?}");
    assert_eq!(harness.fake.requests().len(), 0);
}

#[test]
fn an_invalid_config_value_exits_2_naming_the_key() {
    let harness = Harness::new(Vec::new());
    harness.write_config(|config| {
        config["sender"]["postal_code"] = serde_json::json!("90210");
    });
    let run = harness.bbship(&["accept"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("sender.postal_code"), "{run:?}");
}

#[test]
fn a_missing_config_file_exits_2() {
    let harness = Harness::new(Vec::new());
    let run = harness
        .command(&["--config", "/nonexistent/bbship.json", "accept"])
        .output()
        .map(Run::from)
        .unwrap();
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("/nonexistent/bbship.json"), "{run:?}");
}

#[test]
fn a_missing_secret_exits_2_naming_the_variable() {
    let harness = Harness::new(waiting_orders(1));
    let run = harness
        .command(&["accept"])
        .env_remove("BESTBUY_API_KEY")
        .output()
        .map(Run::from)
        .unwrap();
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("BESTBUY_API_KEY"), "{run:?}");
    assert_eq!(harness.fake.requests().len(), 0);
    assert!(!harness.data_dir.exists());
}

#[test]
fn accept_needs_no_canada_post_credentials() {
    let harness = Harness::new(waiting_orders(1));
    let run = harness
        .command(&["accept"])
        .env_remove("CANADAPOST_USERNAME")
        .env_remove("CANADAPOST_PASSWORD")
        .output()
        .map(Run::from)
        .unwrap();
    assert_eq!(run.code, 0, "{run:?}");
}

#[test]
fn bad_usage_exits_2() {
    let harness = Harness::new(Vec::new());
    for args in [
        vec!["frobnicate"],
        vec!["accept", "--order", "../../etc"],
        vec![],
    ] {
        let run = harness.bbship(&args);
        assert_eq!(run.code, 2, "{args:?}: {run:?}");
    }
}

#[test]
fn dry_run_and_order_are_refused_by_the_commands_that_do_not_use_them() {
    let harness = Harness::new(Vec::new());
    for args in [
        vec!["status", "--order", "1-A", "--dry-run"],
        vec!["status", "--dry-run"],
        vec!["check", "--order", "1-A"],
        vec!["reprint", "1-A", "--order", "2-A"],
        vec!["print", "--since", "1d", "--dry-run"],
        vec!["--dry-run", "run-all"],
    ] {
        let run = harness.bbship(&args);
        assert_eq!(run.code, 2, "{args:?}: {run:?}");
        assert!(
            run.stderr.contains("error: unexpected argument '--"),
            "{args:?}: {run:?}"
        );
    }
    assert!(harness.fake.requests().is_empty());
}

#[test]
fn a_held_lock_exits_75_with_one_line_and_touches_nothing() {
    let harness = Harness::new(waiting_orders(2));
    let data_dir = bbship::DataDir::new(&harness.data_dir);
    let _held = bbship::RunLock::acquire(&data_dir).unwrap();
    let before = files_below(&harness.data_dir);

    for command in ["accept", "run-all"] {
        let run = harness.bbship(&[command]);
        assert_eq!(run.code, 75, "{run:?}");
        assert_eq!(run.stderr.lines().count(), 1, "{run:?}");
        assert!(run.stderr.contains("bbship.lock"), "{run:?}");
    }
    assert_eq!(harness.fake.requests().len(), 0);
    assert_eq!(files_below(&harness.data_dir), before);
}

#[test]
fn a_run_killed_with_sigkill_does_not_block_the_next() {
    let harness = Harness::new(waiting_orders(2));
    // Hold the first run inside its first request, with the lock taken.
    harness.fake.inject(FaultRule {
        endpoint: Endpoint::ListOrders,
        order_id: None,
        skip: 0,
        times: 1,
        fault: Fault::Slow(Duration::from_secs(30)),
    });
    let mut child = harness.command(&["run-all"]).spawn().unwrap();
    let started = Instant::now();
    while harness.fake.count(Endpoint::ListOrders) == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the run never called the API"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    // While it holds the lock, a second run is turned away.
    assert_eq!(harness.bbship(&["run-all"]).code, 75);
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    let run = harness.bbship(&["run-all"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(harness.accepted_log().len(), 2);
}

#[test]
fn a_dry_run_sends_no_write_creates_no_file_and_prints_each_request() {
    let harness = Harness::new(waiting_orders(3));
    let run = harness.bbship(&["run-all", "--dry-run"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(harness.fake.write_count(), 0);
    assert!(harness.fake.count(Endpoint::ListOrders) >= 1);
    assert!(
        !harness.data_dir.exists(),
        "a dry run created the data directory"
    );
    for index in 0..3 {
        let id = bbship_fake::FakeOrder::generated(index)
            .order_id()
            .to_owned();
        let line = format!("PUT {}/orders/{id}/accept", harness.fake.bestbuy_url());
        assert!(run.stdout.contains(&line), "{run:?}");
    }
    assert!(run.stdout.contains("Authorization: [REDACTED]"), "{run:?}");
    assert!(run.stdout.contains(r#""order_lines""#), "{run:?}");
    assert!(!run.stdout.contains(API_KEY));
}

#[test]
fn a_dry_run_takes_no_lock() {
    let harness = Harness::new(waiting_orders(1));
    let data_dir = bbship::DataDir::new(&harness.data_dir);
    let _held = bbship::RunLock::acquire(&data_dir).unwrap();
    let run = harness.bbship(&["accept", "--dry-run"]);
    assert_eq!(run.code, 0, "{run:?}");
}

#[test]
fn a_torn_journal_line_is_repaired_with_a_warning() {
    let harness = Harness::new(waiting_orders(1));
    let log = harness
        .data_dir
        .join("logs/best_buy/accepted_orders_log.jsonl");
    std::fs::create_dir_all(log.parent().unwrap()).unwrap();
    let whole = r#"{"order_id":"999-A","line_ids":["1"],"accepted_at":"2026-01-01T00:00:00Z","outcome":"accepted"}"#;
    std::fs::write(&log, format!("{whole}\n{{\"order_id\":\"998-A\",\"line_")).unwrap();

    let run = harness.bbship(&["accept"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains("incomplete last line"), "{run:?}");
    let lines = harness.accepted_log();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["order_id"], "999-A");
}

#[test]
fn a_corrupt_journal_line_stops_the_run_naming_file_and_line() {
    let harness = Harness::new(waiting_orders(1));
    let log = harness
        .data_dir
        .join("logs/best_buy/accepted_orders_log.jsonl");
    std::fs::create_dir_all(log.parent().unwrap()).unwrap();
    std::fs::write(&log, "{\"order_id\":\"1-A\"}\ngarbage\n").unwrap();
    let run = harness.bbship(&["accept"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains("accepted_orders_log.jsonl:1"),
        "{run:?}"
    );
    assert_eq!(harness.fake.requests().len(), 0);
}

/// The binary with nothing but PATH, a configuration and a data directory that do not
/// exist: what `completions` and `man` must run with.
fn bbship_without_setup(args: &[&str]) -> (Run, tempfile::TempDir) {
    let temp = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_bbship"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("BBSHIP_CONFIG", temp.path().join("missing.json"))
        .env("BBSHIP_DATA_DIR", temp.path().join("data"))
        .args(args)
        .output()
        .unwrap();
    (Run::from(output), temp)
}

/// What bash offers after `words` (the last one the word being completed), from the
/// completion script `bbship completions bash` prints, sourced in a real bash.
fn bash_completes(script: &str, words: &[&str]) -> Vec<String> {
    let bash = support::require_tool("bash", "bash");
    let temp = tempfile::tempdir().unwrap();
    let script_path = temp.path().join("bbship.bash");
    std::fs::write(&script_path, script).unwrap();
    let quoted: Vec<String> = words.iter().map(|word| format!("'{word}'")).collect();
    let program = format!(
        "source '{}'\nCOMP_WORDS=({})\nCOMP_CWORD={}\nCOMP_LINE='{}'\nCOMP_POINT=${{#COMP_LINE}}\n_bbship bbship '{}' '{}'\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
        script_path.display(),
        quoted.join(" "),
        words.len() - 1,
        words.join(" "),
        words[words.len() - 1],
        words[words.len() - 2],
    );
    let output = std::process::Command::new(bash)
        .args(["--norc", "--noprofile", "-c", &program])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout)
        .unwrap()
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_bash_completion_completes_every_subcommand_and_their_options() {
    let (run, temp) = bbship_without_setup(&["completions", "bash"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        !temp.path().join("data").exists(),
        "completions touched the data directory"
    );
    use clap::CommandFactory;
    let command = bbship::cli::Cli::command();
    let offered = bash_completes(&run.stdout, &["bbship", ""]);
    for subcommand in command.get_subcommands() {
        assert!(
            offered.iter().any(|word| word == subcommand.get_name()),
            "{} not offered: {offered:?}",
            subcommand.get_name()
        );
    }
    assert_eq!(
        bash_completes(&run.stdout, &["bbship", "run-"]),
        ["run-all"]
    );
    let status_options = bash_completes(&run.stdout, &["bbship", "status", "--"]);
    for option in ["--all", "--json"] {
        assert!(
            status_options.iter().any(|word| word == option),
            "{status_options:?}"
        );
    }
    assert_eq!(
        bash_completes(&run.stdout, &["bbship", "completions", "f"]),
        ["fish"]
    );
}

#[test]
fn zsh_and_fish_completions_are_printed_and_an_unknown_shell_is_a_usage_error() {
    for (shell, marker) in [("zsh", "#compdef bbship"), ("fish", "complete -c bbship")] {
        let (run, _temp) = bbship_without_setup(&["completions", shell]);
        assert_eq!(run.code, 0, "{run:?}");
        assert!(run.stdout.contains(marker), "{shell}: {run:?}");
    }
    let (run, _temp) = bbship_without_setup(&["completions", "tcsh"]);
    assert_eq!(run.code, 2, "{run:?}");
}

#[test]
fn the_man_page_names_every_subcommand_and_option() {
    let (run, temp) = bbship_without_setup(&["man"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(!temp.path().join("data").exists());
    let page = &run.stdout;
    assert!(page.contains("\n.TH bbship 1 "), "no title line");
    use clap::CommandFactory;
    let command = bbship::cli::Cli::command();
    // roff writes a dash as `\-`.
    let roff_option = |long: &str| format!("\\fB\\-\\-{}\\fR", long.replace('-', "\\-"));
    for argument in command.get_arguments() {
        if let Some(long) = argument.get_long() {
            assert!(page.contains(&roff_option(long)), "--{long} missing");
        }
    }
    for subcommand in command.get_subcommands() {
        let heading = format!(".SH \"BBSHIP {}\"", subcommand.get_name().to_uppercase());
        assert!(page.contains(&heading), "{heading} missing");
        for argument in subcommand.get_arguments() {
            if let Some(long) = argument.get_long() {
                assert!(
                    page.contains(&roff_option(long)),
                    "{} --{long} missing",
                    subcommand.get_name()
                );
            }
        }
    }
}
