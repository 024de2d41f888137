use std::process::ExitCode;

use clap::Parser;
use zcfw::cli::{self, Cli};

fn main() -> ExitCode {
    let cli = Cli::parse();
    cli::run(cli)
}
