//! `orderflow`: parses the command line and runs it. Usage errors exit 2 (clap), failures 1.

use clap::Parser;
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = orderflow_cli::Cli::parse();
    match orderflow_cli::run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", platform::error_chain(&e));
            ExitCode::FAILURE
        }
    }
}
