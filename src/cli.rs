//! The command line, as clap types only: the global options, and each subcommand with
//! the options that belong to it (`--dry-run` and `--order` to the cycle commands).

use std::path::PathBuf;

use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};

use crate::ids::OrderId;

#[derive(Debug, Parser)]
#[command(
    name = "bbship",
    version,
    about = "Fulfils Best Buy Canada marketplace orders with Canada Post, one cycle per run",
    long_about = "Fulfils Best Buy Canada marketplace orders with Canada Post, one cycle per run.\n\n\
        Secrets come only from the environment: BESTBUY_API_KEY, CANADAPOST_USERNAME, \
        CANADAPOST_PASSWORD.\n\n\
        Exit codes: 0 the cycle ran (nothing to do counts); 1 at least one order failed or a \
        check did not hold; 2 usage or configuration error; 75 another run holds the lock.",
    after_help = "Example (the cron line runs this every 15 minutes):\n  bbship --config /srv/bbship/bbship.json run-all"
)]
pub struct Cli {
    /// The configuration file.
    #[arg(
        long,
        global = true,
        env = "BBSHIP_CONFIG",
        default_value = crate::config::DEFAULT_CONFIG_FILE,
        value_name = "FILE"
    )]
    pub config: PathBuf,

    /// Where logs/ and labels/ live.
    #[arg(
        long,
        global = true,
        env = "BBSHIP_DATA_DIR",
        default_value = ".",
        value_name = "DIR"
    )]
    pub data_dir: PathBuf,

    /// More output: -v per-order progress and phase summaries, -vv requests, -vvv bodies.
    #[arg(short, long, global = true, action = ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,

    /// Errors only.
    #[arg(short, long, global = true)]
    pub quiet: bool,

    #[command(subcommand)]
    pub command: CliCommand,
}

/// The options of a cycle command (`accept`, `label`, `ship`, `run-all`).
#[derive(Clone, Debug, Args)]
pub struct CycleArgs {
    /// Read from both APIs as usual, but send no write and write no file; print each write
    /// request that would be sent.
    #[arg(long)]
    pub dry_run: bool,

    /// Touch only this order (repeatable).
    #[arg(long = "order", value_name = "ID")]
    pub orders: Vec<OrderId>,
}

#[derive(Clone, Debug, Subcommand)]
pub enum CliCommand {
    /// Phase 1: accept every order waiting for acceptance.
    #[command(
        after_help = "Example:\n  bbship accept --dry-run      # show the OR21 requests, send nothing"
    )]
    Accept(CycleArgs),
    /// Phase 2: buy one Canada Post label per order ready to ship, check its PIN, save its PDF.
    #[command(
        after_help = "Examples:\n  bbship label --dry-run                # print each Create Shipment XML, buy nothing\n  bbship label --order 261300002-A      # one order only"
    )]
    Label(CycleArgs),
    /// Phase 3: upload each label's PIN to Best Buy, mark the order shipped, confirm SHIPPED.
    #[command(
        after_help = "Examples:\n  bbship ship --dry-run                 # print the OR23/OR24 requests, send nothing\n  bbship ship --order 261300002-A       # one order only"
    )]
    Ship(CycleArgs),
    /// One full cycle: every phase, in order, under one lock (what cron runs).
    #[command(
        after_help = "Example (crontab, every 15 minutes):\n  */15 * * * * cd /srv/bbship && bbship run-all"
    )]
    RunAll(CycleArgs),
    /// The orders bbship knows, from its local files only: step reached, PIN, label file,
    /// last error, age, and which are stuck. Takes no lock; calls no API.
    #[command(
        after_help = "Examples:\n  bbship status                    # a table of the orders in progress and the stuck ones\n  bbship status 261300002-A        # everything known of one order\n  bbship status --all --json       # every order, for scripts"
    )]
    Status {
        /// Show only this order.
        order: Option<OrderId>,
        /// Every order, settled ones included.
        #[arg(long)]
        all: bool,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Check the configuration, the secrets and both APIs (read-only calls): one line per
    /// point, exit 0 when all hold, 1 otherwise.
    #[command(after_help = "Example (after setting up or changing keys):\n  bbship check")]
    Check,
    /// Download the label of an order's existing shipment again, into a new file. Never
    /// creates a shipment.
    #[command(after_help = "Example:\n  bbship reprint 261300002-A")]
    Reprint {
        /// The order whose label to print again.
        order: OrderId,
        /// Print the label request that would be sent, and write no file.
        #[arg(long)]
        dry_run: bool,
    },
    /// Ask Canada Post to refund the label of an order Best Buy cancelled after it was
    /// bought. Asks for confirmation unless --yes.
    #[command(
        after_help = "Example:\n  bbship refund 261300002-A          # asks before sending\n  bbship refund 261300002-A --yes    # no question (scripts)"
    )]
    Refund {
        /// The order whose label to refund.
        order: OrderId,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
        /// Print the refund request, credentials redacted, and send nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// One PDF of the newest labels of the orders named, or of those saved in the last
    /// DURATION, each followed by its packing slip, under labels/batches/; prints its
    /// path, and prints the file with print.command when set. Calls no API.
    #[command(
        after_help = "Examples:\n  bbship print --since 1d                 # the day's labels and slips, one file\n  bbship print 261300002-A 261300003-A    # these orders' newest labels"
    )]
    Print {
        /// The orders whose newest label and slip to take.
        #[arg(required_unless_present = "since")]
        orders: Vec<OrderId>,
        /// Every label saved in this long: e.g. 30m, 8h, 1d.
        #[arg(long, value_name = "DURATION")]
        since: Option<SinceDuration>,
    },
    /// Print the shell completion script for SHELL on standard output. Reads no
    /// configuration and no data directory.
    #[command(
        after_help = "Examples:\n  bbship completions bash > /usr/share/bash-completion/completions/bbship\n  bbship completions zsh > /usr/local/share/zsh/site-functions/_bbship\n  bbship completions fish > /usr/share/fish/vendor_completions.d/bbship.fish"
    )]
    Completions {
        /// The shell to complete for.
        shell: CompletionShell,
    },
    /// Print the man page (roff) on standard output. Reads no configuration and no data
    /// directory.
    #[command(
        after_help = "Example:\n  bbship man > /usr/local/share/man/man1/bbship.1 && man bbship"
    )]
    Man,
}

