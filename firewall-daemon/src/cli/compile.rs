//! `zcfw compile POLICY [--format text|json]`: the exact map entries a policy loads,
//! including each Modbus inspection profile and the conduit entries that use it.

use std::path::PathBuf;

use super::{EXIT_INVALID, EXIT_OK};
use crate::{compile, policy};

/// Output format of `zcfw compile`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// A listing for people.
    #[default]
    Text,
    /// A JSON document for tools (stable field names).
    Json,
}

/// Arguments of `zcfw compile`.
#[derive(Debug, Clone, clap::Args)]
pub struct CompileArgs {
    /// Policy file to compile.
    #[arg(value_name = "POLICY")]
    pub policy: PathBuf,
    /// Output format: `text` for people, `json` for tools.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

/// Prints the compiled policy to stdout; an invalid policy prints diagnostics, exit 1.
pub fn run(args: &CompileArgs) -> u8 {
    let policy = match policy::load_file(&args.policy) {
        Ok(p) => p,
        Err(e) => return super::check::report_load_error(e),
    };
    for w in policy.warnings() {
        eprintln!("{w}\n");
    }
    let compiled = match compile::compile(&policy) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{}: error: {e}", policy.origin());
            return EXIT_INVALID;
        }
    };
    match args.format {
        OutputFormat::Text => print!("{}", compile::render_text(&compiled)),
        OutputFormat::Json => {
            let doc = compile::render_json(&compiled);
            println!(
                "{}",
                serde_json::to_string_pretty(&doc).unwrap_or_else(|_| doc.to_string())
            );
        }
    }
    EXIT_OK
}
