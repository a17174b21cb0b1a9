//! The `bbship` binary: parse the command line, run the library, map the result to an
//! exit code, and print a fatal error once.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;

use bbship::cli::{Cli, CliCommand};
use bbship::secret::{Secrets, redact};
use bbship::{Command, Invocation, commands, error, logging};

fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init(logging::level_for(cli.verbose, cli.quiet));
    let secrets = Secrets::from_env();
    let cycle = |command| {
        let invocation = Invocation {
            command,
            config_path: cli.config.clone(),
            data_dir: cli.data_dir.clone(),
            dry_run: cli.dry_run,
            only_orders: cli.orders.clone(),
            // Under cron standard error is no terminal: silence on success. With -v the
            // log lines already show progress and would break the line.
            progress: std::io::stderr().is_terminal() && cli.verbose == 0 && !cli.quiet,
        };
        bbship::run(&invocation, &secrets).map(|outcome| outcome.exit_code())
    };
    let paths = commands::Paths {
        config_path: cli.config.clone(),
        data_dir: cli.data_dir.clone(),
    };
    let result = match cli.command {
        CliCommand::Completions { shell } => {
            commands::docs::completions(shell, &mut std::io::stdout().lock())
        }
        CliCommand::Man => commands::docs::man(&mut std::io::stdout().lock()),
        CliCommand::Accept => cycle(Command::Accept),
        CliCommand::Label => cycle(Command::Label),
        CliCommand::Ship => cycle(Command::Ship),
        CliCommand::RunAll => cycle(Command::RunAll),
        CliCommand::Status { order, all, json } => {
            let request = commands::StatusRequest { order, all, json };
            commands::status::run(&paths, &request, &mut std::io::stdout().lock())
        }
        CliCommand::Check => commands::check::run(&paths, &secrets, &mut std::io::stdout()),
        CliCommand::Reprint { order } => commands::reprint::run(
            &paths,
            &secrets,
            &order,
            cli.dry_run,
            &mut std::io::stdout(),
        ),
        CliCommand::Refund { order, yes } => commands::refund::run(
            &paths,
            &secrets,
            &commands::refund::RefundRequest {
                order_id: order,
                yes,
                dry_run: cli.dry_run,
            },
            &mut std::io::stdin().lock(),
            &mut std::io::stdout(),
        ),
        CliCommand::Print { orders, since } => commands::print::run(
            &paths,
            &commands::print::PrintRequest {
                orders,
                since: since.map(|since| since.0),
            },
            &mut std::io::stdout(),
        ),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(failure) => {
            eprintln!("bbship: error: {}", redact(&format!("{failure:#}")));
            ExitCode::from(error::exit_code_for(&failure))
        }
    }
}
