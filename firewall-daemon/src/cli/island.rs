//! `zcfw island on|off`: deny everything crossing a zone boundary, keeping the policy.

use super::{EXIT_ERROR, EXIT_OK, SocketArgs, print_error};
use crate::control;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Switch {
    On,
    Off,
}

#[derive(Debug, clap::Args)]
pub struct IslandArgs {
    /// `on`: every packet crossing a zone boundary is dropped (as `island_mode`), established
    /// flows included; traffic inside a zone keeps its policy. `off`: the policy applies again.
    pub state: Switch,
    #[command(flatten)]
    pub socket: SocketArgs,
}

pub fn run(args: &IslandArgs) -> u8 {
    let on = args.state == Switch::On;
    match control::island(&args.socket.socket, on) {
        Ok(state) => {
            if state.island {
                println!(
                    "island mode ON: nothing crosses a zone boundary (`zcfw island off` restores the policy)"
                );
            } else {
                println!("island mode off: the policy applies again");
            }
            EXIT_OK
        }
        Err(err) => {
            print_error(&anyhow::Error::new(err));
            EXIT_ERROR
        }
    }
}
