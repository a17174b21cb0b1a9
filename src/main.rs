//! The `bbship` binary: parse the command line, run the library, map the result to an
//! exit code, and print a fatal error once.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;

use bbship::cli::{Cli, CliCommand, CycleArgs};
use bbship::{CycleCommand, Invocation, Secrets, commands, redact};

fn main() -> ExitCode {
    let cli = Cli::parse();
    bbship::init_logging(bbship::log_level_for(cli.verbose, cli.quiet));
    let secrets = Secrets::from_env();
    let cycle = |command, options: CycleArgs| {
        let invocation = Invocation {
            command,
            config_path: cli.config.clone(),
            data_dir: cli.data_dir.clone(),
            dry_run: options.dry_run,
            only_orders: options.orders,
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
        CliCommand::Accept(options) => cycle(CycleCommand::Accept, options),
        CliCommand::Label(options) => cycle(CycleCommand::Label, options),
        CliCommand::Ship(options) => cycle(CycleCommand::Ship, options),
        CliCommand::RunAll(options) => cycle(CycleCommand::RunAll, options),
        CliCommand::Status { order, all, json } => {
            let request = commands::StatusRequest { order, all, json };
            commands::status::run(&paths, &request, &mut std::io::stdout().lock())
        }
        CliCommand::Check => commands::check::run(&paths, &secrets, &mut std::io::stdout()),
        CliCommand::Reprint { order, dry_run } => {
            commands::reprint::run(&paths, &secrets, &order, dry_run, &mut std::io::stdout())
        }
        CliCommand::Refund {
            order,
            yes,
            dry_run,
        } => commands::refund::run(
            &paths,
            &secrets,
            &commands::refund::RefundRequest {
                order_id: order,
                yes,
                dry_run,
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
            ExitCode::from(bbship::exit_code_for(&failure))
        }
    }
}
