//! `gatehouse`: run the gateway, or talk to one. See `gatehouse --help`.

use std::process::ExitCode;

use clap::Parser;
use gatehouse::cli::{Cli, run};

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.serves() {
        // Before any thread starts: this may start the process again.
        gatehouse::allocator::fix_mmap_threshold();
    }
    let runtime = if cli.tunnels() {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Runtime::new()
    };
    let runtime = match runtime {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: could not start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
