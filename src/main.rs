//! The `bbship` binary: parse the command line, run the library, map the result to an
//! exit code, and print a fatal error once.

use std::process::ExitCode;

use clap::Parser;

use bbship::cli::{Cli, CliCommand};
use bbship::secret::{Secrets, redact};
use bbship::{Command, Invocation, error, logging};

fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init(logging::level_for(cli.verbose, cli.quiet));
    let invocation = Invocation {
        command: match cli.command {
            CliCommand::Accept => Command::Accept,
            CliCommand::Label => Command::Label,
            CliCommand::Ship => Command::Ship,
            CliCommand::RunAll => Command::RunAll,
        },
        config_path: cli.config,
        data_dir: cli.data_dir,
        dry_run: cli.dry_run,
        only_orders: cli.orders,
    };
    match bbship::run(&invocation, &Secrets::from_env()) {
        Ok(outcome) => ExitCode::from(outcome.exit_code()),
        Err(failure) => {
            eprintln!("bbship: error: {}", redact(&format!("{failure:#}")));
            ExitCode::from(error::exit_code_for(&failure))
        }
    }
}
