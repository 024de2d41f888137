//! Hidden helper commands for packaging: `zcfw completions SHELL` (shell completion script)
//! and `zcfw man [COMMAND]` (roff man page, section 8: zcfw is a system daemon and its
//! administration commands), both printed to stdout from the clap
//! definitions, so they never drift from the binary they come with.

use std::io::Write;

use clap::CommandFactory;

use super::{Cli, EXIT_ERROR, EXIT_OK, print_error};

/// Arguments of `zcfw completions`.
#[derive(Debug, Clone, clap::Args)]
pub struct CompletionsArgs {
    /// Shell to write the completion script for, e.g.
    /// `zcfw completions bash > /usr/share/bash-completion/completions/zcfw`.
    #[arg(value_enum, value_name = "SHELL")]
    pub shell: clap_complete::Shell,
}

/// Arguments of `zcfw man`.
#[derive(Debug, Clone, clap::Args)]
pub struct ManArgs {
    /// Write the page of this command (`zcfw-audit(8)` for `audit`) instead of `zcfw(8)`,
    /// e.g. `zcfw man > zcfw.8`, `zcfw man audit > zcfw-audit.8`.
    #[arg(value_name = "COMMAND")]
    pub command: Option<String>,
}

/// Prints the completion script of `args.shell`.
pub fn completions(args: &CompletionsArgs) -> u8 {
    let mut cmd = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "zcfw", &mut out);
    emit(&out)
}

/// Prints the man page of `zcfw` or of one of its commands.
pub fn man(args: &ManArgs) -> u8 {
    let mut cmd = Cli::command();
    cmd.build();
    let page = match &args.command {
        None => cmd,
        Some(name) => match cmd.find_subcommand(name) {
            // Built: its display name is `zcfw-<command>`, its usage `zcfw <command>`.
            Some(sub) => sub.clone(),
            None => {
                let known: Vec<&str> = cmd
                    .get_subcommands()
                    .filter(|s| !s.is_hide_set())
                    .map(|s| s.get_name())
                    .collect();
                eprintln!(
                    "error: zcfw has no command \"{name}\"; commands: {}",
                    known.join(", ")
                );
                return EXIT_ERROR;
            }
        },
    };
    let mut out = Vec::new();
    if let Err(e) = clap_mangen::Man::new(page).section("8").render(&mut out) {
        print_error(&anyhow::Error::new(e).context("cannot render the man page"));
        return EXIT_ERROR;
    }
    emit(&out)
}

fn emit(bytes: &[u8]) -> u8 {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Ok(()) => EXIT_OK,
        // A closed pipe (`zcfw man | head`) is not worth an error message.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => EXIT_OK,
        Err(e) => {
            print_error(&anyhow::Error::new(e).context("cannot write to stdout"));
            EXIT_ERROR
        }
    }
}
