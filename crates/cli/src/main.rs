//! `leadscore`: the command line.
//!
//! A thin shell over the libraries: `model` checks files, `engine` scores, `formats`
//! reads and writes files, `generate` makes synthetic data, `server` and `store` run the
//! service (`serve`, `keys`). Each verb lives in its own
//! file under `command/`. Exit codes are a contract (`docs/interfaces.md`): 0 success,
//! 1 invalid input (the message names the file, line and field), 2 usage.

mod accounts;
mod batch;
mod command;
mod config;
mod crm;
mod history;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

/// mimalloc: the batch path allocates small strings on every core, where it measured
/// clearly faster than the system allocator (see the issue note for figures).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Lead scoring you can review, test and explain.
#[derive(Debug, Parser)]
#[command(name = "leadscore", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Score contacts from files: one result per contact on stdout.
    Score(command::score::Args),
    /// Work with scoring model files.
    Model {
        #[command(subcommand)]
        command: ModelCommand,
    },
    /// What a model (and a baseline) would have made of history, against outcomes.
    Backtest(command::backtest::Args),
    /// Which scores, labels, stages and rules preceded a sale: tables, JSON, SVG charts.
    Report(command::report::Args),
    /// Re-weight a model's rules from outcomes, judged by cross-validation.
    Tune(command::tune::Args),
    /// Write realistic synthetic contacts, events and outcomes.
    Generate(command::generate::Args),
    /// Run the service: ingestion, REST API, metrics.
    Serve(command::serve::Args),
    /// Create, list and revoke access keys.
    Keys {
        #[command(subcommand)]
        command: command::keys::Command,
    },
}

#[derive(Debug, Subcommand)]
enum ModelCommand {
    /// Validate a model: a one-line summary, or every problem as FILE:LINE:COL: message.
    Check {
        /// The model file (TOML).
        file: PathBuf,
    },
    /// Print the JSON Schema of the model format (for editors).
    Schema,
}

/// What a command reports back: success, or invalid input already explained on stderr.
pub enum Outcome {
    /// Exit 0.
    Success,
    /// Exit 1: the input was invalid and the problems were printed.
    Invalid,
}

fn main() -> ExitCode {
    let args = match config::apply(std::env::args_os().collect(), &Cli::command()) {
        Ok(args) => args,
        Err(error) => {
            eprintln!("leadscore: {error:#}");
            return ExitCode::from(1);
        }
    };
    let cli = Cli::parse_from(args);
    let outcome = match cli.command {
        Command::Score(args) => command::score::run(args),
        Command::Model { command } => match command {
            ModelCommand::Check { file } => command::model::check(&file),
            ModelCommand::Schema => command::model::schema(),
        },
        Command::Backtest(args) => command::backtest::run(args),
        Command::Report(args) => command::report::run(args),
        Command::Tune(args) => command::tune::run(args),
        Command::Generate(args) => command::generate::run(args),
        Command::Serve(args) => command::serve::run(args),
        Command::Keys { command } => command::keys::run(command),
    };
    match outcome {
        Ok(Outcome::Success) => ExitCode::SUCCESS,
        Ok(Outcome::Invalid) => ExitCode::from(1),
        // A reader that stopped early (`leadscore score ... | head`) is not an error.
        Err(error) if is_broken_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("leadscore: {error:#}");
            ExitCode::from(1)
        }
    }
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
