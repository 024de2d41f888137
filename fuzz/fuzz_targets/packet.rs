//! Random frames through the header parsers.
//!
//! Checks: no panic; the fast parser of the common frame (`parse_common`, the XDP program's
//! inline path) accepts a frame only when the full parser returns exactly the same packet;
//! and the full parser never reads outside the frame (guaranteed by `&[u8]`'s `load`).
#![no_main]

use firewall_common::packet::{Frame, parse, parse_common};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|frame: &[u8]| {
    let full = parse(frame);
    if let Some(p) = parse_common(frame) {
        assert_eq!(full, Ok(Frame::Ip(p)), "parse_common disagrees with parse");
    }
});
