//! S7comm (TPKT / COTP / S7 on tcp/102): the inspector program the main program tail-calls
//! through `INSPECTORS` (index `inspector::S7COMM`), the generic stream step of
//! [`crate::stream`] with S7comm's byte walker ([`firewall_common::s7comm::step`]) run one
//! byte per `bpf_loop` iteration.

use core::ffi::c_void;

use aya_ebpf::{helpers::generated::bpf_loop, macros::xdp, programs::XdpContext};
use firewall_common::{
    packet::PacketBytes,
    reason::Reason,
    s7comm::{self, S7Cursor, S7Denial, S7Profile, S7Violation},
    stream::{Payload, PayloadBytes, StreamCursor, Walker},
};

use crate::{
    maps::S7COMM_PROFILES,
    stream::{Protocol, run},
};

/// S7comm: the client's TPDUs against the profile (TSAP, job functions, userdata functions,
/// items, S7comm-plus), the PLC's for framing and direction.
#[xdp]
pub fn zcfw_s7comm(ctx: XdpContext) -> u32 {
    run::<S7comm>(&ctx)
}

struct S7comm;

impl Protocol for S7comm {
    const FAST: bool = false;
    const FRONT: usize = 0;
    type Profile = S7Profile;
    type Denial = S7Denial;
    type Opener = S7Looped;
    type Peer = S7Looped;

    #[inline(always)]
    fn profile(index: u32) -> Option<&'static S7Profile> {
        S7COMM_PROFILES.get(index)
    }

    #[inline(always)]
    fn opener(profile: &'static S7Profile, _index: u32, payload: &'static Payload) -> S7Looped {
        S7Looped {
            profile: Some(profile),
            payload,
        }
    }

    #[inline(always)]
    fn peer(payload: &'static Payload) -> S7Looped {
        S7Looped {
            profile: None,
            payload,
        }
    }

    #[inline(always)]
    fn pack(d: S7Denial) -> u64 {
        let (detail, known) = d.packed();
        Reason::of_s7comm(d.kind) as u64 | (known as u64) << 8 | (detail as u64) << 32
    }
}

/// S7comm walked one byte per `bpf_loop` iteration over `payload`: the client's direction
/// with `Some(profile)`, the server's with `None`.
pub struct S7Looped {
    pub profile: Option<&'static S7Profile>,
    pub payload: &'static Payload,
}

/// The state an S7comm byte step sees, on the caller's stack.
struct ByteLoop {
    cursor: S7Cursor,
    bits: u8,
    profile: Option<&'static S7Profile>,
    payload: &'static Payload,
    off: usize,
    len: usize,
    denial: Option<S7Denial>,
}

/// One byte of an S7comm walk; stops the loop (1) on a denial.
extern "C" fn s7comm_step(index: u64, ctx: *mut c_void) -> i64 {
    // SAFETY: `ctx` is the `ByteLoop` `walk_segment` passed to `bpf_loop`, alive and not
    // otherwise borrowed while the loop runs.
    let ctx = unsafe { &mut *ctx.cast::<ByteLoop>() };
    let bytes = PayloadBytes {
        payload: ctx.payload,
        len: ctx.off + ctx.len,
    };
    let Some([byte]) = bytes.load::<1>(ctx.off + index as usize) else {
        ctx.denial = Some(S7Denial::new(S7Violation::Malformed));
        return 1;
    };
    match s7comm::step(&mut ctx.cursor, &mut ctx.bits, byte, ctx.profile) {
        Ok(_) => 0,
        Err(d) => {
            ctx.denial = Some(d);
            1
        }
    }
}

impl Walker for S7Looped {
    type Denial = S7Denial;

    #[inline(always)]
    fn walk_segment<B: PacketBytes + ?Sized>(
        &self,
        _b: &B,
        off: usize,
        len: usize,
        cursor: &mut StreamCursor,
        session: &mut u8,
    ) -> Result<(), S7Denial> {
        if len > s7comm::MAX_SEGMENT_BYTES {
            return Err(S7Denial::new(S7Violation::Malformed));
        }
        let state = s7comm::cursor_in(cursor);
        let mut ctx = ByteLoop {
            cursor: *state,
            bits: *session,
            profile: self.profile,
            payload: self.payload,
            off,
            len,
            denial: None,
        };
        // SAFETY: `s7comm_step` is the callback for this context type; `ctx` lives on this
        // stack frame for the whole call.
        unsafe {
            bpf_loop(
                len as u32,
                s7comm_step as *mut c_void,
                (&mut ctx as *mut ByteLoop).cast(),
                0,
            );
        }
        if let Some(d) = ctx.denial {
            return Err(d);
        }
        *state = ctx.cursor;
        *session = ctx.bits;
        Ok(())
    }
}
