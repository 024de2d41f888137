//! `zcfw detach`: remove every pinned program, link and map of an instance.

use std::path::PathBuf;

use super::{DEFAULT_PIN_DIR, EXIT_ERROR, EXIT_OK, print_error};
use crate::dataplane;

#[derive(Debug, clap::Args)]
pub struct DetachArgs {
    /// Pin directory of the instance to remove (as given to `zcfw run --pin-dir`).
    #[arg(long, value_name = "DIR", default_value = DEFAULT_PIN_DIR, env = "ZCFW_PIN_DIR")]
    pub pin_dir: PathBuf,
}

pub fn run(args: &DetachArgs) -> u8 {
    if !args.pin_dir.exists() {
        println!(
            "nothing pinned under {}: nothing to detach",
            args.pin_dir.display()
        );
        return EXIT_OK;
    }
    match dataplane::remove_pins(&args.pin_dir) {
        Ok(removed) => {
            let links = if removed.links.is_empty() {
                "no interface".to_owned()
            } else {
                removed.links.join(", ")
            };
            println!(
                "detached from {links}; removed {} pinned maps and {}",
                removed.maps,
                args.pin_dir.display()
            );
            EXIT_OK
        }
        Err(err) => {
            print_error(
                &anyhow::Error::new(err)
                    .context(format!("cannot detach {}", args.pin_dir.display())),
            );
            EXIT_ERROR
        }
    }
}