/// The shells `completions` writes a script for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum CompletionShell {
    Bash,
    Zsh,
    Fish,
}

/// A duration back from now, as `30m`, `8h` or `1d` (also `s` and `w`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SinceDuration(pub chrono::Duration);

impl std::str::FromStr for SinceDuration {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        let split = text
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len());
        let (digits, unit) = text.split_at(split);
        let amount: i64 = digits
            .parse()
            .map_err(|_| format!("{text:?} is not a duration like 30m, 8h or 1d"))?;
        let seconds = match unit {
            "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86_400,
            "w" => 7 * 86_400,
            _ => {
                return Err(format!(
                    "{text:?}: the unit must be s, m, h, d or w (e.g. 8h)"
                ));
            }
        };
        if amount == 0 {
            return Err(format!("{text:?} is no time at all"));
        }
        amount
            .checked_mul(seconds)
            .filter(|total| *total <= 3650 * 86_400)
            .map(|total| SinceDuration(chrono::Duration::seconds(total)))
            .ok_or_else(|| format!("{text:?} is more than ten years"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn global_options_work_after_the_subcommand_too() {
        let cli = Cli::try_parse_from([
            "bbship",
            "accept",
            "--dry-run",
            "--order",
            "1-A",
            "--order",
            "2-A",
            "-vv",
        ])
        .unwrap();
        let CliCommand::Accept(cycle) = cli.command else {
            panic!("{:?}", cli.command);
        };
        assert!(cycle.dry_run);
        assert_eq!(cycle.orders.len(), 2);
        assert_eq!(cli.verbose, 2);
    }

    #[test]
    fn dry_run_and_order_belong_to_the_commands_that_use_them() {
        for args in [
            &["bbship", "status", "--dry-run"][..],
            &["bbship", "status", "--order", "1-A"],
            &["bbship", "check", "--dry-run"],
            &["bbship", "reprint", "1-A", "--order", "2-A"],
            &["bbship", "refund", "1-A", "--order", "2-A"],
            &["bbship", "--dry-run", "accept"],
            &["bbship", "--order", "1-A", "run-all"],
        ] {
            let error = Cli::try_parse_from(args).unwrap_err();
            assert_eq!(
                error.kind(),
                clap::error::ErrorKind::UnknownArgument,
                "{args:?}"
            );
            assert_eq!(error.exit_code(), 2, "{args:?}");
        }
        for args in [
            &["bbship", "run-all", "--dry-run", "--order", "1-A"][..],
            &["bbship", "reprint", "1-A", "--dry-run"],
            &["bbship", "refund", "1-A", "--dry-run", "--yes"],
        ] {
            Cli::try_parse_from(args).unwrap();
        }
    }

    #[test]
    fn every_subcommand_help_has_an_example() {
        let command = Cli::command();
        for subcommand in command.get_subcommands() {
            let help = subcommand
                .get_after_help()
                .map(|help| help.to_string())
                .unwrap_or_default();
            assert!(
                help.starts_with("Example") && help.contains("bbship"),
                "{}: {help:?}",
                subcommand.get_name()
            );
        }
        assert_eq!(command.get_subcommands().count(), 11);
    }

    #[test]
    fn since_durations_read_like_a_person_writes_them() {
        let seconds = |text: &str| {
            text.parse::<SinceDuration>()
                .map(|since| since.0.num_seconds())
        };
        assert_eq!(seconds("30m"), Ok(1800));
        assert_eq!(seconds("8h"), Ok(8 * 3600));
        assert_eq!(seconds("1d"), Ok(86_400));
        assert_eq!(seconds("2w"), Ok(14 * 86_400));
        for bad in ["", "8", "h", "1.5h", "-1h", "0h", "8 hours", "99999999999d"] {
            assert!(seconds(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn print_needs_an_order_or_since() {
        assert!(Cli::try_parse_from(["bbship", "print"]).is_err());
        let cli = Cli::try_parse_from(["bbship", "print", "--since", "1d"]).unwrap();
        assert!(matches!(
            cli.command,
            CliCommand::Print { since: Some(_), .. }
        ));
        let cli = Cli::try_parse_from(["bbship", "print", "1-A", "2-A"]).unwrap();
        assert!(matches!(cli.command, CliCommand::Print { orders, .. } if orders.len() == 2));
    }

    #[test]
    fn a_bad_order_id_is_a_usage_error() {
        let error = Cli::try_parse_from(["bbship", "accept", "--order", "../x"]).unwrap_err();
        assert_eq!(error.exit_code(), 2);
    }
}
