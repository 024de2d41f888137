//! `zcfw compile POLICY [--format text|json|nft [--nft-style linear|sets|conntrack]]`: the
//! exact map entries a policy loads, including each inspection profile (Modbus, IEC 104,
//! DNP3) and the conduit entries that use it; or the equivalent nftables ruleset (see
//! [`compile::nft`]).

use std::path::PathBuf;

use super::{EXIT_ERROR, EXIT_INVALID, EXIT_OK};
use crate::{compile, policy};

/// Output format of `zcfw compile`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// A listing for people.
    #[default]
    Text,
    /// A JSON document for tools (stable field names).
    Json,
    /// The equivalent nftables ruleset (`nft -f`), in the style of `--nft-style`.
    Nft,
}

/// Arguments of `zcfw compile`.
#[derive(Debug, Clone, clap::Args)]
pub struct CompileArgs {
    /// Policy file to compile.
    #[arg(value_name = "POLICY")]
    pub policy: PathBuf,
    /// Output format: `text` for people, `json` for tools, `nft` for the equivalent nftables
    /// ruleset.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
    /// With `--format nft`: `linear` (netdev ingress, one rule per conduit rule), `sets`
    /// (netdev ingress, concatenated set lookups) or `conntrack` (inet forward chain, stateful).
    #[arg(long, value_enum, value_name = "STYLE")]
    pub nft_style: Option<compile::nft::NftStyle>,
}

/// Prints the compiled policy to stdout; an invalid policy prints diagnostics, exit 1.
pub fn run(args: &CompileArgs) -> u8 {
    if args.nft_style.is_some() && args.format != OutputFormat::Nft {
        eprintln!("error: --nft-style needs --format nft");
        return EXIT_ERROR;
    }
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
        // Rendered from the policy (rules as written); compiling first still refuses a policy
        // the maps cannot hold, like the other formats.
        OutputFormat::Nft => print!(
            "{}",
            compile::nft::render_nft(&policy, args.nft_style.unwrap_or_default())
        ),
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
