//! Builds the XDP program (firewall-ebpf) with the nightly toolchain and bpf-linker, so the
//! `zcfw` binary can embed it. `ZCFW_EBPF_OBJECT=path` embeds a prebuilt object instead.

use std::{
    env,
    path::{Path, PathBuf},
    process::Command,
};

fn main() {
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let root = manifest
        .parent()
        .expect("firewall-daemon lives in the workspace root");
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("set by cargo")).join("firewall-ebpf");
    println!("cargo:rerun-if-env-changed=ZCFW_EBPF_OBJECT");
    if let Some(prebuilt) = env::var_os("ZCFW_EBPF_OBJECT") {
        println!("cargo:rerun-if-changed={}", Path::new(&prebuilt).display());
        std::fs::copy(&prebuilt, &out).unwrap_or_else(|e| {
            panic!(
                "cannot copy ZCFW_EBPF_OBJECT={}: {e}",
                Path::new(&prebuilt).display()
            )
        });
        return;
    }
    for watched in [
        "firewall-ebpf/src",
        "firewall-ebpf/Cargo.toml",
        "Cargo.toml",
        "Cargo.lock",
        "firewall-common/src",
        "firewall-common/Cargo.toml",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }
    let target_dir = root.join("target").join("ebpf");
    // firewall-ebpf is a member of this workspace left out of its default members; profile
    // `bpf` is defined in the root Cargo.toml.
    let mut cmd = Command::new("cargo");
    cmd.current_dir(root.join("firewall-ebpf"))
        .args([
            "+nightly",
            "build",
            "-p",
            "firewall-ebpf",
            "--profile",
            "bpf",
            "--target",
            "bpfel-unknown-none",
        ])
        .args(["-Z", "build-std=core", "--target-dir"])
        .arg(&target_dir);
    // The outer (stable) build's settings must not leak into the nightly BPF build.
    for var in [
        "RUSTC",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "RUSTDOC",
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "RUSTUP_TOOLCHAIN",
        "CARGO_MAKEFLAGS",
        "CARGO_LLVM_COV",
    ] {
        cmd.env_remove(var);
    }
    let status = cmd.status().unwrap_or_else(|e| {
        panic!("cannot run `cargo +nightly` to build the XDP program: {e}; run `cargo xtask setup`")
    });
    if !status.success() {
        panic!(
            "building the XDP program (firewall-ebpf) failed ({status}); the errors are above. \
             If bpf-linker, the nightly toolchain or its rust-src component is missing, run \
             `cargo xtask setup`."
        );
    }
    let built = target_dir.join("bpfel-unknown-none/bpf/firewall-ebpf");
    std::fs::copy(&built, &out)
        .unwrap_or_else(|e| panic!("cannot copy {} to {}: {e}", built.display(), out.display()));
}
