//! The `portcullis` binary.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    dataplane::crypto::install_default_provider();
    let cli = controller::cli::Cli::parse();
    match controller::cli::run(cli) {
        Ok(code) => code,
        Err(e) => {
            // The command's own failure (a bad flag, an unreadable file), for the person who
            // typed it, whatever the log settings.
            eprintln!("portcullis: {e:#}");
            ExitCode::from(2)
        }
    }
}
