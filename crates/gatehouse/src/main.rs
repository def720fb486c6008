//! `gatehouse`: run the gateway, or talk to one. See `gatehouse --help`.

use std::process::ExitCode;

use clap::Parser;
use gatehouse::cli::{Cli, run};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
