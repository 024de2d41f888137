//! `cargo xtask clippy`: clippy on the workspace for the host, then on the XDP program for its
//! own target (as aya's `xtask/src/clippy.rs` does for its eBPF crates). The host pass sees
//! firewall-ebpf only as the empty program it compiles to off BPF; the BPF pass lints the code
//! that runs in the kernel, `unsafe` blocks included.

use std::process::Command;

use anyhow::Result;

use crate::{Ctx, exec, fuzz::OUTER_ENV, setup};

/// Arguments of the host pass (after `cargo`).
pub const HOST_ARGS: &[&str] = &[
    "clippy",
    "--workspace",
    "--all-targets",
    "--",
    "-D",
    "warnings",
];

/// Arguments of the BPF pass: `-Z build-std=core` because there is no prebuilt `core` for
/// bpfel-unknown-none, and only nightly accepts `-Z` (`+nightly`: see [`cargo`]).
pub const EBPF_ARGS: &[&str] = &[
    "+nightly",
    "clippy",
    "-p",
    "firewall-ebpf",
    "--target",
    "bpfel-unknown-none",
    "-Z",
    "build-std=core",
    "--",
    "-D",
    "warnings",
];

/// `cargo ARGS` from the workspace root. When `args` start with `+nightly`, that is the eBPF
/// crate's nightly channel (firewall-ebpf/rust-toolchain.toml), run through rustup's proxy
/// (`$CARGO` is one toolchain's own cargo, which does not understand `+toolchain`) without
/// the outer build's settings.
pub fn cargo(ctx: &Ctx, args: &[&str]) -> Command {
    let Some((&"+nightly", rest)) = args.split_first() else {
        let mut command = crate::tasks::cargo(ctx);
        command.args(args);
        return command;
    };
    let mut command = Command::new("cargo");
    command.current_dir(&ctx.root);
    if let Some(path) = ctx.path_with_cargo_bin() {
        command.env("PATH", path);
    }
    for var in OUTER_ENV {
        command.env_remove(var);
    }
    command
        .arg(format!("+{}", setup::nightly_channel(&ctx.root)))
        .args(rest);
    command
}

pub fn cmd_clippy(ctx: &Ctx) -> Result<()> {
    exec::run(&mut cargo(ctx, HOST_ARGS))?;
    exec::run(&mut cargo(ctx, EBPF_ARGS))
}
